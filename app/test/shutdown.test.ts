/** The graceful shutdown, driven by beginShutdown() as main.ts does on SIGTERM. */
import http from "node:http";
import net from "node:net";
import { notReady, type CheckResult } from "../src/readiness";
import { request, start } from "./support";

/** Resolves to the error code of a fresh TCP connection, or "connected". */
function connect(port: number): Promise<string> {
    return new Promise((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.on("connect", () => {
            socket.destroy();
            resolve("connected");
        });
        socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
}

test("drain, then close: serves with Connection: close and not ready, refuses new connections, finishes in-flight work, exits 0", async () => {
    const s = await start({ drainSeconds: 0.4 });
    try {
        expect((await request(s.port, "/")).headers.connection).toBe("keep-alive");
        const t0 = Date.now();
        const done = s.app.beginShutdown("SIGTERM");
        expect(s.app.beginShutdown("SIGINT")).toBe(done);
        expect(s.events).toEqual([{ event: "draining", reason: "SIGTERM", drainSeconds: 0.4, inFlight: 0 }]);

        // The drain: everything still answers, but the load balancer is told to go away.
        const root = await request(s.port, "/");
        expect(root.status).toBe(200);
        expect(root.headers.connection).toBe("close");
        const ready = await request(s.port, "/health/ready");
        expect(ready.status).toBe(503);
        expect(ready.headers.connection).toBe("close");
        expect(ready.json).toEqual({
            status: "not-ready",
            failing: [{ check: "shutdown", detail: "shutting down (SIGTERM): draining before the server closes" }],
            checks: { shutdown: "failing" },
        });
        expect((await request(s.port, "/health/live")).status).toBe(200);
        expect((await request(s.port, "/metrics")).text).toMatch(/^app_ready 0$/m);

        // Long work that starts before the drain ends still completes.
        const work = request(s.port, "/work?ms=1500");
        expect(Date.now() - t0).toBeLessThan(400);

        await s.logged("closing");
        expect(await connect(s.port)).toBe("ECONNREFUSED");
        const w = await work;
        expect(w.status).toBe(200);
        expect(w.json).toEqual({ instance: "test-1", ms: 1500 });
        expect(w.headers.connection).toBe("close");

        expect(await done).toBe(0);
        expect(s.events.map((e) => e.event)).toEqual(["draining", "closing", "stopped"]);
        expect(s.events[2]).toEqual({ event: "stopped", exitCode: 0 });
    } finally {
        await s.stop();
    }
});

test("an async request in flight when the server closes completes before the exit", async () => {
    const s = await start({ drainSeconds: 0.1 });
    let release!: (r: CheckResult) => void;
    s.app.readiness.add("slow", () => new Promise((resolve) => (release = resolve)));
    try {
        const done = s.app.beginShutdown("SIGTERM");
        const pending = request(s.port, "/health/ready");
        await s.logged("closing");
        expect(s.events[1]).toMatchObject({ event: "closing", inFlight: 1 });
        expect(await connect(s.port)).toBe("ECONNREFUSED");
        await new Promise((r) => setTimeout(r, 100));
        expect(s.events.map((e) => e.event)).toEqual(["draining", "closing"]); // still waiting for it
        release(notReady("still slow"));
        const r = await pending;
        expect(r.status).toBe(503);
        expect(r.json.failing.map((f: { check: string }) => f.check)).toEqual(["shutdown", "slow"]);
        expect(await done).toBe(0);
    } finally {
        release?.(notReady("released"));
        await s.stop();
    }
});

test("idle keep-alive connections are closed when the server closes, so the exit does not wait for them", async () => {
    const s = await start({ drainSeconds: 0.05 });
    const agent = new http.Agent({ keepAlive: true });
    try {
        await request(s.port, "/", { agent });
        const [socket] = Object.values(agent.freeSockets).flat();
        expect(socket).toBeDefined();
        const closed = new Promise((resolve) => socket!.once("close", resolve));
        const t0 = Date.now();
        expect(await s.app.beginShutdown("SIGTERM")).toBe(0);
        await closed;
        expect(Date.now() - t0).toBeLessThan(1000); // far below the 2 s timeout
    } finally {
        agent.destroy();
        await s.stop();
    }
});

test("a request still in flight after SHUTDOWN_TIMEOUT_SECONDS: cut off, exit code 1, and it says so", async () => {
    const s = await start({ drainSeconds: 0.05, shutdownTimeoutSeconds: 0.3, checkTimeoutMs: 10_000 });
    let release!: (r: CheckResult) => void;
    s.app.readiness.add("stuck", () => new Promise((resolve) => (release = resolve)));
    try {
        const pending = request(s.port, "/health/ready").catch((err: NodeJS.ErrnoException) => err.code);
        await new Promise((r) => setTimeout(r, 20));
        expect(await s.app.beginShutdown("SIGTERM")).toBe(1);
        expect(await pending).toBe("ECONNRESET");
        expect(s.events.map((e) => e.event)).toEqual(["draining", "closing", "shutdown-timeout"]);
        expect(s.events[2]).toEqual({
            event: "shutdown-timeout",
            inFlight: 1,
            exitCode: 1,
            message: "1 request(s) still in flight after 0.3 s; exiting anyway",
        });
    } finally {
        release?.(notReady("released"));
        await s.stop();
    }
});
