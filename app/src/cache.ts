/**
 * The to-do cache in Redis, found through the Sentinels: ioredis asks them for the current
 * master of `masterName`, checks the role of the server it reaches, and follows a failover as
 * soon as a Sentinel announces `+switch-master` (failoverDetector) instead of waiting for a
 * socket error on the old master.
 *
 * The cache is an optimisation, so it never makes a request wait long or fail: no offline queue
 * (a command while disconnected fails at once), short connect and command timeouts, and every
 * error is the caller's cue to go to Postgres. Reconnection goes on in the background, and
 * never stops until close(): see restartAfterEnd.
 */
import Redis from "ioredis";
import { readSecretFile, type RedisConfig } from "./config";
import type { Todo } from "./postgres";

export const CONNECT_TIMEOUT_MS = 1000;
/** A Redis that accepted the connection but no longer answers (a partition) costs a read this much, once. */
export const COMMAND_TIMEOUT_MS = 300;
const KEY_PREFIX = "swarm-ha-app:todo:";
/** How long after ioredis gave up ("end") the cache starts connecting again. */
export const RESTART_AFTER_END_MS = 1000;

export class TodoCache {
    readonly client: Redis;
    private lastError: string | undefined;
    private closing = false;

    constructor(
        config: RedisConfig,
        private readonly ttlSeconds: number,
        connectionName: string,
    ) {
        // Read once: ioredis keeps it for reconnects. One password opens Redis and the Sentinels.
        const password = config.passwordFile === null ? undefined : readSecretFile(config.passwordFile);
        this.client = new Redis({
            sentinels: config.sentinels,
            name: config.masterName,
            role: "master",
            password,
            sentinelPassword: password,
            failoverDetector: true,
            enableOfflineQueue: false,
            connectTimeout: CONNECT_TIMEOUT_MS,
            commandTimeout: COMMAND_TIMEOUT_MS,
            maxRetriesPerRequest: 1,
            // Keep trying in the background, quickly at first; requests do not wait for it.
            retryStrategy: (times) => Math.min(times * 100, 1000),
            sentinelRetryStrategy: (times) => Math.min(times * 200, 2000),
            // A master demoted under us answers writes with READONLY: reconnect (asking the
            // Sentinels again) and resend the command.
            reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
            connectionName: connectionName.replace(/[^\w.-]/g, "_").slice(0, 64),
        });
        this.client.on("ready", () => (this.lastError = undefined));
        // A listener is required: ioredis would print every reconnect error to stderr otherwise.
        this.client.on("error", (err: Error) => (this.lastError = err.message));
        this.client.on("end", () => this.restartAfterEnd());
    }

    /**
     * ioredis stops for good ("end") when a connect through the Sentinels is cut short: its
     * Sentinel connector throws "Connection is closed." when a disconnect (a failover's
     * +switch-master, a READONLY reconnect) lands while it is still asking the Sentinels, and
     * Redis.connect() then ends the client instead of retrying (ioredis 5.x,
     * built/Redis.js connect(): setStatus("end") on a connector error). Seen on the lab: after
     * the host of a Redis and a Sentinel died and came back, one app replica never cached
     * again while the other did. Only close() may end the cache, so start over.
     */
    private restartAfterEnd(): void {
        if (this.closing) return;
        setTimeout(() => {
            if (this.closing || this.client.status !== "end") return;
            this.client.connect().catch(() => {}); // a failure ends it again, and so comes back here
        }, RESTART_AFTER_END_MS).unref();
    }

    /** The cached to-do, or null when it is not cached. Throws when Redis cannot answer. */
    async get(id: number): Promise<Todo | null> {
        this.requireReady();
        const raw = await this.client.get(KEY_PREFIX + id);
        if (raw === null) return null;
        try {
            return JSON.parse(raw) as Todo;
        } catch {
            return null; // not ours, or truncated: read it from Postgres and overwrite it
        }
    }

    /** Caches a to-do for the TTL. Throws when Redis cannot take it. */
    async set(todo: Todo): Promise<void> {
        this.requireReady();
        await this.client.set(KEY_PREFIX + todo.id, JSON.stringify(todo), "EX", this.ttlSeconds);
    }

    /** PING on the master: what /health/ready reports as redis. */
    async ping(): Promise<void> {
        this.requireReady();
        await this.client.ping();
    }

    async close(): Promise<void> {
        this.closing = true;
        this.client.disconnect();
    }

    /** Says why Redis is not usable now, instead of ioredis's "Stream isn't writeable …". */
    private requireReady(): void {
        if (this.client.status === "ready") return;
        throw new Error(`not connected (${this.client.status}${this.lastError ? `; last error: ${this.lastError}` : ""})`);
    }
}
