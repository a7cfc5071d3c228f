/**
 * RedisCluster: a Redis primary and its replicas (one per `redis` node) with a Sentinel beside
 * each, that elect a new primary when the old one dies.
 *
 * Every Redis and every Sentinel is a service of its own, pinned to its node with its data on
 * that node's volume, so a restart finds its data and its node again. Addresses are the
 * tasks' own IPs on the network, announced by each (a dead task's name stops resolving, which
 * is exactly when Sentinel would need it): a starting Redis asks the Sentinels who the primary
 * is and follows it, so a primary that died and comes back returns as a replica. The first
 * node is the primary of a new cluster (when no Sentinel knows one), and leads the tier back
 * when every Redis restarted at once (the Sentinels then have no replica to promote and are
 * pointed at it). The entrypoints in
 * images/redis/ do that at run time; the rendered configs here hold no password and no
 * address.
 */
import * as crypto from "node:crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../config";
import { configName, HASH_LENGTH, redisServiceName, sentinelServiceName } from "../common/names";
import { metricsLabels } from "../monitoring/prometheus-yml";
import { NAMED_SERVICE, requireDockerProvider } from "../common/providers";
import { renderRedisConf } from "./redis-conf";
import { renderSentinelConf } from "./sentinel-conf";
import { converge, healthcheck, labelList, restartAlways, rollingPolicies, stopGrace } from "../common/service-spec";
import type { TierCheck } from "../health";

export const REDIS_PORT = 6379;
export const SENTINEL_PORT = 26379;
export const MASTER_NAME = "mymaster";
const PASSWORD_FILE = "redis-password";
/** Each Redis and Sentinel task's memory limit (its container's cgroup), in MiB. */
export const REDIS_MEMORY_LIMIT_MB = 256;
/**
 * Redis's own ceiling: half its container's limit. A rewrite of the append-only file or a full
 * sync forks Redis, and the pages a busy fork copies count against the same cgroup: at half,
 * even a fork that copied every page fits, so the kernel's OOM killer never strikes, and it
 * would strike every replica at once (they hold the same data).
 */
export const REDIS_MAXMEMORY_MB = REDIS_MEMORY_LIMIT_MB / 2;

export interface RedisSettings {
    /** A primary that cannot reach this many replicas refuses writes (bounded loss); 0 turns it off. @default 1 */
    minReplicasToWrite: number;
    /** How far behind (seconds) a replica may be and still count. @default 5 */
    minReplicasMaxLagSeconds: number;
    /** How long a Sentinel waits before it calls the primary down. @default 3000 */
    downAfterMs: number;
}

export interface RedisClusterArgs {
    namePrefix: string;
    /** The `redis` nodes, in config order: the first is the primary of a new cluster. */
    nodes: NodeSpec[];
    image: pulumi.Input<string>;
    /** The overlay Redis, its Sentinels and its clients share: the stack's data-access network (its metrics label names that kind). */
    network: docker.Network;
    /** The password of Redis and the Sentinels (a Docker secret). */
    password: docker.Secret;
    settings: RedisSettings;
    labels?: Record<string, string>;
}

export class RedisCluster extends pulumi.ComponentResource {
    public readonly servers: Record<string, docker.Service> = {};
    public readonly sentinels: Record<string, docker.Service> = {};
    /** Where clients find the Sentinels: `host:port` of each. */
    public readonly sentinelEndpoints: string[];
    public readonly masterName = MASTER_NAME;
    /** The health step's check of the tier: one master, named by every Sentinel, every other server its linked replica. */
    public readonly tierCheck: TierCheck;

    constructor(name: string, args: RedisClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        requireDockerProvider("RedisCluster", opts);
        super("swarm-ha:redis:RedisCluster", name, {}, opts);
        if (args.nodes.length === 0) throw new Error("swarm-ha: RedisCluster needs at least one redis node");
        const server = (n: NodeSpec) => `${redisServiceName(args.namePrefix, n.name)}:${REDIS_PORT}`;
        this.sentinelEndpoints = args.nodes.map((n) => `${sentinelServiceName(args.namePrefix, n.name)}:${SENTINEL_PORT}`);
        const first = args.nodes[0];
        this.tierCheck = { tier: "redis", node: first, service: redisServiceName(args.namePrefix, first.name), command: ["swarm-ha-redis-check"] };

        const redisConf = this.config(name, "redis", renderRedisConf({
            port: REDIS_PORT,
            minReplicasToWrite: args.settings.minReplicasToWrite,
            minReplicasMaxLagSeconds: args.settings.minReplicasMaxLagSeconds,
            appendonly: true,
            maxmemoryMb: REDIS_MAXMEMORY_MB,
        }), args);
        const sentinelConf = this.config(name, "sentinel", renderSentinelConf({
            port: SENTINEL_PORT,
            masterName: MASTER_NAME,
            downAfterMs: args.settings.downAfterMs,
        }), args);
        const subnet = args.network.ipamConfigs.apply((c) => c?.[0]?.subnet ?? "");
        const env = (n: NodeSpec) => ({
            REDIS_PASSWORD_FILE: `/run/secrets/${PASSWORD_FILE}`,
            ANNOUNCE_SUBNET: subnet,
            SENTINELS: this.sentinelEndpoints.join(" "),
            MASTER_NAME,
            INITIAL_MASTER: server(args.nodes[0]),
            SELF: server(n),
            REDIS_SERVERS: args.nodes.map(server).join(" "),
            REDIS_PORT: String(REDIS_PORT),
            SENTINEL_PORT: String(SENTINEL_PORT),
            QUORUM: String(Math.floor(args.nodes.length / 2) + 1),
        });

        // The primary of a new cluster first, then its replicas, then the Sentinels watching them.
        let previous: pulumi.Resource[] = [];
        for (const n of args.nodes) {
            this.servers[n.name] = this.service(name, n, "redis", args, {
                serviceName: redisServiceName(args.namePrefix, n.name),
                command: "/usr/local/bin/swarm-ha-redis",
                env: env(n),
                config: { config: redisConf, path: "/etc/swarm-ha/redis.conf" },
                // SIGTERM: Redis waits for lagging replicas (shutdown-timeout 10 s), then saves.
                stopGracePeriod: stopGrace(30),
                // It answers, and as a replica it is not stuck on a master that is gone (images/redis/health.sh).
                healthcheck: ["CMD", "/usr/local/bin/swarm-ha-redis-health"],
                dependsOn: previous,
            });
            previous = [this.servers[n.name]];
        }
        const servers = Object.values(this.servers);
        for (const n of args.nodes) {
            this.sentinels[n.name] = this.service(name, n, "sentinel", args, {
                serviceName: sentinelServiceName(args.namePrefix, n.name),
                command: "/usr/local/bin/swarm-ha-sentinel",
                env: env(n),
                config: { config: sentinelConf, path: "/etc/swarm-ha/sentinel.conf" },
                stopGracePeriod: stopGrace(10),
                // It answers, and is not stuck on a dead master while its peers name a live one
                // (images/redis/sentinel-health.sh). Swarm publishes its name once the first check
                // passes, about 2 s after it starts; clients and peers already retry until then.
                healthcheck: ["CMD", "/usr/local/bin/swarm-ha-sentinel-health"],
                dependsOn: servers,
            });
        }
        this.registerOutputs({ sentinelEndpoints: this.sentinelEndpoints });
    }

    private config(name: string, kind: string, text: string, args: RedisClusterArgs): docker.ServiceConfig {
        const hash = crypto.createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);
        return new docker.ServiceConfig(
            `${name}-${kind}-config`,
            { name: configName(args.namePrefix, kind, hash), data: Buffer.from(text, "utf8").toString("base64"), labels: tierLabels(args, {}) },
            { parent: this },
        );
    }

    private service(
        name: string,
        node: NodeSpec,
        kind: "redis" | "sentinel",
        args: RedisClusterArgs,
        s: {
            serviceName: string;
            command: string;
            env: Record<string, pulumi.Input<string>>;
            config: { config: docker.ServiceConfig; path: string };
            stopGracePeriod: string;
            healthcheck?: string[];
            dependsOn: pulumi.Resource[];
        },
    ): docker.Service {
        // One task on its node's volume: the old task must stop before the new one starts.
        return new docker.Service(
            `${name}-${node.name}-${kind}`,
            {
                name: s.serviceName,
                // Redis is scraped through the monitoring tier's Redis exporter (the job's port is Redis's).
                labels: tierLabels(args, { "swarm-ha.node": node.name, ...(kind === "redis" ? metricsLabels({ job: "redis", port: REDIS_PORT, network: "data-access" }) : {}) }),
                mode: { replicated: { replicas: 1 } },
                taskSpec: {
                    containerSpec: {
                        image: args.image,
                        commands: [s.command],
                        env: s.env,
                        configs: [{ configId: s.config.config.id, configName: s.config.config.name, fileName: s.config.path, fileMode: 0o444 }],
                        secrets: [{ secretId: args.password.id, secretName: args.password.name, fileName: PASSWORD_FILE, fileMode: 0o400 }],
                        mounts: [{ type: "volume", source: `${s.serviceName}-data`, target: "/data" }],
                        // Patient: the swarm kills an unhealthy task, and on a loaded host (the lab's two
                        // cores during a deploy) `docker exec` alone can take over 2 s. Every Redis
                        // killed at once costs a whole-tier recovery (images/redis/README.md), while
                        // failover does not wait for this check: so about 30 s of silence first.
                        ...(s.healthcheck ? { healthcheck: healthcheck(s.healthcheck, { intervalSeconds: 2, timeoutSeconds: 5, retries: 5, startPeriodSeconds: 30 }) } : {}),
                        stopSignal: "SIGTERM",
                        stopGracePeriod: s.stopGracePeriod,
                    },
                    resources: { limits: { memoryBytes: REDIS_MEMORY_LIMIT_MB * 1024 * 1024 } },
                    restartPolicy: restartAlways(2),
                    placement: { constraints: [`node.labels.swarm-ha.name == ${node.name}`] },
                    networksAdvanceds: [{ id: args.network.id }],
                },
                endpointSpec: { mode: "dnsrr" },
                ...rollingPolicies({ order: "stop-first", monitorSeconds: 10 }),
                convergeConfig: converge(5, 300),
            },
            { parent: this, dependsOn: s.dependsOn, ...NAMED_SERVICE },
        );
    }
}

function tierLabels(args: RedisClusterArgs, extra: Record<string, string>) {
    return labelList({ "swarm-ha.tier": "redis", ...args.labels, ...extra });
}
