/**
 * Faults the lab can inject into the stack swarm-ha deployed, and what to watch while it
 * recovers: shared by the end-to-end tests (which assert recovery) and the chaos benchmarks
 * (which measure what clients saw). Commands reach the nodes through the lab's private
 * engine (`docker exec` into a node), so they work while a node's SSH is busy or its network
 * is being cut; a host that dies is black-holed first (see lab/control.ts killHost).
 */
import { spawnSync } from "node:child_process";
import { readHosts } from "./stack";

export { LAB_DOCKER } from "./constants";
import { LAB_DOCKER } from "./constants";
const hosts = readHosts();
export const VIP = hosts.vip;
export const PREFIX = "swarm-ha";

/** A shell command inside a lab node; stdout, or throws with stderr. */
export function onNode(node: string, command: string): string {
    const r = spawnSync("docker", [...LAB_DOCKER, "exec", node, "sh", "-c", command], { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${node}: ${command}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
}

/** Like onNode, but a failure (e.g. a stopped node) gives undefined. */
export function tryOnNode(node: string, command: string): string | undefined {
    try {
        return onNode(node, command);
    } catch {
        return undefined;
    }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits for `check` to hold, polling every `everyMs`; returns the ms it took, or throws after
 * `timeoutMs`. A check that throws counts as not holding yet (while a fault heals, a manager
 * may have no leader for a moment); its last error is in the timeout's message.
 */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000, everyMs = 250): Promise<number> {
    const t0 = Date.now();
    let lastError = "";
    for (;;) {
        try {
            if (await check()) return Date.now() - t0;
        } catch (e) {
            lastError = (e as Error).message;
        }
        if (Date.now() - t0 > timeoutMs) throw new Error(`gave up after ${timeoutMs / 1000}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ""}`);
        await sleep(everyMs);
    }
}

/** The edge node whose interface holds the VIP, if any (several, if keepalived left a stale one). */
export function vipHolders(edgeNodes: string[]): string[] {
    return edgeNodes.filter((n) => (tryOnNode(n, `ip -4 -o addr show | grep -F ' ${VIP}/' || true`) ?? "").trim() !== "");
}

/** A running manager, to run swarm commands on. */
export function someManager(): string {
    for (const n of hosts.nodes.filter((x) => x.role === "manager")) {
        if (tryOnNode(n.name, "docker node ls -q >/dev/null && echo ok")?.trim() === "ok") return n.name;
    }
    throw new Error("no manager answers");
}

/** Running tasks of a service: node name and container ID. */
export function runningTasks(service: string): { node: string; container: string }[] {
    const manager = someManager();
    const out = onNode(manager, `docker service ps --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' ${service}`);
    const nodes = out.trim().split("\n").filter((l) => / Running /.test(` ${l} `)).map((l) => l.split(" ")[0]);
    // A node that runs two of its tasks is listed twice, and `docker ps` there finds both.
    return [...new Set(nodes)].flatMap((node) =>
        (tryOnNode(node, `docker ps -q --filter label=com.docker.swarm.service.name=${service}`) ?? "")
            .trim()
            .split("\n")
            .filter(Boolean)
            .map((container) => ({ node, container })),
    );
}

/** Every swarm task container on every node: container ID → its service's name. */
export function taskContainers(nodes: string[] = hosts.nodes.map((n) => n.name)): Map<string, string> {
    const all = new Map<string, string>();
    for (const n of nodes.map((name) => ({ name }))) {
        const out = onNode(n.name, `docker ps --no-trunc --filter label=com.docker.swarm.service.name --format '{{.ID}} {{.Label "com.docker.swarm.service.name"}}'`);
        for (const line of out.trim().split("\n").filter(Boolean)) {
            const [id, service] = line.split(" ");
            all.set(id, service);
        }
    }
    return all;
}

/** The services with a task container in `before` that is gone in `after` (restarted, rolled or stopped), sorted. */
export function restartedServices(before: Map<string, string>, after: Map<string, string>): string[] {
    return [...new Set([...before].filter(([id]) => !after.has(id)).map(([, service]) => service))].sort();
}

/** "running/desired" replicas of a service, as `docker service ls` shows them. */
export function replicas(service: string): string {
    return onNode(someManager(), `docker service ls --filter name=${service} --format '{{.Name}} {{.Replicas}}'`)
        .trim()
        .split("\n")
        .find((l) => l.startsWith(`${service} `))
        ?.split(" ")[1]
        .replace(/ .*/, "") ?? "";
}

/** Kills one running container of a service (on the node that runs it) with `signal`. */
export function killTask(service: string, signal = "KILL", node?: string): { node: string; container: string } {
    const task = runningTasks(service).find((t) => node === undefined || t.node === node);
    if (!task) throw new Error(`no running task of ${service}${node ? ` on ${node}` : ""}`);
    onNode(task.node, `docker kill --signal ${signal} ${task.container} >/dev/null`);
    return task;
}

/** Sets a node's availability (drain moves its tasks away; active takes them back). */
export function setAvailability(node: string, availability: "active" | "drain"): void {
    onNode(someManager(), `docker node update --availability ${availability} ${node} >/dev/null`);
}

/** Is every declared replica of the service running, and the VIP answering with the app? */
export function appService(): string {
    return `${PREFIX}-app`;
}
export function haproxyService(node: string): string {
    return `${PREFIX}-haproxy-${node}`;
}
export function keepalivedService(node: string): string {
    return `${PREFIX}-keepalived-${node}`;
}

/** One request to the VIP: the app's instance that answered, or undefined. */
export async function vipAnswers(timeoutMs = 2000): Promise<string | undefined> {
    try {
        const r = await fetch(`http://${VIP}/`, { signal: AbortSignal.timeout(timeoutMs) });
        if (!r.ok) return undefined;
        return ((await r.json()) as { instance?: string }).instance;
    } catch {
        return undefined;
    }
}

/**
 * One line per service for a failed check, short enough for the head of a CI log: where its
 * task runs, its state and Docker health (with the health check's last words), and what each
 * of `resolveFrom`'s nodes' Docker DNS answers for its name (asked inside a task of these
 * services there, as the tiers' own checks ask). So a task that is not healthy reads apart
 * from a healthy one whose name a node's DNS has lost. Never throws: it runs on a failure path.
 */
export function describeServices(services: string[], resolveFrom: string[] = []): string {
    let manager: string;
    try {
        manager = someManager();
    } catch {
        return "no manager answers: nothing to describe";
    }
    // Asked from a task of one of these services on each node: it is on their networks.
    const askers = resolveFrom.map((node) => ({
        node,
        task: (tryOnNode(node, `for s in ${services.join(" ")}; do docker ps -q --filter label=com.docker.swarm.service.name=$s; done | head -1`) ?? "").trim(),
    }));
    return services
        .map((service) => {
            const task = (tryOnNode(manager, `docker service ps --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' ${service} 2>&1 | head -1`) ?? "").trim() || "no task";
            const node = task.split(" ")[0];
            const container = (tryOnNode(node, `docker ps -q --filter label=com.docker.swarm.service.name=${service} | head -1`) ?? "").trim();
            const inspect = (format: string) => (tryOnNode(node, `docker inspect --format '${format}' ${container} 2>&1`) ?? "").replace(/\s+/g, " ").trim();
            const health = container
                ? `${inspect("{{if .State.Health}}{{.State.Health.Status}}{{else}}no health check{{end}}")} (${inspect("{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}").slice(-100)})`
                : "no container";
            const names = askers
                .map(({ node: from, task: t }) => `${from}: ${t ? (tryOnNode(from, `docker exec ${t} getent hosts ${service} | cut -d' ' -f1 | paste -sd,`) ?? "").trim() || "no" : "no task to ask from"}`)
                .join(", ");
            return `${service}: ${task}; ${health}; resolves on ${names}`;
        })
        .join("\n");
}
