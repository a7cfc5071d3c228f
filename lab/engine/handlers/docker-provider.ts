/** pulumi:providers:docker — the SSH settings the Docker provider's `host` and `sshOpts` describe. */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { SshTarget } from "../ssh";
import { type Handler, NotImplemented } from "./types";

/**
 * The SSH settings a Docker provider's `host` and `sshOpts` describe, as the system `ssh` the
 * provider runs would apply them: one connection attempt (ConnectionAttempts' default),
 * `ConnectTimeout`, and a dead connection given up after ServerAliveInterval ×
 * ServerAliveCountMax (without ServerAliveInterval, only TCP's keepalive, hours).
 */
export function dockerProviderTarget(inputs: Record<string, any>): SshTarget {
    const url = new URL(inputs.host);
    if (url.protocol !== "ssh:") throw new NotImplemented(`lab engine: docker provider host ${inputs.host}: only ssh:// is implemented`);
    const opts: string[] = typeof inputs.sshOpts === "string" ? JSON.parse(inputs.sshOpts) : (inputs.sshOpts ?? []);
    let keyFile: string | undefined;
    let timeout = 15;
    let aliveInterval = 0;
    let aliveCountMax = 3;
    // OpenSSH's defaults; BatchMode turns "ask" into a refusal, as the provider's ssh never prompts.
    let knownHostsFiles = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];
    let strict: "yes" | "accept-new" | "no" = "yes";
    for (let k = 0; k < opts.length; k++) {
        const o = opts[k];
        if (o === "-i") keyFile = opts[++k];
        else if (o === "-o") {
            const option = opts[++k];
            const [name, value] = [option.slice(0, option.indexOf("=")), option.slice(option.indexOf("=") + 1)];
            if (name === "ConnectTimeout") timeout = Number(value);
            else if (name === "UserKnownHostsFile") knownHostsFiles = value.split(/\s+/).filter(Boolean);
            else if (name === "StrictHostKeyChecking") {
                if (!["yes", "accept-new", "no", "ask"].includes(value)) throw new NotImplemented(`lab engine: docker provider StrictHostKeyChecking=${value} is not implemented`);
                strict = value === "ask" ? "yes" : (value as typeof strict);
            }
            else if (name === "ServerAliveInterval") aliveInterval = Number(value);
            else if (name === "ServerAliveCountMax") aliveCountMax = Number(value);
            // The engine offers only the -i key and never prompts.
            else if (!["IdentitiesOnly", "BatchMode"].includes(name)) {
                throw new NotImplemented(`lab engine: docker provider ssh option ${name} is not implemented`);
            }
        } else throw new NotImplemented(`lab engine: docker provider ssh flag ${o} is not implemented`);
    }
    if (!keyFile) throw new NotImplemented("lab engine: docker provider: only key files given with -i are implemented");
    const file = keyFile.startsWith("~/") ? path.join(os.userInfo().homedir, keyFile.slice(2)) : keyFile;
    return {
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || 22),
        user: decodeURIComponent(url.username || "root"),
        privateKey: fs.readFileSync(file, "utf8"),
        attempts: 1,
        timeoutSeconds: timeout,
        // OpenSSH disconnects when the CountMax-th probe goes unanswered; ssh2 one probe later.
        knownHosts: { files: knownHostsFiles.map((f) => (f.startsWith("~/") ? path.join(os.userInfo().homedir, f.slice(2)) : f)), strict },
        keepalive: aliveInterval > 0 ? { intervalMs: aliveInterval * 1000, countMax: Math.max(0, aliveCountMax - 1) } : { intervalMs: 2 * 3600_000, countMax: 0 },
    };
}

export const dockerProvider: Handler = {
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
