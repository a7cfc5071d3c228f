/**
 * SwarmCluster: SSH-reachable hosts → a Docker Swarm, as one resource per step so that
 * `pulumi preview` shows every join, label and removal on its own.
 *
 *   preflight (each node) → quorum guard → removals → registration (each node)
 *     → member: init or adopt (first manager) → managers join one at a time → workers join
 *     → settings (each node: role, availability, labels) → health (every run) → Docker provider
 *
 * Everything that changes the swarm's node list runs on the first manager in config, with
 * the inputs of this run: removing a node (even a dead one, even the old first manager) is
 * done by `removals` on a live manager, never by a delete step that needs the departing
 * host. The one step that does talk to a departing host, its `departure` (it makes the host
 * leave), runs from the machine that runs Pulumi and accepts a host that is gone.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../config";
import { parseKeyValues, renderScript } from "./scripts";
import { COMMAND_TIMEOUTS, dockerHostUrl, dockerSshOptions, type SshSettings, sshConnection, writePinnedHostsFile, writePrivateKeyFile } from "../common/ssh";

export type { SshSettings } from "../common/ssh";

/** The oldest Docker Engine swarm-ha drives (its swarm and API features are used as is). */
export const MIN_DOCKER_VERSION = "20.10";
export const SWARM_PORT = 2377;
/** How long the health check waits for the swarm to settle before it fails the run. */
export const HEALTH_WAIT_SECONDS = 60;

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
     * Where the stack's copy of the SSH key lives, for the tools that need a key file (the
     * Docker provider's SSH transport runs the system `ssh`; so do departures). `~` is the
     * home directory of the user running Pulumi.
     * @default `~/.ssh/swarm-ha/<project>-<stack>`
     */
    identityDir?: string;
    /**
     * Changes on every `pulumi up` so that the health check runs every time, even when
     * nothing else changed: a swarm that degraded since the last run must fail the run.
     * @default the time the program started
     */
    runId?: string;
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

type StepArgs = Omit<command.remote.CommandArgs, "connection" | "addPreviousOutputInEnv">;

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
    /** The check, run on every update, that the swarm matches config. */
    public readonly health: command.remote.Command;
    /** The check, run on every update before any step reaches a host, that each host presents its pinned (or first recorded) SSH key. */
    public readonly hostKeys: command.local.Command;
    /** Each node's preflight (Docker answers, the tools swarm-ha needs are there), by node name. */
    public readonly preflights: Record<string, command.remote.Command>;
    /**
     * Options for the system `ssh` of a Docker provider that talks to one node (its key file
     * written first): later tiers that need a node's own engine make providers with them.
     */
    public readonly dockerSshOptions: pulumi.Output<string[]>;

    private readonly name: string;
    private readonly args: SwarmClusterArgs;
    private readonly identityDir: string;

    constructor(name: string, args: SwarmClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-ha:cluster:SwarmCluster", name, {}, opts);
        this.name = name;
        this.args = args;
        this.identityDir = args.identityDir ?? `~/.ssh/swarm-ha/${pulumi.getProject()}-${pulumi.getStack()}`;
        const managers = args.nodes.filter((n) => n.swarmRole === "manager");
        const workers = args.nodes.filter((n) => n.swarmRole === "worker");
        if (managers.length === 0) throw new Error("swarm-ha: SwarmCluster needs at least one manager");
        const first = managers[0];
        this.firstManager = first;

        this.hostKeys = this.hostKeyCheck();
        const preflights = args.nodes.map((n) => this.preflight(n, this.hostKeys));
        this.preflights = Object.fromEntries(args.nodes.map((n, i) => [n.name, preflights[i]]));
        const guard = this.quorumGuard(managers, preflights);
        const removals = this.removals(guard);
        const departures = this.departures(first);

        // Membership: one `<name>-member` step per node. On the first manager it initialises
        // the swarm (or adopts the one that host already manages); on every other node it
        // joins. The name does not say which, so reordering the managers updates these steps
        // in place. Managers join one at a time, each once the previous takes part in Raft;
        // workers after the last manager.
        const init = this.initialise(first, [this.registration(first, managers, removals).step, departures.get(first.name)!]);
        const initOut = init.stdout.apply(parseKeyValues);
        this.clusterId = pulumi.unsecret(initOut.apply((o) => o["cluster_id"]));
        this.joinTokens = pulumi.secret(initOut.apply((o) => ({ manager: o["manager_token"], worker: o["worker_token"] })));
        const members = new Map<string, { step: command.remote.Command; nodeId: pulumi.Output<string>; replacedNodeId: pulumi.Output<string> }>();
        members.set(first.name, { step: init, nodeId: pulumi.unsecret(initOut.apply((o) => o["node_id"])), replacedNodeId: pulumi.output("") });
        let lastManager: command.remote.Command = init;
        for (const n of [...managers.slice(1), ...workers]) {
            const registered = this.registration(n, managers, removals);
            const join = this.join(n, managers, registered.nodeId, [registered.step, departures.get(n.name)!, lastManager]);
            if (n.swarmRole === "manager") lastManager = join;
            const joinOut = join.stdout.apply(parseKeyValues);
            members.set(n.name, { step: join, nodeId: joinOut.apply((o) => o["node_id"]), replacedNodeId: joinOut.apply((o) => o["replaced_node_id"] ?? "") });
        }

        // Settings, once the node is a member. Role changes go one manager at a time.
        let previousManagerSettings: command.remote.Command | undefined;
        this.nodes = args.nodes.map((n) => {
            const member = members.get(n.name)!;
            const after: pulumi.Resource[] = [member.step];
            if (n.swarmRole === "manager" && previousManagerSettings) after.push(previousManagerSettings);
            const settings = this.settings(n, member.nodeId, member.replacedNodeId, after);
            if (n.swarmRole === "manager") previousManagerSettings = settings;
            return { spec: n, nodeId: member.nodeId, membership: member.step, settings };
        });

        this.health = this.healthCheck(this.nodes.map((n) => n.settings));
        ({ provider: this.provider, host: this.dockerHost, sshOpts: this.dockerSshOptions } = this.dockerProvider(this.health));

        this.registerOutputs({ clusterId: this.clusterId, dockerHost: this.dockerHost, joinTokens: this.joinTokens });
    }

    /** A script run over SSH on `node`, a child of this component. */
    private run(resourceName: string, node: NodeSpec, spec: StepArgs, dependsOn: pulumi.Input<pulumi.Resource>[], extra?: pulumi.CustomResourceOptions) {
        const { ssh } = this.args;
        return new command.remote.Command(
            `${this.name}-${resourceName}`,
            {
                connection: sshConnection(node.address, ssh, node.hostKey),
                addPreviousOutputInEnv: false,
                ...spec,
            },
            { parent: this, dependsOn, customTimeouts: COMMAND_TIMEOUTS, ...extra },
        );
    }

    /**
     * On every update, from the machine that runs Pulumi: each host presents the SSH key its
     * `hostKey` pins, or the one recorded on first contact. Every step that reaches a host
     * comes after it (each node's steps start with its preflight).
     */
    private hostKeyCheck() {
        const { ssh } = this.args;
        return new command.local.Command(
            `${this.name}-host-keys`,
            {
                create: renderScript("host-keys", {
                    NODE_NAME: this.firstManager.name,
                    HOSTS: this.args.nodes.map((n) => `${n.name} ${n.address} ${n.hostKey ?? "- -"}`).join("\n"),
                    SSH_PORT: String(ssh.port),
                    KEY_DIR: this.identityDir,
                }),
                addPreviousOutputInEnv: false,
                triggers: [this.args.runId ?? new Date().toISOString()],
            },
            { parent: this, customTimeouts: COMMAND_TIMEOUTS },
        );
    }

    /** Every host answers SSH and runs a recent enough Docker engine. */
    private preflight(n: NodeSpec, hostKeys: pulumi.Resource) {
        return this.run(`${n.name}-preflight`, n, { create: renderScript("preflight", { NODE_NAME: n.name, MIN_DOCKER_VERSION }), triggers: [n.address] }, [hostKeys]);
    }

    /**
     * Re-runs whenever the set of managers changes, before anything joins, leaves or is
     * demoted: refuses what would cost Raft its quorum, and a swarm without a leader.
     */
    private quorumGuard(managers: NodeSpec[], preflights: pulumi.Resource[]) {
        const first = managers[0];
        return this.run("quorum-guard", first, {
            create: renderScript("guard", { NODE_NAME: first.name, DESIRED_MANAGERS: managers.map((m) => m.advertiseAddress).join(" ") }),
        }, preflights);
    }

    /** Takes every node config no longer declares out of the swarm, from a live manager. */
    private removals(guard: pulumi.Resource) {
        const first = this.firstManager;
        return this.run("removals", first, {
            create: renderScript("removals", { NODE_NAME: first.name, DECLARED_NAMES: this.args.nodes.map((n) => n.name).join(" ") }),
        }, [guard]);
    }

    /**
     * What the swarm knows of a node before its member step runs (its node ID, if any). It
     * takes the member step's inputs too, so it runs again whenever that step does.
     */
    private registration(n: NodeSpec, managers: NodeSpec[], removals: pulumi.Resource) {
        const step = this.run(`${n.name}-registration`, this.firstManager, {
            create: renderScript("registration", {
                NODE_NAME: n.name,
                ADVERTISE_ADDR: n.advertiseAddress,
                SWARM_ROLE: n.swarmRole,
                MANAGER_ADDRS: managerAddrs(managers),
            }),
        }, [removals]);
        return { step, nodeId: step.stdout.apply((out) => parseKeyValues(out)["node_id"] ?? "") };
    }

    /**
     * One per node, from the machine that runs Pulumi: nothing on create; on delete (the node
     * left config, or the stack is destroyed) it makes the host leave the swarm if it can be
     * reached. Every other node's departure depends on the first manager's, so at destroy the
     * first manager leaves last. Created before the node's member step, deleted after it.
     */
    private departures(first: NodeSpec) {
        const { ssh } = this.args;
        const departures = new Map<string, command.local.Command>();
        const departure = (n: NodeSpec, dependsOn: pulumi.Resource[]) =>
            new command.local.Command(
                `${this.name}-${n.name}-departure`,
                {
                    delete: renderScript("departure", {
                        NODE_NAME: n.name,
                        ADDRESS: n.address,
                        SSH_PORT: String(ssh.port),
                        SSH_USER: ssh.user,
                        KEY_DIR: this.identityDir,
                    }),
                    addPreviousOutputInEnv: false,
                    // A new address is a new host: the old one leaves.
                    triggers: [n.address],
                },
                { parent: this, dependsOn, customTimeouts: COMMAND_TIMEOUTS },
            );
        const firstDeparture = departure(first, []);
        for (const n of this.args.nodes) departures.set(n.name, n === first ? firstDeparture : departure(n, [firstDeparture]));
        return departures;
    }

    /** The first manager's member step: initialises the swarm, or adopts the one it manages. */
    private initialise(first: NodeSpec, dependsOn: pulumi.Resource[]) {
        return this.run(`${first.name}-member`, first, {
            create: renderScript("init", { NODE_NAME: first.name, ADVERTISE_ADDR: first.advertiseAddress, ADDR_POOL: this.args.defaultAddrPool ?? "" }),
            // Its stdout carries the join tokens: a secret output, kept out of the logs.
            logging: "stderr",
            triggers: [first.address],
        }, dependsOn, { additionalSecretOutputs: ["stdout"] });
    }

    private join(n: NodeSpec, managers: NodeSpec[], expectedNodeId: pulumi.Output<string>, dependsOn: pulumi.Resource[]) {
        const isManager = n.swarmRole === "manager";
        return this.run(`${n.name}-member`, n, {
            create: pulumi.all([this.clusterId, expectedNodeId]).apply(([clusterId, expected]) =>
                renderScript("join", {
                    NODE_NAME: n.name,
                    ADVERTISE_ADDR: n.advertiseAddress,
                    MANAGER_ADDRS: managerAddrs(managers),
                    MANAGER_NAMES: managers.map((m) => m.name).join(" "),
                    SWARM_ROLE: n.swarmRole,
                    CLUSTER_ID: clusterId,
                    EXPECTED_NODE_ID: expected,
                }),
            ),
            stdin: this.joinTokens.apply((t) => `${isManager ? t.manager : t.worker}\n`),
            triggers: [n.address],
        }, dependsOn);
    }

    /** Role, availability and labels, in place; then the node's stale entries go. */
    private settings(n: NodeSpec, nodeId: pulumi.Output<string>, replacedNodeId: pulumi.Output<string>, dependsOn: pulumi.Resource[]) {
        return this.run(`${n.name}-settings`, this.firstManager, {
            create: pulumi.all([nodeId, replacedNodeId]).apply(([id, replaced]) =>
                renderScript("settings", {
                    NODE_NAME: n.name,
                    NODE_ID: id,
                    REPLACED_NODE_ID: replaced,
                    ADVERTISE_ADDR: n.advertiseAddress,
                    SWARM_ROLE: n.swarmRole,
                    AVAILABILITY: n.availability,
                    LABELS: nodeLabels(n).map(([k, v]) => `${k}=${v}`).join("\n"),
                }),
            ),
        }, dependsOn);
    }

    /** After the last membership change, on every run: the swarm must match config. */
    private healthCheck(settings: pulumi.Resource[]) {
        const first = this.firstManager;
        return this.run("health", first, {
            create: renderScript("health", {
                NODE_NAME: first.name,
                DECLARED: this.args.nodes.map((n) => `${n.name} ${n.swarmRole} ${n.availability}`).join("\n"),
                WAIT_SECONDS: String(HEALTH_WAIT_SECONDS),
            }),
            triggers: [this.args.runId ?? new Date().toISOString()],
        }, settings);
    }

    /** The Docker provider every later component uses, ready once the swarm is healthy. */
    private dockerProvider(health: pulumi.Resource) {
        const { ssh } = this.args;
        const pins = this.args.nodes.flatMap((n) => (n.hostKey ? [{ address: n.address, port: ssh.port, hostKey: n.hostKey }] : []));
        const keyFile = pulumi.output(ssh.privateKey).apply((key) => {
            writePinnedHostsFile(this.identityDir, pins);
            return writePrivateKeyFile(this.identityDir, key);
        });
        const host = dockerHostUrl(this.firstManager.address, ssh);
        // The key file's path is not secret; its contents never enter the provider's inputs.
        const sshOpts = pulumi.unsecret(keyFile).apply(() => dockerSshOptions(this.identityDir));
        const provider = new docker.Provider(`${this.name}-docker`, { host, sshOpts }, { parent: this, dependsOn: [health] });
        return { provider, host, sshOpts };
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

/** Every manager's "address:2377" in config order, space separated: the first is the one nodes join through. */
function managerAddrs(managers: NodeSpec[]): string {
    return managers.map((m) => hostPort(m.advertiseAddress, SWARM_PORT)).join(" ");
}

export function hostPort(address: string, port: number): string {
    return `${hostForUrl(address)}:${port}`;
}
