/**
 * npm run bench:chaos-data [-- --runs 3] [--scenarios redis-master-kill,pg-primary-kill,pg-primary-host-stop]
 * The data tier's high-availability promise, measured through the app, as its clients see it:
 * to-do writes (POST /todos, 10/s, each numbered, never retried) and cached reads (GET
 * /todos/:id, 100/s, open loop) through the VIP, a fault injected 5 s in, and then: how long
 * until a new Redis master / Postgres leader was chosen, how many reads and writes failed and
 * for how long, and how many writes the app acknowledged that Postgres does not have (goal 0:
 * Patroni runs synchronous replication). Each scenario runs N times (default 3); medians go to
 * bench/results/chaos-data.json and a line to bench/results/SUMMARY.md. A missed goal is
 * reported as missed. Needs the lab deployed (npm run lab:up); it leaves the stack as it found
 * it. Traffic goes only to the lab's VIP.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { baseNodes, killHost, startHost } from "../lab/control";
import { appService, replicas, sleep, VIP, waitFor } from "../lab/faults";
import { killContainer, patroniCluster, patroniLeader, pgService, redisMaster, redisService, storedSeqs, todoWriter, works, writeAndRead } from "../lab/data";
import { runOpenLoop, type RequestResult } from "./load/open-loop";

const ROOT = path.resolve(__dirname, "..");
const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const runs = Number(arg("--runs") ?? 3);
const READ_RATE = 100;
const WRITE_RATE = 10;
const FAULT_AT_MS = 5000;
const REDIS = baseNodes.filter((n) => n.roles.includes("redis")).map((n) => n.name);
const PG = baseNodes.filter((n) => n.roles.includes("postgres-primary") || n.roles.includes("postgres-replica")).map((n) => n.name);

interface Scenario {
    name: string;
    what: string;
    goal: string;
    durationMs: number;
    /** Injects the fault; resolves with the seconds until the data tier chose a new master/leader (null: it did not). */
    inject(): Promise<number | null>;
    restore(): Promise<void>;
    met(r: RunReport): boolean;
}

interface RunReport {
    /** Seconds from the fault until a new Redis master / Postgres leader was named. */
    failoverS: number | null;
    reads: { total: number; failed: number; p99Ms: number | null };
    writes: { total: number; failed: number; acknowledged: number; lost: number };
    /** From the fault to the answer of the last failed write (0 without failures): how long writes were refused. */
    writeOutageS: number;
    readOutageS: number;
}

/** Seconds until `changed` holds (polled every 250 ms), or null after `timeoutMs`. */
async function secondsUntil(what: string, changed: () => boolean, timeoutMs = 60_000): Promise<number | null> {
    try {
        return (await waitFor(what, changed, timeoutMs, 250)) / 1000;
    } catch {
        return null;
    }
}

/** The stack healthy: every app replica, a Redis master, a Postgres leader with a streaming standby, writes and cached reads working. */
async function recovered(): Promise<void> {
    await waitFor("the app at 2/2", () => replicas(appService()) === "2/2", 300_000, 2000);
    await waitFor("a Redis master", () => redisMaster(REDIS) !== undefined, 120_000, 1000);
    await waitFor(
        "a Postgres leader and a streaming standby",
        () => {
            const members = patroniCluster(PG) ?? [];
            return members.some((m) => m.role === "leader" && m.state === "running") && members.some((m) => m.role !== "leader" && m.state === "streaming");
        },
        300_000,
        2000,
    );
    for (const node of [...REDIS.map(redisService), ...PG.map(pgService)]) await waitFor(`${node} at 1/1`, () => replicas(node) === "1/1", 300_000, 2000);
    await waitFor("writes and cached reads through the VIP", () => works("chaos-data: recovered?"), 120_000, 1000);
}

const SCENARIOS: Scenario[] = [
    {
        name: "redis-master-kill",
        what: "SIGKILL the Redis master's container (Swarm restarts it; the Sentinels promote a replica)",
        goal: "a new master in <= 5 s, 0 failed reads or writes (the app reads from Postgres meanwhile)",
        durationMs: 30_000,
        async inject() {
            const before = redisMaster(REDIS)!;
            killContainer(redisService(before));
            return secondsUntil("a new Redis master", () => {
                const now = redisMaster(REDIS);
                return now !== undefined && now !== before;
            });
        },
        restore: recovered,
        met: (r) => r.failoverS !== null && r.failoverS <= 5 && r.reads.failed === 0 && r.writes.failed === 0,
    },
    {
        name: "pg-primary-kill",
        what: "SIGKILL the Postgres primary's container (Patroni's leader key expires; the synchronous standby is promoted)",
        goal: "a new leader and writes back in <= 15 s, 0 acknowledged writes lost, 0 failed cached reads",
        durationMs: 45_000,
        async inject() {
            const before = patroniLeader(PG)!;
            killContainer(pgService(before));
            return secondsUntil("a new Postgres leader", () => {
                const now = patroniLeader(PG);
                return now !== undefined && now !== before;
            });
        },
        restore: recovered,
        met: (r) => r.failoverS !== null && r.writeOutageS <= 15 && r.writes.lost === 0 && r.reads.failed === 0,
    },
    {
        name: "pg-primary-host-stop",
        what: "stop the whole host of the Postgres primary (it also runs an app task and a Redis)",
        goal: "writes back in <= 15 s, 0 acknowledged writes lost",
        durationMs: 60_000,
        async inject() {
            const before = patroniLeader(PG)!;
            killHost(before);
            stoppedHost = before;
            return secondsUntil("a new Postgres leader", () => {
                const now = patroniLeader(PG.filter((n) => n !== before));
                return now !== undefined;
            });
        },
        async restore() {
            if (stoppedHost) startHost(stoppedHost);
            stoppedHost = undefined;
            await recovered();
        },
        met: (r) => r.failoverS !== null && r.writeOutageS <= 15 && r.writes.lost === 0,
    },
];
let stoppedHost: string | undefined;

function percentile(xs: number[], p: number): number | null {
    if (xs.length === 0) return null;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function runOnce(s: Scenario): Promise<RunReport> {
    // Cached reads of a to-do written now (the first read caches it).
    const cachedId = (await writeAndRead("chaos-data: the to-do the reads ask for")).id;
    const base = Date.now() * 1000;
    const reads: RequestResult[] = [];
    const readLoad = runOpenLoop({ url: `http://${VIP}/todos/${cachedId}`, ratePerSecond: READ_RATE, durationMs: s.durationMs, timeoutMs: 3000, onResult: (r) => reads.push(r) });
    const writer = todoWriter(base, WRITE_RATE);
    await sleep(FAULT_AT_MS);
    const faultAt = Date.now() - writer.t0;
    const failoverS = await s.inject();
    await readLoad;
    await writer.stop();
    const stored = await storedSeqs(base);
    const failedWrites = writer.writes.filter((w) => !w.ok);
    const acked = writer.writes.filter((w) => w.ok);
    const failedReads = reads.filter((r) => r.outcome !== "ok");
    const report: RunReport = {
        failoverS,
        reads: { total: reads.length, failed: failedReads.length, p99Ms: percentile(reads.filter((r) => r.outcome === "ok").map((r) => r.latencyMs), 99) },
        writes: { total: writer.writes.length, failed: failedWrites.length, acknowledged: acked.length, lost: acked.filter((w) => !stored.has(w.seq)).length },
        writeOutageS: failedWrites.length ? Math.max(0, Math.max(...failedWrites.map((w) => w.doneAt)) - faultAt) / 1000 : 0,
        readOutageS: failedReads.length ? Math.max(0, Math.max(...failedReads.map((r) => r.startedAt + r.latencyMs)) - FAULT_AT_MS) / 1000 : 0,
    };
    await s.restore();
    return report;
}

const median = (xs: (number | null)[]) => {
    const s = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
};

async function main(): Promise<void> {
    const wanted = arg("--scenarios")?.split(",");
    const scenarios = SCENARIOS.filter((s) => !wanted || wanted.includes(s.name));
    await recovered();
    const out: Record<string, unknown> = {};
    const summary: string[] = [];
    for (const s of scenarios) {
        const samples: RunReport[] = [];
        for (let i = 0; i < runs; i++) {
            const r = await runOnce(s);
            samples.push(r);
            console.log(`[chaos-data] ${s.name} run ${i + 1}: ${JSON.stringify(r)}`);
        }
        const med = {
            failoverS: median(samples.map((r) => r.failoverS)),
            writeOutageS: median(samples.map((r) => r.writeOutageS)),
            failedWrites: median(samples.map((r) => r.writes.failed)),
            lostWrites: median(samples.map((r) => r.writes.lost)),
            failedReads: median(samples.map((r) => r.reads.failed)),
            readOutageS: median(samples.map((r) => r.readOutageS)),
            readP99Ms: median(samples.map((r) => r.reads.p99Ms)),
        };
        const metRuns = samples.filter((r) => s.met(r)).length;
        out[s.name] = { what: s.what, goal: s.goal, goalMetInRuns: `${metRuns}/${runs}`, median: med, samples };
        summary.push(
            `${s.name}: new ${s.name.startsWith("redis") ? "master" : "leader"} in ${med.failoverS?.toFixed(2)} s, writes refused for ${med.writeOutageS?.toFixed(2)} s ` +
                `(${med.failedWrites} failed, ${med.lostWrites} acknowledged lost), ${med.failedReads} failed cached reads, read p99 ${med.readP99Ms?.toFixed(0)} ms ` +
                `(goal ${s.goal}: ${metRuns === runs ? "met" : `MISSED in ${runs - metRuns} of ${runs}`})`,
        );
    }
    const command = `npm run bench:chaos-data -- --runs ${runs}${wanted ? ` --scenarios ${wanted.join(",")}` : ""}`;
    const resultsFile = path.join(ROOT, "bench", "results", "chaos-data.json");
    const previous = fs.existsSync(resultsFile) && wanted ? (JSON.parse(fs.readFileSync(resultsFile, "utf8")).scenarios ?? {}) : {};
    fs.writeFileSync(
        resultsFile,
        JSON.stringify(
            {
                date: new Date().toISOString(),
                command,
                machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
                lab: `3 managers + 1 worker; Redis + Sentinel on ${REDIS.join(", ")}; Postgres (Patroni) on ${PG.join(", ")}, etcd on the managers`,
                load: `through http://${VIP}/: ${WRITE_RATE} writes/s (POST /todos, numbered, 3 s timeout, never retried) and ${READ_RATE} cached reads/s (GET /todos/:id, open loop); fault at ${FAULT_AT_MS / 1000} s`,
                runs,
                scenarios: { ...previous, ...out },
            },
            null,
            2,
        ) + "\n",
    );
    const line = `- ${new Date().toISOString().slice(0, 10)} chaos-data (through the VIP: ${WRITE_RATE} writes/s + ${READ_RATE} cached reads/s), median of ${runs}: ${summary.join("; ")} — \`${command}\``;
    fs.appendFileSync(path.join(ROOT, "bench", "results", "SUMMARY.md"), `${line}\n`);
    console.log(line);
}

main().then(
    () => process.exit(0),
    async (e) => {
        console.error(`[chaos-data] FAILED: ${(e as Error).stack ?? e}`);
        if (stoppedHost) startHost(stoppedHost);
        process.exit(1);
    },
);
