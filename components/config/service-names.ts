/**
 * Per-node service names against Docker's limit. A service name is a DNS label (at most 63
 * characters), and every service pinned to one node carries that node's name: HAProxy and
 * keepalived on edge nodes, and with the data tier Redis and its Sentinel on redis nodes, an
 * etcd member on each manager, a Postgres member on each Postgres node. A node's name is bounded
 * by the longest of its services; services named by the prefix alone are bounded with `namePrefix`.
 */
import {
    SERVICE_NAME_MAX,
    etcdServiceName,
    haproxyServiceName,
    keepalivedServiceName,
    pgExporterServiceName,
    pgServiceName,
    redisServiceName,
    sentinelServiceName,
} from "../common/names";
import type { NodeInput } from "./nodes";
import { type ConfigProblem, fullKey, nodeKey } from "./types";

/** Which of the optional services the stack runs: keepalived (with a VIP), the data tier. */
export interface NodeServiceOptions {
    withVip: boolean;
    dataTier: boolean;
    /** With the monitoring tier, each Postgres node also runs its exporter. Default false. */
    monitoring?: boolean;
}

/** One service a node gets because of one of its roles (or its swarm role). */
interface NodeService {
    /** The node as that role makes it, for messages: "an edge node". */
    as: string;
    /** The service, for messages: "keepalived". */
    what: string;
    name: string;
}

/**
 * The services pinned to `node`, named after it, in the order messages list them: HAProxy (and
 * keepalived with a VIP) on an edge node; with the data tier, Redis and Sentinel on a redis node,
 * etcd on a manager, Postgres on a postgres-primary or postgres-replica node.
 */
export function nodeServices(prefix: string, node: Pick<NodeInput, "name" | "roles" | "swarmRole">, opts: NodeServiceOptions): NodeService[] {
    const services: NodeService[] = [];
    if (node.roles.includes("edge")) {
        services.push({ as: "an edge node", what: "HAProxy", name: haproxyServiceName(prefix, node.name) });
        if (opts.withVip) services.push({ as: "an edge node", what: "keepalived", name: keepalivedServiceName(prefix, node.name) });
    }
    if (!opts.dataTier) return services;
    if (node.roles.includes("redis")) {
        services.push({ as: "a redis node", what: "Redis", name: redisServiceName(prefix, node.name) });
        services.push({ as: "a redis node", what: "Sentinel", name: sentinelServiceName(prefix, node.name) });
    }
    if (node.swarmRole === "manager") services.push({ as: "a manager", what: "etcd", name: etcdServiceName(prefix, node.name) });
    if (node.roles.includes("postgres-primary") || node.roles.includes("postgres-replica")) {
        services.push({ as: "a Postgres node", what: "Postgres", name: pgServiceName(prefix, node.name) });
        if (opts.monitoring) services.push({ as: "a Postgres node", what: "Postgres exporter", name: pgExporterServiceName(prefix, node.name) });
    }
    return services;
}

/**
 * The longest name `node` may have with this prefix, given its roles, and the role whose
 * service sets that bound; `undefined` when no service carries the node's name.
 */
export function maxNodeName(prefix: string, node: Pick<NodeInput, "roles" | "swarmRole">, opts: NodeServiceOptions): { length: number; as: string } | undefined {
    const services = nodeServices(prefix, { ...node, name: "" }, opts);
    if (services.length === 0) return undefined;
    const longest = services.reduce((a, b) => (b.name.length > a.name.length ? b : a));
    return { length: SERVICE_NAME_MAX - longest.name.length, as: longest.as };
}

/** `as an edge node, its HAProxy service, '...', would be 64, and its keepalived service, ...`: the services over the limit, by role. */
function describeOver(over: NodeService[]): string {
    const roles = [...new Set(over.map((s) => s.as))];
    return roles
        .map((as) => {
            const its = over.filter((s) => s.as === as).map((s) => `its ${s.what} service, '${s.name}', would be ${s.name.length}`);
            return `as ${as}, ${its.join(", and ")}`;
        })
        .join("; ");
}

/**
 * Every node's per-node service names against Docker's limit: names the node whose name is too
 * long, the services it would overflow, and the longest name its roles allow.
 */
export function checkNodeServiceNames(prefix: string, nodes: NodeInput[], opts: NodeServiceOptions): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const prefixKey = fullKey("namePrefix");
    nodes.forEach((n, i) => {
        const over = nodeServices(prefix, n, opts).filter((s) => s.name.length > SERVICE_NAME_MAX);
        if (over.length === 0) return;
        const bound = maxNodeName(prefix, n, opts)!;
        problems.push({
            key: `${nodeKey(i)}.name`,
            message:
                `'${n.name}' is ${n.name.length} characters: ${describeOver(over)}, ` +
                `over the ${SERVICE_NAME_MAX} characters a Docker service name may have (it is a DNS label). ` +
                (bound.length > 0
                    ? `With ${prefixKey} '${prefix}', ${bound.as}'s name may have at most ${bound.length} characters: rename the node (e.g. name: ${n.name.slice(0, bound.length).replace(/-+$/, "")}), or shorten ${prefixKey}`
                    : `Shorten ${prefixKey}`),
        });
    });
    return problems;
}
