/**
 * npm run bench:chaos-edge [-- --runs 3] [--scenarios kill-app-task,rolling-update,...]
 * The edge's high-availability promise, measured: an open-loop load of 200 requests/s
 * through the VIP from this machine (bench/load/open-loop.ts), a fault injected 5 s in, and
 * everything the clients saw: failed requests by kind, p50/p99 latency, how long the trouble
 * lasted, and for the VIP moves, how long the VIP took to move. Each scenario runs N times
 * (default 3); the medians go to bench/results/chaos-edge.json and a line to
 * bench/results/SUMMARY.md. A missed goal is reported as missed. Needs the lab deployed
 * (npm run lab:up); it leaves the stack as it found it. Traffic goes only to the lab's VIP.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { baseNodes, deployInBackground, killHost, startHost } from "../lab/control";
import { appService, haproxyService, keepalivedService, killTask, onNode, replicas, runningTasks, setAvailability, sleep, someManager, VIP, vipAnswers, vipHolders, waitFor } from "../lab/faults";
import { hostsEngine } from "../lab/nodes";
import { startLoad } from "./load/load-process";
import type { RequestResult } from "./load/open-loop";
import { benchCommand, MAX_LAG_MS, median, percentile, recordChaosRun } from "./results";
import { parseCli, wholeNumber } from "../support/cli";

const ROOT = path.resolve(__dirname, "..");
const { values: flags } = parseCli("npm run bench:chaos-edge [-- --runs 3] [--scenarios a,b]", { runs: { type: "string" }, scenarios: { type: "string" } });
const arg = (name: "--runs" | "--scenarios") => flags[name.slice(2) as "runs" | "scenarios"];
const runs = wholeNumber(flags.runs, "--runs", 3);
const RATE = 200;
const FAULT_AT_MS = 5000;
const EDGE = baseNodes.filter((n) => n.roles.includes("edge")).map((n) => n.name);
const APP_NODES = baseNodes.filter((n) => n.roles.includes("app")).map((n) => n.name);

interface Injected {
    /** Extra numbers the scenario measured (e.g. the VIP's move). */
    measured: Record<string, number | null>;
}

interface Scenario {
    name: string;
    what: string;
    /** Goal, for the summary. */
    goal: string;
    /** How long the load runs. */
    durationMs: number;
    inject(): Promise<Injected>;
    /** Puts the stack back as it was, after the load. */
    restore(): Promise<void>;
    /** Is the goal met by this run? */
    met(report: RunReport): boolean;
}

interface RunReport {
    failed: number;
    total: number;
    failures: Record<string, number>;
    p50: number | null;
    p99: number | null;
    /** From the fault to the end of the last failed request (0 without failures), seconds. */
    disruptionS: number;
    measured: Record<string, number | null>;
    /** How far the load generator fell behind its schedule; over MAX_LAG_MS the run is invalid. */
    generatorMaxLagMs: number;
    valid: boolean;
}

/**
 * Seconds from the fault (`issuedAt`, ms since the epoch, taken before the command that injects
 * it) until the VIP is held by a node other than `from` alone (null if it never moved).
 */
async function vipMove(from: string, issuedAt: number, timeoutMs = 20_000): Promise<number | null> {
    try {
        await waitFor("the VIP to move", () => {
            const h = vipHolders(EDGE);
            return h.length >= 1 && !h.includes(from);
        }, timeoutMs, 50);
        return (Date.now() - issuedAt) / 1000;
    } catch {
        return null;
    }
}

/**
 * The app's tasks on two nodes, as its spread preference places them. Swarm does not move
 * tasks back after a node returns (or after a drain ends): an operator rebalances with a forced
 * update, which is a rolling restart (start-first, so no client notices).
 */
async function spread(): Promise<void> {
    const nodesWithTasks = () => new Set(runningTasks(appService()).map((t) => t.node)).size;
    // The scheduler's spread is a preference: a restart can land both tasks together again.
    for (let attempt = 1; nodesWithTasks() < 2; attempt++) {
        if (attempt > 3) throw new Error("the app's tasks stayed on one node after 3 forced updates");
        onNode(someManager(), `docker service update --force --detach=false --quiet ${appService()} >/dev/null`);
        await waitFor("the app back at 2/2", () => replicas(appService()) === "2/2", 240_000, 1000);
    }
}

async function recovered(): Promise<void> {
    await waitFor("the app back at 2/2", () => replicas(appService()) === "2/2", 240_000, 1000);
    await spread();
    for (const n of EDGE) await waitFor(`${haproxyService(n)} 1/1`, () => replicas(haproxyService(n)) === "1/1", 240_000, 1000);
    for (const n of EDGE) await waitFor(`${keepalivedService(n)} 1/1`, () => replicas(keepalivedService(n)) === "1/1", 240_000, 1000);
    await waitFor("one VIP holder", () => vipHolders(EDGE).length === 1, 60_000, 250);
    let inARow = 0;
    await waitFor("the VIP answering 10 times in a row", async () => ((inARow = (await vipAnswers()) ? inARow + 1 : 0) >= 10), 60_000, 100);
}

const zeroFailures = (r: RunReport) => r.failed === 0;
let rollingFlip = false;
let deployDone: Promise<unknown> = Promise.resolve();

const SCENARIOS: Scenario[] = [
    {
        name: "kill-app-task",
        what: "SIGKILL one app task",
        goal: "0 failed",
        durationMs: 25_000,
        async inject() {
            killTask(appService(), "KILL");
            return { measured: {} };
        },
        restore: recovered,
        met: zeroFailures,
    },
    {
        name: "rolling-update",
        what: "rolling update of the app to a new image (pulumi up)",
        goal: "0 failed",
        durationMs: 70_000,
        async inject() {
            // Another tag for the app: a new image reference, so every task is replaced.
            const tag = fs.readFileSync(path.join(ROOT, ".lab", "state", "lab.json"), "utf8").match(/swarm-ha\/app:[0-9a-f]{12}/)![0];
            rollingFlip = !rollingFlip;
            const image = rollingFlip ? `${tag}-b` : tag;
            for (const n of APP_NODES) onNode(n, `docker tag ${tag} ${tag}-b`);
            const t0 = Date.now();
            const run = deployInBackground(baseNodes, rollingFlip ? { "swarm-ha:appImage": image } : {});
            deployDone = run.done.then((d) => {
                if (d.status !== 0) throw new Error(`the rolling update's deploy failed: ${d.summary.error}`);
                return (Date.now() - t0) / 1000;
            });
            return { measured: {} };
        },
        async restore() {
            await deployDone;
            await recovered();
        },
        met: zeroFailures,
    },
    {
        name: "drain-app-node",
        what: "drain a node that runs app tasks (the replicas spread over two nodes, as placed)",
        goal: "0 failed",
        durationMs: 40_000,
        async inject() {
            const node = runningTasks(appService())[0].node;
            setAvailability(node, "drain");
            drained = node;
            return { measured: {} };
        },
        async restore() {
            if (drained) setAvailability(drained, "active");
            drained = undefined;
            await recovered();
        },
        met: zeroFailures,
    },
    {
        name: "kill-haproxy-on-vip-holder",
        what: "SIGKILL HAProxy on the VIP holder",
        goal: "the VIP moves to the other edge node",
        durationMs: 25_000,
        async inject() {
            const holder = vipHolders(EDGE)[0];
            const issuedAt = Date.now();
            killTask(haproxyService(holder), "KILL");
            return { measured: { vipMoveS: await vipMove(holder, issuedAt) } };
        },
        restore: recovered,
        met: (r) => r.measured.vipMoveS !== null,
    },
    {
        name: "stop-vip-holder-node",
        what: "the VIP holder's whole node dies (black-holed, then killed)",
        // The VIP is answered from the other node once it holds it (the end-to-end test checks
        // it answers); requests already sent on connections to the dead node are lost anyway.
        goal: "clients served again from another node within 2 s (the last failed request ends < 2 s after the fault)",
        durationMs: 25_000,
        async inject() {
            const holder = vipHolders(EDGE)[0];
            stopped = holder;
            const issuedAt = Date.now();
            killHost(holder);
            return { measured: { vipMoveS: await vipMove(holder, issuedAt) } };
        },
        async restore() {
            if (stopped) startHost(stopped);
            stopped = undefined;
            await recovered();
        },
        met: (r) => r.measured.vipMoveS !== null && r.disruptionS < 2,
    },
    {
        name: "sigkill-keepalived-on-vip-holder",
        what: "SIGKILL keepalived on the VIP holder",
        goal: "the VIP moves to the other edge node",
        durationMs: 25_000,
        async inject() {
            const holder = vipHolders(EDGE)[0];
            const issuedAt = Date.now();
            killTask(keepalivedService(holder), "KILL");
            return { measured: { vipMoveS: await vipMove(holder, issuedAt, 10_000) } };
        },
        restore: recovered,
        met: (r) => r.measured.vipMoveS !== null,
    },
];
let drained: string | undefined;
let stopped: string | undefined;

async function runOnce(s: Scenario): Promise<RunReport> {
    // The load runs in a process of its own: vipHolders' synchronous polling here cannot hold it back.
    const load = startLoad({ reads: { url: `http://${VIP}/`, ratePerSecond: RATE, maxDurationMs: s.durationMs, timeoutMs: 2000, keepResults: true } });
    const { startedAtEpochMs } = await load.ready;
    await sleep(FAULT_AT_MS);
    // The clock starts when the fault is issued, on the load's timeline.
    const faultAtMs = Date.now() - startedAtEpochMs;
    const injected = await s.inject();
    await sleep(Math.max(0, startedAtEpochMs + s.durationMs + 2000 + 500 - Date.now())); // the last requests settle
    const { reads } = await load.stop();
    const results: RequestResult[] = reads!.results!;
    const failedAfter = results.filter((r) => r.outcome !== "ok");
    const lastFailure = failedAfter.reduce((m, r) => Math.max(m, r.startedAt + r.latencyMs), faultAtMs);
    const failures: Record<string, number> = {};
    for (const r of failedAfter) failures[r.outcome] = (failures[r.outcome] ?? 0) + 1;
    const ok = results.filter((r) => r.outcome === "ok").map((r) => r.latencyMs);
    const report: RunReport = {
        failed: failedAfter.length,
        total: results.length,
        failures,
        p50: percentile(ok, 50),
        p99: percentile(ok, 99),
        disruptionS: failedAfter.length ? (lastFailure - faultAtMs) / 1000 : 0,
        measured: injected.measured,
        generatorMaxLagMs: reads!.maxLagMs,
        valid: reads!.maxLagMs <= MAX_LAG_MS,
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
            console.log(`[chaos-edge] ${s.name} run ${i + 1}: ${r.failed}/${r.total} failed ${JSON.stringify(r.failures)}, p50 ${r.p50?.toFixed(1)} ms, p99 ${r.p99?.toFixed(1)} ms, disruption ${r.disruptionS.toFixed(2)} s ${JSON.stringify(r.measured)}`);
        }
        // Medians of the valid runs (the generator kept its schedule); a goal is met only in a valid run.
        const valid = samples.filter((r) => r.valid);
        const med = {
            failed: median(valid.map((r) => r.failed)),
            p50Ms: median(valid.map((r) => r.p50)),
            p99Ms: median(valid.map((r) => r.p99)),
            disruptionS: median(valid.map((r) => r.disruptionS)),
            vipMoveS: valid.some((r) => "vipMoveS" in r.measured) ? median(valid.map((r) => r.measured.vipMoveS)) : undefined,
        };
        const metRuns = valid.filter((r) => s.met(r)).length;
        out[s.name] = { what: s.what, goal: s.goal, goalMetInRuns: `${metRuns}/${runs}`, validRuns: `${valid.length}/${runs}`, median: med, samples };
        summary.push(
            `${s.name}: ${med.failed} failed, p99 ${med.p99Ms?.toFixed(0)} ms, disruption ${med.disruptionS?.toFixed(2)} s` +
                (med.vipMoveS !== undefined ? `, VIP moved in ${med.vipMoveS?.toFixed(2)} s` : "") +
                ` (goal ${s.goal}: ${metRuns === runs ? "met" : `MISSED in ${runs - metRuns} of ${runs}`}; ${valid.length}/${runs} runs valid)`,
        );
    }
    // Leave the stack as it was found: the rolling updates alternate the app's image.
    if (rollingFlip) {
        const back = deployInBackground(baseNodes);
        const d = await back.done;
        if (d.status !== 0) throw new Error(`putting the app's image back failed: ${d.summary.error}`);
    }
    const command = benchCommand("chaos-edge", runs, wanted);
    recordChaosRun(
        "chaos-edge",
        {
            command,
            engine: hostsEngine(),
            lab: "3 managers + 1 worker; edge on lab-m1, lab-m2; app 2 replicas on lab-w1, lab-m3",
            load: `open loop, ${RATE} requests/s to http://${VIP}/, 2 s timeout, keep-alive, from a process of its own (nice -10 as root); fault at ${FAULT_AT_MS / 1000} s, every clock from when it was issued; a run whose generator lagged more than ${MAX_LAG_MS} ms is invalid`,
            runs,
            partial: wanted !== undefined,
            scenarios: out,
        },
        `- ${new Date().toISOString().slice(0, 10)} chaos-edge (200 req/s through the VIP), median of ${runs}: ${summary.join("; ")} — \`${command}\``,
    );
}

main().then(
    () => process.exit(0),
    (e) => {
        console.error(`[chaos-edge] FAILED: ${(e as Error).stack ?? e}`);
        process.exit(1);
    },
);
