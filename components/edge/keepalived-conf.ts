/**
 * The edge tier's keepalived.conf: typed input in, config text out, no Pulumi inside.
 *
 * keepalived 2.2.7 (Debian bookworm) runs in a container on each edge node with host
 * networking and NET_ADMIN, NET_BROADCAST and NET_RAW, as `keepalived -n -l -P -f <file>`
 * (foreground, log to the console, VRRP only: no IPVS). It moves one virtual IP between the
 * edge nodes, to a node whose HAProxy can reach an app server. Why each value that is not
 * keepalived's default was chosen is said in a comment next to it, in the rendered text.
 */
import { readAddress, sameAddress, type ParsedAddress } from "../config/addresses";

/** Everything keepalived.conf depends on. */
export interface KeepalivedConfigInput {
    /**
     * The edge node's name: keepalived's `router_id`, which names this node in its logs.
     * @example "manager-1"
     */
    routerId: string;
    /**
     * The VRRP group (1-255), the same on every edge node and different from any other VRRP
     * group on the network: it also sets the VIP's virtual MAC.
     * @example 42
     */
    virtualRouterId: number;
    /**
     * The host interface on the edge nodes' network, where the VIP is added and adverts go.
     * @example "eth0"
     */
    interface: string;
    /**
     * The virtual IP clients connect to: a free address on the edge nodes' network.
     * @example "198.18.42.100"
     */
    vip: string;
    /**
     * The prefix length of the edge nodes' network, given to the VIP. It must match the nodes'
     * own (a mismatch adds a wrong route on the VIP holder).
     * @example 24
     */
    vipPrefixLength: number;
    /**
     * This node's VRRP priority (1-254; 255 is reserved for an owner of the address). Higher
     * wins an election; with `nopreempt` it only decides who takes the VIP when nobody holds it.
     * @example 150 // 100 on the other edge node
     */
    priority: number;
    /**
     * This node's address on that network: the source of its adverts (`unicast_src_ip`).
     * @example "198.18.42.11"
     */
    selfAddress: string;
    /**
     * The other edge nodes' addresses on that network: adverts go to each by unicast.
     * @example ["198.18.42.12"]
     */
    peerAddresses: string[];
    /**
     * Seconds between adverts (VRRPv3: 0.01 to 40.95, in hundredths). A backup takes over
     * after about 3 × this when the master goes silent.
     * @example 0.5
     */
    advertIntervalSeconds: number;
    /**
     * The URL of this node's HAProxy health endpoint (haproxy.cfg's `/healthz`), polled every
     * second with curl; two failures in a row give the VIP up.
     * @example "http://198.18.42.11:8405/healthz"
     */
    healthUrl: string;
    /**
     * A script keepalived runs, as root, at every state change (with GROUP|INSTANCE, the
     * instance's name, its new state and priority): swarm-ha's writes whether this node holds the
     * VIP for node-exporter. An absolute path owned by root and writable by nobody else
     * (enable_script_security). Absent: none.
     * @example "/usr/local/bin/swarm-ha-vrrp-state"
     */
    notifyScript?: string;
}

/**
 * Where keepalived.conf includes the edge nodes' part from (`renderKeepalivedPeers`): a file in a
 * Docker volume of the node, mounted read-only into the container. The Docker config, and
 * with it the service, stays the same when edge nodes come and go; the file is rewritten and
 * keepalived reloads it on SIGHUP, keeping its state (a holder keeps the VIP).
 */
export const KEEPALIVED_PEERS_DIR = "/etc/keepalived/swarm-ha";
export const KEEPALIVED_PEERS_FILE = `${KEEPALIVED_PEERS_DIR}/peers.conf`;

/**
 * The user keepalived runs the health check as: curl needs no privilege, and the container has
 * NET_ADMIN on the host's network. `nobody` exists in every Debian image (base-passwd), and
 * keepalived refuses a `script_user` that does not exist.
 */
export const KEEPALIVED_SCRIPT_USER = "nobody";

/** The health check's command; an absolute path, as enable_script_security wants. */
export const CURL_PATH = "/usr/bin/curl";

/** A name keepalived reads as one word. */
const ROUTER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** A Linux interface name: at most 15 characters, none of them '/', ':' or a space. */
const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;
/** A URL curl takes as one argument and keepalived's parser leaves alone (no spaces, quotes, '#', '!', '$'). */
const SAFE_URL = /^https?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~/-]*)?$/;

/**
 * Renders keepalived.conf for one edge node: everything but what depends on the other edge
 * nodes, which it includes from `peersFile` (`renderKeepalivedPeers`'s text).
 *
 * Throws when an input would make a broken or unsafe file, naming every field at fault: ids and
 * priorities out of range, the VIP equal to a node's address, names keepalived would
 * split or parse as syntax.
 */
export function renderKeepalivedConfig(input: KeepalivedConfigInput, peersFile: string = KEEPALIVED_PEERS_FILE): string {
    const { vip, advert } = validate(input);
    const { routerId, virtualRouterId, interface: dev, vipPrefixLength, healthUrl } = input;
    const lines = [
        `# keepalived.conf of edge node ${routerId}, rendered by swarm-ha (components/edge/keepalived-conf.ts): change it there.`,
        ``,
        `global_defs {`,
        `    router_id ${routerId}`,
        `    # Sub-second adverts need VRRPv3 (version 2 rounds advert_int to whole seconds).`,
        `    vrrp_version 3`,
        `    # Scripts run as an unprivileged user, and only from paths no other user can write.`,
        `    enable_script_security`,
        `    script_user ${KEEPALIVED_SCRIPT_USER}`,
        `}`,
        ``,
        `# HAProxy's /healthz answers 503 when no app server is up, and nothing when HAProxy is down or stopping.`,
        `vrrp_script chk_haproxy {`,
        `    script "${CURL_PATH} -fsm1 ${healthUrl}"`,
        `    interval 1`,
        `    fall 2`,
        `    rise 2`,
        `    # Failed until it passes: a starting node proves its HAProxy healthy before it may take the VIP.`,
        `    init_fail`,
        `    # Weight 0: a failing check puts the instance in FAULT, which releases the VIP at once,`,
        `    # whatever the priorities.`,
        `    weight 0`,
        `}`,
        ``,
        `vrrp_instance edge {`,
        `    # Every node starts as BACKUP and, with nopreempt, a returning node with a higher priority`,
        `    # leaves the VIP where it is: one move per failure, not two.`,
        `    state BACKUP`,
        `    nopreempt`,
        `    interface ${dev}`,
        `    virtual_router_id ${virtualRouterId}`,
        `    advert_int ${advert}`,
        `    # This node's priority and its peers: they change with the edge nodes, so they live in a`,
        `    # file of the node's that an update rewrites, then reloads keepalived (SIGHUP) with no restart.`,
        `    include ${peersFile}`,
        `    virtual_ipaddress {`,
        `        ${vip.ip.toString()}/${vipPrefixLength} dev ${dev}`,
        `    }`,
        `    track_script {`,
        `        chk_haproxy`,
        `    }`,
        ...(input.notifyScript
            ? [`    # Every state change (MASTER, BACKUP, FAULT, STOP) is written for monitoring: who holds the VIP.`, `    notify ${input.notifyScript} root`]
            : []),
        `}`,
    ];
    return lines.join("\n") + "\n";
}

/**
 * The part of one edge node's keepalived.conf that depends on the other edge nodes, included
 * inside its `vrrp_instance`: its priority, and its unicast peers. Validated as the whole file.
 */
export function renderKeepalivedPeers(input: KeepalivedConfigInput): string {
    const { self, peers } = validate(input);
    const lines = [
        `# The edge nodes of ${input.routerId}'s keepalived.conf, rendered by swarm-ha (components/edge/keepalived-conf.ts): change it there.`,
        `# Rewritten when edge nodes come or go; keepalived reloads it on SIGHUP, keeping the VIP where it is.`,
        `priority ${input.priority}`,
        ...(peers.length > 0
            ? [
                  `# Unicast adverts: no multicast needed on the nodes' network. No authentication: VRRPv3 has none.`,
                  `unicast_src_ip ${self.ip.toString()}`,
                  `unicast_peer {`,
                  ...peers.map((p) => `    ${p.ip.toString()}`),
                  `}`,
              ]
            : [
                  // keepalived treats a unicast block without peers as multicast (deprecated), or as a fault.
                  `# The only edge node (a test cluster, allowNonHa): it holds the VIP alone, nothing to fail over to.`,
                  `# No unicast peers, so keepalived sends multicast adverts, which nobody answers.`,
              ]),
    ];
    return lines.join("\n") + "\n";
}

interface Valid {
    vip: ParsedAddress & { kind: "ip" };
    self: ParsedAddress & { kind: "ip" };
    peers: (ParsedAddress & { kind: "ip" })[];
    /** advert_int as written: hundredths of a second, without trailing zeros. */
    advert: string;
}

function validate(input: KeepalivedConfigInput): Valid {
    const problems: string[] = [];
    const check = (field: string, ok: boolean, message: string) => {
        if (!ok) problems.push(`${field}: ${message}`);
    };
    const integer = (field: string, value: unknown, min: number, max: number, why = "") =>
        check(field, Number.isInteger(value) && (value as number) >= min && (value as number) <= max, `must be an integer from ${min} to ${max}${why} (got ${show(value)})`);
    const ip = (field: string, value: unknown, use: "advertise" | "vip"): (ParsedAddress & { kind: "ip" }) | undefined => {
        if (typeof value !== "string") {
            problems.push(`${field}: must be an IP address (got ${show(value)})`);
            return undefined;
        }
        const read = readAddress(value, use);
        if (!read.ok) {
            problems.push(`${field}: ${show(value)} ${read.message}`);
            return undefined;
        }
        return read.value.kind === "ip" ? read.value : undefined;
    };

    check("routerId", typeof input.routerId === "string" && ROUTER_ID.test(input.routerId), `must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (got ${show(input.routerId)})`);
    integer("virtualRouterId", input.virtualRouterId, 1, 255);
    check("interface", typeof input.interface === "string" && INTERFACE.test(input.interface) && !/^\.\.?$/.test(input.interface), `must be a network interface name: 1-15 letters, digits, '.', '_' or '-' (got ${show(input.interface)})`);
    integer("priority", input.priority, 1, 254, " (255 is reserved for the address owner)");

    const advertOk = typeof input.advertIntervalSeconds === "number" && input.advertIntervalSeconds >= 0.01 && input.advertIntervalSeconds <= 40.95 && isHundredths(input.advertIntervalSeconds);
    check("advertIntervalSeconds", advertOk, `must be from 0.01 to 40.95 seconds in steps of 0.01, VRRPv3's range (got ${show(input.advertIntervalSeconds)})`);

    check("healthUrl", typeof input.healthUrl === "string" && SAFE_URL.test(input.healthUrl) && parses(input.healthUrl), `must be an http(s) URL of letters, digits and '.:/_~-', e.g. http://192.0.2.11:8405/healthz (got ${show(input.healthUrl)})`);

    if (input.notifyScript !== undefined) check("notifyScript", /^\/[A-Za-z0-9._/-]+$/.test(input.notifyScript), `must be an absolute path of letters, digits and '._/-' (got ${show(input.notifyScript)})`);
    const vip = ip("vip", input.vip, "vip");
    const self = ip("selfAddress", input.selfAddress, "advertise");
    const peers: (ParsedAddress & { kind: "ip" })[] = [];
    if (!Array.isArray(input.peerAddresses)) {
        problems.push("peerAddresses: must list the other edge nodes' addresses (empty for a single edge node)");
    } else {
        input.peerAddresses.forEach((text, i) => {
            const peer = ip(`peerAddresses[${i}]`, text, "advertise");
            if (!peer) return;
            const field = `peerAddresses[${i}]: ${show(text)}`;
            if (peers.some((p) => sameAddress(p, peer))) problems.push(`${field} is listed twice`);
            else if (self && sameAddress(self, peer)) problems.push(`${field} is selfAddress; list only the other edge nodes`);
            else if (vip && sameAddress(vip, peer)) problems.push(`${field} is the vip; the VIP must be a free address that moves between the nodes`);
            else peers.push(peer);
        });
    }
    if (vip && self && sameAddress(vip, self)) problems.push(`vip: ${show(input.vip)} is selfAddress; the VIP must be a free address that moves between the nodes`);
    if (vip) {
        const otherFamily = [self, ...peers].filter((a) => a !== undefined && a.family !== vip.family);
        if (otherFamily.length) {
            problems.push(`vip: ${show(input.vip)} is IPv${vip.family} but ${otherFamily.map((a) => a!.ip.toString()).join(", ")} is not; one VRRP instance carries one address family`);
        }
        integer("vipPrefixLength", input.vipPrefixLength, 1, vip.family === 4 ? 32 : 128, ` for an IPv${vip.family} VIP`);
    } else {
        integer("vipPrefixLength", input.vipPrefixLength, 1, 128);
    }

    if (problems.length) throw new Error(`swarm-ha: keepalived.conf: cannot render:\n  ${problems.join("\n  ")}`);
    return { vip: vip!, self: self!, peers, advert: String(Math.round(input.advertIntervalSeconds * 100) / 100) };
}

function isHundredths(seconds: number): boolean {
    return Math.abs(seconds * 100 - Math.round(seconds * 100)) < 1e-9;
}

function parses(url: string): boolean {
    try {
        new URL(url);
        return true;
    } catch {
        return false;
    }
}

/** A value for an error message: strings quoted with escapes, so a newline shows as \n. */
function show(value: unknown): string {
    return value === undefined ? "nothing" : JSON.stringify(value);
}
