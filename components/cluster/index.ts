/**
 * SwarmCluster: SSH-reachable hosts → a Docker Swarm, as one resource per step so that
 * `pulumi preview` shows every join, label and removal on its own.
 *
 *   preflight (every node) → quorum guard → member: init or adopt (first manager)
 *     → member: managers join one at a time → workers → settings (role, availability, labels)
 *
 * Removing a node from config deletes, in reverse dependency order: its settings (drain,
 * demote), its member step (leave, on the node), its registration (node rm, on the first
 * manager).
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../config";
import { parseKeyValues, renderScript, shellQuote } from "./scripts";
import { dockerSshOptions, writePrivateKeyFile } from "./ssh";

/** The oldest Docker Engine swarm-ha drives (its swarm and API features are used as is). */
export const MIN_DOCKER_VERSION = "20.10";
export const SWARM_PORT = 2377;

export interface SshSettings {
    /** Login user on every node; must be root or in the docker group. Default in config: `root`. */
    user: string;
    /** SSH port on every node. Default in config: `22`. */
    port: number;
    /** The private key (PEM/OpenSSH text) that opens SSH on every node. Keep it secret. */
    privateKey: pulumi.Input<string>;
}

export interface SwarmClusterArgs {
    /** The hosts, in config order. The first manager initialises the swarm and runs the manager-side steps. */
    nodes: NodeSpec[];
    ssh: SshSettings;
    /**
     * IPv4 range the swarm allocates overlay network subnets from (`docker swarm init
     * --default-addr-pool`), e.g. `10.20.0.0/16`. Only takes effect when swarm-ha initialises
     * the swarm; an adopted swarm keeps its own. Default: Docker's `10.0.0.0/8`.
     */
    defaultAddrPool?: string;
    /**
     * Where the Docker provider's copy of the SSH key lives (its transport runs the system
     * `ssh`, which needs a key file). `~` is the home directory of the user running Pulumi.
     * Default: `~/.ssh/swarm-ha/<project>-<stack>`.
     */
    identityDir?: string;
}

/** Per-node outputs. */
export interface SwarmNode {
    spec: NodeSpec;
    /** The swarm's ID for the node. */
    nodeId: pulumi.Output<string>;
    /** The step that makes the node a member (init or adopt on the first manager, join on the rest). */
    membership: command.remote.Command;
    settings: command.remote.Command;
}

export class SwarmCluster extends pulumi.ComponentResource {
    /** A Docker provider that talks to the first manager over SSH; every later component uses it. */
    public readonly provider: docker.Provider;
    /** The `ssh://` URL the provider uses. */
    public readonly dockerHost: string;
    public readonly clusterId: pulumi.Output<string>;
    /** Join tokens (secret). */
    public readonly joinTokens: pulumi.Output<{ manager: string; worker: string }>;
    public readonly nodes: SwarmNode[];
    public readonly firstManager: NodeSpec;

    constructor(name: string, args: SwarmClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-ha:cluster:SwarmCluster", name, {}, opts);
        const managers = args.nodes.filter((n) => n.swarmRole === "manager");
        const workers = args.nodes.filter((n) => n.swarmRole === "worker");
        if (managers.length === 0) throw new Error("swarm-ha: SwarmCluster needs at least one manager");
        const first = managers[0];
        this.firstManager = first;

        const connectionTo = (node: NodeSpec): command.types.input.remote.ConnectionArgs => ({
            host: node.address,
            port: args.ssh.port,
            user: args.ssh.user,
            privateKey: args.ssh.privateKey,
            // A host that is down should fail the step in about a minute, naming the host.
            dialErrorLimit: 4,
            perDialTimeout: 15,
        });
        const run = (resourceName: string, node: NodeSpec, spec: Omit<command.remote.CommandArgs, "connection">, dependsOn: pulumi.Input<pulumi.Resource>[], extra?: pulumi.CustomResourceOptions) =>
            new command.remote.Command(
                `${name}-${resourceName}`,
                { connection: connectionTo(node), addPreviousOutputInEnv: false, ...spec },
                { parent: this, dependsOn, ...extra },
            );

        // 1. Preflight: every host answers SSH and runs a recent enough Docker engine.
        const preflights = args.nodes.map((n) =>
            run(`${n.name}-preflight`, n, {
                create: renderScript("preflight", { NODE_NAME: n.name, MIN_DOCKER_VERSION }),
                triggers: [n.address],
            }, []),
        );

        // 2. Quorum guard: re-runs whenever the set of managers changes, before anything joins,
        //    leaves or is demoted (Pulumi deletes removed resources only after every update).
        const guard = run("quorum-guard", first, {
            create: renderScript("guard", { NODE_NAME: first.name, DESIRED_MANAGERS: managers.map((m) => m.advertiseAddress).join(" ") }),
        }, preflights);

        // 3. Membership: one `<name>-member` step per node. On the first manager it initialises
        //    the swarm (or adopts the one that host already manages); on every other node it
        //    joins. The name does not say which, so reordering the managers updates these steps
        //    in place and never deletes one: deleting a member step makes its node leave.
        //    Each node also has a registration on the first manager, created before its member
        //    step and so deleted after it: that removes the departed node from the node list.
        const registration = (n: NodeSpec, dependsOn: pulumi.Resource[]) =>
            run(`${n.name}-registration`, first, {
                create: `echo ${shellQuote(`swarm-ha: ${n.name} may be a member`)}`,
                delete: renderScript("node-remove", { NODE_NAME: n.name }),
            }, dependsOn);

        const init = run(`${first.name}-member`, first, {
            create: renderScript("init", { NODE_NAME: first.name, ADVERTISE_ADDR: first.advertiseAddress, ADDR_POOL: args.defaultAddrPool ?? "" }),
            delete: renderScript("init-delete", { NODE_NAME: first.name }),
            // Its stdout carries the join tokens: a secret output, kept out of the logs.
            logging: "stderr",
            triggers: [first.address],
        }, [registration(first, [guard])], { additionalSecretOutputs: ["stdout"] });
        const initOut = init.stdout.apply(parseKeyValues);
        this.clusterId = pulumi.unsecret(initOut.apply((o) => o["cluster_id"]));
        this.joinTokens = pulumi.secret(initOut.apply((o) => ({ manager: o["manager_token"], worker: o["worker_token"] })));

        // 4. Managers join one at a time, each once the previous takes part in Raft; then workers.
        const managerAddrs = managers.map((m) => hostPort(m.advertiseAddress, SWARM_PORT)).join(" ");
        const members = new Map<string, { membership: command.remote.Command; nodeId: pulumi.Output<string> }>();
        members.set(first.name, { membership: init, nodeId: pulumi.unsecret(initOut.apply((o) => o["node_id"])) });
        let previous: pulumi.Resource = init;
        const managerJoins: pulumi.Resource[] = [];
        for (const n of [...managers.slice(1), ...workers]) {
            const isManager = n.swarmRole === "manager";
            // After init, so that at teardown the node is removed before the first manager goes.
            const registered = registration(n, [init]);
            const join = run(`${n.name}-member`, n, {
                create: this.clusterId.apply((clusterId) =>
                    renderScript("join", {
                        NODE_NAME: n.name,
                        ADVERTISE_ADDR: n.advertiseAddress,
                        MANAGER_ADDRS: managerAddrs,
                        SWARM_ROLE: n.swarmRole,
                        CLUSTER_ID: clusterId,
                    }),
                ),
                stdin: this.joinTokens.apply((t) => `${isManager ? t.manager : t.worker}\n`),
                delete: renderScript("leave", { NODE_NAME: n.name }),
                triggers: [n.address],
            }, isManager ? [registered, previous] : [registered, ...managerJoins]);
            if (isManager) {
                previous = join;
                managerJoins.push(join);
            }
            members.set(n.name, { membership: join, nodeId: join.stdout.apply((out) => parseKeyValues(out)["node_id"]) });
        }

        // 5. Settings, once every node is a member: role, availability and labels, in place.
        const allMembers = [...members.values()].map((m) => m.membership);
        this.nodes = args.nodes.map((n) => {
            const member = members.get(n.name)!;
            const settings = run(`${n.name}-settings`, first, {
                create: member.nodeId.apply((id) =>
                    renderScript("settings", {
                        NODE_NAME: n.name,
                        NODE_ID: id,
                        SWARM_ROLE: n.swarmRole,
                        AVAILABILITY: n.availability,
                        LABELS: nodeLabels(n).map(([k, v]) => `${k}=${v}`).join("\n"),
                    }),
                ),
                delete: member.nodeId.apply((id) => renderScript("drain", { NODE_NAME: n.name, NODE_ID: id })),
            }, allMembers);
            return { spec: n, nodeId: member.nodeId, membership: member.membership, settings };
        });

        // 6. The Docker provider every later component uses, ready once every node is settled.
        const identityDir = args.identityDir ?? `~/.ssh/swarm-ha/${pulumi.getProject()}-${pulumi.getStack()}`;
        const keyFile = pulumi.output(args.ssh.privateKey).apply((key) => writePrivateKeyFile(identityDir, key));
        this.dockerHost = `ssh://${args.ssh.user}@${hostForUrl(first.address)}:${args.ssh.port}`;
        this.provider = new docker.Provider(
            `${name}-docker`,
            // The key file's path is not secret; its contents never enter the provider's inputs.
            { host: this.dockerHost, sshOpts: pulumi.unsecret(keyFile).apply(() => dockerSshOptions(identityDir)) },
            { parent: this, dependsOn: this.nodes.map((n) => n.settings) },
        );

        this.registerOutputs({ clusterId: this.clusterId, dockerHost: this.dockerHost, joinTokens: this.joinTokens });
    }
}

/** The labels swarm-ha manages on a node: its name, its roles, and the user's labels. */
export function nodeLabels(n: NodeSpec): [string, string][] {
    return [
        ["swarm-ha.name", n.name],
        ...n.roles.map((r): [string, string] => [`swarm-ha.role.${r}`, "true"]),
        ...Object.entries(n.labels).sort(([a], [b]) => a.localeCompare(b)),
    ];
}

function hostForUrl(address: string): string {
    return address.includes(":") ? `[${address}]` : address;
}

export function hostPort(address: string, port: number): string {
    return `${hostForUrl(address)}:${port}`;
}
