/**
 * npm run bench:lab [-- --runs N] [--skip-cold]
 * Times the lab: cold `lab:up` (image cache and lab data purged), warm `lab:up`, the time
 * from the start of the deploy until the swarm is formed (every node joined and labelled) and
 * until every service has converged, and `lab:down`. Goals (the whole stack, data tier included, issue 8): cold under 8 minutes, warm under 90 s. Writes the median of N runs (default 3) to bench/results/lab.json and a
 * line to bench/results/SUMMARY.md. Not a test: nothing passes or fails on a number.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseCli, wholeNumber } from "../support/cli";
import { hostsEngine } from "../lab/nodes";
import { median, RUN_COMMIT } from "./results";

const ROOT = path.resolve(__dirname, "..");
const { values: flags } = parseCli("npm run bench:lab [-- --runs 3] [--skip-cold]", { runs: { type: "string" }, "skip-cold": { type: "boolean" } });
const runs = wholeNumber(flags.runs, "--runs", 3);
const skipCold = flags["skip-cold"] === true;

function timed(label: string, cmd: string, cmdArgs: string[]): number {
    const t0 = Date.now();
    const r = spawnSync(cmd, cmdArgs, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status})`);
    const s = (Date.now() - t0) / 1000;
    console.log(`[bench] ${label}: ${s.toFixed(1)}s`);
    return s;
}

/** Seconds from the deploy's start until the last step of a kind ended. */
function lastEnded(matches: (s: { name: string; type: string }) => boolean): number {
    const summary = JSON.parse(fs.readFileSync(path.join(ROOT, ".lab", "last-deploy.json"), "utf8"));
    return Math.max(...summary.steps.filter(matches).map((s: { endedAt: number }) => s.endedAt));
}
/**
 * The swarm formed: every node joined and labelled (the cluster's steps, named swarm-<node>-...;
 * postgres-settings also ends in -settings, and counting it took 2026-12-07's 48 s).
 */
const swarmFormedSeconds = () => lastEnded((s) => /^swarm-.+-(member|settings)$/.test(s.name));
/** The stack served: every service converged (the app answers through the VIP). */
const stackServedSeconds = () => lastEnded((s) => s.type === "docker:index/service:Service");
const GOALS = { coldUp: 480, warmUp: 90 };

const samples = { coldUp: [] as number[], warmUp: [] as number[], swarmFormed: [] as number[], stackServed: [] as number[], down: [] as number[] };
for (let i = 0; i < runs; i++) {
    if (!skipCold) {
        timed("lab:down --purge (not measured)", "bash", ["lab/down.sh", "--purge"]);
        samples.coldUp.push(timed("cold lab:up", "npx", ["tsx", "lab/up.ts"]));
        samples.swarmFormed.push(swarmFormedSeconds());
        samples.stackServed.push(stackServedSeconds());
    }
    samples.down.push(timed("lab:down", "bash", ["lab/down.sh"]));
    samples.warmUp.push(timed("warm lab:up", "npx", ["tsx", "lab/up.ts"]));
    samples.swarmFormed.push(swarmFormedSeconds());
    samples.stackServed.push(stackServedSeconds());
}
// The hosts' engine, asked while the last lab is still up.
const engine = hostsEngine();
timed("lab:down (not measured)", "bash", ["lab/down.sh"]);

const result = {
    date: new Date().toISOString(),
    command: `npm run bench:lab -- --runs ${runs}${skipCold ? " --skip-cold" : ""}`,
    commit: RUN_COMMIT,
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    lab: "3 managers + 1 worker",
    engine,
    runs,
    medianSeconds: {
        coldUp: median(samples.coldUp),
        warmUp: median(samples.warmUp),
        swarmFormed: median(samples.swarmFormed),
        stackServed: median(samples.stackServed),
        down: median(samples.down),
    },
    goalsSeconds: GOALS,
    samplesSeconds: samples,
};
const out = path.join(ROOT, "bench", "results", "lab.json");
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
const m = result.medianSeconds;
const fmt = (x: number | null) => (x === null ? "n/a" : `${x.toFixed(0)} s`);
const verdict = (x: number | null, goal: number) => (x === null ? "" : x < goal ? ` (goal < ${goal} s: met)` : ` (goal < ${goal} s: MISSED)`);
const line =
    `- ${result.date.slice(0, 10)} lab (whole stack, 3 managers + 1 worker: swarm, data tier, app, edge; commit ${RUN_COMMIT}; hosts' Docker ${engine}), median of ${runs}: cold lab:up ${fmt(m.coldUp)}${verdict(m.coldUp, GOALS.coldUp)}, ` +
    `warm lab:up ${fmt(m.warmUp)}${verdict(m.warmUp, GOALS.warmUp)}, swarm formed ${fmt(m.swarmFormed)} and every service converged ${fmt(m.stackServed)} after the deploy starts, lab:down ${fmt(m.down)} — \`${result.command}\``;
const summaryFile = path.join(ROOT, "bench", "results", "SUMMARY.md");
const prior = fs.existsSync(summaryFile) ? fs.readFileSync(summaryFile, "utf8") : "# Benchmark results\n\nOne line per run of a benchmark, newest last. Raw numbers in the JSON files beside this one.\n\n";
fs.writeFileSync(summaryFile, prior + line + "\n");
console.log(line);
