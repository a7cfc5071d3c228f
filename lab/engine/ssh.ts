/**
 * SSH for the lab engine: commands run the way @pulumi/command's remote.Command runs them
 * (a connection of their own, one exec channel, stdin written then closed), and the Docker
 * Engine API reached the way the Docker provider reaches an ssh:// host (`docker system
 * dial-stdio` on the host), an SSH connection per HTTP connection (`dockerTransport`).
 *
 * Timing follows the real clients, so that the lab neither hides nor invents a hang:
 * - connecting: `attempts` tries of `timeoutSeconds` each, with Pulumi's retry backoff
 *   (0.1 s, ×1.5, at most 5 s) between them, stopping early at the step's deadline (what
 *   pulumi-command does with `dialErrorLimit`, `perDialTimeout` and `customTimeouts`);
 * - a connection whose host stops answering ends after `keepalive`: for commands that is
 *   15 s + 9 × 15 s, the TCP keepalive of the Go `net` package pulumi-command dials with (it
 *   sends no SSH keepalives of its own); for the Docker provider it is the system ssh's
 *   `ServerAliveInterval` × `ServerAliveCountMax` from its options.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";

export interface SshTarget {
    host: string;
    port: number;
    user: string;
    privateKey: string;
    /** Connection attempts before giving up (the command provider's dialErrorLimit). */
    attempts: number;
    /** Seconds per attempt (perDialTimeout). */
    timeoutSeconds: number;
    /** When a connection that stops answering is given up. */
    keepalive: { intervalMs: number; countMax: number };
    /** No new attempt starts after this time (ms since the epoch): the step's custom timeout. */
    deadline?: number;
    /**
     * pulumi-command's `hostKey` ("type base64"): the server must present exactly this key,
     * and only its algorithm is offered (ssh.FixedHostKey with HostKeyAlgorithms [type]).
     * Without it, and without `knownHosts`, the host key is not checked (InsecureIgnoreHostKey).
     */
    hostKey?: string;
    /** The system ssh's checking: its known_hosts files (new keys go to the first) and StrictHostKeyChecking. */
    knownHosts?: KnownHosts;
}

export interface KnownHosts {
    files: string[];
    strict: "yes" | "accept-new" | "no";
}

/** The type name a key blob starts with (e.g. "ssh-ed25519"). */
function blobType(blob: Buffer): string {
    return blob.length >= 4 ? blob.subarray(4, 4 + blob.readUInt32BE(0)).toString("latin1") : "";
}

/** Does a known_hosts host field (comma-separated names, or one hashed |1|salt|hash) name `name`? */
function namesHost(field: string, name: string): boolean {
    if (field.startsWith("|1|")) {
        const [, , salt, hash] = field.split("|");
        return crypto.createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hash;
    }
    if (/[*?!]/.test(field)) throw new NotImplementedHere(`known_hosts host patterns (${field}) are not implemented`);
    return field.split(",").includes(name);
}

class NotImplementedHere extends Error {
    constructor(what: string) {
        super(`lab engine: ${what}`);
    }
}

/**
 * What OpenSSH decides for `blob` presented by host:port, given its known_hosts files: a
 * matching key in any file passes; a different key of the same type in any file, and no
 * match, is a changed key and refused; no key at all is recorded in the first file
 * (accept-new, no) or refused (yes).
 */
export function checkKnownHosts(k: KnownHosts, host: string, port: number, blob: Buffer): { ok: true } | { ok: false; message: string } {
    const name = port === 22 ? host : `[${host}]:${port}`;
    const type = blobType(blob);
    const files = k.files.map((f) => (f.startsWith("~/") ? path.join(os.userInfo().homedir, f.slice(2)) : f));
    let changed: string | undefined;
    for (const file of files) {
        if (!fs.existsSync(file)) continue;
        for (const [i, raw] of fs.readFileSync(file, "utf8").split("\n").entries()) {
            const line = raw.trim();
            if (line === "" || line.startsWith("#")) continue;
            if (line.startsWith("@")) throw new NotImplementedHere(`known_hosts markers (${file}:${i + 1}) are not implemented`);
            const [hosts, keyType, b64] = line.split(/\s+/);
            if (!namesHost(hosts, name)) continue;
            if (Buffer.from(b64 ?? "", "base64").equals(blob)) return { ok: true };
            if (keyType === type) changed ??= `${file}:${i + 1}`;
        }
    }
    if (changed && k.strict !== "no") {
        return { ok: false, message: `REMOTE HOST IDENTIFICATION HAS CHANGED: the ${type} host key of ${name} is not the one in ${changed}. Host key verification failed.` };
    }
    if (changed) return { ok: true };
    if (k.strict === "yes") return { ok: false, message: `No ${type} host key is known for ${name} and you have requested strict checking. Host key verification failed.` };
    fs.mkdirSync(path.dirname(files[0]), { recursive: true, mode: 0o700 });
    fs.appendFileSync(files[0], `${name} ${type} ${blob.toString("base64")}\n`, { mode: 0o600 });
    return { ok: true };
}

/** Go's TCP keepalive on pulumi-command's connections: idle 15 s, then 9 probes 15 s apart. */
export const GO_TCP_KEEPALIVE = { intervalMs: 15_000, countMax: 9 };

export class HostError extends Error {}

const RETRY = { firstMs: 100, factor: 1.5, maxMs: 5000 };

export async function connect(t: SshTarget): Promise<Client> {
    let last: unknown;
    let delay = RETRY.firstMs;
    let tried = 0;
    for (let attempt = 1; attempt <= Math.max(1, t.attempts); attempt++) {
        if (t.deadline !== undefined && Date.now() >= t.deadline) {
            throw new HostError(`cannot open SSH to ${t.user}@${t.host}:${t.port}: the step's deadline passed after ${tried} attempt(s): ${(last as Error)?.message ?? last}`);
        }
        tried = attempt;
        let refused: string | undefined;
        try {
            return await new Promise<Client>((resolve, reject) => {
                const c = new Client();
                const cfg: ConnectConfig = {
                    host: t.host,
                    port: t.port,
                    username: t.user,
                    privateKey: t.privateKey,
                    readyTimeout: t.timeoutSeconds * 1000,
                    keepaliveInterval: t.keepalive.intervalMs,
                    keepaliveCountMax: t.keepalive.countMax,
                };
                if (t.hostKey) {
                    const [type, b64] = t.hostKey.split(" ");
                    cfg.algorithms = { serverHostKey: [type as any] };
                    cfg.hostVerifier = (key: Buffer) => Buffer.from(b64, "base64").equals(key) || ((refused = "ssh: handshake failed: ssh: host key mismatch"), false);
                } else if (t.knownHosts) {
                    const known = t.knownHosts;
                    cfg.hostVerifier = (key: Buffer) => {
                        const r = checkKnownHosts(known, t.host, t.port, key);
                        if (!r.ok) refused = r.message;
                        return r.ok;
                    };
                }
                // ssh2 may raise more than one error on one connection (a handshake timeout,
                // then the connection lost), at any phase, also after the handshake: an
                // 'error' with no listener would crash the engine. The listener stays for the
                // connection's life; the first error before 'ready' fails this dial.
                let settled = false;
                const fail = (e: Error) => {
                    if (settled) return;
                    settled = true;
                    c.destroy();
                    reject(e);
                };
                c.on("error", fail);
                c.once("close", () => fail(new Error("the connection closed before the SSH handshake completed")));
                c.once("ready", () => {
                    settled = true;
                    resolve(c);
                });
                try {
                    c.connect(cfg);
                } catch (e) {
                    fail(e as Error);
                }
            });
        } catch (e) {
            last = refused ? new Error(refused) : e;
            if (attempt < t.attempts) {
                await new Promise((r) => setTimeout(r, delay));
                delay = Math.min(delay * RETRY.factor, RETRY.maxMs);
            }
        }
    }
    throw new HostError(`cannot open SSH to ${t.user}@${t.host}:${t.port} (${tried} attempt(s)): ${(last as Error)?.message ?? last}`);
}

export interface ExecResult {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Runs `command`; rejects if the connection is lost before the command ends. */
export function exec(c: Client, command: string, stdin?: string): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
        let settled = false;
        const lost = (e?: Error) => {
            if (settled) return;
            settled = true;
            reject(new HostError(`the connection was lost while the command ran: ${e?.message ?? "closed by the peer"}`));
        };
        c.on("error", lost);
        c.once("close", () => lost());
        const started = (err: Error | undefined, stream: ClientChannel) => {
            if (err) return lost(err);
            let stdout = "";
            let stderr = "";
            stream.on("error", lost);
            stream.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
            stream.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
            stream.on("close", (code: number | null) => {
                if (settled) return;
                settled = true;
                resolve({ code, stdout, stderr });
            });
            if (stdin !== undefined) stream.end(stdin);
            else stream.end();
        };
        try {
            c.exec(command, started);
        } catch (e) {
            lost(e as Error); // ssh2 throws when the connection is already gone
        }
    });
}

/**
 * The Docker provider's transport to an ssh:// host, as the docker CLI's connhelper builds it
 * (docker/cli v28.5.2 cli/connhelper/connhelper.go:47-65): every HTTP connection is its own
 * `ssh … docker system dial-stdio` process, so its own SSH connection, dialled once (the
 * docker client does not retry a refused one); idle connections are kept for reuse, two at
 * most (Go's http.Transport DefaultMaxIdleConnsPerHost). A burst of parallel API calls is a
 * burst of SSH handshakes, which sshd's MaxStartups (10:30:100 by default) may refuse.
 */
export function dockerTransport(target: SshTarget): http.Agent {
    const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 2 });
    (agent as any).createConnection = (_opts: unknown, callback: (err: Error | null, stream?: unknown) => void) => {
        connect({ ...target, attempts: 1 }).then(
            (c) =>
                c.exec("docker system dial-stdio", (err, stream) => {
                    if (err) {
                        c.end();
                        return callback(err);
                    }
                    // http expects a socket; an ssh2 channel is a duplex stream with most of its methods.
                    const s = stream as any;
                    s.setKeepAlive ??= () => s;
                    s.setNoDelay ??= () => s;
                    s.setTimeout ??= () => s;
                    s.ref ??= () => s;
                    s.unref ??= () => s;
                    // The ssh process ends with its connection, and the connection with it.
                    s.once("close", () => c.end());
                    c.on("error", () => s.destroy());
                    c.once("close", () => s.destroy());
                    callback(null, s);
                }),
            (e) => callback(e as Error),
        );
    };
    return agent;
}
