/**
 * What the chaos benchmarks share: their statistics, and how they record a run: the numbers in
 * bench/results/<name>.json (one invocation's, on one commit) and one line in
 * bench/results/SUMMARY.md.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const RESULTS = path.resolve(__dirname, "results");

/** A run or sample whose load generator started a request later than this behind its schedule is invalid. */
export const MAX_LAG_MS = 250;

/** The median of the numbers that are there (null ones are left out); null when none is. */
export function median(xs: (number | null | undefined)[]): number | null {
    const s = xs.filter((x): x is number => typeof x === "number" && !Number.isNaN(x)).sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
}

/** How many times each string occurs (e.g. the errors of failed requests). */
export const countBy = (xs: string[]) => xs.reduce<Record<string, number>>((m, x) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {});

/** Nearest-rank percentile; null for no numbers. */
export function percentile(xs: number[], p: number): number | null {
    if (xs.length === 0) return null;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** The command that reproduces a run: `npm run bench:<name> -- --runs N [--scenarios a,b]`. */
export function benchCommand(name: string, runs: number, wanted: string[] | undefined): string {
    return `npm run bench:${name} -- --runs ${runs}${wanted ? ` --scenarios ${wanted.join(",")}` : ""}`;
}

/**
 * The commit a benchmark measures, read when it starts (so a checkout during a long run cannot
 * relabel it), marked when the tree had uncommitted changes.
 */
export const RUN_COMMIT = (() => {
    const git = (...a: string[]) => spawnSync("git", a, { cwd: path.resolve(__dirname, ".."), encoding: "utf8" }).stdout.trim();
    return `${git("rev-parse", "--short", "HEAD")}${git("status", "--porcelain").length > 0 ? " (with uncommitted changes)" : ""}`;
})();

/**
 * Writes bench/results/<name>.json: this invocation's numbers alone, on this commit (a run of
 * some scenarios is its own run, `partial`, and keeps nothing of an older one). Then appends
 * `summaryLine` to SUMMARY.md, with the commit and the hosts' engine.
 */
export function recordChaosRun(
    name: string,
    run: { command: string; lab: string; engine: string; load: string; runs: number; partial: boolean; scenarios: Record<string, unknown> },
    summaryLine: string,
): void {
    const file = path.join(RESULTS, `${name}.json`);
    const record = {
        date: new Date().toISOString(),
        command: run.command,
        commit: RUN_COMMIT,
        machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
        lab: run.lab,
        engine: run.engine,
        load: run.load,
        runs: run.runs,
        partial: run.partial,
        scenarios: run.scenarios,
    };
    fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
    const line = `${summaryLine} [commit ${RUN_COMMIT}; hosts' Docker ${run.engine}]`;
    fs.appendFileSync(path.join(RESULTS, "SUMMARY.md"), `${line}\n`);
    console.log(line);
}
