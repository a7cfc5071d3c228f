/**
 * An open-loop HTTP load generator for the chaos benchmarks: a constant-rate load through the
 * stack's virtual IP while a fault is injected (a proxy killed, a node stopped, a rolling
 * update), counting what the clients saw.
 *
 * Why open loop: request i starts at t0 + i × period (every 5 ms for 200 requests/s) whether or
 * not the earlier ones have answered. Closed-loop tools (autocannon, wrk, ab) keep N connections
 * busy and send the next request only when the previous one answered, so they coordinate with
 * the server: when the stack stalls they simply send less, and the stall shows up as a slightly
 * lower request rate instead of as the failed and slow requests real clients (who do not wait for
 * each other) would have seen. That is exactly the disruption these benchmarks measure, so here a
 * stall shows up as timeouts, errors and latency, and the rate stays the rate asked for.
 *
 * The schedule is absolute: when the event loop lags, the requests that fell due meanwhile start
 * at once (catch-up), and the lag is reported (`maxLagMs`) so a busy load generator is visible
 * rather than mistaken for a slow server. Latency is measured from each request's actual start.
 *
 * Node's standard library only (`http`), no dependency. Plain http: URLs only.
 */
import * as http from "node:http";
import { performance } from "node:perf_hooks";

/** What became of one request. Every outcome but "ok" is a failure. */
export type Outcome = "ok" | "http-5xx" | "http-other" | "timeout" | "connection-error";
export type FailureOutcome = Exclude<Outcome, "ok">;
export const FAILURE_OUTCOMES: readonly FailureOutcome[] = ["http-5xx", "http-other", "timeout", "connection-error"];

export interface RequestResult {
    /** Position in the schedule: request `index` was due at `index × period`. */
    index: number;
    /** When the request was due, in ms since t0 (`index × 1000 / ratePerSecond`). */
    scheduledAt: number;
    /** When the request actually started, in ms since t0 (`startedAt - scheduledAt` is the scheduling lag). */
    startedAt: number;
    /** From the start until the outcome was known: the body fully read, the error, or the timeout. */
    latencyMs: number;
    outcome: Outcome;
    /** The HTTP status, when a response (head) arrived. */
    status?: number;
    /**
     * Why it failed, for "connection-error" (the error code: ECONNRESET, ECONNREFUSED, EHOSTUNREACH...)
     * and "timeout" (where it was stuck: "timeout while connecting", "... waiting for the response",
     * "... reading the body").
     */
    error?: string;
    /** Which replica answered: the `X-Served-By` response header, else the JSON body's `instance` field. */
    servedBy?: string;
}

export interface LatencySummary {
    p50: number;
    p90: number;
    p99: number;
    max: number;
}

/** A summary of a set of results: a whole run or a window of it (see {@link summarize}). */
export interface LoadReport {
    /** Requests with an outcome. */
    total: number;
    ok: number;
    /** Requests that failed, all outcomes together. */
    failed: number;
    /** Failed requests by outcome (every outcome is present, 0 when none). */
    failures: Record<FailureOutcome, number>;
    /** `failed / total`, between 0 and 1 (0 when there is no request). */
    failureRate: number;
    /** Failed requests by error (ECONNRESET, ECONNREFUSED, "timeout while connecting", "HTTP 503"...). */
    errors: Record<string, number>;
    /** Latency in ms of the ok requests (nearest-rank percentiles); null when none was ok. */
    latencyMs: LatencySummary | null;
    /**
     * Requests started per second: (total - 1) over the time between the first and the last start,
     * so it shows whether the schedule held (0 with fewer than two requests).
     */
    achievedRate: number;
    /** The largest `startedAt - scheduledAt`, in ms: how far the generator itself fell behind. */
    maxLagMs: number;
    disruption: {
        /** Start (ms since t0) of the first failed request; null when none failed. */
        firstFailureAt: number | null;
        /** Start (ms since t0) of the last failed request; null when none failed. */
        lastFailureAt: number | null;
        /** From the first failed request's start to the last one's (0 if none or one failed). */
        durationMs: number;
        /**
         * The longest run of consecutive failed requests (in schedule order): how many, from when to
         * when (starts, ms since t0) and how long (`to - from`, so a single failure lasts 0 ms).
         */
        longestFailureRun: { count: number; from: number | null; to: number | null; durationMs: number };
    };
    /** Responses (any status) by the replica that served them (see {@link RequestResult.servedBy}). */
    servedBy: Record<string, number>;
}

/** The report of a whole run: the summary of all its results, and how the run went. */
export interface OpenLoopReport extends LoadReport {
    /** The rate asked for, requests per second. */
    targetRate: number;
    /** Requests the schedule held for the duration (`ceil(durationMs × ratePerSecond / 1000)`). */
    scheduled: number;
    /** Requests in flight when the run was aborted: destroyed, and not counted in the results. */
    cancelled: number;
    /** Whether the signal stopped the run early. */
    aborted: boolean;
    /** From t0 until the last request settled, in ms. */
    elapsedMs: number;
}

export interface OpenLoopOptions {
    /** The URL every request GETs (http: only), e.g. http://198.18.42.100/. */
    url: string;
    /** Requests started per second, e.g. 200 (one every 5 ms). */
    ratePerSecond: number;
    /** How long requests are started for, in ms; the run then waits for the ones in flight (at most `timeoutMs`). */
    durationMs: number;
    /**
     * Per request, in ms (default 2000): a request not fully answered in time (connection, response
     * and body together) is destroyed and counted as a failure ("timeout").
     */
    timeoutMs?: number;
    /**
     * Default true: reuse connections like a browser or an API client would. False opens a new
     * connection per request (mind the ports left in TIME_WAIT on long runs at high rates).
     */
    keepAlive?: boolean;
    /**
     * Stops the run early (default: none): no request is started any more, the ones in flight are
     * destroyed and left out of the results (counted as `cancelled`), and the promise resolves with
     * the report of what settled, `aborted: true`.
     */
    signal?: AbortSignal;
    /**
     * Called with each result as soon as it is known (in completion order, not schedule order);
     * default none. If it throws, the run stops as if aborted and the promise rejects with that error.
     */
    onResult?: (r: RequestResult) => void;
}

/** The JSON body is parsed for `instance` only up to this size; larger bodies are still read fully. */
const MAX_PARSED_BODY = 64 * 1024;

/**
 * Sends GET `url` on an open-loop schedule, request i at t0 + i × (1000 / ratePerSecond) ms, for
 * `durationMs`, and resolves once every request has settled (ok, failed or timed out) with the
 * summary of all results. Any 2xx/3xx is ok, 5xx is "http-5xx", anything else (4xx) "http-other";
 * a body cut short is a "connection-error". Sockets are closed at the end so the process can exit.
 */
export function runOpenLoop(opts: OpenLoopOptions): Promise<OpenLoopReport> {
    const { url, ratePerSecond, durationMs, timeoutMs = 2000, keepAlive = true, signal, onResult } = opts;
    const target = new URL(url);
    if (target.protocol !== "http:") throw new RangeError(`runOpenLoop: only http: URLs are supported, not ${target.protocol}`);
    if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) throw new RangeError(`runOpenLoop: ratePerSecond must be > 0, not ${ratePerSecond}`);
    if (!(Number.isFinite(durationMs) && durationMs >= 0)) throw new RangeError(`runOpenLoop: durationMs must be >= 0, not ${durationMs}`);
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new RangeError(`runOpenLoop: timeoutMs must be > 0, not ${timeoutMs}`);

    const period = 1000 / ratePerSecond;
    // The small epsilon keeps 1500 ms × 200/s at 300 despite floating point.
    const scheduled = Math.max(0, Math.ceil((durationMs * ratePerSecond) / 1000 - 1e-9));
    const agent = new http.Agent({ keepAlive, maxSockets: Infinity });
    const results: RequestResult[] = [];
    const inFlight = new Set<() => void>(); // each cancels one request
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let aborted = false;
    let cancelled = 0;
    let callbackError: { error: unknown } | undefined;
    let t0 = 0;

    return new Promise<OpenLoopReport>((resolve, reject) => {
        const now = () => performance.now() - t0;

        const settleIfDone = () => {
            if ((next < scheduled && !stopped) || inFlight.size > 0) return;
            if (timer) clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            agent.destroy();
            if (callbackError) return reject(callbackError.error);
            resolve({
                ...summarize(results),
                targetRate: ratePerSecond,
                scheduled,
                cancelled,
                aborted,
                elapsedMs: now(),
            });
        };

        const stop = () => {
            if (stopped) return;
            stopped = true;
            if (timer) clearTimeout(timer);
            timer = undefined;
            for (const cancel of [...inFlight]) cancel();
            settleIfDone();
        };
        function onAbort() {
            aborted = true;
            stop();
        }

        const record = (r: RequestResult) => {
            results.push(r);
            if (!onResult || callbackError) return;
            try {
                onResult(r);
            } catch (error) {
                callbackError = { error };
                stop();
            }
        };

        const start = (index: number) => {
            const scheduledAt = index * period;
            const startedAt = now();
            let phase: "connecting" | "waiting for the response" | "reading the body" = "connecting";
            let done = false;
            let status: number | undefined;
            let servedBy: string | undefined;

            const finish = (outcome: Outcome, error?: string) => {
                if (done) return;
                done = true;
                clearTimeout(deadline);
                inFlight.delete(cancel);
                const r: RequestResult = { index, scheduledAt, startedAt, latencyMs: now() - startedAt, outcome };
                if (status !== undefined) r.status = status;
                if (error !== undefined) r.error = error;
                if (servedBy !== undefined) r.servedBy = servedBy;
                record(r);
                settleIfDone();
            };
            const cancel = () => {
                if (done) return;
                done = true;
                clearTimeout(deadline);
                inFlight.delete(cancel);
                cancelled++;
                req.destroy();
            };

            const req = http.request(target, {
                method: "GET",
                agent,
                headers: { "user-agent": "swarm-ha-open-loop", accept: "application/json, */*" },
            });
            inFlight.add(cancel);
            // The verdict waits for the I/O phase of this loop turn: when our own event loop lagged,
            // an answer that arrived before the deadline is already there, and counts as such.
            const deadline = setTimeout(() => {
                setImmediate(() => {
                    if (done) return;
                    finish("timeout", `timeout while ${phase}`);
                    req.destroy();
                });
            }, timeoutMs);

            req.on("socket", (socket) => {
                if (socket.connecting) socket.once("connect", () => phase === "connecting" && (phase = "waiting for the response"));
                else if (phase === "connecting") phase = "waiting for the response";
            });
            req.on("error", (err: NodeJS.ErrnoException) => finish("connection-error", err.code ?? err.message));
            req.on("response", (res) => {
                phase = "reading the body";
                status = res.statusCode ?? 0;
                const header = res.headers["x-served-by"];
                servedBy = (Array.isArray(header) ? header[0] : header) || undefined;
                const wantBody = servedBy === undefined;
                const chunks: Buffer[] = [];
                let kept = 0;
                res.on("data", (chunk: Buffer) => {
                    if (wantBody && kept + chunk.length <= MAX_PARSED_BODY) {
                        chunks.push(chunk);
                        kept += chunk.length;
                    }
                });
                res.on("error", (err: NodeJS.ErrnoException) => finish("connection-error", err.code ?? err.message));
                res.on("close", () => {
                    if (!res.complete) finish("connection-error", "ECONNRESET");
                });
                res.on("end", () => {
                    if (wantBody) servedBy = instanceOf(Buffer.concat(chunks).toString("utf8"));
                    const s = status!;
                    if (s >= 200 && s < 400) finish("ok");
                    else finish(s >= 500 && s < 600 ? "http-5xx" : "http-other", `HTTP ${s}`);
                });
            });
            req.end();
        };

        const tick = () => {
            timer = undefined;
            if (stopped) return;
            // Every request due by now starts now: catch-up keeps the rate when the loop lagged.
            const due = Math.min(scheduled, Math.floor(now() / period) + 1);
            while (next < due && !stopped) start(next++);
            if (stopped) return;
            if (next >= scheduled) return settleIfDone();
            timer = setTimeout(tick, Math.max(0, next * period - now()));
        };

        if (signal?.aborted) {
            aborted = true;
            stopped = true;
        } else {
            signal?.addEventListener("abort", onAbort, { once: true });
        }
        t0 = performance.now();
        if (stopped || scheduled === 0) return settleIfDone();
        tick();
    });
}

/** The `instance` field of a JSON object body, if any. */
function instanceOf(body: string): string | undefined {
    if (!body.trimStart().startsWith("{")) return undefined;
    try {
        const instance = (JSON.parse(body) as { instance?: unknown }).instance;
        return typeof instance === "string" || typeof instance === "number" ? String(instance) : undefined;
    } catch {
        return undefined;
    }
}

/** The nearest-rank percentile `p` (0-100) of ascending `sorted` (not empty). */
function percentile(sorted: number[], p: number): number {
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Summarizes results, in any order: a whole run (what {@link runOpenLoop} reports) or a window of
 * it, e.g. `summarize(results.filter((r) => r.startedAt >= faultAt - 1000 && r.startedAt < faultAt + 5000))`.
 */
export function summarize(results: readonly RequestResult[]): LoadReport {
    const rs = [...results].sort((a, b) => a.index - b.index);
    const failures = Object.fromEntries(FAILURE_OUTCOMES.map((o) => [o, 0])) as Record<FailureOutcome, number>;
    const errors: Record<string, number> = {};
    const servedBy: Record<string, number> = {};
    const okLatencies: number[] = [];
    let maxLagMs = 0;
    let firstFailureAt: number | null = null;
    let lastFailureAt: number | null = null;
    let longest = { count: 0, from: null as number | null, to: null as number | null, durationMs: 0 };
    let run = { count: 0, from: 0, to: 0 };

    for (const r of rs) {
        maxLagMs = Math.max(maxLagMs, r.startedAt - r.scheduledAt);
        if (r.servedBy !== undefined) servedBy[r.servedBy] = (servedBy[r.servedBy] ?? 0) + 1;
        if (r.outcome === "ok") {
            okLatencies.push(r.latencyMs);
            run.count = 0;
            continue;
        }
        failures[r.outcome]++;
        const error = r.error ?? r.outcome;
        errors[error] = (errors[error] ?? 0) + 1;
        if (firstFailureAt === null) firstFailureAt = r.startedAt;
        lastFailureAt = r.startedAt;
        run = run.count === 0 ? { count: 1, from: r.startedAt, to: r.startedAt } : { count: run.count + 1, from: run.from, to: r.startedAt };
        if (run.count > longest.count) longest = { count: run.count, from: run.from, to: run.to, durationMs: run.to - run.from };
    }

    okLatencies.sort((a, b) => a - b);
    const failed = rs.length - okLatencies.length;
    let first = Infinity;
    let last = -Infinity;
    for (const r of rs) {
        first = Math.min(first, r.startedAt);
        last = Math.max(last, r.startedAt);
    }
    const span = rs.length > 1 ? last - first : 0;
    return {
        total: rs.length,
        ok: okLatencies.length,
        failed,
        failures,
        failureRate: rs.length ? failed / rs.length : 0,
        errors,
        latencyMs: okLatencies.length
            ? { p50: percentile(okLatencies, 50), p90: percentile(okLatencies, 90), p99: percentile(okLatencies, 99), max: okLatencies[okLatencies.length - 1] }
            : null,
        achievedRate: span > 0 ? ((rs.length - 1) * 1000) / span : 0,
        maxLagMs,
        disruption: {
            firstFailureAt,
            lastFailureAt,
            durationMs: firstFailureAt === null ? 0 : lastFailureAt! - firstFailureAt,
            longestFailureRun: longest,
        },
        servedBy,
    };
}
