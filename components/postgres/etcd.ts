/**
 * etcd, Patroni's store: what each member's service gives its entrypoint, typed input in, plain
 * values out, no Pulumi inside.
 *
 * Each manager runs one member (`<prefix>-etcd-<node>`, dnsrr, no Docker health check) from the
 * image in images/etcd/. Its entrypoint, `swarm-ha-etcd`, turns four environment variables (see
 * `EtcdEnv`) into etcd's flags at run time, rather than the service passing flags: it must look
 * at its volume first (a member that holds data starts at once; a new one waits until every
 * peer's name resolves), and etcd refuses to start when a flag is also set through its own
 * `ETCD_<FLAG>` variables (ETCD_NAME is one), so the entrypoint, which unsets them, is the one
 * place that sees both. The timers it passes are exported here, because Patroni's timers must be
 * chosen against them (patroni-yml.ts checks them), and the tests check the entrypoint's flags
 * against these values.
 */

/** etcd's client port: Patroni's `etcd3` endpoint (`PATRONI_ETCD3_HOST`). */
export const ETCD_CLIENT_PORT = 2379;
/** etcd's peer port: `--initial-cluster` and the peers' advertised URLs. */
export const ETCD_PEER_PORT = 2380;

/**
 * `--heartbeat-interval` the entrypoint passes, in ms (etcd's default: 100). The leader tells
 * the followers it is alive this often. 150: one manager of a busy 2-core host (dockerd, Swarm's
 * own Raft, the stack's tasks) can be descheduled or stall on fsync for longer than etcd's
 * default timers allow, and each such stall would start an election.
 */
export const ETCD_HEARTBEAT_MS = 150;

/**
 * `--election-timeout` the entrypoint passes, in ms (etcd's default: 1000; etcd's tuning guide
 * wants 10 heartbeats or more). A follower that hears no heartbeat for this long (randomized up
 * to twice as long) calls an election: stalls up to 1.5 s are ridden out. It cannot be longer:
 * while etcd has no leader, Patroni's calls fail, and a Patroni primary that cannot reach etcd
 * for `retry_timeout` demotes itself. A dead etcd leader is replaced within 2 × 1.5 s (plus a
 * round trip), inside Patroni's 4 s (patroni-yml.ts checks that), so losing a manager does not
 * cost Postgres its primary.
 */
export const ETCD_ELECTION_TIMEOUT_MS = 1500;

/** The longest a new etcd leader can take to be elected after the old one dies (the randomized timeout's top). */
export const ETCD_WORST_ELECTION_MS = 2 * ETCD_ELECTION_TIMEOUT_MS;

/** One etcd member: its name and the DNS name its peers and Patroni reach it by. */
export interface EtcdMember {
    /**
     * The member's name in the etcd cluster (its node's name). Letters, digits, '-' and '_'.
     * @example "manager-1"
     */
    name: string;
    /**
     * The member's host name on the data network: its service's name. Stable across restarts,
     * unlike a task's IP, so it is what the member advertises.
     * @example "swarm-ha-etcd-manager-1"
     */
    host: string;
}

/** What one member's service passes its entrypoint. */
export interface EtcdEnvInput {
    /**
     * The member this service runs: one of `members`, by name.
     * @example "manager-1"
     */
    name: string;
    /**
     * Every member of the cluster, this one included, the same list for each (in any order).
     * @example [{ name: "manager-1", host: "swarm-ha-etcd-manager-1" }, …]
     */
    members: EtcdMember[];
    /**
     * `--initial-cluster-token`: unique per cluster, so that members of two stacks on one network
     * can never join each other.
     * @example "swarm-ha-dev"
     */
    clusterToken: string;
    /**
     * The name every member answers to (their shared alias), through which a starting member
     * finds one to ask when ETCD_PEERS, read only at its creation, names managers gone since.
     * @example "swarm-ha-etcd"
     */
    clientHost?: string;
}

/**
 * The environment of one member's container, as `swarm-ha-etcd` reads it:
 * - `ETCD_NAME`: this member's name;
 * - `ETCD_PEERS`: `name=host` pairs, space-separated, by name: `--initial-cluster` with `http://<host>:2380`;
 * - `ETCD_SELF_HOST`: this member's host, which it advertises;
 * - `ETCD_CLUSTER_TOKEN`;
 * - `ETCD_CLIENT_HOST` (when given): the members' shared alias.
 */
export type EtcdEnv = Record<"ETCD_NAME" | "ETCD_PEERS" | "ETCD_SELF_HOST" | "ETCD_CLUSTER_TOKEN", string> & { ETCD_CLIENT_HOST?: string };

/** The most members a cluster may list: etcd's guidance, as for Swarm managers. */
export const MAX_ETCD_MEMBERS = 7;

/** A member name: etcd takes any string, but it becomes a word of ETCD_PEERS and of `--initial-cluster`. */
const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
/** A DNS name (or an IPv4 address, for tests): dot-separated labels of letters, digits and inner hyphens. */
const HOST_NAME = /^(?=.{1,240}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** A cluster token: one word. */
const TOKEN = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The environment of one etcd member's service.
 *
 * Throws when the list would make a broken cluster (no members, too many, a name or host twice,
 * this member not in it, a value the entrypoint would split), naming every field at fault.
 * @example
 * renderEtcdEnv({ name: "manager-1", members, clusterToken: "swarm-ha-dev" })
 * // { ETCD_NAME: "manager-1", ETCD_PEERS: "manager-1=swarm-ha-etcd-manager-1 manager-2=…", … }
 */
export function renderEtcdEnv(input: EtcdEnvInput): EtcdEnv {
    validateEnv(input);
    const self = input.members.find((m) => m.name === input.name)!;
    return {
        ETCD_NAME: self.name,
        // By name, not in config order: moving a manager in the list restarts no member.
        ETCD_PEERS: [...input.members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((m) => `${m.name}=${m.host}`).join(" "),
        ETCD_SELF_HOST: self.host,
        ETCD_CLUSTER_TOKEN: input.clusterToken,
        ...(input.clientHost !== undefined ? { ETCD_CLIENT_HOST: input.clientHost } : {}),
    };
}

/**
 * Patroni's etcd endpoint (`ETCD3_HOST` of the Postgres services, Patroni's `etcd3.host`): one
 * `host:2379`. Patroni resolves the host to all its addresses, tries each, then follows the
 * cluster's own member list (each member's advertised client URL), and goes back to the host's
 * addresses only when every member it knew has failed (Patroni 3.0 `patroni/dcs/etcd.py`,
 * `_get_machines_cache_from_dns`, `_refresh_machines_cache`). Given the members' shared alias
 * (`etcdClientHost`), it never names a manager, so a change of managers changes no Postgres
 * member's environment.
 * @example renderEtcd3Host("swarm-ha-etcd") // "swarm-ha-etcd:2379"
 */
export function renderEtcd3Host(host: string, clientPort: number = ETCD_CLIENT_PORT): string {
    const problems: string[] = [];
    if (typeof host !== "string" || !HOST_NAME.test(host)) problems.push(`host: must be a DNS name: letters, digits, '-' and dots, e.g. swarm-ha-etcd (got ${show(host)})`);
    if (!Number.isInteger(clientPort) || clientPort < 1 || clientPort > 65535) problems.push(`clientPort: must be an integer from 1 to 65535 (got ${show(clientPort)})`);
    if (problems.length) throw new Error(`swarm-ha: etcd endpoint: cannot render:\n  ${problems.join("\n  ")}`);
    return `${host}:${clientPort}`;
}

function validateEnv(input: EtcdEnvInput): void {
    const problems = membersProblems(input.members);
    if (typeof input.name !== "string" || !MEMBER_NAME.test(input.name)) {
        problems.push(`name: must be 1-63 letters, digits, '-' or '_', starting with a letter or digit (got ${show(input.name)})`);
    } else if (Array.isArray(input.members) && !input.members.some((m) => m?.name === input.name)) {
        problems.push(`name: ${show(input.name)} is not in members; a member must be part of the cluster it starts`);
    }
    if (typeof input.clusterToken !== "string" || !TOKEN.test(input.clusterToken)) {
        problems.push(`clusterToken: must be 1-128 letters, digits, '.', '_' or '-' (got ${show(input.clusterToken)})`);
    }
    if (input.clientHost !== undefined && (typeof input.clientHost !== "string" || !HOST_NAME.test(input.clientHost))) {
        problems.push(`clientHost: must be a DNS name: letters, digits, '-' and dots, e.g. swarm-ha-etcd (got ${show(input.clientHost)})`);
    }
    if (problems.length) throw new Error(`swarm-ha: etcd environment: cannot render:\n  ${problems.join("\n  ")}`);
}

function membersProblems(members: EtcdMember[]): string[] {
    const problems: string[] = [];
    if (!Array.isArray(members) || members.length === 0) return ["members: must list at least one member"];
    if (members.length > MAX_ETCD_MEMBERS) {
        problems.push(`members: ${members.length} members; at most ${MAX_ETCD_MEMBERS} (each one more makes every write wait for a larger majority)`);
    }
    members.forEach((m, i) => {
        if (typeof m?.name !== "string" || !MEMBER_NAME.test(m.name)) {
            problems.push(`members[${i}].name: must be 1-63 letters, digits, '-' or '_', starting with a letter or digit (got ${show(m?.name)})`);
        } else if (members.findIndex((o) => o?.name === m.name) < i) {
            problems.push(`members[${i}].name: ${show(m.name)} is listed twice; each member needs its own name`);
        }
        if (typeof m?.host !== "string" || !HOST_NAME.test(m.host)) {
            problems.push(`members[${i}].host: must be a DNS name: letters, digits, '-' and dots, e.g. swarm-ha-etcd-manager-1 (got ${show(m?.host)})`);
        } else if (members.findIndex((o) => o?.host === m.host) < i) {
            problems.push(`members[${i}].host: ${show(m.host)} is listed twice; each member needs its own host`);
        }
    });
    return problems;
}

/** A value for an error message: strings quoted with escapes, so a newline shows as \n. */
function show(value: unknown): string {
    return value === undefined ? "nothing" : JSON.stringify(value);
}
