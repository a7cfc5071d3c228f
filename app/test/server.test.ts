/** Every endpoint of the demo app, on a real server on a loopback port. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DURATION_BUCKETS } from "../src/metrics";
import { request, start, type Started } from "./support";

const VERSION = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).version;

let s: Started;
beforeAll(async () => {
    s = await start();
});
afterAll(() => s.stop());

test("GET / names the instance, pid, uptime and version", async () => {
    const r = await request(s.port, "/");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r.headers.connection).toBe("keep-alive");
    expect(r.json).toEqual({ instance: "test-1", pid: process.pid, uptimeSeconds: expect.any(Number), version: VERSION });
    expect(r.json.uptimeSeconds).toBeGreaterThan(0);
});

test("keeps an idle connection open for 10 minutes (so the edge, not the app, closes it), and says so", async () => {
    const r = await request(s.port, "/health/live");
    expect(r.headers.connection).toBe("keep-alive");
    expect(r.headers["keep-alive"]).toBe("timeout=600");
});

test("GET /work?ms=N spins the CPU for N ms", async () => {
    const t0 = Date.now();
    const r = await request(s.port, "/work?ms=60");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(59);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ instance: "test-1", ms: 60 });
    expect((await request(s.port, "/work?ms=0")).json).toEqual({ instance: "test-1", ms: 0 });
});

test.each(["/work", "/work?ms=", "/work?ms=abc", "/work?ms=-1", "/work?ms=1.5", "/work?ms=10001", "/work?ms=1e3"])("%s is a 400 with a JSON error", async (path) => {
    const r = await request(s.port, path);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/^ms must be a whole number of milliseconds from 0 to 10000; got /);
});

test("GET /health/live and /health/ready answer 200 while serving", async () => {
    expect(await request(s.port, "/health/live")).toMatchObject({ status: 200, json: { status: "live" } });
    // No memory limit here: the memory guard is off and only the shutdown check runs.
    expect(await request(s.port, "/health/ready")).toMatchObject({ status: 200, json: { status: "ready", checks: { shutdown: "ok" } } });
});

test("unknown paths are a JSON 404; other methods on a route a 405", async () => {
    const r = await request(s.port, "/nope?x=1");
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: "no route for GET /nope" });
    const p = await request(s.port, "/", { method: "POST" });
    expect(p.status).toBe(405);
    expect(p.headers.allow).toBe("GET, HEAD");
});

test("without PGHOST: the to-do endpoints answer 404 saying why, and /health/ready reports no dependencies", async () => {
    for (const [method, path] of [["GET", "/todos"], ["POST", "/todos"], ["GET", "/todos/1"]] as const) {
        const r = await request(s.port, path, method === "POST" ? { json: { title: "x" } } : {});
        expect(r.status).toBe(404);
        expect(r.json).toEqual({ error: `no route for ${method} ${path}: the to-do endpoints need PGHOST` });
    }
    const ready = await request(s.port, "/health/ready");
    expect(ready.json).toEqual({ status: "ready", checks: { shutdown: "ok" } });
    const m = (await request(s.port, "/metrics")).text;
    expect(m).not.toMatch(/^app_cache_lookups_total\{/m);
    expect(m).not.toMatch(/^app_dependency_errors_total\{/m);
});

test("HEAD answers like GET without a body", async () => {
    const r = await request(s.port, "/health/ready", { method: "HEAD" });
    expect(r.status).toBe(200);
    expect(r.text).toBe("");
});

test("GET /metrics: request counts and durations by bounded labels, process metrics, app_ready", async () => {
    await request(s.port, "/");
    await request(s.port, "/some/random/path/123");
    const r = await request(s.port, "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = r.text;
    expect(m).toMatch(/^http_requests_total\{method="GET",route="\/",status="200"\} [1-9]\d*$/m);
    expect(m).toMatch(/^http_requests_total\{method="GET",route="\/work",status="400"\} [1-9]/m);
    expect(m).toMatch(/^http_requests_total\{method="GET",route="other",status="404"\} [1-9]/m);
    expect(m).not.toContain("random");
    for (const le of DURATION_BUCKETS) expect(m).toContain(`http_request_duration_seconds_bucket{le="${le}",method="GET",route="/"}`);
    expect(DURATION_BUCKETS[0]).toBe(0.005);
    expect(DURATION_BUCKETS[DURATION_BUCKETS.length - 1]).toBe(5);
    expect(m).toMatch(/^http_request_duration_seconds_count\{method="GET",route="\/"\} [1-9]/m);
    for (const name of ["process_resident_memory_bytes", "process_cpu_seconds_total", "nodejs_eventloop_lag_seconds", "nodejs_heap_size_used_bytes"]) {
        expect(m).toMatch(new RegExp(`^${name} `, "m"));
    }
    expect(m).toMatch(/^app_ready 1$/m);
});
