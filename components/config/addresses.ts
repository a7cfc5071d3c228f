/**
 * Reading the addresses and networks a user writes in config: what they are (an IP, a host
 * name, a CIDR network), their canonical form (so two spellings of one address compare equal)
 * and, when they cannot work, a message saying why and what to write instead.
 *
 * IP parsing and classification is ipaddr.js's; this module adds only what config needs on top:
 * strictness (`127.1` and `0x7f.0.0.1` are IPv4 to ipaddr.js but only confuse here), and words.
 */
import * as ipaddr from "ipaddr.js";
import { NETWORK_KINDS } from "../common/names";
import { fullKey } from "./types";

export type IP = ipaddr.IPv4 | ipaddr.IPv6;

/** An address a user wrote, understood. */
export type ParsedAddress =
    | {
          kind: "ip";
          /** The address, IPv4-mapped IPv6 (`::ffff:192.0.2.1`) already turned into IPv4. */
          ip: IP;
          family: 4 | 6;
          /** One spelling per address: `2001:DB8::1` and `2001:db8:0:0:0:0:0:1` give the same. */
          canonical: string;
      }
    | {
          kind: "hostname";
          /** Lower case, without the trailing dot of an absolute name. */
          canonical: string;
      };

export type Read<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * What an address is for, which decides what it may be and what a message suggests:
 * - `ssh`: a node's `address`, where SSH connects from the machine running Pulumi (IP or host name);
 * - `advertise`: a node's `advertiseAddress`, the IP other nodes reach it on;
 * - `vip`: the virtual IP keepalived moves between the edge nodes.
 */
export type AddressUse = "ssh" | "advertise" | "vip";

const HOSTNAME = /^(?=.{1,253}\.?$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;

const EXAMPLE: Record<AddressUse, string> = { ssh: "192.0.2.11", advertise: "192.0.2.11", vip: "192.0.2.100" };

/** What to write instead, by use: ends every message about an unusable address. */
const FIX: Record<AddressUse, string> = {
    ssh: "give the address the machine running Pulumi reaches the host on over SSH (e.g. 192.0.2.11 or node1.example.com)",
    advertise: "give a unicast IP of this host that the other nodes reach it on (e.g. 192.0.2.11)",
    vip: "pick a free unicast address on the edge nodes' network (e.g. 192.0.2.100), or leave it empty for none",
};

const NOT_AN_IP: Record<Exclude<AddressUse, "ssh">, string> = {
    advertise: "must be an IP address that the other nodes can reach (e.g. 10.0.0.11): a host name cannot be advertised",
    vip: "must be an IP address on the edge nodes' network (e.g. 192.0.2.100), or empty for none",
};

/** Address classes that name no single host, by ipaddr.js range name. */
const NOT_A_HOST: Partial<Record<string, string>> = {
    unspecified: "is an unspecified address (0.0.0.0/8 or ::), which stands for 'any address' and names no host",
    loopback: "is a loopback address (127.0.0.0/8 or ::1), which always means the machine itself, never another host",
    broadcast: "is the broadcast address 255.255.255.255, which reaches every host on a link and names none",
    multicast: "is a multicast address (224.0.0.0/4 or ff00::/8), which names a group of listeners, not a host",
};

/**
 * Reads an address written in config for `use`. Refuses, with a message that says what to
 * write instead: ports, user names and brackets around it, malformed IPv4 (an all-numeric
 * dotted name is never a host name), IPv6 zones, and addresses that name no host
 * (unspecified, loopback, broadcast, multicast; for the VIP also link-local).
 */
export function readAddress(text: string, use: AddressUse): Read<ParsedAddress> {
    const fail = (message: string): Read<ParsedAddress> => ({ ok: false, message });
    if (text.trim() === "") return fail(`is empty: ${FIX[use]}`);
    if (text !== text.trim()) return fail(`has spaces around it: write it without them ('${text.trim()}')`);

    const withUser = /^([^@\s]+)@(.+)$/.exec(text);
    if (withUser) {
        return fail(
            use === "ssh"
                ? `includes a user name ('${withUser[1]}@'): give the host alone ('${withUser[2]}') and set the login user of all nodes with pulumi config set ${fullKey("sshUser")} ${withUser[1]}`
                : `includes a user name ('${withUser[1]}@'): give the IP alone ('${withUser[2]}')`,
        );
    }
    // [2001:db8::1]:22 and [2001:db8::1]: URL spellings, not addresses.
    const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(text);
    if (bracketed) {
        if (bracketed[2] !== undefined) return fail(portMessage(bracketed[1], bracketed[2], use));
        return fail(`is in brackets: write the address without them ('${bracketed[1]}')`);
    }
    // One colon followed by digits: host:port (an IPv6 address has at least two colons).
    const hostPort = /^([^:]+):(\d+)$/.exec(text);
    if (hostPort && (/^[\d.]+$/.test(hostPort[1]) || HOSTNAME.test(hostPort[1]))) return fail(portMessage(hostPort[1], hostPort[2], use));

    if (/^[\d.]+$/.test(text)) {
        // All digits and dots: meant as IPv4 (a top-level domain is never all-numeric, so this is no host name).
        if (!ipaddr.IPv4.isValidFourPartDecimal(text)) {
            return fail(`looks like an IPv4 address but is not one: ${ipv4Flaw(text)}. Write IPv4 as four numbers from 0 to 255 (e.g. ${EXAMPLE[use]})`);
        }
        return classify(ipaddr.process(text), use);
    }
    if (text.includes(":")) {
        if (!ipaddr.IPv6.isValid(text)) {
            return fail(use === "ssh" ? `is not a valid IP address or host name (e.g. 192.0.2.11, 2001:db8::11 or node1.example.com)` : `is not a valid IP address: ${NOT_AN_IP[use]}`);
        }
        const zone = text.indexOf("%");
        if (zone >= 0) {
            return fail(
                `has a zone ('${text.slice(zone)}'); zones cannot be used here: a zone names a network interface of one machine, ` +
                    `which means nothing to the others. Give the address without it ('${text.slice(0, zone)}') or, better, a global address (e.g. 2001:db8::11)`,
            );
        }
        return classify(ipaddr.process(text), use);
    }
    if (use !== "ssh") return fail(NOT_AN_IP[use]);
    if (!HOSTNAME.test(text)) return fail("is not a valid IP address or host name (e.g. 192.0.2.11 or node1.example.com)");
    const canonical = text.toLowerCase().replace(/\.$/, "");
    // RFC 6761: localhost and every name under it resolve to loopback.
    if (canonical === "localhost" || canonical.endsWith(".localhost")) return fail(`${NOT_A_HOST.loopback}: ${FIX[use]}`);
    return { ok: true, value: { kind: "hostname", canonical } };
}

function classify(ip: IP, use: AddressUse): Read<ParsedAddress> {
    const range = ip.range();
    const why = NOT_A_HOST[range] ?? (use === "vip" && range === "linkLocal" ? "is a link-local address (169.254.0.0/16 or fe80::/10), valid on one link only, which keepalived cannot move between hosts reliably" : undefined);
    if (why !== undefined) return { ok: false, message: `${why}: ${FIX[use]}` };
    return { ok: true, value: { kind: "ip", ip, family: ip.kind() === "ipv4" ? 4 : 6, canonical: ip.toNormalizedString() } };
}

function portMessage(host: string, port: string, use: AddressUse): string {
    if (use === "ssh") {
        return `includes a port (':${port}'): give the address alone ('${host}') and set the SSH port of all nodes with pulumi config set ${fullKey("sshPort")} ${port || 22}`;
    }
    return `includes a port (':${port}'): give the IP alone ('${host}')${use === "advertise" ? "; swarm uses its own fixed ports (2377, 7946, 4789)" : ""}`;
}

/** Why an all-numeric dotted string is not an IPv4 address, in a few words. */
function ipv4Flaw(text: string): string {
    const parts = text.split(".");
    if (parts.length !== 4) return `it has ${parts.length} part(s), not 4`;
    for (const p of parts) {
        if (p === "") return "it has an empty part";
        if (Number(p) > 255) return `${p} is more than 255`;
        if (p.length > 1 && p.startsWith("0")) return `${p} has a leading zero, which some tools read as octal`;
    }
    return "it is malformed";
}

/** Are two addresses the same, however each was written? */
export function sameAddress(a: ParsedAddress, b: ParsedAddress): boolean {
    return a.kind === b.kind && a.canonical === b.canonical;
}

// Overlay address pool: swarm cuts one /24 per overlay network out of it (Docker's default
// mask length, which swarm-ha does not change), for the stack's networks and for ingress.
export const OVERLAY_SUBNET_BITS = 24;
/** Subnets the stack takes from the pool: one per network kind, plus the ingress network. */
export const POOL_SUBNETS_NEEDED = NETWORK_KINDS.length + 1;
/** The smallest pool (longest prefix) that holds POOL_SUBNETS_NEEDED subnets. */
export const MAX_POOL_BITS = OVERLAY_SUBNET_BITS - Math.ceil(Math.log2(POOL_SUBNETS_NEEDED));
/** Wider pools would reach into public address space no host could route. */
export const MIN_POOL_BITS = 8;
/** The pool swarm uses when `defaultAddrPool` is empty. */
export const DOCKER_DEFAULT_POOL = "10.0.0.0/8";

/** IPv4 space that cannot carry overlay subnets: these addresses are never unicast host addresses. */
const NOT_UNICAST: [string, string][] = [
    ["0.0.0.0/8", "'this network'"],
    ["127.0.0.0/8", "loopback"],
    ["169.254.0.0/16", "link-local"],
    ["224.0.0.0/4", "multicast"],
    ["240.0.0.0/4", "reserved (and broadcast)"],
];

export interface Pool {
    network: ipaddr.IPv4;
    bits: number;
    /** As written, e.g. `10.20.0.0/16`. */
    text: string;
}

const POOL_RULE = `it must be an IPv4 network from /${MIN_POOL_BITS} to /${MAX_POOL_BITS} in CIDR form (e.g. 10.20.0.0/16) that no host network uses, or empty for Docker's default ${DOCKER_DEFAULT_POOL}`;

/** Reads an overlay address pool (`defaultAddrPool`); refuses malformed, misaligned, too small or unusable ones. */
export function readPool(text: string): Read<Pool> {
    const fail = (message: string): Read<Pool> => ({ ok: false, message });
    const parts = text.split("/");
    if (parts.length === 1) return fail(`has no prefix length (such as /16): ${POOL_RULE}`);
    if (parts.length > 2) return fail(`is not a network in CIDR form: ${POOL_RULE}`);
    const [addr, bitsText] = parts;
    if (!ipaddr.IPv4.isValidFourPartDecimal(addr)) {
        return fail(ipaddr.IPv6.isValid(addr) ? `is an IPv6 network; swarm's address pool is IPv4 only: ${POOL_RULE}` : `'${addr}' is not an IPv4 address: ${POOL_RULE}`);
    }
    if (!/^\d{1,2}$/.test(bitsText) || Number(bitsText) > 32) return fail(`has prefix length '/${bitsText}', not a number from 0 to 32: ${POOL_RULE}`);
    const bits = Number(bitsText);
    if (bits < MIN_POOL_BITS) return fail(`is a /${bits}, wider than a /${MIN_POOL_BITS}: ${POOL_RULE}`);
    if (bits > MAX_POOL_BITS) {
        return fail(
            `is a /${bits}, too small: the stack's ${NETWORK_KINDS.length} overlay networks and the ingress network take ${POOL_SUBNETS_NEEDED} /${OVERLAY_SUBNET_BITS} subnets, ` +
                `which need a /${MAX_POOL_BITS} or larger; ${POOL_RULE}`,
        );
    }
    const [ip] = ipaddr.IPv4.parseCIDR(text);
    const network = ipaddr.IPv4.networkAddressFromCIDR(text);
    if (network.toString() !== ip.toString()) {
        return fail(`has host bits set (${addr} is inside ${network}/${bits}, not its start): did you mean ${network}/${bits}?`);
    }
    for (const [cidr, what] of NOT_UNICAST) {
        const block = ipaddr.IPv4.parseCIDR(cidr);
        // Two aligned networks overlap when one holds the other's first address.
        if (network.match(block) || block[0].match(network, bits)) {
            return fail(`overlaps ${cidr} (${what}), which is not unicast space overlay subnets can use: ${POOL_RULE}`);
        }
    }
    return { ok: true, value: { network, bits, text } };
}

/** The pool the swarm will use: the configured one, or Docker's default. */
export function effectivePool(pool: Pool | undefined): Pool {
    if (pool) return pool;
    const [network, bits] = ipaddr.IPv4.parseCIDR(DOCKER_DEFAULT_POOL);
    return { network, bits, text: DOCKER_DEFAULT_POOL };
}

/** Does the pool hold this address? (Only IPv4 addresses can be in an IPv4 pool.) */
export function poolHolds(pool: Pool, address: ParsedAddress): boolean {
    return address.kind === "ip" && address.ip.kind() === "ipv4" && address.ip.match(pool.network, pool.bits);
}
