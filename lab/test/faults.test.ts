/**
 * End-to-end, the swarm's own faults: hosts that die during a step or between runs. The lab's
 * hosts are killed and started with the lab's private Docker engine (lab/README.md); the
 * commands these tests run are the ones the README's runbook "a host died" gives.
 */
import type { LabNode } from "../stack";
import { runOpenLoop } from "../../bench/load/open-loop";
import { appService, onNode, someManager, VIP, waitFor } from "../faults";
import {
    addressOf,
    baseNode,
    baseNodes,
    changes,
    deploy,
    deployInBackground,
    killHost,
    nodeList,
    nodeSummary,
    onHostConsole,
    resetToBase,
    sleep,
    startHost,
    swarmState,
    waitUntilDown,
    SWARM_AND_EDGE_ONLY,
} from "../control";

/** Every deploy here is of the swarm tier alone (see SWARM_AND_EDGE_ONLY). */
const deploySwarm = (nodes: LabNode[], extra: Record<string, unknown> = {}, args: string[] = []) => deploy(nodes, { ...SWARM_AND_EDGE_ONLY, ...extra }, args);
const deploySwarmInBackground = (nodes: LabNode[]) => deployInBackground(nodes, SWARM_AND_EDGE_ONLY);

/** Seconds within which a step whose host dies must fail: the command provider's TCP keepalive (~150 s) and some slack. */
const DEAD_HOST_BOUND_S = 180;

/** The base nodes without the worker, its roles moved to the first manager. */
const withoutWorker = (): LabNode[] =>
    baseNodes.filter((n) => n.name !== "lab-w1").map((n) => (n.name === "lab-m1" ? { ...n, roles: [...n.roles, "app", "postgres-primary"] } : n));

/**
 * Each test ends with the base nodes deployed and every node ready (its last step checks it),
 * so the next one starts from there; only the first test, and a test after one that failed
 * part-way, start from a fresh base deploy on bare hosts (about a minute each).
 */
let atBase = false;
beforeEach(() => {
    if (!atBase) resetToBase(SWARM_AND_EDGE_ONLY);
    atBase = false;
});
const endsAtBase = () => {
    atBase = true;
};

test("a host that dies in the middle of its join fails that step within the bound, naming it; a run after it returns converges", async () => {
    // The worker leaves the swarm, then joins again; this time its join is held up (its
    // engine cannot reach the managers for the first 20 s) and the host dies meanwhile.
    expect(deploySwarm(withoutWorker()).status).toBe(0);
    onHostConsole("lab-w1", "iptables -I OUTPUT -p tcp --dport 2377 -j DROP");
    const run = deploySwarmInBackground(baseNodes);
    for (let waited = 0; !/swarm-lab-w1-member \.\.\./.test(run.output()); waited++) {
        if (waited > 1200) throw new Error(`the worker's join never started:\n${run.output()}`);
        await sleep(100);
    }
    await sleep(2000); // the join is under way on the host
    expect(onHostConsole("lab-w1", "pgrep -f 'swarm-ha join.sh' >/dev/null && echo running").trim()).toBe("running");
    killHost("lab-w1");
    const killedAt = Date.now();
    const failed = await run.done;
    const seconds = (Date.now() - killedAt) / 1000;

    expect(failed.status).toBe(1);
    expect(failed.summary.error).toMatch(/swarm-lab-w1-member \(create\) on host 198\.18\.42\.21 failed after \d+s: the connection was lost/);
    expect(seconds).toBeLessThan(DEAD_HOST_BOUND_S);
    console.log(`[faults] the join step failed ${seconds.toFixed(0)}s after its host died`);

    startHost("lab-w1");
    const again = deploySwarm(baseNodes);
    expect(again.summary.error).toBeUndefined();
    expect(nodeSummary()).toEqual(["lab-m1 Ready Leader", "lab-m2 Ready Reachable", "lab-m3 Ready Reachable", "lab-w1 Ready"]);
    endsAtBase();
}, 10 * 60_000);

test("a dead worker is removed by a config change; back later, it is added again with a fresh join", () => {
    killHost("lab-w1");
    const removed = deploySwarm(withoutWorker());
    expect(removed.summary.error).toBeUndefined();
    expect(nodeSummary()).toEqual(["lab-m1 Ready Leader", "lab-m2 Ready Reachable", "lab-m3 Ready Reachable"]);
    expect(removed.output).toMatch(/node lab-w1: host 198\.18\.42\.21 cannot be reached .*it is out of the swarm's node list already/);

    // It comes back still believing it is a member; adding it again makes it leave and rejoin.
    startHost("lab-w1");
    expect(swarmState(addressOf("lab-w1"))).not.toBe("inactive");
    const readded = deploySwarm(baseNodes);
    expect(readded.summary.error).toBeUndefined();
    expect(readded.output).toContain("action=rejoined");
    expect(nodeSummary()).toEqual(["lab-m1 Ready Leader", "lab-m2 Ready Reachable", "lab-m3 Ready Reachable", "lab-w1 Ready"]);
    endsAtBase();
}, 10 * 60_000);

test("a dead first manager is replaced in one update: a live manager moves to the top, a worker is promoted", () => {
    killHost("lab-m1");
    // The runbook's config: lab-m2 first, lab-m1 gone, lab-w1 promoted and given lab-m1's roles.
    const w1 = baseNode("lab-w1");
    const replaced: LabNode[] = [baseNode("lab-m2"), baseNode("lab-m3"), { ...w1, swarmRole: "manager", roles: [...w1.roles, ...baseNode("lab-m1").roles] }];
    const replace = deploySwarm(replaced);
    expect(replace.summary.error).toBeUndefined();
    const m2 = addressOf("lab-m2");
    const managers = nodeList(m2).map((n) => `${n.hostname} ${n.status} ${n.manager === "Leader" ? "Reachable" : n.manager}`);
    expect(managers).toEqual(["lab-m2 Ready Reachable", "lab-m3 Ready Reachable", "lab-w1 Ready Reachable"]);
    expect(replace.summary.outputs.dockerHost).toBe("ssh://root@198.18.42.12:22");

    // The host comes back; it joins again as a manager, and the worker is demoted in place.
    startHost("lab-m1");
    const w1Id = nodeList(m2).find((n) => n.hostname === "lab-w1")!.id;
    const back = deploySwarm([baseNode("lab-m2"), baseNode("lab-m3"), baseNode("lab-m1"), baseNode("lab-w1")]);
    expect(back.summary.error).toBeUndefined();
    expect(nodeSummary(m2).map((l) => l.replace("Leader", "Reachable"))).toEqual([
        "lab-m1 Ready Reachable",
        "lab-m2 Ready Reachable",
        "lab-m3 Ready Reachable",
        "lab-w1 Ready",
    ]);
    expect(nodeList(m2).find((n) => n.hostname === "lab-w1")!.id).toBe(w1Id); // demoted in place, no rejoin
    // And the base order again: an update in place, nobody leaves.
    const reordered = deploySwarm(baseNodes);
    expect(reordered.summary.error).toBeUndefined();
    expect(changes(reordered).filter((c) => /^(delete|replace)/.test(c))).toEqual([]);
    endsAtBase();
}, 10 * 60_000);

test("a run whose swarm ends degraded fails, listing what differs; once the host is back the same run succeeds, and spreads the app over its nodes again with no failed request", async () => {
    killHost("lab-w1");
    waitUntilDown("lab-w1");
    const degraded = deploySwarm(baseNodes);
    expect(degraded.status).toBe(1);
    expect(degraded.summary.error).toMatch(/swarm-health .*the swarm does not match config after 60s:\nlab-w1: status down, expected ready/s);
    expect(changes(degraded)).toEqual([]);

    // While lab-w1 was down, Swarm moved its app task to lab-m3, the other app node; it moves
    // nothing back when lab-w1 returns.
    startHost("lab-w1");
    await waitFor("lab-w1 ready", () => nodeSummary().some((n) => n.startsWith("lab-w1 Ready")), 120_000, 2000);
    // The node of each running app task (one line per task).
    const appNodes = () =>
        onNode(someManager(), `docker service ps --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' ${appService()}`)
            .trim()
            .split("\n")
            .filter((l) => / Running /.test(` ${l} `))
            .map((l) => l.split(" ")[0])
            .sort();
    expect(appNodes()).toEqual(["lab-m3", "lab-m3"]);

    // The same run succeeds, and spreads the app over its nodes again, under load, with no
    // failed request (one more task on lab-w1 first, then back to two, taken from lab-m3).
    const stop = new AbortController();
    const load = runOpenLoop({ url: `http://${VIP}/`, ratePerSecond: 50, durationMs: 10 * 60_000, timeoutMs: 3000, signal: stop.signal });
    const healed = await deployInBackground(baseNodes, SWARM_AND_EDGE_ONLY).done;
    stop.abort();
    const seen = await load;
    expect(healed.summary.error).toBeUndefined();
    expect(healed.output).toContain("spread=swarm-ha-app lab-m3:1 lab-w1:1 (was lab-m3:2 lab-w1:0)");
    expect(appNodes()).toEqual(["lab-m3", "lab-w1"]);
    console.log(`[faults] the app spread again on the run after lab-w1 returned: ${seen.failed} of ${seen.total} requests failed`);
    expect(`${seen.failed} failed of ${seen.total}`).toBe(`0 failed of ${seen.total}`);
    expect(seen.total).toBeGreaterThan(500);
    endsAtBase();
}, 10 * 60_000);
