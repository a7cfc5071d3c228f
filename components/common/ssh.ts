/**
 * How every tier reaches the hosts over SSH: the command provider's connection (with the
 * bounds swarm-ha uses everywhere), and the stack's key file for the tools that run the system
 * `ssh` (the Docker provider's SSH transport, departures).
 *
 * The key file: the system `ssh` reads keys from files. We keep one private copy of the
 * stack's key per stack: a 0600 file in a 0700 directory under
 * the home directory of the user running Pulumi, written atomically so it is never readable
 * by others, not even for a moment. Its path (with `~`) is stable across machines, so the
 * provider's inputs do not change from one operator to the next.
 */
import * as crypto from "node:crypto";
import type * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export function expandHome(p: string): string {
    return p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p;
}

export const KEY_FILE = "id";
export const KNOWN_HOSTS_FILE = "known_hosts";

/** Writes `key` to `<dir>/id` (0600, dir 0700) unless it already holds exactly that key. Returns the path. */
export function writePrivateKeyFile(dir: string, key: string): string {
    const realDir = expandHome(dir);
    fs.mkdirSync(realDir, { recursive: true, mode: 0o700 });
    const st = fs.statSync(realDir);
    if ((st.mode & 0o077) !== 0 || (typeof process.getuid === "function" && st.uid !== process.getuid())) {
        throw new Error(`swarm-ha: ${realDir} must be a directory of your own that only you can read (chmod 700 it); it holds the stack's SSH key`);
    }
    const file = path.join(realDir, KEY_FILE);
    const text = key.endsWith("\n") ? key : `${key}\n`;
    if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text) return file;
    const tmp = path.join(realDir, `.${KEY_FILE}.${crypto.randomBytes(6).toString("hex")}`);
    fs.writeFileSync(tmp, text, { mode: 0o600, flag: "wx" });
    fs.renameSync(tmp, file);
    return file;
}

/** Options for the provider's `ssh`: only this key, our own known_hosts, never a prompt. */
export function dockerSshOptions(dir: string): string[] {
    return [
        "-i", `${dir}/${KEY_FILE}`,
        "-o", "IdentitiesOnly=yes",
        "-o", `UserKnownHostsFile=${dir}/${KNOWN_HOSTS_FILE}`,
        // First contact records the host key; a changed key afterwards is refused.
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=15",
        // A manager that dies while the provider talks to it fails the call in about 30 s.
        "-o", "ServerAliveInterval=10",
        "-o", "ServerAliveCountMax=3",
    ];
}

export interface SshSettings {
    /** Login user on every node; must be root or in the docker group. Default in config: `root`. */
    user: string;
    /** SSH port on every node. Default in config: `22`. */
    port: number;
    /** The private key (PEM/OpenSSH text) that opens SSH on every node. Keep it secret. */
    privateKey: pulumi.Input<string>;
}

/** The command provider's connection to a host: an unreachable host fails the step in about a minute, naming the host. */
export function sshConnection(address: string, ssh: SshSettings): command.types.input.remote.ConnectionArgs {
    return { host: address, port: ssh.port, user: ssh.user, privateKey: ssh.privateKey, dialErrorLimit: 4, perDialTimeout: 15 };
}

/**
 * Deadlines Pulumi passes to the command provider. pulumi-command 1.x stops *connecting* at
 * this deadline; a script that already runs is bounded by its own waits (every wait in the
 * host scripts has a limit) and, if its host dies, by TCP's keepalive on the connection
 * (about 150 s), not by this deadline.
 */
export const COMMAND_TIMEOUTS: pulumi.CustomTimeouts = { create: "10m", update: "10m", delete: "5m" };

/** The `ssh://` URL of a host for the Docker provider. */
export function dockerHostUrl(address: string, ssh: Pick<SshSettings, "user" | "port">): string {
    return `ssh://${ssh.user}@${address.includes(":") ? `[${address}]` : address}:${ssh.port}`;
}
