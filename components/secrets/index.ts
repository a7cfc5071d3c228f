/**
 * StackSecrets: the stack's passwords, generated (`@pulumi/random`) or supplied in config,
 * stored as Docker secrets. A secret's name carries a keyed hash of its content, so changing
 * a password creates a new Docker secret and moves services to it (create, switch, then delete
 * the old one) instead of editing a secret in place, which Docker does not allow.
 */
import * as crypto from "node:crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { HASH_LENGTH, secretName } from "../common/names";
import { requireDockerProvider } from "../common/providers";
import { SUPPLIABLE_SECRETS, type SuppliableSecret } from "../config";

export interface StackSecretsArgs {
    /** Prefix of the Docker secret names, e.g. `swarm-ha` gives `swarm-ha-redis-password-<hash>`. */
    namePrefix: string;
    /** Values supplied in config (`pulumi config set --secret`); the rest are generated. */
    supplied?: Partial<Record<SuppliableSecret, pulumi.Input<string>>>;
    /** Length of generated passwords. Default: 32. */
    passwordLength?: number;
    /**
     * Other secret values to store as given (never generated), by id, e.g. the TLS
     * certificate: `{ "tls-certificate": cert }`.
     */
    given?: Record<string, pulumi.Input<string>>;
}

export interface StackSecret {
    /** The password (secret). */
    value: pulumi.Output<string>;
    /** The Docker secret's name, e.g. `swarm-ha-redis-password-3f9c2a71d0be`. */
    name: pulumi.Output<string>;
    secret: docker.Secret;
}

/** The hash in a secret's name: HMAC keyed with a generated key, so the name reveals nothing about a weak supplied password. */
export function secretNameHash(nameKey: string, value: string): string {
    return crypto.createHmac("sha256", nameKey).update(value).digest("hex").slice(0, HASH_LENGTH);
}

/**
 * The stack's passwords as Docker secrets. Pass the swarm's Docker provider in the options
 * (`{ providers: { docker: cluster.provider } }`): every secret inherits it from here.
 */
export class StackSecrets extends pulumi.ComponentResource {
    public readonly secrets: Record<SuppliableSecret, StackSecret>;
    /** The `given` values' secrets, by id. */
    public readonly given: Record<string, StackSecret>;

    constructor(name: string, args: StackSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
        requireDockerProvider("StackSecrets", opts);
        super("swarm-ha:secrets:StackSecrets", name, {}, opts);
        const length = args.passwordLength ?? 32;
        // Letters and digits only: these end up in connection strings and config files.
        const password = (id: string) =>
            new random.RandomPassword(`${name}-${id}-generated`, { length, special: false, minLower: 2, minUpper: 2, minNumeric: 2 }, { parent: this }).result;
        const nameKey = password("name-key");

        const store = (id: string, value: pulumi.Output<string>): StackSecret => {
            const dockerName = pulumi.unsecret(pulumi.all([nameKey, value]).apply(([k, v]) => secretName(args.namePrefix, id, secretNameHash(k, v))));
            const secret = new docker.Secret(
                `${name}-${id}`,
                {
                    name: dockerName,
                    data: value.apply((v) => Buffer.from(v, "utf8").toString("base64")),
                    labels: [
                        { label: "swarm-ha.secret", value: id },
                        { label: "swarm-ha.stack", value: pulumi.getStack() },
                    ],
                },
                { parent: this },
            );
            return { value, name: dockerName, secret };
        };

        const secrets = {} as Record<SuppliableSecret, StackSecret>;
        for (const [key, id] of Object.entries(SUPPLIABLE_SECRETS) as [SuppliableSecret, string][]) {
            const supplied = args.supplied?.[key];
            secrets[key] = store(id, pulumi.secret(supplied !== undefined ? pulumi.output(supplied) : password(id)));
        }
        const given: Record<string, StackSecret> = {};
        for (const [id, value] of Object.entries(args.given ?? {})) given[id] = store(id, pulumi.secret(pulumi.output(value)));
        this.given = given;
        this.secrets = secrets;
        this.registerOutputs({ names: Object.fromEntries(Object.entries(secrets).map(([k, s]) => [k, s.name])) });
    }
}
