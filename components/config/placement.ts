/**
 * Which nodes run each part of the stack, from the nodes' roles: one answer that the program
 * (services pinned there, images built there) and the lab (images loaded there) share. Only
 * active nodes run anything: swarm starts no task on `pause` and `drain` nodes. Without the
 * data tier (`dataTier` false) its parts run nowhere; without monitoring (`monitoring` false)
 * neither do its.
 */
import type { NodeSpec } from "./types";

export interface StackPlacement {
    app: NodeSpec[];
    edge: NodeSpec[];
    /** A Redis server and a Sentinel on each. */
    redis: NodeSpec[];
    /** An etcd member (Patroni's store) on each: the active managers. */
    etcd: NodeSpec[];
    /** The `postgres-primary` node first (it bootstraps the cluster), then the replicas'. */
    postgres: NodeSpec[];
    /** Where the backups are kept: the first replica's node, else any node but the primary's. Absent without the data tier. */
    backup?: NodeSpec;
    /** Where Grafana runs (its data on its volume): the first active monitoring node. Absent without monitoring. */
    monitoring?: NodeSpec;
    /**
     * How many Prometheus replicas run, one per node, on the active monitoring nodes: two (a
     * pair that survives either node) when two or more have the role, else one. 0 without monitoring.
     */
    prometheusReplicas: number;
    /** The images each node runs, by image name (what is built, or loaded, there). */
    nodesByImage: Record<"app" | "haproxy" | "keepalived" | "redis" | "postgres" | "etcd" | "backup" | "monitoring", NodeSpec[]>;
}

/**
 * `dataTier`, `monitoring`: whether the stack runs the data tier and monitoring (default true,
 * as the config keys').
 */
export function placeStack(nodes: NodeSpec[], opts: { vip: boolean; dataTier?: boolean; monitoring?: boolean }): StackPlacement {
    const active = nodes.filter((n) => n.availability === "active");
    const withRole = (role: NodeSpec["roles"][number]) => active.filter((n) => n.roles.includes(role));
    const union = (...lists: NodeSpec[][]) => active.filter((n) => lists.some((l) => l.includes(n)));
    const app = withRole("app");
    const edge = withRole("edge");
    const keepalived = opts.vip ? edge : [];
    const managers = active.filter((n) => n.swarmRole === "manager");
    // Monitoring: node-exporter on every node, the Docker API proxy (an HAProxy) on a manager.
    const monitoringOn = opts.monitoring !== false;
    const monitoring = monitoringOn ? withRole("monitoring")[0] : undefined;
    const prometheusReplicas = monitoringOn ? Math.min(2, withRole("monitoring").length) : 0;
    const monitoringImage = monitoringOn ? active : [];
    const apiProxy = monitoringOn ? managers : [];
    if (opts.dataTier === false) {
        // No Redis, Postgres (nor its proxy beside the app), etcd or backups: the edge alone runs HAProxy.
        return {
            app,
            edge,
            redis: [],
            etcd: [],
            postgres: [],
            monitoring,
            prometheusReplicas,
            nodesByImage: { app, haproxy: union(edge, apiProxy), keepalived, redis: [], postgres: [], etcd: [], backup: [], monitoring: monitoringImage },
        };
    }
    const primary = withRole("postgres-primary");
    const postgres = [...primary, ...withRole("postgres-replica")];
    const backup = withRole("postgres-replica")[0] ?? active.find((n) => !primary.includes(n));
    // The config's rules (checkBackupNode) make sure there is one; this is their contract.
    if (!backup) throw new Error("swarm-ha: no active node other than the postgres-primary's to keep the backups on (the config check should have said so)");
    const placement = {
        app,
        edge,
        redis: withRole("redis"),
        etcd: managers,
        postgres,
        backup,
        monitoring,
        prometheusReplicas,
    };
    return {
        ...placement,
        nodesByImage: {
            app,
            // The edge's proxies, the Postgres proxy beside the app, the Docker API proxy on a manager.
            haproxy: union(edge, app, apiProxy),
            keepalived,
            redis: placement.redis,
            postgres,
            etcd: placement.etcd,
            backup: [backup],
            monitoring: monitoringImage,
        },
    };
}
