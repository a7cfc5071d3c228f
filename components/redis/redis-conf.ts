/**
 * The data tier's redis.conf (its static part): typed input in, config text out, no Pulumi inside.
 *
 * The text is delivered as a Docker config (`/etc/swarm-ha/redis.conf`) to every Redis service
 * (Redis 7.0 from Debian bookworm, image images/redis). It is never run as is: the image's
 * entrypoint (`swarm-ha-redis`, images/redis/redis-entrypoint.sh) copies it into a writable
 * file of its own (Sentinel's failover runs `CONFIG REWRITE`, which a Docker config cannot
 * take), setting `port` and `dir` from its environment, and includes after it a runtime file
 * with what only the task knows at start: the password (from the Docker secret), its own
 * address on the overlay network, and, on a replica, the master the Sentinels name. So this
 * text holds no password and no address, and is the same on every Redis node.
 *
 * Why each value that is not Redis's default was chosen is said in a comment next to it, in
 * the rendered text, so it can be read where it runs.
 */

/** Everything the static part of redis.conf depends on. */
export interface RedisConfInput {
    /**
     * The port Redis listens on, on every interface of its task.
     * @example 6379
     */
    port: number;
    /**
     * A master refuses writes while fewer than this many replicas are connected and at most
     * `minReplicasMaxLagSeconds` behind: a master cut off from its replicas (the side a failover
     * abandons) stops taking writes the failover would lose. It also refuses writes whenever
     * that many replicas are down, so keep it below the number of replicas. 0 turns it off.
     * @default 1
     */
    minReplicasToWrite?: number;
    /**
     * How far behind, in seconds (1 to 60), a replica may be and still count for
     * `minReplicasToWrite`: about the most writes, in seconds, a failover can lose.
     * @default 5
     */
    minReplicasMaxLagSeconds?: number;
    /**
     * The append-only file, fsynced every second: a crash or SIGKILL loses about a second of
     * writes. Off: RDB snapshots only (Redis's schedule, at best every minute).
     * @default true
     */
    appendonly?: boolean;
    /**
     * A memory ceiling in MiB. Once full, Redis evicts the least recently used of the keys
     * that expire (what clients cache, with a TTL) and refuses writes with an OOM error once
     * only keys without an expiry are left (data, never dropped silently). Unset: no ceiling,
     * so keep the service's memory limit well above the data, with room for the fork of a
     * rewrite or a full sync.
     * @example 128 // half a 256 MiB container limit: room for a fork's copied pages
     */
    maxmemoryMb?: number;
}

/** The values used for the fields left out. */
export const REDIS_CONF_DEFAULTS = {
    minReplicasToWrite: 1,
    minReplicasMaxLagSeconds: 5,
    appendonly: true,
} as const satisfies Partial<RedisConfInput>;

/**
 * Seconds Redis waits at SIGTERM for lagging replicas before it saves and exits (Redis's
 * default, written out). The service's stop grace period must be longer, with room for the
 * final save: swarm-ha's Redis services give 30 s; Docker's default 10 s would SIGKILL it.
 */
export const REDIS_SHUTDOWN_TIMEOUT_SECONDS = 10;

/** The most replicas `minReplicasToWrite` may ask for: far above any node count this stack runs. */
export const MAX_MIN_REPLICAS = 100;
/** The highest `minReplicasMaxLagSeconds`: beyond a minute the bound on loss means little. */
export const MAX_REPLICA_LAG_SECONDS = 60;
/** Redis needs some memory of its own before it holds any data; below this it cannot work. */
export const MIN_MAXMEMORY_MB = 16;
/** 1 TiB: far above any node this stack runs on. */
export const MAX_MAXMEMORY_MB = 1024 * 1024;

/**
 * Renders the static part of redis.conf, the same for every Redis node of the stack.
 *
 * Throws when an input would make a broken or meaningless file, naming every field at fault.
 */
export function renderRedisConf(input: RedisConfInput): string {
    validate(input);
    const { port, maxmemoryMb } = input;
    const minReplicas = input.minReplicasToWrite ?? REDIS_CONF_DEFAULTS.minReplicasToWrite;
    const maxLag = input.minReplicasMaxLagSeconds ?? REDIS_CONF_DEFAULTS.minReplicasMaxLagSeconds;
    const appendonly = input.appendonly ?? REDIS_CONF_DEFAULTS.appendonly;

    const lines = [
        `# redis.conf (static part), rendered by swarm-ha (components/redis/redis-conf.ts): change it there.`,
        `# The entrypoint (swarm-ha-redis) copies it and includes, after it, a runtime file with the`,
        `# password, this task's address and its master: none of them is written here.`,
        `port ${port}`,
        `# Every interface of the task: the overlay network (clients, replicas, Sentinels) and loopback`,
        `# (the health check). The password and the overlay protect it; protected mode, which refuses`,
        `# remote clients only when there is no password, would add nothing.`,
        `bind 0.0.0.0`,
        `protected-mode no`,
        `# The service's volume: the append-only file and snapshots outlive the task.`,
        `dir /data`,
        `# Idle clients are never cut: connection pools and the Sentinels hold idle connections by`,
        `# design. TCP keepalive probes an idle peer after 60s, so the connection of one that vanished`,
        `# (a killed task, a dead node) is closed within about 2 minutes instead of never.`,
        `timeout 0`,
        `tcp-keepalive 60`,
        ...(appendonly
            ? [
                  `# Every write goes to the append-only file, fsynced once a second: a crash or a SIGKILL`,
                  `# loses about a second of writes at most.`,
                  `appendonly yes`,
                  `appendfsync everysec`,
              ]
            : [`# Snapshots only (Redis's schedule): a crash loses the writes since the last one.`, `appendonly no`]),
        ...(minReplicas > 0
            ? [
                  `# Bounded write loss: a master that does not see ${minReplicas} replica(s) at most ${maxLag}s behind`,
                  `# refuses writes. A master cut off from its replicas (the side a failover abandons) stops`,
                  `# taking writes the failover would lose within ${maxLag}s; the price is that writes also stop`,
                  `# while fewer than ${minReplicas} replica(s) are up.`,
              ]
            : [`# No bound on write loss: a master cut off from its replicas keeps taking writes a failover loses.`]),
        `min-replicas-to-write ${minReplicas}`,
        `min-replicas-max-lag ${maxLag}`,
        `# A replica that lost its master (a failover is under way) keeps serving reads of what it has.`,
        `replica-serve-stale-data yes`,
        `# At SIGTERM, Redis waits up to ${REDIS_SHUTDOWN_TIMEOUT_SECONDS}s for lagging replicas to catch up, then saves and exits. The`,
        `# service's stop grace period must be longer, with room for that save (swarm-ha gives 30s;`,
        `# Docker's default 10s would SIGKILL it before the save).`,
        `shutdown-timeout ${REDIS_SHUTDOWN_TIMEOUT_SECONDS}`,
        ...(maxmemoryMb !== undefined
            ? [
                  `# A ceiling below the container's memory limit. Once full, the least recently used keys`,
                  `# that expire (cached, with a TTL) go first; once only keys without an expiry (data) are`,
                  `# left, writes fail with an OOM error rather than drop any of them.`,
                  `maxmemory ${maxmemoryMb}mb`,
                  `maxmemory-policy volatile-lru`,
              ]
            : []),
    ];
    return lines.join("\n") + "\n";
}

function validate(input: RedisConfInput): void {
    const problems: string[] = [];
    const check = (field: string, ok: boolean, message: string) => {
        if (!ok) problems.push(`${field}: ${message}`);
    };
    const integer = (value: unknown, min: number, max: number) => Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

    check("port", integer(input.port, 1, 65535), `must be an integer from 1 to 65535 (got ${show(input.port)})`);
    if (input.minReplicasToWrite !== undefined) {
        check(
            "minReplicasToWrite",
            integer(input.minReplicasToWrite, 0, MAX_MIN_REPLICAS),
            `must be an integer from 0 (off) to ${MAX_MIN_REPLICAS}, at most the number of replicas (got ${show(input.minReplicasToWrite)})`,
        );
    }
    if (input.minReplicasMaxLagSeconds !== undefined) {
        check(
            "minReplicasMaxLagSeconds",
            integer(input.minReplicasMaxLagSeconds, 1, MAX_REPLICA_LAG_SECONDS),
            `must be an integer from 1 to ${MAX_REPLICA_LAG_SECONDS} (seconds) (got ${show(input.minReplicasMaxLagSeconds)})`,
        );
    }
    if (input.appendonly !== undefined) check("appendonly", typeof input.appendonly === "boolean", `must be true or false (got ${show(input.appendonly)})`);
    if (input.maxmemoryMb !== undefined) {
        check(
            "maxmemoryMb",
            integer(input.maxmemoryMb, MIN_MAXMEMORY_MB, MAX_MAXMEMORY_MB),
            `must be an integer from ${MIN_MAXMEMORY_MB} to ${MAX_MAXMEMORY_MB} (MiB), or left out for no ceiling (got ${show(input.maxmemoryMb)})`,
        );
    }
    if (problems.length) throw new Error(`swarm-ha: redis.conf: cannot render:\n  ${problems.join("\n  ")}`);
}

/** A value for an error message: strings quoted with escapes, so a newline shows as \n. */
function show(value: unknown): string {
    return value === undefined ? "nothing" : JSON.stringify(value);
}
