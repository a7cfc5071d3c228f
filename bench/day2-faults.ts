/**
 * npm run bench:day2-faults [-- --runs 3] [--scenarios manager-replaced,host-back-then-lost,...]
 * What the faults of a cluster's day two cost its clients (issue 18's benchmark, the faults;
 * bench:day2 measures the changes). Each scenario runs under 200 GET/s (open loop, `/`) plus 10
 * numbered to-do writes/s (POST /todos, never retried), both through the VIP, from a process of
 * its own, and records per measured window: failed requests and writes, acknowledged writes
 * missing from Postgres afterwards, the longest time writes were refused, and the generator's
 * lag (a window that lagged more than MAX_LAG_MS is invalid and left out of the medians); then
 * the seconds from the fault's end (the kill, or the host back) until the health steps of a
 * `pulumi up` of the declared config pass (deploys started back to back, at most three; the
 * moment its last health step ended, from the lab engine's step records).
 *
 *   - manager-replaced: lab-m2 powered off, then the runbook's config deployed (lab-m2 gone,
 *     lab-w1 promoted and given its roles): window "replacement". Then lab-m1 dies too, 40 s:
 *     window "second-manager-lost" (goal: writes refused no longer than a primary failover,
 *     15 s). Both hosts back, then the lab is reset to bare hosts and the base (not measured).
 *   - host-back-then-lost: an app node (lab-w1) dies and comes back, then the declared config is
 *     deployed (window "rebalance": the app spread over its nodes again); then the other app
 *     node (lab-m3) dies, 40 s: window "other-host-lost" (with the app spread, only the tasks
 *     on that host go).
 *   - prometheus-node-lost: a node that runs one of the two Prometheus (lab-m2) dies: window
 *     "node-lost", until NodeDown for it reaches the lab's webhook through the other one (goal
 *     delivered in < 60 s).
 *   - redis-tier-kill, pg-tier-kill: every Redis (or Postgres) container killed at once; a
 *     `pulumi up` with no change started at once: window "tier-killed" (goal: that run passes
 *     its health step < 30 s after the kill; the deploy's own overhead is in the number).
 *
 * Goal everywhere: 0 acknowledged writes lost. Writes bench/results/day2-faults.json (this
 * invocation's numbers alone) and one line to SUMMARY.md. Needs the lab with 3 managers and
 * 1 worker, the base stack deployed (npm run lab:up). Traffic goes only to the lab's VIP.
 */
import { AlertReceiver } from "../lab/alert-receiver";
import { addressOf, baseNode, baseNodes, deploy, deployInBackground, hosts, killHost, nodeSummary, resetToBase, startHost, waitUntilDown, type Deployed } from "../lab/control";
import type { LabNode } from "../lab/stack";
import { longestRefusal, pgService, redisService, storedSeqs } from "../lab/data";
import { appService, onNode, runningTasks, sleep, someManager, VIP, vipHolders, waitFor } from "../lab/faults";
import { hostsEngine } from "../lab/nodes";
import { startLoad } from "./load/load-process";
import { slowestAcknowledgedS, WRITE_TIMEOUT_MS } from "./load/writes";
import { benchCommand, countBy, MAX_LAG_MS, median, recordChaosRun } from "./results";
import { parseCli, wholeNumber } from "../support/cli";

const USAGE = "npm run bench:day2-faults [-- --runs 3] [--scenarios a,b]: day-two faults under load through the VIP";
const { values: flags } = parseCli(USAGE, { runs: { type: "string" }, scenarios: { type: "string" } });
const runs = wholeNumber(flags.runs, "--runs", 3);
const wanted = flags.scenarios?.split(",");
const READ_RATE = 200;
const WRITE_RATE = 10;
/** Load before each window, ms (and after it, while the writes in flight end). */
const MARGIN_MS = 3000;
/** How long a host stays dead in the "lost" windows. */
const LOST_MS = 40_000;
/** The longest writes may be refused after the second manager is lost: a primary failover. */
const SECOND_LOSS_REFUSAL_GOAL_S = 15;
const ALERT_GOAL_S = 60;
const TIER_HEAL_GOAL_S = 30;
const log = (s: string) => console.log(`[day2-faults] ${s}`);
const names = (role: string) => baseNodes.filter((n) => n.roles.includes(role)).map((n) => n.name);

interface Window {
    seconds: number;
    requests: { total: number; failed: number; errors: Record<string, number> };
    writes: { total: number; failed: number; lost: number; longestRefusalS: number; slowestAcknowledgedS: number; errors: Record<string, number> };
    generatorMaxLagMs: number;
    valid: boolean;
    /** Who held the VIP when the window started and when it ended. */
    vip: string;
}

/**
 * Runs `during` under the load and measures what clients saw, from MARGIN_MS before it to
 * MARGIN_MS after it; `edge` is where the VIP may be (the declared edge nodes).
 */
async function measured<T>(during: () => Promise<T>, edge = names("edge")): Promise<{ window: Window; result: T }> {
    const base = Date.now() * 1000;
    const load = startLoad({ reads: { url: `http://${VIP}/`, ratePerSecond: READ_RATE, timeoutMs: 3000 }, writes: { url: `http://${VIP}/todos`, base, perSecond: WRITE_RATE, timeoutMs: WRITE_TIMEOUT_MS } });
    await load.ready;
    await sleep(MARGIN_MS);
    const vipBefore = vipHolders(edge).join("+") || "none";
    const t0 = Date.now();
    let result: T | undefined;
    let failure: unknown;
    try {
        result = await during();
    } catch (e) {
        failure = e;
    }
    await sleep(MARGIN_MS);
    const seconds = (Date.now() - t0) / 1000;
    const vipAfter = vipHolders(edge).join("+") || "none";
    // Stopped even when the window failed: the next run must not share the VIP with it.
    const { reads, writes } = await load.stop();
    if (failure !== undefined) throw failure;
    // Read back through the VIP, which may still be moving: a few tries.
    let stored = new Set<number>();
    await waitFor("the stored to-dos read back through the VIP", async () => {
        stored = await storedSeqs(base);
        return true;
    }, 60_000, 2000);
    const failed = writes!.filter((w) => !w.ok);
    return {
        result: result as T,
        window: {
            seconds,
            requests: { total: reads!.total, failed: reads!.failed, errors: reads!.errors },
            writes: {
                total: writes!.length,
                failed: failed.length,
                lost: writes!.filter((w) => w.ok && !stored.has(w.seq)).length,
                longestRefusalS: longestRefusal(writes!) / 1000,
                slowestAcknowledgedS: slowestAcknowledgedS(writes!),
                errors: countBy(failed.map((w) => w.error ?? "unknown")),
            },
            generatorMaxLagMs: reads!.maxLagMs,
            valid: reads!.maxLagMs <= MAX_LAG_MS,
            vip: vipBefore === vipAfter ? vipBefore : `${vipBefore} -> ${vipAfter}`,
        },
    };
}

/**
 * A `pulumi up` of `nodes`, in the background; its result, and when its health steps had all
 * passed (ms since the epoch), or undefined when it failed. The lab engine records when each
 * step ended, in seconds from its start: counted back from the moment the deploy's process
 * ended, so that its exit (not its start-up) is what the number may include.
 */
async function up(nodes: LabNode[]): Promise<{ d: Deployed; healthyAt?: number }> {
    const d = await deployInBackground(nodes).done;
    const endedAt = Date.now();
    if (d.status !== 0 || d.summary.error) return { d };
    const healthSteps = d.summary.steps.filter((s) => /-health$/.test(s.name) && s.endedAt !== undefined);
    if (healthSteps.length === 0) throw new Error("the deploy's summary shows no health step: the lab engine's step records changed");
    return { d, healthyAt: endedAt - 1000 * (d.summary.seconds - Math.max(...healthSteps.map((s) => s.endedAt!))) };
}

/**
 * Seconds from `since` until the health steps of a `pulumi up` of `nodes` pass, deploys
 * started back to back (the first one may already be under way); null when three in a row
 * fail (their errors kept).
 */
async function healthyAfter(nodes: LabNode[], since: number, first?: Promise<{ d: Deployed; healthyAt?: number }>): Promise<{ seconds: number | null; errors: string[] }> {
    const errors: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
        const { d, healthyAt } = await (attempt === 0 && first ? first : up(nodes));
        if (healthyAt !== undefined) return { seconds: (healthyAt - since) / 1000, errors };
        errors.push((d.summary.error ?? `exit ${d.status}`).split("\n").slice(0, 4).join(" / "));
        log(`  the health step did not pass yet: ${errors[errors.length - 1]}`);
    }
    return { seconds: null, errors };
}

interface Sample {
    windows: Record<string, Window>;
    /** Seconds from the fault's end to a passing `pulumi up` of the declared config. */
    healthyAfterS: number | null;
    healthErrors: string[];
    /** Scenario-specific numbers (e.g. the alert's delivery). */
    extra?: Record<string, number | string | boolean | null>;
    /** Why the run could not finish (it counts as missing its goal). */
    error?: string;
}

/**
 * After a run that failed part-way: every host up and the base stack deployed again (from
 * bare hosts when a plain deploy does not pass), so that the next run starts where each does.
 */
function restoreBase(): void {
    for (const n of hosts.nodes) startHost(n.name);
    const again = deploy(baseNodes);
    if (again.status === 0 && !again.summary.error) return;
    log(`  the base stack did not come back by a deploy (${again.summary.error?.split("\n")[0]}): from bare hosts`);
    resetToBase();
}

/** The runbook's config after lab-m2 dies for good: lab-w1 promoted and given its roles (lab-m1 takes its Redis, which lab-w1 has already). */
function withoutM2(): LabNode[] {
    return baseNodes
        .filter((n) => n.name !== "lab-m2")
        .map((n) =>
            n.name === "lab-m1" ? { ...n, roles: [...n.roles, "redis"] } : n.name === "lab-w1" ? { ...n, swarmRole: "manager" as const, roles: [...n.roles, "edge", "monitoring"] } : n,
        );
}

async function managerReplaced(): Promise<Sample> {
    const replaced = withoutM2();
    try {
        killHost("lab-m2");
        waitUntilDown("lab-m2");
        log("  lab-m2 down; deploying the config that replaces it");
        // The VIP may end on lab-w1, an edge node only in the new config.
        const edge = [...new Set([...names("edge"), ...replaced.filter((n) => n.roles.includes("edge")).map((n) => n.name)])];
        const replacement = await measured(() => up(replaced), edge);
        const deployError = replacement.result.d.summary.error;
        if (replacement.result.d.status !== 0 || deployError) throw new Error(`the replacement deploy failed: ${deployError}`);
        log("  replaced; now lab-m1 dies too");
        const lost = await measured(async () => {
            killHost("lab-m1");
            await sleep(LOST_MS);
        }, edge);
        startHost("lab-m1");
        const back = Date.now();
        await waitFor("lab-m1 ready", () => nodeSummary(addressOf("lab-m3")).some((n) => n.startsWith("lab-m1 Ready")), 180_000, 2000);
        const healthy = await healthyAfter(replaced, back);
        return {
            windows: { replacement: replacement.window, "second-manager-lost": lost.window },
            healthyAfterS: healthy.seconds,
            healthErrors: healthy.errors,
            extra: { replacementDeployS: replacement.result.d.summary.seconds },
        };
    } finally {
        startHost("lab-m1");
        startHost("lab-m2");
        log("  back to bare hosts and the base stack (not measured)");
        resetToBase();
    }
}

/** The node of each running app task, sorted (one entry per task, as `docker service ps` lists them). */
function appNodes(): string[] {
    return onNode(someManager(), `docker service ps --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' ${appService()}`)
        .trim()
        .split("\n")
        .filter((l) => / Running /.test(` ${l} `))
        .map((l) => l.split(" ")[0])
        .sort();
}

async function hostBackThenLost(): Promise<Sample> {
    const [first, other] = ["lab-w1", "lab-m3"];
    if (!names("app").includes(first) || !names("app").includes(other) || names("app").length !== 2) {
        throw new Error(`host-back-then-lost needs the base lab (3 managers, 1 worker): the app on ${first} and ${other} alone, not ${names("app").join(", ")}`);
    }
    killHost(first);
    try {
        waitUntilDown(first);
        await waitFor(`both app tasks on ${other}`, () => appNodes().join(" ") === `${other} ${other}`, 180_000, 2000);
    } finally {
        startHost(first);
    }
    await waitFor(`${first} ready`, () => nodeSummary().some((n) => n.startsWith(`${first} Ready`)), 180_000, 2000);
    const lopsided = appNodes().join(" ");
    log(`  ${first} back, the app on ${lopsided}; deploying the declared config`);
    const rebalance = await measured(() => up(baseNodes));
    if (rebalance.result.d.status !== 0) throw new Error(`the rebalancing deploy failed: ${rebalance.result.d.summary.error}`);
    const spread = appNodes().join(" ");
    log(`  the app on ${spread}; now ${other} dies`);
    let back = 0;
    const lost = await measured(async () => {
        killHost(other);
        await sleep(LOST_MS);
    });
    startHost(other);
    back = Date.now();
    const healthy = await healthyAfter(baseNodes, back);
    return {
        windows: { rebalance: rebalance.window, "other-host-lost": lost.window },
        healthyAfterS: healthy.seconds,
        healthErrors: healthy.errors,
        extra: { appBeforeRebalance: lopsided, appAfterRebalance: spread },
    };
}

const receiver = new AlertReceiver();

async function prometheusNodeLost(): Promise<Sample> {
    const node = "lab-m2";
    if (!names("monitoring").includes(node)) throw new Error(`prometheus-node-lost needs ${node} to run a Prometheus (the base lab)`);
    let deliveredS: number | null = null;
    let back = 0;
    const lost = await measured(async () => {
        const t0 = Date.now();
        killHost(node);
        try {
            const a = await receiver.waitFor("NodeDown", { since: t0, timeoutMs: 120_000, labels: { node } });
            deliveredS = (a.at - t0) / 1000;
        } catch (e) {
            log(`  NodeDown for ${node} never arrived: ${(e as Error).message}`);
        } finally {
            startHost(node);
            back = Date.now();
        }
    });
    const healthy = await healthyAfter(baseNodes, back);
    return { windows: { "node-lost": lost.window }, healthyAfterS: healthy.seconds, healthErrors: healthy.errors, extra: { nodeDownDeliveredS: deliveredS } };
}

/** Every container of the tier's services killed at once (on every node that runs one), then a no-change `pulumi up` at once. */
function tierKill(services: string[]): () => Promise<Sample> {
    return async () => {
        let killedAt = 0;
        let healthy: { seconds: number | null; errors: string[] } = { seconds: null, errors: [] };
        const killed = await measured(async () => {
            const tasks = services.flatMap((s) => runningTasks(s));
            if (tasks.length !== services.length) throw new Error(`expected one running task of each of ${services.join(", ")}, found ${tasks.length}`);
            const byNode = new Map<string, string[]>();
            for (const t of tasks) byNode.set(t.node, [...(byNode.get(t.node) ?? []), t.container]);
            killedAt = Date.now();
            await Promise.all([...byNode].map(async ([node, ids]) => onNode(node, `docker kill ${ids.join(" ")} >/dev/null`)));
            healthy = await healthyAfter(baseNodes, killedAt);
        });
        return { windows: { "tier-killed": killed.window }, healthyAfterS: healthy.seconds, healthErrors: healthy.errors };
    };
}

interface Scenario {
    name: string;
    what: string;
    goal: string;
    run: () => Promise<Sample>;
    /** Whether a sample met the goal (0 acknowledged writes lost is every scenario's). */
    met: (s: Sample) => boolean;
}

const noneLost = (s: Sample) => Object.values(s.windows).every((w) => w.writes.lost === 0);
const SCENARIOS: Scenario[] = [
    {
        name: "host-back-then-lost",
        what: "an app node (lab-w1) dies and comes back; the declared config deployed (the app spread again); then the other app node (lab-m3) dies for 40 s",
        goal: "0 acknowledged writes lost; 0 failed requests while the app is spread again",
        run: hostBackThenLost,
        met: (s) => noneLost(s) && s.windows.rebalance.requests.failed === 0 && s.windows.rebalance.writes.failed === 0,
    },
    {
        name: "prometheus-node-lost",
        what: "a node that runs one of the two Prometheus (lab-m2, an edge and Redis node too) dies until NodeDown for it is delivered",
        goal: `0 acknowledged writes lost; NodeDown delivered through the other Prometheus in < ${ALERT_GOAL_S} s`,
        run: prometheusNodeLost,
        met: (s) => noneLost(s) && typeof s.extra?.nodeDownDeliveredS === "number" && s.extra.nodeDownDeliveredS < ALERT_GOAL_S,
    },
    {
        name: "redis-tier-kill",
        what: "every Redis container killed at once, and a `pulumi up` with no change started at once",
        goal: `0 acknowledged writes lost; that run passes its health step < ${TIER_HEAL_GOAL_S} s after the kill, with no hand on it`,
        run: tierKill(names("redis").map(redisService)),
        met: (s) => noneLost(s) && s.healthyAfterS !== null && s.healthyAfterS < TIER_HEAL_GOAL_S,
    },
    {
        name: "pg-tier-kill",
        what: "every Postgres member's container killed at once, and a `pulumi up` with no change started at once",
        goal: `0 acknowledged writes lost; that run passes its health step < ${TIER_HEAL_GOAL_S} s after the kill, with no hand on it`,
        run: tierKill(baseNodes.filter((n) => n.roles.some((r) => r.startsWith("postgres"))).map((n) => pgService(n.name))),
        met: (s) => noneLost(s) && s.healthyAfterS !== null && s.healthyAfterS < TIER_HEAL_GOAL_S,
    },
    {
        name: "manager-replaced",
        what: "lab-m2 powered off and replaced by config (lab-w1 promoted, given its roles); then lab-m1 dies too for 40 s",
        goal: `0 acknowledged writes lost; 0 failed requests during the replacement; writes refused <= ${SECOND_LOSS_REFUSAL_GOAL_S} s after the second loss`,
        run: managerReplaced,
        met: (s) =>
            noneLost(s) &&
            s.windows.replacement.requests.failed === 0 &&
            s.windows.replacement.writes.failed === 0 &&
            s.windows["second-manager-lost"].writes.longestRefusalS <= SECOND_LOSS_REFUSAL_GOAL_S,
    },
];

async function main(): Promise<void> {
    const unknown = (wanted ?? []).filter((w) => !SCENARIOS.some((s) => s.name === w));
    if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(", ")} (known: ${SCENARIOS.map((s) => s.name).join(", ")})`);
    if (baseNodes.length !== 4 || baseNode("lab-w1")?.swarmRole !== "worker") throw new Error("bench:day2-faults needs the base lab: 3 managers and 1 worker (npm run lab:up)");
    await receiver.start();
    const out: Record<string, unknown> = {};
    const parts: string[] = [];
    const engine = hostsEngine();
    try {
        for (const s of SCENARIOS.filter((x) => !wanted || wanted.includes(x.name))) {
            const samples: Sample[] = [];
            for (let i = 0; i < runs; i++) {
                log(`${s.name} run ${i + 1}/${runs}: ${s.what}`);
                let sample: Sample;
                try {
                    sample = await s.run();
                } catch (e) {
                    const error = (e as Error).message.split("\n").slice(0, 4).join(" / ");
                    log(`  run ${i + 1} FAILED: ${error}`);
                    sample = { windows: {}, healthyAfterS: null, healthErrors: [], error };
                    restoreBase();
                }
                // A stack that never passed its health step again is not where the next run starts.
                if (!sample.error && sample.healthyAfterS === null) restoreBase();
                log(`  ${JSON.stringify(sample)}`);
                samples.push(sample);
            }
            const finished = samples.filter((x) => !x.error);
            const windowNames = [...new Set(finished.flatMap((x) => Object.keys(x.windows)))];
            const valid = finished.filter((x) => Object.values(x.windows).every((w) => w.valid));
            const med = Object.fromEntries(
                windowNames.map((w) => [
                    w,
                    {
                        failedRequests: median(valid.map((x) => x.windows[w].requests.failed)),
                        failedWrites: median(valid.map((x) => x.windows[w].writes.failed)),
                        lostWrites: median(valid.map((x) => x.windows[w].writes.lost)),
                        longestRefusalS: median(valid.map((x) => x.windows[w].writes.longestRefusalS)),
                    },
                ]),
            );
            const healthyAfterS = median(finished.map((x) => x.healthyAfterS));
            const numberKeys = [...new Set(finished.flatMap((x) => Object.keys(x.extra ?? {}).filter((k) => typeof x.extra![k] === "number" || x.extra![k] === null)))];
            const extras = Object.fromEntries(numberKeys.map((k) => [k, median(finished.map((x) => x.extra?.[k] as number | null))]));
            const metIn = valid.filter((x) => s.met(x)).length;
            const failedRuns = samples.length - finished.length;
            const neverHealthy = finished.filter((x) => x.healthyAfterS === null).length;
            out[s.name] = { what: s.what, goal: s.goal, goalMetInRuns: `${metIn}/${runs}`, validRuns: `${valid.length}/${runs}`, median: { windows: med, healthyAfterS, ...extras }, samples };
            const windowsText = windowNames
                .map((w) => `${w}: ${med[w].failedRequests} failed requests, ${med[w].failedWrites} failed writes, ${med[w].lostWrites} acknowledged lost, writes refused at most ${med[w].longestRefusalS?.toFixed(1)} s`)
                .join(", ");
            const extrasText = Object.entries(extras)
                .map(([k, v]) => `${k} ${v}`)
                .join(", ");
            parts.push(
                `${s.name}: ${windowsText}; health step passed ${healthyAfterS === null ? "NEVER" : `${healthyAfterS.toFixed(0)} s`} after the fault ended${neverHealthy ? ` (never, in ${neverHealthy} run(s))` : ""}${extrasText ? `; ${extrasText}` : ""}${failedRuns ? `; ${failedRuns} run(s) FAILED part-way` : ""} (goal ${s.goal}: ${metIn === runs ? "met" : `MISSED in ${runs - metIn} of ${runs}`}; ${valid.length}/${runs} runs valid)`,
            );
        }
    } finally {
        await receiver.stop();
    }
    const command = benchCommand("day2-faults", runs, wanted);
    recordChaosRun(
        "day2-faults",
        {
            command,
            engine,
            lab: "3 managers + 1 worker, the whole stack (data tier, monitoring)",
            load: `through http://${VIP}/: ${READ_RATE} GET/s (open loop, 3 s timeout) and ${WRITE_RATE} to-do writes/s (POST /todos, numbered, ${WRITE_TIMEOUT_MS / 1000} s timeout, never retried), from ${MARGIN_MS / 1000} s before each window to ${MARGIN_MS / 1000} s after it, from a process of its own; a window whose generator lagged more than ${MAX_LAG_MS} ms is invalid`,
            runs,
            partial: wanted !== undefined,
            scenarios: out,
        },
        `- ${new Date().toISOString().slice(0, 10)} day2-faults (200 GET/s + 10 writes/s through the VIP), median of ${runs}: ${parts.join("; ")} — \`${command}\``,
    );
}

main().then(
    () => process.exit(0),
    (e) => {
        console.error(`[day2-faults] FAILED: ${(e as Error).stack ?? e}`);
        process.exit(1);
    },
);
