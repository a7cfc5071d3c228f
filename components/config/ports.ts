/**
 * The ports the stack publishes on the hosts against what already listens there. Only the
 * edge's HAProxy publishes ports (host mode, on every edge node; every other service, the data
 * tier's included, is reached on the overlay networks only), and every host already runs sshd
 * on `sshPort` and Docker Swarm on its fixed ports. A published port equal to one of those
 * cannot bind (or takes the port from the swarm), and the edge ports among themselves are
 * checked in edge.ts.
 */
import { CONFIG_KEYS } from "./keys";
import type { EdgePortKey } from "./edge";
import { type ConfigProblem, fullKey } from "./types";

/**
 * Swarm's own ports on every host (README, "Requirements"; docs/threat-model.md). 4789 is
 * VXLAN's, over UDP: a TCP listener there would bind, but the hosts' firewall rules for the
 * swarm's ports (open between the hosts only) would then apply to a public service as well.
 */
export const SWARM_PORTS: Readonly<Record<number, string>> = {
    2377: "Docker Swarm's control plane (2377/tcp)",
    7946: "Docker Swarm's gossip between nodes (7946/tcp and udp)",
    4789: "Docker Swarm's overlay traffic, VXLAN (4789/udp)",
};

/** The first port at or above `from` that none of `taken` holds and no host service uses. */
function freePort(from: number, taken: ReadonlySet<number>): number {
    let port = from;
    while (taken.has(port) || SWARM_PORTS[port] !== undefined) port = port >= 65535 ? 1024 : port + 1;
    return port;
}

/**
 * The published ports (`ports`: only those that are on) against sshd and the swarm: each one
 * that equals `sshPort` or a Swarm port is refused, with a free port to use instead; and
 * `sshPort` itself must not be a Swarm port, or sshd and the swarm cannot both listen.
 */
export function checkHostPorts(ports: Partial<Record<EdgePortKey, number>>, sshPort: number | undefined): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const sshKey = fullKey("sshPort");
    const taken = new Set([...Object.values(ports), ...(sshPort === undefined ? [] : [sshPort])]);
    if (sshPort !== undefined && SWARM_PORTS[sshPort] !== undefined) {
        problems.push({
            key: sshKey,
            message:
                `is ${sshPort}, the port of ${SWARM_PORTS[sshPort]}, which every node needs for itself: sshd and the swarm cannot both listen on it. ` +
                `Run sshd on another port and set it (e.g. pulumi config set ${sshKey} 22)`,
        });
    }
    for (const [key, port] of Object.entries(ports) as [EdgePortKey, number][]) {
        const holder = port === sshPort ? `sshd's (${sshKey}), which swarm-ha itself connects to` : SWARM_PORTS[port];
        if (holder === undefined) continue;
        problems.push({
            key: fullKey(key),
            message:
                `is ${port}, the port of ${holder} on every node: HAProxy publishes it on each edge node, where it is already taken. ` +
                `Pick another (e.g. pulumi config set ${fullKey(key)} ${freePort(Number(CONFIG_KEYS[key].default), taken)})`,
        });
    }
    return problems;
}
