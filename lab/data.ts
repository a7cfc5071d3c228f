/**
 * The data tier on the lab, seen from the nodes: who the Redis master is (the Sentinels'
 * answer), who Patroni's leader is (its REST API), the backups' last result; and the faults
 * the data tests and the chaos benchmark inject. Commands run inside the service's own
 * containers (through the lab's private engine), where the password is a secret file: it never
 * appears on a command line of this machine or of a node.
 */
import { spawn } from "node:child_process";
import { startLoad } from "../bench/load/load-process";
import type { NumberedWrite } from "../bench/load/writes";
import { LAB_DOCKER, onNode, PREFIX, runningTasks, someManager, tryOnNode, VIP } from "./faults";

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
    // Single-quoted, so the node's shell passes `$(cat /run/secrets/...)` on for the container's to expand.
    return onNode(task.node, `docker exec ${task.container} sh -c '${command.replace(/'/g, `'\\''`)}'`);
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

/** Sets a replicated service's replica count (0 stops it for good: Swarm does not restart it). */
export function scale(service: string, replicas: number): void {
    onNode(someManager(), `docker service scale --detach ${service}=${replicas} >/dev/null`);
}

/** Is the node's engine answering (a stopped host's is not)? */
export const nodeUp = (node: string) => tryOnNode(node, "docker info --format ok")?.trim() === "ok";

// ---------------------------------------------------------------------------------------------
// The app's to-dos, through the VIP.

export interface Todo {
    id: string;
    title: string;
    seq: number | null;
}

export function postTodo(title: string, seq?: number, timeoutMs = 3000): Promise<Response> {
    return fetch(`http://${VIP}/todos`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ title, seq }),
        signal: AbortSignal.timeout(timeoutMs),
    });
}

export function getTodo(id: string, timeoutMs = 3000): Promise<Response> {
    return fetch(`http://${VIP}/todos/${id}`, { signal: AbortSignal.timeout(timeoutMs) });
}

/** Writes a to-do and reads it back twice (the second read from Redis); throws what went wrong. */
export async function writeAndRead(title: string): Promise<Todo> {
    const created = await postTodo(title);
    if (created.status !== 201) throw new Error(`POST /todos answered ${created.status}: ${await created.text()}`);
    const todo = (await created.json()) as Todo;
    const first = await getTodo(todo.id);
    if (first.status !== 200) throw new Error(`GET /todos/${todo.id} answered ${first.status}`);
    const second = await getTodo(todo.id);
    if (second.status !== 200 || second.headers.get("x-cache") !== "hit") throw new Error(`second GET: ${second.status}, X-Cache ${second.headers.get("x-cache")}`);
    return todo;
}

/**
 * Does a write and two reads (one cached) succeed now? True, or the error of the step that
 * failed (which waitFor keeps, so a timeout says what the last try answered).
 */
export const works = (title: string) => writeAndRead(title).then(() => true);

/**
 * Writes numbered to-dos (seq above `base`) through the VIP at `perSecond`, open loop (each its
 * own request, never retried), until stopped; resolves once the writes have started. Every
 * write's outcome is in `writes` once `stop()` resolves.
 *
 * In a process of its own (bench/load/load-process.ts), as the benchmarks' load is: the tests
 * run synchronous commands (docker exec, ssh), and a writer sharing their event loop sent its
 * first write, after a command that held the loop longer than the edge keeps an idle
 * connection, on a pooled connection the edge had closed meanwhile: a failure of the test's
 * client, not of the stack (CI failed so twice, "UND_ERR_SOCKET" for one write of the password
 * rotation; the second time, it was the first write, right after the backup test's commands).
 */
export async function todoWriter(base: number, perSecond = 10) {
    const load = startLoad({ writes: { url: `http://${VIP}/todos`, base, perSecond } });
    await load.ready;
    const writes: NumberedWrite[] = [];
    return {
        writes,
        stop: async () => {
            writes.push(...((await load.stop()).writes ?? []));
        },
    };
}

/** The longest time from a refused write to the next accepted one, in ms (to the last write if none followed). */
export function longestRefusal(writes: { sentAt: number; ok: boolean }[]): number {
    let longest = 0;
    let since: number | undefined;
    for (const w of writes) {
        if (!w.ok) since ??= w.sentAt;
        else if (since !== undefined) {
            longest = Math.max(longest, w.sentAt - since);
            since = undefined;
        }
    }
    if (since !== undefined) longest = Math.max(longest, writes[writes.length - 1].sentAt - since);
    return longest;
}

/** Every seq above `base` the app has in Postgres (GET /todos pages by seq, from the leader). */
export async function storedSeqs(base: number): Promise<Set<number>> {
    const seqs = new Set<number>();
    for (let after: number | null = base; after !== null; ) {
        const r = await fetch(`http://${VIP}/todos?afterSeq=${after}&limit=1000`, { signal: AbortSignal.timeout(5000) });
        if (r.status !== 200) throw new Error(`GET /todos answered ${r.status}: ${await r.text()}`);
        const page = (await r.json()) as { todos: Todo[]; nextAfterSeq: number | null };
        for (const t of page.todos) if (t.seq !== null) seqs.add(t.seq);
        after = page.nextAfterSeq;
    }
    return seqs;
}

// ---------------------------------------------------------------------------------------------
// Writes straight to Redis or Postgres, from inside the swarm (to tell the tiers apart from the
// app): a shell loop in a container that has the client and the password as a secret file.

export interface DirectWrite {
    /** When the answer came, ms since the Unix epoch (the node's clock: the lab's nodes share this machine's). */
    at: number;
    i: number;
    ok: boolean;
}

/**
 * The loop, in POSIX sh: one write per iteration, each with a 1 s bound, numbered from 1, one
 * line "<epoch ms> <i> <OK|error>" per write, for `seconds`.
 */
function loopScript(seconds: number, setup: string, write: string): string {
    return [
        "set -u",
        setup,
        `end=$(( $(date +%s) + ${seconds} )); i=0`,
        `while [ "$(date +%s)" -lt "$end" ]; do`,
        `  i=$((i + 1))`,
        `  if out=$(${write} 2>&1); then echo "$(date +%s%3N) $i OK"; else echo "$(date +%s%3N) $i ERR $(echo "$out" | head -1)"; fi`,
        `  sleep 0.05`,
        `done`,
    ].join("\n");
}

/** Runs `script` in the running container of `service` in the background; its parsed lines when it ends. */
function runInService(service: string, script: string): Promise<string> {
    const task = runningTasks(service)[0];
    if (!task) throw new Error(`no running task of ${service}`);
    return new Promise((resolve, reject) => {
        const child = spawn("docker", [...LAB_DOCKER, "exec", task.node, "docker", "exec", task.container, "sh", "-c", script], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${service}: the writer exited ${code}: ${err.trim()}`))));
    });
}

const parseWrites = (out: string): DirectWrite[] =>
    out
        .split("\n")
        .filter((l) => /^\d+ \d+ /.test(l))
        .map((l) => {
            const [at, i, result] = l.split(" ");
            return { at: Number(at), i: Number(i), ok: result === "OK" };
        });

const REDIS_AUTH = 'export REDISCLI_AUTH="$(cat /run/secrets/redis-password)"';
const masterIp = `redis-cli -p 26379 --no-auth-warning sentinel get-master-addr-by-name ${MASTER_NAME} | head -1`;

/**
 * Writes `bench:<run>:<i>` to whichever server the local Sentinel names master, from the
 * Sentinel container on `node` (choose one whose Redis is not the one killed). Resolves with
 * every write and, read back from the master afterwards, which acknowledged ones are missing.
 */
export async function directRedisWrites(node: string, run: string, seconds: number): Promise<{ writes: DirectWrite[]; missing: number[] }> {
    const script = loopScript(seconds, REDIS_AUTH, `timeout 1 redis-cli -h "$(${masterIp})" -p 6379 --no-auth-warning set bench:${run}:$i $i | grep -qx OK`);
    const writes = parseWrites(await runInService(sentinelService(node), script));
    const stored = new Set(
        inService(sentinelService(node), `${REDIS_AUTH}; redis-cli -h "$(${masterIp})" -p 6379 --no-auth-warning --scan --pattern 'bench:${run}:*'`)
            .split("\n")
            .filter(Boolean)
            .map((k) => Number(k.split(":")[2])),
    );
    return { writes, missing: writes.filter((w) => w.ok && !stored.has(w.i)).map((w) => w.i) };
}

/**
 * Inserts (run, i) rows into bench_writes (in the `postgres` database) through the Postgres
 * proxy's read-write port, from the Postgres container on `node` (choose a standby's: it has
 * psql and the superuser's password file, and keeps running); the password goes through a
 * pgpass file in the container, never a command line or an environment.
 */
export async function directPostgresWrites(
    node: string,
    run: string,
    seconds: number,
    /** Another container to write from, when every Postgres container is the fault: the backups' (its password file is $PGPASSWORD_FILE). */
    from: { service: string; passwordFile: string } = { service: pgService(node), passwordFile: "/run/secrets/postgres-password" },
): Promise<{ writes: DirectWrite[]; missing: number[] }> {
    const connect = [
        `export PGHOST=${PG_PROXY_SERVICE} PGPORT=5432 PGUSER=postgres PGDATABASE=postgres PGCONNECT_TIMEOUT=1`,
        'PGPASSFILE=$(mktemp); export PGPASSFILE; trap \'rm -f "$PGPASSFILE"\' EXIT',
        `printf '*:*:*:*:%s\\n' "$(cat "${from.passwordFile}")" > "$PGPASSFILE"`,
    ].join("\n");
    const setup = `${connect}\npsql -qtAX -v ON_ERROR_STOP=1 -c 'create table if not exists bench_writes (run text not null, i int not null)' >/dev/null`;
    const script = loopScript(seconds, setup, `timeout 1 psql -qtAX -v ON_ERROR_STOP=1 -c "insert into bench_writes values ('${run}', $i)"`);
    const writes = parseWrites(await runInService(from.service, script));
    const stored = new Set(inService(from.service, `${connect}\npsql -qtAX -c "select i from bench_writes where run = '${run}'"`).split("\n").filter(Boolean).map(Number));
    return { writes, missing: writes.filter((w) => w.ok && !stored.has(w.i)).map((w) => w.i) };
}
