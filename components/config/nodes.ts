/**
 * The `nodes` list: the schema of one node (with messages that say what YAML to write when a
 * value has the wrong type) and the rules across nodes: quorum, uniqueness in every spelling,
 * the roles the stack needs on nodes that can run them (the data tier's in data.ts).
 */
import { z } from "zod";
import { type ParsedAddress, readAddress, sameAddress } from "./addresses";
import { type ConfigProblem, NAMESPACE, STACK_ROLES, type StackRole, nodeKey } from "./types";

const NODE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// Docker recommends lower-case reverse-DNS label keys; we hold users to that so labels stay
// usable in placement constraints (`node.labels.<key> == <value>`).
const LABEL_KEY = /^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$/;
const RESERVED_LABEL_PREFIXES = ["swarm-ha.", "com.docker.", "io.docker.", "org.dockerproject."];
/** Control characters: C0, DEL and C1. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/**
 * Names a JavaScript object already has, or eats: `__proto__` as a key sets the object's
 * prototype (the label vanishes without a word), `constructor` and the rest read back as
 * Object's own functions where a lookup by name expects nothing. Node names and label keys
 * become such keys, in the program and in what it hands Pulumi.
 */
const OBJECT_NAMES = new Set([...Object.getOwnPropertyNames(Object.prototype), "prototype"]);
/** Raft's cost grows with each manager; Docker recommends at most seven. */
export const MAX_MANAGERS = 7;

/** The settings a node takes, in the order the docs list them. */
export const NODE_SETTINGS = ["name", "address", "advertiseAddress", "swarmRole", "roles", "labels", "availability", "hostKey"] as const;

/** Host key types OpenSSH servers offer (ssh-keyscan -t ed25519,ecdsa,rsa). */
const HOST_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];

/**
 * A pinned SSH host key, as `ssh-keyscan` prints it ("host type base64") or as in a .pub file
 * ("type base64 [comment]"), read to "type base64": its type must be one a server offers, and
 * its base64 must decode to a key blob of that type (the blob starts with its own type name).
 */
export function readHostKey(text: string): { ok: true; value: string } | { ok: false; message: string } {
    const example = "hostKey: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...\" (the output of: ssh-keyscan -t ed25519 <address>)";
    if (/PRIVATE KEY/.test(text)) return { ok: false, message: `is a private key; give the host's PUBLIC key, e.g. ${example}` };
    const fields = text.trim().split(/\s+/);
    const at = fields.findIndex((f) => HOST_KEY_TYPES.includes(f));
    if (at < 0 || at > 1 || fields[at + 1] === undefined) {
        return { ok: false, message: `is not an SSH public host key: expected one of ${HOST_KEY_TYPES.join(", ")} and its base64 key, e.g. ${example}` };
    }
    const [type, b64] = [fields[at], fields[at + 1]];
    const blob = /^[A-Za-z0-9+/]+={0,2}$/.test(b64) ? Buffer.from(b64, "base64") : Buffer.alloc(0);
    const flaw = hostKeyBlobFlaw(type, blob);
    if (flaw !== undefined) {
        return { ok: false, message: `has a ${type} key whose base64 is not a ${type} key (${flaw}: truncated or mistyped?); copy it again, e.g. ${example}` };
    }
    return { ok: true, value: `${type} ${b64}` };
}

/** The fields of an SSH wire-format blob (RFC 4251: each a 32-bit length, then its bytes); `undefined` if they do not fill it exactly. */
function sshFields(blob: Buffer): Buffer[] | undefined {
    const fields: Buffer[] = [];
    for (let at = 0; at < blob.length; ) {
        if (at + 4 > blob.length) return undefined;
        const length = blob.readUInt32BE(at);
        if (at + 4 + length > blob.length) return undefined;
        fields.push(blob.subarray(at + 4, at + 4 + length));
        at += 4 + length;
    }
    return fields;
}

/** Bytes of an ECDSA public point (uncompressed: 0x04, then x and y) by curve (RFC 5656). */
const ECDSA_POINT_BYTES: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };
/** OpenSSH refuses RSA keys of fewer bits (SSH_RSA_MINIMUM_MODULUS_SIZE). */
const MIN_RSA_BITS = 1024;

/**
 * Why `blob` is not a public key of `type`, in a few words; `undefined` when it is one. The
 * blob names its type first, then holds the key itself (RFC 4253 6.6, RFC 5656, RFC 8709):
 * a key of the wrong length is one no host presents, and SSH would refuse every host.
 */
function hostKeyBlobFlaw(type: string, blob: Buffer): string | undefined {
    const fields = sshFields(blob);
    if (fields === undefined || fields.length === 0) return "its fields do not add up";
    if (fields[0].toString("latin1") !== type) return "it names another type";
    if (type === "ssh-ed25519") return fields.length === 2 && fields[1].length === 32 ? undefined : "an Ed25519 key is 32 bytes";
    if (type.startsWith("ecdsa-sha2-")) {
        const curve = type.slice("ecdsa-sha2-".length);
        if (fields.length !== 3 || fields[1].toString("latin1") !== curve) return `it names another curve than ${curve}`;
        return fields[2].length === ECDSA_POINT_BYTES[curve] && fields[2][0] === 4 ? undefined : `a ${curve} point is ${ECDSA_POINT_BYTES[curve]} bytes`;
    }
    // ssh-rsa: the exponent, then the modulus (mpints: a leading zero byte keeps them positive).
    if (fields.length !== 3) return "an RSA key is an exponent and a modulus";
    const modulus = fields[2][0] === 0 ? fields[2].subarray(1) : fields[2];
    return modulus.length * 8 >= MIN_RSA_BITS && fields[1].length > 0 ? undefined : `an RSA modulus has at least ${MIN_RSA_BITS} bits`;
}

/** `swarm-ha:nodes[2].labels.zone`; a key with control characters, which a terminal would not show plainly, is quoted with them escaped. */
function labelKey(i: number, k: string): string {
    if (!CONTROL.test(k)) return `${nodeKey(i)}.labels.${k}`;
    const escaped = k.replace(/[\u0000-\u001f\u007f-\u009f"\\]/g, (c) => (c === '"' || c === "\\" ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
    return `${nodeKey(i)}.labels["${escaped}"]`;
}

/**
 * `__proto__` keys in the `nodes` list as JSON.parse gives it (own keys there), before the
 * schema reads it: copied into an object, such a key sets its prototype, so a label or setting
 * of that name would vanish without a word.
 */
export function checkProtoKeys(value: unknown, path = `${NAMESPACE}:nodes`): ConfigProblem[] {
    if (typeof value !== "object" || value === null) return [];
    if (Array.isArray(value)) return value.flatMap((v, i) => checkProtoKeys(v, `${path}[${i}]`));
    return Object.keys(value).flatMap((k) =>
        k === "__proto__"
            ? [{ key: `${path}.__proto__`, message: "is a name JavaScript objects take as their prototype, so the value would be lost without a word: rename it (e.g. for a label: com.example.proto)" }]
            : checkProtoKeys((value as Record<string, unknown>)[k], `${path}.${k}`),
    );
}

/** A value's YAML type in words, for "is a list, but must be a map". */
function describeValue(v: unknown): string {
    if (v === null) return "empty";
    if (Array.isArray(v)) return "a list";
    if (typeof v === "object") return "a map";
    if (typeof v === "string") return `a string ('${v.length > 40 ? `${v.slice(0, 40)}...` : v}')`;
    if (typeof v === "number") return `a number (${v})`;
    if (typeof v === "boolean") return `a boolean (${v})`;
    return typeof v;
}

/**
 * A zod error function for a wrong YAML type: says what was found, what is expected and an
 * example, instead of zod's "expected string, received number". A missing required setting
 * (`input` undefined) is said to be missing.
 */
function expecting(expected: string, example: string, missing?: string) {
    return (issue: { input?: unknown }): string =>
        issue.input === undefined && missing !== undefined
            ? `is missing: ${missing}, e.g. ${example}`
            : `is ${describeValue(issue.input)}, but must be ${expected}, e.g. ${example}`;
}

/** A zod check that runs `readAddress` and reports its message. */
function address(use: "ssh" | "advertise") {
    return (value: string, ctx: z.RefinementCtx) => {
        const read = readAddress(value, use);
        if (!read.ok) ctx.addIssue({ code: "custom", message: read.message });
    };
}

/** One entry of `nodes`: its settings, each with a message that says what to write when it is wrong. Unknown settings are refused (a typo must not pass unnoticed). */
export const nodeSchema = z
    .object(
        {
            name: z
                .string({ error: expecting("a name", "name: manager-1", "every node needs a unique name") })
                .regex(NODE_NAME, {
                    message: "must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit (e.g. manager-1)",
                }),
            address: z
                .string({ error: expecting("an IP address or host name", "address: 192.0.2.11", "every node needs the address SSH connects to") })
                .superRefine(address("ssh")),
            advertiseAddress: z.string({ error: expecting("an IP address", "advertiseAddress: 10.0.0.11") }).superRefine(address("advertise")).optional(),
            swarmRole: z.enum(["manager", "worker"], {
                error: (issue) =>
                    issue.input === undefined
                        ? "is missing: every node needs one, e.g. swarmRole: manager (or swarmRole: worker)"
                        : "must be 'manager' or 'worker' (e.g. swarmRole: manager)",
            }),
            roles: z
                .array(z.enum(STACK_ROLES, { message: `is not a known role; use one of: ${STACK_ROLES.join(", ")}` }), {
                    error: expecting("a list", "roles: [edge, app]"),
                })
                .default([]),
            labels: z
                .record(
                    z.string(),
                    z
                        .string({
                            error: (issue) => {
                                const label = String(issue.path?.at(-1) ?? "rack");
                                const v = issue.input;
                                return typeof v === "number" || typeof v === "boolean"
                                    ? `is ${describeValue(v)}; label values are text: quote it, e.g. ${label}: "${String(v)}"`
                                    : `is ${describeValue(v)}, but label values must be text, e.g. ${label}: "a"`;
                            },
                        })
                        .max(255, { message: "label values must be at most 255 characters" })
                        // C0, DEL and C1 (U+0080-U+009F, e.g. NEL, a line break to some readers): invisible in a message, and Docker keeps them.
                        .refine((v) => !CONTROL.test(v), { message: "label values must not contain control characters or newlines (C0, DEL or C1): write the value on one line, in printable characters" }),
                    { error: expecting("a map of label: value", "labels: {zone: a}") },
                )
                .default({}),
            availability: z.enum(["active", "pause", "drain"], { message: "must be 'active', 'pause' or 'drain' (e.g. availability: active)" }).default("active"),
            hostKey: z
                .string({ error: expecting("an SSH public host key", 'hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."') })
                .transform((v, ctx) => {
                    const read = readHostKey(v);
                    if (read.ok) return read.value;
                    ctx.addIssue({ code: "custom", message: read.message });
                    return z.NEVER;
                })
                .optional(),
        },
        { error: expecting("a map of settings", "- {name: manager-1, address: 192.0.2.11, swarmRole: manager} (see Pulumi.dev.yaml)") },
    )
    .strict();

/** The `nodes` key: a list of nodes. */
export const nodesSchema = z.array(nodeSchema, {
    error: expecting("a list of nodes, one entry per host", "nodes: [{name: manager-1, address: 192.0.2.11, swarmRole: manager}] (see Pulumi.dev.yaml)"),
});

/** A node as the schema gives it: defaults applied, advertiseAddress still optional. */
export type NodeInput = z.output<typeof nodeSchema>;

/** A node's addresses, read (its fields passed the schema, so they read). */
export interface NodeAddresses {
    address: ParsedAddress;
    /** Given explicitly, or else the address when that is an IP; undefined for a host name without one. */
    advertise?: ParsedAddress;
}

/** The parsed addresses of every node, by index. */
export function nodeAddresses(nodes: NodeInput[]): NodeAddresses[] {
    const read = (text: string, use: "ssh" | "advertise") => {
        const r = readAddress(text, use);
        if (!r.ok) throw new Error(`swarm-ha: internal error: '${text}' passed the node schema but does not read: ${r.message}`);
        return r.value;
    };
    return nodes.map((n) => {
        const address = read(n.address, "ssh");
        const advertise = n.advertiseAddress !== undefined ? read(n.advertiseAddress, "advertise") : address.kind === "ip" ? address : undefined;
        return { address, advertise };
    });
}

/** `, written '2001:db8::1'` when two spellings of one address differ, else nothing. */
function spelledAs(mine: string, theirs: string): string {
    return mine === theirs ? "" : ` (written '${theirs}' there)`;
}

/** Rules across nodes: quorum, uniqueness, advertise addresses, labels, and the roles the stack needs on nodes that can run them. */
export function checkNodes(nodes: NodeInput[], allowNonHa: boolean): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const nodesKey = `${NAMESPACE}:nodes`;
    if (nodes.length === 0) return [{ key: nodesKey, message: "is empty: list at least one manager (three for a highly available swarm)" }];
    const named = (i: number) => `${nodeKey(i)} (${nodes[i].name})`;

    const managers = nodes.filter((n) => n.swarmRole === "manager");
    if (managers.length === 0) {
        problems.push({ key: nodesKey, message: "has no node with swarmRole: manager; a swarm needs at least one manager (three for high availability)" });
    } else if (managers.length > MAX_MANAGERS) {
        problems.push({
            key: nodesKey,
            message:
                `has ${managers.length} managers; Docker recommends at most ${MAX_MANAGERS}: every change to the swarm waits for a majority of managers to write it (Raft), ` +
                `so each manager adds to the cost of every write. Make the others workers (swarmRole: worker): workers add capacity without that cost`,
        });
    } else if (!allowNonHa && (managers.length < 3 || managers.length % 2 === 0)) {
        problems.push({
            key: nodesKey,
            message:
                `has ${managers.length} manager(s); a highly available swarm needs an odd number of at least 3 (3, 5 or 7) so that Raft keeps a majority when one fails. ` +
                `Add managers, or set ${NAMESPACE}:allowNonHa true for a test cluster`,
        });
    }

    const firstName = new Map<string, number>();
    nodes.forEach((n, i) => {
        const j = firstName.get(n.name);
        if (j === undefined) firstName.set(n.name, i);
        else problems.push({ key: `${nodeKey(i)}.name`, message: `'${n.name}' is also used by ${nodeKey(j)}; each node needs its own name` });
    });

    // Addresses compare in canonical form: 2001:db8::1 and 2001:DB8:0:0:0:0:0:1, ::ffff:192.0.2.11
    // and 192.0.2.11, NODE1.example.com. and node1.example.com are one host each.
    const addrs = nodeAddresses(nodes);
    addrs.forEach((a, i) => {
        const j = addrs.findIndex((b) => sameAddress(a.address, b.address));
        if (j < i) {
            problems.push({
                key: `${nodeKey(i)}.address`,
                message: `'${nodes[i].address}' is also used by ${nodeKey(j)}${spelledAs(nodes[i].address, nodes[j].address)}; each node needs its own address`,
            });
        }
    });
    nodes.forEach((n, i) => {
        const key = `${nodeKey(i)}.advertiseAddress`;
        if (n.advertiseAddress === undefined) {
            if (addrs[i].advertise === undefined) {
                problems.push({ key, message: `is needed because address '${n.address}' is a host name: give the IP the other nodes reach this one on (e.g. advertiseAddress: 10.0.0.11)` });
            }
            return;
        }
        const mine = addrs[i].advertise!;
        const owner = addrs.findIndex((b, j) => j !== i && sameAddress(mine, b.address));
        if (owner >= 0) {
            problems.push({
                key,
                message: `'${n.advertiseAddress}' is the address of ${named(owner)}${spelledAs(n.advertiseAddress, nodes[owner].address)}; give the IP this node itself is reached on`,
            });
            return;
        }
        const earlier = addrs.findIndex((b, j) => j < i && b.advertise !== undefined && sameAddress(mine, b.advertise));
        if (earlier >= 0) {
            const theirs = nodes[earlier].advertiseAddress ?? nodes[earlier].address;
            problems.push({
                key,
                message: `'${n.advertiseAddress}' is also the advertise address of ${named(earlier)}${spelledAs(n.advertiseAddress, theirs)}; each node must advertise its own IP`,
            });
        }
    });

    nodes.forEach((n, i) => {
        if (OBJECT_NAMES.has(n.name)) {
            problems.push({ key: `${nodeKey(i)}.name`, message: `'${n.name}' is a name every JavaScript object already has, which swarm-ha's lookups by node name would mistake for a node: rename the node (e.g. name: ${n.name}-1)` });
        }
        for (const k of Object.keys(n.labels)) {
            const key = labelKey(i, k);
            if (!LABEL_KEY.test(k)) {
                const control = CONTROL.test(k) ? " (it holds control characters, shown escaped)" : "";
                problems.push({ key, message: `is not a valid label key${control}: use lower-case letters, digits, '.', '-' or '_' (e.g. zone or com.example.rack)` });
            } else if (OBJECT_NAMES.has(k)) {
                problems.push({ key, message: `is a name every JavaScript object already has, which a lookup by label would mistake for one: rename the label (e.g. com.example.${k})` });
            } else if (RESERVED_LABEL_PREFIXES.some((p) => k.startsWith(p))) {
                problems.push({ key, message: `uses a reserved prefix (${RESERVED_LABEL_PREFIXES.join(", ")}); swarm-ha sets roles from the node's roles list` });
            }
        }
    });

    problems.push(...checkRoles(nodes, allowNonHa));
    return problems;
}

/**
 * The roles the stack needs, counted on nodes that can run tasks: swarm schedules nothing new
 * on a `pause` node and moves everything off a `drain` one. (The data tier's roles are counted
 * with the rest of its rules, in data.ts: they apply only with `dataTier`.)
 */
function checkRoles(nodes: NodeInput[], allowNonHa: boolean): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const nodesKey = `${NAMESPACE}:nodes`;
    const named = (i: number) => `${nodeKey(i)} (${nodes[i].name})`;
    const withRole = (r: StackRole) => nodes.map((n, i) => ({ n, i })).filter(({ n }) => n.roles.includes(r));

    if (!nodes.some((n) => n.availability === "active")) {
        problems.push({
            key: nodesKey,
            message: "has no node with availability: active; on drain and pause nodes swarm starts no tasks, so nothing could run: set availability: active on at least one node",
        });
    }

    const edgeNeeded = allowNonHa ? 1 : 2;
    const edge = withRole("edge");
    const activeEdge = edge.filter(({ n }) => n.availability === "active");
    if (activeEdge.length < edgeNeeded) {
        const idle = edge.filter(({ n }) => n.availability !== "active");
        const orActivate = idle.length === 0 ? "" : `, or set availability: active on ${idle.map(({ n, i }) => `${named(i)}, which is ${n.availability}`).join("; ")}`;
        problems.push({
            key: nodesKey,
            message:
                `has ${activeEdge.length} node(s) with role 'edge' and availability: active; the load balancer needs ${edgeNeeded}${allowNonHa ? "" : " so the virtual IP can move when one fails"}: ` +
                `add 'edge' to the roles of ${edgeNeeded - activeEdge.length} more active node(s)${orActivate}`,
        });
    }
    return problems;
}
