/**
 * npm run bench:chaos-data [-- --runs 3] [--scenarios redis-master-kill,pg-primary-kill,pg-primary-host-stop,redis-tier-kill,pg-tier-kill,restore-newest-backup]
 * The data tier's high-availability promise, measured two ways at once: through the app, as
 * its clients see it (to-do writes, POST /todos, 10/s, each numbered, never retried; cached
 * reads, GET /todos/:id, 100/s, open loop; both through the VIP), and directly, to tell the
 * tiers apart (numbered writes, about 10/s, straight to the Redis master the Sentinels name, or
 * to Postgres through its proxy, from a container in the swarm: lab/data.ts). A fault is
 * injected 5 s in; then: how long until writes succeeded again, how many writes that were
 * acknowledged are missing afterwards (goal 0 for Postgres: synchronous replication), how
 * many reads and writes failed through the app, and whether a new master / leader was chosen. Each scenario runs N times (default 3); medians go to
 * bench/results/chaos-data.json and a line to bench/results/SUMMARY.md. A missed goal is
 * reported as missed. Needs the lab deployed (npm run lab:up); it leaves the stack as it found
 * it. Traffic goes only to the lab's VIP.
 */
import { baseNodes, killHost, startHost } from "../lab/control";
import { appService, replicas, sleep, VIP, waitFor } from "../lab/faults";
import { hostsEngine } from "../lab/nodes";
import { BACKUP_SERVICE, directPostgresWrites, inService, directRedisWrites, killContainer, patroniCluster, patroniLeader, pgService, redisMaster, redisService, storedSeqs, works, writeAndRead } from "../lab/data";
import { startLoad } from "./load/load-process";
import type { RequestResult } from "./load/open-loop";
import { slowestAcknowledgedS, WRITE_TIMEOUT_MS } from "./load/writes";
import { benchCommand, MAX_LAG_MS, median, percentile, recordChaosRun } from "./results";
import { parseCli, wholeNumber } from "../support/cli";

const { values: flags } = parseCli("npm run bench:chaos-data [-- --runs 3] [--scenarios a,b]", { runs: { type: "string" }, scenarios: { type: "string" } });
const arg = (name: "--runs" | "--scenarios") => flags[name.slice(2) as "runs" | "scenarios"];
const runs = wholeNumber(flags.runs, "--runs", 3);
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
    /** Which store the direct writes go to. */
    direct: "redis" | "postgres";
    /** Direct Postgres writes from the backups' container, not a standby's (every Postgres container is the fault). */
    directFromBackups?: boolean;
    /** Injects the fault; the node it hit. */
    inject(): Promise<string>;
    restore(): Promise<void>;
    met(r: RunReport): boolean;
}

interface RunReport {
    /** Direct writes: from the fault until the first success after the last failure (0 if none failed), seconds; null: never back. */
    writesBackS: number | null;
    /** How far the app load's generator fell behind its schedule; over MAX_LAG_MS the run is invalid. */
    generatorMaxLagMs: number;
    valid: boolean;
    direct: { total: number; failed: number; acknowledged: number; lost: number };
    /** Through the app. */
    app: {
        writes: { total: number; failed: number; acknowledged: number; lost: number };
        /**
         * From the fault to the sending of the last write that failed (0 without failures): every
         * write sent later succeeded. (Its answer comes up to 8 s later: the app waits for a leader.)
         */
        writeOutageS: number;
        /** The slowest write the app acknowledged: what its wait for a leader cost a client. */
        slowestAcknowledgedS: number;
        reads: { total: number; failed: number; p99Ms: number | null };
        readOutageS: number;
    };
    /** Did a new Redis master / Postgres leader take over (rather than the old one coming back)? */
    movedTo: string | null;
}

/** The stack healthy: every app replica, a Redis master, a Postgres leader with a streaming standby, writes and cached reads working. */
async function recovered(): Promise<void> {
    await waitFor("the app at 2/2", () => replicas(appService()) === "2/2", 300_000, 2000);
    await waitFor("a Redis master", () => redisMaster(REDIS) !== undefined, 120_000, 1000);
    await waitFor(
        "a Postgres leader and a streaming standby",
        () => {
            const members = patroniCluster(PG) ?? [];
            // Patroni 3.0 (Debian's) says "running" for a replica that streams.
            return members.some((m) => m.role === "leader" && m.state === "running") && members.some((m) => m.role !== "leader" && m.state === "running");
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
        goal: "writes to Redis back in <= 5 s, 0 failed requests through the app (it reads from Postgres meanwhile)",
        durationMs: 30_000,
        direct: "redis",
        async inject() {
            const master = redisMaster(REDIS)!;
            killContainer(redisService(master));
            return master;
        },
        restore: recovered,
        met: (r) => r.writesBackS !== null && r.writesBackS <= 5 && r.app.reads.failed === 0 && r.app.writes.failed === 0,
    },
    {
        name: "pg-primary-kill",
        what: "SIGKILL the Postgres primary's container (Swarm restarts it; Patroni recovers it, or promotes the synchronous standby)",
        goal: "writes back in <= 15 s, 0 acknowledged writes lost, 0 failed cached reads",
        durationMs: 45_000,
        direct: "postgres",
        async inject() {
            const leader = patroniLeader(PG)!;
            killContainer(pgService(leader));
            return leader;
        },
        restore: recovered,
        met: (r) => r.writesBackS !== null && r.writesBackS <= 15 && r.app.writeOutageS <= 15 && r.direct.lost === 0 && r.app.writes.lost === 0 && r.app.reads.failed === 0,
    },
    {
        name: "pg-primary-host-stop",
        what: "stop the whole host of the Postgres primary (with everything else it runs)",
        goal: "writes back in <= 15 s, 0 acknowledged writes lost",
        durationMs: 60_000,
        direct: "postgres",
        async inject() {
            const leader = patroniLeader(PG)!;
            killHost(leader);
            stoppedHost = leader;
            return leader;
        },
        async restore() {
            if (stoppedHost) startHost(stoppedHost);
            stoppedHost = undefined;
            await recovered();
        },
        met: (r) => r.writesBackS !== null && r.writesBackS <= 15 && r.app.writeOutageS <= 15 && r.direct.lost === 0 && r.app.writes.lost === 0,
    },
    {
        name: "redis-tier-kill",
        what: "SIGKILL every Redis container at once (issue 18's whole-tier restart: Swarm restarts each at a new address; no replica is left to promote)",
        goal: "writes to Redis back in <= 30 s with no hand on it, 0 failed requests through the app (it reads from Postgres meanwhile)",
        durationMs: 60_000,
        direct: "redis",
        async inject() {
            // The master before: "a new master" then means another took over.
            const master = redisMaster(REDIS)!;
            for (const n of REDIS) killContainer(redisService(n));
            return master;
        },
        restore: recovered,
        met: (r) => r.writesBackS !== null && r.writesBackS <= 30 && r.app.reads.failed === 0 && r.app.writes.failed === 0,
    },
    {
        name: "pg-tier-kill",
        what: "SIGKILL every Postgres member's container at once (issue 18's whole-tier restart: Swarm restarts each; Patroni elects a leader from what is on disk)",
        goal: "writes back in <= 30 s with no hand on it, 0 acknowledged writes lost",
        durationMs: 60_000,
        direct: "postgres",
        directFromBackups: true,
        async inject() {
            const leader = patroniLeader(PG)!;
            for (const n of PG) killContainer(pgService(n));
            return leader;
        },
        restore: recovered,
        met: (r) => r.writesBackS !== null && r.writesBackS <= 30 && r.app.writeOutageS <= 30 && r.direct.lost === 0 && r.app.writes.lost === 0,
    },
];
let stoppedHost: string | undefined;

/** From `faultAt` until the first success after the last failure (0 if nothing failed), seconds; null if no write succeeded after it. */
function backAfter(writes: { at: number; ok: boolean }[], faultAt: number): number | null {
    const failed = writes.filter((w) => !w.ok && w.at >= faultAt);
    if (failed.length === 0) return 0;
    const lastFailure = Math.max(...failed.map((w) => w.at));
    const back = writes.find((w) => w.ok && w.at > lastFailure);
    return back ? (back.at - faultAt) / 1000 : null;
}

async function runOnce(s: Scenario): Promise<RunReport> {
    const redisBefore = redisMaster(REDIS);
    const leaderBefore = patroniLeader(PG);
    // The direct Redis writer runs on a Sentinel whose node keeps running.
    const writerNode = REDIS.find((n) => n !== redisBefore && n !== leaderBefore) ?? REDIS.find((n) => n !== redisBefore)!;
    // Cached reads of a to-do written now (the first read caches it).
    let cachedId = "";
    // Right after a failover the new master may still be refusing writes for a moment: retry.
    await waitFor("a to-do written and cached", () => writeAndRead("chaos-data: the to-do the reads ask for").then((t) => ((cachedId = String(t.id)), true)), 60_000, 1000);
    const base = Date.now() * 1000;
    const run = `chaos-${Date.now()}`;
    const seconds = Math.round(s.durationMs / 1000);
    const standby = PG.find((n) => n !== leaderBefore)!;
    const direct = s.direct === "redis" ? directRedisWrites(writerNode, run, seconds) : directPostgresWrites(standby, run, seconds, s.directFromBackups ? { service: BACKUP_SERVICE, passwordFile: "$PGPASSWORD_FILE" } : undefined);
    // The app's reads and writes run in a process of its own: this one's synchronous polling
    // (patroniLeader, redisMaster: `docker exec`) cannot hold them back.
    const load = startLoad({
        reads: { url: `http://${VIP}/todos/${cachedId}`, ratePerSecond: READ_RATE, maxDurationMs: s.durationMs, timeoutMs: 3000, keepResults: true },
        writes: { url: `http://${VIP}/todos`, base, perSecond: WRITE_RATE, timeoutMs: WRITE_TIMEOUT_MS },
    });
    const { startedAtEpochMs } = await load.ready;
    await sleep(FAULT_AT_MS);
    // Every clock starts when the fault is issued.
    const faultAt = Date.now();
    const hit = await s.inject();
    await sleep(Math.max(0, startedAtEpochMs + s.durationMs + 3000 + 500 - Date.now())); // the last reads settle
    const loaded = await load.stop();
    const reads: RequestResult[] = loaded.reads!.results!;
    const writer = { writes: loaded.writes!, t0: loaded.writesStartedAtEpochMs! };
    const faultAtMs = faultAt - startedAtEpochMs;
    const directDone = await direct;
    const stored = await storedSeqs(base);
    const now = s.direct === "redis" ? redisMaster(REDIS) : patroniLeader(PG);
    const failedWrites = writer.writes.filter((w) => !w.ok);
    const acked = writer.writes.filter((w) => w.ok);
    const failedReads = reads.filter((r) => r.outcome !== "ok");
    const report: RunReport = {
        writesBackS: backAfter(directDone.writes, faultAt),
        generatorMaxLagMs: loaded.reads!.maxLagMs,
        valid: loaded.reads!.maxLagMs <= MAX_LAG_MS,
        direct: {
            total: directDone.writes.length,
            failed: directDone.writes.filter((w) => !w.ok).length,
            acknowledged: directDone.writes.filter((w) => w.ok).length,
            lost: directDone.missing.length,
        },
        app: {
            writes: { total: writer.writes.length, failed: failedWrites.length, acknowledged: acked.length, lost: acked.filter((w) => !stored.has(w.seq)).length },
            writeOutageS: failedWrites.length ? Math.max(0, Math.max(...failedWrites.map((w) => w.sentAt)) - (faultAt - writer.t0)) / 1000 : 0,
            slowestAcknowledgedS: slowestAcknowledgedS(writer.writes),
            reads: { total: reads.length, failed: failedReads.length, p99Ms: percentile(reads.filter((r) => r.outcome === "ok").map((r) => r.latencyMs), 99) },
            readOutageS: failedReads.length ? Math.max(0, Math.max(...failedReads.map((r) => r.startedAt + r.latencyMs)) - faultAtMs) / 1000 : 0,
        },
        movedTo: now !== undefined && now !== hit ? now : null,
    };
    await s.restore();
    return report;
}

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
        // Medians of the valid runs (the load generator kept its schedule); a run whose writes never
        // came back counts as infinitely long, and a goal is met only in a valid run.
        const valid = samples.filter((r) => r.valid);
        const neverBack = valid.filter((r) => r.writesBackS === null).length;
        const med = {
            writesBackS: median(valid.map((r) => r.writesBackS ?? Infinity)),
            directLost: median(valid.map((r) => r.direct.lost)),
            appWriteOutageS: median(valid.map((r) => r.app.writeOutageS)),
            appFailedWrites: median(valid.map((r) => r.app.writes.failed)),
            appSlowestAcknowledgedS: median(valid.map((r) => r.app.slowestAcknowledgedS)),
            appLostWrites: median(valid.map((r) => r.app.writes.lost)),
            appFailedReads: median(valid.map((r) => r.app.reads.failed)),
            appReadP99Ms: median(valid.map((r) => r.app.reads.p99Ms)),
        };
        const moved = valid.filter((r) => r.movedTo !== null).length;
        const metRuns = valid.filter((r) => s.met(r)).length;
        out[s.name] = { what: s.what, goal: s.goal, goalMetInRuns: `${metRuns}/${runs}`, validRuns: `${valid.length}/${runs}`, writesNeverBackInRuns: neverBack, median: { ...med, writesBackS: med.writesBackS === Infinity ? "never" : med.writesBackS }, samples };
        summary.push(
            `${s.name}: writes to ${s.direct === "redis" ? "Redis" : "Postgres"} back in ${med.writesBackS === Infinity ? "NEVER" : med.writesBackS?.toFixed(2)} s` +
                `${neverBack ? ` (never back in ${neverBack} of ${valid.length})` : ""} (${med.directLost} acknowledged lost; ` +
                `a new ${s.direct === "redis" ? "master" : "leader"} in ${moved} of ${valid.length}); through the app: writes refused for ${med.appWriteOutageS?.toFixed(2)} s ` +
                `(${med.appFailedWrites} failed, ${med.appLostWrites} acknowledged lost, slowest acknowledged ${med.appSlowestAcknowledgedS?.toFixed(1)} s), ${med.appFailedReads} failed cached reads, read p99 ${med.appReadP99Ms?.toFixed(0)} ms ` +
                `(goal ${s.goal}: ${metRuns === runs ? "met" : `MISSED in ${runs - metRuns} of ${runs}`}; ${valid.length}/${runs} runs valid)`,
        );
    }
    // 3. A backup taken now (of the rows the scenarios above wrote), then the newest good backup
    // restored into a scratch database of the live cluster by the runbook's command, which
    // checks every table's row count and checksum against the backup.
    if (!wanted || wanted.includes("restore-newest-backup")) {
        const samples: { seconds: number; ok: boolean; output: string }[] = [];
        for (let i = 0; i < runs; i++) {
            inService(BACKUP_SERVICE, "BACKUP_ONCE=1 swarm-ha-backup 2>&1");
            const target = `restore_check_${Date.now()}`;
            const t0 = Date.now();
            let output: string;
            let ok = true;
            try {
                // The scratch databases stay (the lab is thrown away); on a real cluster, drop them after.
                output = inService(BACKUP_SERVICE, `swarm-ha-restore ${target} 2>&1`).trim();
                ok = /row counts and checksums match the backup/.test(output);
            } catch (e) {
                output = (e as Error).message;
                ok = false;
            }
            samples.push({ seconds: (Date.now() - t0) / 1000, ok, output: output.split("\n").slice(-1)[0] });
            console.log(`[chaos-data] restore-newest-backup run ${i + 1}: ${JSON.stringify(samples[i])}`);
        }
        const metRuns = samples.filter((x) => x.ok).length;
        out["restore-newest-backup"] = {
            what: "restore the newest good backup into a scratch database (swarm-ha-restore), comparing every table's row count and checksum with the backup",
            goal: "row counts and checksums match",
            goalMetInRuns: `${metRuns}/${runs}`,
            median: { seconds: median(samples.map((x) => x.seconds)) },
            samples,
        };
        const restored = samples[samples.length - 1].output.match(/: (\d+ tables, \d+ rows);/)?.[1] ?? "?";
        summary.push(
            `restore-newest-backup (a backup taken then restored into a scratch database; ${restored}): row counts and checksums match in ${metRuns} of ${runs}, ` +
                `restore ${median(samples.map((x) => x.seconds))?.toFixed(1)} s (goal match: ${metRuns === runs ? "met" : `MISSED in ${runs - metRuns} of ${runs}`})`,
        );
    }
    const command = benchCommand("chaos-data", runs, wanted);
    recordChaosRun(
        "chaos-data",
        {
            command,
            engine: hostsEngine(),
            lab: `3 managers + 1 worker; Redis + Sentinel on ${REDIS.join(", ")}; Postgres (Patroni) on ${PG.join(", ")}, etcd on the managers`,
            load:
                `through http://${VIP}/: ${WRITE_RATE} writes/s (POST /todos, numbered, ${WRITE_TIMEOUT_MS / 1000} s timeout, never retried by the client; the app waits up to 8 s for a Postgres leader) and ${READ_RATE} cached reads/s (GET /todos/:id, open loop); ` +
                `directly: about 10 writes/s from a container in the swarm (redis-cli to the master its Sentinel names, or psql through the Postgres proxy; 1 s timeout each); the app's load from a process of its own (nice -10 as root); fault at ${FAULT_AT_MS / 1000} s, every clock from when it was issued; a run whose generator lagged more than ${MAX_LAG_MS} ms is invalid`,
            runs,
            partial: wanted !== undefined,
            scenarios: out,
        },
        `- ${new Date().toISOString().slice(0, 10)} chaos-data (direct writes ~10/s; through the VIP ${WRITE_RATE} writes/s + ${READ_RATE} cached reads/s), median of ${runs}: ${summary.join("; ")} — \`${command}\``,
    );
}

main().then(
    () => process.exit(0),
    async (e) => {
        console.error(`[chaos-data] FAILED: ${(e as Error).stack ?? e}`);
        if (stoppedHost) startHost(stoppedHost);
        process.exit(1);
    },
);
