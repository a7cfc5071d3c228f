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
 *
 * With `postgres` (and optionally `redis`) it also serves the to-do endpoints (todos.ts) and
 * reports both dependencies in /health/ready without letting them fail it (dependencies.ts).
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import type { Registry } from "prom-client";
import { TodoCache } from "./cache";
import { memoryCheck, shutdownCheck } from "./checks";
import { DEFAULTS, type PostgresConfig, type RedisConfig } from "./config";
import { Dependency, errorMessage, type DependencyStatus } from "./dependencies";
import type { Logger } from "./log";
import { createMetrics, routeLabel, type DependencyName, type RouteLabel } from "./metrics";
import { TodoStore } from "./postgres";
import { ReadinessRegistry } from "./readiness";
import { send, sendJson } from "./respond";
import { TodoHandlers } from "./todos";
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
    /** Where Postgres is; without it the to-do endpoints answer 404. */
    postgres?: PostgresConfig | null;
    /** Where the Sentinels are; without it nothing is cached. Needs `postgres` to be of use. */
    redis?: RedisConfig | null;
    /** How long a to-do stays cached. @default 60 */
    cacheTtlSeconds?: number;
}

export interface App {
    server: http.Server;
    /** Add checks here for what belongs to this replica alone; /health/ready and app_ready use them all. */
    readiness: ReadinessRegistry;
    metrics: Registry;
    /** Starts the shutdown once (later calls return the same promise); resolves to the exit code. */
    beginShutdown(reason?: string): Promise<number>;
    /** Closes the Postgres pools and the Redis client (the shutdown does it too); idempotent. */
    close(): Promise<void>;
}

/** The most the shutdown waits for the database clients to close (a stuck query holds its pool). */
const CLOSE_CLIENTS_MS = 1000;

export const MAX_WORK_MS = 10_000;

/**
 * How long an idle keep-alive connection stays open (Node's default is 5 s). HAProxy keeps idle
 * connections to the app in a pool with no timeout of its own, closing the ones it no longer
 * needs every 5 s (pool-purge-delay), and sends a later request on any of them. When the app
 * closed one just as HAProxy sent a request on it, that request failed: a 502, or the client's
 * connection closed with no answer, which HAProxy does so that a browser retries (its
 * "http-reuse safe"); a client's POST is not retried. A burst of POSTs every 5 s through the lab's
 * edge lost 8 of 900 that way. HAProxy drops an idle connection it no longer needs within a
 * minute or so, so at 10 minutes the edge, not the app, closes them; the app closes idle
 * connections itself only on shutdown, once HAProxy has taken it out.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 10 * 60_000;

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
    const configured: DependencyName[] = [];
    if (options.postgres) configured.push("postgres");
    if (options.redis) configured.push("redis");
    const metrics = createMetrics(async () => (await readiness.run()).ready, configured);
    const data = createDataTier(options, log, () => metrics.postgresRetry());
    const todos = data.store ? new TodoHandlers({ store: data.store, cache: data.cache, postgres: data.postgres!, redis: data.redis, metrics, log }) : undefined;

    type Handler = (url: URL, req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;
    const GET = ["GET", "HEAD"];
    const routes: Record<Exclude<RouteLabel, "other">, { methods: string[]; handle: Handler }> = {
        "/": { methods: GET, handle: (_url, _req, res) => sendJson(res, 200, { instance: options.instance, pid: process.pid, uptimeSeconds: +process.uptime().toFixed(3), version }) },
        "/work": {
            methods: GET,
            handle: (url, _req, res) => {
                const raw = url.searchParams.get("ms");
                const ms = raw !== null && /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
                if (!(ms <= MAX_WORK_MS)) {
                    return sendJson(res, 400, { error: `ms must be a whole number of milliseconds from 0 to ${MAX_WORK_MS}; got ${JSON.stringify(raw)}` });
                }
                busy(ms);
                sendJson(res, 200, { instance: options.instance, ms });
            },
        },
        "/health/live": { methods: GET, handle: (_url, _req, res) => sendJson(res, 200, { status: "live" }) },
        "/health/ready": {
            methods: GET,
            handle: async (_url, _req, res) => {
                // Dependencies are reported beside the checks, never among them: see dependencies.ts.
                const [report, dependencies] = await Promise.all([readiness.run(), probeDependencies(data.dependencies)]);
                const extra = dependencies ? { dependencies } : {};
                if (report.ready) sendJson(res, 200, { status: "ready", checks: report.checks, ...extra });
                else sendJson(res, 503, { status: "not-ready", failing: report.failing, checks: report.checks, ...extra });
            },
        },
        "/metrics": {
            methods: GET,
            handle: async (_url, _req, res) => {
                const body = await metrics.registry.metrics();
                send(res, 200, metrics.registry.contentType, body);
            },
        },
        "/todos": {
            methods: ["GET", "HEAD", "POST"],
            handle: (url, req, res) => (req.method === "POST" ? todos!.create(req, res) : todos!.list(url, res)),
        },
        "/todos/:id": { methods: GET, handle: (url, _req, res) => todos!.get(url.pathname.slice("/todos/".length), res) },
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
        if (!todos && route.startsWith("/todos")) {
            return sendJson(res, 404, { error: `no route for ${req.method} ${url.pathname.slice(0, 200)}: the to-do endpoints need PGHOST` });
        }
        const { methods, handle } = routes[route];
        if (!methods.includes(req.method ?? "")) {
            res.setHeader("Allow", methods.join(", "));
            return sendJson(res, 405, { error: `${route} answers ${methods.slice(0, -1).join(", ")} and ${methods[methods.length - 1]} only` });
        }
        Promise.resolve()
            .then(() => handle(url!, req, res))
            .catch((err: unknown) => {
                log("request-error", { route, error: errorMessage(err) });
                if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
                else res.destroy();
            });
    });

    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;

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
        await close();
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

    let closing: Promise<void> | undefined;
    function close(): Promise<void> {
        closing ??= withTimeout(data.close(), CLOSE_CLIENTS_MS).catch(() => {});
        return closing;
    }

    return { server, readiness, metrics: metrics.registry, beginShutdown, close };
}

interface DataTier {
    store: TodoStore | null;
    cache: TodoCache | null;
    postgres: Dependency | null;
    redis: Dependency | null;
    /** The configured ones, in report order. */
    dependencies: Dependency[];
    close(): Promise<void>;
}

/**
 * The Postgres store and the Redis cache, each only when configured, with the dependency that
 * tracks its state. The table is created at start; if Postgres is down then, the first write
 * creates it.
 */
function createDataTier(options: AppOptions, log: Logger, onRetry: () => void): DataTier {
    const clientName = `swarm-ha-app ${options.instance}`;
    const store = options.postgres ? new TodoStore(options.postgres, clientName, { retry: onRetry }) : null;
    const cache = options.redis ? new TodoCache(options.redis, options.cacheTtlSeconds ?? DEFAULTS.cacheTtlSeconds, clientName) : null;
    const postgres = store ? new Dependency("postgres", () => store.ping(), log) : null;
    const redis = cache ? new Dependency("redis", () => cache.ping(), log) : null;
    if (cache && redis) {
        cache.client.on("ready", () => redis.up());
        // Only when it is really unusable: a Sentinel that went away while the master is fine is not Redis down.
        cache.client.on("error", (err: Error) => {
            if (cache.client.status !== "ready") redis.down(err);
        });
    }
    if (store && postgres) {
        store.ensureSchema().then(
            () => postgres.up(),
            (err: unknown) => postgres.down(err),
        );
    }
    return {
        store,
        cache,
        postgres,
        redis,
        dependencies: [postgres, redis].filter((d): d is Dependency => d !== null),
        close: async () => {
            await Promise.all([store?.close(), cache?.close()]);
        },
    };
}

async function probeDependencies(dependencies: Dependency[]): Promise<Record<string, DependencyStatus> | undefined> {
    if (dependencies.length === 0) return undefined;
    const statuses = await Promise.all(dependencies.map((d) => d.probe()));
    return Object.fromEntries(dependencies.map((d, i) => [d.name, statuses[i]!]));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]).finally(() => clearTimeout(timer));
}

/** CPU work that yields nothing: the event loop is blocked for `ms`, like a heavy request. */
function busy(ms: number): void {
    const end = performance.now() + ms;
    while (performance.now() < end) {
        // spin
    }
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
