/**
 * Prometheus metrics on the app's own registry: request count and duration by a bounded set
 * of labels, Node's default process metrics, app_ready (1 while /health/ready would pass), and
 * the data tier's: cache hits and misses, dependency errors met while serving, Postgres retries.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The route label's values: the app's routes and "other", so cardinality stays bounded. */
export const ROUTES = ["/", "/work", "/health/live", "/health/ready", "/metrics", "/todos", "/todos/:id"] as const;
export type Route = (typeof ROUTES)[number];
export type RouteLabel = Route | "other";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Seconds; a fast service answers in milliseconds, /work in up to a few seconds. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function routeLabel(pathname: string): RouteLabel {
    // One label for every to-do, whatever its id: ids must not become label values.
    if (/^\/todos\/[^/]+$/.test(pathname)) return "/todos/:id";
    return (ROUTES as readonly string[]).includes(pathname) && pathname !== "/todos/:id" ? (pathname as Route) : "other";
}

export function methodLabel(method: string | undefined): string {
    return method !== undefined && METHODS.has(method) ? method : "other";
}

/** The data tier's dependencies, as metric label values. */
export type DependencyName = "postgres" | "redis";

export interface AppMetrics {
    registry: Registry;
    observe(method: string | undefined, route: RouteLabel, status: number, seconds: number): void;
    /** A to-do looked up in Redis: found, or not (Redis down counts as a miss, and as an error). */
    cacheLookup(result: "hit" | "miss"): void;
    /** A dependency failed while serving a request (reconnect attempts in the background are not counted). */
    dependencyError(dependency: DependencyName): void;
    /** A Postgres statement retried on a fresh connection after its connection was cut. */
    postgresRetry(): void;
}

/**
 * `dependencies` are the ones configured: their counters start at 0, so a rate over them
 * works from the first scrape rather than from the first error.
 */
export function createMetrics(isReady: () => Promise<boolean>, dependencies: readonly DependencyName[] = []): AppMetrics {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const requests = new Counter({
        name: "http_requests_total",
        help: "HTTP requests answered, by method, route and status code",
        labelNames: ["method", "route", "status"] as const,
        registers: [registry],
    });
    const duration = new Histogram({
        name: "http_request_duration_seconds",
        help: "Time from request to the end of the response, by method and route",
        labelNames: ["method", "route"] as const,
        buckets: DURATION_BUCKETS,
        registers: [registry],
    });
    new Gauge({
        name: "app_ready",
        help: "1 while every readiness check passes, 0 otherwise (checked at scrape time)",
        registers: [registry],
        async collect() {
            this.set((await isReady()) ? 1 : 0);
        },
    });
    const cache = new Counter({
        name: "app_cache_lookups_total",
        help: "To-dos looked up in Redis, by result (hit, or miss: not cached, or Redis unavailable)",
        labelNames: ["result"] as const,
        registers: [registry],
    });
    const errors = new Counter({
        name: "app_dependency_errors_total",
        help: "Errors from a dependency met while serving a request, by dependency",
        labelNames: ["dependency"] as const,
        registers: [registry],
    });
    const retries = new Counter({
        name: "app_postgres_retries_total",
        help: "Postgres statements retried once on a fresh connection because their connection was cut (a failover)",
        registers: [registry],
    });
    for (const dependency of dependencies) errors.inc({ dependency }, 0);
    if (dependencies.includes("postgres")) retries.inc(0);
    if (dependencies.includes("redis")) for (const result of ["hit", "miss"] as const) cache.inc({ result }, 0);
    return {
        registry,
        observe(method, route, status, seconds) {
            const m = methodLabel(method);
            requests.inc({ method: m, route, status: String(status) });
            duration.observe({ method: m, route }, seconds);
        },
        cacheLookup: (result) => cache.inc({ result }),
        dependencyError: (dependency) => errors.inc({ dependency }),
        postgresRetry: () => retries.inc(),
    };
}
