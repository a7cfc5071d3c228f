/**
 * Throwaway data services on loopback for the app's tests: a Postgres cluster (initdb in a temp
 * dir, run as a non-root user when the tests run as root, because initdb refuses root), Redis
 * servers and a Sentinel, each on a free port, with passwords only in files (configs and secret
 * files), never on a command line. Plus a TCP proxy that can cut a connection mid-statement,
 * the way the stack's Postgres proxy cuts connections to a demoted primary.
 *
 * Every process started here is registered; stopAll() (call it in afterAll, it also runs after
 * a failure) stops them all and removes the temp dirs. Run `bash test/tools.sh` first: it
 * installs postgresql-15, redis-server and redis-sentinel.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";

const PG_BIN = "/usr/lib/postgresql/15/bin";

export interface Service {
    name: string;
    pid: number;
    /** Everything it printed (kept for the failure message). */
    output(): string;
    /** Resolves when its output matches, rejects after `timeoutMs` or if it exits first. */
    waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
    /** SIGTERM (or `signal`), then SIGKILL after 5 s; resolves once it has exited. */
    stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Fails, saying what to run, when a program the tests need is missing (never a skip). */
export function requireTools(): void {
    const missing = [join(PG_BIN, "initdb"), join(PG_BIN, "postgres"), "redis-server", "redis-sentinel", "setpriv"].filter((tool) => {
        if (tool.startsWith("/")) return !existsSync(tool);
        try {
            execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
            return false;
        } catch {
            return true;
        }
    });
    if (missing.length > 0) throw new Error(`missing ${missing.join(", ")}: run \`bash test/tools.sh\` at the repository root (it installs them)`);
}

const services = new Set<Service>();
const dirs: string[] = [];

/** A password made of letters and digits, unlikely to appear anywhere by chance. */
export function password(label: string): string {
    return `${label}-${randomBytes(12).toString("hex")}`;
}

export function tempDir(owner?: { uid: number; gid: number }): string {
    const dir = mkdtempSync(join(tmpdir(), "swarm-ha-app-test-"));
    dirs.push(dir);
    if (owner) chownSync(dir, owner.uid, owner.gid);
    return dir;
}

/** A port nobody listens on right now (the OS's pick, released again). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const { port } = s.address() as net.AddressInfo;
            s.close(() => resolve(port));
        });
    });
}

export function start(name: string, command: string, args: string[], as?: { uid: number; gid: number }): Service {
    const [cmd, argv] = as ? ["setpriv", [`--reuid=${as.uid}`, `--regid=${as.gid}`, "--clear-groups", "--", command, ...args]] : [command, args];
    const child: ChildProcess = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const listeners = new Set<() => void>();
    const onOutput = (chunk: Buffer) => {
        out += chunk.toString("utf8");
        for (const l of listeners) l();
    };
    child.stdout!.on("data", onOutput);
    child.stderr!.on("data", onOutput);
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    child.on("exit", () => {
        for (const l of listeners) l();
    });
    const service: Service = {
        name,
        pid: child.pid!,
        output: () => out,
        waitFor: (pattern, timeoutMs = 15_000) =>
            new Promise((resolve, reject) => {
                const check = () => {
                    if (pattern.test(out)) done(), resolve();
                    else if (child.exitCode !== null || child.signalCode !== null) done(), reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${out}`));
                };
                const timer = setTimeout(() => (done(), reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${out}`))), timeoutMs);
                const done = () => (clearTimeout(timer), listeners.delete(check));
                listeners.add(check);
                check();
            }),
        stop: async (signal = "SIGTERM") => {
            services.delete(service);
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill(signal);
            const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
            await exited;
            clearTimeout(timer);
        },
    };
    services.add(service);
    return service;
}

/** Stops every service still running and removes the temp dirs. */
export async function stopAll(): Promise<void> {
    await Promise.all([...services].map((s) => s.stop(s.name.startsWith("postgres") ? "SIGINT" : "SIGTERM")));
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Who runs Postgres: root may not, so the `postgres` account when it exists, else nobody. */
function postgresUser(): { uid: number; gid: number } | undefined {
    if (process.getuid?.() !== 0) return undefined;
    for (const user of ["postgres", "nobody"]) {
        try {
            const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
            const gid = Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
            return { uid, gid };
        } catch {
            // no such user: try the next
        }
    }
    throw new Error("running as root, and neither a postgres nor a nobody account exists to run Postgres as");
}

export interface Postgres {
    service: Service;
    port: number;
    /** The role and database the app uses, and its password. */
    user: string;
    database: string;
    password: string;
    /** A superuser client over the Unix socket (trust), for setup and for looking behind the app. */
    admin(database?: string): Promise<Client>;
}

/** A fresh cluster on a free port: TCP needs a password (scram), the socket in the temp dir trusts. */
export async function startPostgres(appPassword: string): Promise<Postgres> {
    const owner = postgresUser();
    const dir = tempDir(owner);
    const data = join(dir, "data");
    const superPassword = join(dir, "superuser-password");
    writeFileSync(superPassword, password("super") + "\n", { mode: 0o600 });
    if (owner) chownSync(superPassword, owner.uid, owner.gid);
    const init = start("initdb", join(PG_BIN, "initdb"), ["-D", data, "-U", "postgres", `--pwfile=${superPassword}`, "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C"], owner);
    await init.waitFor(/Success|initdb: error/, 30_000).catch(() => {});
    await init.stop();
    if (!/Success/.test(init.output())) throw new Error(`initdb failed:\n${init.output()}`);

    const port = await freePort();
    const settings = ["listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off", "full_page_writes=off", "shared_buffers=16MB", "max_connections=60", "log_min_messages=warning"];
    const service = start("postgres", join(PG_BIN, "postgres"), ["-D", data, "-k", dir, "-p", String(port), ...settings.flatMap((s) => ["-c", s])], owner);
    await service.waitFor(/ready to accept connections/, 20_000);

    const admin = async (database = "postgres") => {
        const c = new Client({ host: dir, port, user: "postgres", database });
        await c.connect();
        return c;
    };
    const c = await admin();
    try {
        // Sent over the protocol, so the password is on no command line.
        await c.query(`create role app login password '${appPassword}'`);
        await c.query("create database app owner app");
    } finally {
        await c.end();
    }
    return { service, port, user: "app", database: "app", password: appPassword, admin };
}

export interface RedisServer {
    service: Service;
    port: number;
    dir: string;
    /** Starts it again on the same port with the same config (after stop()). */
    restart(): Promise<RedisServer>;
}

/** A Redis server with `requirepass` in its config file; `replicaOf` makes it a replica. */
export async function startRedis(pass: string, opts: { port?: number; dir?: string; replicaOf?: number } = {}): Promise<RedisServer> {
    const port = opts.port ?? (await freePort());
    const dir = opts.dir ?? tempDir();
    const conf = join(dir, "redis.conf");
    if (!opts.dir) {
        writeFileSync(
            conf,
            [
                `port ${port}`,
                "bind 127.0.0.1",
                `dir ${dir}`,
                'save ""',
                "appendonly no",
                `requirepass ${pass}`,
                `masterauth ${pass}`,
                ...(opts.replicaOf ? [`replicaof 127.0.0.1 ${opts.replicaOf}`] : []),
            ].join("\n") + "\n",
            { mode: 0o600 },
        );
    }
    const service = start(`redis-${port}`, "redis-server", [conf]);
    await service.waitFor(/Ready to accept connections/);
    return { service, port, dir, restart: () => startRedis(pass, { port, dir }) };
}

export interface Sentinel {
    service: Service;
    port: number;
}

/**
 * One Sentinel watching `masterPort` as `masterName`, quorum 1. down-after is long so that it
 * never fails over on its own while a test stops Redis; tests that want a failover ask for one.
 */
export async function startSentinel(pass: string, masterPort: number, masterName = "mymaster"): Promise<Sentinel> {
    const port = await freePort();
    const dir = tempDir();
    const conf = join(dir, "sentinel.conf"); // Sentinel rewrites it: it must be writable
    writeFileSync(
        conf,
        [
            `port ${port}`,
            "bind 127.0.0.1",
            `dir ${dir}`,
            `requirepass ${pass}`,
            `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 1`,
            `sentinel auth-pass ${masterName} ${pass}`,
            `sentinel down-after-milliseconds ${masterName} 60000`,
            `sentinel failover-timeout ${masterName} 10000`,
        ].join("\n") + "\n",
    );
    chmodSync(conf, 0o600);
    const service = start(`sentinel-${port}`, "redis-sentinel", [conf]);
    await service.waitFor(/\+monitor master/);
    return { service, port };
}

export interface CuttingProxy {
    port: number;
    /**
     * Cuts the next connection that sends `marker`: "before" drops that statement unsent;
     * "after" lets it through and drops the server's answer (the commit happens, the ack is lost).
     */
    cutOnce(marker: string, when: "before" | "after"): void;
    /** How many connections it has cut. */
    cuts(): number;
    /**
     * For `ms`: cuts every open connection and closes each new one as soon as it is accepted,
     * as the stack's proxy does while no member is the leader (a switchover).
     */
    noLeaderFor(ms: number): void;
    /** Stops listening and drops every connection (the port then refuses). */
    close(): Promise<void>;
}

/** A plain TCP proxy to 127.0.0.1:`targetPort` that refuses nothing and can cut on cue. */
export async function startCuttingProxy(targetPort: number): Promise<CuttingProxy> {
    let pending: { marker: Buffer; when: "before" | "after" } | undefined;
    let cuts = 0;
    let noLeaderUntil = 0;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
        if (Date.now() < noLeaderUntil) return void client.destroy();
        const upstream = net.connect(targetPort, "127.0.0.1");
        sockets.add(client).add(upstream);
        let dropAnswer = false;
        const cut = () => {
            cuts++;
            client.destroy();
            upstream.destroy();
        };
        client.on("data", (chunk: Buffer) => {
            if (pending && chunk.includes(pending.marker)) {
                const { when } = pending;
                pending = undefined;
                if (when === "before") return cut();
                dropAnswer = true;
            }
            upstream.write(chunk);
        });
        upstream.on("data", (chunk: Buffer) => (dropAnswer ? cut() : client.write(chunk)));
        const close = () => {
            client.destroy();
            upstream.destroy();
            sockets.delete(client);
            sockets.delete(upstream);
        };
        client.on("close", close).on("error", close);
        upstream.on("close", close).on("error", close);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        port: (server.address() as net.AddressInfo).port,
        cutOnce: (marker, when) => (pending = { marker: Buffer.from(marker, "utf8"), when }),
        cuts: () => cuts,
        noLeaderFor: (ms) => {
            noLeaderUntil = Date.now() + ms;
            for (const socket of sockets) socket.destroy();
        },
        close: () =>
            new Promise((resolve) => {
                for (const s of sockets) s.destroy();
                server.close(() => resolve());
            }),
    };
}
