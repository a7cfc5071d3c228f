/**
 * Every validation rule of the stack's config, one test each, tested on the pure parser: the
 * error must name the config key that caused it. One more test runs the whole program on a
 * bad config and checks that nothing at all was created.
 */
import { ConfigError, parseStackConfig, type RawConfig } from "../components/config";
import { FAKE_SSH_KEY, devConfig, runProgram } from "./support/program";

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
    });
    expect(c.ssh).toEqual({ user: "deploy", port: 22 });
    expect(c).toMatchObject({ allowNonHa: false, encryptOverlay: true, vip: "192.0.2.100", namePrefix: "swarm-ha", defaultAddrPool: "10.20.0.0/16" });
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

test("allowNonHa permits a single manager and a single edge node", () => {
    const nodes = devNodes().filter((n) => n.name !== "manager-2" && n.name !== "manager-3");
    nodes[0].roles = ["edge"];
    expect(parseStackConfig(withNodes(nodes, { allowNonHa: "true" }), SECRET_KEYS).nodes).toHaveLength(3);
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

test("an overlay address pool that is not an IPv4 network from /8 to /24", () => {
    for (const pool of ["10.20.0.0", "10.20.0.0/28", "fd00::/64", "10.20.0.0/16/2"]) {
        expectProblem({ ...devRaw(), defaultAddrPool: pool }, "swarm-ha:defaultAddrPool", /must be an IPv4 network from \/8 to \/24/);
    }
});

test("bad scalar values: port, booleans, user, prefix", () => {
    const p = problems({ ...devRaw(), sshPort: "70000", allowNonHa: "yes", sshUser: "root; reboot", namePrefix: "Swarm HA" });
    expect(p.map((x) => x.key).sort()).toEqual(["swarm-ha:allowNonHa", "swarm-ha:namePrefix", "swarm-ha:sshPort", "swarm-ha:sshUser"]);
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
