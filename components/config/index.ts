/**
 * The stack's configuration: the only module that reads `pulumi.Config`.
 *
 * `parseStackConfig` is pure (it takes the raw strings Pulumi holds) so every rule is tested
 * without mocks; `loadStackConfig` feeds it from the stack. On bad input one `ConfigError`
 * lists every problem, each with the config key that caused it and what would fix it, and
 * it is thrown before the program creates a single resource.
 *
 * The rules live next to what they check: `keys.ts` (the table of keys, unknown keys),
 * `addresses.ts` (IPs, host names, CIDR pools), `nodes.ts` (the node list), `network.ts`
 * (VIP and pool against the nodes), `edge.ts` (the app and the edge tier: ports, replicas;
 * and the image references of every tier), `data.ts` (Redis and Sentinel, Postgres and etcd,
 * backups: the nodes each needs, Redis's write-loss bound; they apply only with `dataTier`),
 * `service-names.ts` (every per-node service name within Docker's limit), `credentials.ts`
 * (the SSH key, passwords, the TLS certificate's blocks) and `tls.ts` (what is in them: pair,
 * parse, dates, names), `ports.ts` (published ports against SSH's and Swarm's), `monitoring.ts`
 * (the nodes monitoring needs). Numeric bounds come from the renderers that need them
 * (HAProxy's server slots, redis.conf's, the backups'), so a value the check accepts renders.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import {
    DOCKER_NAME_MAX,
    HASH_LENGTH,
    NETWORK_KINDS,
    SERVICE_NAME_MAX,
    appServiceName,
    backupServiceName,
    monitoringServiceNames,
    networkName,
    pgProxyServiceName,
    secretName,
} from "../common/names";
import { MAX_BACKUP_INTERVAL_MINUTES, MAX_BACKUP_KEEP } from "../backups/backup-env";
import { MAX_APP_SERVERS } from "../edge/haproxy-cfg";
import { MAX_MIN_REPLICAS, MAX_REPLICA_LAG_SECONDS } from "../redis/redis-conf";
import { MAX_DOWN_AFTER_MS, MIN_DOWN_AFTER_MS } from "../redis/sentinel-conf";
import { readAddress, readPool } from "./addresses";
import { checkSecrets } from "./credentials";
import { checkBackupNode, checkEtcdManagers, checkPostgresNodes, checkRedisMinReplicas, checkRedisNodes, warnUnusedDataRoles } from "./data";
import { EDGE_PORT_KEYS, type EdgePortKey, type ImageKey, checkAppCapacity, checkAppReplicas, checkEdgePorts, imageReferenceFlaw, warnNoVip } from "./edge";
import { CONFIG_KEYS, type ConfigKey, type ConfigKeySpec, checkKnownKeys, valueOrDefault } from "./keys";
import { checkMonitoringNodes, warnSinglePrometheus } from "./monitoring";
import { checkPool, checkVip, checkVipOutsidePool, checkVipSubnet } from "./network";
import { NODE_SETTINGS, checkNodes, checkProtoKeys, nodeAddresses, nodesSchema } from "./nodes";
import { checkHostPorts } from "./ports";
import { checkNodeServiceNames } from "./service-names";
import { warnTlsNames } from "./tls";
import { type ConfigProblem, ConfigError, NAMESPACE, type NodeSpec, type RawConfig, SUPPLIABLE_SECRETS, type SuppliableSecret, fullKey, keyOf } from "./types";

export {
    type Availability,
    ConfigError,
    type ConfigProblem,
    NAMESPACE,
    type NodeSpec,
    type RawConfig,
    STACK_ROLES,
    type StackRole,
    SUPPLIABLE_SECRETS,
    type SuppliableSecret,
    type SwarmRole,
} from "./types";
export { CONFIG_KEYS, type ConfigKey, type ConfigKeySpec } from "./keys";
export { placeStack, type StackPlacement } from "./placement";

export interface StackConfig {
    nodes: NodeSpec[];
    ssh: { user: string; port: number; privateKey: pulumi.Output<string> };
    allowNonHa: boolean;
    /** The app behind HAProxy. `image` absent: swarm-ha builds its demo app (images/app) on the app nodes. */
    app: {
        image?: string;
        replicas: number;
        maxReplicasPerNode: number;
        /** The port the app listens on in its container. */
        port: number;
        /** Memory limit per task, in MiB. */
        memoryMb: number;
        /** CPU limit per task, in thousandths of a core. */
        cpuMillis: number;
    };
    /**
     * HAProxy on the edge nodes, its ports published on each edge node's own addresses (host
     * mode). An image absent: swarm-ha builds it (images/haproxy, images/keepalived) on the edge nodes.
     */
    edge: { haproxyImage?: string; keepalivedImage?: string; httpPort: number; httpsPort: number; statsPort: number; healthPort: number };
    /** The virtual IP keepalived moves between the edge nodes; absent when `vip` is empty. */
    vip?: {
        /** As written in config. */
        address: string;
        /** The edge nodes' network's prefix length, the VIP is added with. */
        prefixLength: number;
        /** The edge nodes' interface on that network. */
        interface: string;
        /** The VRRP group id (`virtual_router_id`). */
        routerId: number;
    };
    /** The TLS certificate and key (secret), when set. */
    tlsCertificate?: pulumi.Output<string>;
    encryptOverlay: boolean;
    /** Prefix of every Docker object name (networks, secrets, services). */
    namePrefix: string;
    /** IPv4 range swarm allocates overlay subnets from, when it initialises the swarm; Docker's 10.0.0.0/8 if absent. */
    defaultAddrPool?: string;
    /**
     * Whether the stack runs the data tier (`redis`, `postgres`, `backups` below). Without it
     * those settings are read but unused, and the app runs without a database or cache.
     */
    dataTier: boolean;
    /**
     * Redis on the active `redis` nodes (a server and a Sentinel on each), its write loss bounded:
     * the primary refuses writes while fewer than `minReplicasToWrite` replicas are connected
     * and at most `minReplicasMaxLagSeconds` behind (0 replicas: no bound).
     */
    redis: {
        /** Absent: swarm-ha builds images/redis on the redis nodes. */
        image?: string;
        minReplicasToWrite: number;
        minReplicasMaxLagSeconds: number;
        /** How long Sentinel waits, in milliseconds, before it calls the primary down. */
        downAfterMs: number;
    };
    /**
     * Postgres under Patroni (etcd on the managers): the primary on the `postgres-primary` node,
     * replicas on the `postgres-replica` ones. An image absent: swarm-ha builds it
     * (images/postgres on the postgres nodes, images/etcd on the managers).
     */
    postgres: {
        image?: string;
        etcdImage?: string;
        /** Patroni's synchronous_mode: a commit waits for a replica, so no acknowledged write is lost in a failover. */
        synchronousMode: boolean;
        /** Patroni's maximum_lag_on_failover, in bytes: a replica further behind is not promoted. */
        maxLagOnFailoverBytes: number;
    };
    /**
     * Backups of the app's database, kept on a node other than the postgres-primary's. `image`
     * absent: swarm-ha builds images/backup on that node.
     */
    backups: { image?: string; intervalMinutes: number; keep: number };
    /**
     * The monitoring tier; absent when `monitoring` is false. Images absent: swarm-ha builds
     * images/monitoring on every node; Grafana and cAdvisor are pulled (absent: not run).
     */
    monitoring?: {
        image?: string;
        retentionDays: number;
        grafana?: { image: string };
        cadvisor?: { image: string };
        /** The edge ports HAProxy serves each UI on; absent: not served. */
        ports: { grafana?: number; prometheus?: number; alertmanager?: number };
        webhookUrl?: string;
        /** Slack's channel, when alertSlackApiUrl (a secret: alertCredentials) is set. */
        slackChannel?: string;
        /** Alert mail; its password (if any) is in alertCredentials. */
        email?: { to: string; from: string; smarthost: string; username?: string };
        /** PostgresReplicationLagHigh's threshold. */
        postgresLagBytes: number;
    };
    /** The alert receivers' credentials (secrets), when set. */
    alertCredentials: { slackApiUrl?: pulumi.Output<string>; emailPassword?: pulumi.Output<string>; deadMansSwitchUrl?: pulumi.Output<string> };
    /** User-supplied secret values, by key; absent keys are generated. */
    suppliedSecrets: Partial<Record<SuppliableSecret, pulumi.Output<string>>>;
}

/** The parts of the config that are not secret, validated; secrets are checked for presence and shape only. */
export type ParsedConfig = Omit<StackConfig, "ssh" | "suppliedSecrets" | "tlsCertificate" | "alertCredentials"> & {
    ssh: { user: string; port: number };
    /** What is allowed but risky; `loadStackConfig` logs each with `pulumi.log.warn`. */
    warnings: ConfigProblem[];
};

/** Bytes in a MiB: `postgresMaxLagOnFailoverMb` is given in MiB, Patroni takes bytes (its default, 1048576, is 1 MiB). */
const MIB = 1024 * 1024;

const SSH_USER = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** A Docker object name the stack gives with a prefix alone (no node's name in it), and the limit it must fit. */
interface PrefixedName {
    name: string;
    limit: number;
    /** For messages: "a secret, with its 12-character hash". */
    what: string;
}

/**
 * Every Docker object name the stack creates from `prefix` alone: its networks, its secrets
 * (with a full-length hash), and the services named by the prefix (a service name is a DNS
 * label, one character shorter than other names may be). Names that carry a node's name are
 * bounded per node (service-names.ts).
 */
function prefixedNames(prefix: string): PrefixedName[] {
    const services = [appServiceName(prefix), pgProxyServiceName(prefix), backupServiceName(prefix), ...Object.values(monitoringServiceNames(prefix))];
    return [
        ...NETWORK_KINDS.map((kind) => ({ name: networkName(prefix, kind), limit: DOCKER_NAME_MAX, what: "a network" })),
        ...Object.values(SUPPLIABLE_SECRETS).map((id) => ({
            name: secretName(prefix, id, "0".repeat(HASH_LENGTH)),
            limit: DOCKER_NAME_MAX,
            what: `a secret, with its ${HASH_LENGTH}-character hash`,
        })),
        ...services.map((name) => ({ name, limit: SERVICE_NAME_MAX, what: "a service, whose name is a DNS label" })),
    ];
}

/** The name `prefix` gives that leaves the least room under its limit (the first to overflow as the prefix grows). */
function tightestName(prefix: string): PrefixedName {
    return prefixedNames(prefix).reduce((a, b) => (b.name.length - b.limit > a.name.length - a.limit ? b : a));
}

/** The longest `namePrefix` whose every Docker object name fits Docker's limit. */
export const MAX_NAME_PREFIX = Math.min(...prefixedNames("").map((n) => n.limit - n.name.length));

/** A Linux interface name (IFNAMSIZ: 15 characters), in the characters keepalived.conf takes as one word. */
const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * A whole number from `min` to `max` (or at least `min`), as Pulumi hands integers over: a
 * string of digits. The message's example sets the key's default.
 */
const wholeNumber = (key: ConfigKey, min: number, max?: number, unit = "") => {
    const range = max === undefined ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`;
    const message = `must be ${range}${unit} (e.g. pulumi config set ${fullKey(key)} ${String((CONFIG_KEYS[key] as ConfigKeySpec).default)})`;
    return z
        .string()
        .regex(/^\d+$/, { message })
        .transform(Number)
        .refine((n) => Number.isSafeInteger(n) && n >= min && (max === undefined || n <= max), { message });
};

const port = (key: ConfigKey) => wholeNumber(key, 1, 65535);
/** The most app replicas HAProxy's server slots hold (two per task). */
export const MAX_APP_REPLICAS = Math.floor(MAX_APP_SERVERS / 2);
/** A port that 0 turns off. */
const optionalPort = (key: ConfigKey) => wholeNumber(key, 0, 65535, " (0: not served)");

/** An http(s) URL, or empty for none. */
const urlOrEmpty = (key: ConfigKey) =>
    z.string().superRefine((value, ctx) => {
        if (value === "") return;
        let ok = false;
        try {
            ok = ["http:", "https:"].includes(new URL(value).protocol);
        } catch {
            ok = false;
        }
        if (!ok) ctx.addIssue({ code: "custom", message: `must be an http:// or https:// URL (e.g. pulumi config set ${fullKey(key)} https://hooks.example.com/alertmanager), or empty for none` });
    });

const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+$/;
const emailOrEmpty = (key: ConfigKey) =>
    z.string().refine((v) => v === "" || EMAIL.test(v), { message: `must be an email address (e.g. pulumi config set ${fullKey(key)} ops@example.com), or empty` });

/** An image reference, or empty for the image swarm-ha builds. */
const image = (key: ImageKey) =>
    z.string().superRefine((value, ctx) => {
        if (value === "") return;
        const flaw = imageReferenceFlaw(value, key);
        if (flaw !== undefined) ctx.addIssue({ code: "custom", message: flaw });
    });

const boolString = (key: string) =>
    z
        .enum(["true", "false"], { message: `must be true or false (pulumi config set ${key} true)` })
        .transform((v) => v === "true");

/** Reports `read`'s message, for fields read by the address module. */
const reads =
    (read: (v: string) => { ok: true } | { ok: false; message: string }) =>
    (value: string, ctx: z.RefinementCtx) => {
        if (value === "") return; // empty: the feature is off
        const r = read(value);
        if (!r.ok) ctx.addIssue({ code: "custom", message: r.message });
    };

/** One schema per scalar key, so a bad value in one does not hide the rules of the others. */
const scalarSchemas = {
    sshUser: z.string().regex(SSH_USER, { message: "is not a valid user name (e.g. root or deploy)" }),
    sshPort: z
        .string()
        .regex(/^\d+$/, { message: "must be a whole number from 1 to 65535" })
        .transform(Number)
        .refine((p) => p >= 1 && p <= 65535, { message: "must be a whole number from 1 to 65535" }),
    allowNonHa: boolString(fullKey("allowNonHa")),
    encryptOverlay: boolString(fullKey("encryptOverlay")),
    vip: z.string().superRefine(reads((v) => readAddress(v, "vip"))),
    namePrefix: z
        .string()
        .regex(/^[a-z][a-z0-9-]*$/, { message: "must be lower-case letters, digits or '-', starting with a letter (e.g. swarm-ha)" })
        .superRefine((prefix, ctx) => {
            const tightest = tightestName(prefix);
            if (tightest.name.length <= tightest.limit) return;
            const shorter = prefix.slice(0, MAX_NAME_PREFIX).replace(/-+$/, "");
            ctx.addIssue({
                code: "custom",
                message:
                    `is ${prefix.length} characters: the longest Docker object name it gives, '${tightest.name}' (${tightest.what}), ` +
                    `is ${tightest.name.length} characters, over Docker's limit of ${tightest.limit}. ` +
                    `Use at most ${MAX_NAME_PREFIX} characters (e.g. pulumi config set ${fullKey("namePrefix")} ${shorter})`,
            });
        }),
    defaultAddrPool: z.string().superRefine(reads(readPool)),
    appImage: image("appImage"),
    // HAProxy keeps a server slot for every task, twice the replicas (a rolling update runs a new
    // task beside each old one): its renderer holds MAX_APP_SERVERS slots at most.
    appReplicas: wholeNumber("appReplicas", 1, MAX_APP_REPLICAS, ` (HAProxy keeps two server slots per task, at most ${MAX_APP_SERVERS})`),
    appMaxReplicasPerNode: wholeNumber("appMaxReplicasPerNode", 1),
    appPort: port("appPort"),
    appMemoryMb: wholeNumber("appMemoryMb", 32, 65536, " (MiB)"),
    appCpuMillis: wholeNumber("appCpuMillis", 50, 64000, " (thousandths of a core: 1000 is one core)"),
    haproxyImage: image("haproxyImage"),
    keepalivedImage: image("keepalivedImage"),
    httpPort: port("httpPort"),
    httpsPort: port("httpsPort"),
    statsPort: port("statsPort"),
    healthPort: port("healthPort"),
    // The IPv4 bound (32) depends on the VIP: checked with it.
    vipPrefixLength: wholeNumber("vipPrefixLength", 1, 128),
    vipInterface: z.string().superRefine((name, ctx) => {
        if (name === "lo") {
            ctx.addIssue({
                code: "custom",
                message:
                    "is the loopback interface, which only the host itself reaches: give the edge nodes' interface on their network, where clients reach the VIP " +
                    `(e.g. pulumi config set ${fullKey("vipInterface")} eth0; ip -brief address on an edge node lists them)`,
            });
        } else if (!INTERFACE.test(name) || name === "." || name === "..") {
            ctx.addIssue({
                code: "custom",
                message: `must be a Linux network interface name: 1-15 letters, digits, '_', '-' or '.' (e.g. pulumi config set ${fullKey("vipInterface")} eth0)`,
            });
        }
    }),
    vrrpRouterId: wholeNumber("vrrpRouterId", 1, 255),
    dataTier: boolString(fullKey("dataTier")),
    redisImage: image("redisImage"),
    // The upper bound (the redis nodes but one) depends on the nodes: checked with them.
    // (redis.conf's renderer takes at most MAX_MIN_REPLICAS.)
    redisMinReplicasToWrite: wholeNumber("redisMinReplicasToWrite", 0, MAX_MIN_REPLICAS, " (0 turns the bound off)"),
    redisMinReplicasMaxLagSeconds: wholeNumber("redisMinReplicasMaxLagSeconds", 1, MAX_REPLICA_LAG_SECONDS, " (seconds)"),
    // Sentinel's own default is 30000; much below 1000 ms a busy host's pause reads as a dead
    // primary (redis/redis#8607: 500 ms gave false positives, 2000 ms was stable).
    redisDownAfterMs: wholeNumber(
        "redisDownAfterMs",
        MIN_DOWN_AFTER_MS,
        MAX_DOWN_AFTER_MS,
        " (milliseconds; below 1000, a pause of a busy host looks to Sentinel like a dead primary and starts a needless failover)",
    ),
    postgresImage: image("postgresImage"),
    etcdImage: image("etcdImage"),
    postgresSynchronousMode: boolString(fullKey("postgresSynchronousMode")),
    postgresMaxLagOnFailoverMb: wholeNumber("postgresMaxLagOnFailoverMb", 0, 10240, " (MiB)"),
    backupImage: image("backupImage"),
    backupIntervalMinutes: wholeNumber("backupIntervalMinutes", 1, MAX_BACKUP_INTERVAL_MINUTES, " (minutes; 10080 is a week)"),
    backupKeep: wholeNumber("backupKeep", 1, MAX_BACKUP_KEEP),
    monitoring: boolString(fullKey("monitoring")),
    monitoringImage: image("monitoringImage"),
    prometheusRetentionDays: wholeNumber("prometheusRetentionDays", 1, 3650, " (days)"),
    grafana: boolString(fullKey("grafana")),
    grafanaImage: image("grafanaImage"),
    cadvisor: boolString(fullKey("cadvisor")),
    cadvisorImage: image("cadvisorImage"),
    grafanaPort: optionalPort("grafanaPort"),
    prometheusPort: optionalPort("prometheusPort"),
    alertmanagerPort: optionalPort("alertmanagerPort"),
    alertWebhookUrl: urlOrEmpty("alertWebhookUrl"),
    alertSlackChannel: z.string().regex(/^[#@]?[a-z0-9._-]{1,80}$/i, { message: "must be a Slack channel name (e.g. #alerts)" }),
    alertEmailTo: emailOrEmpty("alertEmailTo"),
    alertEmailFrom: emailOrEmpty("alertEmailFrom"),
    alertEmailSmarthost: z
        .string()
        .regex(/^([A-Za-z0-9.-]+:\d{1,5})?$/, { message: "must be host:port (e.g. smtp.example.com:587), or empty" })
        // amtool check-config takes any port of five digits; Alertmanager then fails every send.
        .refine((v) => v === "" || !/^[^:]+:\d+$/.test(v) || (Number(v.split(":")[1]) >= 1 && Number(v.split(":")[1]) <= 65535), {
            message: `has a port out of 1 to 65535: give the SMTP server's port, usually 587 (e.g. pulumi config set ${fullKey("alertEmailSmarthost")} smtp.example.com:587)`,
        }),
    alertEmailUsername: z.string().regex(/^[^\s]*$/, { message: "must have no spaces" }),
    postgresLagAlertMb: wholeNumber("postgresLagAlertMb", 1, 10240, " (MiB)"),
} satisfies Partial<Record<ConfigKey, z.ZodType<unknown, string>>>;

type Scalars = { [K in keyof typeof scalarSchemas]: z.output<(typeof scalarSchemas)[K]> };

/**
 * Validates the stack's raw config and returns it typed, with defaults applied.
 *
 * @param raw every key set in the stack's namespace, without the `swarm-ha:` prefix, each
 *   value a string as Pulumi holds it (structured values such as `nodes` as JSON). Keys the
 *   project does not know are refused, so a typo cannot silently fall back to a default.
 * @param secretKeys the full keys (`swarm-ha:sshPrivateKey`) that were set with `--secret`:
 *   secret values must be present where required and must not have been set in plain text.
 * @throws ConfigError listing every problem found, each with its full key and its fix.
 */
export function parseStackConfig(raw: RawConfig, secretKeys: ReadonlySet<string>): ParsedConfig {
    const problems: ConfigProblem[] = [...checkKnownKeys(raw)];
    const report = (path: ReadonlyArray<PropertyKey>, issues: z.core.$ZodIssue[]) => {
        for (const issue of issues) {
            if (issue.code === "unrecognized_keys") {
                for (const k of issue.keys) {
                    problems.push({
                        key: keyOf([...path, ...issue.path, k]),
                        message: `is not a node setting; known settings are ${NODE_SETTINGS.join(", ")}`,
                    });
                }
            } else {
                problems.push({ key: keyOf([...path, ...issue.path]), message: issue.message });
            }
        }
    };

    const scalars: Partial<Scalars> = {};
    for (const key of Object.keys(scalarSchemas) as (keyof Scalars)[]) {
        const result = scalarSchemas[key].safeParse(valueOrDefault(raw, key));
        if (result.success) (scalars as Record<string, unknown>)[key] = result.data;
        else report([key], result.error.issues);
    }

    const nodes = parseNodes(raw["nodes"], problems, report);
    problems.push(...checkSecrets(raw, secretKeys));

    const warnings: ConfigProblem[] = [];
    // Cross-key rules run when the values they compare were read; a bad value was reported above.
    const poolRead = scalars.defaultAddrPool ? readPool(scalars.defaultAddrPool) : undefined;
    const pool = poolRead?.ok ? poolRead.value : undefined;
    const poolKnown = scalars.defaultAddrPool !== undefined;
    const vipRead = scalars.vip ? readAddress(scalars.vip, "vip") : undefined;
    const vip = vipRead?.ok ? vipRead.value : undefined;
    if (vip && poolKnown) problems.push(...checkVipOutsidePool(vip, scalars.vip!, pool));
    const ports: Partial<Record<EdgePortKey, number>> = {};
    const monitoringPort = (k: EdgePortKey) => k === "grafanaPort" || k === "prometheusPort" || k === "alertmanagerPort";
    for (const k of EDGE_PORT_KEYS) {
        const p = scalars[k];
        if (p === undefined || p === 0 || (monitoringPort(k) && scalars.monitoring !== true)) continue;
        ports[k] = p;
    }
    if (scalars.monitoring === true) problems.push(...checkMonitoringSettings(raw, scalars));
    problems.push(...checkEdgePorts(ports), ...checkHostPorts(ports, scalars.sshPort));
    const { appReplicas, appMaxReplicasPerNode, allowNonHa, dataTier } = scalars;
    if (appReplicas !== undefined && allowNonHa !== undefined) problems.push(...checkAppReplicas(appReplicas, allowNonHa));
    if (nodes !== undefined) {
        if (allowNonHa !== undefined) problems.push(...checkNodes(nodes, allowNonHa));
        if (vip) problems.push(...checkVip(vip, scalars.vip!, nodes));
        if (vip && scalars.vipPrefixLength !== undefined) problems.push(...checkVipSubnet(vip, scalars.vip!, scalars.vipPrefixLength, nodes));
        if (poolKnown) {
            const checked = checkPool(pool, nodes);
            problems.push(...checked.problems);
            warnings.push(...checked.warnings);
        }
        if (appReplicas !== undefined && appMaxReplicasPerNode !== undefined && allowNonHa !== undefined) {
            problems.push(...checkAppCapacity(nodes, appReplicas, appMaxReplicasPerNode, allowNonHa));
        }
        if (scalars.namePrefix !== undefined && scalars.vip !== undefined && dataTier !== undefined) {
            problems.push(...checkNodeServiceNames(scalars.namePrefix, nodes, { withVip: scalars.vip !== "", dataTier, monitoring: scalars.monitoring === true }));
        }
        // The data tier's rules, only with it. An empty list is reported as such by checkNodes:
        // no tier's count would add anything.
        if (nodes.length > 0 && dataTier === true) {
            problems.push(...checkPostgresNodes(nodes));
            if (allowNonHa !== undefined) problems.push(...checkRedisNodes(nodes, allowNonHa), ...checkEtcdManagers(nodes, allowNonHa));
            if (scalars.redisMinReplicasToWrite !== undefined) {
                const checked = checkRedisMinReplicas(nodes, scalars.redisMinReplicasToWrite);
                problems.push(...checked.problems);
                warnings.push(...checked.warnings);
            }
            problems.push(...checkBackupNode(nodes));
        }
        if (dataTier === false) warnings.push(...warnUnusedDataRoles(nodes));
        if (scalars.monitoring === true) {
            problems.push(...checkMonitoringNodes(nodes));
            warnings.push(...warnSinglePrometheus(nodes));
        }
        if (scalars.vip === "") warnings.push(...warnNoVip(nodes));
        const tls = raw["tlsCertificate"];
        if (tls && nodes.length > 0) {
            const addrs = nodeAddresses(nodes);
            // The addresses clients may reach HAProxy at: the VIP, and the edge nodes' own.
            const edgeIps = new Set([
                ...(vip?.kind === "ip" ? [vip.canonical] : []),
                ...nodes.flatMap((n, i) => (n.roles.includes("edge") ? [addrs[i].address, addrs[i].advertise] : [])).flatMap((a) => (a?.kind === "ip" ? [a.canonical] : [])),
            ]);
            warnings.push(...warnTlsNames(tls, [...edgeIps]));
        }
        const unpinned = nodes.filter((n) => n.hostKey === undefined).map((n) => n.name);
        if (unpinned.length > 0) {
            warnings.push({
                key: fullKey("nodes"),
                message:
                    `no hostKey pinned for ${unpinned.join(", ")}: their SSH host keys are recorded on first contact and a later change is refused, ` +
                    "but the first contact itself is not checked. Pin each one: hostKey: \"<the output of ssh-keyscan -t ed25519 <address>, checked out of band>\"",
            });
        }
    }

    if (problems.length > 0 || nodes === undefined) throw new ConfigError(problems);
    const c = scalars as Scalars;
    return {
        nodes: nodes.map((n) => ({ ...n, advertiseAddress: n.advertiseAddress ?? n.address })),
        ssh: { user: c.sshUser, port: c.sshPort },
        allowNonHa: c.allowNonHa,
        app: {
            image: c.appImage === "" ? undefined : c.appImage,
            replicas: c.appReplicas,
            maxReplicasPerNode: c.appMaxReplicasPerNode,
            port: c.appPort,
            memoryMb: c.appMemoryMb,
            cpuMillis: c.appCpuMillis,
        },
        edge: {
            haproxyImage: c.haproxyImage === "" ? undefined : c.haproxyImage,
            keepalivedImage: c.keepalivedImage === "" ? undefined : c.keepalivedImage,
            httpPort: c.httpPort,
            httpsPort: c.httpsPort,
            statsPort: c.statsPort,
            healthPort: c.healthPort,
        },
        vip: c.vip === "" ? undefined : { address: c.vip, prefixLength: c.vipPrefixLength, interface: c.vipInterface, routerId: c.vrrpRouterId },
        encryptOverlay: c.encryptOverlay,
        namePrefix: c.namePrefix,
        defaultAddrPool: c.defaultAddrPool === "" ? undefined : c.defaultAddrPool,
        dataTier: c.dataTier,
        redis: {
            image: c.redisImage === "" ? undefined : c.redisImage,
            minReplicasToWrite: c.redisMinReplicasToWrite,
            minReplicasMaxLagSeconds: c.redisMinReplicasMaxLagSeconds,
            downAfterMs: c.redisDownAfterMs,
        },
        postgres: {
            image: c.postgresImage === "" ? undefined : c.postgresImage,
            etcdImage: c.etcdImage === "" ? undefined : c.etcdImage,
            synchronousMode: c.postgresSynchronousMode,
            maxLagOnFailoverBytes: c.postgresMaxLagOnFailoverMb * MIB,
        },
        backups: { image: c.backupImage === "" ? undefined : c.backupImage, intervalMinutes: c.backupIntervalMinutes, keep: c.backupKeep },
        monitoring: c.monitoring
            ? {
                  image: c.monitoringImage === "" ? undefined : c.monitoringImage,
                  retentionDays: c.prometheusRetentionDays,
                  grafana: c.grafana ? { image: c.grafanaImage } : undefined,
                  cadvisor: c.cadvisor ? { image: c.cadvisorImage } : undefined,
                  ports: {
                      grafana: c.grafanaPort === 0 || !c.grafana ? undefined : c.grafanaPort,
                      prometheus: c.prometheusPort === 0 ? undefined : c.prometheusPort,
                      alertmanager: c.alertmanagerPort === 0 ? undefined : c.alertmanagerPort,
                  },
                  webhookUrl: c.alertWebhookUrl === "" ? undefined : c.alertWebhookUrl,
                  slackChannel: raw["alertSlackApiUrl"] ? c.alertSlackChannel : undefined,
                  email:
                      c.alertEmailTo === ""
                          ? undefined
                          : { to: c.alertEmailTo, from: c.alertEmailFrom, smarthost: c.alertEmailSmarthost, username: c.alertEmailUsername === "" ? undefined : c.alertEmailUsername },
                  postgresLagBytes: c.postgresLagAlertMb * MIB,
              }
            : undefined,
        warnings,
    };
}

/**
 * The monitoring settings together: the pulled images set when their service runs; mail needs its From and server, a login its password,
 * and Slack's URL (a secret, checked for shape here) must be https.
 */
function checkMonitoringSettings(raw: RawConfig, c: Partial<Scalars>): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    if (c.alertEmailTo) {
        if (c.alertEmailFrom === "") problems.push({ key: fullKey("alertEmailFrom"), message: `is empty, but ${fullKey("alertEmailTo")} is set: give the From address of alert mail (e.g. pulumi config set ${fullKey("alertEmailFrom")} alertmanager@example.com)` });
        if (c.alertEmailSmarthost === "") problems.push({ key: fullKey("alertEmailSmarthost"), message: `is empty, but ${fullKey("alertEmailTo")} is set: give the SMTP server (e.g. pulumi config set ${fullKey("alertEmailSmarthost")} smtp.example.com:587)` });
        if (c.alertEmailUsername && !raw["alertEmailPassword"]) problems.push({ key: fullKey("alertEmailPassword"), message: `is not set, but ${fullKey("alertEmailUsername")} is: pulumi config set --secret ${fullKey("alertEmailPassword")} <password>` });
    }
    for (const [on, key] of [[c.grafana, "grafanaImage"], [c.cadvisor, "cadvisorImage"]] as const) {
        if (on === true && c[key] === "") problems.push({ key: fullKey(key), message: `is empty: swarm-ha does not build it; give its image (the default is ${String(CONFIG_KEYS[key].default)}), or set ${fullKey(key.replace("Image", ""))} false` });
    }
    const deadMansSwitch = raw["alertDeadMansSwitchUrl"];
    if (deadMansSwitch && deadMansSwitch.trim() !== "" && !/^https?:\/\/\S+$/.test(deadMansSwitch)) {
        problems.push({ key: fullKey("alertDeadMansSwitchUrl"), message: "must be an http(s) URL, e.g. https://hc-ping.com/<uuid>: set it again with --secret" });
    }
    const slack = raw["alertSlackApiUrl"];
    if (slack && slack.trim() !== "" && !/^https:\/\/\S+$/.test(slack)) {
        problems.push({ key: fullKey("alertSlackApiUrl"), message: "must be Slack's incoming-webhook URL, https://hooks.slack.com/services/...: set it again with --secret" });
    }
    return problems;
}

/** The `nodes` list, schema-checked; `undefined` (with problems reported) when it is not usable. */
function parseNodes(
    text: string | undefined,
    problems: ConfigProblem[],
    report: (path: ReadonlyArray<PropertyKey>, issues: z.core.$ZodIssue[]) => void,
): z.output<typeof nodesSchema> | undefined {
    const key = fullKey("nodes");
    if (text === undefined || text.trim() === "") {
        problems.push({ key, message: "is not set: list the hosts of this stack (see Pulumi.dev.yaml for an example)" });
        return undefined;
    }
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch {
        // Pulumi hands structured config over as JSON; anything else was set as a plain string.
        problems.push({
            key,
            message:
                "is a plain string, but must be a list of nodes, one entry per host, written as YAML in Pulumi.<stack>.yaml, " +
                "e.g. nodes: [{name: manager-1, address: 192.0.2.11, swarmRole: manager}] (see Pulumi.dev.yaml)",
        });
        return undefined;
    }
    // Before the schema: it copies the labels into new objects, where a __proto__ key vanishes.
    problems.push(...checkProtoKeys(value));
    const result = nodesSchema.safeParse(value);
    if (!result.success) {
        report(["nodes"], result.error.issues);
        return undefined;
    }
    return result.data;
}

/**
 * Was `key` set with `--secret`? The SDK's runtime answers this (it is how `Config.get` knows
 * to warn) but leaves the function out of its type declarations.
 */
function isConfigSecret(key: string): boolean {
    const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
    if (typeof runtime.isConfigSecret !== "function") throw new Error("swarm-ha: this @pulumi/pulumi version cannot tell secret config apart; pin @pulumi/pulumi@3");
    return runtime.isConfigSecret(key);
}

/**
 * Reads the stack's configuration and validates it: every key set in the `swarm-ha`
 * namespace (so unknown ones can be refused), and which of them are secrets. Logs each
 * warning with `pulumi.log.warn`. Throws `ConfigError` (listing every problem) before
 * anything is created.
 */
export function loadStackConfig(): StackConfig {
    const prefix = `${NAMESPACE}:`;
    // fromEntries defines each key as the object's own: an assignment of `swarm-ha:__proto__`
    // would set the prototype instead, and the key would pass as no key at all, not refused.
    const raw: RawConfig = Object.fromEntries(
        Object.entries(pulumi.runtime.allConfig())
            .filter(([k]) => k.startsWith(prefix))
            .map(([k, v]) => [k.slice(prefix.length), v]),
    );
    const secretKeys = new Set(Object.keys(raw).map(fullKey).filter(isConfigSecret));
    const { warnings, ...parsed } = parseStackConfig(raw, secretKeys);
    for (const w of warnings) void pulumi.log.warn(`${w.key}: ${w.message}`);

    const config = new pulumi.Config(NAMESPACE);
    const suppliedSecrets: StackConfig["suppliedSecrets"] = {};
    for (const k of Object.keys(SUPPLIABLE_SECRETS) as SuppliableSecret[]) {
        // An empty value is the declared default: generate one.
        if (raw[k]) suppliedSecrets[k] = config.requireSecret(k);
    }
    // Set means set with --secret: parseStackConfig refuses it in plain text.
    const tlsCertificate = raw["tlsCertificate"] ? config.requireSecret("tlsCertificate") : undefined;
    const alertCredentials: StackConfig["alertCredentials"] = {
        ...(raw["alertSlackApiUrl"] ? { slackApiUrl: config.requireSecret("alertSlackApiUrl") } : {}),
        ...(raw["alertEmailPassword"] ? { emailPassword: config.requireSecret("alertEmailPassword") } : {}),
        ...(raw["alertDeadMansSwitchUrl"] ? { deadMansSwitchUrl: config.requireSecret("alertDeadMansSwitchUrl") } : {}),
    };
    return {
        ...parsed,
        ssh: { ...parsed.ssh, privateKey: config.requireSecret("sshPrivateKey") },
        suppliedSecrets,
        alertCredentials,
        ...(tlsCertificate ? { tlsCertificate } : {}),
    };
}
