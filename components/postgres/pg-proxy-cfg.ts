/**
 * The Postgres proxy's haproxy.cfg: typed input in, config text out, no Pulumi inside.
 *
 * HAProxy 2.6 (the stack's images/haproxy image, Debian bookworm) runs replicated beside the app,
 * on the app and data networks, in TCP mode: the read-write port goes to the member Patroni made
 * the leader, the read-only port to replicas that are not too far behind, and to the leader while
 * none is. HAProxy tells them apart by asking each member's Patroni REST API (GET /primary: 200
 * on the leader only; GET /replica?lag=<bytes>: 200 on a streaming replica within that lag),
 * finds the members through Docker's embedded DNS, and cuts the sessions of a member that stops
 * being what the port needs, so writers reconnect to the new primary instead of writing into a
 * demoted one. Why each value that is not HAProxy's default was chosen is said in a comment next
 * to it, in the rendered text. No password is needed here, and none is written.
 */
import { dockerDnsResolvers } from "../common/haproxy-resolvers";

/** One Postgres member, as the proxy reaches it. */
export interface PgProxyServer {
    /**
     * The member's name (its node's): the server's name in HAProxy's logs and runtime API.
     * Letters, digits, '-', '_' and '.'.
     * @example "worker-1"
     */
    name: string;
    /**
     * The member's host on the data network: its service's name (dnsrr: the task's IP while it
     * runs, no answer while it does not).
     * @example "swarm-ha-pg-worker-1"
     */
    host: string;
    /**
     * The port Postgres listens on in the member's container.
     * @default 5432
     */
    port?: number;
    /**
     * The port of the member's Patroni REST API, when it is not `patroniPort` (tests only).
     * @default patroniPort
     */
    patroniPort?: number;
}

/** Everything the proxy's haproxy.cfg depends on. */
export interface PgProxyConfigInput {
    /**
     * Every Postgres member (the primary's node first, as config lists them). Each is a server
     * of both ports; which one serves is decided by the checks, not by the order.
     */
    servers: PgProxyServer[];
    /**
     * The port writers connect to: the leader.
     * @example 5432
     */
    readWritePort: number;
    /**
     * The port readers connect to: replicas within `maxReplicaLagBytes`, or the leader while no
     * replica is.
     * @example 5433
     */
    readOnlyPort: number;
    /**
     * The port of Patroni's REST API on the members, which the checks ask.
     * @example 8008
     */
    patroniPort: number;
    /**
     * A replica further behind the leader than this many bytes of WAL gets no readers (Patroni's
     * `/replica?lag=`). Use the same bound as for failover.
     * @example 1048576 // 1 MiB
     */
    maxReplicaLagBytes: number;
    /**
     * The port of `/alive` (200 while HAProxy runs: the container's health check) and
     * `/healthz` (503 while no member is the leader).
     * @example 8405
     */
    healthPort: number;
}

/** The port Postgres listens on in a member's container, unless a server says otherwise. */
export const DEFAULT_POSTGRES_PORT = 5432;
/** The runtime API's socket inside the container (the same path as the edge's HAProxy). */
export const PG_PROXY_ADMIN_SOCKET = "/tmp/haproxy-admin.sock";
/** Suffix of a member's second server in the read-only listener, the one used while it leads. */
export const LEADER_FALLBACK_SUFFIX = "-leader";

/** HAProxy's rule for proxy and server names: letters, digits, '-', '_', '.' and ':'; no ':' here. */
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** A DNS name (an IPv4 address matches too): dot-separated labels of letters, digits and inner hyphens. */
const DNS_NAME = /^(?=.{1,240}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** Enough servers for any Postgres cluster this stack runs. */
export const MAX_PG_SERVERS = 16;

/**
 * Renders the Postgres proxy's haproxy.cfg (the same for every replica of the proxy).
 *
 * Throws when an input would make a broken or unsafe file (a port out of range or reused, a name
 * HAProxy would split or parse as syntax, two servers with one name), naming every field at fault.
 */
export function renderPgProxyConfig(input: PgProxyConfigInput): string {
    validate(input);
    const { servers, readWritePort, readOnlyPort, patroniPort, maxReplicaLagBytes, healthPort } = input;
    const server = (s: PgProxyServer, name: string, options: string) =>
        `    server ${name} ${s.host}:${s.port ?? DEFAULT_POSTGRES_PORT} ${options.replace("$PATRONI", String(s.patroniPort ?? patroniPort))}`;

    const lines = [
        `# haproxy.cfg of the Postgres proxy, rendered by swarm-ha (components/postgres/pg-proxy-cfg.ts): change it there.`,
        `# Port ${readWritePort}: the leader. Port ${readOnlyPort}: replicas, or the leader while none is up. Each member's`,
        `# Patroni (port ${patroniPort}) says what it is. No password is needed here.`,
        ``,
        `global`,
        `    log stdout format raw local0`,
        `    # Docker may give the container a huge open-files limit, and HAProxy sizes its tables from it`,
        `    # (docker-library/haproxy#194). Cap it.`,
        `    fd-hard-limit 65536`,
        `    # The service stops HAProxy with SIGUSR1 (stop accepting, let the sessions finish). Postgres`,
        `    # sessions may last for hours: close them after 10s, inside the service's stop grace period.`,
        `    hard-stop-after 10s`,
        `    # Runtime API through 'docker exec' (show servers state).`,
        `    stats socket ${PG_PROXY_ADMIN_SOCKET} mode 600 level admin`,
        `    stats timeout 1m`,
        `    user haproxy`,
        `    group haproxy`,
        ``,
        `defaults`,
        `    mode tcp`,
        `    log global`,
        `    option tcplog`,
        `    option dontlognull`,
        `    # The members are on the same overlay network: a connection takes well under a millisecond,`,
        `    # and one that takes a second is going to an address with no task behind it.`,
        `    timeout connect 1s`,
        `    # A pooled Postgres connection may sit idle for long: keep it 30 minutes (HAProxy closes an`,
        `    # idle session after the timeout), with TCP keep-alives so nothing in between drops it sooner.`,
        `    timeout client 30m`,
        `    timeout server 30m`,
        `    option clitcpka`,
        `    option srvtcpka`,
        `    # A check with no answer within a second has failed (Patroni answers in milliseconds).`,
        `    timeout check 1s`,
        `    # Check every second (every 500ms while a change is being confirmed); 2 answers in a row`,
        `    # change a member's state. A member marked down has its sessions cut: clients reconnect`,
        `    # and land on the right one. Addresses come from DNS only (init-addr none: start with the`,
        `    # servers down rather than refuse to start while a member has no task), IPv4 first (the`,
        `    # default prefers IPv6; the overlay networks are IPv4).`,
        `    default-server inter 1s fastinter 500ms fall 2 rise 2 on-marked-down shutdown-sessions resolvers docker resolve-prefer ipv4 init-addr none`,
        ``,
        ...dockerDnsResolvers({ keepLastAddress: true }),
        `# Writers: the member whose Patroni answers 200 on /primary, that is the leader, and only it.`,
        `listen pg_rw`,
        `    bind :${readWritePort}`,
        `    option httpchk GET /primary`,
        `    http-check expect status 200`,
        ...servers.map((s) => server(s, s.name, "check port $PATRONI")),
        ``,
        `# Readers: the replicas that stream from the leader and are at most ${maxReplicaLagBytes} bytes behind, in turn`,
        `# (fewest sessions first).`,
        `listen pg_ro`,
        `    bind :${readOnlyPort}`,
        `    balance leastconn`,
        `    option httpchk GET /replica?lag=${maxReplicaLagBytes}`,
        `    http-check expect status 200`,
        ...servers.map((s) => server(s, s.name, "check port $PATRONI")),
        `    # While no replica is up, readers go to the leader: these servers follow pg_rw's checks of the`,
        `    # same members (up only on the leader), and serve only when every server above is down.`,
        ...servers.map((s) => server(s, `${s.name}${LEADER_FALLBACK_SUFFIX}`, `backup track pg_rw/${s.name}`)),
        ``,
        `# /alive answers while HAProxy runs: the container's health check (a proxy without a leader to`,
        `# send to is not broken, and restarting it would not help). /healthz answers 503 while no`,
        `# member is the leader: for people and tests. Not logged: the health check asks every 2s.`,
        `frontend health`,
        `    mode http`,
        `    bind :${healthPort}`,
        `    monitor-uri /healthz`,
        `    monitor fail if { nbsrv(pg_rw) lt 1 }`,
        `    http-request set-log-level silent`,
        `    http-request return status 200 content-type text/plain string "alive" if { path /alive }`,
    ];
    return lines.join("\n") + "\n";
}

function validate(input: PgProxyConfigInput): void {
    const problems: string[] = [];
    const check = (field: string, ok: boolean, message: string) => {
        if (!ok) problems.push(`${field}: ${message}`);
    };
    const isPort = (value: unknown) => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
    const port = (field: string, value: unknown) => check(field, isPort(value), `must be an integer from 1 to 65535 (got ${show(value)})`);

    if (!Array.isArray(input.servers) || input.servers.length === 0) {
        problems.push("servers: must list at least one Postgres member");
    } else {
        if (input.servers.length > MAX_PG_SERVERS) problems.push(`servers: ${input.servers.length} members; at most ${MAX_PG_SERVERS}`);
        // Every server name in the file: each member's, and its leader fallback's in pg_ro.
        const names = new Map<string, string>();
        input.servers.forEach((s, i) => {
            if (typeof s?.name !== "string" || !SERVER_NAME.test(s.name)) {
                problems.push(`servers[${i}].name: must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit (got ${show(s?.name)})`);
            } else {
                for (const [n, what] of [
                    [s.name, `servers[${i}]`],
                    [`${s.name}${LEADER_FALLBACK_SUFFIX}`, `servers[${i}]'s leader fallback`],
                ]) {
                    const other = names.get(n);
                    if (other) problems.push(`servers[${i}].name: ${show(s.name)} makes the server name ${show(n)}, which is also ${other}'s; names must differ`);
                    else names.set(n, what);
                }
            }
            check(`servers[${i}].host`, typeof s?.host === "string" && DNS_NAME.test(s.host), `must be a DNS name: letters, digits, '-' and dots, e.g. swarm-ha-pg-worker-1 (got ${show(s?.host)})`);
            if (s?.port !== undefined) port(`servers[${i}].port`, s.port);
            if (s?.patroniPort !== undefined) port(`servers[${i}].patroniPort`, s.patroniPort);
        });
    }
    port("readWritePort", input.readWritePort);
    port("readOnlyPort", input.readOnlyPort);
    port("patroniPort", input.patroniPort);
    check(
        "maxReplicaLagBytes",
        Number.isInteger(input.maxReplicaLagBytes) && input.maxReplicaLagBytes >= 0 && input.maxReplicaLagBytes <= Number.MAX_SAFE_INTEGER,
        `must be a whole number of bytes, 0 or more (got ${show(input.maxReplicaLagBytes)})`,
    );
    port("healthPort", input.healthPort);

    // Every listener needs its own port.
    const listeners: [string, unknown][] = [
        ["readWritePort", input.readWritePort],
        ["readOnlyPort", input.readOnlyPort],
        ["healthPort", input.healthPort],
    ];
    listeners.forEach(([field, value], i) => {
        const first = listeners.findIndex(([, v]) => v === value);
        if (first >= 0 && first < i) problems.push(`${field}: ${show(value)} is also ${listeners[first][0]}; each listener needs its own port`);
    });

    if (problems.length) throw new Error(`swarm-ha: pg-proxy haproxy.cfg: cannot render:\n  ${problems.join("\n  ")}`);
}

/** A value for an error message: strings quoted with escapes, so a newline shows as \n. */
function show(value: unknown): string {
    return value === undefined ? "nothing" : JSON.stringify(value);
}
