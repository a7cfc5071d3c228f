/**
 * command:local:Command — a script run on the machine that runs Pulumi, the way
 * @pulumi/command 1.x runs it (provider/pkg/provider/local): `/bin/sh -c <script>` with the
 * provider's environment; the same create / update / replace-on-triggers / delete rules as
 * the remote command, output shown as `logging` says. The step's custom timeout kills the process (the local command runs
 * it with the step's context).
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import { HostError } from "../ssh";
import { type Handler, type HandlerContext, logOutput, type Phase, NotImplemented, trimNewline } from "./types";

function runLocal(script: string, logging: string | undefined, ctx: HandlerContext, phase: Phase): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn("/bin/sh", ["-c", script], { stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
        const deadline = ctx.deadline(phase);
        const timer = deadline === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), Math.max(0, deadline - Date.now()));
        child.on("error", (e) => reject(new HostError(`${ctx.name} (${phase}): ${e.message}`)));
        child.on("close", (code, signal) => {
            if (timer) clearTimeout(timer);
            const out = { stdout: trimNewline(stdout), stderr: trimNewline(stderr) };
            if (code === 0) {
                logOutput(ctx, logging, out);
                resolve(out);
            }
            else reject(new HostError(`${ctx.name} (${phase}) failed on this machine with ${signal ? `signal ${signal} (its deadline passed)` : `exit code ${code}`}:\n${stderr.trim().split("\n").slice(-15).join("\n")}`));
        });
    });
}

export const localCommand: Handler = {
    fields: ["create", "update", "delete", "triggers", "logging", "addPreviousOutputInEnv"],
    validate(inputs) {
        if (inputs.addPreviousOutputInEnv !== false) {
            throw new NotImplemented("lab engine: command:local:Command.addPreviousOutputInEnv must be false (the PULUMI_COMMAND_* environment is not implemented)");
        }
    },
    replaceOn: ["triggers"],
    async create(inputs, ctx) {
        const id = `${ctx.name}-${crypto.randomBytes(4).toString("hex")}`;
        if (inputs.create === undefined) return { id, outputs: { stdout: "", stderr: "" } };
        return { id, outputs: await runLocal(inputs.create, inputs.logging, ctx, "create") };
    },
    async update(inputs, previous, ctx) {
        const script = inputs.update ?? inputs.create;
        if (script === undefined) return { id: previous.id, outputs: { stdout: previous.outputs.stdout ?? "", stderr: previous.outputs.stderr ?? "" } };
        return { id: previous.id, outputs: await runLocal(script, inputs.logging, ctx, "update") };
    },
    async delete(inputs, _id, ctx) {
        if (inputs.delete === undefined) return;
        await runLocal(inputs.delete, inputs.logging, ctx, "delete");
    },
};
