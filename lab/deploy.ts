/**
 * Runs the unchanged swarm-ha program (index.ts) for real against hosts, through the lab
 * engine: `pulumi up` for machines where the Pulumi CLI cannot run.
 *
 *   tsx lab/deploy.ts [--stack lab] [--config FILE] [--state FILE] [--fresh-state]
 *                     [--destroy] [--preview] [--summary FILE] [--parallel 8]
 *
 * --config        stack config (default Pulumi.<stack>.yaml)
 * --state         the engine's state file (default .lab/state/<stack>.json)
 * --fresh-state   forget the state first (as after a lost state file): everything is created
 *                 again, which the program must survive by adopting what exists
 * --destroy       declare nothing, so every resource in state is deleted in reverse
 *                 dependency order (`pulumi destroy`)
 * --preview       `pulumi preview`: print what the run would do to each resource (create,
 *                 update and the changed inputs, replace and the inputs that force it, delete),
 *                 touching no host and writing no state
 * --program FILE the Pulumi program to run (default index.ts, swarm-ha's); a benchmark runs
 *                 a part of it this way (bench/peer/swarm-only.ts)
 * --secrets FILE  secret config, as `pulumi config set --secret` sets it: a JSON object of
 *                 full keys and values (e.g. {"swarm-ha:haproxyStatsPassword": "..."})
 * --summary       write a JSON summary (steps, outputs with secrets redacted, error)
 * --parallel N    at most N resource operations at once, as `pulumi up --parallel N` (default 8,
 *                 how swarm-ha is deployed: the hosts' sshd refuses bursts of new connections)
 *
 * The SSH key for the lab stack comes from .lab/ssh/id_ed25519 unless the config file sets
 * swarm-ha:sshPrivateKey. Exit code 0 on success, 1 on any error (named host and step).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LabEngine, type StepRecord } from "./engine/engine";
import { previewReport } from "./engine/preview-report";
import { readStackFile, ROOT } from "./stack";
import { parseCli, wholeNumber } from "../support/cli";
import { LAB_KEY } from "./constants";

interface Options {
    stack: string;
    config: string;
    state: string;
    freshState: boolean;
    destroy: boolean;
    preview: boolean;
    secrets?: string;
    program: string;
    summary?: string;
    parallel: number;
}

const USAGE = "tsx lab/deploy.ts [--stack lab] [--config FILE] [--state FILE] [--fresh-state] [--destroy] [--preview] [--program FILE] [--secrets FILE] [--summary FILE] [--parallel 8]";
/** `pulumi up --parallel 8`, as swarm-ha's docs and workflows run it (see LabEngine's `parallel`). */
const DEPLOY_PARALLEL = 8;

function parseOptions(): Options {
    const { values: v } = parseCli(USAGE, {
        stack: { type: "string" },
        config: { type: "string" },
        state: { type: "string" },
        "fresh-state": { type: "boolean" },
        destroy: { type: "boolean" },
        preview: { type: "boolean" },
        secrets: { type: "string" },
        program: { type: "string" },
        summary: { type: "string" },
        parallel: { type: "string" },
    });
    const stack = v.stack ?? "lab";
    const resolved = (f: string | undefined) => (f === undefined ? undefined : path.resolve(f));
    return {
        stack,
        config: resolved(v.config) ?? path.join(ROOT, `Pulumi.${stack}.yaml`),
        state: resolved(v.state) ?? path.join(ROOT, ".lab", "state", `${stack}.json`),
        freshState: v["fresh-state"] === true,
        destroy: v.destroy === true,
        preview: v.preview === true,
        secrets: resolved(v.secrets),
        program: resolved(v.program) ?? path.join(ROOT, "index.ts"),
        summary: resolved(v.summary),
        parallel: wholeNumber(v.parallel, "--parallel", DEPLOY_PARALLEL),
    };
}

/** The stack's config, with the lab's SSH key unless the file names one, and the secret config. */
function loadConfig(file: string, secretsFile?: string): { config: Record<string, string>; secretKeys: string[] } {
    const config = readStackFile(file);
    const secretKeys: string[] = [];
    if (secretsFile) {
        for (const [k, v] of Object.entries(JSON.parse(fs.readFileSync(secretsFile, "utf8")) as Record<string, string>)) {
            config[k] = v;
            secretKeys.push(k);
        }
    }
    if (config["swarm-ha:sshPrivateKey"] === undefined) {
        const keyFile = LAB_KEY;
        if (!fs.existsSync(keyFile)) throw new Error(`no SSH key: ${keyFile} is missing (run lab/hosts.sh up first)`);
        config["swarm-ha:sshPrivateKey"] = fs.readFileSync(keyFile, "utf8");
    }
    secretKeys.push("swarm-ha:sshPrivateKey");
    return { config, secretKeys };
}

async function valueOf(o: unknown): Promise<{ value: unknown; secret: boolean }> {
    if (!pulumi.Output.isInstance(o)) return { value: o, secret: false };
    const secret = await pulumi.isSecret(o);
    if (!(await (o as any).isKnown)) return { value: "[unknown: known after the update]", secret: false };
    return { value: await (o as any).promise(), secret };
}

export interface DeploySummary {
    ok: boolean;
    /** A preview: the steps were decided, none performed. */
    preview: boolean;
    error?: string;
    seconds: number;
    steps: StepRecord[];
    counts: Record<string, number>;
    outputs: Record<string, unknown>;
}

async function main(): Promise<number> {
    const opts = parseOptions();
    const t0 = Date.now();
    const log = (l: string) => console.log(`[deploy] ${l}`);
    if (opts.freshState) {
        fs.rmSync(opts.state, { force: true });
        log(`state forgotten: ${path.relative(ROOT, opts.state)}`);
    }
    const engine = new LabEngine(opts.state, "swarm-ha", opts.stack, log, opts.preview ? "preview" : "up", opts.parallel);
    const outputs: Record<string, unknown> = {};
    let error: Error | undefined;
    process.on("unhandledRejection", (e) => {
        if (!engine.errors.includes(e as Error)) engine.errors.push(e as Error);
    });

    try {
        const { config, secretKeys } = loadConfig(opts.config, opts.secrets);
        pulumi.runtime.setAllConfig(config, secretKeys);
        await pulumi.runtime.setMocks(engine, "swarm-ha", opts.stack, opts.preview);
        engine.attach(pulumi.runtime.getMonitor());
        log(`stack ${opts.stack}: ${opts.preview ? "previewing" : "running"} ${path.relative(ROOT, opts.program)} against the hosts in ${path.relative(ROOT, opts.config)}`);
        const program = opts.destroy ? {} : require(opts.program);
        // Every registration has finished once the RPC queue drains (or, after a failed
        // step, once the engine has gone quiet). Read the
        // outputs only then, with a bound: an output that depends on a failed step never
        // resolves, and awaiting it would let the process run out of work and exit.
        await Promise.race([pulumi.runtime.disconnect(), engine.idleAfterError()]);
        for (const [k, v] of Object.entries(program)) {
            const settled = await Promise.race([valueOf(v), new Promise<undefined>((r) => setTimeout(r, 2000))]);
            outputs[k] = settled === undefined ? "[not known: a step it depends on failed]" : settled.secret ? "[secret]" : settled.value;
        }
    } catch (e) {
        error = e as Error;
    }
    if (!error && engine.errors.length > 0) error = engine.errors[0];
    try {
        await engine.finish(!error);
    } catch (e) {
        error ??= e as Error;
    }

    const counts: Record<string, number> = {};
    for (const s of engine.steps) counts[s.action] = (counts[s.action] ?? 0) + 1;
    const summary: DeploySummary = {
        ok: !error,
        preview: opts.preview,
        error: error?.message,
        seconds: (Date.now() - t0) / 1000,
        steps: engine.steps,
        counts,
        outputs,
    };
    if (opts.summary) {
        fs.mkdirSync(path.dirname(opts.summary), { recursive: true });
        fs.writeFileSync(opts.summary, JSON.stringify(summary, null, 2));
    }
    if (opts.preview && !error) for (const line of previewReport(opts.stack, engine.steps)) console.log(line);
    else log(`resources: ${Object.entries(counts).map(([a, n]) => `${n} ${a}`).join(", ") || "none"} in ${summary.seconds.toFixed(1)}s`);
    if (error) {
        console.error(`[deploy] FAILED: ${error.message}`);
        return 1;
    }
    console.log(JSON.stringify({ outputs }, null, 2));
    return 0;
}

main().then(
    (code) => process.exit(code),
    (e) => {
        console.error(`[deploy] FAILED: ${(e as Error).stack ?? e}`);
        process.exit(1);
    },
);
