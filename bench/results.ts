/**
 * What the chaos benchmarks share: their statistics, and how they record a run: the numbers in
 * bench/results/<name>.json (a run of some scenarios keeps the others' last numbers) and one
 * line in bench/results/SUMMARY.md.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const RESULTS = path.resolve(__dirname, "results");

/** The median of the numbers that are there (null ones are left out); null when none is. */
export function median(xs: (number | null | undefined)[]): number | null {
    const s = xs.filter((x): x is number => typeof x === "number" && !Number.isNaN(x)).sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
}

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
 * Writes bench/results/<name>.json: this run's scenarios, and when only some were run
 * (`partial`), the last numbers of the others. Then appends `summaryLine` to SUMMARY.md.
 */
export function recordChaosRun(
    name: string,
    run: { command: string; lab: string; load: string; runs: number; partial: boolean; scenarios: Record<string, unknown> },
    summaryLine: string,
): void {
    const file = path.join(RESULTS, `${name}.json`);
    const previous = run.partial && fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")).scenarios ?? {}) : {};
    const record = {
        date: new Date().toISOString(),
        command: run.command,
        machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
        lab: run.lab,
        load: run.load,
        runs: run.runs,
        scenarios: { ...previous, ...run.scenarios },
    };
    fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
    fs.appendFileSync(path.join(RESULTS, "SUMMARY.md"), `${summaryLine}\n`);
    console.log(summaryLine);
}
