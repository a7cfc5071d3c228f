/**
 * swarm-ha's HA policies, as plain policy objects: policy/index.ts serves them to the Pulumi
 * CLI as the `swarm-ha-ha` pack; test/policy.test.ts calls them directly on the program's
 * resources (run under mocks), the way @pulumi/policy calls them.
 *
 * How @pulumi/policy hands a policy its resources (v1, checked in its server.js):
 * - `args.props` are a resource's inputs (a stack policy gets each resource's outputs) with
 *   every secret unwrapped: a policy cannot tell a secret value from a plain one.
 * - During `pulumi preview` a value that is not known yet is a sentinel, and reading it
 *   through `args.props` throws; the SDK then downgrades that policy, for that resource, to
 *   an advisory "can't run during preview". So each policy reads only the fields it checks.
 * - `args.getConfig()` returns the pack's policy config for the policy as given
 *   (`--policy-pack-config`), or `{}` when none is given: the defaults of `configSchema` are
 *   documentation, and each policy applies its own defaults too.
 */
import {
    type PolicyResource,
    type ReportViolation,
    type ResourceValidationArgs,
    type ResourceValidationPolicy,
    type StackValidationArgs,
    type StackValidationPolicy,
    UnknownValueError,
} from "@pulumi/policy";

/** Config keys are the program's, in the `swarm-ha` namespace (Pulumi.yaml's project name). */
const KEY = (name: string) => `swarm-ha:${name}`;

const SERVICE = "docker:index/service:Service";
const NETWORK = "docker:index/network:Network";
const COMMAND = "command:remote:Command";

// ------------------------------------------------------------------------------------------------
// Shared helpers
// ------------------------------------------------------------------------------------------------

/** `app-service (swarm-ha-app)`: the Pulumi resource name, then the Docker name it gives. */
function label(args: { name: string; props: Record<string, any> }): string {
    const dockerName = typeof args.props.name === "string" ? args.props.name : undefined;
    return dockerName && dockerName !== args.name ? `${args.name} (${dockerName})` : args.name;
}

/**
 * What stack config sets a service's image, and its replica count where config does, by the
 * service's Pulumi resource name (the names index.ts and the components give). A service
 * not listed gets a generic hint.
 */
interface ServiceHint {
    match: RegExp;
    image?: string;
    replicas?: string;
    healthcheck?: string;
}
const SERVICE_HINTS: ServiceHint[] = [
    { match: /^app-service$/, image: KEY("appImage"), replicas: `set ${KEY("appReplicas")} to 2 or more (1 is only accepted with ${KEY("allowNonHa")})` },
    {
        match: /^postgres-proxy$/,
        image: KEY("haproxyImage"),
        replicas: `give the app role to at least two nodes in ${KEY("nodes")} (the Postgres proxy runs on the app nodes, up to 2 tasks)`,
    },
    { match: /^edge-.+-haproxy$/, image: KEY("haproxyImage") },
    { match: /^edge-.+-keepalived$/, image: KEY("keepalivedImage") },
    { match: /^redis-.+-(redis|sentinel)$/, image: KEY("redisImage") },
    { match: /^postgres-.+-pg$/, image: KEY("postgresImage") },
    { match: /^postgres-.+-etcd$/, image: KEY("etcdImage") },
    { match: /^backups-/, image: KEY("backupImage") },
    {
        match: /^monitoring-cadvisor$/,
        image: KEY("cadvisorImage"),
        healthcheck: `or turn cAdvisor off with ${KEY("cadvisor")} false`,
    },
    { match: /^monitoring-grafana$/, image: KEY("grafanaImage") },
    { match: /^monitoring-docker-api$/, image: KEY("haproxyImage"), replicas: `make at least two nodes managers in ${KEY("nodes")} (it runs on up to 2 managers)` },
    { match: /^monitoring-alertmanager$/, image: KEY("monitoringImage"), replicas: `make at least two nodes managers in ${KEY("nodes")} (it runs on up to 2 managers)` },
    { match: /^monitoring-swarm-exporter$/, image: KEY("monitoringImage"), replicas: `declare at least two active nodes in ${KEY("nodes")} (it runs on up to 2 nodes)` },
    { match: /^monitoring-/, image: KEY("monitoringImage") },
];

/** The hint for a service, by its resource name (exported for the tests). */
export function serviceHint(resourceName: string): ServiceHint | undefined {
    return SERVICE_HINTS.find((h) => h.match.test(resourceName));
}

/** The component that registers a resource, from its parent's URN: `components/monitoring`. */
function componentOf(parentUrn: string | undefined): string {
    // urn:pulumi:<stack>::<project>::<...$>swarm-ha:<module>:<Type>::<name>
    const type = parentUrn?.split("::")[2]?.split("$").pop() ?? "";
    const m = /^swarm-ha:([a-z-]+):/.exec(type);
    return m ? `components/${m[1]}` : "the component that creates it";
}

// ------------------------------------------------------------------------------------------------
// 1. managers-odd-and-enough
// ------------------------------------------------------------------------------------------------

export interface ManagersConfig {
    /** The fewest swarm managers the stack may have. Default: 3. */
    minManagers?: number;
}
export const DEFAULT_MIN_MANAGERS = 3;

/** One node the swarm is told to have, and the step that says so. */
interface DeclaredNode {
    name: string;
    role: string;
}

/** The value of `NAME='...'` in a script swarm-ha rendered (components/common/host-scripts.ts quotes it so). */
function scriptParam(script: string, name: string): string | undefined {
    const m = new RegExp(`^${name}='((?:[^']|'\\\\'')*)'$`, "m").exec(script);
    return m ? m[1].replace(/'\\''/g, "'") : undefined;
}

/** A resource's `create` script, or undefined when it is not known yet (preview) or not a string. */
function createScript(r: PolicyResource): string | undefined {
    try {
        const create = r.props.create;
        return typeof create === "string" ? create : undefined;
    } catch (e) {
        if (e instanceof UnknownValueError) return undefined; // not known until the update
        throw e;
    }
}

/**
 * Where the swarm's managers come from.
 *
 * Nothing in the swarm's resources has a "role" input of its own: a node's role is a
 * parameter of the scripts the SwarmCluster component (components/cluster/index.ts) renders
 * into a `command:remote:Command`'s `create`. Three steps carry it:
 * - `<cluster>-<node>-settings` (SWARM_ROLE='manager'): the step that promotes or demotes the
 *   node. But its script embeds the node's swarm ID, an output of the node's member step, so
 *   for a node that has not joined yet (a first deploy, a new node) it is unknown during
 *   `pulumi preview`, exactly when this policy must answer.
 * - `<cluster>-<node>-registration` (SWARM_ROLE=...): known in preview, but a lookup (what the
 *   swarm knows of the node before it joins), one step per node, so the count would rest on
 *   finding each of them.
 * - the `-member` steps: the first manager's (init) carries no role at all, the others' embed
 *   the cluster ID (unknown in preview, like the settings).
 * - `<cluster>-health` (DECLARED='<name> <role> <availability>' per line): one step listing
 *   every declared node with its role, rendered from config alone (known in preview), run on
 *   every `pulumi up`, and it fails the run when the live swarm's managers differ from it.
 *
 * So the health step's DECLARED list is the signal: complete, known in preview, and the very
 * list the swarm is checked against. The settings steps are the fallback should a stack have
 * no health step, and only when every one of their scripts is known (a partial count would
 * report a swarm short of managers that is not).
 */
function declaredNodes(resources: PolicyResource[]): { source: PolicyResource; nodes: DeclaredNode[] }[] {
    const found: { source: PolicyResource; nodes: DeclaredNode[] }[] = [];
    for (const r of resources) {
        if (r.type !== COMMAND || !r.name.endsWith("-health")) continue;
        const script = createScript(r);
        if (!script?.includes("# swarm-ha health.sh")) continue;
        const declared = scriptParam(script, "DECLARED") ?? "";
        const nodes = declared
            .split("\n")
            .map((line) => line.trim().split(/\s+/))
            .filter((f) => f.length >= 2 && f[0] !== "")
            .map(([name, role]) => ({ name, role }));
        found.push({ source: r, nodes });
    }
    if (found.length > 0) return found;

    // Fallback: the settings steps, if all of them are known.
    const settings = resources.filter((r) => r.type === COMMAND && r.name.endsWith("-settings"));
    const nodes: DeclaredNode[] = [];
    let source: PolicyResource | undefined;
    for (const r of settings) {
        const script = createScript(r);
        if (script === undefined) return [];
        if (!script.includes("# swarm-ha settings.sh")) continue;
        const name = scriptParam(script, "NODE_NAME");
        const role = scriptParam(script, "SWARM_ROLE");
        if (name && role) {
            nodes.push({ name, role });
            source ??= r;
        }
    }
    return source ? [{ source, nodes }] : [];
}

/** The manager counts to suggest instead of `n`: the nearest odd counts of at least `min`. */
function managerTargets(n: number, min: number): string {
    const smallest = min % 2 === 0 ? min + 1 : min;
    if (n < smallest) return String(smallest);
    return n - 1 >= smallest ? `${n - 1} or ${n + 1}` : String(n + 1);
}

export const managersOddAndEnough: StackValidationPolicy = {
    name: "managers-odd-and-enough",
    description:
        "The swarm has an odd number of managers, and at least minManagers (default 3): Raft needs a majority of the managers, " +
        "so an even count tolerates no more failures than the odd count below it, and fewer than 3 tolerate none. " +
        "The managers are read from the swarm health step's declared node list (every node with its swarmRole).",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            minManagers: { type: "integer", minimum: 1, default: DEFAULT_MIN_MANAGERS, description: "The fewest swarm managers the stack may have." },
        },
    },
    validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
        const min = args.getConfig<ManagersConfig>().minManagers ?? DEFAULT_MIN_MANAGERS;
        const swarms = declaredNodes(args.resources);
        if (swarms.length === 0) args.notApplicable("no swarm-ha swarm in this stack (no <cluster>-health step, nor <cluster>-settings steps all known)");
        for (const { source, nodes } of swarms) {
            const managers = nodes.filter((n) => n.role === "manager").map((n) => n.name);
            const n = managers.length;
            const even = n % 2 === 0;
            const tooFew = n < min;
            if (!even && !tooFew) continue;
            const why = [even ? "an even number" : "", tooFew ? `fewer than ${min}` : ""].filter(Boolean).join(" and ");
            reportViolation(
                `${source.name}: the swarm has ${n} manager${n === 1 ? "" : "s"} (${managers.join(", ") || "none"}), ${why}: ` +
                    `Raft keeps working only while a majority of the managers is up, so it needs an odd number, at least ${min}. ` +
                    `Change swarmRole in ${KEY("nodes")} so that ${managerTargets(n, min)} nodes are managers ` +
                    `(${KEY("allowNonHa")} lets the program accept fewer; this policy does not).`,
                source.urn,
            );
        }
    },
};

// ------------------------------------------------------------------------------------------------
// 2. stateless-replicas-and-healthcheck
// ------------------------------------------------------------------------------------------------

/** A placement constraint that pins a service to one node on purpose. */
const PINNED = /^\s*node\.(labels\.swarm-ha\.name|hostname|id)\s*==\s*\S+\s*$/;

export const statelessReplicasAndHealthcheck: ResourceValidationPolicy = {
    name: "stateless-replicas-and-healthcheck",
    description:
        "A replicated Docker service that keeps no data (no mount of type volume) runs at least 2 replicas and has a health check " +
        "(taskSpec.containerSpec.healthcheck with tests other than [\"NONE\"]; an empty list only inherits the image's, which this policy cannot see), " +
        "so it survives the loss of a node and a broken task is replaced. Exempt: services pinned to one node on purpose " +
        "(a placement constraint node.labels.swarm-ha.name == <node>, or node.hostname / node.id ==: swarm-ha's per-node services), " +
        "services with a volume mount (their data lives on one node: HA comes from replication between them), and global services. " +
        "Bind mounts (host paths such as the Docker socket) do not make a service stateful.",
    enforcementLevel: "mandatory",
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== SERVICE) return;
        const props = args.props;
        const mode = props.mode;
        if (mode?.global) return;
        const taskSpec = props.taskSpec ?? {};
        const constraints: string[] = taskSpec.placement?.constraints ?? [];
        if (constraints.some((c) => PINNED.test(c))) return;
        const containerSpec = taskSpec.containerSpec ?? {};
        const mounts: { type?: string }[] = containerSpec.mounts ?? [];
        // Docker's --mount type defaults to volume.
        if (mounts.some((m) => (m.type ?? "volume") === "volume")) return;

        const hint = serviceHint(args.name);
        const replicas: number = mode?.replicated?.replicas ?? 1;
        if (replicas < 2) {
            reportViolation(
                `Docker service ${label(args)} runs ${replicas} replica${replicas === 1 ? "" : "s"} and keeps no volume: a stateless service must run ` +
                    `at least 2 tasks so that it survives the loss of a node or task. ` +
                    (hint?.replicas
                        ? `In the stack's config, ${hint.replicas}.`
                        : `No stack config key sets its replicas: change mode.replicated.replicas to 2 or more in ${componentOf(args.opts.parent)}.`),
            );
        }
        const tests: string[] | undefined = containerSpec.healthcheck?.tests;
        if (!tests || tests.length === 0 || tests[0] === "NONE") {
            reportViolation(
                `Docker service ${label(args)} has no health check (taskSpec.containerSpec.healthcheck${tests?.[0] === "NONE" ? " is NONE" : " is not set"}): ` +
                    `swarm cannot tell a hung task from a working one, nor wait for a new task to be healthy in a rolling update. ` +
                    `No stack config key sets it: add a healthcheck in ${componentOf(args.opts.parent)}` +
                    (hint?.healthcheck ? `, ${hint.healthcheck}.` : "."),
            );
        }
    },
};

// ------------------------------------------------------------------------------------------------
// 3. no-published-data-ports
// ------------------------------------------------------------------------------------------------

export interface DataPortsConfig {
    /** Ports of data stores no service may publish. Default: DEFAULT_DATA_PORTS. */
    dataPorts?: number[];
}
/** Postgres (5432; 5433 is swarm-ha's read-only proxy port), Redis, Sentinel, etcd (client and peer). */
export const DEFAULT_DATA_PORTS = [5432, 5433, 6379, 26379, 2379, 2380];
const DATA_PORT_NAMES: Record<number, string> = {
    5432: "Postgres",
    5433: "Postgres (read-only)",
    6379: "Redis",
    26379: "Redis Sentinel",
    2379: "etcd (client)",
    2380: "etcd (peer)",
};
/** The edge's published ports, by the name the edge gives each, and the config key that sets it. */
const EDGE_PORT_KEYS: Record<string, string> = {
    http: "httpPort",
    https: "httpsPort",
    stats: "statsPort",
    health: "healthPort",
    grafana: "grafanaPort",
    prometheus: "prometheusPort",
    alertmanager: "alertmanagerPort",
};

export const noPublishedDataPorts: ResourceValidationPolicy = {
    name: "no-published-data-ports",
    description:
        "No Docker service publishes a data store's port (endpointSpec.ports: publishedPort, or a targetPort published under another number): " +
        "Postgres, Redis, Sentinel and etcd are reached only over the data and data-access overlay networks, never from outside the swarm. " +
        "The ports are the policy config dataPorts (default 5432, 5433, 6379, 26379, 2379, 2380).",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            dataPorts: {
                type: "array",
                items: { type: "integer", minimum: 1, maximum: 65535 },
                default: DEFAULT_DATA_PORTS,
                description: "Ports of data stores that no service may publish.",
            },
        },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== SERVICE) return;
        const dataPorts = new Set(args.getConfig<DataPortsConfig>().dataPorts ?? DEFAULT_DATA_PORTS);
        const ports: { name?: string; publishedPort?: number; targetPort?: number }[] = args.props.endpointSpec?.ports ?? [];
        for (const p of ports) {
            const published = p.publishedPort;
            // A port with no publishedPort is still published: swarm picks one (30000+).
            const hit = [published, p.targetPort].find((x): x is number => typeof x === "number" && dataPorts.has(x));
            if (hit === undefined) continue;
            const what = DATA_PORT_NAMES[hit] ?? "a data store";
            const as = published === hit ? `port ${hit}` : `port ${hit} as ${published ?? "a swarm-assigned port"}`;
            const key = p.name ? EDGE_PORT_KEYS[p.name] : undefined;
            reportViolation(
                `Docker service ${label(args)} publishes ${as}, ${what}'s port` +
                    (p.name ? ` (endpointSpec.ports '${p.name}')` : "") +
                    `: a data store must be reachable only over the data and data-access overlay networks. ` +
                    (key
                        ? `Set ${KEY(key)} in the stack's config to a port that is not a data store's.`
                        : `Remove the published port (services reach it on the data or data-access network) in ${componentOf(args.opts.parent)}; no stack config key publishes it.`),
            );
        }
    },
};

// ------------------------------------------------------------------------------------------------
// 4. passwords-are-docker-secrets
// ------------------------------------------------------------------------------------------------

export interface SecretEnvConfig {
    /** Env names that look like credentials but are not (default: DEFAULT_NOT_SECRET_NAMES). */
    notSecretNames?: string[];
}
/**
 * ETCD_CLUSTER_TOKEN: etcd's --initial-cluster-token, an identifier that keeps two clusters
 * from merging by mistake, not a credential (swarm-ha sets it to `<prefix>-<stack>`).
 */
export const DEFAULT_NOT_SECRET_NAMES = ["ETCD_CLUSTER_TOKEN", "ETCD_INITIAL_CLUSTER_TOKEN"];
/** `X_FILE` / `X__FILE` (Grafana's form): the variable names a file that holds the value. */
const FILE_VARIANT = /__?FILE$/i;
/**
 * Env names (without a _FILE suffix) that hold a credential: PASSWORD, PASSWD, SECRET, TOKEN,
 * CREDENTIAL(S) anywhere; PASS, PWD, AUTH and the kinds of KEY only as the last word, so that
 * e.g. REDISCLI_AUTH and DATA_SOURCE_PASS count and GF_AUTH_ANONYMOUS_ENABLED does not.
 */
const SECRET_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|(^|_)(PASS|PWD|AUTH|APIKEY|(API|ACCESS|PRIVATE|SECRET|SIGNING|ENCRYPTION)_?KEY)$/i;

/** Does env variable `name` (or the variable its _FILE form stands for) hold a credential? */
export function isCredentialName(name: string): boolean {
    return SECRET_NAME.test(name.replace(FILE_VARIANT, ""));
}
const SECRETS_DIR = "/run/secrets/";

export const passwordsAreDockerSecrets: ResourceValidationPolicy = {
    name: "passwords-are-docker-secrets",
    description:
        "No Docker service sets a credential in its environment: a variable whose name looks like a password, secret, token or key " +
        "(PASSWORD, PASSWD, SECRET, TOKEN, API_KEY, ...) with a literal value is a violation, as it shows in `docker service inspect` and every task's environment. " +
        "The credential goes in a Docker secret, and the variable's *_FILE form names it (e.g. PGPASSWORD_FILE=/run/secrets/postgres-password): " +
        "a *_FILE variable must point under /run/secrets/ (or at a path where the service mounts a secret). " +
        "Names that look like credentials but are not are listed in the policy config notSecretNames (default: ETCD_CLUSTER_TOKEN, an etcd cluster identifier). " +
        "Not checked: whether a docker Secret's data is a Pulumi secret, as policies see every value with secrets unwrapped (@pulumi/docker marks it secret itself).",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            notSecretNames: {
                type: "array",
                items: { type: "string" },
                default: DEFAULT_NOT_SECRET_NAMES,
                description: "Environment variable names that look like credentials but are not.",
            },
        },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== SERVICE) return;
        const notSecret = new Set((args.getConfig<SecretEnvConfig>().notSecretNames ?? DEFAULT_NOT_SECRET_NAMES).map((n) => n.toUpperCase()));
        const containerSpec = args.props.taskSpec?.containerSpec ?? {};
        const env: Record<string, string> = containerSpec.env ?? {};
        const secretPaths = new Set(
            ((containerSpec.secrets ?? []) as { fileName?: string }[])
                .map((s) => s.fileName ?? "")
                .map((f) => (f.startsWith("/") ? f : `${SECRETS_DIR}${f}`)),
        );
        for (const name of Object.keys(env)) {
            if (!isCredentialName(name) || notSecret.has(name.toUpperCase())) continue;
            const value = env[name];
            if (typeof value !== "string" || value === "") continue;
            if (FILE_VARIANT.test(name)) {
                if (value.startsWith(SECRETS_DIR) || secretPaths.has(value)) continue;
                reportViolation(
                    `Docker service ${label(args)} sets ${name}=${value}, a file that is not a Docker secret: ` +
                        `point it at the secret mounted under ${SECRETS_DIR} (containerSpec.secrets) in ${componentOf(args.opts.parent)}.`,
                );
                continue;
            }
            // The value itself is never printed: it is the credential.
            reportViolation(
                `Docker service ${label(args)} sets ${name} to a literal value in containerSpec.env: a credential in the environment ` +
                    `shows in \`docker service inspect\` and every task's environment. Put it in a Docker secret, mount it (containerSpec.secrets) and set ` +
                    `${name}_FILE=${SECRETS_DIR}<secret> instead, in ${componentOf(args.opts.parent)}; the value itself belongs in the stack's config ` +
                    `as a secret (pulumi config set --secret ${KEY("...")}), from where swarm-ha's StackSecrets makes it a Docker secret.`,
            );
        }
    },
};

// ------------------------------------------------------------------------------------------------
// 5. encrypted-overlays
// ------------------------------------------------------------------------------------------------

export interface OverlayConfig {
    /** Accept overlay networks without IPsec (hosts without ESP, e.g. the lab). Default: false. */
    allowUnencryptedOverlays?: boolean;
}

export const encryptedOverlays: ResourceValidationPolicy = {
    name: "encrypted-overlays",
    description:
        "Every overlay Docker network encrypts its traffic between nodes (IPsec: the `encrypted` driver option, which swarm-ha's SwarmNetworks sets " +
        "unless swarm-ha:encryptOverlay is false). Policy config allowUnencryptedOverlays: true accepts unencrypted overlays, " +
        "for hosts whose kernels lack ESP (the lab) or trusted links.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            allowUnencryptedOverlays: { type: "boolean", default: false, description: "Accept overlay networks without IPsec encryption." },
        },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== NETWORK || args.props.driver !== "overlay") return;
        if (args.getConfig<OverlayConfig>().allowUnencryptedOverlays === true) return;
        const options: Record<string, string> = args.props.options ?? {};
        // Docker turns IPsec on when the option is present at all (components/networks/index.ts).
        if (Object.prototype.hasOwnProperty.call(options, "encrypted")) return;
        reportViolation(
            `Overlay network ${label(args)} is not encrypted (no 'encrypted' driver option): its traffic crosses the hosts' links in clear. ` +
                `Set ${KEY("encryptOverlay")} true in the stack's config (its default); only where the hosts' kernels lack ESP support, ` +
                `set this policy's allowUnencryptedOverlays to true instead.`,
        );
    },
};

// ------------------------------------------------------------------------------------------------
// 6. pinned-images
// ------------------------------------------------------------------------------------------------

/** The tag and digest of a Docker image reference (`registry:5000/repo/name:tag@sha256:...`). */
export function parseImageRef(image: string): { tag?: string; digest?: string } {
    const at = image.indexOf("@");
    const digest = at >= 0 ? image.slice(at + 1) : undefined;
    const nameTag = at >= 0 ? image.slice(0, at) : image;
    const lastSlash = nameTag.lastIndexOf("/");
    const colon = nameTag.lastIndexOf(":");
    const tag = colon > lastSlash ? nameTag.slice(colon + 1) : undefined;
    return { tag, digest };
}

/** Why an image reference is not pinned, or undefined when it is. */
export function unpinnedReason(image: string): string | undefined {
    const { tag, digest } = parseImageRef(image);
    if (digest !== undefined) return /^sha256:[0-9a-f]{64}$/.test(digest) ? undefined : `its digest '${digest}' is not sha256:<64 hex digits>`;
    if (tag === undefined || tag === "") return "it has no tag (Docker pulls 'latest')";
    if (tag === "latest") return "its tag is 'latest'";
    return undefined;
}

export const pinnedImages: ResourceValidationPolicy = {
    name: "pinned-images",
    description:
        "Every Docker service runs a pinned image: a tag other than `latest`, or a digest (@sha256:...). An image without a tag, or tagged latest, " +
        "changes under the stack without a diff, and each node may run a different one. swarm-ha's own builds (swarm-ha/<name>:<content hash>) pass.",
    enforcementLevel: "mandatory",
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== SERVICE) return;
        const image = args.props.taskSpec?.containerSpec?.image;
        if (typeof image !== "string") return;
        const reason = unpinnedReason(image);
        if (!reason) return;
        const key = serviceHint(args.name)?.image;
        reportViolation(
            `Docker service ${label(args)} runs image '${image}', which is not pinned: ${reason}. ` +
                (key
                    ? `Set ${key} in the stack's config to a version tag or a digest (e.g. ${suggestPinned(image)})` +
                      (key === KEY("grafanaImage") || key === KEY("cadvisorImage") ? "." : `, or leave it empty to have swarm-ha build its own.`)
                    : `Pin it to a version tag or a digest in ${componentOf(args.opts.parent)}.`),
        );
    },
};

function suggestPinned(image: string): string {
    const at = image.indexOf("@");
    const base = at >= 0 ? image.slice(0, at) : image;
    const { tag } = parseImageRef(base);
    const repo = tag !== undefined ? base.slice(0, base.length - tag.length - 1) : base;
    return `${repo}:<version> or ${repo}@sha256:<digest>`;
}

// ------------------------------------------------------------------------------------------------

/** The pack's policies, in the order the report lists them. */
export const policies = [
    managersOddAndEnough,
    statelessReplicasAndHealthcheck,
    noPublishedDataPorts,
    passwordsAreDockerSecrets,
    encryptedOverlays,
    pinnedImages,
];
