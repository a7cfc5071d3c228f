/**
 * bench/results/: each results file is the output of one benchmark invocation on one commit,
 * and SUMMARY.md holds the line that invocation wrote (issue 25: nothing there is assembled or
 * edited by hand). A file written before results named their commit is listed below with that
 * reason; rerunning its benchmark gives it a commit, and then it must leave the list.
 */
import * as fs from "node:fs";
import * as path from "node:path";

const RESULTS = path.resolve(__dirname, "..", "bench", "results");
const summary = fs.readFileSync(path.join(RESULTS, "SUMMARY.md"), "utf8").split("\n");

/** Results files that predate the commit field (not rerun since): their numbers are older code's. */
const WITHOUT_COMMIT = ["alerts", "peer"];

const files = fs
    .readdirSync(RESULTS)
    .filter((f) => f.endsWith(".json"))
    .map((f) => ({ name: f.replace(/\.json$/, ""), record: JSON.parse(fs.readFileSync(path.join(RESULTS, f), "utf8")) as { date: string; command: string; commit?: string } }));

const recorded = files.filter((f) => !WITHOUT_COMMIT.includes(f.name));
const older = files.filter((f) => WITHOUT_COMMIT.includes(f.name));

test.each(recorded.map((f) => [f.name, f.record] as const))("%s.json names its commit, and SUMMARY.md has the line its run wrote", (name, record) => {
    expect(record.commit).toMatch(/^[0-9a-f]{7,40}( \(with uncommitted changes\))?$/);
    const lines = summary.filter((l) => l.startsWith(`- ${record.date.slice(0, 10)} ${name} `) && l.includes(`commit ${record.commit}`));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.includes(record.command))).toBe(true);
});

test.each(older.map((f) => [f.name, f.record] as const))("%s.json is still from before results named their commit (rerun it, then take it off WITHOUT_COMMIT)", (_name, record) => {
    expect(record.commit).toBeUndefined();
});

test("every name on WITHOUT_COMMIT is a results file", () => {
    expect(WITHOUT_COMMIT.filter((n) => !files.some((f) => f.name === n))).toEqual([]);
});
