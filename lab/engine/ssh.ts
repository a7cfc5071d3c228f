/**
 * SSH for the harness: commands run the way @pulumi/command's remote.Command runs them
 * (one exec channel, stdin written then closed), and the Docker Engine API reached the way
 * the Docker provider reaches an ssh:// host (`docker system dial-stdio` on the host), with
 * one SSH connection carrying a channel per HTTP request.
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
}

export class HostError extends Error {}

export async function connect(t: SshTarget): Promise<Client> {
    let last: unknown;
    for (let attempt = 1; attempt <= Math.max(1, t.attempts); attempt++) {
        try {
            return await new Promise<Client>((resolve, reject) => {
                const c = new Client();
                const cfg: ConnectConfig = {
                    host: t.host,
                    port: t.port,
                    username: t.user,
                    privateKey: t.privateKey,
                    readyTimeout: t.timeoutSeconds * 1000,
                    keepaliveInterval: 10000,
                };
                c.once("ready", () => resolve(c));
                c.once("error", reject);
                c.connect(cfg);
            });
        } catch (e) {
            last = e;
            if (attempt < t.attempts) await new Promise((r) => setTimeout(r, 1000));
        }
    }
    throw new HostError(`cannot open SSH to ${t.user}@${t.host}:${t.port} (${t.attempts} attempt(s)): ${(last as Error)?.message ?? last}`);
}

export interface ExecResult {
    code: number | null;
    stdout: string;
    stderr: string;
}

export function exec(c: Client, command: string, stdin?: string): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
        c.exec(command, (err, stream) => {
            if (err) return reject(err);
            let stdout = "";
            let stderr = "";
            stream.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
            stream.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
            stream.on("close", (code: number | null) => resolve({ code, stdout, stderr }));
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
