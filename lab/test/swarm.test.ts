/**
 * End-to-end, the swarm tier: the unchanged program, run by the lab engine against the lab's
 * real hosts (npm run test:lab starts them and always tears them down). The tests run in
 * order on one lab, each a `pulumi up` with a different stack config, from a fresh base.
 */
import * as fs from "node:fs";
import { SUPPLIABLE_SECRETS } from "../../components/config";
import { onLabNode } from "../nodes";
import type { LabNode } from "../stack";
import { type Deployed, STATE, SWARM_AND_EDGE_ONLY, addressOf, baseNodes, byName, changes, deploy, hosts, nodeList, nodeSummary, onHostConsole, resetToBareHosts, swarmState } from "../control";

/** Every deploy here is of the swarm tier alone (see SWARM_AND_EDGE_ONLY). */
const deploySwarm = (nodes: LabNode[], extra: Record<string, unknown> = {}, args: string[] = []) => deploy(nodes, { ...SWARM_AND_EDGE_ONLY, ...extra }, args);

const M1 = addressOf("lab-m1");
const W1 = addressOf("lab-w1");
let first: Deployed;

/** A test cluster smaller than HA allows: one app replica (a node's room for it and its update's extra task). */
const NON_HA = { "swarm-ha:allowNonHa": "true", "swarm-ha:appReplicas": "1" };

// Bare hosts: the first test forms the swarm itself.
beforeAll(() => resetToBareHosts());

/** The lab's nodes without the worker, its roles moved to the first manager. */
function afterWorkerRemoval(): LabNode[] {
    return baseNodes
        .filter((n) => n.name !== "lab-w1")
        .map((n) => (n.name === "lab-m1" ? { ...n, roles: [...n.roles, "app", "postgres-primary"] } : n));
}

test("one run forms a swarm of 3 managers and 1 worker, with labels, networks and secrets", () => {
    first = deploySwarm(baseNodes);
    expect(first.summary.error).toBeUndefined();
    expect(first.status).toBe(0);

    const nodes = nodeList();
    expect(nodes.map((n) => `${n.hostname} ${n.status} ${n.manager}`)).toEqual([
        "lab-m1 Ready Leader",
        "lab-m2 Ready Reachable",
        "lab-m3 Ready Reachable",
        "lab-w1 Ready ",
    ]);

    const labels = JSON.parse(onLabNode(M1, "docker node inspect lab-w1 --format '{{json .Spec.Labels}}'"));
    expect(labels).toMatchObject({ "swarm-ha.name": "lab-w1", "swarm-ha.role.app": "true", "swarm-ha.role.postgres-primary": "true", zone: "a" });
    const m3 = JSON.parse(onLabNode(M1, "docker node inspect lab-m3 --format '{{json .Spec.Labels}}'"));
    expect(m3).toMatchObject({ "swarm-ha.role.postgres-replica": "true", zone: "c" });

    for (const [kind, attachable] of [["edge", false], ["app", true], ["data", true], ["monitoring", true]] as const) {
        const net = JSON.parse(onLabNode(M1, `docker network inspect swarm-ha-${kind} --format '{{json .}}'`));
        expect({ driver: net.Driver, scope: net.Scope, attachable: net.Attachable, labels: net.Labels }).toEqual({
            driver: "overlay",
            scope: "swarm",
            attachable,
            labels: { "swarm-ha.network": kind, "swarm-ha.stack": "lab" },
        });
        expect(net.Options ?? {}).not.toHaveProperty("encrypted"); // off in the lab: no ESP in its kernel
        expect(net.IPAM.Config[0].Subnet).toMatch(/^198\.18\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.0\/24$/); // from defaultAddrPool 198.18.64.0/18
    }

    const secretNames = Object.values(first.summary.outputs.secretNames as Record<string, string>);
    expect(secretNames).toHaveLength(Object.keys(SUPPLIABLE_SECRETS).length);
    const existing = onLabNode(M1, "docker secret ls --format '{{.Name}}'").trim().split("\n");
    expect(existing).toEqual(expect.arrayContaining(secretNames));

    // Secrets stay secret: the outputs redact the join tokens, and the engine's state file
    // holds neither the tokens nor the SSH key in clear.
    expect(first.summary.outputs.joinTokens).toBe("[secret]");
    const state = fs.readFileSync(STATE, "utf8");
    const workerToken = onLabNode(M1, "docker swarm join-token -q worker").trim();
    expect(workerToken).toMatch(/^SWMTKN-1-/);
    expect(state).not.toContain(workerToken);
    expect(state).not.toContain("PRIVATE KEY");
    expect(first.output).not.toContain(workerToken);
});

test("running again with the same config changes nothing", () => {
    const again = deploySwarm(baseNodes);
    expect(again.summary.error).toBeUndefined();
    expect(changes(again)).toEqual([]);
    expect(again.summary.outputs.clusterId).toBe(first.summary.outputs.clusterId);
});

test("changing a label updates it in place: only that node's settings step runs, nobody rejoins", () => {
    const relabelled = baseNodes.map((n) => (n.name === "lab-w1" ? { ...n, labels: { zone: "b", disk: "ssd" } } : n));
    const changed = deploySwarm(relabelled);
    expect(changed.summary.error).toBeUndefined();
    expect(changes(changed)).toEqual(["update swarm-lab-w1-settings"]);
    const labels = JSON.parse(onLabNode(M1, "docker node inspect lab-w1 --format '{{json .Spec.Labels}}'"));
    expect(labels).toMatchObject({ zone: "b", disk: "ssd" });
    expect(changed.summary.outputs.nodes).toEqual(first.summary.outputs.nodes); // same node IDs

    // And back: a label swarm-ha set and no longer wants is removed.
    const back = deploySwarm(baseNodes);
    expect(changes(back)).toEqual(["update swarm-lab-w1-settings"]);
    const after = JSON.parse(onLabNode(M1, "docker node inspect lab-w1 --format '{{json .Spec.Labels}}'"));
    expect(after.zone).toBe("a");
    expect(after).not.toHaveProperty("disk");
});

test("a host re-created with a new SSH host key is refused before any step reaches it, naming it and the pin to check", () => {
    const pinned = baseNodes.find((n) => n.name === "lab-w1")!.hostKey!;
    expect(pinned).toMatch(/^ssh-ed25519 /); // the lab stack pins every host's key
    // The host gets new keys, as a re-installed (or impersonated) host would have.
    onHostConsole("lab-w1", "mkdir -p /root/host-keys && cp -a /etc/ssh/ssh_host_* /root/host-keys/ && rm -f /etc/ssh/ssh_host_* && ssh-keygen -A && kill -HUP $(cat /run/sshd.pid)");
    try {
        const presented = onHostConsole("lab-w1", "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub").trim();
        expect(presented).not.toBe(pinned);
        const refused = deploySwarm(baseNodes);
        expect(refused.status).toBe(1);
        expect(refused.summary.error).toMatch(
            /swarm-host-keys \(create\) failed on this machine .*\nswarm-ha: node lab-w1 \(198\.18\.42\.21\): presented SSH host key SHA256:\S+ \(ssh-ed25519\), but swarm-ha:nodes pins SHA256:\S+ for it: refusing to connect/,
        );
        expect(refused.summary.error).toContain(`update the node's hostKey in config to: "${presented}"`);
        // Nothing ran on any host: every node's steps come after the check.
        expect(changes(refused).filter((c) => !c.endsWith("-host-keys"))).toEqual([]);
    } finally {
        onHostConsole("lab-w1", "cp -a /root/host-keys/ssh_host_* /etc/ssh/ && kill -HUP $(cat /run/sshd.pid)");
    }
    expect(deploySwarm(baseNodes).summary.error).toBeUndefined();
});

test("reordering the managers moves the manager-side steps to the new first manager; nobody leaves", () => {
    const before = nodeList();
    const reordered = [baseNodes[1], baseNodes[0], ...baseNodes.slice(2)];
    const moved = deploySwarm(reordered);
    expect(moved.summary.error).toBeUndefined();
    expect(changes(moved).filter((c) => c.startsWith("delete") || c.startsWith("replace"))).toEqual([]);
    expect(moved.summary.outputs.dockerHost).toBe("ssh://root@198.18.42.12:22");
    expect(nodeList()).toEqual(before);

    const back = deploySwarm(baseNodes);
    expect(back.summary.error).toBeUndefined();
    expect(nodeList()).toEqual(before);
});

test("with no record of the swarm steps (lost state, or a create re-run after a failure) the swarm is adopted: no re-init, no rejoin", () => {
    const state = JSON.parse(fs.readFileSync(STATE, "utf8"));
    state.resources = state.resources.filter((r: { type: string }) => r.type !== "command:remote:Command");
    fs.writeFileSync(STATE, JSON.stringify(state));
    const before = nodeList();

    const adopted = deploySwarm(baseNodes);
    expect(adopted.summary.error).toBeUndefined();
    expect(changes(adopted).filter((c) => c.startsWith("create"))).toEqual(expect.arrayContaining(["create swarm-lab-m1-member", "create swarm-lab-w1-member"]));
    expect(changes(adopted).filter((c) => !c.startsWith("create"))).toEqual([]);
    expect(adopted.summary.outputs.clusterId).toBe(first.summary.outputs.clusterId);
    expect(adopted.summary.outputs.nodes).toEqual(first.summary.outputs.nodes); // same node IDs: nobody rejoined
    expect(nodeList()).toEqual(before);
});

test("a config that would remove two of the three managers is refused before anything changes", () => {
    const before = nodeList();
    const m1 = { ...baseNodes[0], roles: ["edge", "monitoring", "postgres-replica"] };
    const w1 = baseNodes.find((n) => n.name === "lab-w1")!;

    // Without allowNonHa the config itself is refused.
    const refused = deploySwarm([m1, w1]);
    expect(refused.status).toBe(1);
    expect(refused.summary.error).toMatch(/swarm-ha:nodes: has 1 manager\(s\); a highly available swarm needs an odd number of at least 3/);
    expect(changes(refused)).toEqual([]);

    // With allowNonHa, the quorum guard on the first manager refuses it.
    const guarded = deploySwarm([m1, w1], NON_HA);
    expect(guarded.status).toBe(1);
    expect(guarded.summary.error).toMatch(/refusing to change the swarm's managers: of the 3 current managers, this change removes 198\.18\.42\.12 198\.18\.42\.13/);
    expect(changes(guarded)).toEqual([]);
    expect(nodeList()).toEqual(before);
});

test("removing the worker from config drains it and removes it from a manager, then it leaves; managers untouched", () => {
    const managersBefore = nodeList().filter((n) => n.hostname !== "lab-w1");
    const down = deploySwarm(afterWorkerRemoval());
    expect(down.summary.error).toBeUndefined();
    // A manager takes it out (drain, node rm) in the removals step; then its steps go, the
    // departure after its member step: it makes the host leave, from the machine that runs Pulumi.
    const steps = changes(down);
    const at = (step: string) => steps.indexOf(`delete swarm-lab-w1-${step}`);
    expect(steps.filter((c) => c.includes("swarm-lab-w1")).sort()).toEqual(
        ["preflight", "settings", "member", "departure", "registration"].map((x) => `delete swarm-lab-w1-${x}`).sort(),
    );
    expect(steps.indexOf("update swarm-removals")).toBeLessThan(at("settings"));
    expect(at("settings")).toBeLessThan(at("member"));
    expect(at("member")).toBeLessThan(at("departure"));
    expect(at("member")).toBeLessThan(at("registration"));
    expect(down.output).toMatch(/removed=lab-w1 /);
    expect(nodeList()).toEqual(managersBefore);
    expect(swarmState(W1)).toBe("inactive");
});

test("removing one of three managers demotes it before it goes; the other two keep the swarm", () => {
    const nodes = afterWorkerRemoval()
        .filter((n) => n.name !== "lab-m3")
        .map((n) => (n.name === "lab-m2" ? { ...n, roles: [...n.roles, "postgres-replica"] } : n));
    const shrunk = deploySwarm(nodes, NON_HA);
    expect(shrunk.summary.error).toBeUndefined();
    expect(changes(shrunk).filter((c) => c.startsWith("delete") && c.includes("swarm-")).sort()).toEqual(
        ["preflight", "settings", "member", "departure", "registration"].map((s) => `delete swarm-lab-m3-${s}`).sort(),
    );
    expect(nodeSummary()).toEqual(["lab-m1 Ready Leader", "lab-m2 Ready Reachable"]);
    expect(swarmState(byName("lab-m3").address)).toBe("inactive");
});

test("a host that is down, or that refuses SSH, fails the run with an error naming that host", () => {
    const current = afterWorkerRemoval()
        .filter((n) => n.name !== "lab-m3")
        .map((n) => (n.name === "lab-m2" ? { ...n, roles: [...n.roles, "postgres-replica"] } : n));
    const ghost = (address: string): LabNode => ({ name: "lab-ghost", address, swarmRole: "worker", roles: ["app"], labels: {} });

    const down = deploySwarm([...current, ghost("198.18.42.99")], NON_HA); // nothing lives there
    expect(down.status).toBe(1);
    expect(down.summary.error).toMatch(/swarm-lab-ghost-preflight \(create\): host 198\.18\.42\.99: cannot open SSH/);

    const refused = deploySwarm([...current, ghost(hosts.gateway)], NON_HA); // the lab host runs no sshd on the lab bridge
    expect(refused.status).toBe(1);
    expect(refused.summary.error).toMatch(new RegExp(`host ${hosts.gateway.replace(/\./g, "\\.")}: cannot open SSH`));
    expect(nodeList().map((n) => n.hostname)).toEqual(["lab-m1", "lab-m2"]);
});

test("destroy takes the swarm apart: every node leaves, the first manager last; nothing is left in state", () => {
    const gone = deploySwarm(baseNodes, {}, ["--destroy"]);
    expect(gone.summary.error).toBeUndefined();
    const departures = changes(gone).filter((c) => c.endsWith("-departure"));
    expect(departures[departures.length - 1]).toBe("delete swarm-lab-m1-departure");
    for (const n of hosts.nodes) expect(`${n.name} ${swarmState(n.address)}`).toBe(`${n.name} inactive`);
    expect(JSON.parse(fs.readFileSync(STATE, "utf8")).resources).toEqual([]);
});
