/**
 * The shapes shared by the config modules (and, through `index.ts`, by the rest of the
 * program). Kept apart from `index.ts` so the rule modules can use them without importing
 * the entry point that imports them.
 */

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
    /**
     * The host's SSH public key ("type base64"), pinned in config: commands and the Docker
     * provider refuse a host that presents another. Without it the key is recorded on first
     * contact (trust on first use) and a later change is refused all the same.
     */
    hostKey?: string;
}

/** Secret values a user may supply instead of generated ones (`pulumi config set --secret`), by key: the secret's id. */
export const SUPPLIABLE_SECRETS = {
    postgresPassword: "postgres-password",
    postgresReplicationPassword: "postgres-replication-password",
    postgresAppPassword: "postgres-app-password",
    redisPassword: "redis-password",
    grafanaAdminPassword: "grafana-admin-password",
    haproxyStatsPassword: "haproxy-stats-password",
} as const;
export type SuppliableSecret = keyof typeof SUPPLIABLE_SECRETS;

/** Config exactly as Pulumi holds it: every value a string (structured values as JSON), or absent. Keys without the namespace. */
export type RawConfig = Record<string, string | undefined>;

export interface ConfigProblem {
    /** The full config key, e.g. `swarm-ha:nodes[2].address`. */
    key: string;
    message: string;
}

/** Every problem of a stack's config, thrown before the program creates anything. */
export class ConfigError extends Error {
    constructor(public readonly problems: ConfigProblem[]) {
        super(
            `swarm-ha: the stack's configuration has ${problems.length} problem(s); nothing was created or changed:\n` +
                problems.map((p) => `  - ${p.key}: ${p.message}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

/** `swarm-ha:<key>`, the key as the user types it in `pulumi config set`. */
export function fullKey(key: string): string {
    return `${NAMESPACE}:${key}`;
}

/** `swarm-ha:nodes[2].labels.zone`, from a path such as zod's issue paths. */
export function keyOf(path: ReadonlyArray<PropertyKey>): string {
    let key = NAMESPACE;
    path.forEach((part, i) => {
        if (typeof part === "number") key += `[${part}]`;
        else key += i === 0 ? `:${String(part)}` : `.${String(part)}`;
    });
    return key;
}

/** `swarm-ha:nodes[i]`, how a message points at another node. */
export function nodeKey(i: number): string {
    return `${NAMESPACE}:nodes[${i}]`;
}
