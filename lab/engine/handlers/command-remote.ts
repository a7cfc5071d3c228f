/** command:remote:Command — a script run over SSH the way @pulumi/command 1.x runs it. */
import * as crypto from "node:crypto";
import type { Client } from "ssh2";
import { connect, exec, HostError, type SshTarget } from "../ssh";
import { type Handler, type HandlerContext, NotImplemented, onlyFields } from "./types";

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

export const remoteCommand: Handler = {
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
