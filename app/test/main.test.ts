/** main.ts as a real process: config errors, and SIGTERM driving the drain to exit 0. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { request } from "./support";

const MAIN = join(__dirname, "..", "src", "main.ts");

interface Proc {
    lines: Array<Record<string, any>>;
    stderr: string;
    exited: Promise<number | null>;
    next(event: string): Promise<Record<string, any>>;
    kill(signal: NodeJS.Signals): void;
}

const APP_VARIABLES = [
    "PORT",
    "INSTANCE",
    "DRAIN_SECONDS",
    "SHUTDOWN_TIMEOUT_SECONDS",
    "MEMORY_READY_FRACTION",
    "MEMORY_LIMIT_BYTES",
    "PGHOST",
    "PGPORT",
    "PGPORT_READONLY",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD_FILE",
    "REDIS_SENTINELS",
    "REDIS_MASTER_NAME",
    "REDIS_PASSWORD_FILE",
    "CACHE_TTL_SECONDS",
];

function run(env: Record<string, string>): Proc {
    const inherited = { ...process.env };
    for (const name of APP_VARIABLES) delete inherited[name];
    const child = spawn(process.execPath, ["--require", require.resolve("tsx/cjs"), MAIN], {
        env: { ...inherited, ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    const proc: Proc = {
        lines: [],
        stderr: "",
        exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
        next: (event) =>
            new Promise((resolve, reject) => {
                const found = () => proc.lines.find((l) => l.event === event);
                const poll = setInterval(() => {
                    if (found()) {
                        clearInterval(poll);
                        resolve(found()!);
                    } else if (child.exitCode !== null) {
                        clearInterval(poll);
                        reject(new Error(`exited before ${event}: ${proc.stderr}`));
                    }
                }, 10);
            }),
        kill: (signal) => child.kill(signal),
    };
    let buffer = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf("\n")) >= 0) {
            proc.lines.push(JSON.parse(buffer.slice(0, nl)));
            buffer = buffer.slice(nl + 1);
        }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (proc.stderr += chunk));
    return proc;
}

test("an invalid variable stops the start with exit code 2 and a message naming it", async () => {
    const p = run({ DRAIN_SECONDS: "soon" });
    expect(await p.exited).toBe(2);
    expect(JSON.parse(p.stderr)).toEqual({ event: "config-error", variable: "DRAIN_SECONDS", error: 'DRAIN_SECONDS must be a number of seconds from 0 up to 86400 (e.g. 5 or 0.5); got "soon"' });
    expect(p.lines).toEqual([]);
});

test("a secret file that cannot be read stops the start (exit 2) naming the variable, not the file's content", async () => {
    const p = run({ PGHOST: "db", PGPASSWORD_FILE: "/nonexistent/pg-password" });
    expect(await p.exited).toBe(2);
    expect(JSON.parse(p.stderr)).toEqual({
        event: "config-error",
        variable: "PGPASSWORD_FILE",
        error: 'PGPASSWORD_FILE must name a readable file (a Docker secret, e.g. /run/secrets/app-db-password); cannot read "/nonexistent/pg-password"',
    });
});

test("SIGTERM: logs draining, closing and stopped as JSON lines, and exits 0", async () => {
    const p = run({ PORT: "0", INSTANCE: "web.1.xyz", DRAIN_SECONDS: "0.2", MEMORY_LIMIT_BYTES: "max" });
    try {
        const listening = await p.next("listening");
        expect(listening).toMatchObject({
            instance: "web.1.xyz",
            memoryGuard: "off",
            memoryLimitSource: "MEMORY_LIMIT_BYTES",
            postgres: "off (no PGHOST: the to-do endpoints answer 404)",
            redis: "off (no REDIS_SENTINELS: nothing is cached)",
        });
        expect((await request(listening.port, "/")).json).toMatchObject({ instance: "web.1.xyz" });
        p.kill("SIGTERM");
        expect(await p.exited).toBe(0);
        expect(p.lines.map((l) => l.event)).toEqual(["listening", "draining", "closing", "stopped"]);
        expect(p.lines[1]).toMatchObject({ reason: "SIGTERM", drainSeconds: 0.2 });
        expect(p.stderr).toBe("");
    } finally {
        p.kill("SIGKILL");
    }
});
