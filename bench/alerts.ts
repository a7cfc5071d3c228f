/**
 * npm run bench:alerts [-- --runs 3] [--scenarios node-stop,app-crash-loop,redis-primary-kill,quiet] [--quiet-minutes 10]
 *
 * From fault to delivered notification, on the lab as deployed (npm run lab:up first): the
 * lab's own webhook receiver (lab/alert-receiver.ts) records what Alertmanager delivers, and
 * each scenario measures the seconds from the fault to the notification's arrival:
 *   - node-stop: a host (lab-m3, a manager) dies → NodeDown delivered; then it comes back → resolved;
 *   - app-crash-loop: the app's tasks keep dying (one killed every 3 s for 45 s) →
 *     ServiceReplicasBelowDesired delivered, then resolved once they stay up;
 *   - redis-primary-kill: the Redis primary's container is killed → RedisPrimaryChanged delivered;
 *   - quiet: nothing is done for --quiet-minutes (10): no notification may arrive but
 *     informational ones (no flapping).
 * Each fault scenario runs N times (default 3); medians go to bench/results/alerts.json and one
 * line to bench/results/SUMMARY.md. Goal: each fault's notification in < 60 s; none in the quiet run.
 */
import { AlertReceiver } from "../lab/alert-receiver";
import { killHost, startHost } from "../lab/control";
import { killContainer, redisMaster, redisService } from "../lab/data";
import { appService, killTask, replicas, sleep, waitFor } from "../lab/faults";
import { hostsEngine } from "../lab/nodes";
import { alerts as prometheusAlerts } from "../lab/monitoring";
import { baseNodes } from "../lab/control";
import { benchCommand, median, recordChaosRun } from "./results";
import { parseCli, wholeNumber } from "../support/cli";

const { values: flags } = parseCli("npm run bench:alerts [-- --runs 3] [--scenarios node-stop,app-crash-loop,redis-primary-kill,quiet] [--quiet-minutes 10]", {
    runs: { type: "string" },
    scenarios: { type: "string" },
    "quiet-minutes": { type: "string" },
});
const runs = wholeNumber(flags.runs, "--runs", 3);
const quietMinutes = wholeNumber(flags["quiet-minutes"], "--quiet-minutes", 10);
const wanted = flags.scenarios?.split(",");
const GOAL_S = 60;
const REDIS = baseNodes.filter((n) => n.roles.includes("redis")).map((n) => n.name);
const receiver = new AlertReceiver();
const log = (s: string) => console.log(`[bench:alerts] ${s}`);
const seconds = (from: number, to: number) => Math.round((to - from) / 100) / 10;

/** Waits until Prometheus has nothing pending or firing but informational alerts: each run starts from a quiet stack. */
async function quietStack(): Promise<void> {
    await waitFor(
        "no alert pending or firing (but informational ones)",
        async () => (await prometheusAlerts().catch(() => [{ labels: { severity: "critical" } }])).filter((a) => a.labels.severity !== "info").length === 0,
        600_000,
        2000,
    );
}

interface Sample {
    firingS: number | null;
    resolvedS?: number | null;
}

async function nodeStop(): Promise<Sample> {
    const node = "lab-m3";
    const t0 = Date.now();
    killHost(node);
    let firingS: number | null = null;
    try {
        const a = await receiver.waitFor("NodeDown", { since: t0, timeoutMs: 180_000, labels: { node } });
        firingS = seconds(t0, a.at);
    } finally {
        startHost(node);
    }
    const back = Date.now();
    const r = await receiver.waitFor("NodeDown", { status: "resolved", since: back, timeoutMs: 300_000, labels: { node } });
    return { firingS, resolvedS: seconds(back, r.at) };
}

async function appCrashLoop(): Promise<Sample> {
    const app = appService();
    await waitFor("the app at 2/2", () => replicas(app) === "2/2", 180_000, 2000);
    const t0 = Date.now();
    const stopKilling = t0 + 45_000;
    const killing = (async () => {
        while (Date.now() < stopKilling) {
            try {
                killTask(app);
            } catch {
                // none running right now
            }
            await sleep(3000);
        }
    })();
    const a = await receiver.waitFor("ServiceReplicasBelowDesired", { since: t0, timeoutMs: 120_000, labels: { service: app } });
    await killing;
    const stopped = Date.now();
    const r = await receiver.waitFor("ServiceReplicasBelowDesired", { status: "resolved", since: stopped, timeoutMs: 300_000, labels: { service: app } });
    return { firingS: seconds(t0, a.at), resolvedS: seconds(stopped, r.at) };
}

async function redisPrimaryKill(): Promise<Sample> {
    const before = redisMaster(REDIS);
    if (!before) throw new Error("no Redis master to kill");
    const t0 = Date.now();
    killContainer(redisService(before));
    const a = await receiver.waitFor("RedisPrimaryChanged", { since: t0, timeoutMs: 180_000 });
    // Let it resolve (3 minutes after the change) before the next run, so each run's is a new notification.
    await receiver.waitFor("RedisPrimaryChanged", { status: "resolved", since: t0, timeoutMs: 420_000 });
    return { firingS: seconds(t0, a.at) };
}

const SCENARIOS: { name: string; what: string; alert: string; run: () => Promise<Sample> }[] = [
    { name: "node-stop", what: "a host (lab-m3, a manager) dies: power-off, its address black-holed", alert: "NodeDown", run: nodeStop },
    { name: "app-crash-loop", what: "the app's tasks keep dying: one killed every 3 s for 45 s", alert: "ServiceReplicasBelowDesired", run: appCrashLoop },
    { name: "redis-primary-kill", what: "the Redis primary's container is killed (Sentinel fails over)", alert: "RedisPrimaryChanged", run: redisPrimaryKill },
];

async function main(): Promise<void> {
    await receiver.start();
    const out: Record<string, unknown> = {};
    const parts: string[] = [];
    try {
        for (const s of SCENARIOS.filter((s) => !wanted || wanted.includes(s.name))) {
            const samples: Sample[] = [];
            for (let i = 0; i < runs; i++) {
                await quietStack();
                log(`${s.name} run ${i + 1}/${runs}: ${s.what}`);
                const sample = await s.run();
                log(`  ${s.alert} delivered after ${sample.firingS} s${sample.resolvedS !== undefined ? `, resolved ${sample.resolvedS} s after the fault ended` : ""}`);
                samples.push(sample);
            }
            const firing = median(samples.map((x) => x.firingS));
            const resolved = s.run === redisPrimaryKill ? undefined : median(samples.map((x) => x.resolvedS));
            const met = samples.filter((x) => x.firingS !== null && x.firingS < GOAL_S).length;
            out[s.name] = { what: s.what, alert: s.alert, goal: `delivered < ${GOAL_S} s after the fault`, goalMetInRuns: `${met}/${runs}`, median: { firingS: firing, resolvedS: resolved }, samples };
            parts.push(
                `${s.name}: ${s.alert} delivered in ${firing} s${resolved !== undefined ? `, resolved ${resolved} s after the fault ended` : ""} (goal < ${GOAL_S} s: ${met === runs ? "met" : `MISSED in ${runs - met} of ${runs}`})`,
            );
        }
        if (!wanted || wanted.includes("quiet")) {
            await quietStack();
            const t0 = Date.now();
            log(`quiet: ${quietMinutes} minutes of a healthy stack`);
            await sleep(quietMinutes * 60_000);
            const got = receiver.alerts().filter((a) => a.at >= t0);
            const pages = got.filter((a) => a.labels.severity !== "info");
            out.quiet = {
                what: `${quietMinutes} minutes of a healthy stack, nothing done`,
                goal: "no notification (informational ones aside)",
                goalMet: pages.length === 0,
                notifications: got.map((a) => `${a.labels.alertname} ${a.status} ${a.labels.severity}`),
            };
            parts.push(`quiet ${quietMinutes} min: ${pages.length} notification(s)${got.length > pages.length ? ` (+${got.length - pages.length} informational)` : ""} (goal none: ${pages.length === 0 ? "met" : "MISSED"})`);
        }
    } finally {
        await receiver.stop();
    }
    const command = benchCommand("alerts", runs, wanted);
    recordChaosRun(
        "alerts",
        {
            command,
            engine: hostsEngine(),
            lab: "3 managers + 1 worker, the whole stack; Prometheus scrapes every 10 s (the swarm exporter every 5 s), evaluates every 5 s; Alertmanager group_wait 5 s",
            load: "none",
            runs,
            partial: wanted !== undefined,
            scenarios: out,
        },
        `- ${new Date().toISOString().slice(0, 10)} alerts (fault to notification at the lab's webhook), median of ${runs}: ${parts.join("; ")} — \`${command}\``,
    );
}

main().catch((e) => {
    console.error(`[bench:alerts] ${(e as Error).stack ?? e}`);
    process.exit(1);
});
