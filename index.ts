/**
 * swarm-ha: the stack's entry point. Reads and validates the stack's config (nothing is
 * created if it is invalid), forms the swarm, then builds on its Docker provider:
 * networks and secrets, the images on the nodes that run them, the app, and the edge
 * (HAProxy on every edge node, keepalived's virtual IP in front).
 */
import * as pulumi from "@pulumi/pulumi";
import { AppService } from "./components/app";
import { SwarmCluster } from "./components/cluster";
import { loadStackConfig } from "./components/config";
import { EdgeProxies, STATS_USER } from "./components/edge";
import { NodeImages } from "./components/images";
import { SwarmNetworks } from "./components/networks";
import { StackSecrets } from "./components/secrets";

const config = loadStackConfig();
const stackLabels = { "swarm-ha.stack": pulumi.getStack() };
const active = config.nodes.filter((n) => n.availability === "active");
const withRole = (role: string) => active.filter((n) => n.roles.includes(role as never));

const cluster = new SwarmCluster("swarm", { nodes: config.nodes, ssh: config.ssh, defaultAddrPool: config.defaultAddrPool });

// Every Docker object below reaches the swarm through its component's options.
const onSwarm = { providers: { docker: cluster.provider } };

const networks = new SwarmNetworks("net", { namePrefix: config.namePrefix, encrypted: config.encryptOverlay }, onSwarm);

const secrets = new StackSecrets(
    "secrets",
    {
        namePrefix: config.namePrefix,
        supplied: config.suppliedSecrets,
        given: config.tlsCertificate ? { "tls-certificate": config.tlsCertificate } : {},
    },
    onSwarm,
);

// Built on the nodes that run them (unless config names images), once each node passed its
// preflight: in parallel with the swarm's formation, as a build changes nothing in the swarm.
const images = new NodeImages(
    "images",
    {
        nodesByImage: { app: withRole("app"), haproxy: withRole("edge"), keepalived: config.vip ? withRole("edge") : [] },
        configured: { app: config.app.image, haproxy: config.edge.haproxyImage, keepalived: config.edge.keepalivedImage },
        ssh: config.ssh,
        after: cluster.preflights,
    },
);

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
    },
    onSwarm,
);

const edge = new EdgeProxies(
    "edge",
    {
        namePrefix: config.namePrefix,
        edgeNodes: withRole("edge"),
        haproxyImage: images.images.haproxy,
        keepalivedImage: images.images.keepalived,
        networks: { edge: networks.networks.edge, app: networks.networks.app },
        // Twice the replicas: a rolling update runs old and new tasks side by side.
        app: { serviceName: app.serviceName, port: app.port, maxServers: 2 * config.app.replicas },
        ports: { http: config.edge.httpPort, https: config.edge.httpsPort, stats: config.edge.statsPort, health: config.edge.healthPort },
        statsPassword: secrets.secrets.haproxyStatsPassword.secret,
        tlsCertificate: secrets.given["tls-certificate"]?.secret,
        vip: config.vip,
        labels: stackLabels,
    },
    onSwarm,
);

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
