/**
 * The to-do endpoints against real Postgres, Redis and Sentinel on loopback: write and read
 * (miss, then hit), paging by seq, retries over cut connections, a Sentinel failover, and the
 * degradation the stack relies on (Redis down: Postgres answers; Postgres down: fast 503s and
 * cached reads). The tests run in order over one set of services, stopping them one by one.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import {
    freePort,
    password,
    requireTools,
    startCuttingProxy,
    startPostgres,
    startRedis,
    startSentinel,
    stopAll,
    tempDir,
    type CuttingProxy,
    type Postgres,
    type RedisServer,
    type Sentinel,
} from "./services";
import { request, start, transcript, type Started } from "./support";
import { LEADER_WAIT_MS } from "../src/postgres";
import { RESTART_AFTER_END_MS, TodoCache } from "../src/cache";

jest.setTimeout(30_000);

const PG_PASSWORD = password("pgpw");
const REDIS_PASSWORD = password("redispw");

let pg: Postgres;
let redisA: RedisServer;
let redisB: RedisServer;
let sentinel: Sentinel;
/** The app's read-write and read-only ports: proxies to the one Postgres, like the stack's. */
let rw: CuttingProxy;
let ro: CuttingProxy;
let secrets: { pg: string; redis: string };
let s: Started;

beforeAll(async () => {
    requireTools();
    [pg, redisA] = await Promise.all([startPostgres(PG_PASSWORD), startRedis(REDIS_PASSWORD)]);
    redisB = await startRedis(REDIS_PASSWORD, { replicaOf: redisA.port });
    await redisB.service.waitFor(/MASTER <-> REPLICA sync: Finished with success/);
    sentinel = await startSentinel(REDIS_PASSWORD, redisA.port);
    [rw, ro] = await Promise.all([startCuttingProxy(pg.port), startCuttingProxy(pg.port)]);
    const dir = tempDir();
    secrets = { pg: join(dir, "pg-password"), redis: join(dir, "redis-password") };
    // Secret files end with a newline, as `echo … > file` and most editors leave them.
    writeFileSync(secrets.pg, PG_PASSWORD + "\n", { mode: 0o600 });
    writeFileSync(secrets.redis, REDIS_PASSWORD + "\n", { mode: 0o600 });
    s = await start({
        postgres: { host: "127.0.0.1", port: rw.port, readOnlyPort: ro.port, database: "app", user: "app", passwordFile: secrets.pg },
        redis: { sentinels: [{ host: "127.0.0.1", port: sentinel.port }], masterName: "mymaster", passwordFile: secrets.redis },
        cacheTtlSeconds: 60,
    });
    await until(async () => (await request(s.port, "/health/ready")).json.dependencies?.redis === "ok");
});

afterAll(async () => {
    await s?.stop();
    await Promise.all([rw?.close(), ro?.close()]);
    await stopAll();
    // ioredis leaves a 2 s timer behind each reconnect (its failover detector ends the old
    // Sentinel connections twice, and waits for a close that already happened); let it run out
    // so Jest exits cleanly instead of warning about open handles.
    await new Promise((r) => setTimeout(r, 2100));
});

/** Polls `check` every 50 ms until it holds; fails after `timeoutMs`. */
async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
        if (Date.now() > end) throw new Error(`not true within ${timeoutMs} ms: ${check.toString()}`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

/** A counter's value in /metrics, 0 when absent. */
async function metric(series: string): Promise<number> {
    const text = (await request(s.port, "/metrics")).text;
    const line = text.split("\n").find((l) => l.startsWith(series + " "));
    return line ? Number(line.slice(series.length + 1)) : 0;
}

async function rowsWithSeq(seq: number): Promise<number> {
    const c = await pg.admin("app");
    try {
        const r = await c.query("select count(*)::int as n from todos where seq = $1", [seq]);
        return r.rows[0].n;
    } finally {
        await c.end();
    }
}

test("/health/ready: 200, with postgres and redis reported ok beside the checks", async () => {
    const r = await request(s.port, "/health/ready");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "ready", checks: { shutdown: "ok" }, dependencies: { postgres: "ok", redis: "ok" } });
});

test("POST /todos creates on Postgres (201); GET /todos/:id is a miss, then a hit from Redis", async () => {
    const created = await request(s.port, "/todos", { json: { title: "buy milk", seq: 1 } });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ id: expect.any(Number), title: "buy milk", seq: 1, createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(created.headers.location).toBe(`/todos/${created.json.id}`);

    const first = await request(s.port, `/todos/${created.json.id}`);
    expect(first.status).toBe(200);
    expect(first.headers["x-cache"]).toBe("miss");
    expect(first.json).toEqual(created.json);

    const second = await request(s.port, `/todos/${created.json.id}`);
    expect(second.status).toBe(200);
    expect(second.headers["x-cache"]).toBe("hit");
    expect(second.json).toEqual(created.json);

    expect(await metric('app_cache_lookups_total{result="hit"}')).toBe(1);
    expect(await metric('app_cache_lookups_total{result="miss"}')).toBe(1);
    // The route label is the pattern, never the id.
    expect((await request(s.port, "/metrics")).text).toMatch(/^http_requests_total\{method="GET",route="\/todos\/:id",status="200"\} 2$/m);
    // A to-do without seq is fine too.
    expect((await request(s.port, "/todos", { json: { title: "no seq" } })).json).toMatchObject({ title: "no seq", seq: null });
});

test("absent and malformed requests: 404, 400, 405, 413, each with a JSON error", async () => {
    expect(await request(s.port, "/todos/999999")).toMatchObject({ status: 404, json: { error: "no to-do 999999" } });
    expect((await request(s.port, "/todos/abc")).status).toBe(400);
    expect((await request(s.port, "/todos/0")).status).toBe(400);
    for (const json of [{}, { title: "" }, { title: 5 }, { title: "x", seq: 1.5 }, { title: "x", seq: "1" }, [1], "x"]) {
        const r = await request(s.port, "/todos", { json });
        expect(r.status).toBe(400);
        expect(r.json.error).toEqual(expect.any(String));
    }
    expect(await request(s.port, "/todos", { body: "{not json" })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/^the body must be JSON/) } });
    expect((await request(s.port, "/todos", { json: { title: "x".repeat(20_000) } })).status).toBe(413);
    const put = await request(s.port, "/todos/1", { method: "POST", body: "{}" });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe("GET, HEAD");
    expect((await request(s.port, "/todos?limit=0")).status).toBe(400);
    expect((await request(s.port, "/todos?afterSeq=x")).status).toBe(400);
});

test("GET /todos?afterSeq=&limit= pages by seq from Postgres, uncached", async () => {
    for (const seq of [103, 101, 102, 104]) expect((await request(s.port, "/todos", { json: { title: `item ${seq}`, seq } })).status).toBe(201);
    const page1 = await request(s.port, "/todos?afterSeq=100&limit=3");
    expect(page1.status).toBe(200);
    expect(page1.headers["x-cache"]).toBeUndefined();
    expect(page1.json.todos.map((t: { seq: number }) => t.seq)).toEqual([101, 102, 103]);
    expect(page1.json.todos[0]).toEqual({ id: expect.any(Number), title: "item 101", seq: 101, createdAt: expect.any(String) });
    expect(page1.json.nextAfterSeq).toBe(103);
    const page2 = await request(s.port, "/todos?afterSeq=103&limit=3");
    expect(page2.json).toEqual({ todos: [expect.objectContaining({ seq: 104 })], nextAfterSeq: null });
    // Without afterSeq: from the lowest seq (rows without a seq are not listed).
    expect((await request(s.port, "/todos?limit=1")).json.todos.map((t: { seq: number }) => t.seq)).toEqual([1]);
});

test("a write whose connection is cut before it reaches Postgres is retried once on a fresh connection: 201, one row", async () => {
    const before = await metric("app_postgres_retries_total");
    rw.cutOnce("cut-before-send", "before");
    const r = await request(s.port, "/todos", { json: { title: "cut-before-send", seq: 201 } });
    expect(r.status).toBe(201);
    expect(rw.cuts()).toBe(1);
    expect(await metric("app_postgres_retries_total")).toBe(before + 1);
    expect(await rowsWithSeq(201)).toBe(1);
});

test("a write that committed but whose answer was lost is not written twice on the retry", async () => {
    rw.cutOnce("cut-after-commit", "after");
    const r = await request(s.port, "/todos", { json: { title: "cut-after-commit", seq: 202 } });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ title: "cut-after-commit", seq: 202 });
    expect(rw.cuts()).toBe(2);
    expect(await rowsWithSeq(202)).toBe(1);
});

test("a write during a leader change (the proxy has no leader for 2 s) waits for the new leader: 201, one row", async () => {
    rw.noLeaderFor(2000);
    const t0 = Date.now();
    const r = await request(s.port, "/todos", { json: { title: "through a switchover", seq: 203 } });
    const tookMs = Date.now() - t0;
    expect(r.status).toBe(201);
    expect(tookMs).toBeGreaterThanOrEqual(1900);
    expect(tookMs).toBeLessThan(LEADER_WAIT_MS);
    expect(await rowsWithSeq(203)).toBe(1);
});

test("reads use the read-only port, retry a cut once, and fall back to the read-write port when it is down", async () => {
    const id = (await request(s.port, "/todos", { json: { title: "read me", seq: 301 } })).json.id;
    ro.cutOnce("where id = $1", "before");
    const cut = await request(s.port, `/todos/${id}`);
    expect(cut).toMatchObject({ status: 200, json: { id, title: "read me" } });
    expect(ro.cuts()).toBe(1);

    await ro.close(); // the read-only port now refuses
    const id2 = (await request(s.port, "/todos", { json: { title: "read me too", seq: 302 } })).json.id;
    const r = await request(s.port, `/todos/${id2}`);
    expect(r).toMatchObject({ status: 200, json: { id: id2, title: "read me too" } });
    expect(r.headers["x-cache"]).toBe("miss");
});

test("a real process: the passwords are in no command line, environment or log line", async () => {
    const env: Record<string, string> = {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PG|REDIS_|CACHE_)/.test(k))) as Record<string, string>,
        PORT: String(await freePort()),
        DRAIN_SECONDS: "0",
        MEMORY_LIMIT_BYTES: "max",
        PGHOST: "127.0.0.1",
        PGPORT: String(rw.port),
        PGPORT_READONLY: String(rw.port),
        PGPASSWORD_FILE: secrets.pg,
        REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
        REDIS_PASSWORD_FILE: secrets.redis,
    };
    const child = spawn(process.execPath, ["--require", require.resolve("tsx/cjs"), join(__dirname, "..", "src", "main.ts")], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c));
    child.stderr.on("data", (c: Buffer) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
        await until(() => out.includes('"event":"listening"') || child.exitCode !== null, 15_000);
        const port = Number(env.PORT);
        await until(async () => (await request(port, "/health/ready")).json.dependencies?.redis === "ok");
        expect((await request(port, "/health/ready")).json.dependencies).toEqual({ postgres: "ok", redis: "ok" });
        const created = await request(port, "/todos", { json: { title: "from the process", seq: 401 } });
        expect(created.status).toBe(201);
        expect((await request(port, `/todos/${created.json.id}`)).status).toBe(200);

        const proc = (file: string) => readFileSync(`/proc/${child.pid}/${file}`, "utf8");
        for (const text of [proc("cmdline"), proc("environ"), out]) {
            expect(text).not.toContain(PG_PASSWORD);
            expect(text).not.toContain(REDIS_PASSWORD);
        }
        const listening = JSON.parse(out.split("\n").find((l) => l.includes('"listening"'))!);
        expect(listening.postgres).toEqual({ host: "127.0.0.1", port: rw.port, readOnlyPort: rw.port, database: "app", user: "app", passwordFile: secrets.pg });
        expect(listening.redis).toMatchObject({ sentinels: `127.0.0.1:${sentinel.port}`, masterName: "mymaster", passwordFile: secrets.redis });

        child.kill("SIGTERM");
        expect(await exited).toBe(0); // the pools and the Redis client close: nothing keeps it alive
    } finally {
        child.kill("SIGKILL");
    }
});

test("a Sentinel failover: the app follows +switch-master to the new master; cached keys survive, reads and writes go on", async () => {
    const id = (await request(s.port, "/todos", { json: { title: "across a failover", seq: 501 } })).json.id;
    expect((await request(s.port, `/todos/${id}`)).headers["x-cache"]).toBe("miss");
    const admin = new Redis({ host: "127.0.0.1", port: sentinel.port, password: REDIS_PASSWORD, lazyConnect: true });
    const onB = new Redis({ host: "127.0.0.1", port: redisB.port, password: REDIS_PASSWORD, lazyConnect: true });
    try {
        await Promise.all([admin.connect(), onB.connect()]);
        // The Sentinel refuses (NOGOODSLAVE) until it has talked to the replica it discovered.
        await until(() => admin.call("sentinel", "failover", "mymaster").then(() => true, () => false));
        await sentinel.service.waitFor(/\+switch-master mymaster 127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+/, 20_000);
        // The app's connection (named after its instance) reaches the promoted replica.
        await until(async () => String(await onB.call("client", "list")).includes("name=swarm-ha-app_test-1 "));
        expect(await onB.call("role").then((r) => (r as string[])[0])).toBe("master");

        await until(async () => (await request(s.port, "/health/ready")).json.dependencies.redis === "ok");
        expect((await request(s.port, `/todos/${id}`)).headers["x-cache"]).toBe("hit"); // replicated before the failover
        const id2 = (await request(s.port, "/todos", { json: { title: "after the failover", seq: 502 } })).json.id;
        expect((await request(s.port, `/todos/${id2}`)).headers["x-cache"]).toBe("miss");
        expect((await request(s.port, `/todos/${id2}`)).headers["x-cache"]).toBe("hit");
        expect(await onB.exists(`swarm-ha-app:todo:${id2}`)).toBe(1); // written on the new master
    } finally {
        admin.disconnect();
        onB.disconnect();
    }
});

test("a cache client that ioredis ended on its own (a connect through the Sentinels cut short) starts over and caches again; only close() ends it", async () => {
    const cache = new TodoCache({ sentinels: [{ host: "127.0.0.1", port: sentinel.port }], masterName: "mymaster", passwordFile: secrets.redis }, 60, "end-test");
    const pings = () => cache.ping().then(() => true, () => false);
    try {
        await until(pings);
        // ioredis ends the client, with no retry, when its Sentinel connector's connect is cut
        // short; an unasked disconnect ends it the same way (the "end" event, status "end").
        const ended = new Promise((resolve) => cache.client.once("end", resolve));
        cache.client.disconnect();
        await ended;
        expect(await pings()).toBe(false);
        await until(pings);
    } finally {
        await cache.close();
    }
    await new Promise((resolve) => setTimeout(resolve, RESTART_AFTER_END_MS * 2));
    expect(cache.client.status).toBe("end");
});

test("Redis down: reads come from Postgres (200), writes still 201, ready stays 200 reporting redis down", async () => {
    const cached = (await request(s.port, "/todos", { json: { title: "cached before", seq: 601 } })).json.id;
    await request(s.port, `/todos/${cached}`);
    expect((await request(s.port, `/todos/${cached}`)).headers["x-cache"]).toBe("hit");
    const errorsBefore = await metric('app_dependency_errors_total{dependency="redis"}');

    await redisB.service.stop(); // the current master; the Sentinel still names it
    await until(async () => /^down: /.test((await request(s.port, "/health/ready")).json.dependencies.redis));
    const ready = await request(s.port, "/health/ready");
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ status: "ready", dependencies: { postgres: "ok", redis: expect.stringMatching(/^down: not connected/) } });

    const t0 = Date.now();
    const read = await request(s.port, `/todos/${cached}`);
    expect(read).toMatchObject({ status: 200, json: { id: cached, title: "cached before" } });
    expect(read.headers["x-cache"]).toBe("miss");
    expect(Date.now() - t0).toBeLessThan(1000);
    const written = await request(s.port, "/todos", { json: { title: "written without redis", seq: 602 } });
    expect(written.status).toBe(201);
    expect((await request(s.port, `/todos/${written.json.id}`)).status).toBe(200);
    expect(await metric('app_dependency_errors_total{dependency="redis"}')).toBeGreaterThan(errorsBefore);
    expect(s.events).toContainEqual(expect.objectContaining({ event: "dependency-down", dependency: "redis" }));

    // Back on the same port: the app reconnects on its own and caches again.
    redisB = await redisB.restart();
    await until(async () => (await request(s.port, "/health/ready")).json.dependencies.redis === "ok");
    await request(s.port, `/todos/${written.json.id}`);
    expect((await request(s.port, `/todos/${written.json.id}`)).headers["x-cache"]).toBe("hit");
});

test("Postgres down: a write waits LEADER_WAIT_MS for a leader, then 503 naming Postgres; cached reads still 200, uncached ones 503 within 1.5 s; ready stays 200 reporting postgres down", async () => {
    const cached = (await request(s.port, "/todos", { json: { title: "cached for the outage", seq: 701 } })).json.id;
    const uncached = (await request(s.port, "/todos", { json: { title: "never read", seq: 702 } })).json.id;
    await request(s.port, `/todos/${cached}`);
    expect((await request(s.port, `/todos/${cached}`)).headers["x-cache"]).toBe("hit");

    await pg.service.stop("SIGINT"); // fast shutdown: the server closes every connection

    const t0 = Date.now();
    const write = await request(s.port, "/todos", { json: { title: "lost cause", seq: 703 } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(LEADER_WAIT_MS - 600);
    expect(Date.now() - t0).toBeLessThan(LEADER_WAIT_MS + 1500);
    expect(write.status).toBe(503);
    expect(write.json).toEqual({ error: expect.stringMatching(/^Postgres is unavailable: /), dependency: "postgres" });

    const hit = await request(s.port, `/todos/${cached}`);
    expect(hit).toMatchObject({ status: 200, json: { id: cached, title: "cached for the outage" } });
    expect(hit.headers["x-cache"]).toBe("hit");
    const t1 = Date.now();
    expect(await request(s.port, `/todos/${uncached}`)).toMatchObject({ status: 503, json: { dependency: "postgres" } });
    expect((await request(s.port, "/todos?afterSeq=0")).status).toBe(503);
    expect(Date.now() - t1).toBeLessThan(1500);

    const ready = await request(s.port, "/health/ready");
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: "ready", checks: { shutdown: "ok" }, dependencies: { postgres: expect.stringMatching(/^down: /), redis: "ok" } });
    expect(await metric('app_dependency_errors_total{dependency="postgres"}')).toBeGreaterThanOrEqual(3);
    expect(s.events).toContainEqual(expect.objectContaining({ event: "dependency-down", dependency: "postgres" }));
});

test("no password appears in any answer or log line", () => {
    expect(transcript.length).toBeGreaterThan(50);
    const everything = transcript.join("\n") + "\n" + s.events.map((e) => JSON.stringify(e)).join("\n");
    expect(everything).not.toContain(PG_PASSWORD);
    expect(everything).not.toContain(REDIS_PASSWORD);
});
