/**
 * The graph the program builds for the dev stack (Pulumi.dev.yaml), under mocks: which
 * resources, their key inputs, parents, order, and which values are secret.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { SUPPLIABLE_SECRETS } from "../components/config";
import { CLUSTER_ID, FAKE_SSH_KEY, MANAGER_TOKEN, WORKER_TOKEN, devConfig, runProgram, stringsIn, type RunResult } from "./support/program";

// A whole stack under mocks, each step taking stepMs: seconds, not milliseconds.
jest.setTimeout(30_000);

const COMMAND = "command:remote:Command";
const LOCAL = "command:local:Command";

function dev(extra: Record<string, string> = {}) {
    return { ...devConfig(), "swarm-ha:sshPrivateKey": FAKE_SSH_KEY, ...extra };
}

const NODES = ["manager-1", "manager-2", "manager-3", "worker-1", "worker-2"];

describe("the dev stack", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(dev(), { stepMs: 15 });
    });

    test("builds one resource per step, per node", () => {
        const commands = run.resources.filter((r) => r.type === COMMAND && r.parent.endsWith("SwarmCluster::swarm")).map((r) => r.name).sort();
        const expected = [
            ...NODES.flatMap((n) => [`swarm-${n}-preflight`, `swarm-${n}-registration`, `swarm-${n}-member`, `swarm-${n}-settings`]),
            "swarm-quorum-guard",
            "swarm-removals",
            "swarm-health",
        ].sort();
        expect(commands).toEqual(expected);
        expect(run.resources.filter((r) => r.type === LOCAL).map((r) => r.name).sort()).toEqual(["swarm-host-keys", ...NODES.map((n) => `swarm-${n}-departure`)].sort());
        const types = run.resources.map((r) => r.type);
        expect(types.filter((t) => t === "docker:index/network:Network")).toHaveLength(5);
        // The passwords, and alertmanager.yml (it holds the receivers' credentials).
        expect(types.filter((t) => t === "docker:index/secret:Secret")).toHaveLength(Object.keys(SUPPLIABLE_SECRETS).length + 1);
        expect(types.filter((t) => t === "pulumi:providers:docker")).toHaveLength(1);
    });

    test("every child is parented to its component", () => {
        const parentOf = (name: string) => run.byName(name).parent;
        expect(parentOf("swarm-manager-1-member")).toMatch(/swarm-ha:cluster:SwarmCluster::swarm$/);
        expect(parentOf("swarm-worker-2-departure")).toMatch(/swarm-ha:cluster:SwarmCluster::swarm$/);
        expect(parentOf("swarm-docker")).toMatch(/swarm-ha:cluster:SwarmCluster::swarm$/);
        expect(parentOf("net-edge")).toMatch(/swarm-ha:networks:SwarmNetworks::net$/);
        expect(parentOf("secrets-redis-password")).toMatch(/swarm-ha:secrets:StackSecrets::secrets$/);
    });

    test("every Docker object goes to the swarm's provider, never the default one", () => {
        const provider = run.byName("swarm-docker");
        const dockerObjects = run.resources.filter((r) => r.type.startsWith("docker:"));
        expect(dockerObjects.length).toBeGreaterThan(0);
        for (const r of dockerObjects) expect(`${r.name} ${r.provider}`).toBe(`${r.name} ${provider.urn}::${provider.name}-id`);
    });

    test("commands connect to their own node, manager-side steps to the first manager", () => {
        expect(run.byName("swarm-worker-2-member").inputs.connection).toMatchObject({ host: "192.0.2.22", port: 22, user: "deploy", dialErrorLimit: 4, perDialTimeout: 15 });
        expect(run.byName("swarm-worker-2-preflight").inputs.connection.host).toBe("192.0.2.22");
        for (const n of ["swarm-worker-2-settings", "swarm-worker-2-registration", "swarm-quorum-guard", "swarm-removals", "swarm-health", "swarm-manager-1-member"]) {
            expect(run.byName(n).inputs.connection.host).toBe("192.0.2.11");
        }
    });

    test("every command checks its host's pinned key; the host-key check runs first, on every update", () => {
        const pins = Object.fromEntries(parseYaml(fs.readFileSync(path.join(__dirname, "..", "Pulumi.dev.yaml"), "utf8")).config["swarm-ha:nodes"].map((n: any) => [n.address, n.hostKey]));
        for (const r of run.resources.filter((x) => x.type === COMMAND)) {
            expect(`${r.name} ${r.inputs.connection.hostKey}`).toBe(`${r.name} ${pins[r.inputs.connection.host]}`);
        }
        const check = run.byName("swarm-host-keys");
        expect(check.inputs.create).toContain("# swarm-ha host-keys.sh");
        expect(check.inputs.create).toContain(`worker-2 192.0.2.22 ${pins["192.0.2.22"]}`);
        expect(check.inputs.triggers).toHaveLength(1); // a new run id each update
        for (const n of NODES) expect(run.byName(`swarm-${n}-preflight`).dependencies).toContain(check.urn);
        // The system ssh (the Docker provider's, departures') reads the pins from a file written from config.
        const pinned = fs.readFileSync(path.join(os.homedir(), ".ssh", "swarm-ha", "swarm-ha-test", "pinned_known_hosts"), "utf8");
        expect(pinned.trim().split("\n")).toEqual(Object.entries(pins).map(([address, key]) => `${address} ${key}`));
        expect(JSON.parse(run.byName("swarm-docker").inputs.sshOpts)).toContain(
            "UserKnownHostsFile=~/.ssh/swarm-ha/swarm-ha-test/known_hosts ~/.ssh/swarm-ha/swarm-ha-test/pinned_known_hosts",
        );
    });

    test("no step on a host has a delete: removals run on a live manager, departures from this machine", () => {
        for (const r of run.resources.filter((x) => x.type === COMMAND)) expect(`${r.name} ${r.inputs.delete}`).toBe(`${r.name} undefined`);
        const departure = run.byName("swarm-worker-2-departure").inputs;
        expect(departure.create).toBeUndefined();
        expect(departure.delete).toContain("# swarm-ha departure.sh");
        expect(departure.delete).toContain("ADDRESS='192.0.2.22'");
        expect(departure.delete).toContain("KEY_DIR='~/.ssh/swarm-ha/swarm-ha-test'");
        expect(departure.triggers).toEqual(["192.0.2.22"]);
        expect(run.byName("swarm-removals").inputs.create).toContain("DECLARED_NAMES='manager-1 manager-2 manager-3 worker-1 worker-2'");
    });

    test("every step has deadlines, and the health check runs on every update", () => {
        for (const r of run.resources.filter((x) => (x.type === COMMAND || x.type === LOCAL) && x.parent.endsWith("SwarmCluster::swarm"))) {
            expect(`${r.name} ${JSON.stringify(r.customTimeouts)}`).toBe(`${r.name} {"create":"10m","update":"10m","delete":"5m"}`);
        }
        const health = run.byName("swarm-health").inputs;
        expect(health.create).toContain("# swarm-ha health.sh");
        expect(health.create).toContain("DECLARED='manager-1 manager active\nmanager-2 manager active\nmanager-3 manager active\nworker-1 worker active\nworker-2 worker active'");
        expect(health.triggers).toHaveLength(1);
    });

    test("the stack's health check runs on every update, on the first manager, after every service, and expects each one by name", () => {
        const check = run.byName("stack-health");
        expect(check.inputs.create).toContain("# swarm-ha stack-health.sh");
        expect(check.inputs.connection.host).toBe(run.byName("swarm-manager-1-member").inputs.connection.host);
        expect(check.inputs.triggers).toHaveLength(1);
        expect(check.customTimeouts).toEqual({ create: "10m", update: "10m", delete: "5m" });
        const services = run.resources.filter((r) => r.type === "docker:index/service:Service");
        expect(services.length).toBeGreaterThan(15);
        expect(services.filter((s) => !check.dependencies.includes(s.urn)).map((s) => s.name)).toEqual([]);
        const expected = check.inputs.create.match(/^EXPECTED='([^']*)'$/m)![1].split("\n");
        expect(expected).toEqual(services.map((s) => s.inputs.name).sort());
        // Each carries the label the check finds the stack's services by.
        for (const s of services) expect(`${s.inputs.name}: ${JSON.stringify(s.inputs.labels)}`).toContain('{"label":"swarm-ha.stack","value":"test"}');
        expect(check.inputs.create).toContain("STACK='test'");
    });

    test("each tier's own check runs on every update beside it, in the tier's task on one of its nodes, after every service", () => {
        const services = run.resources.filter((r) => r.type === "docker:index/service:Service");
        const host = (node: string) => run.byName(`swarm-${node}-member`).inputs.connection.host;
        const checks = Object.fromEntries(
            ["vip", "redis", "etcd", "postgres", "alertmanager"].map((tier) => {
                const c = run.byName(`stack-${tier}-health`);
                expect(c.inputs.create).toContain("# swarm-ha tier-health.sh");
                expect(c.inputs.triggers).toHaveLength(1);
                expect(services.filter((s) => !c.dependencies.includes(s.urn)).map((s) => s.name)).toEqual([]);
                const param = (p: string) => c.inputs.create.match(new RegExp(`^${p}='([^']*)'$`, "m"))![1];
                return [tier, { host: c.inputs.connection.host, node: param("NODE_NAME"), service: param("SERVICE"), check: param("CHECK") }];
            }),
        );
        expect(checks).toEqual({
            // Exactly one edge node holds the VIP, asked from the first edge node's keepalived.
            vip: { host: host("manager-1"), node: "manager-1", service: "swarm-ha-keepalived-manager-1", check: "swarm-ha-vip-check\n192.0.2.100\neth0" },
            redis: { host: host("manager-2"), node: "manager-2", service: "swarm-ha-redis-manager-2", check: "swarm-ha-redis-check" },
            etcd: { host: host("manager-1"), node: "manager-1", service: "swarm-ha-etcd-manager-1", check: "swarm-ha-etcd-check\nmanager-1\nmanager-2\nmanager-3" },
            postgres: { host: host("worker-1"), node: "worker-1", service: "swarm-ha-pg-worker-1", check: expect.stringMatching(/^swarm-ha-patroni-check\n/) },
            // Two Alertmanagers in one cluster, asked over the monitoring network from the first node's node-exporter.
            alertmanager: { host: host("manager-1"), node: "manager-1", service: "swarm-ha-node-exporter", check: "swarm-ha-alertmanager-check\nswarm-ha-alertmanager\n9093\n2" },
        });
        // Every Postgres member, by name: the check expects each one running.
        const members = services.map((s) => s.inputs.name.match(/^swarm-ha-pg-((manager|worker)-\d+)$/)?.[1]).filter(Boolean);
        expect(members.length).toBeGreaterThan(1);
        expect(checks.postgres.check.split("\n").slice(1).sort()).toEqual(members.sort());
        // Each service named is one the program declares.
        for (const t of Object.values(checks)) expect(services.map((s) => s.inputs.name)).toContain(t.service);
    });

    test("on every update, after every service and before every check, the app and the Postgres proxy spread over the app nodes again, from the first manager", () => {
        const spread = run.byName("stack-spread");
        expect(spread.inputs.create).toContain("# swarm-ha spread.sh");
        expect(spread.inputs.triggers).toHaveLength(1);
        expect(spread.inputs.connection.host).toBe(run.byName("swarm-manager-1-member").inputs.connection.host);
        const services = run.resources.filter((r) => r.type === "docker:index/service:Service");
        expect(services.filter((s) => !spread.dependencies.includes(s.urn)).map((s) => s.name)).toEqual([]);
        for (const check of run.resources.filter((r) => /^stack-(.+-)?health$/.test(r.name))) expect(`${check.name} ${check.dependencies.includes(spread.urn)}`).toBe(`${check.name} true`);
        const appNodes = JSON.parse(devConfig()["swarm-ha:nodes"]).filter((n: { roles: string[] }) => n.roles.includes("app")).map((n: { name: string }) => n.name);
        expect(appNodes.length).toBeGreaterThan(1);
        expect(spread.inputs.create).toContain(`SPREAD='swarm-ha-app ${appNodes.join(" ")}\nswarm-ha-pg-proxy ${appNodes.join(" ")}'`);
    });

    test("the first manager's member step initialises the swarm; the others join it, naming the swarm, their role and their registration", () => {
        expect(run.byName("swarm-manager-1-member").inputs.create).toContain("# swarm-ha init.sh");
        expect(run.byName("swarm-manager-2-member").inputs.create).toContain("# swarm-ha join.sh");
        expect(run.byName("swarm-manager-1-member").inputs.create).toContain("ADVERTISE_ADDR='192.0.2.11'");
        expect(run.byName("swarm-manager-1-member").inputs.create).toContain("ADDR_POOL='10.20.0.0/16'");
        const join = run.byName("swarm-manager-2-member").inputs.create;
        expect(join).toContain("ADVERTISE_ADDR='192.0.2.12'");
        expect(join).toContain("SWARM_ROLE='manager'");
        expect(join).toContain(`CLUSTER_ID='${CLUSTER_ID}'`);
        expect(join).toContain("EXPECTED_NODE_ID=''");
        expect(join).toContain("MANAGER_ADDRS='192.0.2.11:2377 192.0.2.12:2377 192.0.2.13:2377'");
        expect(run.byName("swarm-worker-1-member").inputs.create).toContain("SWARM_ROLE='worker'");
        expect(run.byName("swarm-quorum-guard").inputs.create).toContain("DESIRED_MANAGERS='192.0.2.11 192.0.2.12 192.0.2.13'");
        expect(run.byName("swarm-worker-1-registration").inputs.create).toContain("ADVERTISE_ADDR='192.0.2.21'");
    });

    test("each node's settings carry its role, availability and labels (roles become swarm-ha.role.* labels)", () => {
        const s = run.byName("swarm-worker-1-settings").inputs.create as string;
        expect(s).toContain("NODE_ID='id-worker-1'");
        expect(s).toContain("ADVERTISE_ADDR='192.0.2.21'");
        expect(s).toContain("SWARM_ROLE='worker'");
        expect(s).toContain("AVAILABILITY='active'");
        expect(s).toContain(
            "LABELS='swarm-ha.name=worker-1\nswarm-ha.role.app=true\nswarm-ha.role.postgres-primary=true\nswarm-ha.role.redis=true\ndisk=ssd\nzone=a'",
        );
    });

    test("order: preflight, guard, removals, registrations, init, managers one at a time, workers, settings, health, provider", () => {
        const r = (n: string) => run.byName(n);
        const before = (a: string, b: string) => expect(r(a).ended).toBeLessThanOrEqual(r(b).started);
        for (const n of ["manager-1", "manager-2", "worker-2"]) before(`swarm-${n}-preflight`, "swarm-quorum-guard");
        before("swarm-quorum-guard", "swarm-removals");
        before("swarm-removals", "swarm-worker-2-registration");
        before("swarm-manager-1-registration", "swarm-manager-1-member");
        before("swarm-manager-1-member", "swarm-manager-2-member");
        before("swarm-manager-2-member", "swarm-manager-3-member");
        before("swarm-manager-3-member", "swarm-worker-1-member");
        before("swarm-manager-3-member", "swarm-worker-2-member");
        before("swarm-manager-1-settings", "swarm-manager-2-settings");
        before("swarm-manager-2-settings", "swarm-manager-3-settings");
        for (const n of NODES) {
            before(`swarm-${n}-registration`, `swarm-${n}-member`);
            before(`swarm-${n}-departure`, `swarm-${n}-member`);
            before(`swarm-${n}-member`, `swarm-${n}-settings`);
            before(`swarm-${n}-settings`, "swarm-health");
        }
        before("swarm-health", "swarm-docker");
        // And as declared dependencies (what Pulumi uses to order deletes in reverse).
        expect(r("swarm-manager-3-member").dependencies).toContain(r("swarm-manager-2-member").urn);
        expect(r("swarm-worker-1-member").dependencies).toEqual(expect.arrayContaining([r("swarm-manager-3-member").urn, r("swarm-worker-1-registration").urn, r("swarm-worker-1-departure").urn]));
        expect(r("swarm-worker-1-departure").dependencies).toEqual([r("swarm-manager-1-departure").urn]);
        expect(r("swarm-docker").dependencies).toEqual([r("swarm-health").urn]);
    });

    test("each node's steps depend only on what they need: the edges grow linearly with the nodes", () => {
        const r = (n: string) => run.byName(n);
        // A worker's settings wait for its own membership only, not for every other node's.
        expect(r("swarm-worker-2-settings").dependencies.sort()).toEqual([r("swarm-worker-2-member").urn]);
        // Its join: its registration and departure, the last manager's join, and init (the swarm's ID).
        expect(r("swarm-worker-2-member").dependencies.sort()).toEqual(
            [r("swarm-worker-2-registration").urn, r("swarm-worker-2-departure").urn, r("swarm-manager-3-member").urn, r("swarm-manager-1-member").urn].sort(),
        );
        const cluster = run.resources.filter((x) => x.parent.endsWith("SwarmCluster::swarm"));
        const edges = cluster.reduce((sum, x) => sum + new Set(x.dependencies).size, 0);
        expect(edges).toBeLessThanOrEqual(10 * NODES.length + 10);
    });

    test("networks: overlay, encrypted by default, attachable where one-off containers need it", () => {
        const net = (k: string) => run.byName(`net-${k}`).inputs;
        expect(net("edge")).toMatchObject({ name: "swarm-ha-edge", driver: "overlay", attachable: false, options: { encrypted: "true" } });
        expect(net("data")).toMatchObject({ name: "swarm-ha-data", attachable: true });
        expect(net("data-access")).toMatchObject({ name: "swarm-ha-data-access", attachable: true, options: { encrypted: "true" } });
        // Same name after a replacement: the old network must go first.
        expect(run.byName("net-edge").deleteBeforeReplace).toBe(true);
        expect(run.outputs.networkNames).toEqual({ edge: "swarm-ha-edge", app: "swarm-ha-app", "data-access": "swarm-ha-data-access", data: "swarm-ha-data", monitoring: "swarm-ha-monitoring" });
    });

    test("the Docker provider talks to the first manager over SSH with a key file, not the key, and gives up on a dead one", () => {
        const p = run.byName("swarm-docker").inputs;
        expect(p.host).toBe("ssh://deploy@192.0.2.11:22");
        // Provider inputs travel as JSON strings.
        expect(JSON.parse(p.sshOpts)).toEqual(
            expect.arrayContaining(["-i", "~/.ssh/swarm-ha/swarm-ha-test/id", "StrictHostKeyChecking=accept-new", "ServerAliveInterval=10", "ServerAliveCountMax=3"]),
        );
    });

    test("stack outputs list the nodes with their swarm IDs", () => {
        expect(run.outputs.clusterId).toBe(CLUSTER_ID);
        expect(run.outputs.nodes).toMatchObject({ "worker-2": { address: "192.0.2.22", swarmRole: "worker", nodeId: "id-worker-2", roles: ["app", "postgres-replica"] } });
        expect(Object.values(run.outputs.secretNames as object)).toEqual(expect.arrayContaining([expect.stringMatching(/^swarm-ha-redis-password-[0-9a-f]{12}$/)]));
    });
});

describe("components that create Docker objects", () => {
    test("refuse to be built without the swarm's Docker provider in their options", () => {
        const { SwarmNetworks } = require("../components/networks");
        const { StackSecrets } = require("../components/secrets");
        expect(() => new SwarmNetworks("n", { namePrefix: "x" })).toThrow(/SwarmNetworks needs the swarm's Docker provider in its options: \{ providers: \{ docker: cluster.provider \} \}/);
        expect(() => new StackSecrets("s", { namePrefix: "x" }, { providers: {} })).toThrow(/StackSecrets needs the swarm's Docker provider/);
    });
});

describe("secrets stay secret", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(dev({ "swarm-ha:redisPassword": "user-supplied-redis-pw" }));
    });

    test("join tokens, passwords and the SSH key are secret outputs and inputs", async () => {
        const join = run.byName("swarm-worker-1-member");
        expect(join.secretInputs).toContain("stdin");
        expect(join.inputs.stdin).toBe(`${WORKER_TOKEN}\n`);
        expect(run.byName("swarm-manager-2-member").inputs.stdin).toBe(`${MANAGER_TOKEN}\n`);
        expect(join.secretInputs).toContain("connection"); // it holds the private key
        expect(run.byName("secrets-redis-password").secretInputs).toContain("data");
        expect(run.byName("secrets-postgres-password").secretInputs).toContain("data");
        // The join tokens come back in init's stdout, which must be a secret output and not logged.
        const init = run.byName("swarm-manager-1-member");
        expect(init.inputs.logging).toBe("stderr");
    });

    test("no secret value appears in plain text in any resource input", () => {
        expect(run.secretValues).toEqual(expect.arrayContaining(["user-supplied-redis-pw", FAKE_SSH_KEY, MANAGER_TOKEN]));
        const leaks: string[] = [];
        for (const r of run.resources) {
            for (const [field, value] of Object.entries(r.rawInputs)) {
                if (r.secretInputs.has(field)) continue;
                for (const s of stringsIn(value)) {
                    for (const secret of run.secretValues) {
                        if (s.includes(secret)) leaks.push(`${r.name}.${field}`);
                    }
                }
            }
        }
        expect(leaks).toEqual([]);
    });

    test("a supplied password is used as given; the others are generated", () => {
        const data = (id: string) => Buffer.from(run.byName(`secrets-${id}`).inputs.data, "base64").toString();
        expect(data("redis-password")).toBe("user-supplied-redis-pw");
        expect(data("postgres-password")).toMatch(/^pw/);
        expect(run.resources.find((r) => r.name.startsWith("secrets-redis-password") && r.type.startsWith("random"))).toBeUndefined();
        expect(run.byName("secrets-postgres-password").inputs.name).toMatch(/^swarm-ha-postgres-password-[0-9a-f]{12}$/);
    });

    test("join tokens are a secret stack output; cluster ID, node list and secret names are plain", async () => {
        expect(await pulumi.isSecret(run.exports.joinTokens)).toBe(true);
        expect(run.outputs.joinTokens).toEqual({ manager: MANAGER_TOKEN, worker: WORKER_TOKEN });
        expect(await pulumi.isSecret(run.exports.clusterId)).toBe(false);
        expect(await pulumi.isSecret(run.exports.secretNames)).toBe(false);
        expect(await pulumi.isSecret(run.exports.nodes)).toBe(false);
    });
});

describe("secret rotation", () => {
    test("a new password gives a new Docker secret name (create, then switch), the same password the same name", async () => {
        const a = await runProgram(dev({ "swarm-ha:redisPassword": "first-password" }));
        const b = await runProgram(dev({ "swarm-ha:redisPassword": "second-password" }));
        const c = await runProgram(dev({ "swarm-ha:redisPassword": "first-password" }));
        const name = (r: RunResult) => r.byName("secrets-redis-password").inputs.name;
        expect(name(a)).not.toEqual(name(b));
        expect(name(a)).toEqual(name(c));
    });
});

describe("reordering the managers", () => {
    test("changes the member steps in place: none is deleted, so no node leaves", async () => {
        const nodes = JSON.parse(devConfig()["swarm-ha:nodes"]);
        [nodes[0], nodes[1]] = [nodes[1], nodes[0]];
        const a = await runProgram(dev());
        const b = await runProgram(dev({ "swarm-ha:nodes": JSON.stringify(nodes) }));
        const names = (r: RunResult) => r.resources.filter((x) => x.type === COMMAND).map((x) => x.name).sort();
        expect(names(b)).toEqual(names(a));
        expect(b.byName("swarm-manager-2-member").inputs.create).toContain("# swarm-ha init.sh");
        expect(b.byName("swarm-manager-1-member").inputs.create).toContain("# swarm-ha join.sh");
    });
});

describe("changing a label", () => {
    test("changes only that node's settings step; its join stays as it was", async () => {
        const base = devConfig();
        const nodes = JSON.parse(base["swarm-ha:nodes"]);
        nodes[3].labels.disk = "nvme";
        const a = await runProgram(dev());
        const b = await runProgram(dev({ "swarm-ha:nodes": JSON.stringify(nodes) }));
        const changed = a.resources
            .filter((r) => r.type === COMMAND)
            .filter((r) => JSON.stringify(r.inputs) !== JSON.stringify(b.byName(r.name).inputs))
            .map((r) => r.name);
        // The health checks (the swarm's, the stack's, each tier's) run on every update (their trigger is the run's time), the rest only on a change.
        expect(changed.sort()).toEqual(["stack-alertmanager-health", "stack-etcd-health", "stack-health", "stack-postgres-health", "stack-redis-health", "stack-spread", "stack-vip-health", "swarm-health", "swarm-worker-1-settings"]);
    });
});

test("the test fixtures really are what the program sees (guard against a vacuous leak check)", async () => {
    const run = await runProgram(dev());
    const stdin = stringsIn(run.byName("swarm-worker-2-member").rawInputs.stdin).join("");
    expect(stdin).toContain(WORKER_TOKEN);
});
