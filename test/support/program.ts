/**
 * Runs the unchanged program (index.ts) under `pulumi.runtime.setMocks` with a mock that
 * records every resource: its inputs (with Pulumi's secret markers kept, so a test can tell a
 * secret input from a plain one), its parent, and when its creation started and ended.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { mockUrn, type Registration, watchRegistrations } from "../../support/registrations";
import { containsSecret, reveal } from "../../support/secret-markers";
import { readStackFile } from "../../support/stack-file";

export interface Recorded {
    type: string;
    name: string;
    /** Inputs with secrets unwrapped. */
    inputs: Record<string, any>;
    /** Inputs as registered, secret values still wrapped in Pulumi's secret marker. */
    rawInputs: Record<string, any>;
    /** Top-level input names whose value is (or contains) a secret. */
    secretInputs: Set<string>;
    /** URN of the parent resource ("" for the stack's root). */
    parent: string;
    /** URNs this resource waited for (dependsOn and input dependencies). */
    dependencies: string[];
    deleteBeforeReplace: boolean;
    /** customTimeouts as registered ("" where unset). */
    customTimeouts: { create: string; update: string; delete: string };
    /** The provider reference (`urn::id`) the resource was registered with, if any. */
    provider: string;
    /** Its ignoreChanges paths. */
    ignoreChanges: string[];
    urn: string;
    started: number;
    ended: number;
}

export interface RunResult {
    resources: Recorded[];
    outputs: Record<string, unknown>;
    /** Module exports of index.ts, as Outputs (to ask `pulumi.isSecret`). */
    exports: Record<string, any>;
    /** Plain values every secret took in this run (tokens, passwords, the SSH key). */
    secretValues: string[];
    byName(suffix: string): Recorded;
}

export { CLUSTER_ID, FAKE_SSH_KEY, MANAGER_TOKEN, WORKER_TOKEN, fakeStdout } from "./fake-hosts";
import { MANAGER_TOKEN, WORKER_TOKEN, fakeStdout } from "./fake-hosts";

export function devConfig(): Record<string, string> {
    return readStackFile(path.join(__dirname, "..", "..", "Pulumi.dev.yaml"));
}

/**
 * Runs index.ts with `config` (keys with the `swarm-ha:` prefix). `secretKeys` are the keys
 * set with `--secret`; by default the SSH key and any password key given.
 */
export async function runProgram(
    config: Record<string, string>,
    opts: { secretKeys?: string[]; stepMs?: number } = {},
): Promise<RunResult> {
    const resources: Recorded[] = [];
    const secretValues = new Set<string>();
    const t0 = Date.now();
    const stepMs = opts.stepMs ?? 3;
    const secretKeys =
        opts.secretKeys ?? Object.keys(config).filter((k) => /sshPrivateKey|Password$/.test(k));
    for (const k of secretKeys) if (config[k]) secretValues.add(config[k]);
    secretValues.add(MANAGER_TOKEN);
    secretValues.add(WORKER_TOKEN);

    const home = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-test-home-"));
    const previousHome = process.env.HOME;
    process.env.HOME = home; // the Docker provider's key file goes under ~/.ssh

    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(
        {
            newResource: async (args: pulumi.runtime.MockResourceArgs) => {
                const started = Date.now() - t0;
                await new Promise((r) => setTimeout(r, stepMs));
                const inputs = reveal(args.inputs);
                const secretInputs = new Set(Object.keys(args.inputs).filter((k) => containsSecret(args.inputs[k])));
                let state: Record<string, any> = { ...inputs };
                if (args.type === "command:remote:Command") {
                    state = { ...inputs, stdout: fakeStdout(args.name, inputs.create ?? ""), stderr: "" };
                } else if (args.type === "random:index/randomPassword:RandomPassword") {
                    const result = `pw${args.name.replace(/[^a-z0-9]/gi, "")}`.slice(0, inputs.length).padEnd(inputs.length, "x");
                    secretValues.add(result);
                    state = { ...inputs, result };
                }
                const { parent, dependencies, deleteBeforeReplace, customTimeouts, ignoreChanges } = registrations.get(`${args.type}::${args.name}`)!;
                const urn = mockUrn("test", "swarm-ha", args.type, args.name, parent);
                resources.push({
                    type: args.type, name: args.name, inputs, rawInputs: args.inputs, secretInputs, parent, dependencies, deleteBeforeReplace,
                    customTimeouts, provider: args.provider ?? "", ignoreChanges, urn, started, ended: Date.now() - t0,
                });
                return { id: `${args.name}-id`, state };
            },
            call: () => ({}),
        },
        "swarm-ha",
        "test",
        false,
    );

    // The mock API does not pass a resource's parent or dependencies to newResource.
    const registrations = new Map<string, Registration>();
    watchRegistrations(pulumi.runtime.getMonitor(), (r) => registrations.set(`${r.type}::${r.name}`, r));

    let programExports: Record<string, any> = {};
    try {
        jest.isolateModules(() => {
            programExports = require("../../index");
        });
        const outputs: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(programExports)) {
            outputs[k] = pulumi.Output.isInstance(v) ? await new Promise((res) => (v as pulumi.Output<unknown>).apply((x) => res(x))) : v;
        }
        await pulumi.runtime.disconnect();
        return {
            resources,
            outputs,
            exports: programExports,
            secretValues: [...secretValues],
            byName(suffix: string) {
                const r = resources.find((x) => x.name === suffix || x.name.endsWith(`-${suffix}`));
                if (!r) throw new Error(`no resource named *${suffix}; have: ${resources.map((x) => x.name).join(", ")}`);
                return r;
            },
        };
    } catch (e: any) {
        // Let a test check that a failed run created nothing.
        await pulumi.runtime.disconnect().catch(() => undefined);
        if (e && typeof e === "object") e.resourcesCreated = resources.length;
        throw e;
    } finally {
        process.env.HOME = previousHome;
        fs.rmSync(home, { recursive: true, force: true });
    }
}

/** Every string inside a value (for searching inputs for leaked secrets). */
export function stringsIn(v: unknown): string[] {
    if (typeof v === "string") return [v];
    if (Array.isArray(v)) return v.flatMap(stringsIn);
    if (v && typeof v === "object") return Object.values(v).flatMap(stringsIn);
    return [];
}

