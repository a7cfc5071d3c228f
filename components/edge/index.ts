/**
 * EdgeProxies: HAProxy on every edge node, and keepalived moving a virtual IP between them.
 *
 * HAProxy: one swarm service per edge node (replicated 1, pinned to the node), so each gets
 * its own rendered configuration, waits for convergence like any replicated service, and the
 * proxies update one node at a time. Its ports are published in host mode on the node's own
 * address (the routing mesh needs IPVS, and a proxy should see clients' addresses); host-mode
 * ports cannot be held by two tasks, so its updates stop the old task first. It stops on
 * SIGUSR1 (graceful) and finds the app's tasks through Docker's DNS.
 *
 * keepalived: also one swarm service per edge node, on the host's network with the network
 * capabilities VRRP needs (swarm services take capabilities since Docker 20.10), its config a
 * Docker config. A service, not a container on the node's engine, so that removing a dead edge
 * node needs nothing from its host (the manager deletes the service). One catch: swarm stores
 * a `host` attachment under its own internal ID of that network, which no API returns, and the
 * Docker provider reads that ID back and would replace the service on every run; the
 * attachment is fixed for keepalived, so the program ignores changes to it. What depends on the
 * other edge nodes (its priority, its unicast peers) is not in that config but in a file in a
 * Docker volume of the node that a step over SSH writes, then reloads keepalived with (SIGHUP):
 * adding, removing or replacing an edge node restarts no keepalived, so the VIP stays put.
 */
import * as crypto from "node:crypto";
import * as net from "node:net";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../config";
import type { TierCheck } from "../health";
import { configName, HASH_LENGTH, haproxyServiceName, keepalivedServiceName } from "../common/names";
import { NAMED_SERVICE, requireDockerProvider } from "../common/providers";
import { metricsLabels } from "../monitoring/prometheus-yml";
import { type AdminRoute, appServerSlots, HARD_STOP_AFTER_SECONDS, renderHaproxyConfig, STOP_DRAIN_SECONDS } from "./haproxy-cfg";
import * as command from "@pulumi/command";
import { KEEPALIVED_PEERS_DIR, renderKeepalivedConfig, renderKeepalivedPeers, type KeepalivedConfigInput } from "./keepalived-conf";
import { renderScript } from "../cluster/scripts";
import { COMMAND_TIMEOUTS, type SshSettings, sshConnection } from "../common/ssh";
import { converge, healthcheck, labelList, restartAlways, rollingPolicies, stopGrace } from "../common/service-spec";

const CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg";
const STATS_PASSWORD_FILE = "haproxy-stats-password";
const TLS_FILE = "tls-certificate.pem";
export const STATS_USER = "admin";

/** Both edge services hold host resources (ports, the VIP): an update stops the old task first. */
const STOP_FIRST = rollingPolicies({ order: "stop-first", monitorSeconds: 5 });

export interface EdgePorts {
    /** Plain HTTP for clients. @default 80 */
    http: number;
    /** HTTPS for clients, when a certificate is given. @default 443 */
    https: number;
    /** HAProxy's stats page (/stats) and Prometheus endpoint (/metrics), behind a password. @default 8404 */
    stats: number;
    /** HAProxy's health URI (/healthz), which keepalived checks. @default 8405 */
    health: number;
}

export interface VipSettings {
    /** The virtual IP, e.g. 192.0.2.100. */
    address: string;
    /** Its prefix length on the edge nodes' network, e.g. 24. */
    prefixLength: number;
    /** The interface of the edge nodes' network, e.g. eth0. */
    interface: string;
    /** VRRP's virtual router ID (1-255), unique on that network. */
    routerId: number;
}

export interface EdgeProxiesArgs {
    /** Prefix of Docker object names. */
    namePrefix: string;
    /** The edge nodes, in config order (the first starts as the VIP's likeliest holder). */
    edgeNodes: NodeSpec[];
    haproxyImage: pulumi.Input<string>;
    keepalivedImage: pulumi.Input<string>;
    /** HAProxy joins the edge network and the app's network (to reach the app's tasks). */
    networks: { edge: docker.Network; app: docker.Network };
    /** Where the app listens: its service's DNS name and its port; and its replicas (HAProxy's server slots follow them, see appServerSlots). */
    app: { serviceName: string; port: number; replicas: number };
    ports: EdgePorts;
    /** The stats password's Docker secret. */
    statsPassword: docker.Secret;
    /** The TLS certificate and key's Docker secret (a PEM), if HTTPS is on. */
    tlsCertificate?: docker.Secret;
    /** The virtual IP; without it there is no keepalived and clients use the edge nodes' addresses. */
    vip?: VipSettings;
    /** How to reach the edge nodes over SSH (the keepalived-peers steps). */
    ssh: SshSettings;
    /**
     * With the monitoring tier: HAProxy also joins its network, to serve its UIs (`routes`, each
     * on its own port), and keepalived writes the node's VIP state into `textfileVolume`, which
     * node-exporter serves.
     */
    monitoring?: { network: docker.Network; routes: AdminRoute[]; textfileVolume: string; textfileDir: string };
    /** Extra labels for every Docker object here. */
    labels?: Record<string, string>;
}

export type { AdminRoute } from "./haproxy-cfg";

/** keepalived's notify script in images/keepalived (vrrp-state.sh). */
const VRRP_STATE_SCRIPT = "/usr/local/bin/swarm-ha-vrrp-state";
/** The health step's VIP check in images/keepalived (vip-check.sh). */
const VIP_CHECK = "swarm-ha-vip-check";

export class EdgeProxies extends pulumi.ComponentResource {
    /** The HAProxy service of each edge node, by node name. */
    public readonly proxies: Record<string, docker.Service>;
    /** The keepalived service of each edge node, by node name (none without a VIP). */
    public readonly keepaliveds: Record<string, docker.Service>;
    /** Where clients connect: the VIP, else the first edge node. */
    public readonly entryAddress: string;
    /**
     * The health step's VIP check: exactly one edge node holds the VIP (asked by ARP from the
     * first edge node's keepalived). None without a VIP, or for an IPv6 one (ARP is IPv4's).
     */
    public readonly tierCheck?: TierCheck;

    constructor(name: string, args: EdgeProxiesArgs, opts?: pulumi.ComponentResourceOptions) {
        requireDockerProvider("EdgeProxies", opts);
        super("swarm-ha:edge:EdgeProxies", name, {}, opts);
        if (args.edgeNodes.length === 0) throw new Error("swarm-ha: EdgeProxies needs at least one edge node");
        this.entryAddress = args.vip?.address ?? args.edgeNodes[0].advertiseAddress;
        this.proxies = {};
        this.keepaliveds = {};
        let previous: docker.Service | undefined;
        for (const node of args.edgeNodes) {
            // One node at a time: a proxy's update starts once the previous one has converged.
            previous = this.proxy(name, node, args, previous);
            this.proxies[node.name] = previous;
        }
        if (args.vip) {
            const vip = args.vip;
            // Every node's peers file first (the nodes already there reload theirs), then any new
            // keepalived: a holder knows its new peer before that peer can hold an election.
            const peersSteps = args.edgeNodes.map((node) => this.keepalivedPeers(name, node, args, this.keepalivedInput(node, args, vip)));
            // One node at a time, as the proxies: a change of keepalived's own config (its image,
            // the VIP's settings) restarts one keepalived, and the VIP moves to another, not away.
            let previousKeepalived: pulumi.Resource[] = [];
            for (const node of args.edgeNodes) {
                this.keepaliveds[node.name] = this.keepalived(name, node, args, this.keepalivedInput(node, args, vip), [...peersSteps, ...previousKeepalived]);
                previousKeepalived = [this.keepaliveds[node.name]];
            }
        }
        if (args.vip && net.isIPv4(args.vip.address)) {
            const first = args.edgeNodes[0];
            this.tierCheck = { tier: "vip", node: first, service: keepalivedServiceName(args.namePrefix, first.name), command: [VIP_CHECK, args.vip.address, args.vip.interface] };
        }
        this.registerOutputs({ entryAddress: this.entryAddress });
    }

    private labels(args: EdgeProxiesArgs, extra: Record<string, string>) {
        return labelList({ "swarm-ha.tier": "edge", ...args.labels, ...extra });
    }

    /** A configuration file as a Docker config: configs cannot change, so a new text is a new config (named by content) and the service moves to it. */
    private config(name: string, node: NodeSpec, kind: "haproxy" | "keepalived", text: string, args: EdgeProxiesArgs): docker.ServiceConfig {
        const hash = crypto.createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);
        return new docker.ServiceConfig(
            `${name}-${node.name}-${kind}-config`,
            { name: configName(args.namePrefix, kind, hash), data: Buffer.from(text, "utf8").toString("base64"), labels: this.labels(args, { "swarm-ha.node": node.name }) },
            { parent: this },
        );
    }

    /** HAProxy on one edge node: its configuration as a Docker config (named by content), and its service. */
    private proxy(name: string, node: NodeSpec, args: EdgeProxiesArgs, after: docker.Service | undefined): docker.Service {
        const text = renderHaproxyConfig({
            nodeName: node.name,
            appHost: args.app.serviceName,
            appPort: args.app.port,
            maxAppServers: appServerSlots(args.app.replicas),
            httpPort: args.ports.http,
            tls: args.tlsCertificate ? { port: args.ports.https, certPath: `/run/secrets/${TLS_FILE}` } : undefined,
            statsPort: args.ports.stats,
            statsUser: STATS_USER,
            statsPasswordEnv: "STATS_PASSWORD",
            healthPort: args.ports.health,
            adminRoutes: args.monitoring?.routes,
        });
        const config = this.config(name, node, "haproxy", text, args);
        const ports = [
            { name: "http", targetPort: args.ports.http },
            ...(args.tlsCertificate ? [{ name: "https", targetPort: args.ports.https }] : []),
            { name: "stats", targetPort: args.ports.stats },
            { name: "health", targetPort: args.ports.health },
            ...(args.monitoring?.routes ?? []).map((r) => ({ name: r.name, targetPort: r.port })),
        ].map((p) => ({ ...p, publishedPort: p.targetPort, protocol: "tcp", publishMode: "host" }));
        const secrets = [
            { secretId: args.statsPassword.id, secretName: args.statsPassword.name, fileName: STATS_PASSWORD_FILE, fileMode: 0o400 },
            ...(args.tlsCertificate ? [{ secretId: args.tlsCertificate.id, secretName: args.tlsCertificate.name, fileName: TLS_FILE, fileMode: 0o400 }] : []),
        ];
        return new docker.Service(
            `${name}-${node.name}-haproxy`,
            {
                name: haproxyServiceName(args.namePrefix, node.name),
                // Prometheus scrapes /metrics on the stats port, on the app network, with the stats password.
                labels: this.labels(args, { "swarm-ha.node": node.name, ...metricsLabels({ job: "haproxy", port: args.ports.stats, network: "app" }) }),
                mode: { replicated: { replicas: 1 } },
                taskSpec: {
                    containerSpec: {
                        image: args.haproxyImage,
                        env: { STATS_PASSWORD_FILE: `/run/secrets/${STATS_PASSWORD_FILE}`, HAPROXY_CONFIG: CONFIG_PATH },
                        configs: [{ configId: config.id, configName: config.name, fileName: CONFIG_PATH, fileMode: 0o444 }],
                        secrets,
                        healthcheck: healthcheck(["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "2", `http://127.0.0.1:${args.ports.health}/alive`], { intervalSeconds: 2, timeoutSeconds: 2, retries: 3, startPeriodSeconds: 10 }),
                        // Graceful: serve on while the VIP moves away (grace), then unbind and
                        // finish the requests in flight (hard-stop-after), then 5 s to spare.
                        stopSignal: "SIGUSR1",
                        stopGracePeriod: stopGrace(STOP_DRAIN_SECONDS + HARD_STOP_AFTER_SECONDS + 5),
                    },
                    resources: { limits: { memoryBytes: 256 * 1024 * 1024 } },
                    restartPolicy: restartAlways(1),
                    placement: { constraints: [`node.labels.swarm-ha.name == ${node.name}`] },
                    networksAdvanceds: [{ id: args.networks.edge.id }, { id: args.networks.app.id }, ...(args.monitoring ? [{ id: args.monitoring.network.id }] : [])],
                },
                endpointSpec: { mode: "dnsrr", ports },
                ...STOP_FIRST,
                // Started and through its first health check (2 s) in about 4 s: the provider's
                // first look, after `delay`, usually finds it done (the next is 5 s later).
                convergeConfig: converge(4, 180),
            },
            // A change of networks (monitoring turned on or off) replaces the service, whose name
            // is taken until the old one is gone.
            { parent: this, dependsOn: after ? [after] : [], ...NAMED_SERVICE },
        );
    }

    /** What one edge node's keepalived.conf and peers file are rendered from. */
    private keepalivedInput(node: NodeSpec, args: EdgeProxiesArgs, vip: VipSettings): KeepalivedConfigInput {
        // By name, not by config order: reordering the nodes in config (to move the first
        // manager, say) must not rewrite every keepalived's configuration.
        const byName = [...args.edgeNodes].sort((a, b) => a.name.localeCompare(b.name));
        const self = node.advertiseAddress.includes(":") ? `[${node.advertiseAddress}]` : node.advertiseAddress;
        return {
            routerId: node.name,
            virtualRouterId: vip.routerId,
            interface: vip.interface,
            vip: vip.address,
            vipPrefixLength: vip.prefixLength,
            // Only the first election uses priorities (nopreempt): the edge node first by name starts it.
            priority: Math.max(1, 150 - 10 * byName.indexOf(node)),
            selfAddress: node.advertiseAddress,
            peerAddresses: byName.filter((n) => n !== node).map((n) => n.advertiseAddress),
            advertIntervalSeconds: 0.5,
            healthUrl: `http://${self}:${args.ports.health}/healthz`,
            notifyScript: args.monitoring ? VRRP_STATE_SCRIPT : undefined,
        };
    }

    /**
     * The node's priority and peers written to its peers file, and its keepalived reloaded
     * (keepalived-peers.sh); again whenever they change. No `delete`: a removed edge node's host
     * may be dead, and its leftover volume (one small file) is read by nothing.
     */
    private keepalivedPeers(name: string, node: NodeSpec, args: EdgeProxiesArgs, input: KeepalivedConfigInput): command.remote.Command {
        return new command.remote.Command(
            `${name}-${node.name}-keepalived-peers`,
            {
                connection: sshConnection(node.address, args.ssh, node.hostKey),
                addPreviousOutputInEnv: false,
                create: pulumi.output(args.keepalivedImage).apply((image) =>
                    renderScript("keepalived-peers", {
                        NODE_NAME: node.name,
                        VOLUME: keepalivedPeersVolume(args.namePrefix),
                        IMAGE: image,
                        SERVICE: keepalivedServiceName(args.namePrefix, node.name),
                        PEERS_CONF: renderKeepalivedPeers(input),
                    }),
                ),
            },
            { parent: this, customTimeouts: COMMAND_TIMEOUTS },
        );
    }

    /** keepalived on one edge node: its configuration as a Docker config, and its service on the host's network. */
    private keepalived(name: string, node: NodeSpec, args: EdgeProxiesArgs, input: KeepalivedConfigInput, dependsOn: pulumi.Resource[]): docker.Service {
        const text = renderKeepalivedConfig(input);
        const config = this.config(name, node, "keepalived", text, args);
        return new docker.Service(
            `${name}-${node.name}-keepalived`,
            {
                name: keepalivedServiceName(args.namePrefix, node.name),
                labels: this.labels(args, { "swarm-ha.node": node.name }),
                mode: { replicated: { replicas: 1 } },
                taskSpec: {
                    containerSpec: {
                        image: args.keepalivedImage,
                        configs: [{ configId: config.id, configName: config.name, fileName: "/etc/keepalived/keepalived.conf", fileMode: 0o444 }],
                        capAdds: ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"],
                        ...(args.monitoring ? { env: { TEXTFILE_DIR: args.monitoring.textfileDir } } : {}),
                        mounts: [
                            // The peers file's volume (the step replaces the file by a rename).
                            { type: "volume", source: keepalivedPeersVolume(args.namePrefix), target: KEEPALIVED_PEERS_DIR, readOnly: true },
                            ...(args.monitoring ? [{ type: "volume", source: args.monitoring.textfileVolume, target: args.monitoring.textfileDir }] : []),
                        ],
                        // SIGTERM: keepalived gives the VIP up at once (a priority-0 advert), so the
                        // peer takes it without waiting out the advert timer.
                        stopSignal: "SIGTERM",
                        stopGracePeriod: stopGrace(5),
                    },
                    resources: { limits: { memoryBytes: 64 * 1024 * 1024 } },
                    restartPolicy: restartAlways(1),
                    placement: { constraints: [`node.labels.swarm-ha.name == ${node.name}`] },
                    networksAdvanceds: [{ name: "host" }],
                },
                ...STOP_FIRST,
                // No health check: running within a couple of seconds.
                convergeConfig: converge(3, 180),
            },
            // See the top of this file: the provider reads the host attachment back under another ID.
            { parent: this, dependsOn, ignoreChanges: ["taskSpec.networksAdvanceds"], ...NAMED_SERVICE },
        );
    }
}

/** The Docker volume on each edge node that holds its keepalived peers file. */
export function keepalivedPeersVolume(namePrefix: string): string {
    return `${namePrefix}-keepalived-peers`;
}
