/** The readiness registry and the built-in checks, alone and behind /health/ready. */
import { memoryCheck } from "../src/checks";
import { loadConfig } from "../src/config";
import { ReadinessRegistry, notReady, ready } from "../src/readiness";
import { request, start } from "./support";

const MiB = 1024 * 1024;

describe("the registry", () => {
    test("ready when every check passes; otherwise names each failing check with its detail", async () => {
        const r = new ReadinessRegistry(100)
            .add("a", async () => ready)
            .add("postgres", async () => notReady("connection refused"))
            .add("redis", async () => {
                throw new Error("ECONNRESET");
            })
            .add("slow", () => new Promise(() => {}));
        expect(await r.run()).toEqual({
            ready: false,
            checks: { a: "ok", postgres: "failing", redis: "failing", slow: "failing" },
            failing: [
                { check: "postgres", detail: "connection refused" },
                { check: "redis", detail: "ECONNRESET" },
                { check: "slow", detail: "did not answer within 100 ms" },
            ],
        });
        r.remove("postgres");
        r.remove("redis");
        r.remove("slow");
        expect(await r.run()).toEqual({ ready: true, checks: { a: "ok" }, failing: [] });
    });

    test("names are unique and simple", () => {
        const r = new ReadinessRegistry().add("postgres", async () => ready);
        expect(() => r.add("postgres", async () => ready)).toThrow(/"postgres" is already registered/);
        expect(() => r.add("Bad Name", async () => ready)).toThrow(/must be lower case/);
    });
});

describe("the memory check", () => {
    test("fails at the ready fraction of the limit, saying how far over it is", async () => {
        const limit = 1000 * MiB;
        expect(await memoryCheck(limit, 0.9, () => 899 * MiB)()).toEqual(ready);
        expect(await memoryCheck(limit, 0.9, () => 950 * MiB)()).toEqual(notReady("rss 950 MiB is 95% of the 1000 MiB limit (ready below 90%)"));
    });

    test("a tiny MEMORY_LIMIT_BYTES makes /health/ready answer 503 naming memory, and app_ready 0", async () => {
        const config = loadConfig({ MEMORY_LIMIT_BYTES: String(MiB) }, () => undefined);
        const s = await start({ memoryLimitBytes: config.memoryLimitBytes, memoryReadyFraction: config.memoryReadyFraction });
        try {
            const r = await request(s.port, "/health/ready");
            expect(r.status).toBe(503);
            expect(r.json).toEqual({
                status: "not-ready",
                failing: [{ check: "memory", detail: expect.stringMatching(/^rss \d+ MiB is \d+% of the 1 MiB limit \(ready below 90%\)$/) }],
                checks: { shutdown: "ok", memory: "failing" },
            });
            expect((await request(s.port, "/metrics")).text).toMatch(/^app_ready 0$/m);
            // Not ready is not dead: the process still answers.
            expect((await request(s.port, "/health/live")).status).toBe(200);
            expect((await request(s.port, "/")).status).toBe(200);
        } finally {
            await s.stop();
        }
    });

    test("with a limit far above the process's memory, memory is ok", async () => {
        const s = await start({ memoryLimitBytes: 64 * 1024 * MiB });
        try {
            expect(await request(s.port, "/health/ready")).toMatchObject({ status: 200, json: { status: "ready", checks: { shutdown: "ok", memory: "ok" } } });
        } finally {
            await s.stop();
        }
    });
});

test("a custom check added to app.readiness fails /health/ready by name, without touching the server", async () => {
    const s = await start();
    try {
        let pgUp = false;
        s.app.readiness.add("postgres", async () => (pgUp ? ready : notReady("connect ECONNREFUSED 10.0.0.5:5432")));
        const down = await request(s.port, "/health/ready");
        expect(down.status).toBe(503);
        expect(down.json.failing).toEqual([{ check: "postgres", detail: "connect ECONNREFUSED 10.0.0.5:5432" }]);
        expect((await request(s.port, "/metrics")).text).toMatch(/^app_ready 0$/m);
        pgUp = true;
        expect(await request(s.port, "/health/ready")).toMatchObject({ status: 200, json: { checks: { shutdown: "ok", postgres: "ok" } } });
    } finally {
        await s.stop();
    }
});
