/**
 * npm run bench:day2 [-- --runs 3] [--changes app-replicas,postgres-settings] [--reuse]
 * What a change costs the stack's clients (issue 18, "changes under load"): for each class of
 * change a user makes in config (an image bump is a second tag of the built image, see
 * imageBump; a node removed and added back needs a lab with 2 workers, and is recorded as not
 * run on a smaller one; a rotated secret is set as secret config), `runs` deploys of the whole
 * lab stack that apply it, then undo it, then apply it again (each one a change of that
 * class), under 200 GET/s (open loop, `/`)
 * plus 10 numbered to-do writes/s (POST /todos, never retried), both through the VIP. Per
 * deploy: requests and writes that failed, acknowledged writes missing from Postgres
 * afterwards, the longest time writes were refused, the deploy's own time and whether it
 * succeeded (its health step passed), and the load generator's lag. Goal for every class: 0
 * failed requests (reads or writes: a refused write is a failed request) and 0 acknowledged
 * writes lost in every deploy.
 *
 * The clock of each sample starts 3 s before the deploy is started and stops 3 s after it ends.
 * The deploy is a child process (the lab engine), and the load runs in a process of its own at a
 * higher CPU priority (bench/load/load-process.ts); a sample whose generator still fell behind
 * by more than MAX_LAG_MS is marked invalid and left out of the medians (counted in the
 * results). Writes bench/results/day2.json (this invocation's own numbers, on this commit; a run
 * of some classes is its own run, not merged with an older one) and a line to SUMMARY.md. One
 * base deploy on bare hosts first unless `--reuse` (the stack already deployed with the base
 * config). Needs the lab (npm run lab:up).
 * Traffic goes only to the lab's VIP.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import { baseNodes, deploy, deployInBackground, EVERY_RUN, resetToBase, secretConfig } from "../lab/control";
import type { LabNode } from "../lab/stack";
import { longestRefusal, storedSeqs } from "../lab/data";
import { onNode, sleep, VIP, vipHolders } from "../lab/faults";
import { hostsEngine } from "../lab/nodes";
import { startLoad } from "./load/load-process";
import { slowestAcknowledgedS, WRITE_TIMEOUT_MS } from "./load/writes";
import { builtImageTag, type ImageName } from "../components/images/catalog";
import { countBy, MAX_LAG_MS, median, RUN_COMMIT } from "./results";
import { parseCli, wholeNumber } from "../support/cli";

const USAGE = "npm run bench:day2 [-- --runs 3] [--changes a,b] [--reuse]: changes of each class deployed under load through the VIP";
const { values: flags } = parseCli(USAGE, { runs: { type: "string" }, changes: { type: "string" }, reuse: { type: "boolean" } });
const runs = wholeNumber(flags.runs, "--runs", 3);
const ROOT = path.resolve(__dirname, "..");
const READ_RATE = 200;
const WRITE_RATE = 10;
/** Load before and after each deploy, ms. */
const MARGIN_MS = 3000;

interface Change {
    name: string;
    what: string;
    /** The stack config that applies the change (the base config undoes it). */
    config: Record<string, string>;
    /** The nodes that apply it (default the base nodes, which undo it). */
    nodes?: () => LabNode[];
    /** Secret config that applies it, as `pulumi config set --secret` gives it (none undoes it). */
    secrets?: () => Record<string, string>;
    /** Run once before the class's deploys (not measured). */
    prepare?: () => void;
}

/** The lab's extra app worker, which the node classes remove and add back: only a lab with 2 workers has it. */
const SPARE_WORKER = "lab-w2";
const withoutSpareWorker = (): LabNode[] => {
    if (!baseNodes.some((n) => n.name === SPARE_WORKER)) {
        throw new Error(`the worker-node class needs ${SPARE_WORKER}, an app worker with no other role: a lab with 2 workers (bash lab/hosts.sh up --managers 3 --workers 2)`);
    }
    return baseNodes.filter((n) => n.name !== SPARE_WORKER);
};

/**
 * An image bump without a registry: the image swarm-ha built (loaded on every lab node) under a
 * second tag, named in config as the user's own image. Every task of the tier runs a new image
 * reference, which is all a bump is to the swarm; the undo goes back to the built tag.
 */
function imageBump(image: ImageName, key: string, what: string): Change {
    const bumped = `${builtImageTag(image)}-bump`;
    return {
        name: `${image}-image`,
        what: `${what}: the ${image} image under a second tag and back (${key})`,
        config: { [`swarm-ha:${key}`]: bumped },
        prepare: () => {
            // Only where the image is: lab:up loads each image on the nodes that run it.
            for (const n of baseNodes) onNode(n.name, `if docker image inspect ${builtImageTag(image)} >/dev/null 2>&1; then docker tag ${builtImageTag(image)} ${bumped}; fi`);
        },
    };
}

/** The change classes config can express on the lab. */
const CHANGES: Change[] = [
    { name: "app-replicas", what: "the app's replicas 2 -> 3 and back (appReplicas)", config: { "swarm-ha:appReplicas": "3" } },
    { name: "app-resources", what: "the app's memory limit 256 -> 320 MiB and back (appMemoryMb): a rolling update of its tasks", config: { "swarm-ha:appMemoryMb": "320" } },
    { name: "edge-settings", what: "HAProxy's stats port 8404 -> 8406 and back (statsPort): a new HAProxy config on each edge node", config: { "swarm-ha:statsPort": "8406" } },
    { name: "redis-settings", what: "Sentinel's down-after 3000 -> 4000 ms and back (redisDownAfterMs)", config: { "swarm-ha:redisDownAfterMs": "4000" } },
    { name: "postgres-settings", what: "Patroni's maximum_lag_on_failover 1 -> 2 MiB and back (postgresMaxLagOnFailoverMb): applied to the running cluster", config: { "swarm-ha:postgresMaxLagOnFailoverMb": "2" } },
    imageBump("app", "appImage", "the app's image"),
    imageBump("redis", "redisImage", "Redis's and the Sentinels' image"),
    imageBump("postgres", "postgresImage", "every Postgres member's image, one member at a time"),
    {
        name: "worker-node",
        what: `an app worker (${SPARE_WORKER}) removed from config (drained, then it leaves) and added back (a fresh join): apply removes it, undo adds it`,
        config: {},
        nodes: withoutSpareWorker,
    },
    {
        name: "stats-password",
        what: "HAProxy's stats password rotated (haproxyStatsPassword set as a secret, then back to a generated one): a new Docker secret, both HAProxys updated",
        config: {},
        secrets: () => ({ "swarm-ha:haproxyStatsPassword": `rotated-${crypto.randomBytes(12).toString("hex")}` }),
    },
    {
        name: "postgres-passwords",
        what:
            "Postgres' three passwords rotated (postgresPassword, postgresReplicationPassword and postgresAppPassword set as secrets, then back to generated ones): " +
            "the roles changed on the running cluster first (postgres-roles.py), then the members, the app, the backups and the exporter moved to the new Docker secrets",
        config: {},
        secrets: () =>
            Object.fromEntries(
                ["postgresPassword", "postgresReplicationPassword", "postgresAppPassword"].map((k) => [`swarm-ha:${k}`, `rotated-${crypto.randomBytes(12).toString("hex")}`]),
            ),
    },
];

interface Sample {
    direction: "apply" | "undo";
    deploySeconds: number;
    /** The deploy succeeded: every step, the health step last. */
    deployOk: boolean;
    error?: string;
    /** Resources the deploy changed, besides the steps that run on every update. */
    changed: string[];
    requests: { total: number; failed: number; errors: Record<string, number>; longestFailureRunMs: number };
    writes: { total: number; failed: number; acknowledged: number; lost: number; longestRefusalS: number; slowestAcknowledgedS: number; errors: Record<string, number> };
    generatorMaxLagMs: number;
    valid: boolean;
    /**
     * Who held the VIP from just before the deploy to its end, each change once ("none" while
     * nobody did): more than one entry means it moved, which resets every client connection
     * to the old holder.
     */
    vipHolders: string[];
}

/** Samples the VIP's holder(s) every second until stopped; the distinct successive values. */
function watchVip(): { stop(): string[] } {
    const edge = baseNodes.filter((n) => n.roles.includes("edge")).map((n) => n.name);
    const seen: string[] = [];
    const sample = () => {
        const now = vipHolders(edge).join("+") || "none";
        if (seen[seen.length - 1] !== now) seen.push(now);
    };
    sample();
    const timer = setInterval(sample, 1000);
    return {
        stop: () => {
            clearInterval(timer);
            sample();
            return seen;
        },
    };
}


async function measuredDeploy(nodes: LabNode[], config: Record<string, string>, args: string[], direction: Sample["direction"]): Promise<Sample> {
    const base = Date.now() * 1000;
    // The reads and writes run in a process of their own (at a higher CPU priority), so that
    // neither this process nor the deploy holds them back.
    const load = startLoad({ reads: { url: `http://${VIP}/`, ratePerSecond: READ_RATE, timeoutMs: 3000 }, writes: { url: `http://${VIP}/todos`, base, perSecond: WRITE_RATE, timeoutMs: WRITE_TIMEOUT_MS } });
    await load.ready;
    await sleep(MARGIN_MS);
    const t0 = Date.now();
    // The deploy runs in a process of its own, so this one's synchronous polling holds nothing back.
    const vip = watchVip();
    const d = await deployInBackground(nodes, config, args).done;
    const deploySeconds = (Date.now() - t0) / 1000;
    const holders = vip.stop();
    await sleep(MARGIN_MS);
    const { reads, writes } = await load.stop();
    const seen = reads!;
    const writer = { writes: writes! };
    const stored = await storedSeqs(base);
    const acknowledged = writer.writes.filter((w) => w.ok);
    const steps = d.summary.steps.filter((s) => s.action !== "same" && !EVERY_RUN.test(s.name) && s.action !== "delete-replaced");
    return {
        direction,
        deploySeconds,
        deployOk: d.status === 0 && !d.summary.error,
        ...(d.summary.error ? { error: d.summary.error.split("\n").slice(0, 3).join(" / ") } : {}),
        changed: steps.map((s) => `${s.action} ${s.name}`),
        requests: { total: seen.total, failed: seen.failed, errors: seen.errors, longestFailureRunMs: seen.disruption.longestFailureRun.durationMs },
        writes: {
            total: writer.writes.length,
            failed: writer.writes.filter((w) => !w.ok).length,
            acknowledged: acknowledged.length,
            lost: acknowledged.filter((w) => !stored.has(w.seq)).length,
            longestRefusalS: longestRefusal(writer.writes) / 1000,
            slowestAcknowledgedS: slowestAcknowledgedS(writer.writes),
            errors: countBy(writer.writes.filter((w) => !w.ok).map((w) => w.error ?? "unknown")),
        },
        generatorMaxLagMs: seen.maxLagMs,
        valid: seen.maxLagMs <= MAX_LAG_MS,
        vipHolders: holders,
    };
}

async function main(): Promise<void> {
    const wanted = flags.changes?.split(",");
    const unknown = (wanted ?? []).filter((w) => !CHANGES.some((c) => c.name === w));
    if (unknown.length) throw new Error(`unknown change class(es): ${unknown.join(", ")} (known: ${CHANGES.map((c) => c.name).join(", ")})`);
    const changes = CHANGES.filter((c) => !wanted || wanted.includes(c.name));
    if (!flags.reuse) {
        console.log("[day2] base deploy of the whole stack on bare hosts (not measured)");
        resetToBase();
    }
    const engine = hostsEngine();
    const out: Record<string, unknown> = {};
    const summary: string[] = [];
    for (const c of changes) {
        const missing = c.nodes && !baseNodes.some((n) => n.name === SPARE_WORKER);
        if (missing && wanted) withoutSpareWorker(); // asked for by name: the error says what the lab needs
        if (missing) {
            out[c.name] = { what: c.what, notRun: `needs ${SPARE_WORKER}: a lab with 2 workers` };
            summary.push(`${c.name}: not run (needs a lab with 2 workers)`);
            continue;
        }
        c.prepare?.();
        const samples: Sample[] = [];
        for (let i = 0; i < runs; i++) {
            const direction = i % 2 === 0 ? "apply" : "undo";
            const s =
                direction === "apply"
                    ? await measuredDeploy(c.nodes?.() ?? baseNodes, c.config, c.secrets ? secretConfig(c.secrets()) : [], direction)
                    : await measuredDeploy(baseNodes, {}, [], direction);
            samples.push(s);
            console.log(`[day2] ${c.name} ${i + 1}/${runs} (${direction}): ${JSON.stringify(s)}`);
            if (!s.deployOk) break; // the stack is not as declared: the class's later samples would measure that
        }
        // Back to the base config (not measured) when the last deploy applied the change.
        if (samples[samples.length - 1].direction === "apply") {
            const back = deploy(baseNodes);
            if (back.summary.error) throw new Error(`undoing ${c.name} failed: ${back.summary.error}`);
        }
        const valid = samples.filter((s) => s.valid);
        const med = {
            failedRequests: median(valid.map((s) => s.requests.failed)),
            failedWrites: median(valid.map((s) => s.writes.failed)),
            lostWrites: median(valid.map((s) => s.writes.lost)),
            longestRefusalS: median(valid.map((s) => s.writes.longestRefusalS)),
            slowestAcknowledgedWriteS: median(valid.map((s) => s.writes.slowestAcknowledgedS)),
            deploySeconds: median(valid.map((s) => s.deploySeconds)),
        };
        const met = samples.length === runs && samples.every((s) => s.deployOk && s.valid && s.requests.failed === 0 && s.writes.failed === 0 && s.writes.lost === 0);
        out[c.name] = { what: c.what, config: c.config, goal: "0 failed requests (reads or writes) and 0 acknowledged writes lost in every deploy", met, validSamples: `${valid.length}/${samples.length}`, median: med, samples };
        const worst = Math.max(...samples.map((s) => s.requests.failed));
        const vipMoved = samples.filter((s) => s.vipHolders.length > 1).length;
        summary.push(
            `${c.name}: ${med.failedRequests} failed requests (worst ${worst}), ${med.failedWrites} failed writes, ${med.lostWrites} acknowledged lost, writes refused at most ${med.longestRefusalS?.toFixed(1)} s, slowest acknowledged write ${med.slowestAcknowledgedWriteS?.toFixed(1)} s, ` +
                `deploy ${med.deploySeconds?.toFixed(0)} s, the VIP moved in ${vipMoved} of ${samples.length}${samples.every((s) => s.deployOk) ? "" : " (a DEPLOY FAILED)"} (goal 0 failed reads or writes, 0 lost: ${met ? "met" : "MISSED"}; ${valid.length}/${samples.length} samples valid)`,
        );
    }
    const command = `npm run bench:day2 -- --runs ${runs}${wanted ? ` --changes ${wanted.join(",")}` : ""}${flags.reuse ? " --reuse" : ""}`;
    const result = {
        date: new Date().toISOString(),
        command,
        commit: RUN_COMMIT,
        machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
        lab: `3 managers + 1 worker, the whole stack (data tier, monitoring); hosts' Docker ${engine}`,
        load: `through http://${VIP}/: ${READ_RATE} GET/s (open loop, 3 s timeout) and ${WRITE_RATE} to-do writes/s (POST /todos, numbered, ${WRITE_TIMEOUT_MS / 1000} s timeout, never retried by the client; the app waits up to 8 s for a Postgres leader), from ${MARGIN_MS / 1000} s before each deploy to ${MARGIN_MS / 1000} s after it, from a process of its own (nice -10 when run as root); a sample whose generator lagged more than ${MAX_LAG_MS} ms is invalid`,
        runs,
        changes: out,
    };
    fs.writeFileSync(path.join(ROOT, "bench", "results", "day2.json"), JSON.stringify(result, null, 2) + "\n");
    const line = `- ${result.date.slice(0, 10)} day2 (changes under ${READ_RATE} GET/s + ${WRITE_RATE} writes/s through the VIP; commit ${result.commit}; hosts' Docker ${engine}), median of ${runs} deploys per class: ${summary.join("; ")} — \`${command}\``;
    fs.appendFileSync(path.join(ROOT, "bench", "results", "SUMMARY.md"), `${line}\n`);
    console.log(line);
}

main().then(
    () => process.exit(0),
    (e) => {
        console.error(`[day2] FAILED: ${(e as Error).stack ?? e}`);
        process.exit(1);
    },
);
