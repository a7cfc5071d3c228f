/**
 * StackHealth: the last step of every `pulumi up`. On the first manager, the stack's services
 * must run as declared (each at its desired count of running, healthy tasks, no update paused
 * or rolled back, steady for a few seconds), and each tier with state must work as one (its
 * own check, run in its task on one of its nodes: one Redis master every Sentinel names, a
 * Patroni leader with its synchronous standby, etcd's members exactly the managers, one edge
 * node holding the VIP, the Alertmanagers in one cluster), or the run
 * fails and lists what differs. Before the checks, the services that may hold more than one
 * task per node are spread over their nodes again (spread.sh: a node that returned gets its
 * share back, without a task stopped first). The cluster's own health step checks the nodes before any
 * service is touched; this one checks what the services became. Scripts:
 * components/cluster/scripts/stack-health.sh, tier-health.sh and spread.sh.
 */
import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { renderScript } from "../cluster/scripts";
import type { NodeSpec } from "../config";
import { COMMAND_TIMEOUTS, type SshSettings, sshConnection } from "../common/ssh";

/** How long the stack may take to settle after the last service step (a task restarting, a rolling update finishing). */
export const STACK_HEALTH_WAIT_SECONDS = 180;
/** How long every service must stay as declared in a row: a task that keeps dying is healthy only for moments. */
export const STACK_HEALTH_STABLE_SECONDS = 6;

/** How long the spread step waits for a service to run all its tasks before judging it (past it, the health check reports it). */
export const SPREAD_CONVERGE_SECONDS = 60;

/** One tier's own check: a program of its image, run in its task on one of its nodes. */
export interface TierCheck {
    /** What the check is of, in messages and the resource's name. @example "redis" */
    tier: string;
    /** The node it runs on: one where the tier has a task pinned. */
    node: NodeSpec;
    /** The service whose task on that node runs it. @example "swarm-ha-redis-lab-m3" */
    service: string;
    /** The program and its arguments, run with `docker exec`. @example ["swarm-ha-redis-check"] */
    command: string[];
}

/** A service that may run more than one task per node, and the nodes it may run on: spread again before the checks. */
export interface SpreadService {
    /** @example "swarm-ha-app" */
    service: string;
    /** Node names (swarm-ha.name labels). */
    nodes: string[];
}

export interface StackHealthArgs {
    /** Where the check runs: a manager (the swarm's service list is read there). */
    manager: NodeSpec;
    ssh: SshSettings;
    /** The stack's label value (`swarm-ha.stack`) on every service. */
    stack: string;
    /** Every service the program declares: each must be in the swarm. */
    services: docker.Service[];
    /** The tiers' own checks, run side by side with the services' check. */
    tiers?: TierCheck[];
    /**
     * Services spread over their nodes again before the checks (spread.sh): Swarm never moves a
     * task back to a node that returns, so a node's loss can leave one node with every replica.
     */
    spread?: SpreadService[];
    /**
     * Changes on every `pulumi up`, so that the check runs every time.
     * @default the time the program started
     */
    runId?: string;
}

export class StackHealth extends pulumi.ComponentResource {
    public readonly check: command.remote.Command;
    public readonly tierChecks: command.remote.Command[];
    public readonly spread?: command.remote.Command;

    constructor(name: string, args: StackHealthArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-ha:health:StackHealth", name, {}, opts);
        const { manager } = args;
        for (const s of args.spread ?? []) {
            const words = [s.service, ...s.nodes];
            if (s.nodes.length === 0 || words.some((w) => !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(w))) {
                throw new Error(`swarm-ha: the services to spread need a name and nodes, each letters, digits, '.', '_' or '-' (got ${JSON.stringify(s)})`);
            }
        }
        const spreading = (args.spread ?? []).length > 0;
        // Before the checks, so that they see the services as they stay.
        this.spread = spreading
            ? new command.remote.Command(
                  `${name}-spread`,
                  {
                      connection: sshConnection(manager.address, args.ssh, manager.hostKey),
                      addPreviousOutputInEnv: false,
                      create: renderScript("spread", {
                          NODE_NAME: manager.name,
                          SPREAD: args.spread!.map((s) => [s.service, ...s.nodes].join(" ")).join("\n"),
                          CONVERGE_SECONDS: String(SPREAD_CONVERGE_SECONDS),
                          WAIT_SECONDS: String(STACK_HEALTH_WAIT_SECONDS),
                      }),
                      triggers: [args.runId ?? new Date().toISOString()],
                  },
                  { parent: this, dependsOn: args.services, customTimeouts: COMMAND_TIMEOUTS },
              )
            : undefined;
        const checked = [...args.services, ...(this.spread ? [this.spread] : [])];
        this.check = new command.remote.Command(
            `${name}-health`,
            {
                connection: sshConnection(manager.address, args.ssh, manager.hostKey),
                addPreviousOutputInEnv: false,
                create: pulumi.all(args.services.map((s) => s.name)).apply((names) =>
                    renderScript("stack-health", {
                        NODE_NAME: manager.name,
                        STACK: args.stack,
                        EXPECTED: [...names].sort().join("\n"),
                        WAIT_SECONDS: String(STACK_HEALTH_WAIT_SECONDS),
                        STABLE_SECONDS: String(STACK_HEALTH_STABLE_SECONDS),
                    }),
                ),
                triggers: [args.runId ?? new Date().toISOString()],
            },
            { parent: this, dependsOn: checked, customTimeouts: COMMAND_TIMEOUTS },
        );
        for (const t of args.tiers ?? []) {
            const broken = t.command.filter((word) => word === "" || word.includes("\n"));
            if (broken.length) throw new Error(`swarm-ha: the ${t.tier} check's words must be non-empty, one line each (got ${JSON.stringify(broken)})`);
        }
        this.tierChecks = (args.tiers ?? []).map(
            (t) =>
                new command.remote.Command(
                    `${name}-${t.tier}-health`,
                    {
                        connection: sshConnection(t.node.address, args.ssh, t.node.hostKey),
                        addPreviousOutputInEnv: false,
                        create: renderScript("tier-health", {
                            NODE_NAME: t.node.name,
                            TIER: t.tier,
                            SERVICE: t.service,
                            CHECK: t.command.join("\n"),
                            WAIT_SECONDS: String(STACK_HEALTH_WAIT_SECONDS),
                        }),
                        triggers: [args.runId ?? new Date().toISOString()],
                    },
                    { parent: this, dependsOn: checked, customTimeouts: COMMAND_TIMEOUTS },
                ),
        );
        this.registerOutputs({});
    }
}
