/**
 * The app's settings, read from the environment once at startup. Every invalid value is a
 * ConfigError whose message starts with the variable's name, so a task that will not start
 * says which setting to fix. An empty variable counts as unset.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

export interface Config {
    /** PORT: the TCP port to listen on (0 picks a free one). */
    port: number;
    /** INSTANCE: this replica's name in answers; Swarm sets the host name to the task's. */
    instance: string;
    /** DRAIN_SECONDS: how long to keep serving, not ready, after SIGTERM. */
    drainSeconds: number;
    /** SHUTDOWN_TIMEOUT_SECONDS: how long in-flight requests may take after the drain. */
    shutdownTimeoutSeconds: number;
    /** MEMORY_READY_FRACTION: not ready once resident memory reaches this share of the limit. */
    memoryReadyFraction: number;
    /** The memory limit in bytes, or null for none (then the memory guard is off). */
    memoryLimitBytes: number | null;
    /** Where memoryLimitBytes came from. */
    memoryLimitSource: MemoryLimitSource;
    /** PGHOST and friends, or null without PGHOST (then the to-do endpoints answer 404). */
    postgres: PostgresConfig | null;
    /** REDIS_SENTINELS and friends, or null without REDIS_SENTINELS (then nothing is cached). */
    redis: RedisConfig | null;
    /** CACHE_TTL_SECONDS: how long a to-do read from Postgres stays in Redis. */
    cacheTtlSeconds: number;
}

/** Where Postgres is: in the stack, the proxy in front of Patroni. No password here, only its file. */
export interface PostgresConfig {
    /** PGHOST. */
    host: string;
    /** PGPORT: the read-write port (the current leader). */
    port: number;
    /** PGPORT_READONLY: the read-only port (healthy replicas, else the leader). */
    readOnlyPort: number;
    /** PGDATABASE. */
    database: string;
    /** PGUSER. */
    user: string;
    /** PGPASSWORD_FILE: a Docker secret file, read when a connection opens; null for none. */
    passwordFile: string | null;
}

/** Where Redis is found: the Sentinels that know the current master. */
export interface RedisConfig {
    /** REDIS_SENTINELS: `host:port,host:port,...` (IPv6 as `[::1]:26379`). */
    sentinels: Array<{ host: string; port: number }>;
    /** REDIS_MASTER_NAME: the name the Sentinels monitor the master under. */
    masterName: string;
    /** REDIS_PASSWORD_FILE: opens Redis and the Sentinels alike; null for none. */
    passwordFile: string | null;
}

export type MemoryLimitSource = "MEMORY_LIMIT_BYTES" | "cgroup v2" | "cgroup v1" | "none";

export class ConfigError extends Error {
    constructor(
        /** The environment variable at fault. */
        readonly variable: string,
        detail: string,
    ) {
        super(`${variable} ${detail}`);
        this.name = "ConfigError";
    }
}

/** Reads a file's text, or undefined when it cannot be read (the seam tests stub). */
export type ReadFile = (path: string) => string | undefined;

export const CGROUP_V2_MEMORY_MAX = "/sys/fs/cgroup/memory.max";
export const CGROUP_V1_MEMORY_LIMIT = "/sys/fs/cgroup/memory/memory.limit_in_bytes";

export const DEFAULTS = {
    port: 8080,
    drainSeconds: 5,
    shutdownTimeoutSeconds: 15,
    memoryReadyFraction: 0.9,
    pgPort: 5432,
    pgReadOnlyPort: 5433,
    pgDatabase: "app",
    pgUser: "app",
    redisMasterName: "mymaster",
    cacheTtlSeconds: 60,
} as const;

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env, readFile: ReadFile = readIfExists): Config {
    const memory = memoryLimit(env, readFile);
    return {
        port: integer(env, "PORT", DEFAULTS.port, 0, 65535),
        instance: text(env, "INSTANCE") ?? hostname(),
        drainSeconds: seconds(env, "DRAIN_SECONDS", DEFAULTS.drainSeconds, true),
        shutdownTimeoutSeconds: seconds(env, "SHUTDOWN_TIMEOUT_SECONDS", DEFAULTS.shutdownTimeoutSeconds, false),
        memoryReadyFraction: fraction(env, "MEMORY_READY_FRACTION", DEFAULTS.memoryReadyFraction),
        memoryLimitBytes: memory.bytes,
        memoryLimitSource: memory.source,
        postgres: postgresConfig(env, readFile),
        redis: redisConfig(env, readFile),
        cacheTtlSeconds: integer(env, "CACHE_TTL_SECONDS", DEFAULTS.cacheTtlSeconds, 1, 86400),
    };
}

function postgresConfig(env: Env, readFile: ReadFile): PostgresConfig | null {
    // Ports are checked even without PGHOST: a typo should not wait for the day PGHOST is set.
    const port = integer(env, "PGPORT", DEFAULTS.pgPort, 1, 65535);
    const readOnlyPort = integer(env, "PGPORT_READONLY", DEFAULTS.pgReadOnlyPort, 1, 65535);
    const host = text(env, "PGHOST");
    if (host === undefined) return null;
    return {
        host,
        port,
        readOnlyPort,
        database: text(env, "PGDATABASE") ?? DEFAULTS.pgDatabase,
        user: text(env, "PGUSER") ?? DEFAULTS.pgUser,
        passwordFile: secretFile(env, "PGPASSWORD_FILE", readFile),
    };
}

function redisConfig(env: Env, readFile: ReadFile): RedisConfig | null {
    const raw = text(env, "REDIS_SENTINELS");
    if (raw === undefined) return null;
    const sentinels = raw.split(",").map((entry) => {
        const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:\[\]]+)):(\d{1,5})$/.exec(entry.trim());
        const port = m ? Number(m[3]) : NaN;
        if (!m || !(port >= 1 && port <= 65535)) {
            throw new ConfigError("REDIS_SENTINELS", `must be host:port entries separated by commas (e.g. sentinel-a:26379,sentinel-b:26379); got ${JSON.stringify(raw)}`);
        }
        return { host: m[1] ?? m[2]!, port };
    });
    return {
        sentinels,
        masterName: text(env, "REDIS_MASTER_NAME") ?? DEFAULTS.redisMasterName,
        passwordFile: secretFile(env, "REDIS_PASSWORD_FILE", readFile),
    };
}

/**
 * A secret's file must be readable at start, so a missing secret stops the task with a message
 * naming the variable instead of failing every request later. Only the path is kept: the
 * content is read again by the client that needs it and never lands in the config (which is
 * logged).
 */
function secretFile(env: Env, name: string, readFile: ReadFile): string | null {
    const path = text(env, name);
    if (path === undefined) return null;
    if (readFile(path) === undefined) throw new ConfigError(name, `must name a readable file (a Docker secret, e.g. /run/secrets/app-db-password); cannot read ${JSON.stringify(path)}`);
    return path;
}

/**
 * A secret file's content without the trailing newline(s) editors and `echo` add, as the
 * shell's `$(cat file)` in the other services' entrypoints reads it, so every side agrees on
 * the password. Throws naming the file, never showing its content.
 */
export function readSecretFile(path: string): string {
    let content: string;
    try {
        content = readFileSync(path, "utf8");
    } catch (err) {
        throw new Error(`cannot read the secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
    }
    return content.replace(/[\r\n]+$/, "");
}

/**
 * MEMORY_LIMIT_BYTES if set ("max" turns the guard off), else the container's cgroup limit
 * (v2, then v1). "max", or a v1 value too large to be a real limit (v1 writes about 2^63 for
 * "unlimited"), means no limit.
 */
function memoryLimit(env: Env, readFile: ReadFile): { bytes: number | null; source: MemoryLimitSource } {
    const name = "MEMORY_LIMIT_BYTES";
    const raw = text(env, name);
    if (raw !== undefined) {
        if (raw === "max") return { bytes: null, source: name };
        const bytes = /^\d+$/.test(raw) ? Number(raw) : NaN;
        if (!Number.isSafeInteger(bytes) || bytes <= 0) {
            throw new ConfigError(name, `must be a whole number of bytes above 0, or "max" for no limit; got ${JSON.stringify(raw)}`);
        }
        return { bytes, source: name };
    }
    for (const [path, source] of [[CGROUP_V2_MEMORY_MAX, "cgroup v2"], [CGROUP_V1_MEMORY_LIMIT, "cgroup v1"]] as const) {
        const content = readFile(path)?.trim();
        if (content === undefined || content === "") continue;
        if (content === "max") return { bytes: null, source: "none" };
        const bytes = /^\d+$/.test(content) ? Number(content) : NaN;
        if (Number.isSafeInteger(bytes) && bytes > 0) return { bytes, source };
        return { bytes: null, source: "none" }; // unlimited (v1's ~2^63) or unreadable: no guard
    }
    return { bytes: null, source: "none" };
}

function text(env: Env, name: string): string | undefined {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
    const raw = text(env, name);
    if (raw === undefined) return fallback;
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= min && n <= max)) throw new ConfigError(name, `must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
    return n;
}

function seconds(env: Env, name: string, fallback: number, zeroAllowed: boolean): number {
    const raw = text(env, name);
    if (raw === undefined) return fallback;
    const n = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
    if (!(zeroAllowed ? n >= 0 : n > 0) || n > 86400) {
        throw new ConfigError(name, `must be a number of seconds ${zeroAllowed ? "from 0" : "above 0"} up to 86400 (e.g. 5 or 0.5); got ${JSON.stringify(raw)}`);
    }
    return n;
}

function fraction(env: Env, name: string, fallback: number): number {
    const raw = text(env, name);
    if (raw === undefined) return fallback;
    const n = /^\d*\.?\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n > 0 && n <= 1)) throw new ConfigError(name, `must be a fraction above 0 and at most 1 (e.g. 0.9); got ${JSON.stringify(raw)}`);
    return n;
}

function readIfExists(path: string): string | undefined {
    try {
        return readFileSync(path, "utf8");
    } catch {
        return undefined;
    }
}
