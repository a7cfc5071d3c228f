/**
 * Patroni's configuration (patroni.yml): typed input in, YAML text out, no Pulumi inside.
 *
 * One file serves every Postgres member: it is a Docker config mounted at
 * /etc/swarm-ha/patroni.yml in the image built from images/postgres/ (Debian bookworm's Patroni
 * 3.0.2 and Postgres 15). What differs per member, its name, its addresses on the data network,
 * etcd's endpoints, and every password, reaches Patroni through Patroni's own environment
 * variables, which the image's entrypoint sets at run time (from the service's settings and its
 * Docker secret files). So this text holds no secret and no address; why each value that is not
 * Patroni's default was chosen is said in a comment next to it, in the rendered text.
 *
 * `bootstrap.dcs` is written to etcd by the member that creates the cluster, once: later changes
 * to it here reach a running cluster only through `patronictl edit-config` (Patroni's design).
 */
import { ETCD_ELECTION_TIMEOUT_MS, ETCD_WORST_ELECTION_MS } from "./etcd";

/** Where the service mounts this file (the entrypoint's default). */
export const PATRONI_CONFIG_PATH = "/etc/swarm-ha/patroni.yml";
/** The port of Patroni's REST API: the proxy's checks and the health check ask it. */
export const PATRONI_API_PORT = 8008;
/** The port Postgres listens on in its container. */
export const POSTGRES_PORT = 5432;
/** The post_bootstrap script in the image (images/postgres/post-bootstrap.sh). */
export const POST_BOOTSTRAP_SCRIPT = "/usr/local/bin/swarm-ha-post-bootstrap";
/** The data directory on the service's volume (the entrypoint's default). */
export const DEFAULT_DATA_DIR = "/data/pg";
/** Where Patroni writes the passwords it connects with: the container's /dev/shm, memory only (the entrypoint's default). */
export const PGPASS_PATH = "/dev/shm/swarm-ha/pgpass";
/** Debian's Postgres 15 programs. */
export const POSTGRES_BIN_DIR = "/usr/lib/postgresql/15/bin";

/** A Postgres setting's value: strings as they are, numbers as numbers, booleans as on/off. */
export type PgParameterValue = string | number | boolean;

/** Everything patroni.yml depends on. */
export interface PatroniConfigInput {
    /**
     * The cluster's name (Patroni's `scope`): its key prefix in etcd (`/service/<scope>/`) and
     * Postgres' `cluster_name`. The same for every member. Letters, digits, '-' and '_'.
     * @example "swarm-ha"
     */
    scope: string;
    /**
     * Patroni's `synchronous_mode`: each commit waits until the synchronous standby has it, and
     * only that standby may be promoted, so no acknowledged write is lost when the primary dies.
     * Not strict: with no standby left, the primary takes writes alone rather than none.
     * @example true
     */
    synchronousMode: boolean;
    /**
     * `maximum_lag_on_failover`, in bytes: a replica further behind than this is never promoted.
     * @example 1048576 // 1 MiB, Patroni's default
     */
    maximumLagOnFailover: number;
    /**
     * `ttl`, seconds: the leader key's lifetime in etcd. When the primary dies (node, task or
     * Patroni), its key expires this long after its last renewal and a replica takes over:
     * most of the time writes are down. Patroni's default 30 means 30-40 s without writes; 10
     * gets them back within about 12 s, inside the 15 s goal. The cost: a primary whose Patroni
     * stalls for longer than `ttl - loopWait` loses its leadership (it is demoted; no data is
     * lost), so ttl cannot shrink much further on a busy 2-core host.
     * @default 10
     */
    ttl?: number;
    /**
     * `loop_wait`, seconds between Patroni's cycles: the leader renews its key this often, so a
     * dead primary's key expires between `ttl - loopWait` and `ttl` s after it died. Shorter
     * costs a little CPU per cycle (a few queries and an etcd write) on every member.
     * @default 2
     */
    loopWait?: number;
    /**
     * `retry_timeout`, seconds Patroni retries etcd and Postgres before it gives up: a primary
     * that cannot reach etcd this long demotes itself (it cannot know it still leads). It must
     * outlast an etcd leader election (2 × etcd's 1.5 s election timeout, see etcd.ts), or losing
     * a manager would cost Postgres its primary; and `loopWait + 2 × retryTimeout` must fit in
     * `ttl` (Patroni's rule: the leader gets two full retries before its key expires).
     * @default 4
     */
    retryTimeout?: number;
    /**
     * More Postgres settings, cluster-wide (`bootstrap.dcs.postgresql.parameters`), over
     * swarm-ha's (wal_level, max_wal_senders, max_replication_slots, wal_keep_size,
     * password_encryption). Those that Patroni sets itself, or that would break replication or
     * the pg_hba rules, are refused.
     * @example { max_connections: 200, shared_buffers: "256MB" }
     */
    pgParameters?: Record<string, PgParameterValue>;
    /**
     * Postgres' data directory, on the service's volume. The entrypoint's own default is the
     * same; it overrides this (PATRONI_POSTGRESQL_DATA_DIR) only in tests.
     * @default "/data/pg"
     */
    dataDir?: string;
    /**
     * The script Patroni runs once after creating the cluster: it creates the app's role and
     * database (images/postgres/post-bootstrap.sh, installed in the image).
     * @default "/usr/local/bin/swarm-ha-post-bootstrap"
     */
    postBootstrapScript?: string;
}

/** swarm-ha's defaults for the timers: writes back within about 12 s of losing the primary. */
export const PATRONI_TIMER_DEFAULTS = { ttl: 10, loopWait: 2, retryTimeout: 4 } as const;

/**
 * The Postgres settings swarm-ha gives every cluster (streaming replication to replicas made by
 * Patroni, SCRAM passwords), in this order in the file, each with the reason written beside it.
 */
export const DEFAULT_PG_PARAMETERS: ReadonlyArray<{ name: string; value: PgParameterValue; why: string[] }> = [
    { name: "wal_level", value: "replica", why: ["Enough WAL for a streaming replica (Patroni's default, written out)."] },
    { name: "hot_standby", value: "on", why: ["Replicas answer read-only queries (the proxy's read-only port); Patroni forces it on."] },
    {
        name: "max_wal_senders",
        value: 10,
        why: ["Each replica, pg_basebackup and pg_rewind holds a WAL sender (and a slot) while it", "runs: room for a few at once."],
    },
    { name: "max_replication_slots", value: 10, why: [] },
    {
        name: "wal_keep_size",
        value: "256MB",
        why: ["WAL kept besides what the slots hold: a member whose slot is gone (it was away)", "catches up from it without a new base backup."],
    },
    { name: "password_encryption", value: "scram-sha-256", why: ["Passwords are stored as SCRAM verifiers: pg_hba accepts nothing else."] },
];

/** Settings Patroni owns: it derives them from this file (listen, scope, pg_hba) or manages them (synchronous replication). */
const PATRONI_OWNED = new Set([
    "listen_addresses",
    "port",
    "cluster_name",
    "hot_standby",
    "wal_log_hints",
    "synchronous_standby_names",
    "hba_file",
    "ident_file",
    "data_directory",
    "config_file",
    "primary_conninfo",
    "primary_slot_name",
    "recovery_target_timeline",
]);
/** Settings that only take some values here. */
const RESTRICTED: Record<string, { allowed: string[]; why: string }> = {
    wal_level: { allowed: ["replica", "logical"], why: "replicas need at least replica" },
    password_encryption: { allowed: ["scram-sha-256"], why: "pg_hba accepts only scram-sha-256 passwords" },
};

/** A Postgres setting's name (a custom one has a dot: `auto_explain.log_min_duration`). */
const PARAMETER_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;
/** Patroni's scope: a word, as it ends up in etcd keys, Postgres' cluster_name and process titles. */
const SCOPE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
/** An absolute path written as one word: no spaces, quotes, '#', '$' or backslashes. */
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._/-]+$/;
/** The largest whole number of bytes a JavaScript number holds exactly. */
const MAX_BYTES = Number.MAX_SAFE_INTEGER;

/**
 * Renders patroni.yml (the same for every member).
 *
 * Throws when an input would make a broken or unsafe file (timers that break Patroni's rule or
 * outlast etcd, a setting Patroni owns, a value that would not stay one YAML scalar), naming
 * every field at fault.
 */
export function renderPatroniConfig(input: PatroniConfigInput): string {
    const ttl = input.ttl ?? PATRONI_TIMER_DEFAULTS.ttl;
    const loopWait = input.loopWait ?? PATRONI_TIMER_DEFAULTS.loopWait;
    const retryTimeout = input.retryTimeout ?? PATRONI_TIMER_DEFAULTS.retryTimeout;
    const dataDir = input.dataDir ?? DEFAULT_DATA_DIR;
    const postBootstrap = input.postBootstrapScript ?? POST_BOOTSTRAP_SCRIPT;
    validate(input, { ttl, loopWait, retryTimeout, dataDir, postBootstrap });

    // swarm-ha's settings first, each with its reason unless pgParameters changed it, then the
    // others by name.
    const more = { ...input.pgParameters };
    const parameterLines: string[] = [];
    for (const d of DEFAULT_PG_PARAMETERS) {
        const given = d.name in more;
        const v = given ? more[d.name] : d.value;
        delete more[d.name];
        if (!given || v === d.value) parameterLines.push(...d.why.map((w) => `        # ${w}`));
        parameterLines.push(`        ${d.name}: ${value(v)}`);
    }
    for (const name of Object.keys(more).sort()) parameterLines.push(`        ${name}: ${value(more[name])}`);

    const lines = [
        `# patroni.yml, rendered by swarm-ha (components/postgres/patroni-yml.ts): change it there.`,
        `# The same file for every member. Each member's name, addresses, etcd endpoint and passwords`,
        `# come from the environment its entrypoint sets (images/postgres/entrypoint.sh): PATRONI_NAME,`,
        `# PATRONI_POSTGRESQL_CONNECT_ADDRESS, PATRONI_RESTAPI_CONNECT_ADDRESS, PATRONI_ETCD3_HOST and`,
        `# PATRONI_*_PASSWORD. No password and no address is written here.`,
        `scope: ${q(input.scope)}`,
        ``,
        `restapi:`,
        `  # The proxy's checks (GET /primary, /replica) and the health check (GET /liveness) ask it.`,
        `  listen: ${q(`0.0.0.0:${PATRONI_API_PORT}`)}`,
        `  # Reads answer anyone; what changes the cluster (switchover, restart, reinitialize, config)`,
        `  # answers only another member, or this container itself (patronictl through docker exec).`,
        `  allowlist: [${q("127.0.0.1/32")}, ${q("::1/128")}]`,
        `  allowlist_include_members: true`,
        ``,
        `# A container has no watchdog device (Patroni would look for one at every start).`,
        `watchdog:`,
        `  mode: ${q("off")}`,
        ``,
        `postgresql:`,
        `  listen: ${q(`0.0.0.0:${POSTGRES_PORT}`)}`,
        `  data_dir: ${q(dataDir)}`,
        `  bin_dir: ${q(POSTGRES_BIN_DIR)}`,
        `  # The passwords Patroni connects with are written here: memory, not the container's disk.`,
        `  pgpass: ${q(PGPASS_PATH)}`,
        `  # Passwords: PATRONI_SUPERUSER_PASSWORD, PATRONI_REPLICATION_PASSWORD, PATRONI_REWIND_PASSWORD.`,
        `  authentication:`,
        `    superuser:`,
        `      username: ${q("postgres")}`,
        `    replication:`,
        `      username: ${q("replicator")}`,
        `    # pg_rewind connects as the superuser, as Patroni does when no rewind user is given`,
        `    # (written out: Patroni 3.0.2's --validate-config requires the entry).`,
        `    rewind:`,
        `      username: ${q("postgres")}`,
        `  # A replica is cloned with a fast checkpoint on the primary, not a spread one (minutes).`,
        `  basebackup:`,
        `    - checkpoint: ${q("fast")}`,
        `  # Patroni writes pg_hba.conf from this list at every start, the same on every member.`,
        `  # samenet: the subnets of this container's own interfaces, that is loopback and the data`,
        `  # network (whose address is known only at run time). Every login needs a password.`,
        `  pg_hba: &pg_hba`,
        `    - ${q("local all postgres peer")}`,
        `    - ${q("host all all samenet scram-sha-256")}`,
        `    - ${q("host replication replicator samenet scram-sha-256")}`,
        ``,
        `bootstrap:`,
        `  # Written to etcd by the member that creates the cluster, then shared by all; change it`,
        `  # later with patronictl edit-config (this section is read only at the cluster's creation).`,
        `  dcs:`,
        `    # The leader renews its key every loop_wait s and the key lives ttl s: a dead primary's key`,
        `    # expires ${ttl - loopWait}-${ttl} s after it died, then the replica takes over; writes are back within`,
        `    # about ${ttl + 2} s. A primary that cannot reach etcd for retry_timeout demotes itself: it outlasts`,
        `    # an etcd election (at most ${ETCD_WORST_ELECTION_MS / 1000} s with etcd's ${ETCD_ELECTION_TIMEOUT_MS} ms election timeout), and Patroni's rule`,
        `    # loop_wait + 2 x retry_timeout <= ttl holds.`,
        `    ttl: ${ttl}`,
        `    loop_wait: ${loopWait}`,
        `    retry_timeout: ${retryTimeout}`,
        `    maximum_lag_on_failover: ${input.maximumLagOnFailover}`,
        ...(input.synchronousMode
            ? [
                  `    # Each commit waits for the synchronous standby, and only it may be promoted. Not strict:`,
                  `    # with no standby left, the primary takes writes alone rather than none.`,
              ]
            : [`    # Asynchronous: a failover may lose the last writes, up to maximum_lag_on_failover.`]),
        `    synchronous_mode: ${input.synchronousMode}`,
        `    synchronous_mode_strict: false`,
        `    postgresql:`,
        `      # A primary that comes back after a failover is rewound to follow the new one, rather`,
        `      # than cloned again.`,
        `      use_pg_rewind: true`,
        `      # A replication slot per member: the primary keeps the WAL a replica still needs.`,
        `      use_slots: true`,
        `      parameters:`,
        ...parameterLines,
        `  # UTF8, with the C.UTF-8 locale (built into Debian's C library: sorting by code point does`,
        `  # not change with a library update), and checksums, so a corrupted page is an error, not`,
        `  # wrong data (pg_rewind needs them too, or wal_log_hints).`,
        `  initdb:`,
        `    - encoding: ${q("UTF8")}`,
        `    - locale: ${q("C.UTF-8")}`,
        `    - ${q("data-checksums")}`,
        `  # Patroni uses postgresql.pg_hba above; this copy is there because Patroni 3.0.2's`,
        `  # --validate-config requires bootstrap.pg_hba.`,
        `  pg_hba: *pg_hba`,
        `  # Creates the app's role and database when APP_PASSWORD_FILE names its password's file; swarm-ha's`,
        `  # services leave that to its postgres-app-role step, so that no member reads the app's password.`,
        `  post_bootstrap: ${q(postBootstrap)}`,
    ];
    return lines.join("\n") + "\n";
}

/** A YAML double-quoted scalar (JSON's string syntax is YAML's). */
function q(text: string): string {
    return JSON.stringify(text);
}

/** A setting's value in YAML: numbers bare, booleans as Postgres' on/off, strings quoted. */
function value(v: PgParameterValue): string {
    if (typeof v === "number") return String(v);
    if (typeof v === "boolean") return q(v ? "on" : "off");
    return q(v);
}

interface Resolved {
    ttl: number;
    loopWait: number;
    retryTimeout: number;
    dataDir: string;
    postBootstrap: string;
}

function validate(input: PatroniConfigInput, r: Resolved): void {
    const problems: string[] = [];
    const check = (field: string, ok: boolean, message: string) => {
        if (!ok) problems.push(`${field}: ${message}`);
    };
    const seconds = (field: string, v: number, min: number) =>
        check(field, Number.isInteger(v) && v >= min && v <= 3600, `must be a whole number of seconds from ${min} to 3600 (got ${show(v)})`);

    check("scope", typeof input.scope === "string" && SCOPE.test(input.scope), `must be 1-63 letters, digits, '-' or '_', starting with a letter or digit (got ${show(input.scope)})`);
    check("synchronousMode", typeof input.synchronousMode === "boolean", `must be true or false (got ${show(input.synchronousMode)})`);
    check(
        "maximumLagOnFailover",
        Number.isInteger(input.maximumLagOnFailover) && input.maximumLagOnFailover >= 0 && input.maximumLagOnFailover <= MAX_BYTES,
        `must be a whole number of bytes, 0 or more (got ${show(input.maximumLagOnFailover)})`,
    );
    const before = problems.length;
    seconds("ttl", r.ttl, 1);
    seconds("loopWait", r.loopWait, 1);
    seconds("retryTimeout", r.retryTimeout, 1);
    if (problems.length === before) {
        check(
            "retryTimeout",
            r.retryTimeout * 1000 > ETCD_WORST_ELECTION_MS,
            `must be more than ${ETCD_WORST_ELECTION_MS / 1000} s, the longest an etcd leader election takes (etcd.ts): a primary that cannot reach etcd for retryTimeout demotes itself (got ${r.retryTimeout})`,
        );
        check(
            "ttl",
            r.ttl >= r.loopWait + 2 * r.retryTimeout,
            `must be at least loopWait + 2 x retryTimeout = ${r.loopWait + 2 * r.retryTimeout} (Patroni's rule: the leader retries etcd twice before its key expires) (got ${r.ttl})`,
        );
    }
    check(
        "dataDir",
        typeof r.dataDir === "string" && ABSOLUTE_PATH.test(r.dataDir) && !r.dataDir.split("/").includes("..") && r.dataDir.split("/").filter(Boolean).length >= 2,
        `must be an absolute path below a directory of its own (the volume), of letters, digits, '.', '_', '-' and '/', e.g. /data/pg (got ${show(r.dataDir)})`,
    );
    check(
        "postBootstrapScript",
        typeof r.postBootstrap === "string" && ABSOLUTE_PATH.test(r.postBootstrap) && !r.postBootstrap.split("/").includes(".."),
        `must be an absolute path of letters, digits, '.', '_', '-' and '/' (got ${show(r.postBootstrap)})`,
    );

    const params = input.pgParameters;
    if (params !== undefined && (params === null || typeof params !== "object" || Array.isArray(params))) {
        problems.push(`pgParameters: must be a map of setting names to values (got ${show(params)})`);
    } else if (params) {
        for (const [name, v] of Object.entries(params)) {
            const field = `pgParameters.${name}`;
            if (!PARAMETER_NAME.test(name)) {
                problems.push(`pgParameters: ${show(name)} is not a Postgres setting's name (lower-case letters, digits and '_', one '.' for an extension's)`);
                continue;
            }
            if (PATRONI_OWNED.has(name)) {
                problems.push(`${field}: is set by Patroni itself (from this file's other settings), not through pgParameters`);
                continue;
            }
            const ok =
                (typeof v === "string" && v.length <= 1024 && !/[\u0000-\u001f\u007f]/.test(v)) ||
                (typeof v === "number" && Number.isFinite(v)) ||
                typeof v === "boolean";
            if (!ok) {
                problems.push(`${field}: must be a string (one line, at most 1024 characters), a finite number or a boolean (got ${show(v)})`);
                continue;
            }
            const restricted = RESTRICTED[name];
            if (restricted && !restricted.allowed.includes(String(v))) {
                problems.push(`${field}: must be ${restricted.allowed.map((a) => `'${a}'`).join(" or ")}: ${restricted.why} (got ${show(v)})`);
            }
        }
    }
    if (problems.length) throw new Error(`swarm-ha: patroni.yml: cannot render:\n  ${problems.join("\n  ")}`);
}

/** A value for an error message: strings quoted with escapes, so a newline shows as \n. */
function show(value: unknown): string {
    return value === undefined ? "nothing" : JSON.stringify(value);
}
