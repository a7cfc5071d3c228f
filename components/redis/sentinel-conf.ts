/**
 * The data tier's sentinel.conf (its static part): typed input in, config text out, no Pulumi
 * inside.
 *
 * The text is delivered as a Docker config (`/etc/swarm-ha/sentinel.conf`) to every Sentinel
 * service (Redis 7.0 from Debian bookworm, image images/redis). Sentinel rewrites its own
 * config file as it learns (its id, epochs, the other Sentinels, the replicas), so it never runs
 * this one: the image's entrypoint (`swarm-ha-sentinel`, images/redis/sentinel-entrypoint.sh)
 * builds the Sentinel's file on the service's volume from it, replacing the marker line
 * ({@link SENTINEL_MONITOR_MARKER}) with `sentinel monitor <master> <ip> <port> <quorum>` and
 * `sentinel auth-pass`, and adding the address to announce and the password. The per-master
 * settings below the marker must follow the `monitor` line (Sentinel refuses settings for a
 * master it does not monitor yet). This text holds no password and no address.
 *
 * Why each value that is not Sentinel's default was chosen is said in a comment next to it.
 */

/** Everything the static part of sentinel.conf depends on. */
export interface SentinelConfInput {
    /**
     * The port Sentinel listens on, on every interface of its task.
     * @example 26379
     */
    port: number;
    /**
     * The name the Sentinels and the clients know the master by (`SENTINEL
     * get-master-addr-by-name <masterName>`): letters, digits, '.', '_' and '-'.
     * @example "mymaster"
     */
    masterName: string;
    /**
     * How long (ms, 1000 to 60000) the master may go without a valid reply before a Sentinel
     * calls it down; with a quorum agreeing, the failover starts. The failover takes about this
     * plus 1.5 s.
     * @default 3000
     */
    downAfterMs?: number;
    /**
     * Sentinel's failover timeout (ms, 5000 to 3600000): a failover that has not promoted a
     * replica by then is aborted, the next one may start after twice this, and it bounds how
     * long the replicas get to follow the new master — and so how long the Sentinel that led
     * the failover goes on naming the OLD master to clients: it switches only once every
     * replica it knows followed, and on Swarm it also knows the dead addresses of earlier tasks,
     * which never follow (measured on the lab: 20000 kept that Sentinel on the dead master
     * for 20 s after the promotion, while the other two had switched in 1 s).
     * @default 5000
     */
    failoverTimeoutMs?: number;
    /**
     * How many replicas Sentinel points at a new master at once (1 to 64); the others keep
     * serving (stale) reads meanwhile. All of them, by default: swarm-ha's clients read from the
     * master only, and on Swarm Sentinel also lists the dead addresses of earlier tasks as
     * replicas. One at a time, the live replica could wait behind a dead one for the
     * failover-timeout (measured on the lab), and the new master, which wants
     * min-replicas-to-write replicas, refuses writes all that time.
     * @default 64
     */
    parallelSyncs?: number;
}

/** The values used for the fields left out (research note ha-tiers.md §3). */
export const SENTINEL_CONF_DEFAULTS = {
    downAfterMs: 3000,
    failoverTimeoutMs: 5000,
    parallelSyncs: 64,
} as const satisfies Partial<SentinelConfInput>;

/**
 * The line the entrypoint replaces with `sentinel monitor …` and `sentinel auth-pass …`. The
 * entrypoint (images/redis/sentinel-entrypoint.sh) looks for exactly this text.
 */
export const SENTINEL_MONITOR_MARKER = "# swarm-ha: the entrypoint puts 'sentinel monitor' and 'sentinel auth-pass' on this line";

/** Sentinel's master names as swarm-ha allows them: one word in the config, no quoting needed. */
const MASTER_NAME = /^[A-Za-z0-9._-]{1,64}$/;
export const MIN_DOWN_AFTER_MS = 1000;
export const MAX_DOWN_AFTER_MS = 60_000;
export const MIN_FAILOVER_TIMEOUT_MS = 5000;
export const MAX_FAILOVER_TIMEOUT_MS = 3_600_000;
export const MAX_PARALLEL_SYNCS = 64;

/**
 * Renders the static part of sentinel.conf, the same for every Sentinel of the stack.
 *
 * Throws when an input would make a broken or unsafe file, naming every field at fault.
 */
export function renderSentinelConf(input: SentinelConfInput): string {
    validate(input);
    const { port, masterName } = input;
    const downAfterMs = input.downAfterMs ?? SENTINEL_CONF_DEFAULTS.downAfterMs;
    const failoverTimeoutMs = input.failoverTimeoutMs ?? SENTINEL_CONF_DEFAULTS.failoverTimeoutMs;
    const parallelSyncs = input.parallelSyncs ?? SENTINEL_CONF_DEFAULTS.parallelSyncs;

    const lines = [
        `# sentinel.conf (static part), rendered by swarm-ha (components/redis/sentinel-conf.ts): change it there.`,
        `# The entrypoint (swarm-ha-sentinel) builds the Sentinel's own file on its volume from this one,`,
        `# adding the master to monitor, this task's address and the password: none is written here.`,
        `port ${port}`,
        `# Every interface of the task: the overlay network and loopback. The password protects it.`,
        `bind 0.0.0.0`,
        `protected-mode no`,
        `# The service's volume: Sentinel keeps its id, epochs and what it learned there, and finds`,
        `# them again after a restart.`,
        `dir /data`,
        `# IP addresses only (the defaults, written out). A dead Swarm task's name stops resolving,`,
        `# which is exactly when a failover needs it: in hostname mode the failover then never`,
        `# happens (redis/redis#11241, #12184). Each task announces its own IP instead.`,
        `sentinel resolve-hostnames no`,
        `sentinel announce-hostnames no`,
        `# No notification or reconfiguration script can be set at run time (the default, written out).`,
        `sentinel deny-scripts-reconfig yes`,
        ``,
        `# The master: the settings below must follow its 'sentinel monitor' line.`,
        SENTINEL_MONITOR_MARKER,
        `# Down after ${downAfterMs}ms without a valid reply, so a failover takes about ${(downAfterMs / 1000 + 1.5).toFixed(1)}s (Sentinel's`,
        `# default 30s makes it 30-35s). Lower is faster but not safer: on a busy 2-core node a`,
        `# Redis that forks for a rewrite or a full sync, or waits for the CPU, can miss pings for a`,
        `# second or more, and each false alarm is a real failover (500ms gave false ones,`,
        `# redis/redis#8607; 3000ms failed over in about 4.5s, #12520).`,
        `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
        `# Sentinel's default is 3 minutes: a failover that stalls (no replica fit to promote) is`,
        `# retried after twice this, so ${failoverTimeoutMs / 1000}s means a retry within ${(2 * failoverTimeoutMs) / 1000}s, not 6 minutes. It also bounds how`,
        `# long the Sentinel that led a failover names the old master: it switches once every replica it`,
        `# knows follows the new one, and the dead addresses of earlier Redis tasks never do.`,
        `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
        `# Up to ${parallelSyncs} replicas are pointed at a new master at once: with one at a time the live replica`,
        `# can wait behind the dead address of an earlier task, while the new master, wanting`,
        `# min-replicas-to-write replicas, refuses writes.`,
        `sentinel parallel-syncs ${masterName} ${parallelSyncs}`,
    ];
    return lines.join("\n") + "\n";
}

function validate(input: SentinelConfInput): void {
    const problems: string[] = [];
    const check = (field: string, ok: boolean, message: string) => {
        if (!ok) problems.push(`${field}: ${message}`);
    };
    const integer = (value: unknown, min: number, max: number) => Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

    check("port", integer(input.port, 1, 65535), `must be an integer from 1 to 65535 (got ${show(input.port)})`);
    check(
        "masterName",
        typeof input.masterName === "string" && MASTER_NAME.test(input.masterName),
        `must be 1-64 letters, digits, '.', '_' or '-', e.g. mymaster (got ${show(input.masterName)})`,
    );
    if (input.downAfterMs !== undefined) {
        check(
            "downAfterMs",
            integer(input.downAfterMs, MIN_DOWN_AFTER_MS, MAX_DOWN_AFTER_MS),
            `must be an integer from ${MIN_DOWN_AFTER_MS} to ${MAX_DOWN_AFTER_MS} (ms); below ${MIN_DOWN_AFTER_MS} a busy node triggers false failovers (got ${show(input.downAfterMs)})`,
        );
    }
    if (input.failoverTimeoutMs !== undefined) {
        check(
            "failoverTimeoutMs",
            integer(input.failoverTimeoutMs, MIN_FAILOVER_TIMEOUT_MS, MAX_FAILOVER_TIMEOUT_MS),
            `must be an integer from ${MIN_FAILOVER_TIMEOUT_MS} to ${MAX_FAILOVER_TIMEOUT_MS} (ms); below ${MIN_FAILOVER_TIMEOUT_MS} a failover on a busy node is aborted before it can finish (got ${show(input.failoverTimeoutMs)})`,
        );
    }
    if (input.parallelSyncs !== undefined) {
        check("parallelSyncs", integer(input.parallelSyncs, 1, MAX_PARALLEL_SYNCS), `must be an integer from 1 to ${MAX_PARALLEL_SYNCS} (got ${show(input.parallelSyncs)})`);
    }
    if (problems.length) throw new Error(`swarm-ha: sentinel.conf: cannot render:\n  ${problems.join("\n  ")}`);
}

/** A value for an error message: strings quoted with escapes, so a newline shows as \n. */
function show(value: unknown): string {
    return value === undefined ? "nothing" : JSON.stringify(value);
}
