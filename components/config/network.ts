/**
 * Rules that tie the VIP and the overlay address pool to the nodes: the VIP must be free and
 * reachable next to the edge nodes, in their subnet; overlay subnets must not cover a host's
 * own network.
 */
import * as ipaddr from "ipaddr.js";
import { DOCKER_DEFAULT_POOL, type ParsedAddress, type Pool, effectivePool, poolHolds, readPool, sameAddress } from "./addresses";
import { type NodeInput, nodeAddresses } from "./nodes";
import { type ConfigProblem, fullKey, nodeKey } from "./types";

/** `swarm-ha:nodes[0].address (10.1.2.3), ...`: the node addresses a pool holds, a few by name. */
function listFields(fields: { key: string; text: string }[]): string {
    const shown = fields.slice(0, 3).map((f) => `${f.key} (${f.text})`);
    return fields.length > 3 ? `${shown.join(", ")} and ${fields.length - 3} more` : shown.join(", ");
}

/** Every node address and explicit advertise address that `pool` holds. */
function heldBy(pool: Pool, nodes: NodeInput[]): { key: string; text: string }[] {
    const addrs = nodeAddresses(nodes);
    const held: { key: string; text: string }[] = [];
    nodes.forEach((n, i) => {
        if (poolHolds(pool, addrs[i].address)) held.push({ key: `${nodeKey(i)}.address`, text: n.address });
        if (n.advertiseAddress !== undefined && addrs[i].advertise && poolHolds(pool, addrs[i].advertise)) {
            held.push({ key: `${nodeKey(i)}.advertiseAddress`, text: n.advertiseAddress });
        }
    });
    return held;
}

/** A pool to suggest: the first of a few private /16s that holds no node address. */
function suggestPool(nodes: NodeInput[]): string {
    for (const candidate of ["10.20.0.0/16", "172.20.0.0/16", "10.200.0.0/16", "172.30.0.0/16"]) {
        const read = readPool(candidate);
        if (read.ok && heldBy(read.value, nodes).length === 0) return candidate;
    }
    return "10.20.0.0/16";
}

/**
 * The overlay address pool against the nodes. A configured pool that holds a node's address
 * is refused; Docker's default 10.0.0.0/8 holding one only warns, since swarm takes /24s from
 * its start and may never reach the hosts' range.
 */
export function checkPool(pool: Pool | undefined, nodes: NodeInput[]): { problems: ConfigProblem[]; warnings: ConfigProblem[] } {
    const key = fullKey("defaultAddrPool");
    const held = heldBy(effectivePool(pool), nodes);
    if (held.length === 0) return { problems: [], warnings: [] };
    const fix = `set it to a range no host network uses: pulumi config set ${key} ${suggestPool(nodes)}`;
    if (pool) {
        return {
            problems: [{ key, message: `'${pool.text}' holds ${listFields(held)}; overlay subnets cut from it would shadow the hosts' own network: ${fix}` }],
            warnings: [],
        };
    }
    return {
        problems: [],
        warnings: [
            {
                key,
                message: `is empty, so the swarm takes overlay subnets from Docker's default ${DOCKER_DEFAULT_POOL}, which holds ${listFields(held)}; an overlay subnet could shadow the hosts' network: ${fix}`,
            },
        ],
    };
}

/**
 * The VIP against the nodes: no node may own it (in any spelling), and it must be of the
 * edge nodes' address family (keepalived moves it among them, on their network).
 */
export function checkVip(vip: ParsedAddress, vipText: string, nodes: NodeInput[]): ConfigProblem[] {
    const key = fullKey("vip");
    const problems: ConfigProblem[] = [];
    const addrs = nodeAddresses(nodes);
    nodes.forEach((n, i) => {
        const owned = sameAddress(vip, addrs[i].address) ? n.address : addrs[i].advertise && sameAddress(vip, addrs[i].advertise) ? (n.advertiseAddress ?? n.address) : undefined;
        if (owned !== undefined) {
            const spelled = owned === vipText ? "" : `, written '${owned}' there`;
            problems.push({ key, message: `'${vipText}' is the address of ${nodeKey(i)} (${n.name}${spelled}); the virtual IP must be a free address that no node owns` });
        }
    });

    if (vip.kind === "ip") {
        const otherFamily = nodes
            .map((n, i) => ({ n, i, adv: addrs[i].advertise }))
            .filter(({ n, adv }) => n.roles.includes("edge") && adv?.kind === "ip" && adv.family !== vip.family);
        if (otherFamily.length > 0) {
            const theirs = vip.family === 4 ? 6 : 4;
            problems.push({
                key,
                message:
                    `is IPv${vip.family}, but edge node(s) ${otherFamily.map(({ n, i }) => `${nodeKey(i)} (${n.name}, ${n.advertiseAddress ?? n.address})`).join(", ")} advertise IPv${theirs}: ` +
                    `keepalived moves the VIP between the edge nodes on their network, so pick a free IPv${theirs} address on it`,
            });
        }
    }

    return problems;
}

/**
 * The VIP against the overlay address pool (`pool`, or Docker's default when undefined): an
 * overlay subnet cut from the pool would shadow it on every host.
 */
export function checkVipOutsidePool(vip: ParsedAddress, vipText: string, pool: Pool | undefined): ConfigProblem[] {
    const effective = effectivePool(pool);
    if (!poolHolds(effective, vip)) return [];
    const which = pool ? `the overlay address pool ${effective.text}` : `Docker's default overlay address pool ${effective.text} (${fullKey("defaultAddrPool")} is empty)`;
    return [
        {
            key: fullKey("vip"),
            message:
                `'${vipText}' is inside ${which}: an overlay subnet cut from it would shadow the VIP. ` +
                `Pick a free address outside it on the edge nodes' network, or set ${fullKey("defaultAddrPool")} to a range that does not hold it`,
        },
    ];
}

/** The network `ip` lies in by `bits`, e.g. `192.0.2.0/24`. */
function networkOf(ip: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
    const cidr = `${ip.toString()}/${bits}`;
    const network = ip.kind() === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
    return `${network.toString()}/${bits}`;
}

/**
 * What `ip` is in its subnet of `bits` if it names no single host there: the network address
 * (all host bits 0; for IPv6 the Subnet-Router anycast address, RFC 4291 2.6.1) or the IPv4
 * broadcast address (all host bits 1). /31 and /32 (IPv6: /127, /128) have neither (RFC 3021).
 */
function reservedInSubnet(ip: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string | undefined {
    const cidr = `${ip.toString()}/${bits}`;
    if (ip.kind() === "ipv4") {
        if (bits >= 31) return undefined;
        if (ipaddr.IPv4.networkAddressFromCIDR(cidr).toString() === ip.toString()) return "the network address";
        if (ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toString() === ip.toString()) return "the broadcast address";
        return undefined;
    }
    if (bits >= 127) return undefined;
    return ipaddr.IPv6.networkAddressFromCIDR(cidr).toString() === ip.toString() ? "the network address (the Subnet-Router anycast address)" : undefined;
}

/** The 100th address of `ip`'s subnet (or its first host, in a small one): a free-looking example for a message. */
function suggestInSubnet(ip: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
    const bytes = (ip.kind() === "ipv4" ? ipaddr.IPv4 : ipaddr.IPv6).networkAddressFromCIDR(`${ip.toString()}/${bits}`).toByteArray();
    const hostBits = bytes.length * 8 - bits;
    const offset = hostBits >= 8 ? 100 : 1;
    bytes[bytes.length - 1] += offset;
    return ipaddr.fromByteArray(bytes).toString();
}

/**
 * The VIP against its prefix length and the edge nodes' advertise addresses: keepalived adds
 * the VIP, with `vipPrefixLength`, to each edge node's interface on the edge nodes' network, so
 * the VIP must lie in the subnet of every edge node's advertise address, and be a host of that
 * subnet (not its network or broadcast address). Edge nodes of the other address family are
 * left to `checkVip`.
 */
export function checkVipSubnet(vip: ParsedAddress, vipText: string, prefixLength: number, nodes: NodeInput[]): ConfigProblem[] {
    if (vip.kind !== "ip") return [];
    const prefixKey = fullKey("vipPrefixLength");
    const maxBits = vip.family === 4 ? 32 : 128;
    if (prefixLength > maxBits) {
        return [
            {
                key: prefixKey,
                message:
                    `is ${prefixLength}, but the VIP '${vipText}' is IPv${vip.family}, whose prefix lengths go from 1 to ${maxBits}: ` +
                    `give the prefix length of the edge nodes' network (e.g. pulumi config set ${prefixKey} ${vip.family === 4 ? 24 : 64})`,
            },
        ];
    }
    const problems: ConfigProblem[] = [];
    const reserved = reservedInSubnet(vip.ip, prefixLength);
    if (reserved !== undefined) {
        problems.push({
            key: fullKey("vip"),
            message:
                `'${vipText}' is ${reserved} of its network ${networkOf(vip.ip, prefixLength)} (by ${prefixKey} ${prefixLength}), which names no single host: ` +
                `pick a free address between them on the edge nodes' network (e.g. pulumi config set ${fullKey("vip")} ${suggestInSubnet(vip.ip, prefixLength)}), ` +
                `or set ${prefixKey} to that network's real prefix length`,
        });
    }
    const addrs = nodeAddresses(nodes);
    const vipNetwork = networkOf(vip.ip, prefixLength);
    nodes.forEach((n, i) => {
        const adv = addrs[i].advertise;
        if (!n.roles.includes("edge") || adv?.kind !== "ip" || adv.family !== vip.family) return;
        if (adv.ip.match(vip.ip, prefixLength)) return;
        const advText = n.advertiseAddress ?? n.address;
        problems.push({
            key: fullKey("vip"),
            message:
                `'${vipText}' is outside the network of edge node ${nodeKey(i)} (${n.name}, ${advText}): by ${prefixKey} ${prefixLength} the VIP's network is ${vipNetwork}, ` +
                `and that node's is ${networkOf(adv.ip, prefixLength)}. keepalived adds the VIP to that node's interface on its network, where an address of another network is not reachable: ` +
                `pick a free address in the network every edge node is on, or set ${prefixKey} to that network's prefix length`,
        });
    });
    return problems;
}
