/**
 * Monitoring: Prometheus, two clustered Alertmanagers, Grafana, and the exporters, as swarm
 * services beside the stack they watch.
 *
 * - Discovery: Prometheus finds its targets through Docker Swarm service discovery (a service
 *   is scraped when it carries the `swarm-ha.metrics.*` labels, prometheus-yml.ts). It asks
 *   the Docker API through `<prefix>-docker-api`, an HAProxy on a manager that forwards only
 *   the reads discovery needs (docker-api-proxy-cfg.ts): the socket, root on its host, is
 *   never reachable from the network.
 * - Prometheus runs once, pinned to the first monitoring node (its samples are on that node's
 *   volume); it joins the networks of the tiers it scrapes. Alertmanager runs twice, on two
 *   managers, clustered (they share silences and deduplicate notifications), so the pager
 *   survives a node; its configuration holds the receivers' credentials and is a Docker secret.
 * - node-exporter (and cAdvisor, unless off) run on every active node: replicated services
 *   with one task per node, so a run waits until each is up (the provider cannot wait for a
 *   global service). keepalived writes whether its node holds the VIP into the node's textfile
 *   volume, which node-exporter serves.
 * - With the data tier: one Redis exporter scrapes every Redis (multi-target, labelled as the
 *   Redis it scraped), one Postgres exporter beside each Postgres member; Patroni, etcd and the
 *   backups serve their own metrics.
 * - swarm-ha's swarm exporter reports nodes, managers and service replicas as the swarm sees
 *   them, for the node, quorum and replica alerts.
 * - Every service is found by its tasks' own addresses in DNS (dnsrr), like the rest of the
 *   stack: a virtual IP needs IPVS, which not every host's kernel has.
 */
import * as crypto from "node:crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../config";
import type { TierCheck } from "../health";
import { configName, HASH_LENGTH, monitoringServiceNames, pgExporterServiceName } from "../common/names";
import { NAMED_SERVICE, requireDockerProvider } from "../common/providers";
import { renderAlertRules, type AlertRulesInput } from "./alert-rules";
import { renderDockerApiProxyConfig } from "./docker-api-proxy-cfg";
import { DASHBOARD_NAMES, readDashboard, renderDashboardProvider, renderDatasources } from "./grafana";
import { metricsLabels, renderPrometheusConfig } from "./prometheus-yml";
import { converge, healthcheck, labelList, restartAlways, rollingPolicies, stopGrace } from "../common/service-spec";

export { metricsLabels } from "./prometheus-yml";
export { renderAlertmanagerConfig, hasReceivers, type AlertmanagerConfigInput } from "./alertmanager-yml";

export const PROMETHEUS_PORT = 9090;
export const ALERTMANAGER_PORT = 9093;
export const GRAFANA_PORT = 3000;
const DOCKER_API_PORT = 2375;
const SWARM_EXPORTER_PORT = 9323;
const NODE_EXPORTER_PORT = 9100;
const CADVISOR_PORT = 8080;
const REDIS_EXPORTER_PORT = 9121;
const POSTGRES_EXPORTER_PORT = 9187;
/** The volume (one per node) where node-exporter reads textfile metrics (keepalived's VIP state). */
export const textfileVolume = (prefix: string) => `${prefix}-textfile`;
export const TEXTFILE_DIR = "/textfile";

const STATS_PASSWORD_FILE = "haproxy-stats-password";

export interface MonitoringArgs {
    namePrefix: string;
    /** Every active node: node-exporter (and cAdvisor) run one task on each. */
    nodes: NodeSpec[];
    /** The node Grafana runs on, with its data: the first active monitoring node. */
    monitoringNode: NodeSpec;
    /**
     * How many Prometheus run (1 or 2), each on its own node with the `monitoring` role and its
     * data on that node's volume: two evaluate the same rules and send the same alerts, which
     * the Alertmanagers deduplicate, so alerting survives the loss of either node.
     */
    prometheusReplicas: number;
    /** The active managers: the Alertmanagers run on two of them. */
    managers: NodeSpec[];
    images: { monitoring: pulumi.Input<string>; haproxy: pulumi.Input<string> };
    /**
     * Prometheus joins monitoring, app and (with the data tier) data, to reach what it scrapes;
     * the Redis exporter joins data-access, where Redis is (Prometheus does not).
     */
    networks: { monitoring: docker.Network; app: docker.Network; data?: docker.Network; "data-access"?: docker.Network };
    networkNames: { monitoring: string; app: string; data: string; "data-access": string };
    retentionDays: number;
    /** HAProxy's metrics are behind the stats user and password. */
    haproxyStats: { user: string; password: docker.Secret };
    /** alertmanager.yml (a secret: it holds the receivers' credentials). */
    alertmanagerConfig: docker.Secret;
    rules: AlertRulesInput;
    grafana?: { image: string; adminPassword: docker.Secret };
    cadvisor?: { image: string };
    /** With the data tier: Redis's port and password, the Postgres members (node, service) and the superuser's password. */
    data?: {
        redis: { port: number; password: docker.Secret };
        postgres: { port: number; members: { node: NodeSpec; host: string }[]; superuserPassword: docker.Secret };
    };
    labels?: Record<string, string>;
}

/** Updates of single-writer services (a volume, a pinned node): the old task stops first. */
const STOP_FIRST = rollingPolicies({ order: "stop-first", monitorSeconds: 10 });
const restart = restartAlways(5);
/** How a service is updated (stop-first, rolled back on failure), found (dnsrr), and waited for (converged within `timeoutSeconds`). */
const rollout = (timeoutSeconds: number) => ({
    ...STOP_FIRST,
    endpointSpec: { mode: "dnsrr" },
    convergeConfig: converge(5, timeoutSeconds),
});
const MiB = 1024 * 1024;
/** Healthy when the port answers HTTP at all (curl without -f): an exporter whose target is down still answers. */
const answers = (port: number, path = "/") =>
    healthcheck(["CMD", "curl", "-sS", "-o", "/dev/null", "--max-time", "3", `http://127.0.0.1:${port}${path}`], { intervalSeconds: 10, timeoutSeconds: 5, retries: 3, startPeriodSeconds: 30 });
/** Healthy while the port takes connections: for the swarm exporter, whose every page asks the Docker API (slow while a manager is). */
const listens = (port: number) => ({
    ...answers(port),
    tests: ["CMD", "python3", "-c", `import socket; socket.create_connection(("127.0.0.1", ${port}), 3).close()`],
});
const ready = (port: number, path: string) => ({ ...answers(port, path), tests: ["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "3", `http://127.0.0.1:${port}${path}`] });

export class Monitoring extends pulumi.ComponentResource {
    /** Service names, for the edge's routes and the stack's outputs. */
    public readonly serviceNames: ReturnType<typeof monitoringServiceNames>;
    /** Every service of the tier. */
    public readonly services: docker.Service[] = [];
    /**
     * The health step's Alertmanager check: as many running as declared, in one ready cluster
     * (asked over the monitoring network from the node-exporter task on the first node).
     */
    public readonly tierCheck: TierCheck;

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        requireDockerProvider("Monitoring", opts);
        super("swarm-ha:monitoring:Monitoring", name, {}, opts);
        if (args.nodes.length === 0) throw new Error("swarm-ha: Monitoring needs at least one node");
        if (args.managers.length === 0) throw new Error("swarm-ha: Monitoring needs at least one manager (the Docker API proxy and the Alertmanagers run there)");
        const names = monitoringServiceNames(args.namePrefix);
        this.serviceNames = names;
        const labels = (extra: Record<string, string> = {}) => labelList({ "swarm-ha.tier": "monitoring", ...args.labels, ...extra });
        const config = (kind: string, text: string) => {
            const hash = crypto.createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);
            return new docker.ServiceConfig(`${name}-${kind}-config`, { name: configName(args.namePrefix, kind, hash), data: Buffer.from(text, "utf8").toString("base64"), labels: labels() }, { parent: this });
        };
        const file = (c: docker.ServiceConfig, fileName: string) => ({ configId: c.id, configName: c.name, fileName, fileMode: 0o444 });
        const secretFile = (s: docker.Secret, fileName: string) => ({ secretId: s.id, secretName: s.name, fileName, fileMode: 0o400 });
        const pinned = (n: NodeSpec) => [`node.labels.swarm-ha.name == ${n.name}`];
        const monitoringNet = [{ id: args.networks.monitoring.id }];
        // A replica count that follows the nodes (one node-exporter per node, two Alertmanagers
        // on two managers) changes in place. A change of networks replaces a service, whose name
        // is taken until the old one has gone: it goes first (a monitoring gap of seconds).
        const service = (resource: string, spec: docker.ServiceArgs, dependsOn: pulumi.Resource[] = []) => {
            const created = new docker.Service(`${name}-${resource}`, spec, { parent: this, dependsOn, ...NAMED_SERVICE });
            this.services.push(created);
            return created;
        };

        // The Docker API, read-only, on the monitoring network: for discovery and the swarm exporter.
        const proxyConfig = config("docker-api", renderDockerApiProxyConfig({ port: DOCKER_API_PORT, socketPath: "/var/run/docker.sock" }));
        const dockerApi = service("docker-api", {
            name: names.dockerApi,
            labels: labels(),
            // Two, on two managers: discovery and the swarm exporter go on when one manager dies.
            mode: { replicated: { replicas: Math.min(2, args.managers.length) } },
            taskSpec: {
                containerSpec: {
                    image: args.images.haproxy,
                    env: { HAPROXY_CONFIG: "/usr/local/etc/haproxy/haproxy.cfg" },
                    configs: [file(proxyConfig, "/usr/local/etc/haproxy/haproxy.cfg")],
                    mounts: [{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock", readOnly: true }],
                    healthcheck: ready(DOCKER_API_PORT, "/_ping"),
                    stopSignal: "SIGUSR1",
                    stopGracePeriod: stopGrace(10),
                },
                resources: { limits: { memoryBytes: 64 * MiB } },
                restartPolicy: restart,
                // Only a manager's API answers for nodes, services and tasks.
                placement: { constraints: ["node.role == manager"], maxReplicas: 1 },
                networksAdvanceds: monitoringNet,
            },
            ...rollout(180),
            // No volume, no host port: the new task may start before the old one stops.
            updateConfig: { ...STOP_FIRST.updateConfig, order: "start-first" },
        });
        const dockerApiUrl = `http://${names.dockerApi}:${DOCKER_API_PORT}`;

        service("swarm-exporter", {
            name: names.swarmExporter,
            labels: labels(metricsLabels({ job: "swarm", port: SWARM_EXPORTER_PORT, network: "monitoring" })),
            // Two, on two nodes: the node and quorum alerts do not wait for a dead node's exporter to be rescheduled.
            mode: { replicated: { replicas: Math.min(2, args.nodes.length) } },
            taskSpec: {
                containerSpec: {
                    image: args.images.monitoring,
                    args: ["swarm-exporter", "--docker-url", dockerApiUrl, "--port", String(SWARM_EXPORTER_PORT)],
                    healthcheck: listens(SWARM_EXPORTER_PORT),
                    stopGracePeriod: stopGrace(5),
                },
                resources: { limits: { memoryBytes: 64 * MiB } },
                restartPolicy: restart,
                placement: { maxReplicas: 1 },
                networksAdvanceds: monitoringNet,
            },
            ...rollout(180),
        }, [dockerApi]);

        // One task on each active node; the host's /proc, /sys and / read-only.
        const perNode = { replicated: { replicas: args.nodes.length } };
        service("node-exporter", {
            name: names.nodeExporter,
            labels: labels(metricsLabels({ job: "node", port: NODE_EXPORTER_PORT, network: "monitoring" })),
            mode: perNode,
            taskSpec: {
                containerSpec: {
                    image: args.images.monitoring,
                    args: [
                        "node-exporter",
                        `--web.listen-address=:${NODE_EXPORTER_PORT}`,
                        `--collector.textfile.directory=${TEXTFILE_DIR}`,
                        "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run|var/lib/docker/.+)($|/)",
                    ],
                    mounts: [
                        { type: "bind", source: "/proc", target: "/host/proc", readOnly: true },
                        { type: "bind", source: "/sys", target: "/host/sys", readOnly: true },
                        { type: "bind", source: "/", target: "/host/root", readOnly: true },
                        { type: "volume", source: textfileVolume(args.namePrefix), target: TEXTFILE_DIR, readOnly: true },
                    ],
                    healthcheck: ready(NODE_EXPORTER_PORT, "/metrics"),
                    stopGracePeriod: stopGrace(5),
                },
                resources: { limits: { memoryBytes: 64 * MiB } },
                restartPolicy: restart,
                placement: { maxReplicas: 1 },
                networksAdvanceds: monitoringNet,
            },
            ...rollout(180),
            // One task per node, each its own node's: all at once.
            updateConfig: { ...STOP_FIRST.updateConfig, parallelism: 0 },
            rollbackConfig: { ...STOP_FIRST.rollbackConfig, parallelism: 0 },
        });

        if (args.cadvisor) {
            service("cadvisor", {
                name: names.cadvisor,
                labels: labels(metricsLabels({ job: "cadvisor", port: CADVISOR_PORT, network: "monitoring" })),
                mode: perNode,
                taskSpec: {
                    containerSpec: {
                        image: args.cadvisor.image,
                        args: ["--docker_only=true", "--housekeeping_interval=10s", "--store_container_labels=false", "--whitelisted_container_labels=com.docker.swarm.service.name,com.docker.swarm.node.id"],
                        mounts: [
                            { type: "bind", source: "/", target: "/rootfs", readOnly: true },
                            { type: "bind", source: "/var/run", target: "/var/run", readOnly: true },
                            { type: "bind", source: "/sys", target: "/sys", readOnly: true },
                            { type: "bind", source: "/var/lib/docker", target: "/var/lib/docker", readOnly: true },
                            { type: "bind", source: "/dev/disk", target: "/dev/disk", readOnly: true },
                        ],
                        // The image's own HEALTHCHECK, written out so the service's spec says it.
                        healthcheck: { ...answers(CADVISOR_PORT), tests: ["CMD-SHELL", `wget --quiet --tries=1 --spider http://localhost:${CADVISOR_PORT}/healthz || exit 1`] },
                        stopGracePeriod: stopGrace(5),
                    },
                    resources: { limits: { memoryBytes: 256 * MiB } },
                    restartPolicy: restart,
                    placement: { maxReplicas: 1 },
                    networksAdvanceds: monitoringNet,
                },
                ...rollout(300),
                // One task per node, each its own node's: all at once.
                updateConfig: { ...STOP_FIRST.updateConfig, parallelism: 0 },
                rollbackConfig: { ...STOP_FIRST.rollbackConfig, parallelism: 0 },
            });
        }

        if (args.data) {
            service("redis-exporter", {
                name: names.redisExporter,
                labels: labels(),
                // Two (stateless): Redis is still scraped while the swarm reschedules one.
                mode: { replicated: { replicas: 2 } },
                taskSpec: {
                    containerSpec: {
                        image: args.images.monitoring,
                        // No -redis.addr: it serves only /scrape?target=..., one Redis per scrape.
                        args: ["redis-exporter", `-web.listen-address=:${REDIS_EXPORTER_PORT}`, "-redis.addr="],
                        env: { REDIS_PASSWORD_FILE: "/run/secrets/redis-password" },
                        secrets: [secretFile(args.data.redis.password, "redis-password")],
                        healthcheck: answers(REDIS_EXPORTER_PORT),
                        stopGracePeriod: stopGrace(5),
                    },
                    resources: { limits: { memoryBytes: 64 * MiB } },
                    restartPolicy: restart,
                    placement: { maxReplicas: 1 },
                    networksAdvanceds: [...monitoringNet, { id: args.networks["data-access"]!.id }],
                },
                ...rollout(180),
            });
            for (const m of args.data.postgres.members) {
                service(`pg-exporter-${m.node.name}`, {
                    name: pgExporterServiceName(args.namePrefix, m.node.name),
                    labels: labels({ ...metricsLabels({ job: "postgres", port: POSTGRES_EXPORTER_PORT, network: "monitoring" }), "swarm-ha.node": m.node.name }),
                    mode: { replicated: { replicas: 1 } },
                    taskSpec: {
                        containerSpec: {
                            image: args.images.monitoring,
                            args: ["postgres-exporter", `--web.listen-address=:${POSTGRES_EXPORTER_PORT}`],
                            env: {
                                DATA_SOURCE_URI: `${m.host}:${args.data.postgres.port}/postgres?sslmode=disable`,
                                DATA_SOURCE_USER: "postgres",
                                DATA_SOURCE_PASS_FILE: "/run/secrets/postgres-password",
                            },
                            secrets: [secretFile(args.data.postgres.superuserPassword, "postgres-password")],
                            healthcheck: answers(POSTGRES_EXPORTER_PORT),
                            stopGracePeriod: stopGrace(5),
                        },
                        resources: { limits: { memoryBytes: 64 * MiB } },
                        restartPolicy: restart,
                        placement: { constraints: pinned(m.node) },
                        networksAdvanceds: [...monitoringNet, { id: args.networks.data!.id }],
                    },
                    ...rollout(180),
                });
            }
        }

        // Alertmanager: two, on two managers, clustered through memberlist on the monitoring network.
        const alertmanagerCount = Math.min(2, args.managers.length);
        this.tierCheck = {
            tier: "alertmanager",
            node: args.nodes[0],
            service: names.nodeExporter,
            command: ["swarm-ha-alertmanager-check", names.alertmanager, String(ALERTMANAGER_PORT), String(alertmanagerCount)],
        };
        const alertmanagers = service("alertmanager", {
            name: names.alertmanager,
            labels: labels(metricsLabels({ job: "alertmanager", port: ALERTMANAGER_PORT, network: "monitoring" })),
            mode: { replicated: { replicas: alertmanagerCount } },
            taskSpec: {
                containerSpec: {
                    image: args.images.monitoring,
                    args: ["alertmanager", "--config.file=/run/secrets/alertmanager.yml", "--storage.path=/alertmanager", `--web.listen-address=:${ALERTMANAGER_PORT}`],
                    env: {
                        CLUSTER_SUBNET: args.networks.monitoring.ipamConfigs.apply((c) => c?.[0]?.subnet ?? ""),
                        ALERTMANAGER_PEERS: `tasks.${names.alertmanager}`,
                    },
                    secrets: [secretFile(args.alertmanagerConfig, "alertmanager.yml")],
                    mounts: [{ type: "volume", source: `${names.alertmanager}-data`, target: "/alertmanager" }],
                    healthcheck: ready(ALERTMANAGER_PORT, "/-/ready"),
                    stopGracePeriod: stopGrace(10),
                },
                resources: { limits: { memoryBytes: 128 * MiB } },
                restartPolicy: restart,
                placement: { constraints: ["node.role == manager"], maxReplicas: 1 },
                networksAdvanceds: monitoringNet,
            },
            ...rollout(180),
        });

        const prometheusYml = config(
            "prometheus",
            renderPrometheusConfig({
                dockerApiUrl,
                // data-access only for discovery: Redis's tasks are scraped through the Redis exporter, which is on it.
                networks: { monitoring: args.networkNames.monitoring, app: args.networkNames.app, ...(args.data ? { data: args.networkNames.data, "data-access": args.networkNames["data-access"] } : {}) },
                scrapeIntervalSeconds: 10,
                evaluationIntervalSeconds: 5,
                alertmanagers: { host: `tasks.${names.alertmanager}`, port: ALERTMANAGER_PORT },
                rulesFile: "/etc/prometheus/rules.yml",
                haproxyAuth: { username: args.haproxyStats.user, passwordFile: `/run/secrets/${STATS_PASSWORD_FILE}` },
                ...(args.data ? { redisExporter: `${names.redisExporter}:${REDIS_EXPORTER_PORT}`, redisPort: args.data.redis.port } : {}),
                externalLabels: { stack: pulumi.getStack() },
            }),
        );
        const rules = config("prometheus-rules", renderAlertRules(args.rules));
        if (!Number.isInteger(args.prometheusReplicas) || args.prometheusReplicas < 1 || args.prometheusReplicas > 2) {
            throw new Error(`swarm-ha: Monitoring runs 1 or 2 Prometheus (got ${args.prometheusReplicas})`);
        }
        service("prometheus", {
            name: names.prometheus,
            labels: labels(metricsLabels({ job: "prometheus", port: PROMETHEUS_PORT, network: "monitoring" })),
            // One or two, one per monitoring node (each node's volume is its own): their alerts
            // carry the same labels (no replica label), so the Alertmanagers send each once.
            mode: { replicated: { replicas: args.prometheusReplicas } },
            taskSpec: {
                containerSpec: {
                    image: args.images.monitoring,
                    args: [
                        "prometheus",
                        "--config.file=/etc/prometheus/prometheus.yml",
                        "--storage.tsdb.path=/prometheus",
                        `--storage.tsdb.retention.time=${args.retentionDays}d`,
                        `--web.listen-address=:${PROMETHEUS_PORT}`,
                    ],
                    configs: [file(prometheusYml, "/etc/prometheus/prometheus.yml"), file(rules, "/etc/prometheus/rules.yml")],
                    secrets: [secretFile(args.haproxyStats.password, STATS_PASSWORD_FILE)],
                    mounts: [{ type: "volume", source: `${names.prometheus}-data`, target: "/prometheus" }],
                    healthcheck: ready(PROMETHEUS_PORT, "/-/ready"),
                    // It writes its head block out on SIGTERM.
                    stopGracePeriod: stopGrace(60),
                },
                resources: { limits: { memoryBytes: 1024 * MiB } },
                restartPolicy: restart,
                placement: { constraints: ["node.labels.swarm-ha.role.monitoring == true"], maxReplicas: 1 },
                networksAdvanceds: [...monitoringNet, { id: args.networks.app.id }, ...(args.networks.data ? [{ id: args.networks.data.id }] : [])],
            },
            ...rollout(300),
        }, [dockerApi, alertmanagers]);

        if (args.grafana) {
            const datasources = config("grafana-datasources", renderDatasources({ prometheusUrl: `http://${names.prometheus}:${PROMETHEUS_PORT}` }));
            const provider = config("grafana-dashboards", renderDashboardProvider({ path: "/etc/grafana/dashboards" }));
            const dashboards = DASHBOARD_NAMES.map((d) => ({ name: d, config: config(`dashboard-${d}`, readDashboard(d)) }));
            service("grafana", {
                name: names.grafana,
                labels: labels(metricsLabels({ job: "grafana", port: GRAFANA_PORT, network: "monitoring" })),
                mode: { replicated: { replicas: 1 } },
                taskSpec: {
                    containerSpec: {
                        image: args.grafana.image,
                        env: {
                            // Grafana reads each GF_*__FILE variable's file: the password is in no environment.
                            GF_SECURITY_ADMIN_PASSWORD__FILE: "/run/secrets/grafana-admin-password",
                            GF_USERS_ALLOW_SIGN_UP: "false",
                            GF_AUTH_ANONYMOUS_ENABLED: "false",
                            GF_ANALYTICS_REPORTING_ENABLED: "false",
                            GF_ANALYTICS_CHECK_FOR_UPDATES: "false",
                        },
                        configs: [
                            file(datasources, "/etc/grafana/provisioning/datasources/swarm-ha.yml"),
                            file(provider, "/etc/grafana/provisioning/dashboards/swarm-ha.yml"),
                            ...dashboards.map((d) => file(d.config, `/etc/grafana/dashboards/${d.name}.json`)),
                        ],
                        // The official image runs Grafana as uid 472.
                        secrets: [{ ...secretFile(args.grafana.adminPassword, "grafana-admin-password"), fileUid: "472" }],
                        mounts: [{ type: "volume", source: `${names.grafana}-data`, target: "/var/lib/grafana" }],
                        stopGracePeriod: stopGrace(10),
                    },
                    resources: { limits: { memoryBytes: 512 * MiB } },
                    restartPolicy: restart,
                    placement: { constraints: pinned(args.monitoringNode) },
                    networksAdvanceds: monitoringNet,
                },
                ...rollout(300),
            });
        }
        this.registerOutputs({ serviceNames: names });
    }
}
