/**
 * The nodes the monitoring tier needs (with `monitoring`): Prometheus on up to two active nodes
 * with the `monitoring` role (a pair when two have it), Grafana on the first, the Alertmanagers and the Docker API proxy (Prometheus's
 * service discovery) on active managers. Swarm starts no task on a `pause` or `drain` node, and
 * these services are pinned by role, so only active nodes count.
 */
import type { NodeInput } from "./nodes";
import { type ConfigProblem, fullKey, nodeKey } from "./types";

export function checkMonitoringNodes(nodes: NodeInput[]): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const key = fullKey("nodes");
    const off = `or set ${fullKey("monitoring")} false`;
    const idle = (list: { n: NodeInput; i: number }[]) =>
        list.length === 0 ? "" : `, or set availability: active on ${list.map(({ n, i }) => `${nodeKey(i)} (${n.name}), which is ${n.availability}`).join("; ")}`;
    const indexed = nodes.map((n, i) => ({ n, i }));

    const monitoring = indexed.filter(({ n }) => n.roles.includes("monitoring"));
    if (!monitoring.some(({ n }) => n.availability === "active")) {
        problems.push({
            key,
            message:
                "has no active node with the monitoring role, which Prometheus (and Grafana) run on: add monitoring to a node's roles " +
                `(e.g. roles: [edge, monitoring])${idle(monitoring)}, ${off}`,
        });
    }
    // No manager at all is the swarm's own problem (checkNodes); here: managers, all idle.
    const managers = indexed.filter(({ n }) => n.swarmRole === "manager");
    if (managers.length > 0 && !managers.some(({ n }) => n.availability === "active")) {
        problems.push({
            key,
            message:
                "has no manager with availability: active, but the monitoring tier runs its Alertmanagers, and the Docker API proxy Prometheus discovers services through, on active managers: " +
                `set availability: active on ${managers.map(({ n, i }) => `${nodeKey(i)} (${n.name}), which is ${n.availability}`).join("; ")}, ${off}`,
        });
    }
    return problems;
}

/**
 * One active monitoring node runs one Prometheus: when that node dies, no alert fires at all
 * (the Watchdog's silence is then the only page). Two give a pair that survives either.
 */
export function warnSinglePrometheus(nodes: NodeInput[]): ConfigProblem[] {
    const active = nodes.filter((n) => n.availability === "active" && n.roles.includes("monitoring"));
    if (active.length !== 1) return [];
    return [
        {
            key: fullKey("nodes"),
            message:
                `only ${active[0].name} is an active node with the monitoring role, so one Prometheus evaluates every alert: when that node dies, no alert fires. ` +
                "Give a second node the monitoring role (e.g. roles: [edge, monitoring]) for a pair on two nodes, and set alertDeadMansSwitchUrl to hear about silence",
        },
    ];
}
