/**
 * How swarm-ha names the Docker objects it creates. One module, so that the components that
 * create them and the config check that bounds `namePrefix` agree on every name's length.
 *
 * Nothing here may import from `components/config`: config validation imports this module,
 * and the components import both.
 */

/**
 * The overlay networks the stack creates, one per kind of traffic:
 * - edge: the load balancers' own network (nothing else joins it);
 * - app: the load balancers and the app;
 * - data-access: what the app may reach of the data tier, the Postgres proxy, Redis and its
 *   Sentinels (and the Redis exporter);
 * - data: the Postgres members, Patroni, etcd, the Postgres proxy's backends, the backups and
 *   the Postgres exporters (the app is not on it);
 * - monitoring: Prometheus, Alertmanager, the exporters, the load balancers' metrics.
 */
export const NETWORK_KINDS = ["edge", "app", "data-access", "data", "monitoring"] as const;
export type NetworkKind = (typeof NETWORK_KINDS)[number];

/** Hex characters of content hash in a secret's name (a new name per value: Docker secrets are immutable). */
export const HASH_LENGTH = 12;

/** The longest object name Docker accepts (secrets and configs refuse longer ones). */
export const DOCKER_NAME_MAX = 64;

/**
 * The Docker name of the stack's overlay network of one kind.
 * @example networkName("swarm-ha", "edge") // "swarm-ha-edge"
 */
export function networkName(prefix: string, kind: NetworkKind): string {
    return `${prefix}-${kind}`;
}

/** The overlay driver option that names a network's VXLAN ID (libnetwork netlabel.OverlayVxlanIDList). */
export const VXLAN_ID_OPTION = "com.docker.network.driver.overlay.vxlanid_list";

/**
 * The VXLAN ID of the stack's network of one kind. Docker allocates one when none is given
 * and then reads it back among the network's options, where the Docker provider compares it
 * with the program's (a TypeMap compared whole, every field ForceNew): an ID the swarm chose
 * would replace every network on every `pulumi up`. So swarm-ha chooses it: a block of IDs
 * from a hash of the prefix, well above the IDs Docker allocates itself (from 4097 up), so
 * that two stacks on one swarm do not meet; a clash fails the network's creation loudly
 * ("could not assign vxlan id").
 */
export function vxlanId(prefix: string, kind: NetworkKind): number {
    const base = 1_048_576;
    const max = 16_777_215; // 24 bits
    let h = 0;
    for (const c of prefix) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    const blocks = Math.floor((max - base) / 16);
    return base + (h % blocks) * 16 + NETWORK_KINDS.indexOf(kind);
}

/**
 * The Docker name of one version of a stack secret: `hash` (HASH_LENGTH hex characters)
 * changes with the value, so a new value gets a new secret instead of an in-place edit.
 * @example secretName("swarm-ha", "redis-password", "3f9c2a71d0be") // "swarm-ha-redis-password-3f9c2a71d0be"
 */
export function secretName(prefix: string, id: string, hash: string): string {
    return `${prefix}-${id}-${hash}`;
}

/**
 * The Docker name of one version of a configuration file (a Docker config): like a secret's,
 * the hash changes with the content, since Docker configs cannot change either.
 * @example configName("swarm-ha", "haproxy", "3f9c2a71d0be") // "swarm-ha-haproxy-3f9c2a71d0be"
 */
export function configName(prefix: string, kind: string, hash: string): string {
    return `${prefix}-${kind}-${hash}`;
}

/**
 * The longest service name Docker accepts: a service name is a DNS label (the swarm's DNS
 * answers for it on the overlay networks), so at most 63 characters.
 */
export const SERVICE_NAME_MAX = 63;

/**
 * The Docker name of the stack's app service (one service, its tasks spread over the app nodes).
 * @example appServiceName("swarm-ha") // "swarm-ha-app"
 */
export function appServiceName(prefix: string): string {
    return `${prefix}-app`;
}

/**
 * The Docker name of the HAProxy service of one edge node: one service per edge node, pinned to
 * it, since each publishes its ports on that node's own addresses and has its own config.
 * @example haproxyServiceName("swarm-ha", "manager-1") // "swarm-ha-haproxy-manager-1"
 */
export function haproxyServiceName(prefix: string, node: string): string {
    return `${prefix}-haproxy-${node}`;
}

/**
 * The Docker name of the keepalived service of one edge node (one per edge node, like HAProxy's,
 * and only when the stack has a VIP). The longest per-node name: it bounds edge node names.
 * @example keepalivedServiceName("swarm-ha", "manager-1") // "swarm-ha-keepalived-manager-1"
 */
export function keepalivedServiceName(prefix: string, node: string): string {
    return `${prefix}-keepalived-${node}`;
}

/**
 * The Docker name of the Redis server of one `redis` node: one service per node, pinned to it,
 * since each keeps its data on that node's volume and Sentinel tells them apart.
 * @example redisServiceName("swarm-ha", "worker-1") // "swarm-ha-redis-worker-1"
 */
export function redisServiceName(prefix: string, node: string): string {
    return `${prefix}-redis-${node}`;
}

/**
 * The Docker name of the Sentinel beside one `redis` node's server (one per redis node, so a
 * majority of Sentinels survives the loss of any one node).
 * @example sentinelServiceName("swarm-ha", "worker-1") // "swarm-ha-sentinel-worker-1"
 */
export function sentinelServiceName(prefix: string, node: string): string {
    return `${prefix}-sentinel-${node}`;
}

/**
 * The Docker name of the etcd member (Patroni's store) on one manager: one per manager, pinned
 * to it, since each member keeps its data on that node's volume.
 * @example etcdServiceName("swarm-ha", "manager-1") // "swarm-ha-etcd-manager-1"
 */
export function etcdServiceName(prefix: string, node: string): string {
    return `${prefix}-etcd-${node}`;
}

/**
 * The name every etcd member also answers to on the data network (a network alias all the
 * members' services share): Patroni's one etcd endpoint. Docker's DNS answers it with every
 * running member's address, so it stays the same when a manager is added, replaced, removed or
 * moved in the list, and no Postgres member restarts for it.
 * @example etcdClientHost("swarm-ha") // "swarm-ha-etcd"
 */
export function etcdClientHost(prefix: string): string {
    return `${prefix}-etcd`;
}

/**
 * The Docker name of the Postgres (Patroni) member of one Postgres node: the `postgres-primary`
 * node and each `postgres-replica` node, pinned to it, as its data lives there.
 * @example pgServiceName("swarm-ha", "worker-1") // "swarm-ha-pg-worker-1"
 */
export function pgServiceName(prefix: string, node: string): string {
    return `${prefix}-pg-${node}`;
}

/**
 * The Docker name of the proxy in front of Postgres (one service), which sends clients to
 * whichever member Patroni made the primary.
 * @example pgProxyServiceName("swarm-ha") // "swarm-ha-pg-proxy"
 */
export function pgProxyServiceName(prefix: string): string {
    return `${prefix}-pg-proxy`;
}

/**
 * The Docker name of the backup service (one service, on a node other than the
 * postgres-primary's, so the backups survive that host).
 * @example backupServiceName("swarm-ha") // "swarm-ha-backup"
 */
export function backupServiceName(prefix: string): string {
    return `${prefix}-backup`;
}

/**
 * The Docker name of the Postgres exporter of one Postgres node (with the monitoring tier):
 * pinned beside its member, so its series carry that member's node.
 * @example pgExporterServiceName("swarm-ha", "worker-1") // "swarm-ha-pg-exporter-worker-1"
 */
export function pgExporterServiceName(prefix: string, node: string): string {
    return `${prefix}-pg-exporter-${node}`;
}

/**
 * The Docker names of the monitoring tier's services named by the prefix alone.
 * @example monitoringServiceNames("swarm-ha").prometheus // "swarm-ha-prometheus"
 */
export function monitoringServiceNames(prefix: string) {
    return {
        dockerApi: `${prefix}-docker-api`,
        swarmExporter: `${prefix}-swarm-exporter`,
        nodeExporter: `${prefix}-node-exporter`,
        cadvisor: `${prefix}-cadvisor`,
        prometheus: `${prefix}-prometheus`,
        alertmanager: `${prefix}-alertmanager`,
        grafana: `${prefix}-grafana`,
        redisExporter: `${prefix}-redis-exporter`,
    };
}
