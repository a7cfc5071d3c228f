/**
 * The edge tier's config renderers (components/edge): the exact text for one input each, so any
 * change to the output is a deliberate diff here; the real checkers (`haproxy -c`, `keepalived -t`)
 * on the dev and lab stacks; hostile or wrong inputs refused with the field named; the stats
 * password never in the text; and a real HAProxy answering as the config says.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { startTestDns, type TestDns } from "./support/dns";
import { freePorts } from "./support/ports";
import { MAX_APP_REPLICAS } from "../components/config";
import { ADMIN_SOCKET, appServerSlots, CLIENT_KEEP_ALIVE_SECONDS, HARD_STOP_AFTER_SECONDS, renderHaproxyConfig, STOP_DRAIN_SECONDS, type HaproxyConfigInput } from "../components/edge/haproxy-cfg";
import { KEEPALIVED_SCRIPT_USER, renderKeepalivedConfig, renderKeepalivedPeers, type KeepalivedConfigInput } from "../components/edge/keepalived-conf";

let work: string;
beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-edge-"));
    // keepalived -t runs as the script user (see keepalivedCheck), who must read the files.
    fs.chmodSync(work, 0o755);
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function write(name: string, text: string): string {
    const file = path.join(work, name);
    fs.writeFileSync(file, text, { mode: 0o644 });
    return file;
}

const haproxyInput = (over: Partial<HaproxyConfigInput> = {}): HaproxyConfigInput => ({
    nodeName: "manager-1",
    appHost: "swarm-ha-app",
    appPort: 8080,
    maxAppServers: 8,
    httpPort: 80,
    tls: { port: 443, certPath: "/run/secrets/swarm-ha-edge-tls" },
    statsPort: 8404,
    statsUser: "admin",
    statsPasswordEnv: "STATS_PASSWORD",
    healthPort: 8405,
    ...over,
});

const keepalivedInput = (over: Partial<KeepalivedConfigInput> = {}): KeepalivedConfigInput => ({
    routerId: "manager-1",
    virtualRouterId: 42,
    interface: "eth0",
    vip: "192.0.2.100",
    vipPrefixLength: 24,
    priority: 150,
    selfAddress: "192.0.2.11",
    peerAddresses: ["192.0.2.12"],
    advertIntervalSeconds: 0.5,
    healthUrl: "http://192.0.2.11:8405/healthz",
    ...over,
});

const EXPECTED_HAPROXY = `# haproxy.cfg of edge node manager-1, rendered by swarm-ha (components/edge/haproxy-cfg.ts): change it there.
# The stats password is read from the environment variable STATS_PASSWORD, never written here.

global
    node manager-1
    log stdout format raw local0
    # Docker may give the container a huge open-files limit, and HAProxy sizes its tables from it
    # (docker-library/haproxy#194: gigabytes at start). Cap it; maxconn follows (about half).
    fd-hard-limit 65536
    # The service stops HAProxy with SIGUSR1. For the first 4s it keeps serving while /healthz
    # fails, so keepalived moves the VIP away before a listener closes (a stop-first update of
    # the VIP holder refused every connection until then); then the soft stop: unbind, finish
    # the requests in flight.
    grace 4s
    # Bounds the soft stop below the service's stop grace period, so a long request cannot turn
    # it into a SIGKILL.
    hard-stop-after 10s
    # Runtime API through 'docker exec' (show servers state, set server app/app1 state drain).
    # /tmp: writable by the HAProxy user of both Debian's package and the official image.
    stats socket /tmp/haproxy-admin.sock mode 600 level admin
    # An interactive session there is not cut after the default 10s of idle.
    stats timeout 1m
    # Bind the ports and read the certificates as root, then run as the haproxy user (both images
    # have it; where HAProxy already runs as that user this changes nothing).
    user haproxy
    group haproxy

# An unset or empty variable would expand to an empty password: refuse to start instead.
.if streq("\${STATS_PASSWORD}","")
    .alert "the environment variable STATS_PASSWORD (the stats password) is unset or empty"
.endif

defaults
    mode http
    log global
    option httplog
    # Connections that send nothing (port probes) are not logged.
    option dontlognull
    # Tasks are on the same overlay (a connect takes well under a millisecond). A killed task's
    # address drops SYNs silently until DNS and the checks catch up: give up on it after 500ms
    # and let the retry (redispatch) reach another task before the client loses patience.
    timeout connect 500ms
    timeout client 30s
    timeout server 30s
    # A client gets 10s to send its request headers (slowloris).
    timeout http-request 10s
    timeout http-keep-alive 5s
    # Fail fast rather than queue when every server is at its limit.
    timeout queue 5s
    # Three more attempts (the default, written out: the retry rules below count on it), each
    # on another server (the default redispatches on the last retry only).
    retries 3
    option redispatch 1
    # Besides failed connections, retry a request whose server closed or timed out without
    # answering (a task that died). Not a 503: the app answers 503 when its database is down,
    # and every other task would answer the same. Only GET and HEAD (see backend app).
    retry-on conn-failure empty-response response-timeout

# Docker's embedded DNS. The defaults keep answers 10s and retry a name with no tasks after
# 30s; a task that stops leaves DNS (Swarm removes it 2s before it stops it) and a restarted
# task gets a new IP, so re-resolve every second and retry within 2s (not less: a name with
# no tasks is forwarded upstream, and a tighter loop floods it, haproxy/haproxy#2503).
resolvers docker
    nameserver dns 127.0.0.11:53
    # The default 512 bytes holds about 30 answers; Docker's DNS honours the size announced.
    accepted_payload_size 8192
    hold valid 1s
    hold obsolete 0s
    hold nx 2s
    hold other 2s
    hold refused 2s
    hold timeout 2s
    timeout resolve 1s
    timeout retry 1s

# The password arrives in plain text from the secret file; it lives only in memory.
userlist stats_users
    user admin insecure-password "\${STATS_PASSWORD}"

frontend http
    bind :80
    # HTTP/2 must be offered explicitly on HAProxy 2.6.
    bind :443 ssl crt /run/secrets/swarm-ha-edge-tls alpn h2,http/1.1
    # 308 keeps the method and body of a POST (a 301 may turn it into a GET).
    http-request redirect scheme https code 308 unless { ssl_fc }
    http-request set-header X-Forwarded-Proto https
    # While stopping (see grace), each answer closes its connection: a client's next request
    # opens a new one, which reaches whichever node holds the VIP by then, instead of reusing
    # one to this node that the VIP's move would reset.
    http-after-response set-header Connection close if { stopping }
    # Keep-Alive is the app's, passed on: how long the app keeps HAProxy's idle connections
    # (10 minutes). Clients read it as this edge's and reused connections it had closed after
    # 5s, failing their next request. Say the edge's own. (HTTP/2 drops the header.)
    http-after-response set-header Keep-Alive timeout=5
    default_backend app

backend app
    option forwardfor
    option httpchk GET /health/ready
    http-check expect status 200
    # A retry resends the request: safe only when it changes nothing. METH_GET matches GET and
    # HEAD, so a POST, PUT or DELETE is never sent twice.
    http-request disable-l7-retry if !METH_GET
    # Check every second (every 500ms while changing state); 2 failures take a task out, 2
    # successes put it back, ramping its weight over 2s. 3 failed connections in a row for real
    # requests take it out at once (connections only: a 503 for a database that is down is an
    # answer, not a broken task). Addresses come from DNS only (init-addr none: start with
    # the slots down rather than refuse to start when the app has no task yet), IPv4 first
    # (the default prefers IPv6; the stack's overlay networks are IPv4).
    default-server inter 1s fastinter 500ms fall 2 rise 2 slowstart 2s observe layer4 error-limit 3 on-error mark-down resolvers docker resolve-prefer ipv4 init-addr none
    # tasks.<service> lists one address per healthy task whatever the service's endpoint mode
    # (the bare name is a single virtual IP unless the service uses dnsrr).
    server-template app 1-8 tasks.swarm-ha-app:8080 check

frontend stats
    bind :8404
    http-request auth realm swarm-ha unless { http_auth(stats_users) }
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /stats
    stats show-node

# keepalived's track script: the VIP stays only where HAProxy can reach an app server and is
# not stopping.
# /alive answers while HAProxy runs at all: the container's health check (a proxy with no
# app server up is not broken, and restarting it would not help).
frontend health
    bind :8405
    monitor-uri /healthz
    monitor fail if { nbsrv(app) lt 1 } || { stopping }
    http-request return status 200 content-type text/plain string "alive" if { path /alive }
`;

const EXPECTED_KEEPALIVED = `# keepalived.conf of edge node manager-1, rendered by swarm-ha (components/edge/keepalived-conf.ts): change it there.

global_defs {
    router_id manager-1
    # Sub-second adverts need VRRPv3 (version 2 rounds advert_int to whole seconds).
    vrrp_version 3
    # Scripts run as an unprivileged user, and only from paths no other user can write.
    enable_script_security
    script_user nobody
}

# HAProxy's /healthz answers 503 when no app server is up, and nothing when HAProxy is down or stopping.
vrrp_script chk_haproxy {
    script "/usr/bin/curl -fsm1 http://192.0.2.11:8405/healthz"
    interval 1
    fall 2
    rise 2
    # Failed until it passes: a starting node proves its HAProxy healthy before it may take the VIP.
    init_fail
    # Weight 0: a failing check puts the instance in FAULT, which releases the VIP at once,
    # whatever the priorities.
    weight 0
}

vrrp_instance edge {
    # Every node starts as BACKUP and, with nopreempt, a returning node with a higher priority
    # leaves the VIP where it is: one move per failure, not two.
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 42
    advert_int 0.5
    # This node's priority and its peers: they change with the edge nodes, so they live in a
    # file of the node's that an update rewrites, then reloads keepalived (SIGHUP) with no restart.
    include /etc/keepalived/swarm-ha/peers.conf
    virtual_ipaddress {
        192.0.2.100/24 dev eth0
    }
    track_script {
        chk_haproxy
    }
}
`;

const EXPECTED_KEEPALIVED_PEERS = `# The edge nodes of manager-1's keepalived.conf, rendered by swarm-ha (components/edge/keepalived-conf.ts): change it there.
# Rewritten when edge nodes come or go; keepalived reloads it on SIGHUP, keeping the VIP where it is.
priority 150
# Unicast adverts: no multicast needed on the nodes' network. No authentication: VRRPv3 has none.
unicast_src_ip 192.0.2.11
unicast_peer {
    192.0.2.12
}
`;

describe("exact output", () => {
    test.each([
        ["haproxy.cfg (dev stack, manager-1, TLS)", () => renderHaproxyConfig(haproxyInput()), EXPECTED_HAPROXY],
        ["keepalived.conf (dev stack, manager-1)", () => renderKeepalivedConfig(keepalivedInput()), EXPECTED_KEEPALIVED],
        ["keepalived's peers file (dev stack, manager-1)", () => renderKeepalivedPeers(keepalivedInput()), EXPECTED_KEEPALIVED_PEERS],
    ])("%s", (_name, render, expected) => {
        expect(render()).toBe(expected);
    });

    test("without TLS, haproxy.cfg loses the TLS listener and redirect, and tells the app it was plain HTTP", () => {
        const withTls = EXPECTED_HAPROXY.split("\n");
        const without = renderHaproxyConfig(haproxyInput({ tls: undefined })).split("\n");
        expect(withTls.filter((l) => !without.includes(l))).toEqual([
            "    # HTTP/2 must be offered explicitly on HAProxy 2.6.",
            "    bind :443 ssl crt /run/secrets/swarm-ha-edge-tls alpn h2,http/1.1",
            "    # 308 keeps the method and body of a POST (a 301 may turn it into a GET).",
            "    http-request redirect scheme https code 308 unless { ssl_fc }",
            "    http-request set-header X-Forwarded-Proto https",
        ]);
        expect(without.filter((l) => !withTls.includes(l))).toEqual(["    http-request set-header X-Forwarded-Proto http"]);
    });

    test("addresses are written in one canonical form, and every peer gets a line", () => {
        const input = keepalivedInput({ vip: "2001:DB8::100", vipPrefixLength: 64, selfAddress: "2001:db8:0::11", peerAddresses: ["2001:db8::12", "2001:db8::13"], advertIntervalSeconds: 1, healthUrl: "http://[2001:db8::11]:8405/healthz" });
        const text = renderKeepalivedConfig(input);
        expect(renderKeepalivedPeers(input)).toContain("\nunicast_src_ip 2001:db8::11\nunicast_peer {\n    2001:db8::12\n    2001:db8::13\n}\n");
        expect(text).toContain("        2001:db8::100/64 dev eth0\n");
        expect(text).toContain("    advert_int 1\n");
    });
});

// ---------------------------------------------------------------------------------------------
// The real checkers.

/** Stands in for the secret while HAProxy checks: the config refuses an empty password. */
const CHECK_PASSWORD = "checker-only";

/** `haproxy -c` in zero-warning mode (-dW): prints "Configuration file is valid" and nothing else, or the reason. */
function haproxyCheck(file: string, env: NodeJS.ProcessEnv = { ...process.env, STATS_PASSWORD: CHECK_PASSWORD }): string {
    const r = spawnSync("haproxy", ["-dW", "-c", "-f", file], { encoding: "utf8", env });
    if (r.error) throw new Error(`haproxy is not installed (bash test/tools.sh installs it): ${r.error.message}`);
    return `exit ${r.status}\n${r.stdout}${r.stderr}`;
}

/**
 * `keepalived -t` on `file`, as keepalived 2.2.7 needs it to mean anything:
 * - It prints each problem it finds (error or warning) as a line on stderr, "(<file>: Line <n>)
 *   <message>", and then exits 5; but a file it cannot find is one line and exit 0. So a pass is
 *   exit 0 AND no output.
 * - It must run as the script user. As root, 2.2.7 kills itself with SIGTERM (exit 143) while it
 *   checks a script that runs as another user, whatever the file says (fixed in 2.2.8,
 *   acassen/keepalived aae8e910); as any other user it finds the script "insecure".
 * - The interface must exist, so it runs in a network namespace of its own with a veth of that
 *   name, as on an edge node, whatever this machine's interfaces are; the machine's network is
 *   not touched.
 */
function keepalivedCheck(file: string, iface: string): string {
    if (process.getuid?.() !== 0) {
        throw new Error("keepalived -t must run as the script user in a network namespace of its own: run this test as root (as npm test runs in CI)");
    }
    const script = `ip link add "$1" type veth peer name swarmha-peer && exec setpriv --reuid="$2" --regid="$(id -g "$2")" --clear-groups keepalived -t -f "$3"`;
    const r = spawnSync("unshare", ["--net", "sh", "-c", script, "sh", iface, KEEPALIVED_SCRIPT_USER, file], { encoding: "utf8" });
    if (r.error) throw new Error(`cannot run keepalived -t: ${r.error.message}`);
    return `exit ${r.status}${r.signal ? ` (${r.signal})` : ""}\n${r.stdout}${r.stderr}`;
}

/** A throwaway self-signed certificate and key in one PEM, as HAProxy's `crt` wants. */
function selfSignedPem(): string {
    const key = path.join(work, "tls.key");
    const crt = path.join(work, "tls.crt");
    const r = spawnSync(
        "openssl",
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=swarm-ha.test", "-keyout", key, "-out", crt],
        { encoding: "utf8" },
    );
    if (r.error || r.status !== 0) throw new Error(`openssl could not make a test certificate: ${r.error?.message ?? r.stderr}`);
    return write("tls.pem", fs.readFileSync(crt, "utf8") + fs.readFileSync(key, "utf8"));
}

/** The two stacks with edge nodes: Pulumi.dev.yaml and Pulumi.lab.yaml. */
const STACKS = [
    { stack: "dev", vip: "192.0.2.100", edges: [{ name: "manager-1", ip: "192.0.2.11" }, { name: "manager-2", ip: "192.0.2.12" }] },
    { stack: "lab", vip: "198.18.42.100", edges: [{ name: "lab-m1", ip: "198.18.42.11" }, { name: "lab-m2", ip: "198.18.42.12" }] },
];
const EDGE_NODES = STACKS.flatMap(({ stack, vip, edges }) =>
    edges.map((self, i) => ({ stack, vip, self, peers: edges.filter((e) => e !== self).map((e) => e.ip), priority: i === 0 ? 150 : 100 })),
);

describe("the real checkers accept what swarm-ha renders", () => {
    let certPath: string;
    beforeAll(() => {
        certPath = selfSignedPem();
    });

    test.each(EDGE_NODES)("$stack stack, $self.name: haproxy -c with and without TLS", ({ stack, self }) => {
        for (const tls of [false, true]) {
            const text = renderHaproxyConfig(haproxyInput({ nodeName: self.name, tls: tls ? { port: 443, certPath } : undefined }));
            const file = write(`haproxy-${stack}-${self.name}-${tls ? "tls" : "plain"}.cfg`, text);
            expect(`${path.basename(file)}: ${haproxyCheck(file)}`).toBe(`${path.basename(file)}: exit 0\nConfiguration file is valid\n`);
        }
    });

    test("server slots: two per app task, rounded up to a multiple of 8", () => {
        expect([1, 2, 3, 4, 5, 8, 9, MAX_APP_REPLICAS].map(appServerSlots)).toEqual([8, 8, 8, 8, 16, 16, 24, 2 * MAX_APP_REPLICAS]);
    });

    test("the most app replicas the config check accepts: their server slots render, and haproxy -c takes them; one more does not render", () => {
        const text = renderHaproxyConfig(haproxyInput({ maxAppServers: appServerSlots(MAX_APP_REPLICAS), tls: undefined }));
        expect(text).toContain(`server-template app 1-${2 * MAX_APP_REPLICAS} `);
        const file = write("haproxy-most-replicas.cfg", text);
        expect(haproxyCheck(file)).toBe("exit 0\nConfiguration file is valid\n");
        expect(() => renderHaproxyConfig(haproxyInput({ maxAppServers: 2 * (MAX_APP_REPLICAS + 1) }))).toThrow(/maxAppServers: must be an integer from 1 to 1000/);
    });

    test.each(EDGE_NODES)("$stack stack, $self.name: keepalived -t, with its peers file included", ({ stack, vip, self, peers, priority }) => {
        const input = keepalivedInput({ routerId: self.name, vip, selfAddress: self.ip, peerAddresses: peers, priority, healthUrl: `http://${self.ip}:8405/healthz` });
        const peersFile = write(`keepalived-${stack}-${self.name}-peers.conf`, renderKeepalivedPeers(input));
        const file = write(`keepalived-${stack}-${self.name}.conf`, renderKeepalivedConfig(input, peersFile));
        expect(`${path.basename(file)}: ${keepalivedCheck(file, "eth0")}`).toBe(`${path.basename(file)}: exit 0\n`);
        // The include is read: a typo in the peers file fails the check.
        write(`keepalived-${stack}-${self.name}-peers.conf`, renderKeepalivedPeers(input).replace("unicast_peer {", "unicast_peers {"));
        expect(keepalivedCheck(file, "eth0")).toMatch(/^exit 5\n.*Unknown keyword 'unicast_peers'/);
    });

    test("a single edge node (a test cluster): keepalived -t, and no unicast block without peers", () => {
        const input = keepalivedInput({ peerAddresses: [] });
        const peers = renderKeepalivedPeers(input);
        expect(peers).not.toMatch(/unicast_src_ip|unicast_peer/);
        expect(peers).toContain("# The only edge node (a test cluster, allowNonHa): it holds the VIP alone");
        const file = write("keepalived-single.conf", renderKeepalivedConfig(input, write("keepalived-single-peers.conf", peers)));
        expect(keepalivedCheck(file, "eth0")).toBe("exit 0\n");
    });

    test("each check fails on a broken file, so a pass above means something", () => {
        const good = renderHaproxyConfig(haproxyInput({ tls: undefined }));
        const typo = write("haproxy-typo.cfg", good.replace("option httplog", "option http-log"));
        expect(haproxyCheck(typo)).toMatch(/^exit 1\n[\s\S]*\[ALERT\].*unknown option 'http-log'/);
        // Only a warning (a rule HAProxy would run in another order than written): -dW fails it.
        const warning = write("haproxy-warning.cfg", good.replace("    default_backend app\n", "    default_backend app\n    use_backend app if TRUE\n    http-request deny if FALSE\n"));
        expect(haproxyCheck(warning)).toMatch(/^exit 1\n[\s\S]*\[WARNING\][\s\S]*http-request/);
        // No password in the environment: HAProxy refuses to start rather than accept an empty one.
        const plain = write("haproxy-plain.cfg", good);
        const { STATS_PASSWORD: _unused, ...noPassword } = process.env;
        expect(haproxyCheck(plain, noPassword)).toMatch(/^exit 1\n[\s\S]*\[ALERT\].*'the environment variable STATS_PASSWORD \(the stats password\) is unset or empty'/);

        const conf = renderKeepalivedConfig(keepalivedInput(), write("keepalived-checked-peers.conf", renderKeepalivedPeers(keepalivedInput())));
        // An include that is not there: one line and exit 0, which a pass (exit 0, no output) is not.
        expect(keepalivedCheck(write("keepalived-no-peers.conf", renderKeepalivedConfig(keepalivedInput(), "/nonexistent/peers.conf")), "eth0")).toMatch(/^exit 0\n\(Line \d+\) Config files missing '\/nonexistent\/peers\.conf'\.\n$/);
        expect(keepalivedCheck(write("keepalived-typo.conf", conf.replace("    nopreempt\n", "    nopreemt\n")), "eth0")).toMatch(/^exit 5\n.*Line \d+\) Unknown keyword 'nopreemt'/);
        expect(keepalivedCheck(write("keepalived-eth0.conf", conf), "ens3")).toMatch(/interface eth0 for vrrp_instance edge doesn't exist/);
    });
});

// ---------------------------------------------------------------------------------------------
// Inputs the renderers refuse.

describe("hostile or wrong inputs are refused, naming the field", () => {
    test.each<[string, Partial<HaproxyConfigInput>]>([
        ["nodeName", { nodeName: "manager 1" }],
        ["nodeName", { nodeName: "manager-1\n    stats admin if TRUE" }],
        ["nodeName", { nodeName: "manager.1" }],
        ["appHost", { appHost: 'app" crt /etc/shadow' }],
        ["appHost", { appHost: "app\nbackend evil" }],
        ["appHost", { appHost: "" }],
        ["appPort", { appPort: 0 }],
        ["appPort", { appPort: 65536 }],
        ["appPort", { appPort: 80.5 }],
        ["maxAppServers", { maxAppServers: 0 }],
        ["maxAppServers", { maxAppServers: 1001 }],
        ["httpPort", { httpPort: -80 }],
        ["httpPort", { httpPort: NaN }],
        ["tls.port", { tls: { port: 80, certPath: "/run/secrets/tls" } }],
        ["tls.certPath", { tls: { port: 443, certPath: "secrets/tls.pem" } }],
        ["tls.certPath", { tls: { port: 443, certPath: "/run/secrets/my cert.pem" } }],
        ["tls.certPath", { tls: { port: 443, certPath: "/run/secrets/../../etc/shadow" } }],
        ["statsPort", { statsPort: 70000 }],
        ["statsUser", { statsUser: "ad:min" }],
        ["statsUser", { statsUser: 'admin" insecure-password "x' }],
        ["statsPasswordEnv", { statsPasswordEnv: "${STATS_PASSWORD}" }],
        ["statsPasswordEnv", { statsPasswordEnv: "1PASSWORD" }],
        ["healthPort", { healthPort: 8404 }],
    ])("haproxy.cfg: %s %j", (field, over) => {
        expect(() => renderHaproxyConfig(haproxyInput(over))).toThrow(new RegExp(`^swarm-ha: haproxy\\.cfg: cannot render:\\n  (.*\\n  )*${escape(field)}: `));
    });

    test.each<[string, Partial<KeepalivedConfigInput>]>([
        ["routerId", { routerId: "edge 1" }],
        ["routerId", { routerId: "edge-1\n}\nvrrp_instance evil {" }],
        ["virtualRouterId", { virtualRouterId: 0 }],
        ["virtualRouterId", { virtualRouterId: 256 }],
        ["interface", { interface: "eth0 dev lo" }],
        ["interface", { interface: "a-very-long-name0" }],
        ["interface", { interface: "eth0}" }],
        ["vip", { vip: "192.0.2.11" }],
        ["vip", { vip: "192.0.2.300" }],
        ["vip", { vip: "vip.example.com" }],
        ["vip", { vip: "2001:db8::100", vipPrefixLength: 64 }],
        ["vipPrefixLength", { vipPrefixLength: 33 }],
        ["vipPrefixLength", { vipPrefixLength: 0 }],
        ["priority", { priority: 0 }],
        ["priority", { priority: 255 }],
        ["selfAddress", { selfAddress: "192.0.2.11\n" }],
        ["selfAddress", { selfAddress: "127.0.0.1" }],
        ["peerAddresses[0]", { peerAddresses: ["192.0.2.11"] }],
        ["peerAddresses[1]", { peerAddresses: ["192.0.2.12", "192.0.2.12"] }],
        ["peerAddresses[0]", { peerAddresses: ["192.0.2.100"] }],
        ["peerAddresses[0]", { peerAddresses: ["192.0.2.12 }"] }],
        ["advertIntervalSeconds", { advertIntervalSeconds: 0 }],
        ["advertIntervalSeconds", { advertIntervalSeconds: 0.005 }],
        ["advertIntervalSeconds", { advertIntervalSeconds: 0.125 }],
        ["advertIntervalSeconds", { advertIntervalSeconds: 41 }],
        ["healthUrl", { healthUrl: 'http://192.0.2.11:8405/healthz"; rm -rf /; "' }],
        ["healthUrl", { healthUrl: "http://192.0.2.11:8405/healthz # comment" }],
        ["healthUrl", { healthUrl: "ftp://192.0.2.11/healthz" }],
        ["healthUrl", { healthUrl: "http://$HOST/healthz" }],
    ])("keepalived.conf: %s %j", (field, over) => {
        expect(() => renderKeepalivedConfig(keepalivedInput(over))).toThrow(new RegExp(`^swarm-ha: keepalived\\.conf: cannot render:\\n  (.*\\n  )*${escape(field)}: `));
    });

    test("every problem is listed at once", () => {
        expect(() => renderKeepalivedConfig(keepalivedInput({ priority: 0, virtualRouterId: 0, peerAddresses: ["192.0.2.11"] }))).toThrow(
            "swarm-ha: keepalived.conf: cannot render:\n" +
                "  virtualRouterId: must be an integer from 1 to 255 (got 0)\n" +
                "  priority: must be an integer from 1 to 254 (255 is reserved for the address owner) (got 0)\n" +
                '  peerAddresses[0]: "192.0.2.11" is selfAddress; list only the other edge nodes',
        );
        expect(() => renderHaproxyConfig(haproxyInput({ httpPort: 8405, appPort: 0 }))).toThrow(
            "swarm-ha: haproxy.cfg: cannot render:\n" +
                "  appPort: must be an integer from 1 to 65535 (got 0)\n" +
                "  healthPort: 8405 is also httpPort; each listener needs its own port",
        );
    });
});

function escape(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---------------------------------------------------------------------------------------------
// The stats password.

describe("the stats password", () => {
    test("never appears in haproxy.cfg: only the variable HAProxy expands does", () => {
        const password = "s3cret-Passw0rd";
        const saved = process.env.STATS_PASSWORD;
        process.env.STATS_PASSWORD = password; // the renderer must not read it, even when it is there
        try {
            const text = renderHaproxyConfig(haproxyInput({ statsPasswordEnv: "STATS_PASSWORD" }));
            expect(text).not.toContain(password);
            expect(text.match(/\$\{[^}]*\}/g)).toEqual(["${STATS_PASSWORD}", "${STATS_PASSWORD}"]);
            expect(text).toContain('    user admin insecure-password "${STATS_PASSWORD}"\n');
        } finally {
            if (saved === undefined) delete process.env.STATS_PASSWORD;
            else process.env.STATS_PASSWORD = saved;
        }
    });

    test("an error about its variable's name does not echo the value (it may be the password, given by mistake)", () => {
        expect(() => renderHaproxyConfig(haproxyInput({ statsPasswordEnv: "hunter2 correct horse" }))).toThrow(/statsPasswordEnv: .*\(got another value, not shown\)$/);
        try {
            renderHaproxyConfig(haproxyInput({ statsPasswordEnv: "hunter2 correct horse" }));
        } catch (e) {
            expect((e as Error).message).not.toContain("hunter2");
        }
    });
});

// ---------------------------------------------------------------------------------------------
// A real HAProxy running the rendered file.


interface Reply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

function get(url: string, options: { auth?: string; host?: string; method?: string } = {}): Promise<Reply> {
    const client = url.startsWith("https:") ? https : http;
    return new Promise((resolve, reject) => {
        const req = client.request(
            url,
            { method: options.method ?? "GET", auth: options.auth, headers: options.host ? { host: options.host } : {}, rejectUnauthorized: false, timeout: 3000 },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (chunk) => (body += chunk));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
            },
        );
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`${url}: no answer within 3s`)));
        req.end();
    });
}

/** Polls `check` every 100 ms until it holds; fails with `why` after `withinMs`. */
async function until(check: () => Promise<boolean>, withinMs: number, why: string): Promise<void> {
    const deadline = Date.now() + withinMs;
    while (!(await check())) {
        if (Date.now() > deadline) throw new Error(why);
        await new Promise((r) => setTimeout(r, 100));
    }
}

describe("a real HAProxy serves the rendered file as it says", () => {
    const password = "live-test-password";
    let haproxy: ChildProcess | undefined;
    let output = "";
    let ports: { http: number; https: number; stats: number; health: number };
    // Docker's DNS stands in on loopback: it knows no app task until a test says so.
    let dns: TestDns;
    // The app's one task, once DNS names it. It keeps idle connections 10 minutes, as the
    // demo app does (its Keep-Alive header says so).
    const app = http.createServer((_req, res) => res.end("app"));
    app.keepAliveTimeout = 600_000;

    beforeAll(async () => {
        const [h, s, st, he] = await freePorts(4);
        ports = { http: h, https: s, stats: st, health: he };
        dns = await startTestDns();
        await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
        const text = renderHaproxyConfig(
            haproxyInput({
                nodeName: "live-edge",
                appHost: "live-app",
                appPort: (app.address() as net.AddressInfo).port,
                httpPort: h,
                tls: { port: s, certPath: selfSignedPem() },
                statsPort: st,
                healthPort: he,
            }),
        );
        // The two changes: the runtime API's socket goes into the test's directory, and DNS to the
        // test's server.
        expect(text).toContain(ADMIN_SOCKET);
        expect(text).toContain("nameserver dns 127.0.0.11:53\n");
        const file = write("haproxy-live.cfg", text.replace(ADMIN_SOCKET, path.join(work, "admin.sock")).replace("127.0.0.11:53", `127.0.0.1:${dns.port}`));
        // Master-worker mode, as the image's entrypoint runs it.
        haproxy = spawn("haproxy", ["-W", "-db", "-f", file], { env: { ...process.env, STATS_PASSWORD: password }, stdio: ["ignore", "pipe", "pipe"] });
        haproxy.stdout!.on("data", (d) => (output += d));
        haproxy.stderr!.on("data", (d) => (output += d));
        const deadline = Date.now() + 5000;
        for (;;) {
            try {
                await get(`http://127.0.0.1:${he}/healthz`);
                return;
            } catch (e) {
                if (haproxy.exitCode !== null || Date.now() > deadline) throw new Error(`HAProxy did not start: ${(e as Error).message}\n${output}`);
                await new Promise((r) => setTimeout(r, 50));
            }
        }
    });

    afterAll(async () => {
        if (haproxy && haproxy.exitCode === null) {
            const exited = new Promise((r) => haproxy!.once("exit", r));
            haproxy.kill("SIGTERM");
            await exited;
        }
        app.close();
        await dns?.close();
    });

    test("/healthz answers 503 while no app server is up (keepalived then gives the VIP up); /alive answers 200 all the same", async () => {
        expect((await get(`http://127.0.0.1:${ports.health}/healthz`)).status).toBe(503);
        expect((await get(`http://127.0.0.1:${ports.health}/alive`)).status).toBe(200);
    });

    test("/stats and /metrics need the password from the environment; /metrics is Prometheus text", async () => {
        const stats = `http://127.0.0.1:${ports.stats}`;
        const anonymous = await get(`${stats}/stats`);
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers["www-authenticate"]).toBe('Basic realm="swarm-ha"');
        expect((await get(`${stats}/stats`, { auth: "admin:wrong" })).status).toBe(401);
        expect((await get(`${stats}/metrics`)).status).toBe(401);
        expect((await get(`${stats}/stats`, { auth: "admin:" })).status).toBe(401);

        const page = await get(`${stats}/stats`, { auth: `admin:${password}` });
        expect(page.status).toBe(200);
        expect(page.body).toContain("live-edge"); // stats show-node: the page names the node
        const metrics = await get(`${stats}/metrics`, { auth: `admin:${password}` });
        expect(metrics.status).toBe(200);
        expect(metrics.body).toMatch(/^haproxy_backend_active_servers\{proxy="app"\} 0$/m);
    });

    test("plain HTTP is redirected to HTTPS on the same host and path, keeping the method (308)", async () => {
        for (const method of ["GET", "POST"]) {
            const r = await get(`http://127.0.0.1:${ports.http}/orders?id=7`, { host: "shop.example", method });
            expect(`${method} ${r.status} ${r.headers.location}`).toBe(`${method} 308 https://shop.example/orders?id=7`);
        }
        // HTTPS itself is served (503: no app server here).
        expect((await get(`https://127.0.0.1:${ports.https}/orders`)).status).toBe(503);
    });

    test("every answer tells the client how long the edge keeps its idle connection (timeout=5), not how long the app keeps the edge's", async () => {
        dns.records.set("tasks.live-app", ["127.0.0.1"]);
        await until(async () => (await get(`http://127.0.0.1:${ports.health}/healthz`)).status === 200, 10_000, `/healthz never answered 200 with an app server up\n${output}`);
        const served = await get(`https://127.0.0.1:${ports.https}/orders`);
        const redirect = await get(`http://127.0.0.1:${ports.http}/orders`);
        expect([served, redirect].map((r) => `${r.status} ${r.headers["keep-alive"]}`)).toEqual([`200 timeout=${CLIENT_KEEP_ALIVE_SECONDS}`, `308 timeout=${CLIENT_KEEP_ALIVE_SECONDS}`]);
        expect(renderHaproxyConfig(haproxyInput())).toContain(`timeout http-keep-alive ${CLIENT_KEEP_ALIVE_SECONDS}s\n`);
    });

    test("SIGUSR1 (the service's stop signal): /healthz fails at once, requests are served (closing their connections) for the grace, then it stops", async () => {
        dns.records.set("tasks.live-app", ["127.0.0.1"]);
        // Up after its first checks (rise 2): /healthz says so, and the app is served.
        await until(async () => (await get(`http://127.0.0.1:${ports.health}/healthz`)).status === 200, 10_000, `/healthz never answered 200 with an app server up\n${output}`);
        const before = await get(`https://127.0.0.1:${ports.https}/orders`);
        // HTTP/1.1 keeps the connection open unless a "Connection: close" says otherwise.
        expect(`${before.status} ${before.body} ${before.headers.connection ?? "(no Connection header)"}`).toBe("200 app (no Connection header)");

        const exited = new Promise<number | null>((r) => haproxy!.once("exit", (code) => r(code)));
        const stoppedAt = Date.now();
        haproxy!.kill("SIGUSR1");
        await until(async () => (await get(`http://127.0.0.1:${ports.health}/healthz`)).status === 503, 1000, "/healthz still answered 200 a second after SIGUSR1");
        // Still serving, well into the grace: each answer closes its connection.
        await new Promise((r) => setTimeout(r, (STOP_DRAIN_SECONDS - 1) * 1000 - (Date.now() - stoppedAt)));
        const during = await get(`https://127.0.0.1:${ports.https}/orders`);
        expect(`${during.status} ${during.body} ${during.headers.connection}`).toBe("200 app close");
        expect((await get(`http://127.0.0.1:${ports.health}/alive`)).status).toBe(200);
        // Then the soft stop: the listeners close at the end of the grace...
        await new Promise((r) => setTimeout(r, STOP_DRAIN_SECONDS * 1000 + 500 - (Date.now() - stoppedAt)));
        await expect(get(`http://127.0.0.1:${ports.http}/`)).rejects.toThrow(/ECONNREFUSED/);
        // ...and it exits cleanly once the connections still open are done, within hard-stop-after,
        // inside the service's stop grace period (no SIGKILL). (HAProxy 2.6 keeps an idle
        // keep-alive connection to its timeout, and a loaded machine can leave one in flight.)
        http.globalAgent.destroy();
        https.globalAgent.destroy();
        expect(await exited).toBe(0);
        expect(Date.now() - stoppedAt).toBeLessThan((STOP_DRAIN_SECONDS + HARD_STOP_AFTER_SECONDS + 2) * 1000);
    }, 30_000);
});

// The health step's VIP check (images/keepalived/vip-check.sh), with the real arping, run in a
// network namespace as in an edge node's keepalived container: three "edge nodes" on one
// bridge, the VIP added to one, two or none of them.
describe("swarm-ha-vip-check (images/keepalived/vip-check.sh): exactly one edge node holds the VIP", () => {
    const CHECK = path.join(__dirname, "..", "images/keepalived/vip-check.sh");
    const VIP = "10.77.0.100";
    const tag = `svc${process.pid % 10000}`;
    const nodes = [1, 2, 3].map((i) => ({ ns: `${tag}-n${i}`, dev: "eth0", address: `10.77.0.${i}/24` }));
    const bridge = `${tag}-br`;
    const sh = (command: string) => {
        const r = spawnSync("sh", ["-c", command], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`${command}: ${r.stderr}`);
    };
    const check = (i: number) => {
        const r = spawnSync("ip", ["netns", "exec", nodes[i].ns, CHECK, VIP, "eth0"], { encoding: "utf8" });
        return `${r.status} ${r.stdout}${r.stderr}`.replace(/[0-9a-f]{2}(:[0-9a-f]{2}){5}/g, "MAC");
    };
    const holds = (i: number, yes: boolean) => sh(`ip -n ${nodes[i].ns} address ${yes ? "add" : "del"} ${VIP}/24 dev eth0`);

    beforeAll(() => {
        if (process.getuid?.() !== 0) throw new Error("the VIP check's test makes network namespaces: run it as root (CI does)");
        sh(`ip link add ${bridge} type bridge && ip link set ${bridge} up`);
        nodes.forEach((n, i) => {
            sh(`ip netns add ${n.ns} && ip link add ${tag}-v${i} type veth peer name eth0 netns ${n.ns}`);
            sh(`ip link set ${tag}-v${i} master ${bridge} up && ip -n ${n.ns} address add ${n.address} dev eth0 && ip -n ${n.ns} link set eth0 up`);
        });
    });
    afterAll(() => {
        for (const n of nodes) spawnSync("ip", ["netns", "del", n.ns]);
        spawnSync("ip", ["link", "del", bridge]);
    });

    test("one holder passes, seen from it and from another node; none, or two, fail and say which", () => {
        holds(1, true);
        expect(check(1)).toBe(`0 vip: ${VIP} held by this node only\n`);
        expect(check(0)).toBe(`0 vip: ${VIP} held by one other edge node only (MAC)\n`);
        // Split brain: adverts lost between two nodes, each one MASTER with the address.
        holds(0, true);
        expect(check(0)).toBe(`1 vip: ${VIP} is held by this node and answered for by MAC too: two edge nodes hold it (do their VRRP adverts reach each other?)\n`);
        holds(0, false);
        holds(1, false);
        expect(check(2)).toBe(`1 vip: no edge node holds ${VIP} (none answers ARP for it on eth0, and this node has not got it): is keepalived running and HAProxy's /healthz passing on an edge node?\n`);
    });

    test("an interface that is not there is an error that names it, not a pass", () => {
        expect(spawnSync("ip", ["netns", "exec", nodes[0].ns, CHECK, VIP, "eth9"], { encoding: "utf8" }).stdout).toMatch(/^vip: cannot list the addresses of eth9 on this node: /);
    });
});

describe("keepalived 2.2.7 with swarm-ha's files: a change of edge nodes is a reload, and the VIP stays where it is", () => {
    // Three edge nodes in network namespaces, their switch a bridge in a namespace of its own
    // (this machine's firewall, which drops bridged traffic, stays out of it), each with an HTTP
    // server that answers /healthz as HAProxy would.
    const tag = `kr${process.pid % 10000}`;
    const VIP = "10.79.0.100";
    const nodes = [1, 2, 3].map((i) => ({ name: `edge-${i}`, ns: `${tag}-n${i}`, ip: `10.79.0.${i}` }));
    const sw = `${tag}-sw`;
    const running: ChildProcess[] = [];
    const keepalived: Record<string, ChildProcess> = {};
    const sh = (command: string) => {
        const r = spawnSync("sh", ["-c", command], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`${command}: ${r.stderr}`);
    };
    const dir = (i: number) => path.join(work, `reload-${nodes[i].name}`);
    const log = (i: number) => fs.readFileSync(path.join(dir(i), "keepalived.log"), "utf8");
    /** What the keepalived-peers step writes on node i when the edge nodes are `edges` (indexes). */
    const writePeers = (i: number, edges: number[]) => {
        const byName = edges.map((e) => nodes[e]);
        const input = keepalivedInput({
            routerId: nodes[i].name,
            vip: VIP,
            selfAddress: nodes[i].ip,
            peerAddresses: byName.filter((n) => n !== nodes[i]).map((n) => n.ip),
            priority: 150 - 10 * byName.indexOf(nodes[i]),
            healthUrl: `http://${nodes[i].ip}:8405/healthz`,
        });
        fs.writeFileSync(path.join(dir(i), "peers.conf.new"), renderKeepalivedPeers(input));
        fs.renameSync(path.join(dir(i), "peers.conf.new"), path.join(dir(i), "peers.conf"));
        return input;
    };
    const start = (i: number, edges: number[]) => {
        const input = writePeers(i, edges);
        const conf = path.join(dir(i), "keepalived.conf");
        fs.writeFileSync(conf, renderKeepalivedConfig(input, path.join(dir(i), "peers.conf")));
        const out = fs.openSync(path.join(dir(i), "keepalived.log"), "a");
        // `ip netns exec` execs keepalived: the child's PID is keepalived's own.
        keepalived[nodes[i].name] = spawn(
            "ip",
            ["netns", "exec", nodes[i].ns, "keepalived", "--dont-fork", "--log-console", "--vrrp", "-P", "-n", "-f", conf, "-p", path.join(dir(i), "k.pid"), "-r", path.join(dir(i), "v.pid")],
            { stdio: ["ignore", out, out] },
        );
        running.push(keepalived[nodes[i].name]);
    };
    const holders = () => nodes.filter((n) => spawnSync("ip", ["-n", n.ns, "-4", "address", "show", "eth0"], { encoding: "utf8" }).stdout.includes(` ${VIP}/`)).map((n) => n.name);
    const settle = async (what: string, ok: (h: string[]) => boolean, ms = 15_000) => {
        const end = Date.now() + ms;
        while (!ok(holders())) {
            if (Date.now() > end) throw new Error(`${what}: the VIP is on [${holders()}] after ${ms} ms\n${nodes.map((_, i) => (fs.existsSync(path.join(dir(i), "keepalived.log")) ? log(i) : "")).join("\n")}`);
            await new Promise((r) => setTimeout(r, 100));
        }
        return holders();
    };

    beforeAll(() => {
        if (process.getuid?.() !== 0) throw new Error("keepalived's reload test makes network namespaces: run it as root (CI does)");
        sh(`ip netns add ${sw} && ip -n ${sw} link add br0 type bridge && ip -n ${sw} link set br0 up`);
        nodes.forEach((n, i) => {
            fs.mkdirSync(path.join(dir(i), "www"), { recursive: true });
            fs.writeFileSync(path.join(dir(i), "www", "healthz"), "ok\n");
            sh(`ip netns add ${n.ns} && ip -n ${sw} link add v${i} type veth peer name eth0 netns ${n.ns}`);
            sh(`ip -n ${sw} link set v${i} master br0 up && ip -n ${n.ns} address add ${n.ip}/24 dev eth0 && ip -n ${n.ns} link set eth0 up && ip -n ${n.ns} link set lo up`);
            running.push(spawn("ip", ["netns", "exec", n.ns, "python3", "-m", "http.server", "8405", "--bind", n.ip, "--directory", path.join(dir(i), "www")], { stdio: "ignore" }));
        });
    });
    afterAll(() => {
        for (const p of running) p.kill("SIGKILL");
        for (const n of nodes) spawnSync("ip", ["netns", "del", n.ns]);
        spawnSync("ip", ["netns", "del", sw]);
    });

    test("edge-2 replaced by edge-3: the holder's peers file rewritten and keepalived sent SIGHUP keeps the VIP without a single gap; the new node follows it, and takes over when the holder stops", async () => {
        // edge-1 first, so that it holds the VIP (nopreempt keeps it there when edge-2 starts).
        start(0, [0, 1]);
        await settle("edge-1 takes the VIP", (h) => h.join() === "edge-1");
        start(1, [0, 1]);
        await new Promise((r) => setTimeout(r, 2000));
        expect(holders()).toEqual(["edge-1"]);
        expect(log(1)).toContain("(edge) Entering BACKUP STATE");

        // The update, in the order the program makes it: the remaining node's peers file
        // rewritten and keepalived reloaded, then the new node's keepalived, then the old one's
        // stopped (its step is deleted: nothing runs on a removed node).
        const reloadedAt = log(0).length;
        writePeers(0, [0, 2]);
        keepalived["edge-1"].kill("SIGHUP");
        start(2, [0, 2]);
        keepalived["edge-2"].kill("SIGTERM");
        const seen = new Set<string>();
        for (let t = 0; t < 50; t++) {
            seen.add(holders().join());
            await new Promise((r) => setTimeout(r, 100));
        }
        expect([...seen]).toEqual(["edge-1"]);
        expect(log(0).slice(reloadedAt)).toContain("Reload complete");
        expect(log(0).slice(reloadedAt)).not.toContain("Entering");
        expect(log(2)).toContain("(edge) Entering BACKUP STATE");
        expect(log(2)).not.toContain("Entering MASTER STATE");

        // edge-3 is a real peer of edge-1 now: when edge-1 stops, it takes the VIP.
        keepalived["edge-1"].kill("SIGTERM");
        expect(await settle("edge-1 stopped: edge-3 takes over", (h) => h.join() === "edge-3")).toEqual(["edge-3"]);
    }, 60_000);
});
