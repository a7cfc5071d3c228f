/**
 * command:remote:Command — a script run over SSH the way @pulumi/command 1.x runs it
 * (provider/pkg/provider/remote: connection.go, commandOutputs.go, commandController.go):
 * - create runs `create` (nothing when absent); a change of `triggers` replaces the
 *   resource; any other change is an update that runs `update`, else `create`; delete runs
 *   `delete` with the inputs the resource was last created or updated with;
 * - connecting tries `dialErrorLimit` + 1 times (default 10), each TCP dial bounded by
 *   `perDialTimeout` (default 15 s), and the step's custom timeout ends the retries; a
 *   running session is not cut by that timeout, only by the connection dying (see ../ssh.ts);
 * - `connection.hostKey` pins the server's key (anything else is refused, and retried like any
 *   failed dial); without it the host key is not checked;
 * - stdout and stderr lose one trailing newline, and are shown as `logging` says.
 */
import * as crypto from "node:crypto";
import type { Client } from "ssh2";
import { connect, exec, GO_TCP_KEEPALIVE, HostError, type SshTarget } from "../ssh";
import { type Handler, type HandlerContext, logOutput, type Phase, NotImplemented, onlyFields, trimNewline } from "./types";

export const CONNECTION_FIELDS = ["host", "port", "user", "privateKey", "dialErrorLimit", "perDialTimeout", "hostKey"];

/** The SSH target a command provider connection describes (shared with CopyToRemote). */
export function sshTarget(connection: Record<string, any>, deadline: number | undefined): SshTarget {
    return {
        host: connection.host,
        port: connection.port ?? 22,
        user: connection.user ?? "root",
        privateKey: connection.privateKey,
        // connection.go:160,252-255: the limit is reached only once dials > limit, so a dead
        // host is dialled dialErrorLimit + 1 times.
        attempts: (connection.dialErrorLimit ?? 10) + 1,
        timeoutSeconds: connection.perDialTimeout ?? 15,
        keepalive: GO_TCP_KEEPALIVE,
        deadline,
        hostKey: connection.hostKey,
    };
}

async function runRemote(inputs: Record<string, any>, script: string, ctx: HandlerContext, phase: Phase) {
    const { connection, stdin } = inputs;
    const target = sshTarget(connection, ctx.deadline(phase));
    const started = Date.now();
    let client: Client;
    try {
        client = await connect(target);
    } catch (e) {
        throw new HostError(`${ctx.name} (${phase}): host ${target.host}: ${(e as Error).message}`);
    }
    try {
        const r = await exec(client, script, stdin).catch((e: Error) => {
            throw new HostError(`${ctx.name} (${phase}) on host ${target.host} failed after ${((Date.now() - started) / 1000).toFixed(0)}s: ${e.message}`);
        });
        if (r.code !== 0) {
            throw new HostError(
                `${ctx.name} (${phase}) failed on host ${target.host} with exit code ${r.code}:\n${r.stderr.trim().split("\n").slice(-15).join("\n")}`,
            );
        }
        const out = { stdout: trimNewline(r.stdout), stderr: trimNewline(r.stderr) };
        logOutput(ctx, inputs.logging, out);
        return out;
    } finally {
        client.end();
    }
}

export const remoteCommand: Handler = {
    fields: ["connection", "create", "update", "delete", "stdin", "triggers", "logging", "addPreviousOutputInEnv"],
    validate(inputs) {
        onlyFields("command:remote:Command.connection", inputs.connection, CONNECTION_FIELDS);
        if (inputs.addPreviousOutputInEnv !== false) {
            throw new NotImplemented("lab engine: command:remote:Command.addPreviousOutputInEnv must be false (the PULUMI_COMMAND_* environment is not implemented)");
        }
    },
    replaceOn: ["triggers"],
    async create(inputs, ctx) {
        const id = `${ctx.name}-${crypto.randomBytes(4).toString("hex")}`;
        if (inputs.create === undefined) return { id, outputs: { stdout: "", stderr: "" } };
        return { id, outputs: await runRemote(inputs, inputs.create, ctx, "create") };
    },
    async update(inputs, previous, ctx) {
        // commandController.go:76-79 (pulumi-command 1.x): `update` when set, else `create`.
        const script = inputs.update ?? inputs.create;
        if (script === undefined) return { id: previous.id, outputs: { stdout: previous.outputs.stdout ?? "", stderr: previous.outputs.stderr ?? "" } };
        return { id: previous.id, outputs: await runRemote(inputs, script, ctx, "update") };
    },
    async delete(inputs, _id, ctx) {
        if (inputs.delete === undefined) return;
        await runRemote(inputs, inputs.delete, ctx, "delete");
    },
};
