/**
 * The stack's configuration: the only module that reads `pulumi.Config`.
 *
 * `parseStackConfig` is pure (it takes the raw strings Pulumi holds) so every rule is tested
 * without mocks; `loadStackConfig` feeds it from the stack. On bad input one `ConfigError`
 * lists every problem, each with the config key that caused it and what would fix it, and
 * it is thrown before the program creates a single resource.
 */
import * as net from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

/** The project's config namespace (the `name:` in Pulumi.yaml). */
export const NAMESPACE = "swarm-ha";

/** Stack roles: which parts of the stack a node may run. Each becomes the node label `swarm-ha.role.<role>=true`. */
export const STACK_ROLES = ["edge", "app", "redis", "postgres-primary", "postgres-replica", "monitoring"] as const;
export type StackRole = (typeof STACK_ROLES)[number];

export type SwarmRole = "manager" | "worker";
export type Availability = "active" | "pause" | "drain";

/** One host, as the program uses it (defaults applied). */
export interface NodeSpec {
    /** Unique, hostname-like name; prefixes the node's Pulumi resources. */
    name: string;
    /** Where SSH connects: an IP address or DNS name. */
    address: string;
    /** The IP other nodes reach this one on (`--advertise-addr`); defaults to `address` when that is an IP. */
    advertiseAddress: string;
    swarmRole: SwarmRole;
    roles: StackRole[];
    /** Free-form node labels, applied as given. */
    labels: Record<string, string>;
    availability: Availability;
}

/** Secret values a user may supply instead of generated ones (`pulumi config set --secret`). */
export const SUPPLIABLE_SECRETS = {
    postgresPassword: "postgres-password",
    postgresReplicationPassword: "postgres-replication-password",
    redisPassword: "redis-password",
    grafanaAdminPassword: "grafana-admin-password",
} as const;
export type SuppliableSecret = keyof typeof SUPPLIABLE_SECRETS;

export interface StackConfig {
    nodes: NodeSpec[];
    ssh: { user: string; port: number; privateKey: pulumi.Output<string> };
    allowNonHa: boolean;
    /** The keepalived virtual IP in front of the edge nodes, if any. */
    vip?: string;
    encryptOverlay: boolean;
    /** Prefix of every Docker object name (networks, secrets, services). */
    namePrefix: string;
    /** IPv4 range swarm allocates overlay subnets from, when it initialises the swarm; Docker's 10.0.0.0/8 if absent. */
    defaultAddrPool?: string;
    /** User-supplied secret values, by key; absent keys are generated. */
    suppliedSecrets: Partial<Record<SuppliableSecret, pulumi.Output<string>>>;
}

/** Config exactly as Pulumi holds it: every value a string (structured values as JSON), or absent. */
export type RawConfig = Record<string, string | undefined>;

export interface ConfigProblem {
    /** The full config key, e.g. `swarm-ha:nodes[2].address`. */
    key: string;
    message: string;
}

export class ConfigError extends Error {
    constructor(public readonly problems: ConfigProblem[]) {
        super(
            `swarm-ha: the stack's configuration has ${problems.length} problem(s); nothing was created or changed:\n` +
                problems.map((p) => `  - ${p.key}: ${p.message}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const NODE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// Docker recommends lower-case reverse-DNS label keys; we hold users to that so labels stay
// usable in placement constraints (`node.labels.<key> == <value>`).
const LABEL_KEY = /^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$/;
const RESERVED_LABEL_PREFIXES = ["swarm-ha.", "com.docker.", "io.docker.", "org.dockerproject."];
const SSH_USER = /^[a-z_][a-z0-9_.-]{0,31}$/;

const isIp = (s: string) => net.isIP(s) !== 0;
/** An IPv4 network in CIDR form with a prefix that leaves room for /24 overlay subnets. */
const isPool = (s: string) => {
    const [addr, bits, extra] = s.split("/");
    return extra === undefined && net.isIPv4(addr) && /^\d+$/.test(bits ?? "") && Number(bits) >= 8 && Number(bits) <= 24;
};

const nodeSchema = z
    .object({
        name: z.string().regex(NODE_NAME, {
            message: "must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit (e.g. manager-1)",
        }),
        address: z.string().refine((a) => isIp(a) || HOSTNAME.test(a), {
            message: "is not a valid IP address or host name (e.g. 192.0.2.11 or node1.example.com)",
        }),
        advertiseAddress: z
            .string()
            .refine(isIp, { message: "must be an IP address that the other nodes can reach (e.g. 10.0.0.11)" })
            .optional(),
        swarmRole: z.enum(["manager", "worker"], { message: "must be 'manager' or 'worker'" }),
        roles: z
            .array(z.enum(STACK_ROLES, { message: `is not a known role; use one of: ${STACK_ROLES.join(", ")}` }))
            .default([]),
        labels: z
            .record(
                z.string(),
                z.string().max(255, { message: "label values must be at most 255 characters" }).refine((v) => !/[\u0000-\u001f\u007f]/.test(v), {
                    message: "label values must not contain control characters or newlines",
                }),
            )
            .default({}),
        availability: z.enum(["active", "pause", "drain"], { message: "must be 'active', 'pause' or 'drain'" }).default("active"),
    })
    .strict();

const boolString = (key: string) =>
    z
        .enum(["true", "false"], { message: `must be true or false (pulumi config set ${key} true)` })
        .transform((v) => v === "true");

const rawSchema = z.object({
    nodes: z.array(nodeSchema, { message: "must be a list of nodes (see Pulumi.dev.yaml for an example)" }),
    sshUser: z.string().regex(SSH_USER, { message: "is not a valid user name (e.g. root or deploy)" }),
    sshPort: z
        .string()
        .regex(/^\d+$/, { message: "must be a whole number from 1 to 65535" })
        .transform(Number)
        .refine((p) => p >= 1 && p <= 65535, { message: "must be a whole number from 1 to 65535" }),
    allowNonHa: boolString("swarm-ha:allowNonHa"),
    encryptOverlay: boolString("swarm-ha:encryptOverlay"),
    vip: z
        .string()
        .refine((v) => v === "" || isIp(v), { message: "must be an IP address on the edge nodes' network (e.g. 192.0.2.100), or empty for none" }),
    namePrefix: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, {
        message: "must be 1-31 lower-case letters, digits or '-', starting with a letter",
    }),
    defaultAddrPool: z.string().refine((v) => v === "" || isPool(v), {
        message: "must be an IPv4 network from /8 to /24 (e.g. 10.20.0.0/16) that no host network uses, or empty for Docker's default 10.0.0.0/8",
    }),
});

const DEFAULTS: Record<string, string> = {
    sshUser: "root",
    sshPort: "22",
    allowNonHa: "false",
    encryptOverlay: "true",
    vip: "",
    namePrefix: "swarm-ha",
    defaultAddrPool: "",
};

/** `swarm-ha:nodes[2].labels.zone`, from a zod issue path. */
function keyOf(path: ReadonlyArray<PropertyKey>): string {
    let key = NAMESPACE;
    path.forEach((part, i) => {
        if (typeof part === "number") key += `[${part}]`;
        else key += i === 0 ? `:${String(part)}` : `.${String(part)}`;
    });
    return key;
}

/** The parts of the config that are not secret, validated; secrets are checked for presence only. */
export type ParsedConfig = Omit<StackConfig, "ssh" | "suppliedSecrets"> & { ssh: { user: string; port: number } };

/**
 * Validates the raw config. `secretKeys` says which keys were set with `--secret`: secret
 * values must be present where required and must not have been set in plain text.
 */
export function parseStackConfig(raw: RawConfig, secretKeys: ReadonlySet<string>): ParsedConfig {
    const problems: ConfigProblem[] = [];
    const value = (k: string) => raw[k] ?? DEFAULTS[k];

    let nodes: unknown = undefined;
    const nodesText = raw["nodes"];
    if (nodesText === undefined || nodesText.trim() === "") {
        problems.push({ key: `${NAMESPACE}:nodes`, message: "is not set: list the hosts of this stack (see Pulumi.dev.yaml for an example)" });
        nodes = [];
    } else {
        try {
            nodes = JSON.parse(nodesText);
        } catch {
            problems.push({ key: `${NAMESPACE}:nodes`, message: "is not valid structured config: it must be a YAML list of nodes" });
            nodes = [];
        }
    }

    const parsed = rawSchema.safeParse({
        nodes,
        sshUser: value("sshUser"),
        sshPort: value("sshPort"),
        allowNonHa: value("allowNonHa"),
        encryptOverlay: value("encryptOverlay"),
        vip: value("vip"),
        namePrefix: value("namePrefix"),
        defaultAddrPool: value("defaultAddrPool"),
    });
    if (!parsed.success) {
        for (const issue of parsed.error.issues) {
            if (issue.code === "unrecognized_keys") {
                for (const k of issue.keys) {
                    problems.push({
                        key: keyOf([...issue.path, k]),
                        message: "is not a node setting; known settings are name, address, advertiseAddress, swarmRole, roles, labels, availability",
                    });
                }
            } else {
                problems.push({ key: keyOf(issue.path), message: issue.message });
            }
        }
    }

    problems.push(...checkSecrets(raw, secretKeys));

    if (parsed.success) {
        const c = parsed.data;
        problems.push(...checkNodes(c.nodes, c.allowNonHa, c.vip));
        if (problems.length === 0) {
            return {
                nodes: c.nodes.map((n) => ({ ...n, advertiseAddress: n.advertiseAddress ?? n.address })),
                ssh: { user: c.sshUser, port: c.sshPort },
                allowNonHa: c.allowNonHa,
                vip: c.vip === "" ? undefined : c.vip,
                encryptOverlay: c.encryptOverlay,
                namePrefix: c.namePrefix,
                defaultAddrPool: c.defaultAddrPool === "" ? undefined : c.defaultAddrPool,
            };
        }
    }
    throw new ConfigError(problems);
}

function checkSecrets(raw: RawConfig, secretKeys: ReadonlySet<string>): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const key = `${NAMESPACE}:sshPrivateKey`;
    const sshKey = raw["sshPrivateKey"];
    if (sshKey === undefined || sshKey.trim() === "") {
        problems.push({
            key,
            message: `is not set: give the private key that opens SSH on every node, as a secret: pulumi config set --secret ${key} -- "$(cat ~/.ssh/id_ed25519)"`,
        });
    } else if (!secretKeys.has(key)) {
        problems.push({ key, message: `is stored in plain text: set it again with --secret (pulumi config set --secret ${key} ...)` });
    }
    for (const name of Object.keys(SUPPLIABLE_SECRETS)) {
        const full = `${NAMESPACE}:${name}`;
        const v = raw[name];
        if (v !== undefined && v !== "" && !secretKeys.has(full)) {
            problems.push({ key: full, message: `is stored in plain text: set it again with --secret (pulumi config set --secret ${full} ...), or remove it to have one generated` });
        }
    }
    return problems;
}

/** Rules across nodes: quorum, uniqueness, the roles the stack needs, the VIP. */
export function checkNodes(nodes: z.output<typeof nodeSchema>[], allowNonHa: boolean, vip: string): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const nodesKey = `${NAMESPACE}:nodes`;
    const managers = nodes.filter((n) => n.swarmRole === "manager");
    if (nodes.length === 0) return [{ key: nodesKey, message: "is empty: list at least one manager (three for a highly available swarm)" }];
    if (managers.length === 0) {
        problems.push({ key: nodesKey, message: "has no node with swarmRole: manager; a swarm needs at least one manager (three for high availability)" });
    } else if (!allowNonHa && (managers.length < 3 || managers.length % 2 === 0)) {
        problems.push({
            key: nodesKey,
            message:
                `has ${managers.length} manager(s); a highly available swarm needs an odd number of at least 3 (3, 5 or 7) so that Raft keeps a majority when one fails. ` +
                `Add managers, or set ${NAMESPACE}:allowNonHa true for a test cluster`,
        });
    }

    const seen = (field: "name" | "address") => {
        const first = new Map<string, number>();
        nodes.forEach((n, i) => {
            const v = field === "address" ? n.address.toLowerCase() : n.name;
            const j = first.get(v);
            if (j === undefined) first.set(v, i);
            else problems.push({ key: `${nodesKey}[${i}].${field}`, message: `'${v}' is also used by ${nodesKey}[${j}]; each node needs its own ${field}` });
        });
    };
    seen("name");
    seen("address");

    nodes.forEach((n, i) => {
        if (n.advertiseAddress === undefined && !isIp(n.address)) {
            problems.push({
                key: `${nodesKey}[${i}].advertiseAddress`,
                message: `is needed because address '${n.address}' is a host name: give the IP the other nodes reach this one on`,
            });
        }
        for (const [k] of Object.entries(n.labels)) {
            if (!LABEL_KEY.test(k)) {
                problems.push({ key: `${nodesKey}[${i}].labels.${k}`, message: "is not a valid label key: use lower-case letters, digits, '.', '-' or '_' (e.g. zone or com.example.rack)" });
            } else if (RESERVED_LABEL_PREFIXES.some((p) => k.startsWith(p))) {
                problems.push({ key: `${nodesKey}[${i}].labels.${k}`, message: `uses a reserved prefix (${RESERVED_LABEL_PREFIXES.join(", ")}); swarm-ha sets roles from the node's roles list` });
            }
        }
    });

    const withRole = (r: StackRole) => nodes.map((n, i) => ({ n, i })).filter(({ n }) => n.roles.includes(r));
    const edgeNeeded = allowNonHa ? 1 : 2;
    const edge = withRole("edge");
    if (edge.length < edgeNeeded) {
        problems.push({
            key: nodesKey,
            message: `has ${edge.length} node(s) with role 'edge'; the load balancer needs ${edgeNeeded}${allowNonHa ? "" : " so the virtual IP can move when one fails"}: add 'edge' to the roles of ${edgeNeeded - edge.length} more node(s)`,
        });
    }
    const primary = withRole("postgres-primary");
    if (primary.length !== 1) {
        problems.push({
            key: nodesKey,
            message: `has ${primary.length} node(s) with role 'postgres-primary'; exactly one node must carry it (the Postgres primary's data lives there)`,
        });
    }
    const replica = withRole("postgres-replica");
    if (replica.length === 0) {
        problems.push({ key: nodesKey, message: "has no node with role 'postgres-replica'; give it to a node other than the postgres-primary one, for the streaming replica" });
    }
    for (const r of replica) {
        if (r.n.roles.includes("postgres-primary")) {
            problems.push({ key: `${nodesKey}[${r.i}].roles`, message: "has both 'postgres-primary' and 'postgres-replica'; the replica must run on a different node so it survives the primary's host" });
        }
    }

    if (vip !== "") {
        nodes.forEach((n, i) => {
            if (n.address === vip || n.advertiseAddress === vip) {
                problems.push({ key: `${NAMESPACE}:vip`, message: `'${vip}' is the address of ${nodesKey}[${i}] (${n.name}); the virtual IP must be a free address that no node owns` });
            }
        });
    }
    return problems;
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
 * Reads the stack's configuration and validates it. Throws `ConfigError` (listing every
 * problem) before anything is created.
 */
export function loadStackConfig(): StackConfig {
    const config = new pulumi.Config(NAMESPACE);
    const keys = ["nodes", "sshUser", "sshPort", "allowNonHa", "encryptOverlay", "vip", "namePrefix", "defaultAddrPool", "sshPrivateKey", ...Object.keys(SUPPLIABLE_SECRETS)];
    const raw: RawConfig = {};
    for (const k of keys) raw[k] = config.get(k);
    const secretKeys = new Set(keys.map((k) => `${NAMESPACE}:${k}`).filter(isConfigSecret));
    const parsed = parseStackConfig(raw, secretKeys);

    const suppliedSecrets: StackConfig["suppliedSecrets"] = {};
    for (const k of Object.keys(SUPPLIABLE_SECRETS) as SuppliableSecret[]) {
        if (raw[k]) suppliedSecrets[k] = config.requireSecret(k);
    }
    return { ...parsed, ssh: { ...parsed.ssh, privateKey: config.requireSecret("sshPrivateKey") }, suppliedSecrets };
}
