/**
 * SSH for the lab engine: commands run the way @pulumi/command's remote.Command runs them
 * (one exec channel, stdin written then closed), and the Docker Engine API reached the way
 * the Docker provider reaches an ssh:// host (`docker system dial-stdio` on the host), with
 * one SSH connection carrying a channel per HTTP request.
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
import * as http from "node:http";
import { Client, type ConnectConfig } from "ssh2";

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
                c.once("ready", () => resolve(c));
                c.once("error", reject);
                c.connect(cfg);
            });
        } catch (e) {
            last = e;
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
        c.once("error", lost);
        c.once("close", () => lost());
        c.exec(command, (err, stream) => {
            if (err) return lost(err);
            let stdout = "";
            let stderr = "";
            stream.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
            stream.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
            stream.on("close", (code: number | null) => {
                if (settled) return;
                settled = true;
                resolve({ code, stdout, stderr });
            });
            if (stdin !== undefined) stream.end(stdin);
            else stream.end();
        });
    });
}

/** An HTTP agent whose every connection is `docker system dial-stdio` over one SSH connection. */
export function dockerAgent(c: Client): http.Agent {
    const agent = new http.Agent({ keepAlive: false });
    (agent as any).createConnection = (_opts: unknown, callback: (err: Error | null, stream?: unknown) => void) => {
        c.exec("docker system dial-stdio", (err, stream) => {
            if (err) return callback(err);
            // http expects a socket; an ssh2 channel is a duplex stream with most of its methods.
            const s = stream as any;
            s.setKeepAlive ??= () => s;
            s.setNoDelay ??= () => s;
            s.setTimeout ??= () => s;
            s.ref ??= () => s;
            s.unref ??= () => s;
            callback(null, s);
        });
    };
    return agent;
}
