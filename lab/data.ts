/**
 * The data tier on the lab, seen from the nodes: who the Redis master is (the Sentinels'
 * answer), who Patroni's leader is (its REST API), the backups' last result; and the faults
 * the data tests and the chaos benchmark inject. Commands run inside the service's own
 * containers (through the lab's private engine), where the password is a secret file: it never
 * appears on a command line of this machine or of a node.
 */
import { onNode, PREFIX, runningTasks, tryOnNode } from "./faults";

export const redisService = (node: string) => `${PREFIX}-redis-${node}`;
export const sentinelService = (node: string) => `${PREFIX}-sentinel-${node}`;
export const pgService = (node: string) => `${PREFIX}-pg-${node}`;
export const etcdService = (node: string) => `${PREFIX}-etcd-${node}`;
export const PG_PROXY_SERVICE = `${PREFIX}-pg-proxy`;
export const BACKUP_SERVICE = `${PREFIX}-backup`;
export const MASTER_NAME = "mymaster";

/** A shell command in the running container of `service` (on whichever node runs it). */
export function inService(service: string, command: string): string {
    const task = runningTasks(service)[0];
    if (!task) throw new Error(`no running task of ${service}`);
    return onNode(task.node, `docker exec ${task.container} sh -c ${JSON.stringify(command)}`);
}

/** Like inService, but undefined when the service has no running task or the command fails. */
export function tryInService(service: string, command: string): string | undefined {
    try {
        return inService(service, command);
    } catch {
        return undefined;
    }
}

/** The addresses of a service's running container (on its networks), with the node it runs on. */
function taskAddresses(service: string): { node: string; ips: string[] } | undefined {
    const task = runningTasks(service)[0];
    if (!task) return undefined;
    const ips = onNode(task.node, `docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' ${task.container}`).trim().split(/\s+/);
    return { node: task.node, ips };
}

/** The redis node whose server the Sentinels name as master (they announce task IPs, not names). */
export function redisMaster(redisNodes: string[]): string | undefined {
    for (const node of redisNodes) {
        const out = tryInService(
            sentinelService(node),
            `REDISCLI_AUTH="$(cat /run/secrets/redis-password)" redis-cli -p 26379 --no-auth-warning sentinel get-master-addr-by-name ${MASTER_NAME}`,
        );
        const ip = out?.trim().split("\n")[0];
        if (!ip) continue;
        return redisNodes.find((n) => taskAddresses(redisService(n))?.ips.includes(ip));
    }
    return undefined;
}

/** Redis's replication role on a node ("master", "slave"), or undefined when it does not answer. */
export function redisRole(node: string): string | undefined {
    const out = tryInService(redisService(node), `REDISCLI_AUTH="$(cat /run/secrets/redis-password)" redis-cli -p 6379 --no-auth-warning role`);
    return out?.trim().split("\n")[0];
}

interface PatroniMember {
    name: string;
    role: string;
    state: string;
    lag?: number | string;
}

/** The cluster as Patroni sees it (its REST API on any member that answers). */
export function patroniCluster(pgNodes: string[]): PatroniMember[] | undefined {
    for (const node of pgNodes) {
        const out = tryInService(pgService(node), "curl -fsS --max-time 2 http://127.0.0.1:8008/cluster");
        if (out) return (JSON.parse(out) as { members: PatroniMember[] }).members;
    }
    return undefined;
}

/** The node Patroni's leader runs on (its member name is the node's name). */
export function patroniLeader(pgNodes: string[]): string | undefined {
    const leader = patroniCluster(pgNodes)?.find((m) => m.role === "leader" && m.state === "running");
    return leader && pgNodes.includes(leader.name) ? leader.name : undefined;
}

/** The backup service's metrics (Prometheus text), from inside its container. */
export function backupMetrics(): Record<string, number> {
    const text = inService(BACKUP_SERVICE, "curl -fsS --max-time 2 http://127.0.0.1:9187/metrics");
    return Object.fromEntries(
        text
            .split("\n")
            .filter((l) => l && !l.startsWith("#"))
            .map((l) => {
                const at = l.lastIndexOf(" ");
                return [l.slice(0, at), Number(l.slice(at + 1))];
            }),
    );
}

/** Kills the running container of a service with SIGKILL; the node it ran on. */
export function killContainer(service: string): string {
    const task = runningTasks(service)[0];
    if (!task) throw new Error(`no running task of ${service}`);
    onNode(task.node, `docker kill --signal KILL ${task.container} >/dev/null`);
    return task.node;
}

/** Is the node's engine answering (a stopped host's is not)? */
export const nodeUp = (node: string) => tryOnNode(node, "docker info --format ok")?.trim() === "ok";
