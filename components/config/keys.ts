/**
 * The one list of the stack's top-level config keys. The parser takes its defaults and its
 * known-key list from here, and `test/config-keys.test.ts` fails when Pulumi.yaml's `config:`
 * declarations drift from it, so a key is described in one place and checked in the other.
 */
import { DOCKER_DEFAULT_POOL, MAX_POOL_BITS, MIN_POOL_BITS } from "./addresses";
import { type ConfigProblem, type RawConfig, SUPPLIABLE_SECRETS, fullKey } from "./types";

/**
 * How a key's value must be stored:
 * - `always`: required, and only as a secret (Pulumi.yaml declares it `secret: true`);
 * - `if-set`: optional (default empty), but refused in plain text when given. Pulumi.yaml
 *   cannot declare it secret: its empty default is plain text. These are the suppliable
 *   passwords (empty: generated) and the TLS certificate (empty: no TLS);
 * - `never`: plain text.
 */
export type Secrecy = "always" | "if-set" | "never";

export interface ConfigKeySpec {
    /**
     * The Pulumi.yaml type. `nodes` is the one key Pulumi.yaml cannot declare: Pulumi's
     * declarations type strings, integers, booleans and arrays of those, not lists of objects.
     */
    type: "string" | "integer" | "boolean" | "list of nodes";
    /** The default, as Pulumi.yaml writes it; absent for a key every stack must set. */
    default?: string | number | boolean;
    secret: Secrecy;
    /** Pulumi.yaml's description of the key (word for word, whitespace aside). */
    description: string;
}

const password = (what: string): ConfigKeySpec => ({
    type: "string",
    secret: "if-set",
    default: "",
    description: `${what}. Empty to generate one; if set, set it with --secret.`,
});

/** Every top-level key of the `swarm-ha` namespace. */
export const CONFIG_KEYS = {
    nodes: {
        type: "list of nodes",
        secret: "never",
        description: "The stack's hosts: a list of nodes (name, address, advertiseAddress, swarmRole, roles, labels, availability); see Pulumi.dev.yaml.",
    },
    sshUser: {
        type: "string",
        default: "root",
        secret: "never",
        description: "Login user on every node; root, or a member of the docker group.",
    },
    sshPort: { type: "integer", default: 22, secret: "never", description: "SSH port on every node." },
    sshPrivateKey: {
        type: "string",
        secret: "always",
        description:
            'Private key that opens SSH on every node. Set it as a secret: pulumi config set --secret sshPrivateKey -- "$(cat ~/.ssh/id_ed25519)"',
    },
    allowNonHa: {
        type: "boolean",
        default: false,
        secret: "never",
        description:
            "Allow a cluster that cannot survive the loss of a node (fewer than 3 managers, an even number of managers, a single edge node). For test clusters only.",
    },
    encryptOverlay: {
        type: "boolean",
        default: true,
        secret: "never",
        description:
            "Encrypt overlay network traffic between nodes (IPsec). Needs ESP support in the hosts' kernels; turn off only where that is missing or the links are trusted.",
    },
    namePrefix: {
        type: "string",
        default: "swarm-ha",
        secret: "never",
        description: "Prefix of every Docker object swarm-ha creates (networks, secrets, services).",
    },
    defaultAddrPool: {
        type: "string",
        default: "",
        secret: "never",
        description:
            `IPv4 range (CIDR, /${MIN_POOL_BITS} to /${MAX_POOL_BITS}) that the swarm allocates overlay network subnets from, set when swarm-ha initialises the swarm. ` +
            `Pick one no host network uses. Empty for Docker's default, ${DOCKER_DEFAULT_POOL}.`,
    },
    appImage: {
        type: "string",
        default: "",
        secret: "never",
        description:
            "The app's image, as a Docker image reference (e.g. ghcr.io/acme/shop:1.4.2), pulled by the app nodes. Empty: swarm-ha builds its demo app (images/app) on the app nodes.",
    },
    appReplicas: {
        type: "integer",
        default: 2,
        secret: "never",
        description:
            "How many tasks of the app run: at least 2, so the app survives the loss of one (1 only with allowNonHa). " +
            "The active app nodes must have room for one more (appMaxReplicasPerNode each): a rolling update starts the new task before it stops the old one. " +
            "At most 500: HAProxy keeps two server slots per task.",
    },
    appMaxReplicasPerNode: { type: "integer", default: 2, secret: "never", description: "The most app tasks swarm places on one node." },
    appPort: { type: "integer", default: 8080, secret: "never", description: "The port the app listens on in its container." },
    appMemoryMb: { type: "integer", default: 256, secret: "never", description: "Memory limit of each app task, in MiB (32 to 65536)." },
    appCpuMillis: {
        type: "integer",
        default: 500,
        secret: "never",
        description: "CPU limit of each app task, in thousandths of a core (50 to 64000; 500 is half a core).",
    },
    haproxyImage: {
        type: "string",
        default: "",
        secret: "never",
        description: "The HAProxy image the edge nodes run. Empty: swarm-ha builds its own (images/haproxy) on the edge nodes.",
    },
    keepalivedImage: {
        type: "string",
        default: "",
        secret: "never",
        description: "The keepalived image the edge nodes run (with /bin/sh: swarm-ha writes each node's peers file through it). Empty: swarm-ha builds its own (images/keepalived) on the edge nodes.",
    },
    httpPort: {
        type: "integer",
        default: 80,
        secret: "never",
        description:
            "Port HAProxy serves HTTP on, published on each edge node's own addresses (host mode); it redirects to HTTPS when tlsCertificate is set.",
    },
    httpsPort: {
        type: "integer",
        default: 443,
        secret: "never",
        description: "Port HAProxy serves HTTPS on when tlsCertificate is set, published on each edge node's own addresses (host mode).",
    },
    statsPort: {
        type: "integer",
        default: 8404,
        secret: "never",
        description:
            "Port of HAProxy's stats page and Prometheus endpoint, behind haproxyStatsPassword, published on each edge node's own addresses (host mode).",
    },
    healthPort: {
        type: "integer",
        default: 8405,
        secret: "never",
        description: "Port of HAProxy's health URI, which keepalived checks, published on each edge node's own addresses (host mode).",
    },
    tlsCertificate: {
        type: "string",
        default: "",
        secret: "if-set",
        description:
            "PEM holding the certificate chain and its private key, e.g. the contents of fullchain.pem and privkey.pem together. " +
            "When set, HAProxy terminates TLS on httpsPort and redirects HTTP to HTTPS. Set it with --secret. Empty for HTTP only.",
    },
    vip: {
        type: "string",
        default: "",
        secret: "never",
        description:
            "Virtual IP that keepalived moves between the edge nodes, in front of HAProxy: a free address that no node owns, " +
            "in the edge nodes' network (the subnet of their advertise addresses, by vipPrefixLength). Empty for none: clients then need every edge node's address.",
    },
    vipPrefixLength: {
        type: "integer",
        default: 24,
        secret: "never",
        description: "Prefix length of the edge nodes' network, which the VIP is added with (1 to 32 for an IPv4 VIP, to 128 for IPv6).",
    },
    vipInterface: {
        type: "string",
        default: "eth0",
        secret: "never",
        description:
            "Network interface of the edge nodes' network, the same name on every edge node: keepalived adds the VIP to it and sends its VRRP adverts on it.",
    },
    vrrpRouterId: {
        type: "integer",
        default: 51,
        secret: "never",
        description:
            "VRRP group id of the edge nodes' keepalived (1 to 255), which also sets the VIP's virtual MAC: pick one no other VRRP group on the edge nodes' network uses.",
    },
    dataTier: {
        type: "boolean",
        default: true,
        secret: "never",
        description:
            "Run the data tier: Redis with Sentinel, Postgres with Patroni on etcd, backups. " +
            "false: none of them (roles redis, postgres-primary and postgres-replica run nothing), and the app runs without a database or cache (its to-do endpoints answer 404): " +
            "for stacks that keep their data elsewhere. The data tier does not follow swarm membership changes of its nodes yet (a replaced manager is a new etcd member).",
    },
    redisImage: {
        type: "string",
        default: "",
        secret: "never",
        description:
            "The image the redis nodes run Redis and Sentinel from, as a Docker image reference: one built from images/redis (e.g. pushed to your registry), " +
            "as it carries swarm-ha's entrypoints; a stock Redis image does not. Empty: swarm-ha builds it (images/redis) on the redis nodes.",
    },
    redisMinReplicasToWrite: {
        type: "integer",
        default: 1,
        secret: "never",
        description:
            "Bounds Redis's write loss: the primary refuses writes while fewer than this many replicas are connected and at most redisMinReplicasMaxLagSeconds behind, " +
            "so a primary cut off from its replicas stops taking writes a failover would lose. From 0 (off) to the number of redis nodes minus 1, and at most 100.",
    },
    redisMinReplicasMaxLagSeconds: {
        type: "integer",
        default: 5,
        secret: "never",
        description: "How far behind, in seconds (1 to 60), a Redis replica may be and still count for redisMinReplicasToWrite: about the most writes, in seconds, a failover can lose.",
    },
    redisDownAfterMs: {
        type: "integer",
        default: 3000,
        secret: "never",
        description:
            "How long, in milliseconds (1000 to 60000), Sentinel waits for the Redis primary to answer before it calls it down and fails over. " +
            "Lower fails over sooner; below 1000 a busy host triggers false failovers.",
    },
    postgresImage: {
        type: "string",
        default: "",
        secret: "never",
        description:
            "The image the postgres-primary and postgres-replica nodes run Postgres from, as a Docker image reference: one built from images/postgres (e.g. pushed to your registry), " +
            "as it runs Patroni with swarm-ha's entrypoint; a stock Postgres image does not. Empty: swarm-ha builds it (images/postgres) on the postgres nodes.",
    },
    etcdImage: {
        type: "string",
        default: "",
        secret: "never",
        description:
            "The image the managers run etcd, Patroni's store, from, as a Docker image reference: one built from images/etcd (e.g. pushed to your registry), " +
            "as it carries swarm-ha's entrypoint; a stock etcd image does not. Empty: swarm-ha builds it (images/etcd) on the managers.",
    },
    postgresSynchronousMode: {
        type: "boolean",
        default: true,
        secret: "never",
        description:
            "Patroni's synchronous_mode: a commit is acknowledged once a replica has it, so no acknowledged write is lost when the primary dies; " +
            "each write waits for the replica. Off: a failover may lose up to postgresMaxLagOnFailoverMb. A change reaches a running cluster with no restart.",
    },
    postgresMaxLagOnFailoverMb: {
        type: "integer",
        default: 1,
        secret: "never",
        description: "A Postgres replica further behind the primary than this, in MiB (0 to 10240), is not promoted when the primary fails (Patroni's maximum_lag_on_failover). A change reaches a running cluster with no restart.",
    },
    backupImage: {
        type: "string",
        default: "",
        secret: "never",
        description:
            "The image the backups run from, as a Docker image reference: one built from images/backup (e.g. pushed to your registry), " +
            "as it carries swarm-ha's backup and restore scripts. Empty: swarm-ha builds it (images/backup) on the node that keeps the backups.",
    },
    backupIntervalMinutes: {
        type: "integer",
        default: 60,
        secret: "never",
        description:
            "Minutes between backups of the app's database (1 to 10080, a week). They are kept on a node other than the postgres-primary's, so they survive its host.",
    },
    backupKeep: { type: "integer", default: 7, secret: "never", description: "How many backups are kept (1 to 1000); older ones are deleted." },
    monitoring: {
        type: "boolean",
        default: true,
        secret: "never",
        description:
            "Run the monitoring tier: Prometheus (a pair on two active monitoring nodes, or one) with Swarm service discovery through a read-only Docker API proxy, two clustered Alertmanagers (on the managers), " +
            "node-exporter on every node, the Redis and Postgres exporters, swarm-ha's swarm exporter, and Grafana and cAdvisor unless turned off. Needs an active node with the monitoring role.",
    },
    monitoringImage: {
        type: "string",
        default: "",
        secret: "never",
        description:
            "The image Prometheus, Alertmanager and the exporters run from, as a Docker image reference: one built from images/monitoring (e.g. pushed to your registry), as it carries swarm-ha's entrypoint. " +
            "Empty: swarm-ha builds it (images/monitoring) on every node (node-exporter runs on each).",
    },
    prometheusRetentionDays: { type: "integer", default: 15, secret: "never", description: "Days Prometheus keeps its samples (1 to 3650), on its node's volume." },
    grafana: { type: "boolean", default: true, secret: "never", description: "Run Grafana (with the monitoring tier), its data source and dashboards provisioned, its admin password grafanaAdminPassword." },
    grafanaImage: {
        type: "string",
        default: "grafana/grafana-oss:11.3.0",
        secret: "never",
        description: "The Grafana image, pulled by the monitoring node: pin a version (or digest), as an update is then a reviewed change.",
    },
    cadvisor: { type: "boolean", default: true, secret: "never", description: "Run cAdvisor on every node (with the monitoring tier), for the containers' CPU and memory." },
    cadvisorImage: {
        type: "string",
        default: "gcr.io/cadvisor/cadvisor:v0.49.1",
        secret: "never",
        description: "The cAdvisor image, pulled by every node: pin a version (or digest).",
    },
    grafanaPort: {
        type: "integer",
        default: 3000,
        secret: "never",
        description: "Port HAProxy serves Grafana on (with its own login), published on each edge node's own addresses (host mode). 0: not served.",
    },
    prometheusPort: {
        type: "integer",
        default: 9090,
        secret: "never",
        description: "Port HAProxy serves Prometheus on, behind the stats user and haproxyStatsPassword, published on each edge node's own addresses (host mode). 0: not served.",
    },
    alertmanagerPort: {
        type: "integer",
        default: 9093,
        secret: "never",
        description: "Port HAProxy serves Alertmanager on, behind the stats user and haproxyStatsPassword, published on each edge node's own addresses (host mode). 0: not served.",
    },
    alertWebhookUrl: {
        type: "string",
        default: "",
        secret: "never",
        description: "Alertmanager posts every alert (and its resolution) to this URL as JSON (its webhook format). Empty: no webhook.",
    },
    alertDeadMansSwitchUrl: {
        type: "string",
        default: "",
        secret: "if-set",
        description:
            "A dead man's switch: a URL that pages you when its pings stop (healthchecks.io, Cronitor, PagerDuty's, your own). Alertmanager posts the Watchdog alert, which fires for as long as " +
            "Prometheus and Alertmanager work, to it every minute, so alerting that has gone silent is itself noticed. It is a credential (whoever holds it can fake the pings): set it with --secret. Empty: no switch.",
    },
    alertSlackApiUrl: {
        type: "string",
        default: "",
        secret: "if-set",
        description: "Slack incoming-webhook URL Alertmanager posts alerts to (in alertSlackChannel). It is a credential: set it with --secret. Empty: no Slack.",
    },
    alertSlackChannel: { type: "string", default: "#alerts", secret: "never", description: "The Slack channel of alertSlackApiUrl's alerts." },
    alertEmailTo: { type: "string", default: "", secret: "never", description: "Address critical and warning alerts are mailed to. Empty: no email (then alertEmailFrom and alertEmailSmarthost are unused)." },
    alertEmailFrom: { type: "string", default: "", secret: "never", description: "The From address of alert mail." },
    alertEmailSmarthost: { type: "string", default: "", secret: "never", description: "The SMTP server alert mail goes through, host:port (e.g. smtp.example.com:587); it must offer STARTTLS." },
    alertEmailUsername: { type: "string", default: "", secret: "never", description: "SMTP login for alert mail. Empty: the server takes mail without one." },
    alertEmailPassword: {
        type: "string",
        default: "",
        secret: "if-set",
        description: "SMTP password of alertEmailUsername. Set it with --secret.",
    },
    postgresLagAlertMb: {
        type: "integer",
        default: 16,
        secret: "never",
        description: "A Postgres replica further behind its primary than this, in MiB (1 to 10240), for a minute raises PostgresReplicationLagHigh.",
    },
    postgresPassword: password("Postgres superuser password"),
    postgresReplicationPassword: password("Password of the Postgres replication user"),
    postgresAppPassword: password("Password of the app's own Postgres role, which the app connects as (not the superuser)"),
    redisPassword: password("Redis and Sentinel password"),
    grafanaAdminPassword: password("Grafana admin password"),
    haproxyStatsPassword: password("Password of HAProxy's stats page and Prometheus endpoint, and of Prometheus and Alertmanager through HAProxy"),
} as const satisfies Record<string, ConfigKeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Every key, in the table's order. */
export const KNOWN_KEYS = Object.keys(CONFIG_KEYS) as ConfigKey[];

// The supplied-secret keys are keys of this table like any other; a compile error here means
// one was added to SUPPLIABLE_SECRETS without a line above.
const _everySuppliableSecretIsAKey: Record<keyof typeof SUPPLIABLE_SECRETS, ConfigKeySpec> = CONFIG_KEYS;
void _everySuppliableSecretIsAKey;

/**
 * The value of `key` as the program sees it: the stack's, or else the table's default in the
 * string form Pulumi hands a program (`22`, `true`). `undefined` for a key with no default.
 */
export function valueOrDefault(raw: RawConfig, key: ConfigKey): string | undefined {
    const given = raw[key];
    if (given !== undefined) return given;
    const spec: ConfigKeySpec = CONFIG_KEYS[key];
    return spec.default === undefined ? undefined : String(spec.default);
}

/**
 * Refuses keys that are not in the table: a misspelled key would otherwise be ignored and its
 * value silently replaced by the default. Suggests the known key a typo most likely meant.
 */
export function checkKnownKeys(raw: RawConfig): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    for (const key of Object.keys(raw)) {
        if (raw[key] === undefined || Object.hasOwn(CONFIG_KEYS, key)) continue;
        const guess = closestKey(key);
        if (guess !== undefined) {
            const secret = CONFIG_KEYS[guess].secret !== "never" ? "--secret " : "";
            problems.push({
                key: fullKey(key),
                message:
                    `is not a swarm-ha setting: did you mean ${guess}? Rename it: ` +
                    `pulumi config rm ${fullKey(key)}, then pulumi config set ${secret}${fullKey(guess)} <value>`,
            });
        } else {
            problems.push({
                key: fullKey(key),
                message: `is not a swarm-ha setting (the settings are ${KNOWN_KEYS.join(", ")}): remove it with pulumi config rm ${fullKey(key)}`,
            });
        }
    }
    return problems;
}

/**
 * The one known key `key` is close to: equal but for case, within a small edit distance, or
 * the end of a single known key (`interface` for `vipInterface`; `port` ends six). `undefined` when none or several are.
 */
export function closestKey(key: string): ConfigKey | undefined {
    const k = key.toLowerCase();
    const sameButCase = KNOWN_KEYS.filter((known) => known.toLowerCase() === k);
    if (sameButCase.length === 1) return sameButCase[0];
    // One edit per four characters, at most two: "vpi" is vip, "foo" is nothing.
    const allowed = Math.min(2, Math.max(1, Math.floor(k.length / 4)));
    let best: ConfigKey[] = [];
    let bestDistance = allowed + 1;
    for (const known of KNOWN_KEYS) {
        const d = editDistance(k, known.toLowerCase());
        if (d < bestDistance) [best, bestDistance] = [[known], d];
        else if (d === bestDistance) best.push(known);
    }
    if (best.length === 1) return best[0];
    if (best.length > 1) return undefined;
    const endsWith = k.length >= 4 ? KNOWN_KEYS.filter((known) => known.toLowerCase().endsWith(k)) : [];
    return endsWith.length === 1 ? endsWith[0] : undefined;
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
    const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
            const cost = a[i - 1] === b[j - 1] ? 0 : 1;
            d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.length][b.length];
}
