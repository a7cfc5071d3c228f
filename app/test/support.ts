/** Starts the app on a free loopback port and makes plain HTTP requests to it. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createApp, type App, type AppOptions } from "../src/server";

export interface Started {
    app: App;
    port: number;
    /** Every lifecycle event logged, in order. */
    events: Array<{ event: string } & Record<string, unknown>>;
    /** Resolves once `event` has been logged. */
    logged(event: string): Promise<void>;
    stop(): Promise<void>;
}

export async function start(overrides: Partial<AppOptions> = {}): Promise<Started> {
    const events: Started["events"] = [];
    const waiters: Array<{ event: string; resolve: () => void }> = [];
    const app = createApp({
        instance: "test-1",
        drainSeconds: 0.2,
        shutdownTimeoutSeconds: 2,
        memoryLimitBytes: null,
        memoryReadyFraction: 0.9,
        log: (event, fields) => {
            events.push({ event, ...fields });
            for (const w of waiters.filter((w) => w.event === event)) w.resolve();
        },
        ...overrides,
    });
    await new Promise<void>((resolve) => app.server.listen(0, "127.0.0.1", resolve));
    const port = (app.server.address() as AddressInfo).port;
    return {
        app,
        port,
        events,
        logged: (event) =>
            events.some((e) => e.event === event) ? Promise.resolve() : new Promise((resolve) => waiters.push({ event, resolve })),
        stop: async () => {
            app.server.closeAllConnections();
            if (app.server.listening) await new Promise((resolve) => app.server.close(resolve));
            await app.close();
        },
    };
}

export interface Answer {
    status: number;
    headers: http.IncomingHttpHeaders;
    text: string;
    json: any;
}

/** Every answer's status line, headers and body, in order (to look for leaked secrets). */
export const transcript: string[] = [];

/**
 * GET (or another method) on 127.0.0.1; a keep-alive agent unless told otherwise. A `json`
 * body is sent as JSON (POST unless a method is given), a `body` as is.
 */
export function request(port: number, path: string, opts: { method?: string; agent?: http.Agent; json?: unknown; body?: string } = {}): Promise<Answer> {
    const body = opts.json !== undefined ? JSON.stringify(opts.json) : opts.body;
    const headers: http.OutgoingHttpHeaders = body === undefined ? {} : { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) };
    const method = opts.method ?? (body === undefined ? "GET" : "POST");
    return new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path, method, headers, agent: opts.agent ?? keepAlive }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => (text += chunk));
            res.on("end", () => {
                let json: unknown;
                try {
                    json = JSON.parse(text);
                } catch {
                    json = undefined;
                }
                transcript.push(`${res.statusCode} ${JSON.stringify(res.headers)}\n${text}`);
                resolve({ status: res.statusCode!, headers: res.headers, text, json });
            });
        });
        req.on("error", reject);
        req.end(body);
    });
}

/** Keep-alive, so `Connection: close` in an answer comes from the server, not the client. */
export const keepAlive = new http.Agent({ keepAlive: true });

afterAll(() => keepAlive.destroy());
