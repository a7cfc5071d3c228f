/**
 * npm run bench:idempotence [-- --runs N]
 * What a `pulumi up` with no change costs on the whole lab stack (swarm, edge, app, data tier,
 * monitoring), through the lab engine, whose Docker resources diff against the state the
 * provider reads back (issue 17): the resources it changes (goal 0, besides the checks that run
 * on every update, named in the results), the task containers it restarts on any node (goal 0),
 * and its time from the command's start to its exit (goal < 15 s). One base deploy on bare
 * hosts (not measured), then N no-change deploys. Writes bench/results/idempotence.json (this
 * invocation's own numbers, on this commit) and a line to SUMMARY.md. Needs the lab's hosts
 * and images (`npm run lab:up` makes them). Not a test: nothing passes or fails on a number.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { baseNodes, deploy, EVERY_RUN, resetToBase } from "../lab/control";
import { restartedServices, taskContainers } from "../lab/faults";
import { hostsEngine } from "../lab/nodes";
import { median, RUN_COMMIT } from "./results";
import { parseCli, wholeNumber } from "../support/cli";

const ROOT = path.resolve(__dirname, "..");
const { values: flags } = parseCli("npm run bench:idempotence [-- --runs 3]: N no-change deploys of the whole lab stack", { runs: { type: "string" } });
const runs = wholeNumber(flags.runs, "--runs", 3);
const GOALS = { changedResources: 0, restartedTasks: 0, seconds: 15 };

console.log("[bench] base deploy of the whole stack on bare hosts (not measured)");
resetToBase();
const engine = hostsEngine();

const samples: { seconds: number; changed: string[]; everyRun: string[]; restartedTasks: number; restartedServices: string[] }[] = [];
for (let i = 1; i <= runs; i++) {
    const before = taskContainers();
    const t0 = Date.now();
    const d = deploy(baseNodes);
    const seconds = (Date.now() - t0) / 1000;
    if (d.summary.error) throw new Error(`no-change deploy ${i} failed: ${d.summary.error}`);
    const after = taskContainers();
    const steps = d.summary.steps.filter((s) => s.action !== "same");
    const gone = [...before.keys()].filter((id) => !after.has(id));
    const sample = {
        seconds,
        changed: steps.filter((s) => !EVERY_RUN.test(s.name)).map((s) => `${s.action} ${s.name}`),
        everyRun: steps.filter((s) => EVERY_RUN.test(s.name) && s.action !== "delete-replaced").map((s) => `${s.action} ${s.name}`),
        restartedTasks: gone.length,
        restartedServices: restartedServices(before, after),
    };
    console.log(`[bench] run ${i}: ${seconds.toFixed(1)} s, ${sample.changed.length} changed, ${sample.restartedTasks} task(s) restarted`);
    samples.push(sample);
}

const med = {
    seconds: median(samples.map((s) => s.seconds)),
    changedResources: median(samples.map((s) => s.changed.length)),
    restartedTasks: median(samples.map((s) => s.restartedTasks)),
};
const met = {
    changedResources: samples.every((s) => s.changed.length <= GOALS.changedResources),
    restartedTasks: samples.every((s) => s.restartedTasks <= GOALS.restartedTasks),
    seconds: med.seconds !== null && med.seconds < GOALS.seconds,
};
const result = {
    date: new Date().toISOString(),
    command: `npm run bench:idempotence -- --runs ${runs}`,
    commit: RUN_COMMIT,
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    lab: `3 managers + 1 worker, the whole stack (data tier, monitoring); hosts' Docker ${engine}`,
    runs,
    goals: GOALS,
    median: med,
    met,
    samples,
};
const file = path.join(ROOT, "bench", "results", "idempotence.json");
fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
const line =
    `- ${result.date.slice(0, 10)} idempotence (no-change deploy of the whole lab stack, ${result.lab}; commit ${result.commit}), median of ${runs}: ` +
    `${med.changedResources} resources changed (goal 0 in every run: ${verdict(met.changedResources)}; every update also runs ${samples[0].everyRun.length} checks: ${samples[0].everyRun.join(", ")}), ` +
    `${med.restartedTasks} task containers restarted (goal 0 in every run: ${verdict(met.restartedTasks)}), ${med.seconds?.toFixed(1)} s (goal < ${GOALS.seconds} s: ${verdict(met.seconds)}) — \`${result.command}\``;
fs.appendFileSync(path.join(ROOT, "bench", "results", "SUMMARY.md"), `${line}\n`);
console.log(line);
