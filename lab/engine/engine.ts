/**
 * The lab engine: a `pulumi.runtime.Mocks` whose `newResource` performs each resource for
 * real, with a state file so that a second run behaves like `pulumi up` on a stack:
 *
 * - a resource whose inputs are unchanged is left alone (its stored outputs are returned);
 *   for the Docker provider "unchanged" means equal to the state it read back from Docker
 *   after the last create or update, by its schema's rules (state-diff.ts, PROVIDER-RULES.md);
 * - a changed one is updated, or replaced when the provider would replace it (create the
 *   new one, delete the old one at the end; delete first if `deleteBeforeReplace`);
 * - a resource in state that the program no longer declares is deleted at the end, in
 *   reverse dependency order (dependents first; a provider after everything it served);
 * - nothing is deleted after a failed step, as Pulumi stops an update at its first error.
 *
 * A preview (`mode: "preview"`, the SDK in dry-run) decides every step the same way and
 * performs none: nothing is sent to a host and the state file is not written. As under
 * Pulumi, a value that only a step would produce (a created resource's id and outputs, an
 * updated one's outputs) is unknown, and an input that depends on one counts as changed.
 *
 * Simpler than the Pulumi engine (documented in lab/README.md): no refresh, no
 * import, `protect`/`retainOnDelete`/aliases unused by the program and
 * not implemented; a replaced resource's dependents are not replaced with it.
 */
import * as fs from "node:fs";
import type * as http from "node:http";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import Docker from "dockerode";
import { durationSeconds, mockUrn, type Registration, watchRegistrations } from "../../support/registrations";
import { materializeAssets } from "./assets";
import { dockerProviderTarget, HANDLERS, type HandlerContext, INVOKES, NotImplemented, type Phase } from "./handlers";
import { containsSecret, makeSecret, reveal } from "../../support/secret-markers";
import { SecretBox } from "./secret-box";
import { dockerTransport } from "./ssh";
import { changedFields, pathDiffers } from "./state-diff";

export interface StoredResource {
    urn: string;
    type: string;
    name: string;
    id: string;
    /** `urn::id` of the provider that manages it, if any. */
    provider?: string;
    /** Inputs and outputs, secrets sealed. */
    inputs: Record<string, unknown>;
    outputs: Record<string, unknown>;
    /** The state the provider read back after the last create or update (secrets sealed), when it reads any. */
    state?: Record<string, unknown>;
    dependencies: string[];
    /** Seconds, from the resource's customTimeouts (a delete uses the ones stored here). */
    timeouts?: Partial<Record<Phase, number>>;
}

interface StateFile {
    version: 1;
    resources: StoredResource[];
}

/** What a step did, in Pulumi's words ("delete-replaced": the old half of a replacement goes). */
export type Action = "create" | "update" | "replace" | "delete" | "delete-replaced" | "same";

export interface StepRecord {
    action: Action;
    type: string;
    name: string;
    /** An update's or a replacement's changed inputs (top-level names, as Pulumi's `[diff: ~a,b]`). */
    diff?: string[];
    /** A replacement's cause: the changed inputs that force it. */
    replaceBecause?: string[];
    seconds: number;
    /** When the step ended, in seconds since the engine started. */
    endedAt: number;
}

/** How an unknown value (a preview's not-yet-produced output) appears in the engine's inputs. */
export const UNKNOWN = "[unknown: known after the update]";

/** The SDK's unknown values replaced with UNKNOWN (assets, which materializeAssets reads, left as they are). */
function markUnknowns(v: any): any {
    if (pulumi.isUnknown(v)) return UNKNOWN;
    if (Array.isArray(v)) return v.map(markUnknowns);
    if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, markUnknowns(x)]));
    }
    return v;
}

function containsUnknown(v: unknown): boolean {
    if (v === UNKNOWN) return true;
    if (Array.isArray(v)) return v.some(containsUnknown);
    if (v && typeof v === "object") return Object.values(v).some(containsUnknown);
    return false;
}

/**
 * Key-order-independent JSON, to compare inputs. An asset or archive is its content hash
 * alone: the Pulumi engine calls two equal when their hashes are (sdk/go/common/resource/
 * archive.go `Archive.Equals`, asset.go `Asset.Equals`), wherever their files are.
 */
function stable(v: unknown): string {
    if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
    if (v && typeof v === "object" && ("@asset" in v || "@archive" in v)) {
        const a = (v as any)["@asset"] ?? (v as any)["@archive"];
        return JSON.stringify({ hash: a.sha256 });
    }
    if (v && typeof v === "object") {
        return `{${Object.keys(v as object)
            .filter((k) => (v as any)[k] !== undefined)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${stable((v as any)[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(v);
}

/** The value at a dotted path ("taskSpec.networksAdvanceds"), or undefined. */
function at(v: any, path: string): unknown {
    return path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), v);
}

/** Sets the value at a dotted path, creating objects on the way (undefined deletes it). */
function setAt(v: any, path: string, value: unknown): void {
    const keys = path.split(".");
    let o = v;
    for (const k of keys.slice(0, -1)) o = o[k] ??= {};
    if (value === undefined) delete o[keys[keys.length - 1]];
    else o[keys[keys.length - 1]] = value;
}

export class LabEngine implements pulumi.runtime.Mocks {
    public readonly steps: StepRecord[] = [];
    public readonly errors: Error[] = [];
    private readonly previous = new Map<string, StoredResource>();
    private readonly current = new Map<string, StoredResource>();
    /** Old versions of replaced resources, deleted at the end. */
    private readonly replaced: StoredResource[] = [];
    /** A preview's declared resources (it keeps no `current` state). */
    private readonly planned = new Set<string>();
    private readonly registrations = new Map<string, Registration>();
    private readonly box: SecretBox;
    /** The Docker providers' transports, whose idle SSH connections close at the end. */
    private readonly dockerAgents: http.Agent[] = [];
    private readonly dockers = new Map<string, Promise<Docker>>();
    private readonly t0 = Date.now();
    private inFlight = 0;
    private lastActivity = Date.now();

    constructor(
        private readonly stateFile: string,
        private readonly project: string,
        private readonly stack: string,
        private readonly log: (line: string) => void = (l) => console.log(l),
        /** "preview": decide every step, perform none, write no state. */
        public readonly mode: "up" | "preview" = "up",
        /**
         * At most this many resource operations at once, as `pulumi up --parallel N` (the CLI's
         * default is unbounded). swarm-ha's deploys run with 8: each operation holds at most
         * one SSH connection opening at a time, and sshd's default MaxStartups (10) drops
         * connections beyond ten unauthenticated ones (docs/first-real-deploy.md).
         */
        private readonly parallel = Number.MAX_SAFE_INTEGER,
    ) {
        this.box = new SecretBox(path.join(path.dirname(stateFile), "secrets.key"));
        if (fs.existsSync(stateFile)) {
            const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as StateFile;
            for (const r of state.resources) this.previous.set(r.urn, r);
        }
    }

    /** Reads each registration's parent and options, which the Mocks API does not pass on. */
    attach(monitor: any): void {
        watchRegistrations(monitor, (r) => this.registrations.set(`${r.type}::${r.name}`, r));
    }

    /** Provider functions (invokes), through the provider they name. */
    async call(args: pulumi.runtime.MockCallArgs): Promise<Record<string, any>> {
        const invoke = INVOKES[args.token];
        if (!invoke) throw new NotImplemented(`lab engine: provider function ${args.token} is not implemented`);
        const providerRef = args.provider;
        return invoke(reveal(args.inputs), {
            docker: () => {
                if (!providerRef) throw new Error(`lab engine: ${args.token} was called without a Docker provider`);
                return this.dockerFor(providerRef.split("::").slice(0, -1).join("::"));
            },
        });
    }

    async newResource(args: pulumi.runtime.MockResourceArgs): Promise<{ id: string | undefined; state: Record<string, any> }> {
        this.inFlight++;
        // `pulumi up --parallel N`: at most N resource operations at once (components hold no slot).
        if (args.custom) await this.slot();
        try {
            return await this.perform(args);
        } catch (e) {
            this.errors.push(e as Error);
            throw e;
        } finally {
            if (args.custom) this.releaseSlot();
            this.inFlight--;
            this.lastActivity = Date.now();
        }
    }

    private running = 0;
    private readonly waiting: (() => void)[] = [];
    private slot(): Promise<void> {
        if (this.running < this.parallel) {
            this.running++;
            return Promise.resolve();
        }
        return new Promise((resolve) => this.waiting.push(resolve));
    }
    private releaseSlot(): void {
        const next = this.waiting.shift();
        if (next) next(); // the slot passes on
        else this.running--;
    }

    /**
     * Resolves once a step has failed and nothing has been performed for `quietMs`. After a
     * failed registration the SDK's mock runtime never reports its queue as drained (the
     * failed resource's dependents wait forever, as they would under Pulumi, which stops the
     * update), so this is how a run that failed knows it is over.
     */
    idleAfterError(quietMs = 3000): Promise<void> {
        return new Promise((resolve) => {
            const timer = setInterval(() => {
                if (this.errors.length > 0 && this.inFlight === 0 && Date.now() - this.lastActivity > quietMs) {
                    clearInterval(timer);
                    resolve();
                }
            }, 200);
        });
    }

    private async perform(args: pulumi.runtime.MockResourceArgs): Promise<{ id: string | undefined; state: Record<string, any> }> {
        if (!args.custom) return { id: undefined, state: args.inputs }; // components hold no state of their own
        const handler = HANDLERS[args.type];
        if (!handler) throw new NotImplemented(`lab engine: resource type ${args.type} (${args.name}) is not implemented`);
        for (const k of Object.keys(args.inputs)) {
            if (args.inputs[k] !== undefined && !handler.fields.includes(k)) {
                throw new NotImplemented(`lab engine: ${args.type}.${k} (${args.name}) is not implemented`);
            }
        }
        // Assets become plain descriptions with a content hash (a changed file is a changed input).
        const plainInputs = await materializeAssets(markUnknowns(args.inputs));
        const inputs = reveal(plainInputs);
        // A preview's unknown values are checked when the update knows them.
        if (!containsUnknown(inputs)) handler.validate?.(inputs);
        const reg = this.registrations.get(`${args.type}::${args.name}`);
        if (!reg) throw new Error(`lab engine: no registration seen for ${args.type} ${args.name}`);
        if (reg.otherOptions.length > 0) {
            throw new NotImplemented(`lab engine: resource option(s) ${reg.otherOptions.join(", ")} (${args.name}) are not implemented`);
        }
        const timeouts: Partial<Record<Phase, number>> = {};
        for (const phase of ["create", "update", "delete"] as const) {
            const seconds = durationSeconds(reg.customTimeouts[phase]);
            if (seconds !== undefined) timeouts[phase] = seconds;
        }

        // The URN the SDK's mock monitor gives it: dependencies refer to these.
        const urn = mockUrn(this.stack, this.project, args.type, args.name, reg.parent);
        const prev = this.previous.get(urn);
        const ctx = this.context(args.name, args.provider, timeouts);
        const started = Date.now();
        let action: Action;
        let id: string;
        let outputs: Record<string, unknown>;
        let readBack: Record<string, unknown> | undefined;
        let diffInfo: Partial<StepRecord> = {};

        // ignoreChanges: once the resource exists, the listed inputs keep their stored values.
        if (prev && reg.ignoreChanges.length > 0) {
            const stored = this.box.open(prev.inputs);
            for (const p of reg.ignoreChanges) {
                if (/[[*]/.test(p)) throw new NotImplemented(`lab engine: ignoreChanges path ${p} (${args.name}): only dotted paths are implemented`);
                setAt(plainInputs, p, at(stored, p));
                setAt(inputs, p, at(reveal(stored), p));
            }
        }

        if (this.mode === "preview") {
            const planned = this.plan(args, urn, prev, inputs, handler, reg);
            if (planned) return planned; // an unchanged resource goes on as in an update: nothing is performed for it
        }

        if (!prev) {
            action = "create";
            this.log(`  + ${args.type} ${args.name} ...`);
            ({ id, outputs, state: readBack } = await handler.create(inputs, ctx));
        } else {
            const { changed, replaceBecause } = this.diff(prev, inputs, handler, reg);
            diffInfo = replaceBecause.length > 0 ? { diff: changed, replaceBecause } : { diff: changed };
            if (changed.length === 0) {
                action = "same";
                id = prev.id;
                outputs = reveal(this.box.open(prev.outputs));
                readBack = prev.state && reveal(this.box.open(prev.state));
            } else if (replaceBecause.length > 0) {
                action = "replace";
                this.log(`  +- ${args.type} ${args.name} (replace: ${changed.join(", ")}) ...`);
                if (reg.deleteBeforeReplace) await this.deleteOne(prev, "delete-replaced");
                else this.replaced.push(prev);
                ({ id, outputs, state: readBack } = await handler.create(inputs, ctx));
            } else {
                action = "update";
                this.log(`  ~ ${args.type} ${args.name} (${changed.join(", ")}) ...`);
                ({ id, outputs, state: readBack } = await handler.update!(inputs, { id: prev.id, outputs: reveal(this.box.open(prev.outputs)), inputs: reveal(this.box.open(prev.inputs)) }, ctx));
            }
        }

        // Secret outputs: those the provider always marks, those the program asks for, and
        // any output that echoes a secret input.
        const secretNames = new Set([...(handler.secretOutputs ?? []), ...reg.additionalSecretOutputs]);
        const wrapped: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(outputs)) wrapped[k] = secretNames.has(k) ? makeSecret(v) : v;
        const state = { ...args.inputs, ...wrapped };
        for (const k of Object.keys(args.inputs)) if (secretNames.has(k) && !containsSecret(args.inputs[k])) state[k] = makeSecret(inputs[k]);
        // Read-back state is as secret as the inputs it came from.
        const sealedReadBack =
            readBack && Object.fromEntries(Object.entries(readBack).map(([k, v]) => [k, containsSecret(args.inputs[k]) || secretNames.has(k) ? makeSecret(v) : v]));

        this.current.set(urn, {
            urn,
            type: args.type,
            name: args.name,
            id,
            provider: args.provider || undefined,
            inputs: this.box.seal(plainInputs),
            outputs: this.box.seal(wrapped),
            ...(sealedReadBack ? { state: this.box.seal(sealedReadBack) } : {}),
            dependencies: reg.dependencies,
            timeouts,
        });
        this.save();
        const seconds = (Date.now() - started) / 1000;
        this.steps.push({ action, type: args.type, name: args.name, seconds, endedAt: (Date.now() - this.t0) / 1000, ...(action === "same" ? {} : diffInfo) });
        if (action !== "same") this.log(`    done ${args.name} (${seconds.toFixed(1)}s)`);
        return { id, state };
    }

    /**
     * The inputs that differ, and those of them that force a replacement (the provider's
     * replace-on fields, `replaceOnChanges`, or a provider with no update). A provider that
     * reads its state back (the Docker provider) compares the new inputs with that state by
     * its schema's rules (state-diff.ts); the others compare them with the stored inputs.
     * `ignoreChanges` paths never differ: the engine sent the stored inputs there, and the
     * bridge drops the provider's diff under them (pulumi-terraform-bridge
     * pkg/tfshim/sdk-v2/instance_diff.go:95-110).
     */
    private diff(prev: StoredResource, inputs: Record<string, unknown>, handler: (typeof HANDLERS)[string], reg: Registration) {
        const prevInputs = reveal(this.box.open(prev.inputs));
        const forcedBy = (k: string) =>
            handler.replaceOn === "all" || !handler.update || handler.replaceOn.includes(k) || reg.replaceOnChanges.some((p) => p === "*" || p.split(/[.[]/)[0] === k);
        if (handler.schema && prev.state) {
            const readBack = reveal(this.box.open(prev.state));
            const config = structuredClone(inputs);
            for (const p of reg.ignoreChanges) setAt(config, p, structuredClone(at(readBack, p)));
            const changed = changedFields(config, readBack, handler.schema);
            const forces = (k: string) => forcedBy(k) || (handler.replaceOnPaths ?? []).some((p) => p.split(".")[0] === k && pathDiffers(config, readBack, p, handler.schema!));
            return { changed, replaceBecause: changed.filter(forces) };
        }
        const changed = Object.keys({ ...prevInputs, ...inputs }).filter((k) => stable(prevInputs[k]) !== stable(inputs[k]));
        const forces = (k: string) => forcedBy(k) || (handler.replaceOnPaths ?? []).some((p) => p.split(".")[0] === k && stable(at(prevInputs, p)) !== stable(at(inputs, p)));
        return { changed, replaceBecause: changed.filter(forces) };
    }

    /**
     * A preview's step: what an update would do to this resource, performed not at all. The
     * SDK resolves what the step would produce as unknown: a new resource's id, and every
     * output that is not an input of a created, updated or replaced one.
     */
    private plan(
        args: pulumi.runtime.MockResourceArgs,
        urn: string,
        prev: StoredResource | undefined,
        inputs: Record<string, unknown>,
        handler: (typeof HANDLERS)[string],
        reg: Registration,
    ): { id: string | undefined; state: Record<string, any> } | undefined {
        const record = (action: Action, extra: Partial<StepRecord> = {}) =>
            this.steps.push({ action, type: args.type, name: args.name, seconds: 0, endedAt: (Date.now() - this.t0) / 1000, ...extra });
        if (!prev) {
            this.planned.add(urn);
            record("create");
            return { id: undefined, state: args.inputs };
        }
        const { changed, replaceBecause } = this.diff(prev, inputs, handler, reg);
        if (changed.length === 0) return undefined;
        this.planned.add(urn);
        if (replaceBecause.length > 0) {
            record("replace", { diff: changed, replaceBecause });
            if (!reg.deleteBeforeReplace) this.replaced.push(prev);
            return { id: undefined, state: args.inputs };
        }
        record("update", { diff: changed });
        return { id: prev.id, state: args.inputs };
    }

    private context(name: string, providerRef: string | undefined, timeouts: Partial<Record<Phase, number>> = {}): HandlerContext {
        const started = Date.now();
        return {
            name,
            log: this.log,
            deadline: (phase) => (timeouts[phase] === undefined ? undefined : started + timeouts[phase]! * 1000),
            docker: () => {
                if (!providerRef) throw new Error(`lab engine: ${name} has no Docker provider`);
                return this.dockerFor(providerRef.split("::").slice(0, -1).join("::"));
            },
        };
    }

    private dockerFor(providerUrn: string): Promise<Docker> {
        let d = this.dockers.get(providerUrn);
        if (!d) {
            const stored = this.current.get(providerUrn) ?? this.previous.get(providerUrn);
            if (!stored) throw new Error(`lab engine: unknown provider ${providerUrn}`);
            const agent = dockerTransport(dockerProviderTarget(reveal(this.box.open(stored.inputs))));
            this.dockerAgents.push(agent);
            d = Promise.resolve(new Docker({ protocol: "http", host: "docker", port: 80, agent } as Docker.DockerOptions));
            this.dockers.set(providerUrn, d);
        }
        return d;
    }

    private async deleteOne(r: StoredResource, action: "delete" | "delete-replaced" = "delete"): Promise<void> {
        const handler = HANDLERS[r.type];
        const started = Date.now();
        this.log(`  - ${r.type} ${r.name}${action === "delete-replaced" ? " (replaced)" : ""} ...`);
        if (handler?.delete) await handler.delete(reveal(this.box.open(r.inputs)), r.id, this.context(r.name, r.provider, r.timeouts));
        const seconds = (Date.now() - started) / 1000;
        this.steps.push({ action, type: r.type, name: r.name, seconds, endedAt: (Date.now() - this.t0) / 1000 });
        this.log(`    deleted ${r.name} (${seconds.toFixed(1)}s)`);
    }

    /**
     * After the program has registered everything: delete what it no longer declares and the
     * old halves of replacements, dependents before their dependencies, providers last.
     * `programCompleted` must say the program ran to the end: a program that threw early
     * declared nothing, and that must never read as "delete everything". Skipped too when
     * any step failed. Closes the engine's SSH connections either way.
     */
    async finish(programCompleted: boolean): Promise<void> {
        try {
            if (!programCompleted || this.errors.length > 0) return;
            const declared = (urn: string) => this.current.has(urn) || this.planned.has(urn);
            const pending = [...[...this.previous.values()].filter((r) => !declared(r.urn)), ...this.replaced];
            const needs = (r: StoredResource) => [...r.dependencies, ...(r.provider ? [r.provider.split("::").slice(0, -1).join("::")] : [])];
            while (pending.length > 0) {
                // A resource can go once nothing still pending depends on it.
                const ready = pending.filter((r) => !pending.some((o) => o !== r && needs(o).includes(r.urn)));
                if (ready.length === 0) throw new Error(`lab engine: dependency cycle among ${pending.map((r) => r.name).join(", ")}`);
                for (const r of ready) {
                    const action = this.replaced.includes(r) ? "delete-replaced" : "delete";
                    if (this.mode === "preview") {
                        pending.splice(pending.indexOf(r), 1);
                        // A replacement is one "replace" line in a preview; a delete is its own.
                        if (action === "delete") this.steps.push({ action, type: r.type, name: r.name, seconds: 0, endedAt: (Date.now() - this.t0) / 1000 });
                        continue;
                    }
                    await this.deleteOne(r, action);
                    pending.splice(pending.indexOf(r), 1);
                    if (this.previous.get(r.urn) === r) this.previous.delete(r.urn);
                    this.save();
                }
            }
        } finally {
            for (const a of this.dockerAgents) a.destroy();
        }
    }

    /** Current state: what this run declared, plus what it has not yet deleted. */
    private save(): void {
        if (this.mode === "preview") return; // a preview changes nothing, its state file included
        const resources = [...this.current.values()];
        for (const r of this.previous.values()) if (!this.current.has(r.urn)) resources.push(r);
        fs.mkdirSync(path.dirname(this.stateFile), { recursive: true, mode: 0o700 });
        const tmp = `${this.stateFile}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify({ version: 1, resources } satisfies StateFile, null, 1), { mode: 0o600 });
        fs.renameSync(tmp, this.stateFile);
    }
}
