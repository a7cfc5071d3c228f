/**
 * The data tier's chaos benchmark writer: runs INSIDE the swarm (a one-off container on the app
 * network, in the app's image, which has Node), because the overlay networks are not reachable
 * from outside. It writes numbered records at a fixed rate straight to Redis (the master the
 * Sentinels name) or to Postgres (the proxy's read-write port), one JSON line per write to
 * stdout, and at the end reads back every write that was acknowledged and reports the missing.
 *
 *   node writer.js redis|postgres
 * Environment: RUN (an id for this run), RATE (writes/s, 20), DURATION_MS, VERIFY_AFTER_MS
 * (wait before reading back, so a failover has settled); Redis: REDIS_SENTINELS, REDIS_MASTER_NAME,
 * REDIS_PASSWORD_FILE; Postgres: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD_FILE.
 * Bundled with esbuild by bench/chaos-data.ts (pg and ioredis inside).
 */
import * as fs from "node:fs";
import Redis from "ioredis";
import { Client } from "pg";

const env = (k: string, d?: string) => {
    const v = process.env[k] ?? d;
    if (v === undefined) throw new Error(`writer: ${k} is not set`);
    return v;
};
const RUN = env("RUN");
const RATE = Number(env("RATE", "20"));
const DURATION_MS = Number(env("DURATION_MS", "40000"));
const VERIFY_AFTER_MS = Number(env("VERIFY_AFTER_MS", "5000"));
const t0 = Date.now();
const out = (o: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify({ t: Date.now() - t0, ...o })}\n`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secret = (k: string) => fs.readFileSync(env(k), "utf8").trim();

interface Store {
    write(i: number): Promise<void>;
    readBack(acked: number[]): Promise<number[]>;
    close(): Promise<void>;
}

function redisStore(): Store {
    const password = secret("REDIS_PASSWORD_FILE");
    const redis = new Redis({
        sentinels: env("REDIS_SENTINELS").split(",").map((s) => ({ host: s.split(":")[0], port: Number(s.split(":")[1]) })),
        name: env("REDIS_MASTER_NAME", "mymaster"),
        role: "master",
        password,
        sentinelPassword: password,
        failoverDetector: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: 1000,
        connectTimeout: 1000,
        sentinelRetryStrategy: (n: number) => Math.min(n * 100, 1000),
        retryStrategy: (n: number) => Math.min(n * 100, 1000),
        reconnectOnError: (e: Error) => (e.message.startsWith("READONLY") ? 2 : false),
    });
    redis.on("error", () => undefined);
    return {
        async write(i) {
            await redis.set(`bench:${RUN}:${i}`, String(i));
        },
        async readBack(acked) {
            const missing: number[] = [];
            for (let k = 0; k < acked.length; k += 500) {
                const batch = acked.slice(k, k + 500);
                const values = await redis.mget(...batch.map((i) => `bench:${RUN}:${i}`));
                batch.forEach((i, j) => values[j] === null && missing.push(i));
            }
            return missing;
        },
        async close() {
            redis.disconnect();
        },
    };
}

function postgresStore(): Store {
    const config = {
        host: env("PGHOST"),
        port: Number(env("PGPORT", "5432")),
        database: env("PGDATABASE", "app"),
        user: env("PGUSER", "app"),
        password: secret("PGPASSWORD_FILE"),
        connectionTimeoutMillis: 1000,
        query_timeout: 3000,
    };
    let client: Client | undefined;
    const connected = async () => {
        if (!client) {
            const c = new Client(config);
            c.on("error", () => undefined);
            await c.connect();
            await c.query("CREATE TABLE IF NOT EXISTS bench_writes (run text NOT NULL, seq bigint NOT NULL, PRIMARY KEY (run, seq))");
            client = c;
        }
        return client;
    };
    const drop = () => {
        client?.end().catch(() => undefined);
        client = undefined;
    };
    return {
        async write(i) {
            try {
                await (await connected()).query("INSERT INTO bench_writes (run, seq) VALUES ($1, $2)", [RUN, i]);
            } catch (e) {
                drop(); // a failover cut the connection: the next write reconnects (to the new primary)
                throw e;
            }
        },
        async readBack(acked) {
            const r = await (await connected()).query("SELECT seq FROM bench_writes WHERE run = $1", [RUN]);
            const present = new Set(r.rows.map((row: { seq: string }) => Number(row.seq)));
            return acked.filter((i) => !present.has(i));
        },
        async close() {
            drop();
        },
    };
}

async function main(): Promise<void> {
    const kind = process.argv[2];
    const store = kind === "redis" ? redisStore() : kind === "postgres" ? postgresStore() : undefined;
    if (!store) throw new Error("usage: writer.js redis|postgres");
    const acked: number[] = [];
    const period = 1000 / RATE;
    const total = Math.floor((DURATION_MS * RATE) / 1000);
    // Open loop: write i starts at t0 + i × period whether or not earlier ones answered.
    const writes: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
        const due = t0 + i * period - Date.now();
        if (due > 0) await sleep(due);
        const started = Date.now() - t0;
        writes.push(
            store.write(i).then(
                () => {
                    acked.push(i);
                    out({ i, started, ok: true, ms: Date.now() - t0 - started });
                },
                (e: Error) => out({ i, started, ok: false, ms: Date.now() - t0 - started, err: e.message.slice(0, 120) }),
            ),
        );
    }
    await Promise.all(writes);
    await sleep(VERIFY_AFTER_MS);
    let missing: number[] | undefined;
    for (let attempt = 0; attempt < 10 && missing === undefined; attempt++) {
        try {
            missing = await store.readBack(acked);
        } catch {
            await sleep(2000);
        }
    }
    out({ summary: true, acked: acked.length, total, missing: missing ?? null });
    await store.close();
}

main().then(
    () => process.exit(0),
    (e) => {
        out({ fatal: (e as Error).message });
        process.exit(1);
    },
);
