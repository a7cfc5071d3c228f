/**
 * Prometheus metrics on the app's own registry: request count and duration by a bounded set
 * of labels, Node's default process metrics, and app_ready (1 while /health/ready would pass).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The route label's values: the app's routes and "other", so cardinality stays bounded. */
export const ROUTES = ["/", "/work", "/health/live", "/health/ready", "/metrics"] as const;
export type Route = (typeof ROUTES)[number];
export type RouteLabel = Route | "other";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Seconds; a fast service answers in milliseconds, /work in up to a few seconds. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function routeLabel(pathname: string): RouteLabel {
    return (ROUTES as readonly string[]).includes(pathname) ? (pathname as Route) : "other";
}

export function methodLabel(method: string | undefined): string {
    return method !== undefined && METHODS.has(method) ? method : "other";
}

export interface AppMetrics {
    registry: Registry;
    observe(method: string | undefined, route: RouteLabel, status: number, seconds: number): void;
}

export function createMetrics(isReady: () => Promise<boolean>): AppMetrics {
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
    return {
        registry,
        observe(method, route, status, seconds) {
            const m = methodLabel(method);
            requests.inc({ method: m, route, status: String(status) });
            duration.observe({ method: m, route }, seconds);
        },
    };
}
