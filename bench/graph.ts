/**
 * npm run bench:graph [-- --runs N]
 * Times the unchanged program (index.ts) building its whole resource graph under
 * `pulumi.runtime.setMocks`, for 10, 100 and 1,000 nodes: the seconds from the first
 * registration until `pulumi.runtime.disconnect()` resolves, the resources registered, the
 * dependency edges they carry (distinct dependencies per registration, summed) and the
 * child's peak RSS. Each measurement runs in a fresh child process (`--one <nodes>`), as
 * the SDK's mock runtime is process-global. Writes the median of N runs (default 3) to
 * bench/results/graph.json and a line to bench/results/SUMMARY.md. Goal: 1,000 nodes in
 * under 15 s (issue 21); a missed goal is reported as missed. Not a test: nothing fails on a number.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { watchRegistrations } from "../support/registrations";
import { isSecret } from "../support/secret-markers";
import { FAKE_SSH_KEY, fakeStdout } from "../test/support/fake-hosts";
import { parseCli, wholeNumber } from "../support/cli";
import { RUN_COMMIT } from "./results";

const ROOT = path.resolve(__dirname, "..");
const { values: flags } = parseCli("npm run bench:graph [-- --runs 3]   (--one N: one measurement, run by the benchmark itself)", { runs: { type: "string" }, one: { type: "string" } });
const SIZES = [10, 100, 1000];
/** Issue 21: the whole stack of 1,000 nodes in under 15 s. */
const GOAL = { nodes: 1000, seconds: 15 };

/** What one child measures, printed as one JSON line. */
interface Sample {
    nodes: number;
    /** First registration (the first resource constructor's call into the SDK) until `disconnect()` resolved. */
    seconds: number;
    /** `require("index.ts")` until `disconnect()` resolved: config validation included, module loading not. */
    secondsFromRequire: number;
    /** The first registration request reaching the mock monitor until `disconnect()` resolved (after every constructor ran). */
    secondsFromMonitor: number;
    resources: number;
    edges: number;
    /** Peak resident set size of the child, MiB (`process.resourceUsage().maxRSS`). */
    maxRssMiB: number;
    resourcesByType: Record<string, number>;
}

/** How many managers a stack of `n` nodes gets: 3 up to 10s of nodes, 5 for 100s, 7 (the most allowed) beyond. */
function managerCount(n: number): number {
    return n < 50 ? 3 : n < 500 ? 5 : 7;
}

/**
 * A valid stack config of `n` nodes, as the Pulumi CLI hands it over (every value a string,
 * `nodes` as JSON): managers first, the first two `edge` and `monitoring`, the first three
 * `redis` (as the lab: a Redis and a Sentinel on three nodes); one worker `postgres-primary`,
 * another `postgres-replica`; the rest `app`: the whole stack, as the config requires it.
 * Addresses 10.1.x.y, outside the overlay pool 10.200.0.0/16.
 */
export function benchConfig(n: number): Record<string, string> {
    const managers = managerCount(n);
    if (n < managers + 2) throw new Error(`bench: ${n} nodes is too few (${managers} managers + 2 Postgres workers)`);
    if (n > 254 * 256) throw new Error(`bench: ${n} nodes do not fit 10.1.0.0/16`);
    const nodes = Array.from({ length: n }, (_, i) => {
        const swarmRole = i < managers ? "manager" : "worker";
        const roles = [
            ...(i < 2 ? ["edge", "monitoring"] : []),
            ...(i < 3 ? ["redis"] : []),
            ...(i === managers ? ["postgres-primary"] : i === managers + 1 ? ["postgres-replica"] : i >= 3 ? ["app"] : []),
        ];
        return {
            name: `n${String(i + 1).padStart(4, "0")}`,
            address: `10.1.${Math.floor(i / 254)}.${(i % 254) + 1}`,
            swarmRole,
            roles,
        };
    });
    return {
        "swarm-ha:nodes": JSON.stringify(nodes),
        "swarm-ha:defaultAddrPool": "10.200.0.0/16",
        "swarm-ha:encryptOverlay": "false",
        "swarm-ha:sshPrivateKey": FAKE_SSH_KEY,
    };
}

/** Child: builds the graph of `n` nodes once and prints one JSON line. */
async function measureOne(n: number): Promise<void> {
    // The program writes the Docker provider's key file under ~/.ssh.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-bench-home-"));
    process.env.HOME = home;
    // On exit, not in a finally: a failing program may end the process from a rejected promise.
    process.on("exit", () => fs.rmSync(home, { recursive: true, force: true }));

    pulumi.runtime.setAllConfig(benchConfig(n), ["swarm-ha:sshPrivateKey"]);
    await pulumi.runtime.setMocks(
        {
            newResource: async (a: pulumi.runtime.MockResourceArgs) => {
                let state: Record<string, unknown> = { ...a.inputs };
                if (a.type === "command:remote:Command") {
                    state = { ...a.inputs, stdout: fakeStdout(a.name, String(isSecret(a.inputs.create) ? a.inputs.create.value : (a.inputs.create ?? ""))), stderr: "" };
                } else if (a.type === "random:index/randomPassword:RandomPassword") {
                    state = { ...a.inputs, result: `pw${a.name.replace(/[^a-z0-9]/gi, "")}`.padEnd(32, "x").slice(0, 32) };
                }
                return { id: `${a.name}-id`, state };
            },
            call: () => ({}),
        },
        "swarm-ha",
        "bench",
        false,
    );

    // Edges and the monitor's view: every registration request as it reaches the mock monitor.
    let firstAtMonitor: number | undefined;
    let resources = 0;
    let edges = 0;
    const resourcesByType: Record<string, number> = {};
    watchRegistrations(pulumi.runtime.getMonitor(), (r) => {
        firstAtMonitor ??= performance.now();
        resources++;
        edges += new Set(r.dependencies).size;
        resourcesByType[r.type] = (resourcesByType[r.type] ?? 0) + 1;
    });

    // The first registration: a resource's constructor hands it to the SDK's registerResource
    // (resource.js calls it through the module object, so wrapping the export sees every call).
    // The request reaches the monitor only once the program's synchronous code has run, that
    // is after every constructor: timing from there would leave out most of the work.
    const sdkResource = require("@pulumi/pulumi/runtime/resource") as { registerResource: (...a: unknown[]) => unknown };
    const register = sdkResource.registerResource;
    let first: number | undefined;
    sdkResource.registerResource = (...a: unknown[]) => {
        first ??= performance.now();
        return register(...a);
    };

    // Modules the program imports are loaded first (the providers' resource classes load
    // lazily, on first use), so that loading code is not timed.
    for (const m of ["../components/config", "../components/cluster", "../components/networks", "../components/secrets"]) require(m);
    void [command.remote.Command, command.local.Command, docker.Provider, docker.Network, docker.Secret, random.RandomPassword];

    const t0 = performance.now();
    require("../index");
    await pulumi.runtime.disconnect();
    const end = performance.now();
    if (first === undefined || firstAtMonitor === undefined) {
        throw new Error("bench: no registration seen (the SDK's runtime/resource.registerResource may have moved)");
    }

    const sample: Sample = {
        nodes: n,
        seconds: (end - first) / 1000,
        secondsFromRequire: (end - t0) / 1000,
        secondsFromMonitor: (end - firstAtMonitor) / 1000,
        resources,
        edges,
        maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
        resourcesByType,
    };
    process.stdout.write(JSON.stringify(sample) + "\n");
}

/** Parent: one fresh child per measurement. */
function runChild(n: number): Sample {
    const r = spawnSync("npx", ["tsx", "bench/graph.ts", "--one", String(n)], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
        maxBuffer: 64 * 2 ** 20,
    });
    if (r.status !== 0) throw new Error(`bench: ${n} nodes: child failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ""})\n${r.stdout}`);
    // The result is the last JSON line; anything the program logged comes before it.
    const line = r.stdout.trim().split("\n").reverse().find((l) => l.startsWith("{"));
    if (line === undefined) throw new Error(`bench: ${n} nodes: child printed no result\n${r.stdout}`);
    const s = JSON.parse(line) as Sample;
    console.log(`[bench] ${n} nodes: ${s.seconds.toFixed(2)}s, ${s.resources} resources, ${s.edges} edges, peak RSS ${s.maxRssMiB} MiB`);
    return s;
}

/** Which program was measured: the commit, and the program's files that differ from it (read-only git calls). */
function programVersion(): { commit: string; modified: string[] } {
    const git = (...a: string[]) => spawnSync("git", ["--no-optional-locks", ...a], { cwd: ROOT, encoding: "utf8" }).stdout ?? "";
    // Porcelain lines are "XY path": the status takes the first three characters.
    const modified = git("status", "--porcelain", "--", "index.ts", "components").split("\n").filter(Boolean).map((l) => l.slice(3));
    return { commit: git("rev-parse", "--short", "HEAD").trim(), modified };
}

const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
};

function main(): void {
    const runs = wholeNumber(flags.runs, "--runs", 3);
    const loadBefore = os.loadavg()[0];
    const samples: Record<number, Sample[]> = {};
    for (const n of SIZES) {
        samples[n] = [];
        for (let i = 0; i < runs; i++) samples[n].push(runChild(n));
    }

    const medians = Object.fromEntries(
        SIZES.map((n) => {
            const of = (k: "seconds" | "secondsFromRequire" | "secondsFromMonitor" | "resources" | "edges" | "maxRssMiB") => median(samples[n].map((s) => s[k]))!;
            return [n, { seconds: of("seconds"), secondsFromRequire: of("secondsFromRequire"), secondsFromMonitor: of("secondsFromMonitor"), resources: of("resources"), edges: of("edges"), maxRssMiB: of("maxRssMiB") }];
        }),
    );
    const goalMet = medians[GOAL.nodes].seconds < GOAL.seconds;
    const result = {
        date: new Date().toISOString(),
        command: `npm run bench:graph -- --runs ${runs}`,
        commit: RUN_COMMIT,
        machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
        node: process.version,
        /** 1-minute load average before and after: other work on the machine slows every number. */
        loadAverage: { before: Number(loadBefore.toFixed(2)), after: Number(os.loadavg()[0].toFixed(2)) },
        program: programVersion(),
        what:
            "index.ts under pulumi.runtime.setMocks. seconds: first registration (first resource constructor's call into the SDK) until disconnect() resolves; " +
            "secondsFromRequire: require(index.ts) until then (config validation included, modules preloaded); secondsFromMonitor: first request at the mock monitor until then; " +
            "edges: distinct dependencies per registration, summed",
        runs,
        goal: { ...GOAL, met: goalMet },
        median: medians,
        samples,
    };
    const out = path.join(ROOT, "bench", "results", "graph.json");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(result, null, 2) + "\n");

    const secs = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
    const sizes = SIZES.map((n) => `${n} nodes ${secs(medians[n].seconds)} s (${medians[n].resources} resources, ${medians[n].edges} edges)`).join(", ");
    const line = `- ${result.date.slice(0, 10)} graph under mocks, median of ${runs}: ${sizes} — goal ${GOAL.nodes} nodes < ${GOAL.seconds} s: ${goalMet ? "met" : "MISSED"} — \`${result.command}\` [commit ${RUN_COMMIT}]`;
    const summaryFile = path.join(ROOT, "bench", "results", "SUMMARY.md");
    const prior = fs.existsSync(summaryFile) ? fs.readFileSync(summaryFile, "utf8") : "# Benchmark results\n\nOne line per run of a benchmark, newest last. Raw numbers in the JSON files beside this one.\n\n";
    fs.writeFileSync(summaryFile, prior + line + "\n");
    console.log(line);
}

if (flags.one !== undefined) {
    measureOne(wholeNumber(flags.one, "--one", 1)).catch((e) => {
        console.error(e);
        process.exit(1);
    });
} else {
    main();
}
