/**
 * The load of a benchmark in a process of its own, so that no measurement waits on another:
 * the benchmark's own process polls the lab with synchronous commands (`docker exec`, a deploy's
 * output), which would hold back an open-loop generator sharing its event loop. The child runs
 * the open-loop reads (./open-loop.ts) and the numbered writes (./writes.ts) until told to stop,
 * then sends back every result; when this machine allows it (root), it also runs at a higher
 * CPU priority than the deploys and the lab it measures, which share the same cores. What lag is
 * left is in the report (`maxLagMs`), for the benchmark to judge the run by.
 *
 *   const load = startLoad({ reads: { url, ratePerSecond: 200 }, writes: { url, base, perSecond: 10 } });
 *   const { startedAtEpochMs } = await load.ready; ...fault or deploy...; const { reads, writes } = await load.stop();
 */
import { fork } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { runOpenLoop, type OpenLoopReport, type RequestResult } from "./open-loop";
import { numberedWriter, type NumberedWrite } from "./writes";

export interface LoadPlan {
    /** Open-loop GETs, run until stopped (at most `maxDurationMs`, default 30 min). */
    reads?: { url: string; ratePerSecond: number; timeoutMs?: number; maxDurationMs?: number; keepResults?: boolean };
    /** Numbered writes (POST {title, seq}), until stopped. */
    writes?: { url: string; base: number; perSecond: number; timeoutMs?: number };
}

export interface LoadResults {
    /** The reads' report, with every request's result when `keepResults` was asked for. */
    reads?: OpenLoopReport & { results?: RequestResult[] };
    writes?: NumberedWrite[];
    /** When the writer started (ms since the epoch): the zero of each write's `sentAt` and `doneAt`. */
    writesStartedAtEpochMs?: number;
    /** The child's CPU priority (nice): below 0 when it could be raised. */
    nice: number;
}

type ToChild = { type: "start"; plan: LoadPlan } | { type: "stop" };
/** When the load started (ms since the epoch: the zero of the reads' `startedAt`), and the child's nice. */
export interface LoadStarted {
    startedAtEpochMs: number;
    nice: number;
}

type FromChild = ({ type: "started" } & LoadStarted) | { type: "done"; results: LoadResults } | { type: "error"; message: string };

const ROOT = path.resolve(__dirname, "..", "..");
/** A higher priority for the load than the deploy and the lab nodes (root only; else unchanged). */
const LOAD_NICE = -10;

/** Starts the load in its own process; `ready` resolves once it runs, `stop()` ends it and gives its results. */
export function startLoad(plan: LoadPlan) {
    // tsx's loader, resolved from the repository (a benchmark runs under tsx, a test under Jest).
    const child = fork(__filename, [], { cwd: ROOT, execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const next = (type: FromChild["type"]) =>
        new Promise<FromChild>((resolve, reject) => {
            const onMessage = (m: FromChild) => {
                if (m.type === "error") return reject(new Error(`the load process failed: ${m.message}`));
                if (m.type === type) {
                    child.off("message", onMessage);
                    resolve(m);
                }
            };
            child.on("message", onMessage);
            void exited.then(() => reject(new Error(`the load process exited before it was ${type}`)));
        });
    const ready = next("started").then((m) => {
        const { startedAtEpochMs, nice } = m as Extract<FromChild, { type: "started" }>;
        return { startedAtEpochMs, nice } satisfies LoadStarted;
    });
    child.send({ type: "start", plan } satisfies ToChild);
    return {
        ready,
        stop: async (): Promise<LoadResults> => {
            await ready;
            const done = next("done");
            child.send({ type: "stop" } satisfies ToChild);
            const m = (await done) as Extract<FromChild, { type: "done" }>;
            child.disconnect();
            await exited;
            return m.results;
        },
    };
}

/** The child: runs the plan from the parent, and answers "stop" with every result. */
function runChild(): void {
    process.once("message", (first: ToChild) => {
        if (first.type !== "start") return;
        const { plan } = first;
        try {
            os.setPriority(LOAD_NICE);
        } catch {
            // not root: the default priority, and the lag in the report says what it cost
        }
        const stop = new AbortController();
        const kept: RequestResult[] = [];
        // The reads' t0 is taken in the same tick, as runOpenLoop starts its schedule.
        const startedAtEpochMs = Date.now();
        const reads = plan.reads
            ? runOpenLoop({
                  url: plan.reads.url,
                  ratePerSecond: plan.reads.ratePerSecond,
                  durationMs: plan.reads.maxDurationMs ?? 30 * 60_000,
                  timeoutMs: plan.reads.timeoutMs ?? 3000,
                  signal: stop.signal,
                  onResult: plan.reads.keepResults ? (r) => kept.push(r) : undefined,
              })
            : undefined;
        const writer = plan.writes ? numberedWriter(plan.writes.url, plan.writes.base, plan.writes.perSecond, plan.writes.timeoutMs) : undefined;
        const send = (m: FromChild) => process.send!(m);
        send({ type: "started", startedAtEpochMs, nice: os.getPriority() });
        process.once("message", async () => {
            stop.abort();
            try {
                const [report] = await Promise.all([reads, writer?.stop()]);
                const results: LoadResults = { nice: os.getPriority() };
                if (report) results.reads = plan.reads?.keepResults ? { ...report, results: kept.sort((a, b) => a.index - b.index) } : report;
                if (writer) {
                    results.writes = writer.writes;
                    results.writesStartedAtEpochMs = writer.t0;
                }
                send({ type: "done", results });
            } catch (e) {
                send({ type: "error", message: (e as Error).message });
            }
        });
    });
}

if (require.main === module && process.send) runChild();
