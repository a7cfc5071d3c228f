/**
 * End-to-end, the data tier: the app keeps its to-dos in Postgres (Patroni on etcd, through its
 * proxy) and caches them in Redis (with Sentinel), and after each fault the chaos benchmark
 * measures (bench/chaos-data.ts) what must always hold does: a new master or primary is chosen,
 * the app writes and reads again through the VIP, and no acknowledged write is lost. The
 * backups pass their restore check. Not timed here.
 */
import { baseNodes, changes, deploy, resetToBase } from "../control";
import { PREFIX, replicas, sleep, VIP, waitFor } from "../faults";
import { backupMetrics, killContainer, patroniCluster, patroniLeader, pgService, redisMaster, redisService } from "../data";

const REDIS = baseNodes.filter((n) => n.roles.includes("redis")).map((n) => n.name);
const PG = baseNodes.filter((n) => n.roles.includes("postgres-primary") || n.roles.includes("postgres-replica")).map((n) => n.name);

interface Todo {
    id: string;
    title: string;
    seq: number | null;
}

async function post(title: string, seq?: number): Promise<Response> {
    return fetch(`http://${VIP}/todos`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ title, seq }),
        signal: AbortSignal.timeout(3000),
    });
}

async function get(id: string): Promise<Response> {
    return fetch(`http://${VIP}/todos/${id}`, { signal: AbortSignal.timeout(3000) });
}

/** Writes a to-do and reads it back twice (the second read from Redis); throws what went wrong. */
async function writeAndRead(title: string): Promise<void> {
    const created = await post(title);
    if (created.status !== 201) throw new Error(`POST /todos answered ${created.status}: ${await created.text()}`);
    const todo = (await created.json()) as Todo;
    const first = await get(todo.id);
    if (first.status !== 200) throw new Error(`GET /todos/${todo.id} answered ${first.status}`);
    const second = await get(todo.id);
    if (second.status !== 200 || second.headers.get("x-cache") !== "hit") throw new Error(`second GET: ${second.status}, X-Cache ${second.headers.get("x-cache")}`);
}

const works = async (title: string) => writeAndRead(title).then(() => true, () => false);

/**
 * Writes numbered to-dos through the VIP at `perSecond` until stopped; the seqs the app
 * acknowledged (201). Every write is its own request: a failed one is not retried.
 */
function writer(base: number, perSecond = 10) {
    const acked: number[] = [];
    let failed = 0;
    let stop = false;
    const done = (async () => {
        for (let seq = base + 1; !stop; seq++) {
            const started = Date.now();
            void post(`chaos write ${seq}`, seq).then(
                (r) => (r.status === 201 ? acked.push(seq) : failed++),
                () => failed++,
            );
            await sleep(Math.max(0, 1000 / perSecond - (Date.now() - started)));
        }
        await sleep(3500); // the last requests' timeout
    })();
    return { acked, failed: () => failed, stop: async () => ((stop = true), await done) };
}

/** Every seq above `base` the app has in Postgres (GET /todos pages by seq, from the leader). */
async function storedSeqs(base: number): Promise<Set<number>> {
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

beforeAll(() => {
    resetToBase();
}, 15 * 60_000);

test("the app writes to-dos through the VIP into Postgres and serves reads from Redis", async () => {
    await waitFor("a write and two reads through the VIP", () => works("first to-do"), 60_000, 1000);
    expect(patroniLeader(PG)).toBe("lab-w1"); // the postgres-primary node bootstraps the cluster
    const members = patroniCluster(PG)!;
    expect(members.map((m) => `${m.name} ${m.role} ${m.state}`).sort()).toEqual(["lab-m3 sync_standby streaming", "lab-w1 leader running"]);
    expect(REDIS).toContain(redisMaster(REDIS));
});

test("a second run with no change changes nothing in the data tier", () => {
    const again = deploy(baseNodes);
    expect(again.summary.error).toBeUndefined();
    expect(changes(again)).toEqual([]);
    expect(again.summary.outputs).toMatchObject({
        postgresReadWrite: `${PREFIX}-pg-proxy:5432`,
        redisMasterName: "mymaster",
        redisSentinels: REDIS.map((n) => `${PREFIX}-sentinel-${n}:26379`),
    });
});

test("the Redis master killed: the Sentinels promote a replica and the app caches again", async () => {
    const before = redisMaster(REDIS)!;
    killContainer(redisService(before));
    await waitFor("a new Redis master", () => {
        const now = redisMaster(REDIS);
        return now !== undefined && now !== before;
    }, 60_000, 500);
    await waitFor("the app writing and caching again", () => works("after the Redis failover"), 60_000, 500);
    await waitFor(`${redisService(before)} back at 1/1`, () => replicas(redisService(before)) === "1/1", 120_000, 1000);
});

test("the Postgres primary killed under writes: Patroni promotes the standby and no acknowledged write is lost", async () => {
    const base = Date.now() * 1000; // seqs of this run: above every earlier run's
    const before = patroniLeader(PG)!;
    const load = writer(base);
    await sleep(3000);
    killContainer(pgService(before));
    await waitFor("a new Postgres leader", () => {
        const now = patroniLeader(PG);
        return now !== undefined && now !== before;
    }, 60_000, 500);
    await waitFor("writes through the VIP again", () => works("after the Postgres failover"), 60_000, 500);
    await sleep(3000);
    await load.stop();
    const stored = await storedSeqs(base);
    const lost = load.acked.filter((s) => !stored.has(s));
    expect({ acked: load.acked.length > 0, lost }).toEqual({ acked: true, lost: [] });
    // The old primary returns as a replica of the new one (pg_rewind if it must).
    await waitFor("the old primary streaming from the new one", () => patroniCluster(PG)?.some((m) => m.name === before && m.state === "streaming") ?? false, 180_000, 2000);
});

test("the backups pass their restore check, and the backup service says so in its metrics", async () => {
    await waitFor("a backup that passed its restore check", () => (backupMetrics()["swarm_ha_backup_last_attempt_success"] ?? 0) === 1, 180_000, 3000);
    const m = backupMetrics();
    expect(m["swarm_ha_backup_good_backups"]).toBeGreaterThanOrEqual(1);
});
