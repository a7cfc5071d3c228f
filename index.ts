/**
 * swarm-ha: the stack's entry point. Reads and validates the stack's config (nothing is
 * created if it is invalid), forms the swarm, then builds on its Docker provider:
 * networks and secrets, the images on the nodes that run them, the data tier (Redis with
 * Sentinel, Postgres with Patroni on etcd, backups; unless dataTier is false), the app, the
 * monitoring (Prometheus, Alertmanager, Grafana, the exporters; unless monitoring is false), and
 * the edge (HAProxy on every edge node, keepalived's virtual IP in front); last, on every run, a
 * check that every service runs as declared.
 */
import * as pulumi from "@pulumi/pulumi";
import { AppService } from "./components/app";
import { Backups } from "./components/backups";
import { SwarmCluster } from "./components/cluster";
import { loadStackConfig, placeStack } from "./components/config";
import { type AdminRoute, EdgeProxies, STATS_USER } from "./components/edge";
import { pgServiceName } from "./components/common/names";
import { StackHealth } from "./components/health";
import { NodeImages } from "./components/images";
import { ALERTMANAGER_PORT, GRAFANA_PORT, Monitoring, PROMETHEUS_PORT, TEXTFILE_DIR, renderAlertmanagerConfig, textfileVolume } from "./components/monitoring";
import { SwarmNetworks } from "./components/networks";
import { PG_PORT, PG_READONLY_PORT, PostgresCluster } from "./components/postgres";
import { REDIS_PORT, RedisCluster } from "./components/redis";
import { StackSecrets } from "./components/secrets";
import { checkMachine } from "./components/common/machine";

checkMachine();
const config = loadStackConfig();
const stackLabels = { "swarm-ha.stack": pulumi.getStack() };
const placed = placeStack(config.nodes, { vip: config.vip !== undefined, dataTier: config.dataTier, monitoring: config.monitoring !== undefined });
const monitoringConfig = config.monitoring;

const cluster = new SwarmCluster("swarm", { nodes: config.nodes, ssh: config.ssh, defaultAddrPool: config.defaultAddrPool });

// Every Docker object below reaches the swarm through its component's options.
const onSwarm = { providers: { docker: cluster.provider } };

const networks = new SwarmNetworks("net", { namePrefix: config.namePrefix, encrypted: config.encryptOverlay }, onSwarm);

/** alertmanager.yml, with the receivers' credentials (secret config) in it. */
function alertmanagerYml(m: NonNullable<typeof config.monitoring>): pulumi.Output<string> {
    const { slackApiUrl, emailPassword, deadMansSwitchUrl } = config.alertCredentials;
    return pulumi.all([slackApiUrl ?? "", emailPassword ?? "", deadMansSwitchUrl ?? ""]).apply(([slackUrl, emailPass, switchUrl]) =>
        renderAlertmanagerConfig({
            webhookUrl: m.webhookUrl,
            deadMansSwitchUrl: switchUrl || undefined,
            slack: slackUrl && m.slackChannel ? { apiUrl: slackUrl, channel: m.slackChannel } : undefined,
            email: m.email ? { ...m.email, password: m.email.username ? emailPass : undefined } : undefined,
            groupWaitSeconds: 5,
            repeatIntervalHours: 4,
        }),
    );
}

const secrets = new StackSecrets(
    "secrets",
    {
        namePrefix: config.namePrefix,
        supplied: config.suppliedSecrets,
        given: {
            ...(config.tlsCertificate ? { "tls-certificate": config.tlsCertificate } : {}),
            // It holds the alert receivers' credentials.
            ...(monitoringConfig ? { "alertmanager-config": alertmanagerYml(monitoringConfig) } : {}),
        },
    },
    onSwarm,
);

// Built on the nodes that run them (unless config names images), once each node passed its
// preflight: in parallel with the swarm's formation, as a build changes nothing in the swarm.
const images = new NodeImages(
    "images",
    {
        nodesByImage: placed.nodesByImage,
        configured: {
            app: config.app.image,
            haproxy: config.edge.haproxyImage,
            keepalived: config.edge.keepalivedImage,
            redis: config.redis.image,
            postgres: config.postgres.image,
            etcd: config.postgres.etcdImage,
            backup: config.backups.image,
            monitoring: monitoringConfig?.image,
        },
        ssh: config.ssh,
        after: cluster.preflights,
    },
);

/** The data tier: Redis with Sentinel, Postgres with Patroni on etcd (its proxy beside the app), backups. */
function dataTier() {
    const redis = new RedisCluster(
        "redis",
        {
            namePrefix: config.namePrefix,
            nodes: placed.redis,
            image: images.images.redis,
            network: networks.networks["data-access"],
            password: secrets.secrets.redisPassword.secret,
            settings: config.redis,
            labels: stackLabels,
        },
        onSwarm,
    );

    const postgres = new PostgresCluster(
        "postgres",
        {
            namePrefix: config.namePrefix,
            managers: placed.etcd,
            ssh: config.ssh,
            swarmHealthy: cluster.health,
            nodes: placed.postgres,
            proxyNodesConstraint: "node.labels.swarm-ha.role.app == true",
            proxyReplicas: Math.min(2, placed.app.length),
            images: { postgres: images.images.postgres, etcd: images.images.etcd, haproxy: images.images.haproxy },
            network: networks.networks.data,
            clientNetwork: networks.networks["data-access"],
            secrets: {
                superuser: secrets.secrets.postgresPassword.secret,
                replication: secrets.secrets.postgresReplicationPassword.secret,
            },
            passwords: {
                superuser: secrets.secrets.postgresPassword.value,
                replication: secrets.secrets.postgresReplicationPassword.value,
                app: secrets.secrets.postgresAppPassword.value,
            },
            settings: config.postgres,
            labels: stackLabels,
        },
        onSwarm,
    );

    const backups = new Backups(
        "backups",
        {
            namePrefix: config.namePrefix,
            // Placed whenever the data tier is (placeStack throws otherwise).
            node: placed.backup!,
            image: images.images.backup,
            postgres: { host: postgres.proxyHost, port: PG_PORT, database: "app" },
            superuserPassword: secrets.secrets.postgresPassword.secret,
            network: networks.networks.data,
            intervalMinutes: config.backups.intervalMinutes,
            keep: config.backups.keep,
            labels: stackLabels,
        },
        { ...onSwarm, dependsOn: [postgres] },
    );
    return { redis, postgres, backups };
}

const data = config.dataTier ? dataTier() : undefined;

const app = new AppService(
    "app",
    {
        namePrefix: config.namePrefix,
        image: images.images.app,
        replicas: config.app.replicas,
        maxReplicasPerNode: config.app.maxReplicasPerNode,
        port: config.app.port,
        memoryMb: config.app.memoryMb,
        cpuMillis: config.app.cpuMillis,
        network: networks.networks.app,
        labels: stackLabels,
        // Without the data tier: no database or cache (the demo app's to-do endpoints answer 404), only the app network.
        data: data && {
            network: networks.networks["data-access"],
            postgres: { host: data.postgres.proxyHost, port: PG_PORT, readOnlyPort: PG_READONLY_PORT, database: "app", user: data.postgres.appLogin, password: secrets.secrets.postgresAppPassword.secret },
            redis: { sentinels: data.redis.sentinelEndpoints, masterName: data.redis.masterName, password: secrets.secrets.redisPassword.secret },
        },
    },
    // On a new stack the app starts once Postgres and Redis answer (later it rides out their failovers).
    { ...onSwarm, dependsOn: data ? [data.postgres, data.redis] : [] },
);

/** Monitoring: Prometheus, Alertmanager, Grafana and the exporters (placeStack's monitoring node is there whenever monitoring is). */
function monitoringTier(m: NonNullable<typeof config.monitoring>) {
    return new Monitoring(
        "monitoring",
        {
            namePrefix: config.namePrefix,
            nodes: config.nodes.filter((n) => n.availability === "active"),
            monitoringNode: placed.monitoring!,
            prometheusReplicas: placed.prometheusReplicas,
            managers: config.nodes.filter((n) => n.availability === "active" && n.swarmRole === "manager"),
            images: { monitoring: images.images.monitoring, haproxy: images.images.haproxy },
            networks: { monitoring: networks.networks.monitoring, app: networks.networks.app, data: data ? networks.networks.data : undefined, "data-access": data ? networks.networks["data-access"] : undefined },
            networkNames: networks.names,
            retentionDays: m.retentionDays,
            haproxyStats: { user: STATS_USER, password: secrets.secrets.haproxyStatsPassword.secret },
            alertmanagerConfig: secrets.given["alertmanager-config"].secret,
            rules: {
                dataTier: data !== undefined,
                vip: config.vip !== undefined,
                synchronousMode: config.postgres.synchronousMode,
                postgresMaxLagBytes: m.postgresLagBytes,
                // Two missed backups and ten minutes' grace.
                backupMaxAgeSeconds: 2 * config.backups.intervalMinutes * 60 + 600,
            },
            grafana: m.grafana ? { image: m.grafana.image, adminPassword: secrets.secrets.grafanaAdminPassword.secret } : undefined,
            cadvisor: m.cadvisor,
            data: data && {
                redis: { port: REDIS_PORT, password: secrets.secrets.redisPassword.secret },
                postgres: {
                    port: PG_PORT,
                    members: placed.postgres.map((n) => ({ node: n, host: pgServiceName(config.namePrefix, n.name) })),
                    superuserPassword: secrets.secrets.postgresPassword.secret,
                },
            },
            labels: stackLabels,
        },
        { ...onSwarm, dependsOn: data ? [data.postgres, data.redis] : [] },
    );
}

const monitoring = monitoringConfig ? monitoringTier(monitoringConfig) : undefined;

/** The monitoring UIs HAProxy serves, each on its own edge port (config's), Prometheus and Alertmanager behind the stats password. */
function adminRoutes(m: NonNullable<typeof config.monitoring>, names: Monitoring["serviceNames"]): AdminRoute[] {
    const routes: AdminRoute[] = [];
    if (m.ports.grafana && m.grafana) routes.push({ name: "grafana", port: m.ports.grafana, host: names.grafana, targetPort: GRAFANA_PORT, checkPath: "/api/health", auth: false, maxServers: 1 });
    if (m.ports.prometheus) routes.push({ name: "prometheus", port: m.ports.prometheus, host: names.prometheus, targetPort: PROMETHEUS_PORT, checkPath: "/-/ready", auth: true, maxServers: 2 });
    if (m.ports.alertmanager) routes.push({ name: "alertmanager", port: m.ports.alertmanager, host: names.alertmanager, targetPort: ALERTMANAGER_PORT, checkPath: "/-/ready", auth: true, maxServers: 2 });
    return routes;
}

const edge = new EdgeProxies(
    "edge",
    {
        namePrefix: config.namePrefix,
        edgeNodes: placed.edge,
        haproxyImage: images.images.haproxy,
        keepalivedImage: images.images.keepalived,
        networks: { edge: networks.networks.edge, app: networks.networks.app },
        // Twice the replicas: a rolling update runs old and new tasks side by side.
        app: { serviceName: app.serviceName, port: app.port, replicas: config.app.replicas },
        ports: { http: config.edge.httpPort, https: config.edge.httpsPort, stats: config.edge.statsPort, health: config.edge.healthPort },
        statsPassword: secrets.secrets.haproxyStatsPassword.secret,
        tlsCertificate: secrets.given["tls-certificate"]?.secret,
        vip: config.vip,
        ssh: config.ssh,
        monitoring:
            monitoringConfig && monitoring
                ? {
                      network: networks.networks.monitoring,
                      routes: adminRoutes(monitoringConfig, monitoring.serviceNames),
                      textfileVolume: textfileVolume(config.namePrefix),
                      textfileDir: TEXTFILE_DIR,
                  }
                : undefined,
        labels: stackLabels,
    },
    onSwarm,
);

// Last, on every run: every service the program declares runs as declared (a run never reports
// success on a stack whose services do not).
const declaredServices = [
    app.service,
    ...Object.values(edge.proxies),
    ...Object.values(edge.keepaliveds),
    ...(data
        ? [...Object.values(data.redis.servers), ...Object.values(data.redis.sentinels), ...Object.values(data.postgres.etcd), ...Object.values(data.postgres.members), data.postgres.proxy, data.backups.service]
        : []),
    ...(monitoring?.services ?? []),
];
const stackHealth = new StackHealth("stack", {
    manager: cluster.firstManager,
    ssh: config.ssh,
    stack: pulumi.getStack(),
    services: declaredServices,
    // The app and the Postgres proxy may run two tasks on a node: after a node returns, they
    // spread over their nodes again before the checks.
    spread: [
        { service: app.serviceName, nodes: placed.app.map((n) => n.name) },
        ...(data ? [{ service: data.postgres.proxyHost, nodes: placed.app.map((n) => n.name) }] : []),
    ],
    tiers: [...(edge.tierCheck ? [edge.tierCheck] : []), ...(data ? [data.redis.tierCheck, ...data.postgres.tierChecks] : []), ...(monitoring ? [monitoring.tierCheck] : [])],
});
// Once the stack runs as declared (the app's rolling update finished, its old tasks gone), the
// app's old login may no longer log in: a rotated password stops working. Not on the app's
// service alone: the provider reports an update done while old tasks still run (a start-first
// update counts old and new tasks together).
data?.postgres.retireOtherAppLogins("postgres-app-logins", [stackHealth.check]);

const scheme = config.tlsCertificate ? "https" : "http";
const port = config.tlsCertificate ? config.edge.httpsPort : config.edge.httpPort;
const hostInUrl = edge.entryAddress.includes(":") ? `[${edge.entryAddress}]` : edge.entryAddress;

export const clusterId = cluster.clusterId;
export const dockerHost = cluster.dockerHost;
/** Secret: `pulumi stack output joinTokens --show-secrets` to join a host by hand. */
export const joinTokens = cluster.joinTokens;
export const nodes = pulumi
    .all(cluster.nodes.map((n) => n.nodeId))
    .apply((ids) =>
        Object.fromEntries(
            cluster.nodes.map((n, i) => [
                n.spec.name,
                { address: n.spec.address, swarmRole: n.spec.swarmRole, roles: n.spec.roles, availability: n.spec.availability, nodeId: ids[i] },
            ]),
        ),
    );
export const managers = config.nodes.filter((n) => n.swarmRole === "manager").map((n) => n.address);
export const networkNames = networks.names;
export const secretNames = pulumi.all(Object.fromEntries(Object.entries(secrets.secrets).map(([k, s]) => [k, s.name])));
/** Where clients go: the VIP (or, without one, the first edge node). */
export const url = pulumi.all(Object.values(edge.proxies).map((p) => p.id)).apply(() => `${scheme}://${hostInUrl}${port === (scheme === "https" ? 443 : 80) ? "" : `:${port}`}/`);
export const vip = config.vip?.address ?? null;
/** HAProxy's stats page, through the VIP (the holder's), behind the stats user and password; /metrics beside it. */
export const statsUrl = `http://${hostInUrl}:${config.edge.statsPort}/stats`;
export const statsUser = STATS_USER;
/** Secret: `pulumi stack output statsPassword --show-secrets`. */
export const statsPassword = secrets.secrets.haproxyStatsPassword.value;
export const appService = app.serviceName;
// The data tier's outputs are null without it.
/** Writers: Postgres's current primary, through the proxy (on the data-access network). */
export const postgresReadWrite = data?.postgres.readWriteEndpoint ?? null;
/** Readers: Postgres's healthy replicas, through the proxy. */
export const postgresReadOnly = data?.postgres.readOnlyEndpoint ?? null;
/** Redis's Sentinels (master name in redisMasterName). */
export const redisSentinels = data?.redis.sentinelEndpoints ?? null;
export const redisMasterName = data?.redis.masterName ?? null;
/** The backups' metrics (last good backup's age) for monitoring. */
export const backupMetrics = data?.backups.metricsEndpoint ?? null;
/** Secret: the app's Postgres password (user postgresAppUser, database app), generated unless set in config: `pulumi stack output postgresAppPassword --show-secrets`. */
export const postgresAppPassword = data ? secrets.secrets.postgresAppPassword.value : null;
/** The role the app logs in as: app_a or app_b, alternating at each rotation of postgresAppPassword (`app` on a stack from before them, until its first rotation). */
export const postgresAppUser = data ? data.postgres.appLogin : null;
/** Secret: Redis's password (its servers and Sentinels), generated unless set in config: `pulumi stack output redisPassword --show-secrets`. */
export const redisPassword = data ? secrets.secrets.redisPassword.value : null;

// The monitoring tier's UIs, through HAProxy on the VIP (null when off or not served).
const uiUrl = (port: number | undefined) => (port ? `http://${hostInUrl}:${port}/` : null);
/** Grafana (its own login: user admin, password grafanaAdminPassword). */
export const grafanaUrl = monitoringConfig?.grafana ? uiUrl(monitoringConfig.ports.grafana) : null;
/** Prometheus, behind statsUser and statsPassword. */
export const prometheusUrl = monitoringConfig ? uiUrl(monitoringConfig.ports.prometheus) : null;
/** Alertmanager, behind statsUser and statsPassword. */
export const alertmanagerUrl = monitoringConfig ? uiUrl(monitoringConfig.ports.alertmanager) : null;
/** Secret: `pulumi stack output grafanaAdminPassword --show-secrets`. */
export const grafanaAdminPassword = monitoringConfig?.grafana ? secrets.secrets.grafanaAdminPassword.value : null;
