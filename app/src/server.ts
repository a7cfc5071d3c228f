/**
 * The demo app's HTTP server. createApp() builds it without listening, so tests can listen on
 * port 0 and drive beginShutdown() without real signals; main.ts does the rest.
 *
 * Shutdown, in phases (each logged as one JSON line):
 *   draining  for drainSeconds: everything still answers, /health/ready answers 503 (shutdown)
 *             and every response carries `Connection: close`, so HAProxy takes the replica out
 *             and keep-alive clients reconnect elsewhere;
 *   closing   no new connections, idle keep-alive connections closed, in-flight requests
 *             finish; at most shutdownTimeoutSeconds, then
 *   stopped (exit code 0), or shutdown-timeout (exit code 1) with the connections cut.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import type { Registry } from "prom-client";
import { memoryCheck, shutdownCheck } from "./checks";
import type { Logger } from "./log";
import { createMetrics, routeLabel, type RouteLabel } from "./metrics";
import { ReadinessRegistry } from "./readiness";
import { readVersion } from "./version";

export interface AppOptions {
    instance: string;
    drainSeconds: number;
    shutdownTimeoutSeconds: number;
    /** Null turns the memory guard off. */
    memoryLimitBytes: number | null;
    memoryReadyFraction: number;
    /** Defaults to package.json's. */
    version?: string;
    /** Defaults to no logging. */
    log?: Logger;
    /** How long one readiness check may take before it counts as failing. */
    checkTimeoutMs?: number;
    /** Resident memory in bytes (tests stub it). */
    rss?: () => number;
}

export interface App {
    server: http.Server;
    /** Add checks here (e.g. postgres, redis); /health/ready and app_ready use them all. */
    readiness: ReadinessRegistry;
    metrics: Registry;
    /** Starts the shutdown once (later calls return the same promise); resolves to the exit code. */
    beginShutdown(reason?: string): Promise<number>;
}

export const MAX_WORK_MS = 10_000;

type Phase = "serving" | "draining" | "closing" | "stopped";

export function createApp(options: AppOptions): App {
    const log = options.log ?? (() => {});
    const version = options.version ?? readVersion();
    let phase: Phase = "serving";
    let shutdownReason: string | undefined;
    let inFlight = 0;

    const readiness = new ReadinessRegistry(options.checkTimeoutMs);
    readiness.add("shutdown", shutdownCheck(() => shutdownReason));
    if (options.memoryLimitBytes !== null) {
        readiness.add("memory", memoryCheck(options.memoryLimitBytes, options.memoryReadyFraction, options.rss));
    }
    const metrics = createMetrics(async () => (await readiness.run()).ready);

    const routes: Record<Exclude<RouteLabel, "other">, (url: URL, res: http.ServerResponse) => void | Promise<void>> = {
        "/": (_url, res) => sendJson(res, 200, { instance: options.instance, pid: process.pid, uptimeSeconds: +process.uptime().toFixed(3), version }),
        "/work": (url, res) => {
            const raw = url.searchParams.get("ms");
            const ms = raw !== null && /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
            if (!(ms <= MAX_WORK_MS)) {
                return sendJson(res, 400, { error: `ms must be a whole number of milliseconds from 0 to ${MAX_WORK_MS}; got ${JSON.stringify(raw)}` });
            }
            busy(ms);
            sendJson(res, 200, { instance: options.instance, ms });
        },
        "/health/live": (_url, res) => sendJson(res, 200, { status: "live" }),
        "/health/ready": async (_url, res) => {
            const report = await readiness.run();
            if (report.ready) sendJson(res, 200, { status: "ready", checks: report.checks });
            else sendJson(res, 503, { status: "not-ready", failing: report.failing, checks: report.checks });
        },
        "/metrics": async (_url, res) => {
            const body = await metrics.registry.metrics();
            send(res, 200, metrics.registry.contentType, body);
        },
    };

    const server = http.createServer((req, res) => {
        const started = performance.now();
        inFlight++;
        let url: URL | undefined;
        try {
            url = new URL(req.url ?? "/", "http://app.invalid");
        } catch {
            url = undefined;
        }
        const route = url ? routeLabel(url.pathname) : "other";
        res.on("close", () => {
            inFlight--;
            metrics.observe(req.method, route, res.statusCode, (performance.now() - started) / 1000);
            // A keep-alive connection whose response went out before the drain is idle now.
            if (phase === "closing") setImmediate(() => server.closeIdleConnections());
        });
        if (phase !== "serving") res.setHeader("Connection", "close");

        if (!url) return sendJson(res, 400, { error: "malformed request target" });
        if (route === "other") return sendJson(res, 404, { error: `no route for ${req.method} ${url.pathname.slice(0, 200)}` });
        if (req.method !== "GET" && req.method !== "HEAD") {
            res.setHeader("Allow", "GET, HEAD");
            return sendJson(res, 405, { error: `${route} answers GET and HEAD only` });
        }
        Promise.resolve()
            .then(() => routes[route](url!, res))
            .catch((err: unknown) => {
                log("request-error", { route, error: err instanceof Error ? err.message : String(err) });
                if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
                else res.destroy();
            });
    });

    let shutdown: Promise<number> | undefined;
    function beginShutdown(reason = "requested"): Promise<number> {
        shutdown ??= runShutdown(reason);
        return shutdown;
    }

    async function runShutdown(reason: string): Promise<number> {
        shutdownReason = reason;
        phase = "draining";
        log("draining", { reason, drainSeconds: options.drainSeconds, inFlight });
        await sleep(options.drainSeconds * 1000);

        phase = "closing";
        log("closing", { inFlight, shutdownTimeoutSeconds: options.shutdownTimeoutSeconds });
        const closed = new Promise<"closed">((resolve) => server.close(() => resolve("closed")));
        server.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<"timeout">((resolve) => {
            timer = setTimeout(() => resolve("timeout"), options.shutdownTimeoutSeconds * 1000);
        });
        const outcome = await Promise.race([closed, timedOut]);
        clearTimeout(timer);
        phase = "stopped";
        if (outcome === "timeout") {
            const stuck = inFlight;
            server.closeAllConnections();
            log("shutdown-timeout", {
                inFlight: stuck,
                exitCode: 1,
                message: `${stuck} request(s) still in flight after ${options.shutdownTimeoutSeconds} s; exiting anyway`,
            });
            return 1;
        }
        log("stopped", { exitCode: 0 });
        return 0;
    }

    return { server, readiness, metrics: metrics.registry, beginShutdown };
}

/** CPU work that yields nothing: the event loop is blocked for `ms`, like a heavy request. */
function busy(ms: number): void {
    const end = performance.now() + ms;
    while (performance.now() < end) {
        // spin
    }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
    send(res, status, "application/json; charset=utf-8", JSON.stringify(body));
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
    res.writeHead(status, {
        "Content-Type": contentType,
        "Content-Length": Buffer.byteLength(body),
        "Cache-Control": "no-store",
    });
    res.end(body);
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
