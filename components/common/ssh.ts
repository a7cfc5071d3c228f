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

/**
 * The home directory OpenSSH expands `~` to in `-i` and `UserKnownHostsFile`: the user's home
 * in the password database, whatever `$HOME` says (under `sudo -E` or in some containers the
 * two differ, and a key written under `$HOME` would not be found by the system ssh).
 */
export function sshHome(): string {
    return os.userInfo().homedir;
}

export function expandHome(p: string): string {
    return p === "~" || p.startsWith("~/") ? path.join(sshHome(), p.slice(1)) : p;
}

export const KEY_FILE = "id";
/** Host keys recorded on first contact (trust on first use), by the system `ssh` and the host-key check. */
export const KNOWN_HOSTS_FILE = "known_hosts";
/** Host keys pinned in config (`hostKey`), rewritten from config on every run. */
export const PINNED_HOSTS_FILE = "pinned_known_hosts";

/** How known_hosts names a host: `address`, or `[address]:port` off port 22. */
export function knownHostsName(address: string, port: number): string {
    return port === 22 ? address : `[${address}]:${port}`;
}

/** Writes `<dir>/pinned_known_hosts` from the pinned keys (an empty file when none): the system ssh checks them. */
export function writePinnedHostsFile(dir: string, pins: { address: string; port: number; hostKey: string }[]): string {
    const realDir = expandHome(dir);
    fs.mkdirSync(realDir, { recursive: true, mode: 0o700 });
    const file = path.join(realDir, PINNED_HOSTS_FILE);
    const text = pins.map((p) => `${knownHostsName(p.address, p.port)} ${p.hostKey}\n`).join("");
    if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text) return file;
    const tmp = path.join(realDir, `.${PINNED_HOSTS_FILE}.${crypto.randomBytes(6).toString("hex")}`);
    fs.writeFileSync(tmp, text, { mode: 0o600, flag: "wx" });
    fs.renameSync(tmp, file);
    return file;
}

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
        // The pinned keys, and those recorded on first contact (new ones go to the first file).
        "-o", `UserKnownHostsFile=${dir}/${KNOWN_HOSTS_FILE} ${dir}/${PINNED_HOSTS_FILE}`,
        // A host with a key on file must present it; an unknown one is recorded (first contact).
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

/**
 * The command provider's connection to a host: an unreachable host fails the step after 5 dials
 * (dialErrorLimit 4: pulumi-command 1.2.1 dials limit + 1 times, connection.go:252-255), about
 * 75-80 s, naming the host. With the host's pinned key, a host that presents another is refused
 * (pulumi-command checks `hostKey`; without it, it checks nothing: the host-key check step
 * does, before any step runs).
 */
export function sshConnection(address: string, ssh: SshSettings, hostKey?: string): command.types.input.remote.ConnectionArgs {
    return { host: address, port: ssh.port, user: ssh.user, privateKey: ssh.privateKey, dialErrorLimit: 4, perDialTimeout: 15, ...(hostKey ? { hostKey } : {}) };
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
