/**
 * How the harness performs each resource type the program uses, the way the real provider
 * would. Each handler lists the inputs it implements: any other input makes the run fail
 * loudly, so the lab can never silently differ from what the real providers would do.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import Docker from "dockerode";
import type { Client } from "ssh2";
import { connect, exec, HostError, type SshTarget } from "./ssh";

export interface Performed {
    id: string;
    /** Outputs beyond the inputs (the engine returns inputs + these). */
    outputs: Record<string, unknown>;
}

export interface HandlerContext {
    /** The resource's name, for messages. */
    name: string;
    /** A Docker client for the resource's provider. */
    docker(): Promise<Docker>;
    log(line: string): void;
}

export interface Handler {
    /** Inputs this handler implements; anything else is an error. */
    fields: string[];
    /** Checks nested inputs; throws on anything not implemented. */
    validate?(inputs: Record<string, any>): void;
    /** Inputs whose change replaces the resource (create new, delete old); "all" for every input. */
    replaceOn: string[] | "all";
    /** Outputs the provider always marks secret. */
    secretOutputs?: string[];
    create(inputs: Record<string, any>, ctx: HandlerContext): Promise<Performed>;
    update?(inputs: Record<string, any>, previous: { id: string; outputs: Record<string, any> }, ctx: HandlerContext): Promise<Performed>;
    delete?(inputs: Record<string, any>, id: string, ctx: HandlerContext): Promise<void>;
}

export class NotImplemented extends Error {}

function onlyFields(what: string, obj: Record<string, unknown> | undefined, allowed: string[]) {
    for (const k of Object.keys(obj ?? {})) {
        if (obj![k] !== undefined && !allowed.includes(k)) {
            throw new NotImplemented(`lab harness: ${what}.${k} is not implemented; add it to lab/harness/resources.ts or do not use it`);
        }
    }
}

// --- command:remote:Command ------------------------------------------------------------

const CONNECTION_FIELDS = ["host", "port", "user", "privateKey", "dialErrorLimit", "perDialTimeout"];

function sshTarget(connection: Record<string, any>): SshTarget {
    return {
        host: connection.host,
        port: connection.port ?? 22,
        user: connection.user ?? "root",
        privateKey: connection.privateKey,
        attempts: connection.dialErrorLimit ?? 10,
        timeoutSeconds: connection.perDialTimeout ?? 15,
    };
}

async function runRemote(connection: Record<string, any>, script: string, stdin: string | undefined, ctx: HandlerContext, phase: string) {
    const target = sshTarget(connection);
    let client: Client;
    try {
        client = await connect(target);
    } catch (e) {
        throw new HostError(`${ctx.name} (${phase}): host ${target.host}: ${(e as Error).message}`);
    }
    try {
        const r = await exec(client, script, stdin);
        if (r.code !== 0) {
            throw new HostError(
                `${ctx.name} (${phase}) failed on host ${target.host} with exit code ${r.code}:\n${r.stderr.trim().split("\n").slice(-15).join("\n")}`,
            );
        }
        return r;
    } finally {
        client.end();
    }
}

const remoteCommand: Handler = {
    fields: ["connection", "create", "update", "delete", "stdin", "triggers", "logging", "addPreviousOutputInEnv"],
    validate(inputs) {
        onlyFields("command:remote:Command.connection", inputs.connection, CONNECTION_FIELDS);
        if (inputs.addPreviousOutputInEnv !== false) {
            throw new NotImplemented("lab harness: command:remote:Command.addPreviousOutputInEnv must be false (the PULUMI_COMMAND_* environment is not implemented)");
        }
    },
    replaceOn: ["triggers"],
    async create(inputs, ctx) {
        if (inputs.create === undefined) return { id: ctx.name + crypto.randomBytes(4).toString("hex"), outputs: { stdout: "", stderr: "" } };
        const r = await runRemote(inputs.connection, inputs.create, inputs.stdin, ctx, "create");
        return { id: `${ctx.name}-${crypto.randomBytes(4).toString("hex")}`, outputs: { stdout: r.stdout, stderr: r.stderr } };
    },
    async update(inputs, previous, ctx) {
        const script = inputs.update ?? inputs.create;
        if (script === undefined) return { id: previous.id, outputs: { stdout: "", stderr: "" } };
        const r = await runRemote(inputs.connection, script, inputs.stdin, ctx, "update");
        return { id: previous.id, outputs: { stdout: r.stdout, stderr: r.stderr } };
    },
    async delete(inputs, _id, ctx) {
        if (inputs.delete === undefined) return;
        await runRemote(inputs.connection, inputs.delete, inputs.stdin, ctx, "delete");
    },
};

// --- random:index/randomPassword:RandomPassword ---------------------------------------------

const DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

/** A password as the random provider makes one: the minimums first, the rest from all allowed sets, shuffled. */
export function generatePassword(i: Record<string, any>): string {
    const sets: { chars: string; min: number }[] = [];
    if (i.lower !== false) sets.push({ chars: "abcdefghijklmnopqrstuvwxyz", min: i.minLower ?? 0 });
    if (i.upper !== false) sets.push({ chars: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", min: i.minUpper ?? 0 });
    if ((i.numeric ?? i.number) !== false) sets.push({ chars: "0123456789", min: i.minNumeric ?? 0 });
    if (i.special !== false) sets.push({ chars: i.overrideSpecial ?? DEFAULT_SPECIAL, min: i.minSpecial ?? 0 });
    const all = sets.map((s) => s.chars).join("");
    if (!all) throw new Error("random password: every character set is disabled");
    const out: string[] = [];
    for (const s of sets) for (let n = 0; n < s.min; n++) out.push(s.chars[crypto.randomInt(s.chars.length)]);
    while (out.length < i.length) out.push(all[crypto.randomInt(all.length)]);
    for (let k = out.length - 1; k > 0; k--) {
        const j = crypto.randomInt(k + 1);
        [out[k], out[j]] = [out[j], out[k]];
    }
    return out.join("");
}

const randomPassword: Handler = {
    fields: ["length", "special", "upper", "lower", "numeric", "number", "minLower", "minUpper", "minNumeric", "minSpecial", "overrideSpecial", "keepers"],
    replaceOn: "all",
    secretOutputs: ["result"],
    async create(inputs) {
        // bcryptHash is not produced: nothing in swarm-ha reads it.
        return { id: "none", outputs: { result: generatePassword(inputs) } };
    },
};

// --- pulumi:providers:docker ---------------------------------------------------------------

/** The SSH settings a Docker provider's `host` and `sshOpts` describe. */
export function dockerProviderTarget(inputs: Record<string, any>): SshTarget {
    const url = new URL(inputs.host);
    if (url.protocol !== "ssh:") throw new NotImplemented(`lab harness: docker provider host ${inputs.host}: only ssh:// is implemented`);
    const opts: string[] = typeof inputs.sshOpts === "string" ? JSON.parse(inputs.sshOpts) : (inputs.sshOpts ?? []);
    let keyFile: string | undefined;
    let timeout = 15;
    for (let k = 0; k < opts.length; k++) {
        const o = opts[k];
        if (o === "-i") keyFile = opts[++k];
        else if (o === "-o") {
            const [name, value] = opts[++k].split("=");
            if (name === "ConnectTimeout") timeout = Number(value);
            // Host key checking and batch mode are the system ssh's business: the harness
            // trusts the lab's hosts (it made them) and never prompts.
            else if (!["IdentitiesOnly", "UserKnownHostsFile", "StrictHostKeyChecking", "BatchMode"].includes(name)) {
                throw new NotImplemented(`lab harness: docker provider ssh option ${name} is not implemented`);
            }
        } else throw new NotImplemented(`lab harness: docker provider ssh flag ${o} is not implemented`);
    }
    if (!keyFile) throw new NotImplemented("lab harness: docker provider: only key files given with -i are implemented");
    const file = keyFile.startsWith("~/") ? path.join(os.homedir(), keyFile.slice(2)) : keyFile;
    return {
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || 22),
        user: decodeURIComponent(url.username || "root"),
        privateKey: fs.readFileSync(file, "utf8"),
        attempts: 3,
        timeoutSeconds: timeout,
    };
}

const dockerProvider: Handler = {
    fields: ["host", "sshOpts", "version"],
    validate(inputs) {
        dockerProviderTarget(inputs);
    },
    // A new host (another first manager) reaches the same swarm: an update, as the Docker
    // provider treats a change of its configuration.
    replaceOn: [],
    async create() {
        return { id: crypto.randomUUID(), outputs: {} };
    },
    async update(_inputs, previous) {
        return { id: previous.id, outputs: {} };
    },
};

// --- docker:index/network:Network ------------------------------------------------------

function labelsOf(list: { label: string; value: string }[] | undefined): Record<string, string> {
    return Object.fromEntries((list ?? []).map((l) => [l.label, l.value]));
}

function isNotFound(e: unknown): boolean {
    return (e as { statusCode?: number }).statusCode === 404;
}

const dockerNetwork: Handler = {
    fields: ["name", "driver", "attachable", "options", "labels", "internal"],
    replaceOn: "all",
    async create(inputs, ctx) {
        const docker = await ctx.docker();
        const net = await docker.createNetwork({
            Name: inputs.name,
            Driver: inputs.driver ?? "bridge",
            Attachable: inputs.attachable ?? false,
            Internal: inputs.internal ?? false,
            Options: inputs.options ?? {},
            Labels: labelsOf(inputs.labels),
            CheckDuplicate: true,
        });
        const info = await docker.getNetwork(net.id).inspect();
        return { id: net.id, outputs: { scope: info.Scope } };
    },
    async delete(_inputs, id, ctx) {
        const docker = await ctx.docker();
        // Tasks of removed services detach from a network a few seconds after the service goes.
        for (let attempt = 0; ; attempt++) {
            try {
                await docker.getNetwork(id).remove();
                return;
            } catch (e) {
                if (isNotFound(e)) return;
                if (attempt >= 30) throw e;
                await new Promise((r) => setTimeout(r, 1000));
            }
        }
    },
};

// --- docker:index/secret:Secret --------------------------------------------------------------

const dockerSecret: Handler = {
    fields: ["name", "data", "labels"],
    replaceOn: "all",
    async create(inputs, ctx) {
        const docker = await ctx.docker();
        const s = await docker.createSecret({ Name: inputs.name, Data: inputs.data, Labels: labelsOf(inputs.labels) });
        return { id: s.id, outputs: {} };
    },
    async delete(_inputs, id, ctx) {
        try {
            await (await ctx.docker()).getSecret(id).remove();
        } catch (e) {
            if (!isNotFound(e)) throw e;
        }
    },
};

export const HANDLERS: Record<string, Handler> = {
    "command:remote:Command": remoteCommand,
    "random:index/randomPassword:RandomPassword": randomPassword,
    "pulumi:providers:docker": dockerProvider,
    "docker:index/network:Network": dockerNetwork,
    "docker:index/secret:Secret": dockerSecret,
};
