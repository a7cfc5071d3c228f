/**
 * Every validation rule of the stack's config, one test each, tested on the pure parser: the
 * error must name the config key that caused it. One more test runs the whole program on a
 * bad config and checks that nothing at all was created.
 */
import * as crypto from "node:crypto";
import {
    DOCKER_NAME_MAX,
    HASH_LENGTH,
    NETWORK_KINDS,
    SERVICE_NAME_MAX,
    backupServiceName,
    etcdServiceName,
    haproxyServiceName,
    keepalivedServiceName,
    monitoringServiceNames,
    networkName,
    pgExporterServiceName,
    pgProxyServiceName,
    pgServiceName,
    secretName,
    sentinelServiceName,
} from "../components/common/names";
import { ConfigError, MAX_NAME_PREFIX, SUPPLIABLE_SECRETS, parseStackConfig, type RawConfig } from "../components/config";
import { FAKE_SSH_KEY, devConfig, runProgram } from "./support/program";
import { cutShort, makeCertificate } from "./support/tls";
import { type LabHosts, labStackConfig } from "../lab/stack";

const SECRET_KEYS = new Set(["swarm-ha:sshPrivateKey"]);

/** The dev stack's config, as the parser receives it (no namespace, structured values as JSON). */
function devRaw(): RawConfig {
    const raw: RawConfig = {};
    for (const [k, v] of Object.entries(devConfig())) raw[k.replace(/^swarm-ha:/, "")] = v;
    raw.sshPrivateKey = FAKE_SSH_KEY;
    return raw;
}
function devNodes(): any[] {
    return JSON.parse(devRaw().nodes!);
}
function withNodes(nodes: any[], extra: RawConfig = {}): RawConfig {
    return { ...devRaw(), nodes: JSON.stringify(nodes), ...extra };
}

/** The problems parsing `raw` reports (fails the test if it parses). */
function problems(raw: RawConfig, secretKeys: Set<string> = SECRET_KEYS): { key: string; message: string }[] {
    try {
        parseStackConfig(raw, secretKeys);
    } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
    }
    throw new Error("expected a ConfigError, but the config was accepted");
}
function expectProblem(raw: RawConfig, key: string, message: RegExp, secretKeys?: Set<string>) {
    expect(problems(raw, secretKeys)).toEqual(expect.arrayContaining([{ key, message: expect.stringMatching(message) }]));
}

test("the dev stack's config is valid, with defaults applied", () => {
    const c = parseStackConfig(devRaw(), SECRET_KEYS);
    expect(c.nodes).toHaveLength(5);
    expect(c.nodes[0]).toEqual({
        name: "manager-1", address: "192.0.2.11", advertiseAddress: "192.0.2.11", swarmRole: "manager",
        roles: ["edge", "monitoring"], labels: { zone: "a" }, availability: "active",
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKDzL2LzgZmLza1BX90iXftJprDkDmhaTmoAWr9sx1a9",
    });
    expect(c.ssh).toEqual({ user: "deploy", port: 22 });
    expect(c).toMatchObject({ allowNonHa: false, encryptOverlay: true, namePrefix: "swarm-ha", defaultAddrPool: "10.20.0.0/16", dataTier: true });
    expect(c.vip).toEqual({ address: "192.0.2.100", prefixLength: 24, interface: "eth0", routerId: 51 });
    expect(c.app).toEqual({ image: undefined, replicas: 2, maxReplicasPerNode: 2, port: 8080, memoryMb: 256, cpuMillis: 500 });
    expect(c.edge).toEqual({ haproxyImage: undefined, keepalivedImage: undefined, httpPort: 80, httpsPort: 443, statsPort: 8404, healthPort: 8405 });
    expect(c.redis).toEqual({ image: undefined, minReplicasToWrite: 1, minReplicasMaxLagSeconds: 5, downAfterMs: 3000 });
    expect(c.postgres).toEqual({ image: undefined, etcdImage: undefined, synchronousMode: true, maxLagOnFailoverBytes: 1048576 });
    expect(c.backups).toEqual({ image: undefined, intervalMinutes: 60, keep: 7 });
    expect(c.warnings).toEqual([]);
});

test("no nodes at all", () => {
    const raw = devRaw();
    delete raw.nodes;
    expectProblem(raw, "swarm-ha:nodes", /is not set/);
});

test("no managers", () => {
    expectProblem(withNodes(devNodes().map((n) => ({ ...n, swarmRole: "worker" }))), "swarm-ha:nodes", /no node with swarmRole: manager/);
});

test("fewer than 3 managers without allowNonHa", () => {
    const nodes = devNodes().filter((n) => n.name !== "manager-2" && n.name !== "manager-3");
    expectProblem(withNodes(nodes), "swarm-ha:nodes", /has 1 manager.*odd number of at least 3.*allowNonHa/);
});

test("an even number of managers without allowNonHa", () => {
    const nodes = devNodes();
    nodes[3].swarmRole = "manager";
    expectProblem(withNodes(nodes), "swarm-ha:nodes", /has 4 manager/);
});

test("allowNonHa permits a single manager, a single edge node and a single Redis (with no replica to wait for)", () => {
    const nodes = devNodes().filter((n) => n.name !== "manager-2" && n.name !== "manager-3");
    nodes[0].roles = ["edge", "monitoring"];
    expect(parseStackConfig(withNodes(nodes, { allowNonHa: "true", redisMinReplicasToWrite: "0" }), SECRET_KEYS).nodes).toHaveLength(3);
});

test("duplicate node names", () => {
    const nodes = devNodes();
    nodes[4].name = "worker-1";
    expectProblem(withNodes(nodes), "swarm-ha:nodes[4].name", /'worker-1' is also used by swarm-ha:nodes\[3\]/);
});

test("duplicate addresses", () => {
    const nodes = devNodes();
    nodes[2].address = "192.0.2.11";
    expectProblem(withNodes(nodes), "swarm-ha:nodes[2].address", /also used by swarm-ha:nodes\[0\]/);
});

test("an invalid address", () => {
    const nodes = devNodes();
    nodes[1].address = "192.0.2.300 ; rm -rf /";
    expectProblem(withNodes(nodes), "swarm-ha:nodes[1].address", /not a valid IP address or host name/);
});

test("a host name address needs an advertise address", () => {
    const nodes = devNodes();
    nodes[1].address = "m2.example.com";
    expectProblem(withNodes(nodes), "swarm-ha:nodes[1].advertiseAddress", /is needed because address 'm2.example.com' is a host name/);
    nodes[1].advertiseAddress = "192.0.2.12";
    expect(parseStackConfig(withNodes(nodes), SECRET_KEYS).nodes[1]).toMatchObject({ address: "m2.example.com", advertiseAddress: "192.0.2.12" });
});

test("an invalid node name", () => {
    const nodes = devNodes();
    nodes[0].name = "Manager_1";
    expectProblem(withNodes(nodes), "swarm-ha:nodes[0].name", /lower-case letters, digits or '-'/);
});

test("an unknown stack role", () => {
    const nodes = devNodes();
    nodes[3].roles = ["app", "databse"];
    expectProblem(withNodes(nodes), "swarm-ha:nodes[3].roles[1]", /not a known role; use one of: edge, app/);
});

test("an unknown swarm role", () => {
    const nodes = devNodes();
    nodes[3].swarmRole = "leader";
    expectProblem(withNodes(nodes), "swarm-ha:nodes[3].swarmRole", /must be 'manager' or 'worker'/);
});

test("an unknown node setting (a typo) is reported, not ignored", () => {
    const nodes = devNodes();
    nodes[0].lables = { zone: "a" };
    expectProblem(withNodes(nodes), "swarm-ha:nodes[0].lables", /is not a node setting/);
});

test("an invalid label key", () => {
    const nodes = devNodes();
    nodes[0].labels = { "Zone Name": "a" };
    expectProblem(withNodes(nodes), "swarm-ha:nodes[0].labels.Zone Name", /not a valid label key/);
});

test("a reserved label key", () => {
    const nodes = devNodes();
    nodes[0].labels = { "swarm-ha.role.edge": "false" };
    expectProblem(withNodes(nodes), "swarm-ha:nodes[0].labels.swarm-ha.role.edge", /reserved prefix/);
});

test("an invalid label value", () => {
    const nodes = devNodes();
    nodes[0].labels = { zone: "a\nb" };
    expectProblem(withNodes(nodes), "swarm-ha:nodes[0].labels.zone", /control characters or newlines/);
});

test("missing SSH key", () => {
    const raw = devRaw();
    delete raw.sshPrivateKey;
    expectProblem(raw, "swarm-ha:sshPrivateKey", /is not set.*pulumi config set --secret/);
});

test("an SSH key stored in plain text", () => {
    expectProblem(devRaw(), "swarm-ha:sshPrivateKey", /plain text.*--secret/, new Set());
});

test("a supplied password stored in plain text", () => {
    expectProblem({ ...devRaw(), redisPassword: "hunter2" }, "swarm-ha:redisPassword", /plain text.*--secret/);
});

test("too few edge nodes for the load balancer", () => {
    const nodes = devNodes();
    nodes[1].roles = ["redis"];
    expectProblem(withNodes(nodes), "swarm-ha:nodes", /1 node\(s\) with role 'edge'.*needs 2/);
});

test("no node for the Postgres primary", () => {
    const nodes = devNodes();
    nodes[3].roles = ["app"];
    expectProblem(withNodes(nodes), "swarm-ha:nodes", /0 node\(s\) with role 'postgres-primary'/);
});

test("two nodes for the Postgres primary", () => {
    const nodes = devNodes();
    nodes[2].roles = ["postgres-primary"];
    expectProblem(withNodes(nodes), "swarm-ha:nodes", /2 node\(s\) with role 'postgres-primary'; exactly one/);
});

test("no node for the Postgres replica", () => {
    const nodes = devNodes();
    nodes[4].roles = ["app"];
    expectProblem(withNodes(nodes), "swarm-ha:nodes", /no node with role 'postgres-replica'/);
});

test("the Postgres replica on the primary's node", () => {
    const nodes = devNodes();
    nodes[4].roles = ["app"];
    nodes[3].roles = ["postgres-primary", "postgres-replica"];
    expectProblem(withNodes(nodes), "swarm-ha:nodes[3].roles", /must run on a different node/);
});

test("a VIP that is a node's address", () => {
    expectProblem({ ...devRaw(), vip: "192.0.2.12" }, "swarm-ha:vip", /is the address of swarm-ha:nodes\[1\] \(manager-2\)/);
});

test("a VIP that is not an IP address", () => {
    expectProblem({ ...devRaw(), vip: "vip.example.com" }, "swarm-ha:vip", /must be an IP address/);
});

// The upper bound was /24 until the pool had to hold every network of the stack (rule 8 below).
test("an overlay address pool that is not an IPv4 network from /8 to /21", () => {
    for (const pool of ["10.20.0.0", "10.20.0.0/28", "fd00::/64", "10.20.0.0/16/2"]) {
        expectProblem({ ...devRaw(), defaultAddrPool: pool }, "swarm-ha:defaultAddrPool", /must be an IPv4 network from \/8 to \/21/);
    }
});

test("bad scalar values: port, booleans, user, prefix", () => {
    const p = problems({ ...devRaw(), sshPort: "70000", allowNonHa: "yes", sshUser: "root; reboot", namePrefix: "Swarm HA" });
    expect(p.map((x) => x.key).sort()).toEqual(["swarm-ha:allowNonHa", "swarm-ha:namePrefix", "swarm-ha:sshPort", "swarm-ha:sshUser"]);
});

/**
 * Parses a config that must be valid. The warning about unpinned host keys, which every node
 * list written here without hostKey gets, is left out: "host keys" below tests it.
 */
function accepted(raw: RawConfig) {
    const c = parseStackConfig(raw, SECRET_KEYS);
    return { ...c, warnings: c.warnings.filter((w) => !w.message.startsWith("no hostKey pinned")) };
}

describe("rule 1: an address must be a host's", () => {
    test.each([
        ["0.0.0.0", /unspecified address/],
        ["::", /unspecified address/],
        ["127.0.0.1", /loopback address/],
        ["::1", /loopback address/],
        ["::ffff:127.0.0.1", /loopback address/],
        ["255.255.255.255", /broadcast address/],
        ["224.0.0.5", /multicast address/],
        ["ff02::1", /multicast address/],
        ["localhost", /loopback address/],
    ])("%s as a node's address", (address, why) => {
        const nodes = devNodes();
        nodes[1].address = address;
        expectProblem(withNodes(nodes), "swarm-ha:nodes[1].address", why);
        expectProblem(withNodes(nodes), "swarm-ha:nodes[1].address", /give the address the machine running Pulumi reaches the host on over SSH \(e\.g\. 192\.0\.2\.11/);
    });

    test("a link-local address with a zone", () => {
        const nodes = devNodes();
        nodes[1].address = "fe80::1%eth0";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[1].address", /has a zone \('%eth0'\); zones cannot be used.*without it \('fe80::1'\) or, better, a global address/);
    });

    test("an IPv4-looking address with a bad octet is not taken for a host name", () => {
        const nodes = devNodes();
        nodes[1].address = "192.168.1.300";
        nodes[2].address = "192.0.2";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[1].address", /looks like an IPv4 address but is not one: 300 is more than 255\. Write IPv4 as four numbers from 0 to 255/);
        expectProblem(withNodes(nodes), "swarm-ha:nodes[2].address", /looks like an IPv4 address but is not one: it has 3 part\(s\), not 4/);
    });

    test.each([
        ["192.0.2.12:22", "192.0.2.12", "22"],
        ["[2001:db8::12]:22", "2001:db8::12", "22"],
        ["node2.example.com:2222", "node2.example.com", "2222"],
    ])("an address with a port: %s", (address, alone, port) => {
        const nodes = devNodes();
        nodes[1].address = address;
        nodes[1].advertiseAddress = "192.0.2.12";
        const fix = `includes a port \\(':${port}'\\): give the address alone \\('${alone.replace(/\./g, "\\.")}'\\) and set the SSH port of all nodes with pulumi config set swarm-ha:sshPort ${port}`;
        expectProblem(withNodes(nodes), "swarm-ha:nodes[1].address", new RegExp(fix));
    });

    test("an advertise address must be a unicast IP", () => {
        for (const [advertise, why] of [["127.0.0.1", /loopback/], ["0.0.0.0", /unspecified/], ["239.1.1.1", /multicast/], ["192.0.2.12:2377", /includes a port/], ["m2.example.com", /must be an IP address/]] as const) {
            const nodes = devNodes();
            nodes[1].advertiseAddress = advertise;
            expectProblem(withNodes(nodes), "swarm-ha:nodes[1].advertiseAddress", why);
        }
        const nodes = devNodes();
        nodes[1].advertiseAddress = "::1";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[1].advertiseAddress", /give a unicast IP of this host that the other nodes reach it on/);
    });

    test("host names may end in a dot; IPv6 and IPv4-mapped addresses are accepted", () => {
        const nodes = devNodes();
        nodes[0].address = "m1.example.com.";
        nodes[0].advertiseAddress = "192.0.2.11";
        nodes[3].address = "2001:db8::21";
        nodes[4].address = "::ffff:192.0.2.22";
        expect(accepted(withNodes(nodes)).nodes.map((n) => n.advertiseAddress)).toEqual(["192.0.2.11", "192.0.2.12", "192.0.2.13", "2001:db8::21", "::ffff:192.0.2.22"]);
    });
});

describe("rule 2: duplicates in any spelling", () => {
    test("the same IPv6 address written two ways", () => {
        const nodes = devNodes();
        nodes[3].address = "2001:db8::1";
        nodes[4].address = "2001:DB8:0:0:0:0:0:1";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[4].address", /'2001:DB8:0:0:0:0:0:1' is also used by swarm-ha:nodes\[3\] \(written '2001:db8::1' there\); each node needs its own address/);
    });

    test("an IPv4-mapped IPv6 address and its IPv4 address", () => {
        const nodes = devNodes();
        nodes[1].address = "::ffff:192.0.2.11";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[1].address", /is also used by swarm-ha:nodes\[0\] \(written '192\.0\.2\.11' there\); each node needs its own address/);
    });

    test("host names that differ in case or a trailing dot", () => {
        const nodes = devNodes();
        nodes[0] = { ...nodes[0], address: "node.example.com", advertiseAddress: "192.0.2.11" };
        nodes[1] = { ...nodes[1], address: "NODE.Example.com.", advertiseAddress: "192.0.2.12" };
        expectProblem(withNodes(nodes), "swarm-ha:nodes[1].address", /also used by swarm-ha:nodes\[0\] \(written 'node\.example\.com' there\); each node needs its own address/);
    });

    test("an advertise address that is another node's address", () => {
        const nodes = devNodes();
        nodes[3].advertiseAddress = "::ffff:192.0.2.11";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[3].advertiseAddress", /is the address of swarm-ha:nodes\[0\] \(manager-1\) \(written '192\.0\.2\.11' there\); give the IP this node itself is reached on/);
    });

    test("an advertise address another node also advertises", () => {
        const nodes = devNodes();
        nodes[3] = { ...nodes[3], address: "w1.example.com", advertiseAddress: "10.0.0.21" };
        nodes[4] = { ...nodes[4], address: "w2.example.com", advertiseAddress: "::ffff:10.0.0.21" };
        expectProblem(withNodes(nodes), "swarm-ha:nodes[4].advertiseAddress", /is also the advertise address of swarm-ha:nodes\[3\] \(worker-1\).*each node must advertise its own IP/);
    });
});

describe("rule 3: a VIP that can work", () => {
    test.each([
        ["0.0.0.0", /unspecified/],
        ["127.0.0.100", /loopback/],
        ["255.255.255.255", /broadcast/],
        ["224.0.0.18", /multicast/],
        ["169.254.0.100", /link-local/],
        ["fe80::100", /link-local/],
    ])("%s as the VIP", (vip, why) => {
        expectProblem({ ...devRaw(), vip }, "swarm-ha:vip", why);
        expectProblem({ ...devRaw(), vip }, "swarm-ha:vip", /pick a free unicast address on the edge nodes' network/);
    });

    test("another address family than the edge nodes'", () => {
        expectProblem({ ...devRaw(), vip: "2001:db8::100" }, "swarm-ha:vip", /is IPv6, but edge node\(s\) swarm-ha:nodes\[0\] \(manager-1, 192\.0\.2\.11\), swarm-ha:nodes\[1\].*advertise IPv4.*pick a free IPv4 address/);
    });

    test("a node's address in another spelling", () => {
        expectProblem({ ...devRaw(), vip: "::ffff:192.0.2.12" }, "swarm-ha:vip", /is the address of swarm-ha:nodes\[1\] \(manager-2, written '192\.0\.2\.12' there\); the virtual IP must be a free address that no node owns/);
        const nodes = devNodes();
        nodes[3].advertiseAddress = "198.51.100.21";
        expectProblem(withNodes(nodes, { vip: "198.51.100.21" }), "swarm-ha:vip", /is the address of swarm-ha:nodes\[3\] \(worker-1\)/);
    });

    test("inside the overlay address pool, the configured one or Docker's default", () => {
        expectProblem({ ...devRaw(), vip: "10.20.1.1" }, "swarm-ha:vip", /inside the overlay address pool 10\.20\.0\.0\/16.*Pick a free address outside it.*or set swarm-ha:defaultAddrPool/);
        expectProblem({ ...devRaw(), vip: "10.1.2.3", defaultAddrPool: "" }, "swarm-ha:vip", /inside Docker's default overlay address pool 10\.0\.0\.0\/8 \(swarm-ha:defaultAddrPool is empty\)/);
    });
});

describe("rule 4: drained and paused nodes run nothing", () => {
    test("the Postgres primary on a drained node", () => {
        const nodes = devNodes();
        nodes[3].availability = "drain";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[3].availability", /is 'drain', but this node \(worker-1\) has role 'postgres-primary'.*Set availability: active, or move 'postgres-primary' to an active node/);
    });

    test("the Postgres replica on a paused node", () => {
        const nodes = devNodes();
        nodes[4].availability = "pause";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[4].availability", /is 'pause', but this node \(worker-2\) has role 'postgres-replica'.*Set availability: active, or move 'postgres-replica'/);
    });

    test("a drained edge node does not count", () => {
        const nodes = devNodes();
        nodes[1].availability = "drain";
        expectProblem(withNodes(nodes), "swarm-ha:nodes", /has 1 node\(s\) with role 'edge' and availability: active; the load balancer needs 2.*or set availability: active on swarm-ha:nodes\[1\] \(manager-2\), which is drain/);
    });

    test("no active node at all", () => {
        const nodes = devNodes().map((n) => ({ ...n, availability: "drain" }));
        expectProblem(withNodes(nodes), "swarm-ha:nodes", /has no node with availability: active.*set availability: active on at least one node/);
    });
});

describe("rule 5: at most 7 managers", () => {
    const managers = (count: number) => {
        const nodes = devNodes().map((n) => ({ ...n, swarmRole: "manager" }));
        for (let i = nodes.length; i < count; i++) nodes.push({ name: `manager-${i + 1}`, address: `192.0.2.${40 + i}`, swarmRole: "manager" });
        return nodes;
    };
    test("9 managers are refused, even for a test cluster", () => {
        for (const allowNonHa of ["false", "true"]) {
            expectProblem(withNodes(managers(9), { allowNonHa }), "swarm-ha:nodes", /has 9 managers; Docker recommends at most 7.*Make the others workers \(swarmRole: worker\)/);
        }
    });
    test("7 managers are fine", () => {
        expect(accepted(withNodes(managers(7))).nodes.filter((n) => n.swarmRole === "manager")).toHaveLength(7);
    });
});

describe("rule 6: secrets that cannot work", () => {
    const SET_KEY = /pulumi config set --secret swarm-ha:sshPrivateKey -- "\$\(cat ~\/\.ssh\/id_ed25519\)"/;
    test.each([
        ["an OpenSSH ed25519 public key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKx0fakefakefakefake me@laptop", /is a public key/],
        ["an OpenSSH RSA public key", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCfakefake me@laptop", /is a public key/],
        ["an OpenSSH ECDSA public key", "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYfake me@laptop", /is a public key/],
        ["a PEM public key", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAfakefakefake=\n-----END PUBLIC KEY-----", /is a public key/],
        ["a path from home", "~/.ssh/deploy_key", /is a file path/],
        ["an absolute path", "/home/me/.ssh/deploy_key", /is a file path/],
        ["a relative path", "./deploy_key", /is a file path/],
        ["a bare file name", "deploy_key", /is a single line without 'PRIVATE KEY'/],
    ])("an SSH key that is not a private key: %s", (_label, value, why) => {
        const raw = { ...devRaw(), sshPrivateKey: value };
        expectProblem(raw, "swarm-ha:sshPrivateKey", why);
        expectProblem(raw, "swarm-ha:sshPrivateKey", SET_KEY);
        // The value is a secret: no message may repeat it, nor its key material.
        for (const p of problems(raw)) {
            expect(p.message).not.toContain(value);
            expect(p.message).not.toMatch(/AAAA|MCow/);
        }
    });

    test("a blank supplied password", () => {
        for (const [value, secret] of [["   ", true], ["\n", false], ["", true]] as const) {
            const raw = { ...devRaw(), redisPassword: value };
            const secrets = new Set([...SECRET_KEYS, ...(secret ? ["swarm-ha:redisPassword"] : [])]);
            expectProblem(raw, "swarm-ha:redisPassword", /is blank.*Remove it to have one generated \(pulumi config rm swarm-ha:redisPassword\)/, secrets);
        }
        // A plain "" is Pulumi.yaml's declared default: generate one.
        expect(accepted({ ...devRaw(), redisPassword: "" }).nodes).toHaveLength(5);
    });
});

describe("rule 7: Docker object names fit 64 characters", () => {
    // Computed as the stack names things, so the limit follows new networks or secrets.
    const suffixes = [...NETWORK_KINDS.map((k) => networkName("", k)), ...Object.values(SUPPLIABLE_SECRETS).map((id) => secretName("", id, "f".repeat(HASH_LENGTH)))];
    const maxPrefix = DOCKER_NAME_MAX - Math.max(...suffixes.map((s) => s.length));

    test("a prefix one character too long is refused, with the maximum", () => {
        const prefix = "s".repeat(maxPrefix + 1);
        expectProblem({ ...devRaw(), namePrefix: prefix }, "swarm-ha:namePrefix", new RegExp(`is ${maxPrefix + 1} characters: the longest Docker object name it gives, '${prefix}-postgres-replication-password-\\w{${HASH_LENGTH}}'.*, is ${DOCKER_NAME_MAX + 1} characters.*Use at most ${maxPrefix} characters`));
    });

    test("the longest allowed prefix is accepted", () => {
        expect(accepted({ ...devRaw(), namePrefix: "s".repeat(maxPrefix) }).namePrefix).toHaveLength(maxPrefix);
    });
});

describe("rule 8: the overlay address pool", () => {
    test("a pool that holds a node's address", () => {
        expectProblem({ ...devRaw(), defaultAddrPool: "192.0.0.0/16" }, "swarm-ha:defaultAddrPool", /'192\.0\.0\.0\/16' holds swarm-ha:nodes\[0\]\.address \(192\.0\.2\.11\).*and 2 more.*pulumi config set swarm-ha:defaultAddrPool 10\.20\.0\.0\/16/);
        const nodes = devNodes();
        nodes[0].advertiseAddress = "10.20.0.11";
        expectProblem(withNodes(nodes), "swarm-ha:defaultAddrPool", /holds swarm-ha:nodes\[0\]\.advertiseAddress \(10\.20\.0\.11\).*pulumi config set swarm-ha:defaultAddrPool 172\.20\.0\.0\/16/);
    });

    test("a pool too small for the stack's networks and ingress", () => {
        const subnets = NETWORK_KINDS.length + 1;
        const maxBits = 24 - Math.ceil(Math.log2(subnets));
        expectProblem({ ...devRaw(), defaultAddrPool: `10.20.0.0/${maxBits + 1}` }, "swarm-ha:defaultAddrPool", new RegExp(`is a /${maxBits + 1}, too small: .* take ${subnets} /24 subnets, which need a /${maxBits} or larger`));
        expect(accepted({ ...devRaw(), defaultAddrPool: `10.20.0.0/${maxBits}` }).defaultAddrPool).toBe(`10.20.0.0/${maxBits}`);
    });

    test("a pool with host bits set", () => {
        expectProblem({ ...devRaw(), defaultAddrPool: "10.20.1.0/16" }, "swarm-ha:defaultAddrPool", /has host bits set .*did you mean 10\.20\.0\.0\/16\?/);
    });

    test("a malformed prefix", () => {
        for (const [pool, why] of [["10.20.0.0/33", /prefix length '\/33'/], ["10.20.0.0/x", /prefix length '\/x'/], ["10.20.0.0/", /prefix length '\/'/], ["10.20.0.0", /has no prefix length/]] as const) {
            expectProblem({ ...devRaw(), defaultAddrPool: pool }, "swarm-ha:defaultAddrPool", why);
            expectProblem({ ...devRaw(), defaultAddrPool: pool }, "swarm-ha:defaultAddrPool", /must be an IPv4 network from \/8 to \/21 in CIDR form \(e\.g\. 10\.20\.0\.0\/16\)/);
        }
    });

    test.each(["0.0.0.0/8", "127.0.0.0/16", "169.254.0.0/16", "224.0.0.0/8", "239.1.0.0/16", "240.0.0.0/8"])("a pool outside unicast space: %s", (pool) => {
        expectProblem({ ...devRaw(), defaultAddrPool: pool }, "swarm-ha:defaultAddrPool", /overlaps .* which is not unicast space overlay subnets can use.*e\.g\. 10\.20\.0\.0\/16/);
    });

    test("Docker's default pool holding a node's address is a warning, not an error", () => {
        const nodes = devNodes();
        nodes[3].address = "10.1.0.21";
        const c = accepted(withNodes(nodes, { defaultAddrPool: "" }));
        expect(c.warnings).toEqual([
            {
                key: "swarm-ha:defaultAddrPool",
                message: expect.stringMatching(/is empty, so the swarm takes overlay subnets from Docker's default 10\.0\.0\.0\/8, which holds swarm-ha:nodes\[3\]\.address \(10\.1\.0\.21\).*set it to a range no host network uses: pulumi config set swarm-ha:defaultAddrPool 10\.20\.0\.0\/16/),
            },
        ]);
        expect(accepted(devRaw()).warnings).toEqual([]);
    });
});

describe("rule 9: unknown keys", () => {
    test.each([
        ["sshport", "sshPort"],
        ["namePrefx", "namePrefix"],
        ["redisPasword", "redisPassword"],
        ["node", "nodes"],
        ["prefix", "namePrefix"],
        ["replicas", "appReplicas"],
        ["vrrpRouterID", "vrrpRouterId"],
    ])("%s: did you mean %s?", (typo, meant) => {
        expectProblem({ ...devRaw(), [typo]: "x" }, `swarm-ha:${typo}`, new RegExp(`is not a swarm-ha setting: did you mean ${meant}\\? Rename it: pulumi config rm swarm-ha:${typo}, then pulumi config set .*swarm-ha:${meant}`));
    });

    test("a key close to none is refused with the list of settings", () => {
        expectProblem({ ...devRaw(), timezone: "UTC" }, "swarm-ha:timezone", /is not a swarm-ha setting \(the settings are nodes, sshUser, .*\): remove it with pulumi config rm swarm-ha:timezone/);
    });

    test("a key that ends several is not guessed at: port could be any of six", () => {
        expectProblem({ ...devRaw(), port: "2222" }, "swarm-ha:port", /is not a swarm-ha setting \(the settings are .*sshPort.*httpPort.*\): remove it with pulumi config rm swarm-ha:port/);
    });

    test("the program reads every key of its namespace, and only of its namespace", async () => {
        const config = { ...devConfig(), "swarm-ha:sshPrivateKey": FAKE_SSH_KEY, "swarm-ha:sshport": "2222", "aws:region": "eu-west-1" };
        const error = await runProgram(config).then(
            () => undefined,
            (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(/swarm-ha:sshport: is not a swarm-ha setting: did you mean sshPort\?/);
        expect((error as Error).message).not.toMatch(/aws:region/);
    });

    test("keys named like what JavaScript objects have (__proto__, constructor) are refused like any unknown key, not lost", async () => {
        const config = { ...devConfig(), "swarm-ha:sshPrivateKey": FAKE_SSH_KEY, "swarm-ha:__proto__": "x", "swarm-ha:constructor": "y" };
        const error = await runProgram(config).then(
            () => undefined,
            (e: unknown) => e,
        );
        expect((error as Error).message).toMatch(/  - swarm-ha:__proto__: is not a swarm-ha setting .*: remove it with pulumi config rm swarm-ha:__proto__\n/);
        expect((error as Error).message).toMatch(/  - swarm-ha:constructor: is not a swarm-ha setting .*: remove it with pulumi config rm swarm-ha:constructor/);
    });
});

describe("rule 10: wrong YAML types say what to write", () => {
    test("nodes that are not a list", () => {
        expectProblem({ ...devRaw(), nodes: JSON.stringify({ name: "manager-1" }) }, "swarm-ha:nodes", /is a map, but must be a list of nodes, one entry per host, e\.g\. nodes: \[\{name: manager-1/);
        expectProblem({ ...devRaw(), nodes: "manager-1" }, "swarm-ha:nodes", /is a plain string, but must be a list of nodes.*e\.g\. nodes: \[/);
    });

    test("a node given as a string", () => {
        const nodes = devNodes();
        nodes[2] = "manager-3";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[2]", /is a string \('manager-3'\), but must be a map of settings, e\.g\. - \{name: manager-1, address: 192\.0\.2\.11, swarmRole: manager\}/);
    });

    test("roles given as a string", () => {
        const nodes = devNodes();
        nodes[3].roles = "app, postgres-primary";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[3].roles", /is a string \('app, postgres-primary'\), but must be a list, e\.g\. roles: \[edge, app\]/);
    });

    test("labels given as a list", () => {
        const nodes = devNodes();
        nodes[0].labels = ["zone=a"];
        expectProblem(withNodes(nodes), "swarm-ha:nodes[0].labels", /is a list, but must be a map of label: value, e\.g\. labels: \{zone: a\}/);
    });

    test("a label value that is a number or a boolean", () => {
        const nodes = devNodes();
        nodes[0].labels = { rack: 12, ssd: true };
        expectProblem(withNodes(nodes), "swarm-ha:nodes[0].labels.rack", /is a number \(12\); label values are text: quote it, e\.g\. rack: "12"/);
        expectProblem(withNodes(nodes), "swarm-ha:nodes[0].labels.ssd", /is a boolean \(true\); label values are text: quote it, e\.g\. ssd: "true"/);
    });

    test.each([
        ["name", /is missing: every node needs a unique name, e\.g\. name: manager-1/],
        ["address", /is missing: every node needs the address SSH connects to, e\.g\. address: 192\.0\.2\.11/],
        ["swarmRole", /is missing: every node needs one, e\.g\. swarmRole: manager/],
    ])("a node without %s", (setting, message) => {
        const nodes = devNodes();
        delete nodes[2][setting];
        expectProblem(withNodes(nodes), `swarm-ha:nodes[2].${setting}`, message);
    });
});

describe("rule 11: the edge ports", () => {
    test.each(["httpPort", "httpsPort", "statsPort", "healthPort", "appPort"])("%s out of range", (key) => {
        const example = { httpPort: 80, httpsPort: 443, statsPort: 8404, healthPort: 8405, appPort: 8080 }[key];
        for (const value of ["0", "65536", "http", "-1", "80.5"]) {
            expectProblem({ ...devRaw(), [key]: value }, `swarm-ha:${key}`, new RegExp(`must be a whole number from 1 to 65535 \\(e\\.g\\. pulumi config set swarm-ha:${key} ${example}\\)`));
        }
        expect(accepted({ ...devRaw(), [key]: "65535" })).toBeDefined();
    });

    test("two edge ports that collide: the later is reported, naming the other, with a free port", () => {
        expectProblem({ ...devRaw(), statsPort: "80" }, "swarm-ha:statsPort", /is 80, the same as swarm-ha:httpPort: HAProxy listens on both on every edge node, so each needs its own port\. Pick another \(e\.g\. pulumi config set swarm-ha:statsPort 8404\)/);
        // The suggestion is a port none of the others holds.
        expectProblem({ ...devRaw(), httpsPort: "8404", healthPort: "8404" }, "swarm-ha:healthPort", /is 8404, the same as swarm-ha:httpsPort.*pulumi config set swarm-ha:healthPort 8405\)/);
        expectProblem({ ...devRaw(), statsPort: "8405" }, "swarm-ha:healthPort", /is 8405, the same as swarm-ha:statsPort.*pulumi config set swarm-ha:healthPort 8406\)/);
        // The app's port is inside its container: it may equal an edge port.
        expect(accepted({ ...devRaw(), appPort: "80" }).app.port).toBe(80);
    });
});

describe("rule 12: the app's replicas", () => {
    test("one replica without allowNonHa", () => {
        expectProblem({ ...devRaw(), appReplicas: "1" }, "swarm-ha:appReplicas", /is 1: a single task of the app cannot survive the loss of its node.*Run at least 2 \(pulumi config set swarm-ha:appReplicas 2\), or set swarm-ha:allowNonHa true for a test cluster/);
        expect(accepted({ ...devRaw(), appReplicas: "1", allowNonHa: "true" }).app.replicas).toBe(1);
    });

    test("no replicas at all, even for a test cluster", () => {
        for (const allowNonHa of ["false", "true"]) {
            expectProblem({ ...devRaw(), appReplicas: "0", allowNonHa }, "swarm-ha:appReplicas", /must be a whole number from 1 to 500 \(HAProxy keeps two server slots per task, at most 1000\) \(e\.g\. pulumi config set swarm-ha:appReplicas 2\)/);
        }
    });

    test("a per-node maximum below 1", () => {
        expectProblem({ ...devRaw(), appMaxReplicasPerNode: "0" }, "swarm-ha:appMaxReplicasPerNode", /must be a whole number of at least 1 \(e\.g\. pulumi config set swarm-ha:appMaxReplicasPerNode 2\)/);
    });

    test("more replicas than the app nodes hold with one free slot for a rolling update", () => {
        // worker-1 and worker-2 hold 2 each: 4 slots, and 4 replicas need 5.
        expectProblem(
            { ...devRaw(), appReplicas: "4" },
            "swarm-ha:appReplicas",
            /is 4, but the app nodes have room for 4 task\(s\): 2 active node\(s\) with role 'app' \(worker-1, worker-2\) × swarm-ha:appMaxReplicasPerNode 2\. A rolling update starts each new task before it stops the old one, so the app needs room for swarm-ha:appReplicas \+ 1 = 5: add 'app' to the roles of 1 more active node\(s\), raise swarm-ha:appMaxReplicasPerNode to 3 \(pulumi config set swarm-ha:appMaxReplicasPerNode 3\), or lower swarm-ha:appReplicas to 3$/,
        );
        expect(accepted({ ...devRaw(), appReplicas: "3" }).app.replicas).toBe(3);
        expect(accepted({ ...devRaw(), appReplicas: "4", appMaxReplicasPerNode: "3" }).app.replicas).toBe(4);
    });

    test("a drained app node has no room; activating it is one of the fixes", () => {
        const nodes = devNodes();
        nodes[4].availability = "drain";
        nodes[4].roles = ["app"];
        nodes[2].roles = ["redis", "postgres-replica"];
        // One active app node holds 2: the default 2 replicas need 3. Fewer than 2 is no fix without allowNonHa.
        expectProblem(withNodes(nodes), "swarm-ha:appReplicas", /room for 2 task\(s\): 1 active node\(s\) with role 'app' \(worker-1\).*add 'app' to the roles of 1 more active node\(s\) \(or set availability: active on swarm-ha:nodes\[4\] \(worker-2\), which has it but is drain\), or raise swarm-ha:appMaxReplicasPerNode to 3 \(pulumi config set swarm-ha:appMaxReplicasPerNode 3\)$/);
        const none = devNodes().map((n) => ({ ...n, roles: n.roles.filter((r: string) => r !== "app") }));
        expectProblem(withNodes(none), "swarm-ha:appReplicas", /room for 0 task\(s\): no active node has role 'app'.*needs room for swarm-ha:appReplicas \+ 1 = 3: add 'app' to the roles of 2 more active node\(s\)$/);
    });
});

describe("rule 13: the app's resource limits", () => {
    test.each([
        ["appMemoryMb", 32, 65536, /must be a whole number from 32 to 65536 \(MiB\) \(e\.g\. pulumi config set swarm-ha:appMemoryMb 256\)/],
        ["appCpuMillis", 50, 64000, /must be a whole number from 50 to 64000 \(thousandths of a core: 1000 is one core\) \(e\.g\. pulumi config set swarm-ha:appCpuMillis 500\)/],
    ])("%s from %d to %d", (key, min, max, message) => {
        for (const value of [String(min - 1), String(max + 1), "1g", "0.5"]) expectProblem({ ...devRaw(), [key]: value }, `swarm-ha:${key}`, message);
        expect(accepted({ ...devRaw(), [key]: String(min) })).toBeDefined();
        expect(accepted({ ...devRaw(), [key]: String(max) })).toBeDefined();
    });
});

describe("rule 14: the VIP's network", () => {
    test("a prefix length out of range for the VIP's family", () => {
        expectProblem({ ...devRaw(), vipPrefixLength: "33" }, "swarm-ha:vipPrefixLength", /is 33, but the VIP '192\.0\.2\.100' is IPv4, whose prefix lengths go from 1 to 32: give the prefix length of the edge nodes' network \(e\.g\. pulumi config set swarm-ha:vipPrefixLength 24\)/);
        for (const value of ["0", "129", "/24"]) {
            expectProblem({ ...devRaw(), vipPrefixLength: value }, "swarm-ha:vipPrefixLength", /must be a whole number from 1 to 128 \(e\.g\. pulumi config set swarm-ha:vipPrefixLength 24\)/);
        }
        const nodes = devNodes();
        nodes[0].advertiseAddress = "2001:db8::11";
        nodes[1].advertiseAddress = "2001:db8::12";
        expect(accepted(withNodes(nodes, { vip: "2001:db8::100", vipPrefixLength: "64" })).vip).toMatchObject({ address: "2001:db8::100", prefixLength: 64 });
    });

    test("a VIP outside an edge node's subnet", () => {
        const nodes = devNodes();
        nodes[1].advertiseAddress = "198.51.100.12";
        expectProblem(
            withNodes(nodes),
            "swarm-ha:vip",
            /'192\.0\.2\.100' is outside the network of edge node swarm-ha:nodes\[1\] \(manager-2, 198\.51\.100\.12\): by swarm-ha:vipPrefixLength 24 the VIP's network is 192\.0\.2\.0\/24, and that node's is 198\.51\.100\.0\/24\..*pick a free address in the network every edge node is on, or set swarm-ha:vipPrefixLength to that network's prefix length/,
        );
        // Only edge nodes count, and the prefix decides: a /28 leaves both edge nodes out.
        expect(problems({ ...devRaw(), vipPrefixLength: "28" }).filter((p) => p.key === "swarm-ha:vip").map((p) => p.message.match(/edge node (\S+)/)![1])).toEqual(["swarm-ha:nodes[0]", "swarm-ha:nodes[1]"]);
        expect(accepted({ ...devRaw(), vip: "192.0.200.1", vipPrefixLength: "16" }).vip?.address).toBe("192.0.200.1");
        const workers = devNodes();
        workers[3].address = "198.51.100.21";
        expect(accepted(withNodes(workers)).vip?.address).toBe("192.0.2.100");
    });

    test("an interface name Linux would refuse, or the loopback", () => {
        for (const name of ["", "eth 0", "eth0:1", "a-very-long-ifname", "en/0", "..", "eth0\n"]) {
            expectProblem({ ...devRaw(), vipInterface: name }, "swarm-ha:vipInterface", /must be a Linux network interface name: 1-15 letters, digits, '_', '-' or '\.' \(e\.g\. pulumi config set swarm-ha:vipInterface eth0\)/);
        }
        expectProblem({ ...devRaw(), vipInterface: "lo" }, "swarm-ha:vipInterface", /is the loopback interface.*pulumi config set swarm-ha:vipInterface eth0/);
        for (const name of ["ens18", "bond0.42", "br-lan_2", "enp0s31f6abcdef"]) expect(accepted({ ...devRaw(), vipInterface: name }).vip?.interface).toBe(name);
    });

    test("a VRRP router id out of 1-255", () => {
        for (const value of ["0", "256", "a"]) {
            expectProblem({ ...devRaw(), vrrpRouterId: value }, "swarm-ha:vrrpRouterId", /must be a whole number from 1 to 255 \(e\.g\. pulumi config set swarm-ha:vrrpRouterId 51\)/);
        }
        expect(accepted({ ...devRaw(), vrrpRouterId: "255" }).vip?.routerId).toBe(255);
    });

    test("no VIP with two edge nodes is a warning, not an error", () => {
        expect(accepted({ ...devRaw(), vip: "" }).warnings).toEqual([
            {
                key: "swarm-ha:vip",
                message: expect.stringMatching(/is empty, but 2 nodes have role 'edge' \(manager-1, manager-2\): with no virtual IP, clients need every edge node's address.*pulumi config set swarm-ha:vip <address>/),
            },
        ]);
        const single = devNodes().filter((n) => n.name !== "manager-2" && n.name !== "manager-3");
        expect(accepted(withNodes(single, { vip: "", allowNonHa: "true", redisMinReplicasToWrite: "0", monitoring: "false" })).warnings).toEqual([]);
    });

    test("one active monitoring node is a warning (one Prometheus: its node's death silences every alert); two are not", () => {
        expect(accepted(devRaw()).warnings).toEqual([]);
        const one = devNodes().map((n) => (n.name === "manager-2" ? { ...n, roles: n.roles.filter((r: string) => r !== "monitoring") } : n));
        expect(accepted(withNodes(one)).warnings).toEqual([
            {
                key: "swarm-ha:nodes",
                message: expect.stringMatching(/^only manager-1 is an active node with the monitoring role, so one Prometheus evaluates every alert: when that node dies, no alert fires\. Give a second node the monitoring role/),
            },
        ]);
    });
});

describe("rule 15: per-node service names fit Docker's 63", () => {
    const longName = (length: number) => `edge-${"x".repeat(length - 5)}`;

    test("an edge node whose keepalived service name is too long, with a VIP", () => {
        const longest = SERVICE_NAME_MAX - keepalivedServiceName("swarm-ha", "").length;
        const nodes = devNodes();
        nodes[1].name = longName(longest + 1);
        expectProblem(
            withNodes(nodes),
            "swarm-ha:nodes[1].name",
            new RegExp(
                `'${nodes[1].name}' is ${longest + 1} characters: as an edge node, its keepalived service, 'swarm-ha-keepalived-${nodes[1].name}', would be ${SERVICE_NAME_MAX + 1}, ` +
                    `over the ${SERVICE_NAME_MAX} characters a Docker service name may have \\(it is a DNS label\\)\\. With swarm-ha:namePrefix 'swarm-ha', an edge node's name may have at most ${longest} characters: rename the node \\(e\\.g\\. name: ${nodes[1].name.slice(0, longest)}\\), or shorten swarm-ha:namePrefix`,
            ),
        );
        nodes[1].name = longName(longest);
        expect(accepted(withNodes(nodes)).nodes[1].name).toHaveLength(longest);
    });

    test("without a VIP, HAProxy's service name is the bound; a node no service is named after may be longer", () => {
        const longest = SERVICE_NAME_MAX - haproxyServiceName("swarm-ha", "").length;
        const nodes = devNodes();
        nodes[0].name = longName(longest + 1);
        // An app-only worker: the app's tasks are one service, named by the prefix alone.
        nodes.push({ name: longName(63), address: "192.0.2.23", swarmRole: "worker", roles: ["app"] });
        const p = problems(withNodes(nodes, { vip: "" }));
        expect(p).toEqual([{ key: "swarm-ha:nodes[0].name", message: expect.stringMatching(new RegExp(`its HAProxy service, 'swarm-ha-haproxy-edge-x+', would be ${SERVICE_NAME_MAX + 1}.*may have at most ${longest} characters`)) }]);
        nodes[0].name = longName(longest);
        expect(accepted(withNodes(nodes, { vip: "" })).nodes[0].name).toHaveLength(longest);
        // A shorter prefix leaves more room.
        nodes[0].name = longName(longest + 5);
        expect(accepted(withNodes(nodes, { vip: "", namePrefix: "ha" })).nodes[0].name).toHaveLength(longest + 5);
    });
});

describe("rule 16: images", () => {
    const IMAGE_KEYS = ["appImage", "haproxyImage", "keepalivedImage", "redisImage", "postgresImage", "etcdImage", "backupImage"];
    test.each(IMAGE_KEYS)("%s: a reference Docker would refuse", (key) => {
        for (const value of ["my app:1", "ghcr.io/acme/shop:", "shop:1.0:2", "shop@sha256:abc", " shop"]) {
            expectProblem({ ...devRaw(), [key]: value }, `swarm-ha:${key}`, /\(e\.g\. ghcr\.io\/acme\/shop:1\.4\.2\), or leave it empty to have swarm-ha build its|has spaces around it/);
        }
        expectProblem({ ...devRaw(), [key]: "ghcr.io/Acme/Shop:1.4" }, `swarm-ha:${key}`, /has upper-case letters in its repository name, which Docker refuses: write it in lower case \('ghcr\.io\/acme\/shop:1\.4'\)/);
        expectProblem({ ...devRaw(), [key]: "https://ghcr.io/acme/shop:1" }, `swarm-ha:${key}`, /starts with a URL scheme \('https:\/\/'\); an image reference has none/);
    });

    test("references Docker accepts, and what empty means", () => {
        const digest = `sha256:${"a".repeat(64)}`;
        for (const ref of ["shop", "acme/shop:1.4.2", "ghcr.io/acme/shop:1.4.2", "localhost:5000/shop", `registry.example.com:5000/a/b/c@${digest}`, `haproxy:2.8@${digest}`, "my_org/my__app-x"]) {
            const c = accepted({ ...devRaw(), ...Object.fromEntries(IMAGE_KEYS.map((k) => [k, ref])) });
            expect([c.app.image, c.edge.haproxyImage, c.edge.keepalivedImage, c.redis.image, c.postgres.image, c.postgres.etcdImage, c.backups.image]).toEqual(
                IMAGE_KEYS.map(() => ref),
            );
        }
        expectProblem({ ...devRaw(), appImage: "Shop" }, "swarm-ha:appImage", /swarm-ha build its demo app \(images\/app\) on the app nodes/);
    });

    test("the data tier's images: each key read where its tier's settings are, a bad one refused naming that key and what empty builds", () => {
        const c = accepted({
            ...devRaw(),
            redisImage: "registry.example.com/swarm-ha/redis:1",
            postgresImage: "registry.example.com/swarm-ha/postgres:1",
            etcdImage: "registry.example.com/swarm-ha/etcd:1",
            backupImage: "registry.example.com/swarm-ha/backup:1",
        });
        expect(c.redis.image).toBe("registry.example.com/swarm-ha/redis:1");
        expect(c.postgres).toMatchObject({ image: "registry.example.com/swarm-ha/postgres:1", etcdImage: "registry.example.com/swarm-ha/etcd:1" });
        expect(c.backups.image).toBe("registry.example.com/swarm-ha/backup:1");
        // One key set leaves the others to swarm-ha's builds.
        const one = accepted({ ...devRaw(), postgresImage: "registry.example.com/swarm-ha/postgres:1" });
        expect([one.redis.image, one.postgres.etcdImage, one.backups.image, one.app.image]).toEqual([undefined, undefined, undefined, undefined]);
        const builds = {
            redisImage: /swarm-ha build its own Redis image \(images\/redis\) on the redis nodes/,
            postgresImage: /swarm-ha build its own Postgres image \(images\/postgres\) on the postgres nodes/,
            etcdImage: /swarm-ha build its own etcd image \(images\/etcd\) on the managers/,
            backupImage: /swarm-ha build its own backup image \(images\/backup\) on the node that keeps the backups/,
        };
        for (const [key, message] of Object.entries(builds)) {
            const p = problems({ ...devRaw(), [key]: "Swarm-HA/Postgres" });
            expect(p).toEqual([{ key: `swarm-ha:${key}`, message: expect.stringMatching(message) }]);
        }
    });
});

describe("rule 17: the TLS certificate", () => {
    const CERT = "-----BEGIN CERTIFICATE-----\nMIIBfakecertificatefakecertificate\n-----END CERTIFICATE-----\n";
    const KEY = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwfakeprivatekeyfakeprivatekey\n-----END PRIVATE KEY-----\n";
    const TLS_SECRET = new Set([...SECRET_KEYS, "swarm-ha:tlsCertificate"]);
    const SET_TLS = /pulumi config set --secret swarm-ha:tlsCertificate -- "\$\(cat fullchain\.pem privkey\.pem\)"/;
    const noEcho = (raw: RawConfig, secrets: Set<string>) => {
        for (const p of problems(raw, secrets)) expect(p.message).not.toMatch(/fake|MIIB|MC4C/);
    };

    test("a certificate and its key, set as a secret, are accepted; EC and RSA keys too, in PKCS#8 or their own form", () => {
        const ca = makeCertificate({ subject: "/CN=Test CA" });
        for (const type of ["ec", "rsa"] as const) {
            const site = makeCertificate({ subject: "/CN=shop.example.com", san: "DNS:shop.example.com", type });
            for (const key of [site.key, site.traditionalKey]) {
                // The server certificate first, then its chain; the key anywhere.
                expect(parseStackConfig({ ...devRaw(), tlsCertificate: site.cert + ca.cert + key }, TLS_SECRET)).not.toHaveProperty("tlsCertificate");
                expect(parseStackConfig({ ...devRaw(), tlsCertificate: (key + site.cert).replace(/\n/g, "\r\n") }, TLS_SECRET).nodes).toHaveLength(5);
            }
        }
    });

    test("stored in plain text", () => {
        const raw = { ...devRaw(), tlsCertificate: CERT + KEY };
        expectProblem(raw, "swarm-ha:tlsCertificate", /is stored in plain text, and it holds a private key: set it again with --secret \(pulumi config set --secret swarm-ha:tlsCertificate .*\), or remove it to serve HTTP only \(pulumi config rm swarm-ha:tlsCertificate\)/);
        noEcho(raw, SECRET_KEYS);
    });

    test.each([
        ["no certificate", KEY, /holds no certificate \(a -----BEGIN CERTIFICATE----- \.\.\. -----END CERTIFICATE----- block\); HAProxy needs the certificate chain and its private key in one PEM/],
        ["no private key", CERT, /holds no private key \(a -----BEGIN PRIVATE KEY----- block.*\); HAProxy needs/],
        ["neither", "-----BEGIN PUBLIC KEY-----\nMCowfakepublickey\n-----END PUBLIC KEY-----\n", /holds no certificate .* and no private key/],
        ["a certificate cut short", CERT.replace("-----END CERTIFICATE-----\n", "") + KEY, /holds no certificate/],
        ["a key whose END does not match", CERT + KEY.replace("-----END PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"), /holds no private key/],
        ["an encrypted PKCS#8 key", CERT + KEY.replace(/PRIVATE KEY/g, "ENCRYPTED PRIVATE KEY"), /holds an encrypted private key: HAProxy cannot load an encrypted key.*openssl pkey -in privkey\.pem -out privkey-plain\.pem/],
        ["a legacy encrypted RSA key", CERT + "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nfakefake\n-----END RSA PRIVATE KEY-----\n", /holds an encrypted private key/],
        ["one line, its line breaks escaped", (CERT + KEY).replace(/\n/g, "\\n"), /is a single line, so not the contents of a PEM file.*a file name\? Pulumi does not read files/],
        ["a file name", "/etc/ssl/private/site.pem", /is a single line/],
        ["blank", "  \n", /is blank, so it holds no certificate.*Remove it to serve HTTP only \(pulumi config rm swarm-ha:tlsCertificate\)/],
        ["empty, as a secret", "", /is blank/],
    ])("%s", (_label, value, why) => {
        const raw = { ...devRaw(), tlsCertificate: value };
        expectProblem(raw, "swarm-ha:tlsCertificate", why, TLS_SECRET);
        expectProblem(raw, "swarm-ha:tlsCertificate", SET_TLS, TLS_SECRET);
        noEcho(raw, TLS_SECRET);
    });

    test("a plain empty value is the default: no TLS", () => {
        expect(accepted({ ...devRaw(), tlsCertificate: "" }).nodes).toHaveLength(5);
    });
});

describe("rule 18: the HAProxy stats password", () => {
    test("is a suppliable secret: refused in plain text or blank, generated when empty", () => {
        expect(SUPPLIABLE_SECRETS.haproxyStatsPassword).toBe("haproxy-stats-password");
        expectProblem({ ...devRaw(), haproxyStatsPassword: "hunter2" }, "swarm-ha:haproxyStatsPassword", /is stored in plain text: set it again with --secret \(pulumi config set --secret swarm-ha:haproxyStatsPassword \.\.\.\), or remove it to have one generated/);
        expectProblem({ ...devRaw(), haproxyStatsPassword: " " }, "swarm-ha:haproxyStatsPassword", /is blank.*pulumi config rm swarm-ha:haproxyStatsPassword/, new Set([...SECRET_KEYS, "swarm-ha:haproxyStatsPassword"]));
        expect(accepted({ ...devRaw(), haproxyStatsPassword: "" }).nodes).toHaveLength(5);
    });
});

describe("rule 19: Redis with Sentinel", () => {
    // The dev stack's redis nodes: manager-2, manager-3 and worker-1.
    const withoutRedis = (...names: string[]) => devNodes().map((n) => (names.includes(n.name) ? { ...n, roles: n.roles.filter((r: string) => r !== "redis") } : n));

    test("fewer than 3 active redis nodes, without allowNonHa", () => {
        expectProblem(
            withNodes(withoutRedis("manager-3")),
            "swarm-ha:nodes",
            /^has 2 node\(s\) with role 'redis' and availability: active \(manager-2, worker-1\); Redis needs a primary and at least two replicas, one per node, each with a Sentinel beside it, so that when the primary's node dies the Sentinels left are a majority and promote a replica: add 'redis' to the roles of 1 more active node\(s\), or set swarm-ha:allowNonHa true for a test cluster \(a single Redis\)$/,
        );
        // A paused redis node does not count; activating it is one of the fixes.
        const nodes = devNodes();
        nodes[2].availability = "pause";
        expectProblem(withNodes(nodes), "swarm-ha:nodes", /has 2 node\(s\) with role 'redis'.*add 'redis' to the roles of 1 more active node\(s\), or set availability: active on swarm-ha:nodes\[2\] \(manager-3\), which is pause, or set swarm-ha:allowNonHa true/);
    });

    test("allowNonHa permits one redis node, not none", () => {
        const one = withoutRedis("manager-2", "manager-3");
        expect(accepted(withNodes(one, { allowNonHa: "true", redisMinReplicasToWrite: "0" })).redis.minReplicasToWrite).toBe(0);
        const none = withoutRedis("manager-2", "manager-3", "worker-1");
        expectProblem(withNodes(none, { allowNonHa: "true" }), "swarm-ha:nodes", /^has no node with role 'redis' and availability: active; Redis needs at least one: add 'redis' to the roles of 1 more active node\(s\)$/);
    });

    test("redisMinReplicasToWrite above the replicas there are would refuse every write", () => {
        expectProblem(
            { ...devRaw(), redisMinReplicasToWrite: "3" },
            "swarm-ha:redisMinReplicasToWrite",
            /^is 3, but 3 active node\(s\) with role 'redis' \(manager-2, manager-3, worker-1\) are a primary and 2 replica\(s\): the primary would wait for more replicas than exist and refuse every write\. Set it from 0 \(no bound on write loss\) to 2 \(e\.g\. pulumi config set swarm-ha:redisMinReplicasToWrite 1\), or add 'redis' to the roles of more active nodes$/,
        );
        // A single Redis (a test cluster) has no replica: the default 1 is refused, 0 is the fix.
        const one = withoutRedis("manager-2", "manager-3");
        expectProblem(withNodes(one, { allowNonHa: "true" }), "swarm-ha:redisMinReplicasToWrite", /is 1, but 1 active node\(s\) with role 'redis' \(worker-1\) are a primary and 0 replica\(s\).*Set it from 0 \(no bound on write loss\) to 0 \(e\.g\. pulumi config set swarm-ha:redisMinReplicasToWrite 0\)/);
        for (const value of ["-1", "one", "1.5"]) {
            expectProblem({ ...devRaw(), redisMinReplicasToWrite: value }, "swarm-ha:redisMinReplicasToWrite", /must be a whole number from 0 to 100 \(0 turns the bound off\) \(e\.g\. pulumi config set swarm-ha:redisMinReplicasToWrite 1\)/);
        }
        expect(accepted({ ...devRaw(), redisMinReplicasToWrite: "0" }).redis.minReplicasToWrite).toBe(0);
    });

    test("redisMinReplicasToWrite equal to every replica is a warning: one node down stops writes", () => {
        const c = accepted({ ...devRaw(), redisMinReplicasToWrite: "2" });
        expect(c.redis.minReplicasToWrite).toBe(2);
        expect(c.warnings).toEqual([
            {
                key: "swarm-ha:redisMinReplicasToWrite",
                message: expect.stringMatching(/^is 2, and 3 active node\(s\) with role 'redis' .* are a primary and 2 replica\(s\): while any one of them is down .* refuses every write\. To keep writing through the loss of a node, set it to 1 \(pulumi config set swarm-ha:redisMinReplicasToWrite 1\)/),
            },
        ]);
    });

    test("redisMinReplicasMaxLagSeconds from 1 to 60", () => {
        for (const value of ["0", "61", "5s"]) {
            expectProblem({ ...devRaw(), redisMinReplicasMaxLagSeconds: value }, "swarm-ha:redisMinReplicasMaxLagSeconds", /^must be a whole number from 1 to 60 \(seconds\) \(e\.g\. pulumi config set swarm-ha:redisMinReplicasMaxLagSeconds 5\)$/);
        }
        expect(accepted({ ...devRaw(), redisMinReplicasMaxLagSeconds: "1" }).redis.minReplicasMaxLagSeconds).toBe(1);
        expect(accepted({ ...devRaw(), redisMinReplicasMaxLagSeconds: "60" }).redis.minReplicasMaxLagSeconds).toBe(60);
    });

    test("redisDownAfterMs from 1000 to 60000: lower, a busy host triggers false failovers", () => {
        for (const value of ["999", "500", "60001", "3s"]) {
            expectProblem(
                { ...devRaw(), redisDownAfterMs: value },
                "swarm-ha:redisDownAfterMs",
                /^must be a whole number from 1000 to 60000 \(milliseconds; below 1000, a pause of a busy host looks to Sentinel like a dead primary and starts a needless failover\) \(e\.g\. pulumi config set swarm-ha:redisDownAfterMs 3000\)$/,
            );
        }
        expect(accepted({ ...devRaw(), redisDownAfterMs: "1000" }).redis.downAfterMs).toBe(1000);
        expect(accepted({ ...devRaw(), redisDownAfterMs: "60000" }).redis.downAfterMs).toBe(60000);
    });
});

describe("rule 20: Postgres with Patroni on etcd", () => {
    test("etcd needs 3 active managers: a drained manager runs no member", () => {
        const nodes = devNodes();
        nodes[0].availability = "drain";
        expectProblem(
            withNodes(nodes),
            "swarm-ha:nodes",
            /^has 2 manager\(s\) with availability: active \(manager-2, manager-3\); etcd, where Patroni keeps which Postgres is the primary, runs one member on each active manager and needs 3, so that it keeps a majority when one fails \(without one, the Postgres primary stops taking writes\): set availability: active on swarm-ha:nodes\[0\] \(manager-1\), which is drain, or set swarm-ha:allowNonHa true for a test cluster$/,
        );
        // Two of five idle managers: any one of them, back to active, is enough.
        const five = [...devNodes(), { name: "manager-4", address: "192.0.2.14", swarmRole: "manager", availability: "pause" }, { name: "manager-5", address: "192.0.2.15", swarmRole: "manager", availability: "drain" }];
        five[2].availability = "pause";
        expectProblem(withNodes(five), "swarm-ha:nodes", /has 2 manager\(s\) with availability: active \(manager-1, manager-2\).*set availability: active on 1 of swarm-ha:nodes\[2\] \(manager-3\), which is pause; swarm-ha:nodes\[5\] \(manager-4\), which is pause; swarm-ha:nodes\[6\] \(manager-5\), which is drain,/);
        five[6].availability = "active";
        expect(problems(withNodes(five)).filter((p) => /manager\(s\) with availability/.test(p.message))).toEqual([]);
    });

    test("a test cluster still needs one active manager for etcd", () => {
        const nodes = devNodes().filter((n) => n.name !== "manager-2" && n.name !== "manager-3");
        nodes[0].availability = "drain";
        expectProblem(withNodes(nodes, { allowNonHa: "true" }), "swarm-ha:nodes", /^has no manager with availability: active; etcd, .* and Postgres needs at least one: set availability: active on swarm-ha:nodes\[0\] \(manager-1\), which is drain$/);
    });

    test("postgresSynchronousMode is a boolean", () => {
        expectProblem({ ...devRaw(), postgresSynchronousMode: "on" }, "swarm-ha:postgresSynchronousMode", /^must be true or false \(pulumi config set swarm-ha:postgresSynchronousMode true\)$/);
        expect(accepted({ ...devRaw(), postgresSynchronousMode: "false" }).postgres.synchronousMode).toBe(false);
    });

    test("postgresMaxLagOnFailoverMb from 0 to 10240, handed over in bytes", () => {
        for (const value of ["-1", "10241", "1.5", "1MB"]) {
            expectProblem({ ...devRaw(), postgresMaxLagOnFailoverMb: value }, "swarm-ha:postgresMaxLagOnFailoverMb", /^must be a whole number from 0 to 10240 \(MiB\) \(e\.g\. pulumi config set swarm-ha:postgresMaxLagOnFailoverMb 1\)$/);
        }
        expect(accepted({ ...devRaw(), postgresMaxLagOnFailoverMb: "0" }).postgres.maxLagOnFailoverBytes).toBe(0);
        expect(accepted({ ...devRaw(), postgresMaxLagOnFailoverMb: "10240" }).postgres.maxLagOnFailoverBytes).toBe(10240 * 1024 * 1024);
    });

    test("the app's password is a suppliable secret: refused in plain text or blank, generated when empty", () => {
        expect(SUPPLIABLE_SECRETS.postgresAppPassword).toBe("postgres-app-password");
        expectProblem({ ...devRaw(), postgresAppPassword: "hunter2" }, "swarm-ha:postgresAppPassword", /^is stored in plain text: set it again with --secret \(pulumi config set --secret swarm-ha:postgresAppPassword \.\.\.\), or remove it to have one generated$/);
        expectProblem({ ...devRaw(), postgresAppPassword: " " }, "swarm-ha:postgresAppPassword", /is blank.*pulumi config rm swarm-ha:postgresAppPassword/, new Set([...SECRET_KEYS, "swarm-ha:postgresAppPassword"]));
        expect(accepted({ ...devRaw(), postgresAppPassword: "" }).nodes).toHaveLength(5);
        expect(parseStackConfig({ ...devRaw(), postgresAppPassword: "s3cret-app" }, new Set([...SECRET_KEYS, "swarm-ha:postgresAppPassword"])).nodes).toHaveLength(5);
    });
});

describe("rule 21: backups", () => {
    test.each([
        ["backupIntervalMinutes", 1, 10080, /^must be a whole number from 1 to 10080 \(minutes; 10080 is a week\) \(e\.g\. pulumi config set swarm-ha:backupIntervalMinutes 60\)$/],
        ["backupKeep", 1, 1000, /^must be a whole number from 1 to 1000 \(e\.g\. pulumi config set swarm-ha:backupKeep 7\)$/],
    ])("%s from %d to %d", (key, min, max, message) => {
        for (const value of [String(min - 1), String(max + 1), "1h", ""]) expectProblem({ ...devRaw(), [key]: value }, `swarm-ha:${key}`, message);
        const field = key === "backupKeep" ? "keep" : "intervalMinutes";
        expect(accepted({ ...devRaw(), [key]: String(min) }).backups[field]).toBe(min);
        expect(accepted({ ...devRaw(), [key]: String(max) }).backups[field]).toBe(max);
    });

    test("no active node besides the postgres-primary's to keep the backups on", () => {
        const nodes = devNodes().map((n) => (n.name === "worker-1" ? n : { ...n, availability: "drain" }));
        expectProblem(
            withNodes(nodes),
            "swarm-ha:nodes",
            /^has no active node other than swarm-ha:nodes\[3\] \(worker-1\), which has role 'postgres-primary': the backups are kept on another node, so that they survive the primary's host\. Set availability: active on another node \(swarm-ha:nodes\[0\] \(manager-1\) is drain, .* swarm-ha:nodes\[4\] \(worker-2\) is drain\), or add one$/,
        );
        // Any other active node will do, whatever its roles.
        expect(problems(withNodes(nodes.map((n) => (n.name === "manager-1" ? { ...n, availability: "active" } : n)))).filter((p) => /other than/.test(p.message))).toEqual([]);
    });
});

describe("rule 22: the data tier's service names fit Docker's 63", () => {
    const longName = (length: number) => `node-${"x".repeat(length - 5)}`;

    test("a redis node: its Sentinel's name is the bound", () => {
        const longest = SERVICE_NAME_MAX - sentinelServiceName("swarm-ha", "").length;
        const nodes = devNodes();
        nodes[2].name = longName(longest + 1);
        expectProblem(
            withNodes(nodes),
            "swarm-ha:nodes[2].name",
            new RegExp(
                `^'${nodes[2].name}' is ${longest + 1} characters: as a redis node, its Sentinel service, 'swarm-ha-sentinel-${nodes[2].name}', would be ${SERVICE_NAME_MAX + 1}, ` +
                    `over the ${SERVICE_NAME_MAX} characters a Docker service name may have \\(it is a DNS label\\)\\. With swarm-ha:namePrefix 'swarm-ha', a redis node's name may have at most ${longest} characters: rename the node \\(e\\.g\\. name: ${nodes[2].name.slice(0, longest)}\\), or shorten swarm-ha:namePrefix$`,
            ),
        );
        nodes[2].name = longName(longest);
        expect(accepted(withNodes(nodes)).nodes[2].name).toHaveLength(longest);
    });

    test("a Postgres node, and a manager (its etcd member)", () => {
        const pg = SERVICE_NAME_MAX - pgServiceName("swarm-ha", "").length;
        const etcd = SERVICE_NAME_MAX - etcdServiceName("swarm-ha", "").length;
        const nodes = [...devNodes(), { name: longName(etcd + 1), address: "192.0.2.14", swarmRole: "manager" }, { name: "manager-5", address: "192.0.2.15", swarmRole: "manager" }];
        nodes[4].name = longName(pg + 1);
        // Without monitoring (with it, the Postgres exporter's longer name is the bound: below).
        const noMonitoring = { monitoring: "false" };
        const p = problems(withNodes(nodes, noMonitoring));
        expect(p).toEqual([
            { key: "swarm-ha:nodes[4].name", message: expect.stringMatching(new RegExp(`as a Postgres node, its Postgres service, 'swarm-ha-pg-node-x+', would be ${SERVICE_NAME_MAX + 1}, .*a Postgres node's name may have at most ${pg} characters`)) },
            { key: "swarm-ha:nodes[5].name", message: expect.stringMatching(new RegExp(`as a manager, its etcd service, 'swarm-ha-etcd-node-x+', would be ${SERVICE_NAME_MAX + 1}, .*a manager's name may have at most ${etcd} characters`)) },
        ]);
        nodes[4].name = longName(pg);
        nodes[5].name = longName(etcd);
        expect(accepted(withNodes(nodes, noMonitoring)).nodes).toHaveLength(7);
    });

    test("with monitoring, a Postgres node's exporter bounds its name", () => {
        const exporter = SERVICE_NAME_MAX - pgExporterServiceName("swarm-ha", "").length;
        const nodes = devNodes();
        nodes[4].name = longName(exporter + 1);
        expect(problems(withNodes(nodes))).toEqual([
            {
                key: "swarm-ha:nodes[4].name",
                message: expect.stringMatching(new RegExp(`its Postgres exporter service, 'swarm-ha-pg-exporter-node-x+', would be ${SERVICE_NAME_MAX + 1}, .*a Postgres node's name may have at most ${exporter} characters`)),
            },
        ]);
        nodes[4].name = longName(exporter);
        expect(accepted(withNodes(nodes)).nodes[4].name).toHaveLength(exporter);
    });

    test("the services named by the prefix alone fit with the longest prefix allowed", () => {
        const prefix = "s".repeat(MAX_NAME_PREFIX);
        for (const name of [pgProxyServiceName(prefix), backupServiceName(prefix), ...Object.values(monitoringServiceNames(prefix))]) expect(name.length).toBeLessThanOrEqual(SERVICE_NAME_MAX);
        expect(accepted({ ...devRaw(), namePrefix: prefix }).namePrefix).toBe(prefix);
    });
});

describe("rule 23: the data tier can be turned off (dataTier)", () => {
    const DATA_ROLES = ["redis", "postgres-primary", "postgres-replica"];
    /** The dev stack's nodes with the data tier's roles taken off. */
    const withoutDataRoles = () => devNodes().map((n) => ({ ...n, roles: n.roles.filter((r: string) => !DATA_ROLES.includes(r)) }));

    test("a stack with no redis or postgres roles is refused with the data tier (the default), and accepted without it", () => {
        const nodes = withoutDataRoles();
        for (const raw of [withNodes(nodes), withNodes(nodes, { dataTier: "true" })]) {
            const p = problems(raw);
            expect(p.map((x) => x.message)).toEqual(
                expect.arrayContaining([
                    expect.stringMatching(/0 node\(s\) with role 'postgres-primary'/),
                    expect.stringMatching(/no node with role 'postgres-replica'/),
                    expect.stringMatching(/has no node with role 'redis' and availability: active/),
                ]),
            );
        }
        const c = accepted(withNodes(nodes, { dataTier: "false" }));
        expect(c.dataTier).toBe(false);
        expect(c.warnings).toEqual([]);
    });

    test("none of the data tier's rules applies without it; the other tiers' still do", () => {
        // manager-3 (a redis node) drained and renamed past its Sentinel's bound: too few redis
        // nodes and etcd members, Redis's write bound above its replicas, a per-node service name too long.
        const nodes = devNodes();
        nodes[2].availability = "drain";
        nodes[2].name = `node-${"x".repeat(SERVICE_NAME_MAX - sentinelServiceName("swarm-ha", "").length - 4)}`;
        const raw = withNodes(nodes, { redisMinReplicasToWrite: "5" });
        expect(problems(raw).map((p) => p.key)).toEqual(expect.arrayContaining(["swarm-ha:nodes", "swarm-ha:nodes[2].name", "swarm-ha:redisMinReplicasToWrite"]));
        expect(accepted({ ...raw, dataTier: "false" }).warnings.map((w) => w.key)).toEqual(["swarm-ha:dataTier"]);
        // One node, the Postgres primary's: nowhere else for the backups, no replica, no Redis.
        const lone = [{ name: "manager-1", address: "192.0.2.11", swarmRole: "manager", roles: ["edge", "app", "postgres-primary"] }];
        const loneRaw = withNodes(lone, { allowNonHa: "true", appReplicas: "1", monitoring: "false" });
        expect(problems(loneRaw).map((p) => p.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^has no active node other than swarm-ha:nodes\[0\] \(manager-1\)/)]));
        expect(accepted({ ...loneRaw, dataTier: "false" }).nodes).toHaveLength(1);
        // The edge's rule does not depend on the data tier.
        const oneEdge = withoutDataRoles();
        oneEdge[1].roles = [];
        expectProblem(withNodes(oneEdge, { dataTier: "false" }), "swarm-ha:nodes", /1 node\(s\) with role 'edge'.*needs 2/);
        // The data tier's settings are still read and checked: they are kept for when it is turned on.
        expectProblem(withNodes(withoutDataRoles(), { dataTier: "false", redisDownAfterMs: "10" }), "swarm-ha:redisDownAfterMs", /must be a whole number from 1000 to 60000/);
    });

    test("the data tier's roles on nodes without it are a warning: they run nothing", () => {
        const c = accepted({ ...devRaw(), dataTier: "false" });
        expect(c.warnings).toEqual([
            {
                key: "swarm-ha:dataTier",
                message:
                    "is false, but nodes have roles of the data tier, which run nothing without it: 'redis' on manager-2, manager-3, worker-1; " +
                    "'postgres-primary' on worker-1; 'postgres-replica' on worker-2. Remove those roles, or set swarm-ha:dataTier true to run Redis and Postgres there",
            },
        ]);
    });

    test("dataTier is true or false", () => {
        expectProblem({ ...devRaw(), dataTier: "no" }, "swarm-ha:dataTier", /^must be true or false \(pulumi config set swarm-ha:dataTier true\)$/);
    });
});

test("every problem is reported at once, in one error", () => {
    const nodes = devNodes();
    nodes[0].address = "not an address";
    nodes[1].name = "manager-1";
    const raw = withNodes(nodes, { vip: "nope" });
    delete raw.sshPrivateKey;
    const err = (() => {
        try {
            parseStackConfig(raw, SECRET_KEYS);
        } catch (e) {
            return e as ConfigError;
        }
    })()!;
    expect(err.problems.length).toBeGreaterThanOrEqual(3);
    expect(err.message).toMatch(/nothing was created or changed/);
    expect(err.message).toContain("swarm-ha:nodes[0].address");
    expect(err.message).toContain("swarm-ha:vip");
    expect(err.message).toContain("swarm-ha:sshPrivateKey");
});

test("a program run with invalid config creates nothing", async () => {
    const config = { ...devConfig(), "swarm-ha:sshPrivateKey": FAKE_SSH_KEY, "swarm-ha:vip": "192.0.2.11" };
    await expect(runProgram(config)).rejects.toThrow(/swarm-ha:vip: '192.0.2.11' is the address of/);
    // runProgram records every registration; rerun capturing the list on failure.
    let created = -1;
    try {
        await runProgram(config);
    } catch (e: any) {
        created = e.resourcesCreated ?? -1;
    }
    expect(created).toBe(0);
});

describe("the monitoring tier's settings", () => {
    test("on by default, with Grafana and cAdvisor pinned, its UIs on their edge ports, no receiver", () => {
        const m = accepted(withNodes(devNodes())).monitoring!;
        expect(m.grafana?.image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
        expect(m.cadvisor?.image).toMatch(/:v\d+\.\d+\.\d+$/);
        expect(m.ports).toEqual({ grafana: 3000, prometheus: 9090, alertmanager: 9093 });
        expect(m.webhookUrl ?? m.email ?? m.slackChannel).toBeUndefined();
    });

    test("needs an active node with the monitoring role, unless it is off", () => {
        const nodes = devNodes().map((n: any) => ({ ...n, roles: n.roles.filter((r: string) => r !== "monitoring") }));
        expectProblem(withNodes(nodes), "swarm-ha:nodes", /no active node with the monitoring role.*or set swarm-ha:monitoring false/);
        expect(accepted(withNodes(nodes, { monitoring: "false" })).monitoring).toBeUndefined();
    });

    test("a UI port that collides with an edge port is refused; 0 turns a UI off", () => {
        expectProblem(withNodes(devNodes(), { grafanaPort: "8404" }), "swarm-ha:grafanaPort", /the same as swarm-ha:statsPort/);
        expect(accepted(withNodes(devNodes(), { prometheusPort: "0" })).monitoring!.ports.prometheus).toBeUndefined();
        // Without monitoring its ports bind nothing, so they collide with nothing.
        expect(() => accepted(withNodes(devNodes(), { monitoring: "false", grafanaPort: "8404" }))).not.toThrow();
    });

    test("alert mail needs its From address and server, and a login its password", () => {
        const raw = withNodes(devNodes(), { alertEmailTo: "ops@example.com", alertEmailUsername: "am" });
        const keys = problems(raw).map((p) => p.key);
        expect(keys).toEqual(expect.arrayContaining(["swarm-ha:alertEmailFrom", "swarm-ha:alertEmailSmarthost", "swarm-ha:alertEmailPassword"]));
        expectProblem(withNodes(devNodes(), { alertEmailTo: "not-an-address" }), "swarm-ha:alertEmailTo", /must be an email address/);
    });

    test("receivers' credentials are refused in plain text, and a webhook must be a URL", () => {
        expectProblem(withNodes(devNodes(), { alertSlackApiUrl: "https://hooks.slack.com/services/T/B/x" }), "swarm-ha:alertSlackApiUrl", /plain text.*--secret/);
        expectProblem(withNodes(devNodes(), { alertEmailPassword: "hunter2" }), "swarm-ha:alertEmailPassword", /plain text.*--secret/);
        const secret = new Set([...SECRET_KEYS, "swarm-ha:alertSlackApiUrl"]);
        expectProblem(withNodes(devNodes(), { alertSlackApiUrl: "http://insecure" }), "swarm-ha:alertSlackApiUrl", /hooks\.slack\.com/, secret);
        expectProblem(withNodes(devNodes(), { alertWebhookUrl: "ftp://x" }), "swarm-ha:alertWebhookUrl", /http:\/\/ or https:\/\//);
        expectProblem(withNodes(devNodes(), { alertDeadMansSwitchUrl: "https://hc-ping.com/uuid" }), "swarm-ha:alertDeadMansSwitchUrl", /plain text.*--secret/);
        const switchSecret = new Set([...SECRET_KEYS, "swarm-ha:alertDeadMansSwitchUrl"]);
        expectProblem(withNodes(devNodes(), { alertDeadMansSwitchUrl: "hc-ping.com/uuid" }), "swarm-ha:alertDeadMansSwitchUrl", /must be an http\(s\) URL/, switchSecret);
    });

    test("Grafana on needs its image", () => {
        expectProblem(withNodes(devNodes(), { grafanaImage: "" }), "swarm-ha:grafanaImage", /does not build it.*or set swarm-ha:grafana false/);
    });
});

describe("host keys", () => {
    const PINNED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKDzL2LzgZmLza1BX90iXftJprDkDmhaTmoAWr9sx1a9";
    const nodesWith = (hostKey: unknown) => devNodes().map((n, i) => (i === 3 ? { ...n, hostKey } : n));

    test("a pin is read from ssh-keyscan's line or a .pub file's, to 'type base64'", () => {
        for (const given of [`192.0.2.21 ${PINNED}`, `${PINNED} root@worker-1`, `  ${PINNED}\n`]) {
            expect(parseStackConfig(withNodes(nodesWith(given)), SECRET_KEYS).nodes[3].hostKey).toBe(PINNED);
        }
    });

    test("the dev stack pins every node's key, so it has no warning about them", () => {
        expect(parseStackConfig(devRaw(), SECRET_KEYS).nodes.every((n) => n.hostKey?.startsWith("ssh-ed25519 "))).toBe(true);
    });

    test("nodes without a pin are named in a warning", () => {
        const c = parseStackConfig(withNodes(devNodes().map(({ hostKey, ...n }: any) => (n.name.startsWith("worker") ? n : { ...n, hostKey }))), SECRET_KEYS);
        expect(c.warnings).toEqual([{ key: "swarm-ha:nodes", message: expect.stringMatching(/^no hostKey pinned for worker-1, worker-2: .*ssh-keyscan -t ed25519/) }]);
    });

    test.each([
        ["a private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", /is a private key; give the host's PUBLIC key/],
        ["no key type", "AAAAC3NzaC1lZDI1NTE5AAAAIKDzL2Lz", /is not an SSH public host key: expected one of ssh-ed25519, .* and its base64 key/],
        ["a truncated key", "ssh-ed25519 AAAAC3Nza", /has a ssh-ed25519 key whose base64 is not a ssh-ed25519 key/],
        ["another type's key under this type", `ssh-rsa ${PINNED.split(" ")[1]}`, /has a ssh-rsa key whose base64 is not a ssh-rsa key/],
        ["a number", 12, /is a number \(12\), but must be an SSH public host key/],
    ])("refused: %s", (_what, hostKey, message) => {
        expectProblem(withNodes(nodesWith(hostKey)), "swarm-ha:nodes[3].hostKey", message);
    });
});

/** Every problem of `raw`, from the one ConfigError parsing it throws. */
function oneError(raw: RawConfig, secretKeys: Set<string> = SECRET_KEYS): ConfigError {
    try {
        parseStackConfig(raw, secretKeys);
    } catch (e) {
        if (e instanceof ConfigError) return e;
        throw e;
    }
    throw new Error("expected a ConfigError, but the config was accepted");
}

/** Each of `expected` (a key and what its message must say) is in the one error, and its text. */
function expectAllInOneError(raw: RawConfig, expected: [string, RegExp][], secretKeys?: Set<string>) {
    const err = oneError(raw, secretKeys);
    expect(err.problems).toEqual(expect.arrayContaining(expected.map(([key, message]) => ({ key, message: expect.stringMatching(message) }))));
    for (const [key] of expected) expect(err.message).toContain(`  - ${key}: `);
}

describe("rule 24: published ports against what already listens on the hosts", () => {
    const EDGE_PORTS = ["httpPort", "httpsPort", "statsPort", "healthPort", "grafanaPort", "prometheusPort", "alertmanagerPort"];

    test.each(EDGE_PORTS)("%s equal to SSH's port, whatever sshPort is, or to a Swarm port", (key) => {
        const sshTaken = /the port of sshd's \(swarm-ha:sshPort\), which swarm-ha itself connects to on every node: HAProxy publishes it on each edge node, where it is already taken\. Pick another \(e\.g\. pulumi config set swarm-ha:\w+ \d+\)/;
        expectProblem({ ...devRaw(), [key]: "22" }, `swarm-ha:${key}`, new RegExp(`^is 22, ${sshTaken.source}`));
        expectProblem({ ...devRaw(), sshPort: "2222", [key]: "2222" }, `swarm-ha:${key}`, new RegExp(`^is 2222, ${sshTaken.source}`));
        // SSH moved elsewhere: 22 is free for HAProxy.
        expect(() => accepted({ ...devRaw(), sshPort: "2222", [key]: "22" })).not.toThrow();
        for (const [port, what] of [["2377", /control plane/], ["7946", /gossip/], ["4789", /overlay traffic, VXLAN/]] as const) {
            expectProblem({ ...devRaw(), [key]: port }, `swarm-ha:${key}`, new RegExp(`^is ${port}, the port of Docker Swarm's ${what.source}.* on every node: .*Pick another \\(e\\.g\\. pulumi config set swarm-ha:${key} \\d+\\)$`));
        }
    });

    test("the suggested port is free: not SSH's, a Swarm port, nor another edge port", () => {
        // statsPort's default 8404 is taken by httpPort here, so the next free one is offered.
        expectProblem({ ...devRaw(), httpPort: "8404", statsPort: "22" }, "swarm-ha:statsPort", /pulumi config set swarm-ha:statsPort 8406\)$/);
    });

    test("a monitoring port that is off (0), or monitoring off, publishes nothing and collides with nothing", () => {
        expect(accepted({ ...devRaw(), grafanaPort: "0", prometheusPort: "0" }).monitoring!.ports).toEqual({ alertmanager: 9093 });
        expect(accepted({ ...devRaw(), monitoring: "false", grafanaPort: "22", prometheusPort: "2377", alertmanagerPort: "7946" }).monitoring).toBeUndefined();
    });

    test("sshPort on a Swarm port: sshd and the swarm cannot both listen", () => {
        for (const port of ["2377", "7946", "4789"]) {
            expectProblem({ ...devRaw(), sshPort: port }, "swarm-ha:sshPort", new RegExp(`^is ${port}, the port of Docker Swarm's .*: sshd and the swarm cannot both listen on it\\. Run sshd on another port and set it \\(e\\.g\\. pulumi config set swarm-ha:sshPort 22\\)$`));
        }
    });

    test("every collision is in the one error, with the other classes' problems", () => {
        expectAllInOneError({ ...devRaw(), httpPort: "22", statsPort: "2377", healthPort: "7946", prometheusPort: "4789", alertmanagerPort: "443", appReplicas: "600" }, [
            ["swarm-ha:httpPort", /^is 22, the port of sshd's/],
            ["swarm-ha:statsPort", /^is 2377, the port of Docker Swarm's control plane/],
            ["swarm-ha:healthPort", /^is 7946, the port of Docker Swarm's gossip/],
            ["swarm-ha:prometheusPort", /^is 4789, the port of Docker Swarm's overlay traffic/],
            // Another published port on the same nodes (rule 11).
            ["swarm-ha:alertmanagerPort", /^is 443, the same as swarm-ha:httpsPort/],
            ["swarm-ha:appReplicas", /from 1 to 500/],
        ]);
    });
});

describe("rule 25: TLS material that cannot serve (read with node:crypto)", () => {
    const TLS_SECRET = new Set([...SECRET_KEYS, "swarm-ha:tlsCertificate"]);
    const SET_TLS = /pulumi config set --secret swarm-ha:tlsCertificate -- "\$\(cat fullchain\.pem privkey\.pem\)"/;
    const site = makeCertificate({ subject: "/CN=shop.example.com", san: "DNS:shop.example.com" });
    const other = makeCertificate({ subject: "/CN=other.example.com", san: "DNS:other.example.com", type: "rsa" });
    const withTls = (pem: string, extra: RawConfig = {}) => ({ ...devRaw(), tlsCertificate: pem, ...extra });
    /** No message may repeat any line of the key's base64. */
    const noEcho = (raw: RawConfig) => {
        const keyLines = [site.key, other.key].flatMap((k) => k.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----")));
        for (const p of problems(raw, TLS_SECRET)) for (const line of keyLines) expect(p.message).not.toContain(line);
    };
    afterEach(() => jest.useRealTimers());

    test.each([
        ["a certificate and another's key (not a pair)", () => site.cert + other.key, /holds a private key that is not the first certificate's \(CN=shop\.example\.com\): HAProxy serves the first certificate, and refuses a key of another\. Put the server certificate first/],
        ["the chain's certificate first, before the server's own", () => other.cert + site.cert + site.key, /holds a private key that is not the first certificate's \(CN=other\.example\.com\)/],
        ["a certificate block whose contents do not parse", () => cutShort(site.cert) + site.key, /has certificate block\(s\) whose contents do not parse as X\.509 \(the 1st certificate; cut short, edited, or not base64\?\): copy the files again/],
        ["a chain's second block that does not parse", () => site.cert + cutShort(other.cert) + site.key, /do not parse as X\.509 \(the 2nd certificate;/],
        ["a key block whose contents do not parse", () => site.cert + cutShort(site.key), /has a private key block whose contents do not parse .*openssl pkey -in privkey\.pem -noout/],
    ])("refused: %s", (_what, pem, why) => {
        const raw = withTls(pem());
        expectProblem(raw, "swarm-ha:tlsCertificate", why, TLS_SECRET);
        expectProblem(raw, "swarm-ha:tlsCertificate", SET_TLS, TLS_SECRET);
        noEcho(raw);
    });

    test("an expired certificate, and one not valid yet", () => {
        const raw = withTls(site.cert + site.key);
        expect(parseStackConfig(raw, TLS_SECRET).nodes).toHaveLength(5);
        // The certificate is valid for a day: three days on it has expired.
        jest.useFakeTimers({ now: Date.now() + 3 * 86_400_000 });
        expectProblem(raw, "swarm-ha:tlsCertificate", /^holds a certificate that expired on \d{4}-\d\d-\d\dT[\d:.]+Z: every client would refuse it\. Renew it \(or have it reissued\) and set the new one: pulumi config set --secret/, TLS_SECRET);
        jest.useFakeTimers({ now: Date.now() - 6 * 86_400_000 });
        expectProblem(raw, "swarm-ha:tlsCertificate", /^holds a certificate that is not valid until .*: until then every client refuses it\. Check this machine's clock/, TLS_SECRET);
        noEcho(raw);
    });

    test("a certificate for no name clients reach the edge by is a warning: only IPs, none the VIP's or an edge node's; only localhost; none at all", () => {
        const warning = (pem: string, extra: RawConfig = {}) => parseStackConfig(withTls(pem, extra), TLS_SECRET).warnings.filter((w) => w.key === "swarm-ha:tlsCertificate");
        const foreignIp = makeCertificate({ subject: "/O=acme", san: "IP:203.0.113.7" });
        expect(warning(foreignIp.cert + foreignIp.key)).toEqual([
            {
                key: "swarm-ha:tlsCertificate",
                message: expect.stringMatching(/^holds a certificate for 203\.0\.113\.7, which matches none of the addresses clients reach the edge by \(192\.0\.2\.100, 192\.0\.2\.11, 192\.0\.2\.12, or a DNS name for them\): .*Get a certificate for the name clients use \(its DNS name, or the VIP\), and set it: pulumi config set --secret/),
            },
        ]);
        const local = makeCertificate({ subject: "/CN=localhost", san: "DNS:localhost,IP:127.0.0.1" });
        expect(warning(local.cert + local.key)).toEqual([{ key: "swarm-ha:tlsCertificate", message: expect.stringMatching(/^holds a certificate for localhost, 127\.0\.0\.1, which matches none/) }]);
        const nameless = makeCertificate({ subject: "/O=acme" });
        expect(warning(nameless.cert + nameless.key)).toEqual([{ key: "swarm-ha:tlsCertificate", message: expect.stringMatching(/^holds a certificate for no name at all/) }]);
        // Not warned: a DNS name (the one clients use is not in config), the VIP, an edge node's own address.
        const forVip = makeCertificate({ subject: "/O=acme", san: "IP:192.0.2.100" });
        const forEdge = makeCertificate({ subject: "/O=acme", san: "IP:192.0.2.12" });
        expect([site, forVip, forEdge].flatMap((c) => warning(c.cert + c.key))).toEqual([]);
        // Without a VIP, the edge nodes' addresses are what clients use.
        expect(warning(forVip.cert + forVip.key, { vip: "" })).toHaveLength(1);
        expect(warning(forEdge.cert + forEdge.key, { vip: "" })).toEqual([]);
    });

    test("every TLS problem comes in the one error, with the other classes'", () => {
        jest.useFakeTimers({ now: Date.now() + 3 * 86_400_000 });
        expectAllInOneError(
            withTls(site.cert + cutShort(other.cert) + other.key, { httpPort: "22" }),
            [
                ["swarm-ha:tlsCertificate", /not the first certificate's/],
                ["swarm-ha:tlsCertificate", /do not parse as X\.509 \(the 2nd certificate/],
                ["swarm-ha:tlsCertificate", /expired on/],
                ["swarm-ha:httpPort", /the port of sshd's/],
            ],
            TLS_SECRET,
        );
    });
});

describe("rule 26: numbers the renderers cannot honour are refused up front, by key", () => {
    test("appReplicas: HAProxy keeps two server slots per task, at most 1000", () => {
        // Room for them: two app nodes of 260 each hold 500 and the rolling update's one more.
        const roomy = { appMaxReplicasPerNode: "260" };
        for (const value of ["501", "999", "100000"]) {
            expectProblem({ ...devRaw(), ...roomy, appReplicas: value }, "swarm-ha:appReplicas", /^must be a whole number from 1 to 500 \(HAProxy keeps two server slots per task, at most 1000\) \(e\.g\. pulumi config set swarm-ha:appReplicas 2\)$/);
        }
        expect(accepted({ ...devRaw(), ...roomy, appReplicas: "500" }).app.replicas).toBe(500);
    });

    test("redisMinReplicasToWrite: redis.conf takes at most 100, whatever the nodes", () => {
        expectProblem({ ...devRaw(), redisMinReplicasToWrite: "101" }, "swarm-ha:redisMinReplicasToWrite", /^must be a whole number from 0 to 100 \(0 turns the bound off\) \(e\.g\. pulumi config set swarm-ha:redisMinReplicasToWrite 1\)$/);
    });

    test("alertEmailSmarthost: a port out of 1 to 65535 (amtool check-config takes it; every mail would then fail)", () => {
        const mail = { alertEmailTo: "ops@example.com", alertEmailFrom: "am@example.com" };
        for (const smarthost of ["smtp.example.com:65536", "smtp.example.com:99999", "smtp.example.com:0"]) {
            expectProblem({ ...devRaw(), ...mail, alertEmailSmarthost: smarthost }, "swarm-ha:alertEmailSmarthost", /^has a port out of 1 to 65535: give the SMTP server's port, usually 587 \(e\.g\. pulumi config set swarm-ha:alertEmailSmarthost smtp\.example\.com:587\)$/);
        }
        expect(accepted({ ...devRaw(), ...mail, alertEmailSmarthost: "smtp.example.com:65535" }).monitoring!.email!.smarthost).toBe("smtp.example.com:65535");
    });

    test("Postgres nodes: the Postgres proxy takes at most 16", () => {
        const replicas = (count: number) => Array.from({ length: count }, (_, i) => ({ name: `pg-${i + 1}`, address: `192.0.2.${100 + i + 1}`, swarmRole: "worker", roles: ["postgres-replica"] }));
        // The dev stack has the primary and one replica: 15 more are 17.
        expectProblem(
            withNodes([...devNodes(), ...replicas(15)], { vip: "192.0.2.250" }),
            "swarm-ha:nodes",
            /^has 17 active Postgres nodes \(roles 'postgres-primary' and 'postgres-replica'\); the Postgres proxy takes at most 16, .*: take 'postgres-replica' off 1 node\(s\)$/,
        );
        expect(accepted(withNodes([...devNodes(), ...replicas(14)], { vip: "192.0.2.250" })).nodes).toHaveLength(19);
    });

    test("a Postgres node named like another's fallback line in the Postgres proxy (<node>-leader)", () => {
        const nodes = devNodes();
        nodes[4].name = "worker-1-leader";
        expectProblem(withNodes(nodes), "swarm-ha:nodes[4].name", /^'worker-1-leader' is the name the Postgres proxy gives its fallback line for swarm-ha:nodes\[3\] \(worker-1\), and both are Postgres nodes: rename this node \(e\.g\. name: worker-1-2\)$/);
        // Only among Postgres nodes: the proxy names no other node's lines.
        nodes[4].roles = ["app"];
        nodes.push({ name: "worker-3", address: "192.0.2.23", swarmRole: "worker", roles: ["postgres-replica"] });
        expect(accepted(withNodes(nodes)).nodes[4].name).toBe("worker-1-leader");
    });

    test("every bound is refused in the one error", () => {
        expectAllInOneError({ ...devRaw(), appReplicas: "501", redisMinReplicasToWrite: "101", alertEmailTo: "ops@example.com", alertEmailFrom: "am@example.com", alertEmailSmarthost: "smtp.example.com:70000", backupKeep: "1001", backupIntervalMinutes: "10081", redisDownAfterMs: "60001", redisMinReplicasMaxLagSeconds: "61" }, [
            ["swarm-ha:appReplicas", /from 1 to 500/],
            ["swarm-ha:redisMinReplicasToWrite", /from 0 to 100/],
            ["swarm-ha:alertEmailSmarthost", /port out of 1 to 65535/],
            ["swarm-ha:backupKeep", /from 1 to 1000/],
            ["swarm-ha:backupIntervalMinutes", /from 1 to 10080/],
            ["swarm-ha:redisDownAfterMs", /from 1000 to 60000/],
            ["swarm-ha:redisMinReplicasMaxLagSeconds", /from 1 to 60/],
        ]);
    });

    test("a stack at every bound the check accepts runs the whole program: no renderer throws", async () => {
        const replicas = Array.from({ length: 14 }, (_, i) => ({ name: `pg-${i + 1}`, address: `192.0.2.${100 + i + 1}`, swarmRole: "worker", roles: ["postgres-replica", "redis"] }));
        const config: Record<string, string> = {
            ...devConfig(),
            "swarm-ha:sshPrivateKey": FAKE_SSH_KEY,
            "swarm-ha:nodes": JSON.stringify([...devNodes(), ...replicas]),
            "swarm-ha:vip": "192.0.2.250",
            "swarm-ha:appReplicas": "500",
            "swarm-ha:appMaxReplicasPerNode": "260",
            "swarm-ha:redisMinReplicasToWrite": "15",
            "swarm-ha:redisMinReplicasMaxLagSeconds": "60",
            "swarm-ha:redisDownAfterMs": "60000",
            "swarm-ha:backupIntervalMinutes": "10080",
            "swarm-ha:backupKeep": "1000",
            "swarm-ha:postgresMaxLagOnFailoverMb": "10240",
            "swarm-ha:postgresLagAlertMb": "10240",
            "swarm-ha:prometheusRetentionDays": "3650",
            "swarm-ha:alertEmailTo": "ops@example.com",
            "swarm-ha:alertEmailFrom": "am@example.com",
            "swarm-ha:alertEmailSmarthost": "smtp.example.com:65535",
            "swarm-ha:vrrpRouterId": "255",
            "swarm-ha:httpPort": "65535",
            // A pulled app image: the program needs no build of the demo app for this.
            "swarm-ha:appImage": "ghcr.io/acme/shop:1.4.2",
        };
        const raw = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^swarm-ha:/, ""), v]));
        expect(accepted(raw).nodes).toHaveLength(19);
        const run = await runProgram(config);
        expect(run.byName("edge-manager-1-haproxy-config")).toBeDefined();
    }, 120_000);
});

describe("rule 27: every tier refuses a stack where all the nodes it needs are drained or paused", () => {
    /** The dev stack with `availability` set on the nodes that match. */
    const idled = (match: (n: any) => boolean, availability = "drain") => devNodes().map((n) => (match(n) ? { ...n, availability } : n));
    const has = (role: string) => (n: any) => n.roles.includes(role);

    test.each([
        ["the edge (HAProxy, keepalived)", has("edge"), {}, [["swarm-ha:nodes", /^has 0 node\(s\) with role 'edge' and availability: active; the load balancer needs 2 .*or set availability: active on swarm-ha:nodes\[0\] \(manager-1\), which is drain; swarm-ha:nodes\[1\] \(manager-2\), which is drain$/]]],
        ["the app", has("app"), {}, [["swarm-ha:appReplicas", /room for 0 task\(s\): no active node has role 'app'.*or set availability: active on swarm-ha:nodes\[3\] \(worker-1\), which has it but is drain/]]],
        ["monitoring (Prometheus, Grafana)", has("monitoring"), {}, [["swarm-ha:nodes", /^has no active node with the monitoring role, which Prometheus \(and Grafana\) run on: .*, or set availability: active on swarm-ha:nodes\[0\] \(manager-1\), which is drain; swarm-ha:nodes\[1\] \(manager-2\), which is drain, or set swarm-ha:monitoring false$/]]],
        [
            "monitoring's managers (Alertmanager, the Docker API proxy), without the data tier",
            (n: any) => n.swarmRole === "manager",
            { dataTier: "false" },
            [["swarm-ha:nodes", /^has no manager with availability: active, but the monitoring tier runs its Alertmanagers.*on active managers: set availability: active on swarm-ha:nodes\[0\] \(manager-1\), which is drain; .*, or set swarm-ha:monitoring false$/]],
        ],
        ["Redis", has("redis"), {}, [["swarm-ha:nodes", /^has no node with role 'redis' and availability: active; .*or set availability: active on/]]],
        ["Postgres", (n: any) => has("postgres-primary")(n) || has("postgres-replica")(n), {}, [["swarm-ha:nodes[3].availability", /has role 'postgres-primary'.*Set availability: active/], ["swarm-ha:nodes[4].availability", /has role 'postgres-replica'/]]],
        ["etcd (the managers), with the data tier", (n: any) => n.swarmRole === "manager", { monitoring: "false" }, [["swarm-ha:nodes", /^has no manager with availability: active; etcd, where Patroni keeps which Postgres is the primary/]]],
    ] as [string, (n: any) => boolean, RawConfig, [string, RegExp][]][])("%s", (_tier, match, extra, expected) => {
        for (const availability of ["drain", "pause"]) {
            const fixed = expected.map(([k, m]): [string, RegExp] => [k, new RegExp(m.source.replace(/which (has it but )?is drain/g, `which $1is ${availability}`).replace(/is drain/g, `is ${availability}`))]);
            expectAllInOneError(withNodes(idled(match, availability), extra), fixed);
        }
    });

    test("with monitoring off, managers may all be drained (a common way to keep work off them) when nothing else needs them", () => {
        const nodes = idled((n) => n.swarmRole === "manager").map((n) => ({ ...n, roles: [] as string[] }));
        // The edge moves to the workers; without the data tier nothing else runs on managers.
        nodes[3].roles = ["edge", "app"];
        nodes[4].roles = ["edge", "app"];
        const c = accepted(withNodes(nodes, { monitoring: "false", dataTier: "false", vip: "" }));
        expect(c.nodes.filter((n) => n.availability === "drain").map((n) => n.name)).toEqual(["manager-1", "manager-2", "manager-3"]);
    });
});

describe("rule 28: identifiers that are not what they look like", () => {
    /** An SSH wire-format blob's base64: each field a 32-bit length and its bytes. */
    const blob = (...fields: (string | Buffer)[]) =>
        Buffer.concat(fields.flatMap((f) => {
            const b = Buffer.from(f);
            const len = Buffer.alloc(4);
            len.writeUInt32BE(b.length);
            return [len, b];
        })).toString("base64");
    const nodesWith = (hostKey: unknown) => devNodes().map((n, i) => (i === 3 ? { ...n, hostKey } : n));
    const point = (bytes: number) => Buffer.concat([Buffer.from([4]), Buffer.alloc(bytes - 1, 7)]);

    test.each([
        ["an Ed25519 key of 31 bytes", `ssh-ed25519 ${blob("ssh-ed25519", Buffer.alloc(31, 1))}`, /has a ssh-ed25519 key whose base64 is not a ssh-ed25519 key \(an Ed25519 key is 32 bytes: truncated or mistyped\?\); copy it again, e\.g\. hostKey: "ssh-ed25519 AAAA/],
        ["an Ed25519 key of 33 bytes", `ssh-ed25519 ${blob("ssh-ed25519", Buffer.alloc(33, 1))}`, /an Ed25519 key is 32 bytes/],
        ["bytes after the key", `ssh-ed25519 ${blob("ssh-ed25519", Buffer.alloc(32, 1))}AAAA`, /its fields do not add up/],
        ["a nistp256 point of 64 bytes", `ecdsa-sha2-nistp256 ${blob("ecdsa-sha2-nistp256", "nistp256", point(64))}`, /a nistp256 point is 65 bytes/],
        ["a nistp384 key naming another curve", `ecdsa-sha2-nistp384 ${blob("ecdsa-sha2-nistp384", "nistp256", point(97))}`, /it names another curve than nistp384/],
        ["an RSA modulus of 512 bits", `ssh-rsa ${blob("ssh-rsa", Buffer.from([1, 0, 1]), Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 0xc3)]))}`, /an RSA modulus has at least 1024 bits/],
    ])("a host key of the wrong length: %s", (_what, hostKey, message) => {
        expectProblem(withNodes(nodesWith(hostKey)), "swarm-ha:nodes[3].hostKey", message);
    });

    test("host keys of the right lengths are accepted, of every type", () => {
        for (const hostKey of [
            `ecdsa-sha2-nistp256 ${blob("ecdsa-sha2-nistp256", "nistp256", point(65))}`,
            `ecdsa-sha2-nistp521 ${blob("ecdsa-sha2-nistp521", "nistp521", point(133))}`,
            `ssh-rsa ${blob("ssh-rsa", Buffer.from([1, 0, 1]), Buffer.concat([Buffer.from([0]), Buffer.alloc(256, 0xc3)]))}`,
        ]) {
            expect(accepted(withNodes(nodesWith(hostKey))).nodes[3].hostKey).toBe(hostKey);
        }
    });

    test.each([
        ["192.0.2.0", "24", "the network address of its network 192.0.2.0/24", "192.0.2.100"],
        ["192.0.2.255", "24", "the broadcast address of its network 192.0.2.0/24", "192.0.2.100"],
        ["192.0.2.15", "28", "the broadcast address of its network 192.0.2.0/28", "192.0.2.1"],
    ])("a VIP that is its subnet's network or broadcast address: %s/%s", (vip, prefix, what, suggested) => {
        expectProblem(
            withNodes(devNodes(), { vip, vipPrefixLength: prefix }),
            "swarm-ha:vip",
            new RegExp(`^'${vip.replace(/\./g, "\\.")}' is ${what.replace(/\./g, "\\.").replace(/\//g, "\\/")} \\(by swarm-ha:vipPrefixLength ${prefix}\\), which names no single host: pick a free address between them on the edge nodes' network \\(e\\.g\\. pulumi config set swarm-ha:vip ${suggested.replace(/\./g, "\\.")}\\), or set swarm-ha:vipPrefixLength to that network's real prefix length$`),
        );
    });

    test("an IPv6 VIP that is its subnet's Subnet-Router anycast address; /31 and /32 have no network or broadcast address", () => {
        const v6 = devNodes().map((n, i) => ({ ...n, address: `2001:db8::${i + 11}` }));
        expectProblem(withNodes(v6, { vip: "2001:db8::", vipPrefixLength: "64", defaultAddrPool: "10.20.0.0/16" }), "swarm-ha:vip", /^'2001:db8::' is the network address \(the Subnet-Router anycast address\) of its network 2001:db8::\/64/);
        const p2p = devNodes().map((n, i) => (i < 2 ? { ...n, address: `192.0.2.${i + 10}` } : n));
        for (const [vip, prefix] of [["192.0.2.10", "31"], ["192.0.2.11", "32"]]) {
            expect(problems(withNodes(p2p, { vip, vipPrefixLength: prefix })).filter((p) => /names no single host/.test(p.message))).toEqual([]);
        }
    });

    test.each([
        ["a C1 control (NEL, U+0085)", "a\u0085b"],
        ["a C1 control (CSI, U+009B)", "\u009b31m"],
        ["DEL", "a\u007f"],
        ["a C0 control (ESC)", "\u001b[31m"],
    ])("a label value with %s", (_what, value) => {
        const nodes = devNodes();
        nodes[0].labels = { zone: value };
        expectProblem(withNodes(nodes), "swarm-ha:nodes[0].labels.zone", /^label values must not contain control characters or newlines \(C0, DEL or C1\): write the value on one line, in printable characters$/);
    });

    test("a label key with control characters is refused, shown escaped in the key", () => {
        const nodes = devNodes();
        nodes[0].labels = { "zone\u0085x": "a", "rack\n": "b" };
        expectAllInOneError(withNodes(nodes), [
            ['swarm-ha:nodes[0].labels["zone\\u0085x"]', /^is not a valid label key \(it holds control characters, shown escaped\): use lower-case letters/],
            ['swarm-ha:nodes[0].labels["rack\\u000a"]', /^is not a valid label key \(it holds control characters, shown escaped\)/],
        ]);
    });

    test("names JavaScript objects eat: a __proto__ label (lost without a word), constructor as a label or node name", () => {
        const nodes = devNodes();
        nodes[1].labels = { zone: "b", constructor: "y" };
        nodes[4].name = "constructor";
        const raw = withNodes(nodes);
        // Written as JSON (as Pulumi hands it over), where __proto__ is an ordinary key.
        raw.nodes = raw.nodes!.replace('"labels":{"zone":"a"}', '"labels":{"zone":"a","__proto__":"x"}');
        expect(Object.keys(JSON.parse(raw.nodes)[0].labels)).toEqual(["zone", "__proto__"]);
        expectAllInOneError(raw, [
            ["swarm-ha:nodes[0].labels.__proto__", /^is a name JavaScript objects take as their prototype, so the value would be lost without a word: rename it/],
            ["swarm-ha:nodes[1].labels.constructor", /^is a name every JavaScript object already has.*rename the label \(e\.g\. com\.example\.constructor\)$/],
            ["swarm-ha:nodes[4].name", /^'constructor' is a name every JavaScript object already has.*rename the node \(e\.g\. name: constructor-1\)$/],
        ]);
    });
});

test("the lab's generated stack config (lab/stack.ts) is accepted: sshPort 22, its default ports, its VIP, its hosts' real keys", () => {
    // As lab/hosts.sh writes .lab/hosts.json: managers at .11.., workers at .21.., the VIP .100 of 198.18.42.0/24.
    const ed25519 = () => {
        const x = Buffer.from(crypto.generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!, "base64url");
        const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
        return `ssh-ed25519 ${Buffer.concat([field(Buffer.from("ssh-ed25519")), field(x)]).toString("base64")}`;
    };
    const hosts: LabHosts = {
        subnet: "198.18.42.0/24", gateway: "198.18.42.1", vip: "198.18.42.100", sshUser: "root", sshPort: 22, sshKeyPath: ".lab/ssh/id_ed25519",
        nodes: [
            ...[1, 2, 3].map((i) => ({ name: `lab-m${i}`, address: `198.18.42.1${i}`, role: "manager" as const, hostKey: ed25519() })),
            ...[1, 2].map((i) => ({ name: `lab-w${i}`, address: `198.18.42.2${i}`, role: "worker" as const, hostKey: ed25519() })),
        ],
    };
    const raw: RawConfig = { sshPrivateKey: FAKE_SSH_KEY };
    for (const [k, v] of Object.entries(labStackConfig(hosts).config)) raw[k.replace(/^swarm-ha:/, "")] = typeof v === "string" ? v : JSON.stringify(v);
    const c = parseStackConfig(raw, SECRET_KEYS);
    expect(c.nodes.map((n) => n.name)).toEqual(["lab-m1", "lab-m2", "lab-m3", "lab-w1", "lab-w2"]);
    expect(c.warnings).toEqual([]);
});
