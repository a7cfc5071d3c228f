/**
 * The edge tier and the app behind it: HAProxy on every edge node (one service each, its ports
 * published on the node's own addresses), the app's tasks on the app nodes. Rules: image
 * references (of every image key, the data tier's too), ports each edge listener can bind,
 * replicas that survive a node and fit a rolling update, and a warning when clients have no
 * single address to use. (The per-edge-node service names are bounded with every other
 * per-node name, in service-names.ts.)
 */
import { CONFIG_KEYS } from "./keys";
import type { NodeInput } from "./nodes";
import { type ConfigProblem, NAMESPACE, fullKey, nodeKey } from "./types";

// Docker's image reference grammar (github.com/distribution/reference, regexp.go).
const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|-+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const IMAGE_REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::${TAG})?(?:@${DIGEST})?$`);
/** Docker refuses longer repository names. */
const MAX_IMAGE_NAME = 255;

/** The image keys (every tier's: the data tier's are read the same way), and what swarm-ha does when one is empty. */
export const IMAGE_KEYS = {
    appImage: "its demo app (images/app) on the app nodes",
    haproxyImage: "its own HAProxy image (images/haproxy) on the edge nodes",
    keepalivedImage: "its own keepalived image (images/keepalived) on the edge nodes",
    redisImage: "its own Redis image (images/redis) on the redis nodes",
    postgresImage: "its own Postgres image (images/postgres) on the postgres nodes",
    etcdImage: "its own etcd image (images/etcd) on the managers",
    backupImage: "its own backup image (images/backup) on the node that keeps the backups",
    monitoringImage: "its own monitoring image (images/monitoring) on every node",
    grafanaImage: "nothing: Grafana is not built; give its image, or set grafana false",
    cadvisorImage: "nothing: cAdvisor is not built; give its image, or set cadvisor false",
} as const;
export type ImageKey = keyof typeof IMAGE_KEYS;

/**
 * Why `text` is not an image reference Docker pulls, if it is not one; `undefined` when it is.
 * Says what to write instead, or to leave `key` empty.
 */
export function imageReferenceFlaw(text: string, key: ImageKey): string | undefined {
    const fix = `write [registry/]repository[:tag][@sha256:digest] (e.g. ghcr.io/acme/shop:1.4.2), or leave it empty to have swarm-ha build ${IMAGE_KEYS[key]}`;
    if (text !== text.trim()) return `has spaces around it: write it without them ('${text.trim()}')`;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return `starts with a URL scheme ('${text.slice(0, text.indexOf("://") + 3)}'); an image reference has none: ${fix}`;
    const match = IMAGE_REFERENCE.exec(text);
    if (match && match[1].length <= MAX_IMAGE_NAME) return undefined;
    if (match) return `has a repository name of ${match[1].length} characters; Docker allows at most ${MAX_IMAGE_NAME}: ${fix}`;
    // Upper case is allowed in the registry's host name only: docker refuses "Acme/Shop".
    const slash = text.indexOf("/");
    const registry = slash > 0 && /[.:]|^localhost$/.test(text.slice(0, slash)) ? text.slice(0, slash + 1) : "";
    const lowered = registry + text.slice(registry.length).replace(/^[^:@]*/, (name) => name.toLowerCase());
    if (lowered !== text && IMAGE_REFERENCE.test(lowered)) {
        return `has upper-case letters in its repository name, which Docker refuses: write it in lower case ('${lowered}'), or leave it empty to have swarm-ha build ${IMAGE_KEYS[key]}`;
    }
    return `is not a Docker image reference: ${fix}`;
}

/** The ports HAProxy binds on every edge node, in the order a collision is reported. */
export const EDGE_PORT_KEYS = ["httpPort", "httpsPort", "statsPort", "healthPort", "grafanaPort", "prometheusPort", "alertmanagerPort"] as const;
export type EdgePortKey = (typeof EDGE_PORT_KEYS)[number];

/**
 * The edge ports against each other: HAProxy binds each once on the edge node's addresses, so
 * two listeners cannot share one. The later key of a colliding pair is reported, with a free port.
 * Leave out the ports that are off (a monitoring UI's 0, or every monitoring port without monitoring).
 */
export function checkEdgePorts(ports: Partial<Record<EdgePortKey, number>>): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const taken = new Set(Object.values(ports));
    EDGE_PORT_KEYS.forEach((key, i) => {
        const port = ports[key];
        if (port === undefined) return;
        const other = EDGE_PORT_KEYS.slice(0, i).find((k) => ports[k] === port);
        if (other === undefined) return;
        problems.push({
            key: fullKey(key),
            message:
                `is ${port}, the same as ${fullKey(other)}: HAProxy listens on both on every edge node, so each needs its own port. ` +
                `Pick another (e.g. pulumi config set ${fullKey(key)} ${freePort(Number(CONFIG_KEYS[key].default), taken)})`,
        });
    });
    return problems;
}

/** `preferred`, or the next port above it that `taken` does not hold. */
function freePort(preferred: number, taken: ReadonlySet<number>): number {
    let port = preferred;
    while (taken.has(port)) port = port >= 65535 ? 1024 : port + 1;
    return port;
}

/** One task of the app dies with its node (and is gone during its own restarts). */
export function checkAppReplicas(replicas: number, allowNonHa: boolean): ConfigProblem[] {
    if (replicas >= 2 || allowNonHa) return [];
    const key = fullKey("appReplicas");
    return [
        {
            key,
            message:
                `is ${replicas}: a single task of the app cannot survive the loss of its node, and the app is down while it restarts. ` +
                `Run at least 2 (pulumi config set ${key} 2), or set ${NAMESPACE}:allowNonHa true for a test cluster`,
        },
    ];
}

/**
 * The app's replicas against the room on the app nodes: swarm places at most `perNode` of them
 * on each active node with the `app` role, and a rolling update starts each new task before it
 * stops the old one (start-first), so it needs one slot more than `replicas`.
 */
export function checkAppCapacity(nodes: NodeInput[], replicas: number, perNode: number, allowNonHa: boolean): ConfigProblem[] {
    const app = nodes.map((n, i) => ({ n, i })).filter(({ n }) => n.roles.includes("app"));
    const active = app.filter(({ n }) => n.availability === "active");
    const room = active.length * perNode;
    const needed = replicas + 1;
    if (room >= needed) return [];

    const replicasKey = fullKey("appReplicas");
    const perNodeKey = fullKey("appMaxReplicasPerNode");
    const onNodes =
        active.length === 0 ? "no active node has role 'app'" : `${active.length} active node(s) with role 'app' (${active.map(({ n }) => n.name).join(", ")}) × ${perNodeKey} ${perNode}`;
    const more = Math.ceil(needed / perNode) - active.length;
    const idle = app.filter(({ n }) => n.availability !== "active");
    const orActivate =
        idle.length === 0 ? "" : ` (or set availability: active on ${idle.map(({ n, i }) => `${nodeKey(i)} (${n.name}), which has it but is ${n.availability}`).join("; ")})`;
    const fixes = [`add 'app' to the roles of ${more} more active node(s)${orActivate}`];
    if (active.length > 0) fixes.push(`raise ${perNodeKey} to ${Math.ceil(needed / active.length)} (pulumi config set ${perNodeKey} ${Math.ceil(needed / active.length)})`);
    const fewest = room - 1;
    if (fewest >= (allowNonHa ? 1 : 2)) fixes.push(`lower ${replicasKey} to ${fewest}`);
    return [
        {
            key: replicasKey,
            message:
                `is ${replicas}, but the app nodes have room for ${room} task(s): ${onNodes}. ` +
                `A rolling update starts each new task before it stops the old one, so the app needs room for ${replicasKey} + 1 = ${needed}: ` +
                `${fixes.slice(0, -1).join(", ")}${fixes.length > 1 ? ", or " : ""}${fixes[fixes.length - 1]}`,
        },
    ];
}

/** Without a VIP, no single address reaches whichever edge node is up. */
export function warnNoVip(nodes: NodeInput[]): ConfigProblem[] {
    const edge = nodes.filter((n) => n.roles.includes("edge"));
    if (edge.length < 2) return [];
    const key = fullKey("vip");
    return [
        {
            key,
            message:
                `is empty, but ${edge.length} nodes have role 'edge' (${edge.map((n) => n.name).join(", ")}): with no virtual IP, clients need every edge node's address ` +
                `(e.g. one DNS record each) and must stop using one that is down by themselves. For one address that moves to a working edge node, ` +
                `set a free address of the edge nodes' network that no node owns: pulumi config set ${key} <address>`,
        },
    ];
}
