/**
 * The data tier: Redis with a Sentinel beside each server on the `redis` nodes, Postgres under
 * Patroni with etcd (Patroni's store) on the managers, and backups kept away from the primary.
 * Rules: the Postgres nodes' roles, enough nodes that run each part for it to survive the loss
 * of one, Redis's write-loss bound within the replicas there are, and a node for the backups.
 * Only nodes with availability `active` count: swarm starts nothing on `pause` and `drain`
 * nodes, and each of these services is pinned to its node. These rules apply only with
 * `dataTier` (the default); without it, its roles on nodes are a warning (`warnUnusedDataRoles`).
 */
import { LEADER_FALLBACK_SUFFIX, MAX_PG_SERVERS } from "../postgres/pg-proxy-cfg";
import type { NodeInput } from "./nodes";
import { type ConfigProblem, NAMESPACE, type StackRole, fullKey, nodeKey } from "./types";

const NODES_KEY = `${NAMESPACE}:nodes`;

interface Indexed {
    n: NodeInput;
    i: number;
}

const indexed = (nodes: NodeInput[]): Indexed[] => nodes.map((n, i) => ({ n, i }));
const withRole = (nodes: NodeInput[], role: StackRole) => indexed(nodes).filter(({ n }) => n.roles.includes(role));
const isActive = ({ n }: Indexed) => n.availability === "active";
const names = (list: Indexed[]) => list.map(({ n }) => n.name).join(", ");

/** `, or set availability: active on swarm-ha:nodes[2] (manager-3), which is drain`: the idle nodes that would count if active. */
function orActivate(idle: Indexed[]): string {
    return idle.length === 0 ? "" : `, or set availability: active on ${idle.map(({ n, i }) => `${nodeKey(i)} (${n.name}), which is ${n.availability}`).join("; ")}`;
}

/** The roles only the data tier runs anything for. */
const DATA_ROLES = ["redis", "postgres-primary", "postgres-replica"] as const satisfies readonly StackRole[];

/**
 * With `dataTier` false, its roles on nodes run nothing: a warning (not a problem), so a stack
 * can turn the data tier off and back on without editing its nodes.
 */
export function warnUnusedDataRoles(nodes: NodeInput[]): ConfigProblem[] {
    const unused = DATA_ROLES.map((role) => ({ role, holders: withRole(nodes, role) })).filter(({ holders }) => holders.length > 0);
    if (unused.length === 0) return [];
    const key = fullKey("dataTier");
    return [
        {
            key,
            message:
                `is false, but nodes have roles of the data tier, which run nothing without it: ${unused.map(({ role, holders }) => `'${role}' on ${names(holders)}`).join("; ")}. ` +
                `Remove those roles, or set ${key} true to run Redis and Postgres there`,
        },
    ];
}

/**
 * Postgres's nodes: exactly one `postgres-primary` (its data lives there), at least one
 * `postgres-replica` on another node (so it survives the primary's host), each active (a
 * Postgres member is pinned to its node: on a node that runs no tasks it never starts), and
 * no more than the Postgres proxy holds.
 */
export function checkPostgresNodes(nodes: NodeInput[]): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const primary = withRole(nodes, "postgres-primary");
    if (primary.length !== 1) {
        problems.push({
            key: NODES_KEY,
            message: `has ${primary.length} node(s) with role 'postgres-primary'; exactly one node must carry it (the Postgres primary's data lives there)`,
        });
    }
    const replica = withRole(nodes, "postgres-replica");
    if (replica.length === 0) {
        problems.push({ key: NODES_KEY, message: "has no node with role 'postgres-replica'; give it to a node other than the postgres-primary one, for the streaming replica" });
    }
    for (const r of replica) {
        if (r.n.roles.includes("postgres-primary")) {
            problems.push({ key: `${nodeKey(r.i)}.roles`, message: "has both 'postgres-primary' and 'postgres-replica'; the replica must run on a different node so it survives the primary's host" });
        }
    }
    // The Postgres proxy beside the app keeps a server line for each member; its renderer holds MAX_PG_SERVERS.
    const members = [...primary, ...replica].filter(isActive);
    if (members.length > MAX_PG_SERVERS) {
        problems.push({
            key: NODES_KEY,
            message:
                `has ${members.length} active Postgres nodes (roles 'postgres-primary' and 'postgres-replica'); the Postgres proxy takes at most ${MAX_PG_SERVERS}, ` +
                `and each replica adds to the primary's replication load: take 'postgres-replica' off ${members.length - MAX_PG_SERVERS} node(s)`,
        });
    }
    // The proxy names a second server line after each member, `<node>-leader`: a member named so clashes with it.
    for (const { n, i } of members) {
        const shadowed = members.find((m) => `${m.n.name}${LEADER_FALLBACK_SUFFIX}` === n.name);
        if (shadowed === undefined) continue;
        problems.push({
            key: `${nodeKey(i)}.name`,
            message:
                `'${n.name}' is the name the Postgres proxy gives its fallback line for ${nodeKey(shadowed.i)} (${shadowed.n.name}), and both are Postgres nodes: ` +
                `rename this node (e.g. name: ${n.name.slice(0, -LEADER_FALLBACK_SUFFIX.length)}-2)`,
        });
    }
    for (const [role, holders] of [["postgres-primary", primary], ["postgres-replica", replica]] as const) {
        for (const { n, i } of holders) {
            if (n.availability === "active") continue;
            problems.push({
                key: `${nodeKey(i)}.availability`,
                message:
                    `is '${n.availability}', but this node (${n.name}) has role '${role}', which is pinned to it: on a ${n.availability} node swarm starts no tasks, so Postgres could not run. ` +
                    `Set availability: active, or move '${role}' to an active node`,
            });
        }
    }
    return problems;
}

/** The `redis` nodes Redis runs on: one server and one Sentinel on each active one. */
export function activeRedisNodes(nodes: NodeInput[]): NodeInput[] {
    return withRole(nodes, "redis")
        .filter(isActive)
        .map(({ n }) => n);
}

/**
 * Redis's nodes: a primary and at least two replicas, one per node, each with a Sentinel. Fewer
 * than three cannot fail over: a failover needs a majority of the Sentinels, and with two, the
 * one left when the primary's node dies is no majority. One node is allowed with `allowNonHa`.
 */
export function checkRedisNodes(nodes: NodeInput[], allowNonHa: boolean): ConfigProblem[] {
    const needed = allowNonHa ? 1 : 3;
    const redis = withRole(nodes, "redis");
    const active = redis.filter(isActive);
    if (active.length >= needed) return [];
    const have = active.length === 0 ? "has no node with role 'redis' and availability: active" : `has ${active.length} node(s) with role 'redis' and availability: active (${names(active)})`;
    const why = allowNonHa
        ? "Redis needs at least one"
        : "Redis needs a primary and at least two replicas, one per node, each with a Sentinel beside it, so that when the primary's node dies the Sentinels left are a majority and promote a replica";
    return [
        {
            key: NODES_KEY,
            message:
                `${have}; ${why}: add 'redis' to the roles of ${needed - active.length} more active node(s)${orActivate(redis.filter((r) => !isActive(r)))}` +
                (allowNonHa ? "" : `, or set ${NAMESPACE}:allowNonHa true for a test cluster (a single Redis)`),
        },
    ];
}

/**
 * `redisMinReplicasToWrite` against the replicas there are (the active redis nodes but the
 * primary): a primary waiting for more replicas than exist refuses every write. Set to all of
 * them, it refuses writes whenever one redis node is down, a failover included: a warning.
 */
export function checkRedisMinReplicas(nodes: NodeInput[], minReplicasToWrite: number): { problems: ConfigProblem[]; warnings: ConfigProblem[] } {
    const redis = activeRedisNodes(nodes);
    const key = fullKey("redisMinReplicasToWrite");
    // No redis node: checkRedisNodes says so.
    if (redis.length === 0 || minReplicasToWrite === 0) return { problems: [], warnings: [] };
    const replicas = redis.length - 1;
    const on = `${redis.length} active node(s) with role 'redis' (${redis.map((n) => n.name).join(", ")}) are a primary and ${replicas} replica(s)`;
    if (minReplicasToWrite > replicas) {
        const suggest = Math.min(1, replicas);
        return {
            problems: [
                {
                    key,
                    message:
                        `is ${minReplicasToWrite}, but ${on}: the primary would wait for more replicas than exist and refuse every write. ` +
                        `Set it from 0 (no bound on write loss) to ${replicas} (e.g. pulumi config set ${key} ${suggest}), or add 'redis' to the roles of more active nodes`,
                },
            ],
            warnings: [],
        };
    }
    if (minReplicasToWrite === replicas) {
        return {
            problems: [],
            warnings: [
                {
                    key,
                    message:
                        `is ${minReplicasToWrite}, and ${on}: while any one of them is down (and after a failover, until the old primary is back as a replica) ` +
                        `the primary has fewer replicas and refuses every write. To keep writing through the loss of a node, set it to ${replicas - 1} ` +
                        `(pulumi config set ${key} ${replicas - 1}), or add 'redis' to the roles of another active node`,
                },
            ],
        };
    }
    return { problems: [], warnings: [] };
}

/**
 * etcd, Patroni's store, runs a member on each manager. Patroni's primary stops taking writes
 * when it cannot reach a majority of etcd, so without `allowNonHa` three members must run:
 * managers with availability `drain` or `pause` (a common way to keep work off managers) run
 * none. A manager count that is itself too small is reported by the swarm's quorum rule.
 */
export function checkEtcdManagers(nodes: NodeInput[], allowNonHa: boolean): ConfigProblem[] {
    const needed = allowNonHa ? 1 : 3;
    const managers = indexed(nodes).filter(({ n }) => n.swarmRole === "manager");
    const active = managers.filter(isActive);
    if (active.length >= needed || managers.length < needed) return [];
    const have = active.length === 0 ? "has no manager with availability: active" : `has ${active.length} manager(s) with availability: active (${names(active)})`;
    const why = allowNonHa
        ? "etcd, where Patroni keeps which Postgres is the primary, runs one member on each active manager, and Postgres needs at least one"
        : "etcd, where Patroni keeps which Postgres is the primary, runs one member on each active manager and needs 3, " +
          "so that it keeps a majority when one fails (without one, the Postgres primary stops taking writes)";
    const idle = managers.filter((m) => !isActive(m));
    const more = needed - active.length;
    const which = idle.map(({ n, i }) => `${nodeKey(i)} (${n.name}), which is ${n.availability}`).join("; ");
    return [
        {
            key: NODES_KEY,
            message:
                `${have}; ${why}: set availability: active on ${more === idle.length ? which : `${more} of ${which}`}` +
                (allowNonHa ? "" : `, or set ${NAMESPACE}:allowNonHa true for a test cluster`),
        },
    ];
}

/**
 * The backups are kept on a node other than the postgres-primary's, so that they survive its
 * host: some other node must be active. (The replica's rules already give one; this says so
 * plainly if they ever do not.) Without exactly one primary node, its own rule reports that.
 */
export function checkBackupNode(nodes: NodeInput[]): ConfigProblem[] {
    const primary = withRole(nodes, "postgres-primary");
    if (primary.length !== 1) return [];
    const [{ n: p, i: pi }] = primary;
    const others = indexed(nodes).filter(({ i }) => i !== pi);
    if (others.some(isActive)) return [];
    return [
        {
            key: NODES_KEY,
            message:
                `has no active node other than ${nodeKey(pi)} (${p.name}), which has role 'postgres-primary': the backups are kept on another node, so that they survive the primary's host. ` +
                (others.length === 0
                    ? "Add another node"
                    : `Set availability: active on another node (${others.map(({ n, i }) => `${nodeKey(i)} (${n.name}) is ${n.availability}`).join(", ")}), or add one`),
        },
    ];
}
