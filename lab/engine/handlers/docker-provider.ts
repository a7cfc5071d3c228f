/** pulumi:providers:docker — the SSH settings the Docker provider's `host` and `sshOpts` describe. */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { SshTarget } from "../ssh";
import { type Handler, NotImplemented } from "./types";

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
