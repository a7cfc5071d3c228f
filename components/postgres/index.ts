/**
 * PostgresCluster: Postgres with automatic failover — Patroni managing a primary and its
 * streaming replica(s) on the nodes config labels for them, etcd on the managers as Patroni's
 * store, and a proxy that sends writers to whoever leads and readers to healthy replicas.
 *
 * - etcd: a service per manager, pinned, its data on the node's volume, found by its service
 *   name (stable across restarts, unlike a task's IP); no Docker health check, because Swarm
 *   publishes a task's name only once healthy and etcd's peers need each other's names first.
 * - Patroni: a service per Postgres node, pinned, data on the node's volume, announcing its
 *   task's IP on the data network. The replica is made by Patroni from the primary (a
 *   replication slot, the replication user's generated password). Synchronous replication is
 *   a setting: with it, only the synchronous standby may be promoted, so no acknowledged write
 *   is lost when the primary dies.
 * - The proxy: HAProxy (the edge's image) replicated on the app nodes: port 5432 goes to the
 *   node whose Patroni says it is the primary, 5433 to healthy replicas (the primary when none
 *   is). The app reaches Postgres only through it: everything here is on the data network,
 *   which neither the app nor the edge joins, and only the proxy is also on the clients'
 *   network (data-access), where the app is.
 * Passwords reach the containers as Docker secret files; the rendered configs hold none.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../config";
import { configName, etcdClientHost, etcdServiceName, HASH_LENGTH, pgProxyServiceName, pgServiceName } from "../common/names";
import { metricsLabels } from "../monitoring/prometheus-yml";
import { NAMED_SERVICE, requireDockerProvider } from "../common/providers";
import { ETCD_CLIENT_PORT, type EtcdMember, renderEtcd3Host, renderEtcdEnv } from "./etcd";
import { PATRONI_API_PORT, PATRONI_CONFIG_PATH, POSTGRES_PORT, renderPatroniConfig } from "./patroni-yml";
import { renderPgProxyConfig } from "./pg-proxy-cfg";
import { converge, healthcheck, labelList, restartAlways, rollingPolicies, stopGrace } from "../common/service-spec";
import type { TierCheck } from "../health";
import { renderScript } from "../cluster/scripts";
import { COMMAND_TIMEOUTS, type SshSettings, sshConnection } from "../common/ssh";

/** How long the etcd-members step waits for the first manager's etcd member to run. */
export const ETCD_MEMBERS_WAIT_SECONDS = 120;
/** What the etcd-members step runs inside that member (on stdin, so that any etcd image runs it). */
export const ETCD_MEMBERSHIP_PROGRAM = path.join(__dirname, "etcd-membership.sh");
/** What the postgres-passwords and postgres-app-role steps run inside a Postgres member (on stdin, with the passwords after it). */
export const POSTGRES_ROLES_PROGRAM = path.join(__dirname, "postgres-roles.py");
/** How long those steps wait for their member to run and a leader to exist. */
export const POSTGRES_ROLES_WAIT_SECONDS = 300;
/** What the postgres-settings step runs inside a Postgres member (on stdin, as above). */
export const PATRONI_SETTINGS_PROGRAM = path.join(__dirname, "patroni-settings.py");
/** How long the postgres-settings step waits for its member to run and the cluster to exist. */
export const PATRONI_SETTINGS_WAIT_SECONDS = 300;
/** What a member's handover step runs inside it before its restart (on stdin, as above). */
export const PATRONI_HANDOVER_PROGRAM = path.join(__dirname, "patroni-handover.py");
/**
 * How long a handover step waits for another member to be able to take over (the member
 * restarted in the step before catches up and becomes the synchronous standby) and for the
 * switchover, before it stops the update rather than restart the primary.
 */
export const PATRONI_HANDOVER_WAIT_SECONDS = 180;
/**
 * What a new cluster starts with (patroni.yml's `bootstrap.dcs`, config's defaults): the same for
 * every stack, so that patroni.yml, and with it every member, does not change with the settings.
 * The postgres-settings step sets the configured values right after, and whenever they change.
 */
export const BOOTSTRAP_SETTINGS = { synchronousMode: true, maximumLagOnFailover: 1024 * 1024 };

export const PG_PORT = POSTGRES_PORT;
export const PG_READONLY_PORT = 5433;
export const PATRONI_PORT = PATRONI_API_PORT;
const PROXY_HEALTH_PORT = 8405;

export interface PostgresSettings {
    /** Patroni's synchronous_mode: a commit waits for the synchronous standby. @default true */
    synchronousMode: boolean;
    /** A replica further behind than this is not promoted. @default 1 MiB */
    maxLagOnFailoverBytes: number;
}

export interface PostgresClusterArgs {
    namePrefix: string;
    /**
     * The managers: one etcd member on each. The first runs the etcd-members step, so it must
     * run a member already once the cluster exists (the runbook lists a live manager first).
     */
    managers: NodeSpec[];
    /** How the etcd-members step reaches the first manager. */
    ssh: SshSettings;
    /**
     * The cluster's health step. The etcd-members step runs after it, when every node in config
     * has its role: a worker promoted and listed first is a manager by then.
     */
    swarmHealthy: pulumi.Resource;
    /** The Postgres nodes: the `postgres-primary` node first, then the `postgres-replica` ones. */
    nodes: NodeSpec[];
    /** Where the proxy runs (beside the app), as a placement constraint. */
    proxyNodesConstraint: string;
    proxyReplicas: number;
    images: { postgres: pulumi.Input<string>; etcd: pulumi.Input<string>; haproxy: pulumi.Input<string> };
    /** The data network: Postgres, Patroni, etcd, the proxy's backends, and the backups. */
    network: docker.Network;
    /** The network of the proxy's clients (the app): the proxy joins it, nothing else here does. */
    clientNetwork: docker.Network;
    /** The members' passwords as Docker secrets (the app's is the app's alone: no member reads it). */
    secrets: { superuser: docker.Secret; replication: docker.Secret };
    /** The passwords themselves (secret), which the roles steps set on the running cluster. */
    passwords: { superuser: pulumi.Input<string>; replication: pulumi.Input<string>; app: pulumi.Input<string> };
    settings: PostgresSettings;
    labels?: Record<string, string>;
}

export class PostgresCluster extends pulumi.ComponentResource {
    public readonly etcd: Record<string, docker.Service> = {};
    /** Before any new etcd member: the members of managers no longer in config removed (etcd-membership.sh). */
    public readonly etcdMembership: command.remote.Command;
    public readonly members: Record<string, docker.Service> = {};
    /**
     * Per member, run just before the provider restarts it (its task changed): the leader moved
     * off it by a Patroni switchover (patroni-handover.py), so no update restarts the primary.
     */
    public readonly handovers: Record<string, command.remote.Command> = {};
    /** The settings in config applied to the running cluster, with no restart (patroni-settings.py). */
    public readonly settings: command.remote.Command;
    /**
     * Before the members restart with new passwords' files: the roles they log in as (postgres,
     * replicator) given those passwords on the running cluster (postgres-roles.py).
     */
    public readonly clusterRoles: command.remote.Command;
    /**
     * Once the members run: the app's database and its owner made, and the app's password set on
     * the login the running app does not use (postgres-roles.py), so no login is refused while
     * the app rolls to it.
     */
    public readonly appRole: command.remote.Command;
    /** The role the app logs in as (app_a or app_b; `app` on a stack from before them): PGUSER. */
    public readonly appLogin: pulumi.Output<string>;
    private readonly args: PostgresClusterArgs;
    public readonly proxy: docker.Service;
    /** Writers: `host:port` of the proxy's read-write port. */
    public readonly readWriteEndpoint: string;
    /** Readers: `host:port` of the proxy's read-only port. */
    public readonly readOnlyEndpoint: string;
    public readonly proxyHost: string;
    /**
     * The health step's checks of the tier: etcd's members exactly the managers, all healthy;
     * a Patroni leader, every member running and streaming, its synchronous standby there.
     */
    public readonly tierChecks: TierCheck[];

    constructor(name: string, args: PostgresClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        requireDockerProvider("PostgresCluster", opts);
        super("swarm-ha:postgres:PostgresCluster", name, {}, opts);
        this.args = args;
        this.proxyHost = pgProxyServiceName(args.namePrefix);
        this.tierChecks = [
            { tier: "etcd", node: args.managers[0], service: etcdServiceName(args.namePrefix, args.managers[0].name), command: ["swarm-ha-etcd-check", ...args.managers.map((m) => m.name)] },
            { tier: "postgres", node: args.nodes[0], service: pgServiceName(args.namePrefix, args.nodes[0].name), command: ["swarm-ha-patroni-check", ...args.nodes.map((n) => n.name)] },
        ];
        this.readWriteEndpoint = `${this.proxyHost}:${PG_PORT}`;
        this.readOnlyEndpoint = `${this.proxyHost}:${PG_READONLY_PORT}`;

        const etcdMembers = args.managers.map((m) => ({ name: m.name, host: etcdServiceName(args.namePrefix, m.name) }));
        // A change of managers restarts no etcd member: the members of managers no longer in
        // config are removed here first, through the first manager's member, one at a time with
        // the quorum kept (a dead one must go before a new member can be added; a live one must
        // not count in the quorum once its service is gone). A new manager's member then adds
        // itself when it starts (images/etcd/entrypoint.sh).
        const managersStep = renderScript("etcd-members", {
            NODE_NAME: args.managers[0].name,
            STACK: pulumi.getStack(),
            SERVICE: etcdServiceName(args.namePrefix, args.managers[0].name),
            DECLARED: etcdMembers.map((m) => `${m.name}=${m.host}`).join("\n"),
            WAIT_SECONDS: String(ETCD_MEMBERS_WAIT_SECONDS),
            PROGRAM: fs.readFileSync(ETCD_MEMBERSHIP_PROGRAM, "utf8"),
        });
        this.etcdMembership = new command.remote.Command(
            `${name}-etcd-members`,
            {
                connection: sshConnection(args.managers[0].address, args.ssh, args.managers[0].hostKey),
                addPreviousOutputInEnv: false,
                create: managersStep,
            },
            // On a formed swarm whose nodes have their roles (health), with the data network.
            { parent: this, dependsOn: [args.swarmHealthy, args.network], customTimeouts: COMMAND_TIMEOUTS },
        );
        // One after the other: a change every member sees (an image) restarts one etcd at a
        // time, each back before the next goes, so etcd keeps its quorum and Patroni its leader
        // key. A new cluster still forms: each member waits for the others' names, and each is
        // running (no health check) before the next is created. From the last manager in config
        // to the first: a manager that replaces a dead one is listed last (the runbook's order),
        // so its member joins before anything else of etcd changes.
        let previousEtcd: pulumi.Resource[] = [this.etcdMembership];
        for (const m of [...args.managers].reverse()) {
            this.etcd[m.name] = this.etcdMember(name, m, args, etcdMembers, previousEtcd);
            previousEtcd = [this.etcd[m.name]];
        }
        const etcd = Object.values(this.etcd);

        const patroni = this.config(name, "patroni", renderPatroniConfig({ scope: args.namePrefix, ...BOOTSTRAP_SETTINGS }), args);
        const subnet = args.network.ipamConfigs.apply((c) => c?.[0]?.subnet ?? "");
        // A password rotation: the roles first (a member restarted with the new file logs in with
        // it; the others' sessions go on), then the members one at a time.
        this.clusterRoles = this.rolesStep(
            `${name}-passwords`,
            "cluster-roles",
            pulumi.secret(pulumi.all([args.passwords.superuser, args.passwords.replication]).apply(([postgres, replicator]) => JSON.stringify({ postgres, replicator }))),
            args,
            etcd,
        );
        let previous: pulumi.Resource[] = [...etcd, this.clusterRoles];
        for (const n of args.nodes) {
            // The primary's node first: it bootstraps the cluster; the replicas clone it. Each
            // member's restart waits for the one before to be back, and for its own handover: a
            // leader restarts only once another member leads. With the leader on the first node,
            // an update thus moves it twice (off the first, then off the second, back to the
            // first), each a switchover that loses nothing; a static chain cannot put the
            // leader, wherever it is when the update runs, last.
            const taskSpec = this.memberTaskSpec(n, args, patroni, subnet, renderEtcd3Host(etcdClientHost(args.namePrefix), ETCD_CLIENT_PORT));
            this.handovers[n.name] = this.handover(name, n, args, taskSpec, previous);
            this.members[n.name] = this.member(name, n, args, taskSpec, [this.handovers[n.name]]);
            previous = [this.members[n.name]];
        }
        this.settings = this.patroniSettings(name, args, previous);
        // The app's role: no member reads its password, so rotating it restarts no member; the
        // app (which depends on this component) rolls to the new password once the role has it.
        this.appRole = this.rolesStep(`${name}-app-role`, "app-role", pulumi.secret(pulumi.output(args.passwords.app).apply((app) => JSON.stringify({ app }))), args, previous);
        // Not a secret, though the step's input is: a role's name.
        this.appLogin = pulumi.unsecret(this.appRole.stdout.apply(parseAppLogin));

        const proxyConfig = this.config(name, "pg-proxy", renderPgProxyConfig({
            servers: args.nodes.map((n) => ({ name: n.name, host: pgServiceName(args.namePrefix, n.name) })),
            readWritePort: PG_PORT,
            readOnlyPort: PG_READONLY_PORT,
            patroniPort: PATRONI_PORT,
            maxReplicaLagBytes: args.settings.maxLagOnFailoverBytes,
            healthPort: PROXY_HEALTH_PORT,
        }), args);
        this.proxy = this.pgProxy(name, args, proxyConfig, Object.values(this.members));
        this.registerOutputs({ readWriteEndpoint: this.readWriteEndpoint, readOnlyEndpoint: this.readOnlyEndpoint });
    }

    private config(name: string, kind: string, text: string, args: PostgresClusterArgs): docker.ServiceConfig {
        const hash = crypto.createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);
        return new docker.ServiceConfig(
            `${name}-${kind}-config`,
            { name: configName(args.namePrefix, kind, hash), data: Buffer.from(text, "utf8").toString("base64"), labels: tierLabels(args, {}) },
            { parent: this },
        );
    }

    private etcdMember(name: string, m: NodeSpec, args: PostgresClusterArgs, members: EtcdMember[], dependsOn: pulumi.Resource[]): docker.Service {
        const serviceName = etcdServiceName(args.namePrefix, m.name);
        return new docker.Service(
            `${name}-${m.name}-etcd`,
            {
                name: serviceName,
                labels: tierLabels(args, { "swarm-ha.node": m.name, "swarm-ha.tier": "etcd", ...metricsLabels({ job: "etcd", port: ETCD_CLIENT_PORT, network: "data" }) }),
                mode: { replicated: { replicas: 1 } },
                taskSpec: {
                    containerSpec: {
                        image: args.images.etcd,
                        commands: ["/usr/local/bin/swarm-ha-etcd"],
                        env: renderEtcdEnv({ name: m.name, members, clusterToken: `${args.namePrefix}-${pulumi.getStack()}`, clientHost: etcdClientHost(args.namePrefix) }),
                        mounts: [{ type: "volume", source: `${serviceName}-data`, target: "/data" }],
                        stopSignal: "SIGTERM",
                        stopGracePeriod: stopGrace(15),
                    },
                    resources: { limits: { memoryBytes: 256 * 1024 * 1024 } },
                    restartPolicy: restartAlways(2),
                    placement: { constraints: [`node.labels.swarm-ha.name == ${m.name}`] },
                    // Every member also answers to the shared alias: Patroni's one endpoint.
                    networksAdvanceds: [{ id: args.network.id, aliases: [etcdClientHost(args.namePrefix)] }],
                },
                endpointSpec: { mode: "dnsrr" },
                ...STOP_FIRST,
                convergeConfig: converge(3, 300),
            },
            {
                parent: this,
                dependsOn,
                ...NAMED_SERVICE,
                // ETCD_PEERS is read only when a member is created (a new cluster's members, or
                // another member to ask): were the managers' list to update the services, every
                // member would restart, and each restart costs the quorum a member. The
                // etcd-members step keeps the membership itself in step with config.
                ignoreChanges: ["taskSpec.containerSpec.env"],
            },
        );
    }

    /** A member's task: what the provider restarts it for when any of it changes. */
    private memberTaskSpec(n: NodeSpec, args: PostgresClusterArgs, patroni: docker.ServiceConfig, subnet: pulumi.Output<string>, etcd3Host: string): docker.types.input.ServiceTaskSpec {
        const serviceName = pgServiceName(args.namePrefix, n.name);
        const secret = (s: docker.Secret, file: string) => ({ secretId: s.id, secretName: s.name, fileName: file, fileMode: 0o400 });
        return {
            containerSpec: {
                image: args.images.postgres,
                commands: ["/usr/local/bin/swarm-ha-patroni"],
                env: {
                    PATRONI_NAME: n.name,
                    PATRONI_SCOPE: args.namePrefix,
                    ETCD3_HOST: etcd3Host,
                    CONNECT_SUBNET: subnet,
                    SUPERUSER_PASSWORD_FILE: "/run/secrets/postgres-password",
                    REPLICATION_PASSWORD_FILE: "/run/secrets/postgres-replication-password",
                },
                configs: [{ configId: patroni.id, configName: patroni.name, fileName: PATRONI_CONFIG_PATH, fileMode: 0o444 }],
                secrets: [
                    secret(args.secrets.superuser, "postgres-password"),
                    secret(args.secrets.replication, "postgres-replication-password"),
                ],
                mounts: [{ type: "volume", source: `${serviceName}-data`, target: "/data" }],
                // Patroni alive (a replica is healthy too: the proxy tells them apart).
                healthcheck: healthcheck(["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "2", `http://127.0.0.1:${PATRONI_PORT}/liveness`], { intervalSeconds: 3, timeoutSeconds: 2, retries: 3, startPeriodSeconds: 120 }),
                // Patroni stops Postgres cleanly and gives up its leader key first.
                stopSignal: "SIGTERM",
                stopGracePeriod: stopGrace(60),
            },
            resources: { limits: { memoryBytes: 512 * 1024 * 1024 } },
            restartPolicy: restartAlways(2),
            placement: { constraints: [`node.labels.swarm-ha.name == ${n.name}`] },
            networksAdvanceds: [{ id: args.network.id }],
        };
    }

    private member(name: string, n: NodeSpec, args: PostgresClusterArgs, taskSpec: docker.types.input.ServiceTaskSpec, dependsOn: pulumi.Resource[]): docker.Service {
        return new docker.Service(
            `${name}-${n.name}-pg`,
            {
                name: pgServiceName(args.namePrefix, n.name),
                // Patroni's REST API serves /metrics.
                labels: tierLabels(args, { "swarm-ha.node": n.name, ...metricsLabels({ job: "patroni", port: PATRONI_PORT, network: "data" }) }),
                mode: { replicated: { replicas: 1 } },
                taskSpec,
                endpointSpec: { mode: "dnsrr" },
                ...STOP_FIRST,
                convergeConfig: converge(10, 600),
            },
            { parent: this, dependsOn, ...NAMED_SERVICE },
        );
    }

    /**
     * The step before a member's restart: when the member's task changes, the step's `update`
     * (whose text carries a digest of the task) runs first and moves the leader off the member
     * (patroni-handover.sh/.py). Its `create`, on a new stack or the first run of this step on
     * an old one, changes nothing: no member restarts then. Not a secret: the task holds the
     * IDs and names of the secrets, never their values.
     */
    private handover(name: string, n: NodeSpec, args: PostgresClusterArgs, taskSpec: docker.types.input.ServiceTaskSpec, dependsOn: pulumi.Resource[]): command.remote.Command {
        const service = pgServiceName(args.namePrefix, n.name);
        const digest = pulumi.output(taskSpec).apply((spec) => crypto.createHash("sha256").update(JSON.stringify(spec)).digest("hex"));
        return new command.remote.Command(
            `${name}-${n.name}-handover`,
            {
                connection: sshConnection(n.address, args.ssh, n.hostKey),
                addPreviousOutputInEnv: false,
                create: `echo 'patroni-handover: the first run of this step: ${service} does not restart, nothing to hand over'`,
                update: digest.apply((taskDigest) =>
                    renderScript("patroni-handover", {
                        NODE_NAME: n.name,
                        SERVICE: service,
                        MEMBER: n.name,
                        DECLARED: args.nodes.map((x) => x.name).join("\n"),
                        WAIT_SECONDS: String(PATRONI_HANDOVER_WAIT_SECONDS),
                        TASK_DIGEST: taskDigest,
                        PROGRAM: fs.readFileSync(PATRONI_HANDOVER_PROGRAM, "utf8"),
                    }),
                ),
            },
            { parent: this, dependsOn, customTimeouts: COMMAND_TIMEOUTS },
        );
    }

    /**
     * Patroni's cluster-wide settings from config, on the running cluster: Patroni keeps them in
     * etcd and every member applies a change in its next loop, with no restart. Asked on the
     * primary's node in config, once every member is there; again whenever the settings change.
     */
    private patroniSettings(name: string, args: PostgresClusterArgs, dependsOn: pulumi.Resource[]): command.remote.Command {
        const node = args.nodes[0];
        return new command.remote.Command(
            `${name}-settings`,
            {
                connection: sshConnection(node.address, args.ssh, node.hostKey),
                addPreviousOutputInEnv: false,
                create: renderScript("patroni-settings", {
                    NODE_NAME: node.name,
                    SERVICE: pgServiceName(args.namePrefix, node.name),
                    SETTINGS: JSON.stringify({ synchronous_mode: args.settings.synchronousMode, maximum_lag_on_failover: args.settings.maxLagOnFailoverBytes }),
                    WAIT_SECONDS: String(PATRONI_SETTINGS_WAIT_SECONDS),
                    PROGRAM: fs.readFileSync(PATRONI_SETTINGS_PROGRAM, "utf8"),
                }),
            },
            { parent: this, dependsOn, customTimeouts: COMMAND_TIMEOUTS },
        );
    }

    /**
     * Once the app has rolled to `appLogin` (`appRolledOut`: the stack's health step, which waits
     * for every update to finish): the app's other logins may no longer log in, and their
     * sessions are closed (postgres-roles.py app-logins). A rotated password thus stops working
     * once nothing uses it. Runs again only when the app's login changes. Not a child of this
     * component: the app depends on the component (all its children), and this step on the app.
     */
    public retireOtherAppLogins(name: string, appRolledOut: pulumi.Resource[]): command.remote.Command {
        return this.rolesStep(name, "app-logins", this.appLogin.apply((keep) => JSON.stringify({ keep })), this.args, appRolledOut, null);
    }

    /**
     * A postgres-roles.py step on the primary's node in config: its JSON input (passwords, set
     * on the running cluster; or the app login to keep) on the step's stdin (secret in the state
     * when it holds passwords, on no command line). It runs again whenever that input changes.
     */
    private rolesStep(
        name: string,
        mode: "cluster-roles" | "app-role" | "app-logins",
        /** The program's JSON input: the passwords (secret), or the app login to keep. */
        stdin: pulumi.Input<string>,
        args: PostgresClusterArgs,
        dependsOn: pulumi.Resource[],
        /** null: a resource of the stack itself. */
        parent: pulumi.Resource | null = this,
    ): command.remote.Command {
        const node = args.nodes[0];
        return new command.remote.Command(
            name,
            {
                connection: sshConnection(node.address, args.ssh, node.hostKey),
                addPreviousOutputInEnv: false,
                create: renderScript("postgres-roles", {
                    NODE_NAME: node.name,
                    SERVICE: pgServiceName(args.namePrefix, node.name),
                    MODE: mode,
                    WAIT_SECONDS: String(POSTGRES_ROLES_WAIT_SECONDS),
                    PROGRAM_BASE64: fs.readFileSync(POSTGRES_ROLES_PROGRAM).toString("base64"),
                }),
                stdin,
            },
            { ...(parent ? { parent } : {}), dependsOn, customTimeouts: COMMAND_TIMEOUTS },
        );
    }

    private pgProxy(name: string, args: PostgresClusterArgs, config: docker.ServiceConfig, dependsOn: pulumi.Resource[]): docker.Service {
        return new docker.Service(
            `${name}-proxy`,
            {
                name: this.proxyHost,
                labels: tierLabels(args, { "swarm-ha.tier": "postgres-proxy" }),
                mode: { replicated: { replicas: args.proxyReplicas } },
                taskSpec: {
                    containerSpec: {
                        image: args.images.haproxy,
                        env: { HAPROXY_CONFIG: "/usr/local/etc/haproxy/haproxy.cfg" },
                        configs: [{ configId: config.id, configName: config.name, fileName: "/usr/local/etc/haproxy/haproxy.cfg", fileMode: 0o444 }],
                        healthcheck: healthcheck(["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "2", `http://127.0.0.1:${PROXY_HEALTH_PORT}/alive`], { intervalSeconds: 2, timeoutSeconds: 2, retries: 3, startPeriodSeconds: 10 }),
                        stopSignal: "SIGUSR1",
                        stopGracePeriod: stopGrace(15),
                    },
                    resources: { limits: { memoryBytes: 128 * 1024 * 1024 } },
                    restartPolicy: restartAlways(1),
                    // One per node where it can, room for a start-first update's extra task.
                    placement: { constraints: [args.proxyNodesConstraint], prefs: ["node.labels.swarm-ha.name"], maxReplicas: 2 },
                    networksAdvanceds: [{ id: args.network.id }, { id: args.clientNetwork.id }],
                },
                endpointSpec: { mode: "dnsrr" },
                ...rollingPolicies({ order: "start-first", delaySeconds: 2, monitorSeconds: 10 }),
                convergeConfig: converge(4, 300),
            },
            { parent: this, dependsOn, ...NAMED_SERVICE },
        );
    }
}

/** A pinned service with its data on its node's volume: the old task stops before the new one starts. */
const STOP_FIRST = rollingPolicies({ order: "stop-first", monitorSeconds: 10 });

function tierLabels(args: PostgresClusterArgs, extra: Record<string, string>) {
    return labelList({ "swarm-ha.tier": "postgres", ...args.labels, ...extra });
}

/** The app's login from the postgres-app-role step's output (its `app_login=` line). */
export function parseAppLogin(stdout: string): string {
    const login = /^app_login=(app|app_a|app_b)$/m.exec(stdout)?.[1];
    if (!login) throw new Error(`the postgres-app-role step printed no app_login=app_a|app_b line; its output was:\n${stdout}`);
    return login;
}
