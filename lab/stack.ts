/**
 * The lab's stack config, made from the hosts `lab/hosts.sh up` started (.lab/hosts.json).
 * Roles are spread the way a small real cluster would spread them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
export { readStackFile } from "../support/stack-file";

export const ROOT = path.resolve(__dirname, "..");
export const HOSTS_JSON = path.join(ROOT, ".lab", "hosts.json");
export const LAB_STACK_FILE = path.join(ROOT, "Pulumi.lab.yaml");

export interface LabHosts {
    subnet: string;
    gateway: string;
    vip: string;
    sshUser: string;
    sshPort: number;
    sshKeyPath: string;
    /** The Debian release the hosts were built from (`lab/hosts.sh up --debian`); absent in a hosts.json from before it was recorded. */
    debian?: string;
    /** hostKey: the host's SSH public key ("type base64"), read through the lab engine. */
    nodes: { name: string; address: string; role: "manager" | "worker"; hostKey: string }[];
}

export function readHosts(): LabHosts {
    if (!fs.existsSync(HOSTS_JSON)) throw new Error(`${HOSTS_JSON} is missing: run lab/hosts.sh up first`);
    return JSON.parse(fs.readFileSync(HOSTS_JSON, "utf8")) as LabHosts;
}

/** Roles for the i-th manager / worker of the lab. */
function rolesFor(role: "manager" | "worker", i: number): string[] {
    if (role === "manager") return [["edge", "monitoring"], ["edge", "redis", "monitoring"], ["redis", "postgres-replica", "app"]][i] ?? ["redis"];
    if (i === 0) return ["app", "postgres-primary", "redis"];
    return ["app"];
}

export interface LabNode {
    name: string;
    address: string;
    swarmRole: "manager" | "worker";
    roles: string[];
    labels: Record<string, string>;
    /** Pinned in the lab stack (the lab knows its hosts' keys). */
    hostKey?: string;
}

export function labNodes(hosts: LabHosts): LabNode[] {
    const managers = hosts.nodes.filter((n) => n.role === "manager");
    const workers = hosts.nodes.filter((n) => n.role === "worker");
    const zone = (i: number) => ["a", "b", "c"][i % 3];
    return [
        ...managers.map((n, i) => ({ name: n.name, address: n.address, swarmRole: n.role, roles: rolesFor("manager", i), labels: { zone: zone(i) }, hostKey: n.hostKey })),
        ...workers.map((n, i) => ({ name: n.name, address: n.address, swarmRole: n.role, roles: rolesFor("worker", i), labels: { zone: zone(i) }, hostKey: n.hostKey })),
    ];
}

/** The lab stack's config: a real stack file, as `pulumi config set` would write it. */
export function labStackConfig(hosts: LabHosts, nodes: LabNode[] = labNodes(hosts), extra: Record<string, unknown> = {}) {
    return {
        config: {
            "swarm-ha:sshUser": hosts.sshUser,
            "swarm-ha:sshPort": String(hosts.sshPort),
            "swarm-ha:vip": hosts.vip,
            // The lab's kernel has no ESP: encrypted overlays cannot carry traffic there.
            "swarm-ha:encryptOverlay": "false",
            // Overlay subnets from the lab's own range, not Docker's default 10.0.0.0/8.
            "swarm-ha:defaultAddrPool": "198.18.64.0/18",
            "swarm-ha:nodes": nodes,
            // Grafana and cAdvisor are not in Debian's archive, and the lab pulls nothing: their
            // provisioning is checked by the fast tests instead.
            "swarm-ha:grafana": "false",
            "swarm-ha:cadvisor": "false",
            // Alertmanager posts to the lab's own receiver, which the lab tests and benchmarks run.
            "swarm-ha:alertWebhookUrl": `http://${hosts.gateway}:${ALERT_RECEIVER_PORT}/alerts`,
            ...extra,
        },
    };
}

/** The port of the lab's alert receiver (lab/alert-receiver.ts), on the lab bridge's gateway. */
export const ALERT_RECEIVER_PORT = 19093;

export function writeStackFile(file: string, doc: object): void {
    const header =
        "# Written by `npm run lab:up` for the lab's hosts; regenerated on every run.\n" +
        "# The SSH key is .lab/ssh/id_ed25519; with the Pulumi CLI set it as a secret:\n" +
        '#   pulumi config set --secret sshPrivateKey --stack lab -- "$(cat .lab/ssh/id_ed25519)"\n';
    fs.writeFileSync(file, header + stringify(doc));
}
