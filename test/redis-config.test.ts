/**
 * The Redis tier (components/redis renderers, images/redis entrypoints): the exact text of both
 * renderers for one input, so any change to the output is a deliberate diff here; wrong inputs
 * refused with the field named; the real redis-server and redis-sentinel running what they
 * render; and the entrypoints themselves (shellcheck, then run on loopback): three Redis and
 * three Sentinels, the master SIGKILLed, a replica promoted and taking writes within 5 s of
 * down-after (measured and printed), the old master back as a replica, and no way in without
 * the password. Every process started here is killed in afterAll, also when a test fails.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePorts } from "./support/ports";
import { renderRedisConf, type RedisConfInput } from "../components/redis/redis-conf";
import { renderSentinelConf, SENTINEL_MONITOR_MARKER, type SentinelConfInput } from "../components/redis/sentinel-conf";

const IMAGE_DIR = path.join(__dirname, "..", "images", "redis");
const REDIS_ENTRYPOINT = path.join(IMAGE_DIR, "redis-entrypoint.sh");
const SENTINEL_ENTRYPOINT = path.join(IMAGE_DIR, "sentinel-entrypoint.sh");
const CHECK = path.join(IMAGE_DIR, "check.sh");
const HEALTH = path.join(IMAGE_DIR, "health.sh");
const SENTINEL_HEALTH = path.join(IMAGE_DIR, "sentinel-health.sh");
/** Quotes, a backslash, spaces and a '$': the entrypoints must carry it into the configs intact. */
const PASSWORD = 'pa ss"wo\\rd $HOME x';
const IS_ROOT = process.getuid?.() === 0;

let work: string;
beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-redis-"));
    // The servers run as the redis user (the entrypoints drop to it): it must get through.
    fs.chmodSync(work, 0o755);
});
afterAll(async () => {
    await stopAll();
    fs.rmSync(work, { recursive: true, force: true });
});

/** What components/redis/index.ts renders (its defaults). */
const redisInput = (over: Partial<RedisConfInput> = {}): RedisConfInput => ({ port: 6379, minReplicasToWrite: 1, minReplicasMaxLagSeconds: 5, appendonly: true, ...over });
const sentinelInput = (over: Partial<SentinelConfInput> = {}): SentinelConfInput => ({
    port: 26379,
    masterName: "mymaster",
    downAfterMs: 3000,
    failoverTimeoutMs: 5000,
    parallelSyncs: 64,
    ...over,
});

const EXPECTED_REDIS = `# redis.conf (static part), rendered by swarm-ha (components/redis/redis-conf.ts): change it there.
# The entrypoint (swarm-ha-redis) copies it and includes, after it, a runtime file with the
# password, this task's address and its master: none of them is written here.
port 6379
# Every interface of the task: the overlay network (clients, replicas, Sentinels) and loopback
# (the health check). The password and the overlay protect it; protected mode, which refuses
# remote clients only when there is no password, would add nothing.
bind 0.0.0.0
protected-mode no
# The service's volume: the append-only file and snapshots outlive the task.
dir /data
# Idle clients are never cut: connection pools and the Sentinels hold idle connections by
# design. TCP keepalive probes an idle peer after 60s, so the connection of one that vanished
# (a killed task, a dead node) is closed within about 2 minutes instead of never.
timeout 0
tcp-keepalive 60
# Every write goes to the append-only file, fsynced once a second: a crash or a SIGKILL
# loses about a second of writes at most.
appendonly yes
appendfsync everysec
# Bounded write loss: a master that does not see 1 replica(s) at most 5s behind
# refuses writes. A master cut off from its replicas (the side a failover abandons) stops
# taking writes the failover would lose within 5s; the price is that writes also stop
# while fewer than 1 replica(s) are up.
min-replicas-to-write 1
min-replicas-max-lag 5
# A replica that lost its master (a failover is under way) keeps serving reads of what it has.
replica-serve-stale-data yes
# At SIGTERM, Redis waits up to 10s for lagging replicas to catch up, then saves and exits. The
# service's stop grace period must be longer, with room for that save (swarm-ha gives 30s;
# Docker's default 10s would SIGKILL it before the save).
shutdown-timeout 10
`;

const EXPECTED_SENTINEL = `# sentinel.conf (static part), rendered by swarm-ha (components/redis/sentinel-conf.ts): change it there.
# The entrypoint (swarm-ha-sentinel) builds the Sentinel's own file on its volume from this one,
# adding the master to monitor, this task's address and the password: none is written here.
port 26379
# Every interface of the task: the overlay network and loopback. The password protects it.
bind 0.0.0.0
protected-mode no
# The service's volume: Sentinel keeps its id, epochs and what it learned there, and finds
# them again after a restart.
dir /data
# IP addresses only (the defaults, written out). A dead Swarm task's name stops resolving,
# which is exactly when a failover needs it: in hostname mode the failover then never
# happens (redis/redis#11241, #12184). Each task announces its own IP instead.
sentinel resolve-hostnames no
sentinel announce-hostnames no
# No notification or reconfiguration script can be set at run time (the default, written out).
sentinel deny-scripts-reconfig yes

# The master: the settings below must follow its 'sentinel monitor' line.
# swarm-ha: the entrypoint puts 'sentinel monitor' and 'sentinel auth-pass' on this line
# Down after 3000ms without a valid reply, so a failover takes about 4.5s (Sentinel's
# default 30s makes it 30-35s). Lower is faster but not safer: on a busy 2-core node a
# Redis that forks for a rewrite or a full sync, or waits for the CPU, can miss pings for a
# second or more, and each false alarm is a real failover (500ms gave false ones,
# redis/redis#8607; 3000ms failed over in about 4.5s, #12520).
sentinel down-after-milliseconds mymaster 3000
# Sentinel's default is 3 minutes: a failover that stalls (no replica fit to promote) is
# retried after twice this, so 5s means a retry within 10s, not 6 minutes. It also bounds how
# long the Sentinel that led a failover names the old master: it switches once every replica it
# knows follows the new one, and the dead addresses of earlier Redis tasks never do.
sentinel failover-timeout mymaster 5000
# Up to 64 replicas are pointed at a new master at once: with one at a time the live replica
# can wait behind the dead address of an earlier task, while the new master, wanting
# min-replicas-to-write replicas, refuses writes.
sentinel parallel-syncs mymaster 64
`;

/** The lines of `b` that are not in `a`. */
const added = (a: string, b: string) => b.split("\n").filter((l) => !a.split("\n").includes(l));

describe("exact output", () => {
    test.each([
        ["redis.conf (what the component renders)", () => renderRedisConf(redisInput()), EXPECTED_REDIS],
        ["sentinel.conf (what the component renders)", () => renderSentinelConf(sentinelInput()), EXPECTED_SENTINEL],
        ["redis.conf from the port alone (the defaults)", () => renderRedisConf({ port: 6379 }), EXPECTED_REDIS],
        ["sentinel.conf from the port and name alone (the defaults)", () => renderSentinelConf({ port: 26379, masterName: "mymaster" }), EXPECTED_SENTINEL],
    ])("%s", (_name, render, expected) => {
        expect(render()).toBe(expected);
    });

    test("without the append-only file, with no write bound, with a memory ceiling: only those lines change", () => {
        const text = renderRedisConf(redisInput({ appendonly: false, minReplicasToWrite: 0, maxmemoryMb: 192 }));
        expect(added(text, EXPECTED_REDIS)).toEqual([
            "# Every write goes to the append-only file, fsynced once a second: a crash or a SIGKILL",
            "# loses about a second of writes at most.",
            "appendonly yes",
            "appendfsync everysec",
            "# Bounded write loss: a master that does not see 1 replica(s) at most 5s behind",
            "# refuses writes. A master cut off from its replicas (the side a failover abandons) stops",
            "# taking writes the failover would lose within 5s; the price is that writes also stop",
            "# while fewer than 1 replica(s) are up.",
            "min-replicas-to-write 1",
        ]);
        expect(added(EXPECTED_REDIS, text)).toEqual([
            "# Snapshots only (Redis's schedule): a crash loses the writes since the last one.",
            "appendonly no",
            "# No bound on write loss: a master cut off from its replicas keeps taking writes a failover loses.",
            "min-replicas-to-write 0",
            "# A ceiling below the container's memory limit. Once full, the least recently used keys",
            "# that expire (cached, with a TTL) go first; once only keys without an expiry (data) are",
            "# left, writes fail with an OOM error rather than drop any of them.",
            "maxmemory 192mb",
            "maxmemory-policy volatile-lru",
        ]);
    });

    test("the per-master settings name the master and follow the marker, the one line the entrypoint replaces", () => {
        const lines = renderSentinelConf(sentinelInput({ masterName: "cache.eu-1", downAfterMs: 5000, failoverTimeoutMs: 60_000, parallelSyncs: 2 })).split("\n");
        const marker = lines.indexOf(SENTINEL_MONITOR_MARKER);
        const perMaster = lines.filter((l) => /^sentinel (down-after-milliseconds|failover-timeout|parallel-syncs) /.test(l));
        expect(perMaster).toEqual(["sentinel down-after-milliseconds cache.eu-1 5000", "sentinel failover-timeout cache.eu-1 60000", "sentinel parallel-syncs cache.eu-1 2"]);
        for (const l of perMaster) expect(lines.indexOf(l)).toBeGreaterThan(marker);
        expect(lines.filter((l) => l === SENTINEL_MONITOR_MARKER)).toHaveLength(1);
    });

    test("neither file holds a password, an address or a master: the entrypoints add them at start", () => {
        for (const text of [renderRedisConf(redisInput({ maxmemoryMb: 100 })), renderSentinelConf(sentinelInput())]) {
            const directives = text.split("\n").filter((l) => l && !l.startsWith("#"));
            expect(directives.filter((l) => /^(requirepass|masterauth|masteruser|user|replicaof|slaveof|replica-announce-ip|sentinel (monitor|auth-pass|announce-ip))\b/.test(l))).toEqual([]);
            expect(text).not.toMatch(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b(?<!0\.0\.0\.0)/);
        }
    });
});

describe("wrong inputs are refused, naming the field", () => {
    test.each<[string, Partial<RedisConfInput>]>([
        ["port", { port: 0 }],
        ["port", { port: 65536 }],
        ["port", { port: 6379.5 }],
        ["port", { port: NaN }],
        ["minReplicasToWrite", { minReplicasToWrite: -1 }],
        ["minReplicasToWrite", { minReplicasToWrite: 1.5 }],
        ["minReplicasToWrite", { minReplicasToWrite: 101 }],
        ["minReplicasMaxLagSeconds", { minReplicasMaxLagSeconds: 0 }],
        ["minReplicasMaxLagSeconds", { minReplicasMaxLagSeconds: 61 }],
        ["appendonly", { appendonly: "yes" as unknown as boolean }],
        ["maxmemoryMb", { maxmemoryMb: 0 }],
        ["maxmemoryMb", { maxmemoryMb: 8 }],
        ["maxmemoryMb", { maxmemoryMb: 100.5 }],
    ])("redis.conf: %s %j", (field, over) => {
        expect(() => renderRedisConf(redisInput(over))).toThrow(new RegExp(`^swarm-ha: redis\\.conf: cannot render:\\n  (.*\\n  )*${field}: `));
    });

    test.each<[string, Partial<SentinelConfInput>]>([
        ["port", { port: -1 }],
        ["masterName", { masterName: "" }],
        ["masterName", { masterName: "my master" }],
        ["masterName", { masterName: "mymaster\nsentinel monitor evil 192.0.2.1 6379 1" }],
        ["masterName", { masterName: "x".repeat(65) }],
        ["downAfterMs", { downAfterMs: 500 }],
        ["downAfterMs", { downAfterMs: 60_001 }],
        ["downAfterMs", { downAfterMs: 2500.5 }],
        ["failoverTimeoutMs", { failoverTimeoutMs: 1000 }],
        ["failoverTimeoutMs", { failoverTimeoutMs: 3_600_001 }],
        ["parallelSyncs", { parallelSyncs: 0 }],
        ["parallelSyncs", { parallelSyncs: 65 }],
    ])("sentinel.conf: %s %j", (field, over) => {
        expect(() => renderSentinelConf(sentinelInput(over))).toThrow(new RegExp(`^swarm-ha: sentinel\\.conf: cannot render:\\n  (.*\\n  )*${field}: `));
    });

    test("every problem is listed at once", () => {
        expect(() => renderRedisConf(redisInput({ port: 0, minReplicasMaxLagSeconds: 0 }))).toThrow(
            "swarm-ha: redis.conf: cannot render:\n" +
                "  port: must be an integer from 1 to 65535 (got 0)\n" +
                "  minReplicasMaxLagSeconds: must be an integer from 1 to 60 (seconds) (got 0)",
        );
        expect(() => renderSentinelConf(sentinelInput({ masterName: "a b", downAfterMs: 100 }))).toThrow(
            "swarm-ha: sentinel.conf: cannot render:\n" +
                "  masterName: must be 1-64 letters, digits, '.', '_' or '-', e.g. mymaster (got \"a b\")\n" +
                "  downAfterMs: must be an integer from 1000 to 60000 (ms); below 1000 a busy node triggers false failovers (got 100)",
        );
    });
});

// ---------------------------------------------------------------------------------------------
// Processes: every one started here is in `procs`, in its own process group, and killed (the
// whole group) in afterAll.

interface Proc {
    name: string;
    child: ChildProcess;
    output: string;
    exited: Promise<void>;
}
const procs: Proc[] = [];

function start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): Proc {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const proc: Proc = { name, child, output: "", exited: new Promise((resolve) => child.once("close", () => resolve())) };
    child.stdout!.on("data", (d) => (proc.output += d));
    child.stderr!.on("data", (d) => (proc.output += d));
    procs.push(proc);
    return proc;
}

const running = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

async function kill(p: Proc, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (running(p)) {
        try {
            process.kill(-p.child.pid!, signal);
        } catch {
            // Already gone.
        }
    }
    await p.exited;
}

async function stopAll(): Promise<void> {
    await Promise.all(procs.map((p) => kill(p)));
}

/** The output of every process, for a failure message. */
const logs = () => procs.map((p) => `--- ${p.name}${running(p) ? "" : " (exited)"}\n${p.output.slice(-3000)}`).join("\n");


/** redis-cli against 127.0.0.1:port; the password (when given) through REDISCLI_AUTH, as in production. Never throws: errors are the text. */
function cli(port: number, args: string[], auth: string | null = PASSWORD): Promise<string> {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    if (auth !== null) env.REDISCLI_AUTH = auth;
    return new Promise((resolve) => {
        execFile("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "--raw", ...args], { env, timeout: 3000, encoding: "utf8" }, (error, stdout, stderr) => {
            resolve(`${stdout}${stderr}`.trim() || (error ? `ERROR ${error.message}` : ""));
        });
    });
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await probe();
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}\n${logs()}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** `SENTINEL master <name>` as a map of its fields. */
async function sentinelMaster(port: number): Promise<Record<string, string>> {
    const lines = (await cli(port, ["SENTINEL", "master", "mymaster"])).split("\n");
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < lines.length; i += 2) fields[lines[i]] = lines[i + 1];
    return fields;
}

function write(file: string, text: string, mode = 0o644): string {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text, { mode });
    return file;
}

/** A value as one double-quoted word of a Redis config file (what the entrypoints' conf_quote does). */
const confQuote = (value: string) => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

// ---------------------------------------------------------------------------------------------
// The real programs, on the rendered files.

describe("the real redis-server and redis-sentinel run the rendered files", () => {
    let redisPort: number;
    let sentinelPort: number;
    let redis: Proc;

    beforeAll(async () => {
        [redisPort, sentinelPort] = await freePorts(2);
        // The one change: dir, from the service's volume to the test's directory.
        const dir = path.join(work, "plain-redis");
        fs.mkdirSync(dir);
        const text = renderRedisConf(redisInput({ port: redisPort, maxmemoryMb: 64 }));
        const runtime = write(path.join(dir, "runtime.conf"), `requirepass ${confQuote(PASSWORD)}\nmasterauth ${confQuote(PASSWORD)}\n`, 0o600);
        const file = write(path.join(dir, "redis.conf"), `${text.replace("dir /data\n", `dir ${dir}\n`)}include ${runtime}\n`, 0o600);
        redis = start("plain redis-server", "redis-server", [file], { PATH: process.env.PATH });
        await waitFor("redis-server to answer", 10_000, async () => (await cli(redisPort, ["PING"])) === "PONG");
    }, 20_000);

    test("redis-server answers only with the password, with the settings rendered", async () => {
        expect(await cli(redisPort, ["PING"], null)).toBe("NOAUTH Authentication required.");
        expect(await cli(redisPort, ["PING"], "wrong")).toMatch(/WRONGPASS|invalid username-password/);
        expect(await cli(redisPort, ["PING"])).toBe("PONG");
        const settings = await cli(redisPort, ["CONFIG", "GET", "*"]);
        const get = (name: string) => {
            const lines = settings.split("\n");
            return lines[lines.indexOf(name) + 1];
        };
        expect(
            ["appendonly", "appendfsync", "min-replicas-to-write", "min-replicas-max-lag", "replica-serve-stale-data", "shutdown-timeout", "protected-mode", "timeout", "tcp-keepalive", "maxmemory", "maxmemory-policy"].map((n) => `${n}=${get(n)}`),
        ).toEqual([
            "appendonly=yes",
            "appendfsync=everysec",
            "min-replicas-to-write=1",
            "min-replicas-max-lag=5",
            "replica-serve-stale-data=yes",
            "shutdown-timeout=10",
            "protected-mode=no",
            "timeout=0",
            "tcp-keepalive=60",
            `maxmemory=${64 * 1024 * 1024}`,
            "maxmemory-policy=volatile-lru",
        ]);
        // min-replicas-to-write 1 and no replica: a lone master refuses writes, as rendered.
        expect(await cli(redisPort, ["SET", "k", "v"])).toMatch(/^NOREPLICAS/);
    });

    test("redis-sentinel, with the monitor line on the marker, monitors the master with the rendered settings", async () => {
        const dir = path.join(work, "plain-sentinel");
        fs.mkdirSync(dir);
        const text = renderSentinelConf(sentinelInput({ port: sentinelPort }))
            .replace("dir /data\n", `dir ${dir}\n`)
            .replace(SENTINEL_MONITOR_MARKER, `sentinel monitor mymaster 127.0.0.1 ${redisPort} 1\nsentinel auth-pass mymaster ${confQuote(PASSWORD)}`);
        const file = write(path.join(dir, "sentinel.conf"), `${text}requirepass ${confQuote(PASSWORD)}\n`, 0o600);
        const sentinel = start("plain redis-sentinel", "redis-sentinel", [file], { PATH: process.env.PATH });
        try {
            await waitFor("the Sentinel to report its master", 10_000, async () => (await cli(sentinelPort, ["SENTINEL", "get-master-addr-by-name", "mymaster"])) === `127.0.0.1\n${redisPort}`);
            expect(await cli(sentinelPort, ["PING"], null)).toBe("NOAUTH Authentication required.");
            // It got in with auth-pass: it has a valid reply from the master, which it does not call down.
            const master = await waitFor("a valid ping reply", 5000, async () => {
                const m = await sentinelMaster(sentinelPort);
                return Number(m["last-ok-ping-reply"]) < 2000 && m;
            });
            expect([master.flags, master["down-after-milliseconds"], master["failover-timeout"], master["parallel-syncs"], master.quorum]).toEqual(["master", "3000", "5000", "64", "1"]);
        } finally {
            await kill(sentinel);
        }
    }, 20_000);

    test("at its memory ceiling, the rendered Redis evicts cached keys (with a TTL) and refuses writes rather than drop data (no TTL)", async () => {
        const [port] = await freePorts(1);
        const dir = path.join(work, "full-redis");
        fs.mkdirSync(dir);
        const text = renderRedisConf(redisInput({ port, maxmemoryMb: 16, minReplicasToWrite: 0, appendonly: false })).replace("dir /data\n", `dir ${dir}\n`);
        const file = write(path.join(dir, "redis.conf"), `${text}requirepass ${confQuote(PASSWORD)}\n`, 0o600);
        const full = start("full redis-server", "redis-server", [file], { PATH: process.env.PATH });
        try {
            await waitFor("redis-server to answer", 10_000, async () => (await cli(port, ["PING"])) === "PONG");
            // 1 MiB each (SETRANGE pads with zeros): 8 data keys, then 40 cached ones, more than the ceiling holds.
            for (let i = 0; i < 8; i++) expect(await cli(port, ["SETRANGE", `data:${i}`, String(1024 * 1024 - 1), "x"])).toBe(String(1024 * 1024));
            for (let i = 0; i < 40; i++) {
                expect(await cli(port, ["SETRANGE", `cache:${i}`, String(1024 * 1024 - 1), "x"])).toBe(String(1024 * 1024));
                expect(await cli(port, ["EXPIRE", `cache:${i}`, "600"])).toBe("1");
            }
            const info = await cli(port, ["INFO", "stats"]);
            expect(Number(info.match(/^evicted_keys:(\d+)/m)![1])).toBeGreaterThan(20);
            for (let i = 0; i < 8; i++) expect(await cli(port, ["EXISTS", `data:${i}`])).toBe("1");
            // Only data left to evict: a write that needs room is refused, loudly.
            let refused = "";
            for (let i = 8; i < 40 && !refused; i++) {
                const reply = await cli(port, ["SETRANGE", `data:${i}`, String(1024 * 1024 - 1), "x"]);
                if (reply.startsWith("OOM")) refused = reply;
            }
            expect(refused).toMatch(/^OOM command not allowed when used memory > 'maxmemory'/);
            for (let i = 0; i < 8; i++) expect(await cli(port, ["EXISTS", `data:${i}`])).toBe("1");
        } finally {
            await kill(full);
        }
    }, 30_000);

    test("each program refuses a broken file, so a pass above means something", async () => {
        const text = renderRedisConf(redisInput({ port: redisPort }));
        const typo = write(path.join(work, "typo-redis.conf"), text.replace("dir /data\n", `dir ${work}\n`).replace("appendfsync everysec", "appendfsync every-second"));
        const r = spawnSync("redis-server", [typo], { encoding: "utf8", timeout: 5000 });
        expect(`${r.status}\n${r.stdout}${r.stderr}`).toMatch(/^1\n[\s\S]*FATAL CONFIG FILE ERROR[\s\S]*appendfsync/);
        // The per-master settings before the monitor line (the marker left in place): refused.
        const unmonitored = write(path.join(work, "unmonitored-sentinel.conf"), renderSentinelConf(sentinelInput({ port: sentinelPort })).replace("dir /data\n", `dir ${work}\n`));
        const s = spawnSync("redis-sentinel", [unmonitored], { encoding: "utf8", timeout: 5000 });
        expect(`${s.status}\n${s.stdout}${s.stderr}`).toMatch(/^1\n[\s\S]*FATAL CONFIG FILE ERROR[\s\S]*No such master with specified name/);
    });

    afterAll(async () => {
        if (redis) await kill(redis);
    });
});

// ---------------------------------------------------------------------------------------------
// The entrypoints.

function shellcheck(file: string): string {
    const r = spawnSync("shellcheck", ["--shell=sh", "--severity=style", file], { encoding: "utf8" });
    if (r.error) throw new Error(`shellcheck is not installed (bash test/tools.sh installs it): ${r.error.message}`);
    return r.stdout + r.stderr;
}

describe("the entrypoints", () => {
    test("every script passes shellcheck, the Sentinel's looks for the renderer's marker, and the image installs the health step's check", () => {
        const files = fs.readdirSync(IMAGE_DIR).filter((f) => f.endsWith(".sh")).sort();
        expect(files).toEqual(["check.sh", "health.sh", "lib.sh", "redis-entrypoint.sh", "sentinel-entrypoint.sh", "sentinel-health.sh"]);
        for (const f of files) expect(`${f}: ${shellcheck(path.join(IMAGE_DIR, f))}`).toBe(`${f}: `);
        expect(fs.readFileSync(SENTINEL_ENTRYPOINT, "utf8")).toContain(`MARKER="${SENTINEL_MONITOR_MARKER}"\n`);
        const dockerfile = fs.readFileSync(path.join(IMAGE_DIR, "Dockerfile"), "utf8");
        expect(dockerfile).toContain("ln -s /usr/local/lib/swarm-ha-redis/check.sh /usr/local/bin/swarm-ha-redis-check");
        // The services' health checks run these links (components/redis/index.ts).
        expect(dockerfile).toContain("ln -s /usr/local/lib/swarm-ha-redis/health.sh /usr/local/bin/swarm-ha-redis-health");
        expect(dockerfile).toContain("ln -s /usr/local/lib/swarm-ha-redis/sentinel-health.sh /usr/local/bin/swarm-ha-sentinel-health");
    });

    /** Runs an entrypoint that must fail before it starts anything. */
    function runFailing(script: string, env: Record<string, string>) {
        const r = spawnSync("sh", [script], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8", timeout: 10_000 });
        return `exit ${r.status}\n${r.stderr}`;
    }

    test("they refuse to start, saying why: no address in the subnet, no password, a missing variable", () => {
        const secret = write(path.join(work, "refusals", "password"), "secret\n", 0o400);
        const empty = write(path.join(work, "refusals", "empty"), "", 0o400);
        const config = write(path.join(work, "refusals", "redis.conf"), renderRedisConf(redisInput()));
        const sentinelConfig = write(path.join(work, "refusals", "sentinel.conf"), renderSentinelConf(sentinelInput()));
        const env = {
            REDIS_PASSWORD_FILE: secret,
            ANNOUNCE_SUBNET: "203.0.113.0/24",
            SENTINELS: "127.0.0.1:1",
            MASTER_NAME: "mymaster",
            INITIAL_MASTER: "localhost:6379",
            SELF: "localhost:6379",
            REDIS_SERVERS: "localhost:6379",
            REDIS_PORT: "6379",
            SENTINEL_PORT: "26379",
            QUORUM: "1",
            REDIS_CONFIG: config,
            SENTINEL_CONFIG: sentinelConfig,
            DATA_DIR: path.join(work, "refusals", "data"),
            RUN_DIR: path.join(work, "refusals", "run"),
        };
        for (const script of [REDIS_ENTRYPOINT, SENTINEL_ENTRYPOINT]) {
            const name = path.basename(script);
            expect(runFailing(script, env)).toMatch(new RegExp(`^exit 1\\n${name}: error: this task has no IPv4 address in ANNOUNCE_SUBNET 203\\.0\\.113\\.0/24 \\(it has: .*127\\.0\\.0\\.1`));
            expect(runFailing(script, { ...env, ANNOUNCE_SUBNET: "10.0.1.0" })).toContain("ANNOUNCE_SUBNET must be an IPv4 subnet like 10.0.1.0/24 (got '10.0.1.0')");
            expect(runFailing(script, { ...env, REDIS_PASSWORD_FILE: empty })).toContain(`the password file ${empty} is empty`);
            expect(runFailing(script, { ...env, REDIS_PASSWORD_FILE: path.join(work, "nowhere") })).toContain("cannot read the password file");
            expect(runFailing(script, { ...env, MASTER_NAME: "" })).toContain("the environment variable MASTER_NAME is not set");
            expect(runFailing(script, { ...env, INITIAL_MASTER: "localhost" })).toContain("INITIAL_MASTER must be host:port (got 'localhost')");
        }
        expect(runFailing(REDIS_ENTRYPOINT, { ...env, REDIS_SERVERS: "" })).toContain("the environment variable REDIS_SERVERS is not set");
        expect(runFailing(SENTINEL_ENTRYPOINT, { ...env, QUORUM: "2" })).toContain("QUORUM must be a whole number from 1 to the number of Sentinels, 1 (got '2')");
        const noMarker = write(path.join(work, "refusals", "no-marker.conf"), renderSentinelConf(sentinelInput()).replace(`${SENTINEL_MONITOR_MARKER}\n`, ""));
        expect(runFailing(SENTINEL_ENTRYPOINT, { ...env, SENTINEL_CONFIG: noMarker })).toContain("has no marker line for 'sentinel monitor'");
        // Nothing was started, nothing written.
        expect(fs.existsSync(env.DATA_DIR)).toBe(false);
        expect(fs.existsSync(env.RUN_DIR)).toBe(false);
    });

    test("each execs its server with the config file alone, as the redis user, with umask 077, and no password in its arguments or environment", async () => {
        // Stand-ins for the servers, first on PATH: they print what they were started with.
        const bin = path.join(work, "fake-bin");
        const fake = `#!/bin/sh\necho "user=$(id -un) umask=$(umask)"\nprintf 'arg=%s\\n' "$@"\nenv | sort\n`;
        for (const name of ["redis-server", "redis-sentinel"]) write(path.join(bin, name), fake, 0o755);
        const [nobody] = await freePorts(1);
        const secret = write(path.join(work, "exec", "password"), `${PASSWORD}\n`, 0o400);
        const env = {
            PATH: `${bin}:${process.env.PATH}`,
            REDIS_PASSWORD_FILE: secret,
            ANNOUNCE_SUBNET: "127.0.0.0/8",
            SENTINELS: `127.0.0.1:${nobody}`,
            MASTER_NAME: "mymaster",
            INITIAL_MASTER: "localhost:6379",
            SELF: "localhost:6379",
            REDIS_SERVERS: "localhost:6379",
            REDIS_PORT: "6379",
            SENTINEL_PORT: "26379",
            QUORUM: "1",
            REDIS_CONFIG: write(path.join(work, "exec", "redis.conf"), renderRedisConf(redisInput())),
            SENTINEL_CONFIG: write(path.join(work, "exec", "sentinel.conf"), renderSentinelConf(sentinelInput())),
            ASK_TIMEOUT: "1",
        };
        const cases = [
            { script: REDIS_ENTRYPOINT, env: { ...env, DATA_DIR: path.join(work, "exec", "redis-data"), RUN_DIR: path.join(work, "exec", "run") }, config: path.join(work, "exec", "run", "redis.conf"), holdsPassword: path.join(work, "exec", "run", "runtime.conf") },
            { script: SENTINEL_ENTRYPOINT, env: { ...env, DATA_DIR: path.join(work, "exec", "sentinel-data") }, config: path.join(work, "exec", "sentinel-data", "sentinel.conf"), holdsPassword: path.join(work, "exec", "sentinel-data", "sentinel.conf") },
        ];
        for (const c of cases) {
            const r = spawnSync("sh", [c.script], { env: c.env, encoding: "utf8", timeout: 20_000 });
            expect(`${path.basename(c.script)}: exit ${r.status}`).toBe(`${path.basename(c.script)}: exit 0`);
            const lines = r.stdout.split("\n");
            expect(lines.slice(0, 2)).toEqual([`user=${IS_ROOT ? "redis" : os.userInfo().username} umask=0077`, `arg=${c.config}`]);
            expect(lines[2]).not.toMatch(/^arg=/);
            expect(r.stdout).not.toContain(PASSWORD);
            expect(r.stdout).not.toMatch(/^REDISCLI_AUTH=/m);
            expect(r.stderr).not.toContain(PASSWORD);
            // Where the server reads it: a 0600 file of the redis user's.
            expect(fs.readFileSync(c.holdsPassword, "utf8")).toContain(confQuote(PASSWORD));
        }
    });

    test("a cluster that moved to another network (every address changed at once): a master named outside ANNOUNCE_SUBNET is ignored, so INITIAL_MASTER leads instead of everyone waiting for an address that is gone", async () => {
        const [redisPort, staleSentinelPort, sentinelPort] = await freePorts(3);
        const dir = path.join(work, "moved");
        const secret = write(path.join(dir, "password"), `${PASSWORD}\n`, 0o400);
        // A Sentinel still on the old network: it names the old master's address (outside 127.0.0.0/8).
        const stale = write(
            path.join(dir, "stale-sentinel", "sentinel.conf"),
            [`port ${staleSentinelPort}`, `dir ${path.join(dir, "stale-sentinel")}`, `requirepass ${confQuote(PASSWORD)}`, "sentinel monitor mymaster 10.255.0.9 6379 1", `sentinel auth-pass mymaster ${confQuote(PASSWORD)}`, ""].join("\n"),
            0o600,
        );
        start("stale sentinel", "redis-sentinel", [stale], { PATH: process.env.PATH });
        await waitFor("the stale Sentinel to name 10.255.0.9", 10_000, async () => (await cli(staleSentinelPort, ["SENTINEL", "get-master-addr-by-name", "mymaster"])) === "10.255.0.9\n6379");
        const common = {
            PATH: process.env.PATH,
            REDIS_PASSWORD_FILE: secret,
            ANNOUNCE_SUBNET: "127.0.0.0/8",
            SENTINELS: `127.0.0.1:${staleSentinelPort} 127.0.0.1:${sentinelPort}`,
            MASTER_NAME: "mymaster",
            INITIAL_MASTER: `localhost:${redisPort}`,
            SELF: `localhost:${redisPort}`,
            REDIS_SERVERS: `localhost:${redisPort}`,
            REDIS_PORT: String(redisPort),
            SENTINEL_PORT: String(sentinelPort),
            QUORUM: "1",
            ASK_TIMEOUT: "1",
            // Were the old address believed, the Redis would wait this long for it, then fail.
            MASTER_WAIT_SECONDS: "60",
        };
        const redis = start("moved redis", "sh", [REDIS_ENTRYPOINT], {
            ...common,
            REDIS_CONFIG: write(path.join(dir, "redis.conf"), renderRedisConf(redisInput({ minReplicasToWrite: 0 }))),
            DATA_DIR: path.join(dir, "redis-data"),
            RUN_DIR: path.join(dir, "redis-run"),
        });
        await waitFor("INITIAL_MASTER to start as the master", 15_000, async () => (await cli(redisPort, ["ROLE"])).startsWith("master"));
        expect(redis.output).toContain(`Sentinel 127.0.0.1:${staleSentinelPort}: names 10.255.0.9:6379, outside this network (127.0.0.0/8): an address from before the cluster moved networks, ignored`);
        expect(redis.output).toContain("no Sentinel knows a master: this is INITIAL_MASTER, starting as the master");

        // A Sentinel whose own file, from before the move, names the old master and its replicas.
        const myid = "a".repeat(40);
        const dataDir = path.join(dir, "sentinel-data");
        write(path.join(dataDir, "sentinel.conf"), ["sentinel monitor mymaster 10.255.0.9 6379 1", `sentinel myid ${myid}`, "sentinel known-replica mymaster 10.255.0.10 6379", ""].join("\n"), 0o600);
        const sentinel = start("moved sentinel", "sh", [SENTINEL_ENTRYPOINT], { ...common, SENTINEL_CONFIG: write(path.join(dir, "sentinel.conf"), renderSentinelConf(sentinelInput())), DATA_DIR: dataDir });
        await waitFor("the moved Sentinel to monitor INITIAL_MASTER", 15_000, async () => (await cli(sentinelPort, ["SENTINEL", "get-master-addr-by-name", "mymaster"])) === `127.0.0.1\n${redisPort}`);
        expect(sentinel.output).toContain("my previous file names 10.255.0.9:6379, outside this network (127.0.0.0/8): an address from before the cluster moved networks, not used");
        expect(sentinel.output).toContain(`no Sentinel knows a master: monitoring INITIAL_MASTER localhost:${redisPort} (127.0.0.1:${redisPort})`);
        // It keeps its identity; the old master's replicas are forgotten.
        expect(await cli(sentinelPort, ["SENTINEL", "myid"])).toBe(myid);
        expect(fs.readFileSync(path.join(dataDir, "sentinel.conf"), "utf8")).not.toContain("10.255.0.10");
        await stopAll();
    }, 40_000);

    describe("three Redis and three Sentinels on loopback, started by the entrypoints", () => {
        const DOWN_AFTER_MS = 3000;
        let redisPorts: number[];
        let sentinelPorts: number[];
        /** Where the old master comes back: a new task gets a new address on Swarm. */
        let returnPort: number;
        /** Where every Redis comes back after the whole tier is killed at once. */
        let restartPorts: number[];
        const redis: Proc[] = [];
        const sentinels: Proc[] = [];
        let redisEnv: (i: number) => NodeJS.ProcessEnv;
        let sentinelEnv: (i: number) => NodeJS.ProcessEnv;
        /** Each Redis's environment after the whole tier restarted; set by that test. */
        let restartedEnv: (i: number) => NodeJS.ProcessEnv;
        /** The node the Sentinels promote; set by the failover test. */
        let promoted = -1;

        const role = async (port: number) => (await cli(port, ["ROLE"])).split("\n");
        /** The health step's check (images/redis/check.sh), as in a Redis container with `env`: "exit output". */
        const check = (env: NodeJS.ProcessEnv) => {
            const r = spawnSync("sh", [CHECK], { env, encoding: "utf8", timeout: 20_000 });
            return `${r.status} ${r.stdout}${r.stderr}`;
        };
        const masterOf = async (sentinelPort: number) => (await cli(sentinelPort, ["SENTINEL", "get-master-addr-by-name", "mymaster"])).replace("\n", ":");

        beforeAll(async () => {
            const ports = await freePorts(10);
            redisPorts = ports.slice(0, 3);
            sentinelPorts = ports.slice(3, 6);
            returnPort = ports[6];
            restartPorts = ports.slice(7, 10);
            const dir = path.join(work, "cluster");
            // As Docker mounts the secret: root-owned, 0400.
            const secret = write(path.join(dir, "secrets", "redis-password"), `${PASSWORD}\n`, 0o400);
            // The static parts exactly as the component renders them (production ports and dir):
            // the entrypoints take port and dir from their environment.
            const redisConfig = write(path.join(dir, "configs", "redis.conf"), renderRedisConf(redisInput()), 0o444);
            const sentinelConfig = write(path.join(dir, "configs", "sentinel.conf"), renderSentinelConf(sentinelInput({ downAfterMs: DOWN_AFTER_MS })), 0o444);
            const common = {
                PATH: process.env.PATH,
                REDIS_PASSWORD_FILE: secret,
                ANNOUNCE_SUBNET: "127.0.0.0/8",
                SENTINELS: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(" "),
                MASTER_NAME: "mymaster",
                // A name, resolved by the entrypoints, as a service name is on Swarm.
                INITIAL_MASTER: `localhost:${redisPorts[0]}`,
                REDIS_SERVERS: redisPorts.map((p) => `localhost:${p}`).join(" "),
                QUORUM: "2",
                ASK_TIMEOUT: "1",
                MASTER_WAIT_SECONDS: "30",
            };
            redisEnv = (i) => ({
                ...common,
                SELF: `localhost:${redisPorts[i]}`,
                REDIS_PORT: String(redisPorts[i]),
                SENTINEL_PORT: String(sentinelPorts[i]),
                REDIS_CONFIG: redisConfig,
                DATA_DIR: path.join(dir, `redis-${i}`, "data"),
                RUN_DIR: path.join(dir, `redis-${i}`, "run"),
            });
            sentinelEnv = (i) => ({
                ...common,
                SELF: `localhost:${redisPorts[i]}`,
                REDIS_PORT: String(redisPorts[i]),
                SENTINEL_PORT: String(sentinelPorts[i]),
                SENTINEL_CONFIG: sentinelConfig,
                DATA_DIR: path.join(dir, `sentinel-${i}`),
            });

            // The component's order: the Redis services (no Sentinel answers yet), then the Sentinels.
            for (let i = 0; i < 3; i++) redis[i] = start(`redis ${i}`, "sh", [REDIS_ENTRYPOINT], redisEnv(i));
            for (let i = 0; i < 3; i++) await waitFor(`redis ${i} to answer`, 15_000, async () => (await cli(redisPorts[i], ["PING"])) === "PONG");
            // The replicas' first sync (the master waits repl-diskless-sync-delay, 5s, for more replicas).
            for (const i of [1, 2]) await waitFor(`redis ${i} to sync`, 20_000, async () => (await role(redisPorts[i])).slice(0, 4).join(" ") === `slave 127.0.0.1 ${redisPorts[0]} connected`);
            sentinels[0] = start("sentinel 0", "sh", [SENTINEL_ENTRYPOINT], sentinelEnv(0));
            await waitFor("sentinel 0 to report the master", 15_000, async () => (await masterOf(sentinelPorts[0])) === `127.0.0.1:${redisPorts[0]}`);
            // These two ask sentinel 0 who the master is.
            for (const i of [1, 2]) sentinels[i] = start(`sentinel ${i}`, "sh", [SENTINEL_ENTRYPOINT], sentinelEnv(i));
            // Each Sentinel finds the others (hello messages every 2s) and the replicas (INFO).
            for (const port of sentinelPorts) {
                await waitFor(`sentinel :${port} to know 2 other Sentinels and 2 replicas`, 20_000, async () => {
                    const m = await sentinelMaster(port);
                    return m["num-other-sentinels"] === "2" && m["num-slaves"] === "2";
                });
            }
        }, 50_000);

        test("a new cluster: INITIAL_MASTER is the master, the others its replicas, and the Sentinels agree", async () => {
            expect((await role(redisPorts[0]))[0]).toBe("master");
            for (const i of [1, 2]) expect((await role(redisPorts[i])).slice(0, 4)).toEqual(["slave", "127.0.0.1", String(redisPorts[0]), "connected"]);
            for (const port of sentinelPorts) {
                expect(await masterOf(port)).toBe(`127.0.0.1:${redisPorts[0]}`);
                expect(await cli(port, ["SENTINEL", "CKQUORUM", "mymaster"])).toBe("OK 3 usable Sentinels. Quorum and failover authorization can be reached");
            }
            expect(redis[1].output).toContain(`no Sentinel knows a master: starting as a replica of INITIAL_MASTER localhost:${redisPorts[0]} (127.0.0.1:${redisPorts[0]})`);
            expect(sentinels[1].output).toContain(`monitoring 127.0.0.1:${redisPorts[0]}, the master the other Sentinels name`);
            // The health step's check agrees, from any server's container.
            expect(check(redisEnv(1))).toBe(`0 redis: master 127.0.0.1:${redisPorts[0]} named by every Sentinel; 2 replica(s) linked\n`);
        });

        test("no password-less client gets in anywhere, nor one with a wrong password", async () => {
            const questions = [
                ...redisPorts.map((port) => ({ port, ask: ["GET", "before-kill"] })),
                // What a client asks a Sentinel: where the master is.
                ...sentinelPorts.map((port) => ({ port, ask: ["SENTINEL", "get-master-addr-by-name", "mymaster"] })),
            ];
            for (const { port, ask } of questions) {
                expect(`${port}: ${await cli(port, ["PING"], null)}`).toBe(`${port}: NOAUTH Authentication required.`);
                expect(`${port}: ${await cli(port, ask, null)}`).toBe(`${port}: NOAUTH Authentication required.`);
                // redis-cli says its AUTH failed (stderr), then prints the refusal of the question.
                const wrong = await cli(port, ask, "wrong");
                expect(wrong).toMatch(/^AUTH failed: WRONGPASS /m);
                expect(wrong).toMatch(/^NOAUTH Authentication required\.$/m);
            }
        });

        test("the servers run as the redis user, the password in no command line; the files holding it are the redis user's, mode 0600", () => {
            for (const p of [...redis, ...sentinels]) {
                const pid = p.child.pid!;
                // The entrypoint exec'd the server in its own process (Redis rewrites its title there).
                const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
                expect(`${p.name}: ${cmdline.replace(/[\0 ]+$/, "")}`).toMatch(new RegExp(`^${p.name}: redis-(server|sentinel) 0\\.0\\.0\\.0:\\d+( \\[sentinel\\])?$`));
                expect(cmdline).not.toContain(PASSWORD);
                if (IS_ROOT) expect(`${p.name}: ${fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^Uid:\s+(\d+)/m)![1]}`).toBe(`${p.name}: ${redisUid()}`);
            }
            const files = [
                ...[0, 1, 2].flatMap((i) => [path.join(redisEnv(i).RUN_DIR!, "redis.conf"), path.join(redisEnv(i).RUN_DIR!, "runtime.conf")]),
                ...[0, 1, 2].map((i) => path.join(sentinelEnv(i).DATA_DIR!, "sentinel.conf")),
            ];
            for (const f of files) {
                const st = fs.statSync(f);
                expect(`${f}: ${(st.mode & 0o777).toString(8)}${IS_ROOT ? ` uid ${st.uid}` : ""}`).toBe(`${f}: 600${IS_ROOT ? ` uid ${redisUid()}` : ""}`);
            }
            // The password went into the runtime file intact, quotes, backslash and all.
            expect(fs.readFileSync(path.join(redisEnv(1).RUN_DIR!, "runtime.conf"), "utf8")).toBe(
                "# Written by swarm-ha-redis at start: what only this task knows. Mode 0600 (the password).\n" +
                    `requirepass ${confQuote(PASSWORD)}\nmasterauth ${confQuote(PASSWORD)}\nreplica-announce-ip 127.0.0.1\nreplicaof 127.0.0.1 ${redisPorts[0]}\n`,
            );
        });

        test(`SIGKILL of the master: a replica is promoted and takes writes within down-after (${DOWN_AFTER_MS} ms) + 5 s`, async () => {
            expect(await cli(redisPorts[0], ["SET", "before-kill", "kept"])).toBe("OK");
            expect(await cli(redisPorts[0], ["WAIT", "2", "2000"])).toBe("2"); // on both replicas: acknowledged
            const killedAt = Date.now();
            await kill(redis[0], "SIGKILL");
            // Swarm restarts the task at once, at a new address, while the Sentinels still name the
            // old one: its entrypoint must wait for the failover, not start as a master.
            redis[0] = start("redis 0 (restarted at a new address)", "sh", [REDIS_ENTRYPOINT], { ...redisEnv(0), REDIS_PORT: String(returnPort) });
            const tookWrites = await waitFor("a replica to take writes", DOWN_AFTER_MS + 15_000, async () => {
                for (const i of [1, 2]) {
                    if ((await cli(redisPorts[i], ["SET", "after-failover", "written"])) === "OK") return { at: Date.now(), i };
                }
                return undefined;
            });
            const elapsed = tookWrites.at - killedAt;
            promoted = tookWrites.i;
            console.log(
                `Redis failover: master SIGKILLed -> redis ${promoted} promoted and taking writes in ${elapsed} ms ` +
                    `(down-after ${DOWN_AFTER_MS} ms + ${elapsed - DOWN_AFTER_MS} ms)`,
            );
            expect(elapsed).toBeLessThanOrEqual(DOWN_AFTER_MS + 5000);
            expect(await cli(redisPorts[promoted], ["GET", "before-kill"])).toBe("kept");
            // Every Sentinel names the new master; the other replica follows it.
            for (const port of sentinelPorts) await waitFor(`sentinel :${port} to name the new master`, 10_000, async () => (await masterOf(port)) === `127.0.0.1:${redisPorts[promoted]}`);
            const other = promoted === 1 ? 2 : 1;
            await waitFor(`redis ${other} to follow the new master`, 10_000, async () => (await role(redisPorts[other])).slice(0, 4).join(" ") === `slave 127.0.0.1 ${redisPorts[promoted]} connected`);
            // Sentinel's CONFIG REWRITE went into the promoted Redis's own config, which stayed 0600.
            const config = path.join(redisEnv(promoted).RUN_DIR!, "redis.conf");
            expect(fs.readFileSync(config, "utf8")).toContain("# Generated by CONFIG REWRITE");
            expect((fs.statSync(config).mode & 0o777).toString(8)).toBe("600");
        }, 40_000);

        test("the old master, restarted by its entrypoint during the failover, waits for it and comes back as a replica of the new one", async () => {
            expect(promoted).toBeGreaterThan(0);
            await waitFor("the old master to be a connected replica of the new one", 20_000, async () => (await role(returnPort)).slice(0, 4).join(" ") === `slave 127.0.0.1 ${redisPorts[promoted]} connected`);
            expect(redis[0].output).toContain(`the Sentinels name 127.0.0.1:${redisPorts[0]}, which does not answer as a master (no answer): a failover may be under way; asking again`);
            // Either the Sentinels named the new master by then, or the promoted replica already
            // answered as a master while they still named the dead one: both lead to it.
            const p = redisPorts[promoted];
            expect(redis[0].output).toMatch(new RegExp(`starting as a replica of 127\\.0\\.0\\.1:${p}\\n|127\\.0\\.0\\.1:${p} answers as a master \\(a failover, or the recovery of a tier that restarted as a whole, made it one\\): starting as its replica`));
            expect(redis[0].output).not.toContain("starting as the master");
            await waitFor("the write made after the failover to reach it", 10_000, async () => (await cli(returnPort, ["GET", "after-failover"])) === "written");
            expect(await cli(returnPort, ["GET", "before-kill"])).toBe("kept");
            expect(await cli(returnPort, ["SET", "k", "v"])).toMatch(/^READONLY/);
            expect(await cli(returnPort, ["PING"], null)).toBe("NOAUTH Authentication required.");
            // The Sentinels learn it from the new master: a replica they could promote next time.
            await waitFor("the Sentinels to list it as a replica", 15_000, async () => {
                const replicas = await cli(sentinelPorts[0], ["SENTINEL", "replicas", "mymaster"]);
                return replicas.includes(`127.0.0.1:${returnPort}`);
            });
        }, 30_000);

        test("a restarted Sentinel keeps its id and its file, learns its address anew, and names the new master", async () => {
            expect(promoted).toBeGreaterThan(0);
            const id = await cli(sentinelPorts[2], ["SENTINEL", "myid"]);
            expect(id).toMatch(/^[0-9a-f]{40}$/);
            await kill(sentinels[2], "SIGKILL");
            sentinels[2] = start("sentinel 2 (restarted)", "sh", [SENTINEL_ENTRYPOINT], sentinelEnv(2));
            await waitFor("the restarted Sentinel to answer", 15_000, async () => (await cli(sentinelPorts[2], ["PING"])) === "PONG");
            expect(await cli(sentinelPorts[2], ["SENTINEL", "myid"])).toBe(id);
            expect(await masterOf(sentinelPorts[2])).toBe(`127.0.0.1:${redisPorts[promoted]}`);
            expect(sentinels[2].output).toContain(`monitoring 127.0.0.1:${redisPorts[promoted]}, the master the other Sentinels name`);
            const file = path.join(sentinelEnv(2).DATA_DIR!, "sentinel.conf");
            const text = fs.readFileSync(file, "utf8");
            // One of each line the entrypoint writes: its file was rebuilt, not appended to.
            for (const directive of ["sentinel myid ", "sentinel monitor mymaster ", "sentinel announce-ip ", "requirepass ", "sentinel auth-pass mymaster "]) {
                expect(`${directive}: ${text.split("\n").filter((l) => l.startsWith(directive)).length}`).toBe(`${directive}: 1`);
            }
            expect((fs.statSync(file).mode & 0o777).toString(8)).toBe("600");
            await waitFor("the restarted Sentinel to know the others again", 15_000, async () => (await sentinelMaster(sentinelPorts[2]))["num-other-sentinels"] === "2");
            expect(await cli(sentinelPorts[2], ["PING"], null)).toBe("NOAUTH Authentication required.");
        }, 40_000);

        test("every Redis SIGKILLed at once, back at new addresses: no replica is left to promote, so INITIAL_MASTER leads, the Sentinels follow it, and writes are back by themselves within 30 s (issue 18's bound for a whole-tier restart)", async () => {
            expect(promoted).toBeGreaterThan(0);
            expect(await cli(redisPorts[promoted], ["SET", "before-restart", "kept"])).toBe("OK");
            expect(await cli(redisPorts[promoted], ["WAIT", "2", "2000"])).toBe("2");
            const killedAt = Date.now();
            await Promise.all(redis.map((p) => kill(p, "SIGKILL")));
            // The health step's check, at that moment, says what is wrong.
            const others = [0, 1, 2].filter((i) => i !== promoted);
            expect(check(redisEnv(others[0]))).toBe(
                `1 redis: the master the Sentinels name, 127.0.0.1:${redisPorts[promoted]}, does not answer as a master\n` +
                    others.map((i) => `redis: localhost:${redisPorts[i]} (127.0.0.1) does not answer\n`).join(""),
            );
            // Swarm restarts each task at a new address; INITIAL_MASTER and the peers are service
            // names, so they name the new addresses (here: new ports).
            const restarted = (i: number): NodeJS.ProcessEnv => ({
                ...redisEnv(i),
                INITIAL_MASTER: `localhost:${restartPorts[0]}`,
                SELF: `localhost:${restartPorts[i]}`,
                REDIS_SERVERS: restartPorts.map((p) => `localhost:${p}`).join(" "),
                REDIS_PORT: String(restartPorts[i]),
            });
            for (let i = 0; i < 3; i++) redis[i] = start(`redis ${i} (the whole tier restarted)`, "sh", [REDIS_ENTRYPOINT], restarted(i));
            // The time itself is a benchmark's (bench:chaos-data); this bound is the guarantee. It
            // was down-after + 10 s (13 s), which a loaded 2-core machine once missed (15.0 s).
            const back = await waitFor("the master the Sentinels name to take writes", 30_000, async () => {
                const named = await masterOf(sentinelPorts[0]);
                const port = Number(named.split(":")[1]);
                return restartPorts.includes(port) && (await cli(port, ["SET", "after-restart", "written"])) === "OK" ? Date.now() : undefined;
            });
            console.log(`Redis whole-tier restart: every Redis SIGKILLed -> writes back through the Sentinels' master in ${back - killedAt} ms (down-after ${DOWN_AFTER_MS} ms)`);
            expect(back - killedAt).toBeLessThanOrEqual(30_000);
            expect(redis[0].output).toContain("the whole tier restarted");
            expect(redis[0].output).toContain("starting as the master and pointing the Sentinels at it");
            // Every Sentinel names it, with its own settings kept and the password to reach it.
            // Within the same 30 s bound: a full npm test on this 2-core machine once saw one
            // Sentinel still naming the old address 10 s after writes were back.
            for (const port of sentinelPorts) {
                await waitFor(`sentinel :${port} to name INITIAL_MASTER`, 30_000, async () => (await masterOf(port)) === `127.0.0.1:${restartPorts[0]}`);
                expect(redis[0].output).toContain(`Sentinel 127.0.0.1:${port}: now monitors 127.0.0.1:${restartPorts[0]}`);
                const m = await sentinelMaster(port);
                expect([m.quorum, m["down-after-milliseconds"], m["failover-timeout"], m["parallel-syncs"]]).toEqual(["2", String(DOWN_AFTER_MS), "5000", "64"]);
            }
            // The others follow it, and the data the tier held came back.
            for (const i of [1, 2]) {
                await waitFor(`redis ${i} to follow INITIAL_MASTER`, 15_000, async () => (await role(restartPorts[i])).slice(0, 4).join(" ") === `slave 127.0.0.1 ${restartPorts[0]} connected`);
            }
            expect(await cli(restartPorts[0], ["GET", "before-restart"])).toBe("kept");
            expect(await cli(restartPorts[0], ["GET", "before-kill"])).toBe("kept");
            // The Sentinels can fail over again: they know both replicas and each other.
            await waitFor("the Sentinels to know both replicas and each other", 20_000, async () => {
                const m = await sentinelMaster(sentinelPorts[0]);
                return m["num-slaves"] !== undefined && (await cli(sentinelPorts[0], ["SENTINEL", "CKQUORUM", "mymaster"])).startsWith("OK 3 usable Sentinels");
            });
            expect(check(restarted(2))).toBe(`0 redis: master 127.0.0.1:${restartPorts[0]} named by every Sentinel; 2 replica(s) linked\n`);
            restartedEnv = restarted;
        }, 60_000);

        test("the health check: the master and a linked replica are healthy; a replica that never synced, one stuck on a master that is gone, unknown to the Sentinels, or a second master they do not name, is not, saying why", async () => {
            const health = (env: NodeJS.ProcessEnv) => {
                const r = spawnSync("sh", [HEALTH], { env: { ...env, STALE_REPLICA_SECONDS: "1" }, encoding: "utf8", timeout: 10_000 });
                return `${r.status} ${r.stdout}${r.stderr}`;
            };
            for (const i of [0, 1, 2]) expect(health(restartedEnv(i))).toBe("0 ");
            // A replica that restarted just before its master died: it follows a dead address,
            // and the Sentinels, which never saw it, will never re-point it.
            const [port, dead] = await freePorts(2);
            const conf = write(path.join(work, "stuck", "redis.conf"), [`port ${port}`, `requirepass ${JSON.stringify(PASSWORD)}`, `masterauth ${JSON.stringify(PASSWORD)}`, `replicaof 127.0.0.1 ${dead}`, `save ""`, `dir ${path.join(work, "stuck")}`, ""].join("\n"), 0o600);
            const stuck = start("a stuck replica", "redis-server", [conf], { PATH: process.env.PATH });
            await waitFor("the stuck replica to answer", 10_000, async () => (await cli(port, ["PING"])) === "PONG");
            await new Promise((r) => setTimeout(r, 2_000));
            // Before STALE_REPLICA_SECONDS: not healthy yet, as it never synced (a rolling update waits).
            expect(spawnSync("sh", [HEALTH], { env: { ...restartedEnv(1), REDIS_PORT: String(port), STALE_REPLICA_SECONDS: "60" }, encoding: "utf8", timeout: 10_000 })).toMatchObject({
                status: 1,
                stdout: expect.stringMatching(new RegExp(`^this replica has not synced with its master \\(127\\.0\\.0\\.1:${dead}\\) since it started, \\d+s ago\\n$`)),
            });
            expect(health({ ...restartedEnv(1), REDIS_PORT: String(port) })).toMatch(
                new RegExp(`^1 this replica follows 127\\.0\\.0\\.1:${dead}, unreachable for \\d+s, but the Sentinels' master is 127\\.0\\.0\\.1:${restartPorts[0]}: restart to follow it\\n$`),
            );
            await kill(stuck);
            expect(health({ ...restartedEnv(1), REDIS_PORT: String(port) })).toBe(`1 this Redis does not answer on port ${port}\n`);

            // A second master, that no Sentinel of the tier names (one that led a tier of its own
            // after a reboot, when it could reach nobody): the Sentinels will never demote it.
            const [roguePort] = await freePorts(1);
            const rogueConf = write(path.join(work, "rogue", "redis.conf"), [`port ${roguePort}`, `requirepass ${JSON.stringify(PASSWORD)}`, `save ""`, `dir ${path.join(work, "rogue")}`, ""].join("\n"), 0o600);
            const rogue = start("a second master", "redis-server", [rogueConf], { PATH: process.env.PATH });
            await waitFor("the second master to answer", 10_000, async () => (await cli(roguePort, ["PING"])) === "PONG");
            await new Promise((r) => setTimeout(r, 1_500));
            const rogueEnv = { ...restartedEnv(1), REDIS_PORT: String(roguePort) };
            // Before STALE_REPLICA_SECONDS of uptime: a master the entrypoint just made is left alone.
            expect(spawnSync("sh", [HEALTH], { env: { ...rogueEnv, STALE_REPLICA_SECONDS: "60" }, encoding: "utf8", timeout: 10_000 }).status).toBe(0);
            expect(health(rogueEnv)).toBe(`1 this Redis (127.0.0.1:${roguePort}) is a master, but 3 Sentinel(s) name 127.0.0.1:${restartPorts[0]}, which answers as a master too: restart to follow it\n`);
            await kill(rogue);
        });

        test("the Sentinel's health check: the Sentinels are healthy; one stuck on a dead master while the others name a live one is not, saying why", async () => {
            const health = (env: NodeJS.ProcessEnv, staleSeconds: string) => {
                const r = spawnSync("sh", [SENTINEL_HEALTH], { env: { ...env, STALE_SENTINEL_SECONDS: staleSeconds }, encoding: "utf8", timeout: 10_000 });
                return `${r.status} ${r.stdout}${r.stderr}`;
            };
            for (const i of [0, 1, 2]) expect(health(sentinelEnv(i), "1")).toBe("0 ");
            // A Sentinel that restarted onto the old master's address, now gone: no hello from
            // its peers ever reaches it again (they travel through the master and its replicas).
            const [port, dead] = await freePorts(2);
            const dir = path.join(work, "stuck-sentinel");
            const conf = write(
                path.join(dir, "sentinel.conf"),
                [`port ${port}`, `dir ${dir}`, `requirepass ${confQuote(PASSWORD)}`, `sentinel monitor mymaster 127.0.0.1 ${dead} 2`, `sentinel auth-pass mymaster ${confQuote(PASSWORD)}`, "sentinel down-after-milliseconds mymaster 1000", ""].join("\n"),
                0o600,
            );
            const stuck = start("a stuck Sentinel", "redis-sentinel", [conf], { PATH: process.env.PATH });
            await waitFor("the stuck Sentinel to answer", 10_000, async () => (await cli(port, ["PING"])) === "PONG");
            const stuckEnv = { ...sentinelEnv(0), SENTINEL_PORT: String(port), SENTINELS: [port, ...sentinelPorts].map((p) => `127.0.0.1:${p}`).join(" ") };
            await new Promise((r) => setTimeout(r, 2_500));
            // Within STALE_SENTINEL_SECONDS: a failover may still be re-pointing it.
            expect(health(stuckEnv, "60")).toBe("0 ");
            expect(health(stuckEnv, "1")).toMatch(
                new RegExp(`^1 this Sentinel monitors 127\\.0\\.0\\.1:${dead}, which has not answered for \\d+s, but Sentinel 127\\.0\\.0\\.1:${sentinelPorts[0]} names 127\\.0\\.0\\.1:${restartPorts[0]}, which answers as a master: restart to follow it\\n$`),
            );
            // Its own master gone and no peer naming a live one (the whole tier down): nothing to follow, so no restart.
            expect(health({ ...stuckEnv, SENTINELS: `127.0.0.1:${port}` }, "1")).toBe("0 ");
            await kill(stuck);
            expect(health(stuckEnv, "1")).toBe(`1 this Sentinel does not answer on port ${port}, or does not monitor mymaster ()\n`);
        }, 30_000);

        test("a Sentinel removed with its node is forgotten by the others as they restart: it no longer counts toward the majority a failover needs", async () => {
            const known = async (port: number) => (await sentinelMaster(port))["num-other-sentinels"];
            await kill(sentinels[2]);
            const two = sentinelPorts.slice(0, 2).map((p) => `127.0.0.1:${p}`).join(" ");
            for (const i of [0, 1]) {
                // Without the fix this Sentinel would still know three others' worth: 2.
                expect(await known(sentinelPorts[i])).toBe("2");
                await kill(sentinels[i], "SIGTERM");
                sentinels[i] = start(`sentinel ${i} (one Sentinel removed)`, "sh", [SENTINEL_ENTRYPOINT], { ...sentinelEnv(i), SENTINELS: two, REDIS_SERVERS: restartedEnv(i).REDIS_SERVERS, INITIAL_MASTER: restartedEnv(i).INITIAL_MASTER });
                await waitFor(`sentinel ${i} to answer`, 15_000, async () => (await cli(sentinelPorts[i], ["PING"])) === "PONG");
            }
            for (const i of [0, 1]) {
                await waitFor(`sentinel ${i} to know the other one alone`, 15_000, async () => (await known(sentinelPorts[i])) === "1");
                expect(await cli(sentinelPorts[i], ["SENTINEL", "CKQUORUM", "mymaster"])).toBe("OK 2 usable Sentinels. Quorum and failover authorization can be reached");
            }
        }, 60_000);

        afterAll(async () => {
            await Promise.all([...redis, ...sentinels].filter(Boolean).map((p) => kill(p)));
        });
    });
});

function redisUid(): number {
    const r = spawnSync("id", ["-u", "redis"], { encoding: "utf8" });
    return Number(r.stdout.trim());
}
