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
    };
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
