/**
 * End-to-end, the edge and the app: the VIP answers through HAProxy with the app, and after
 * each fault the chaos benchmark measures (bench/chaos-edge.ts) what must always hold does:
 * the app is back to its replica count, the VIP answers, requests succeed. Not timed here.
 */
import { runOpenLoop } from "../../bench/load/open-loop";
import { appService, describeServices, haproxyService, keepalivedService, killTask, PREFIX, replicas, runningTasks, setAvailability, sleep, VIP, vipAnswers, vipHolders, waitFor } from "../faults";
import { addressOf, baseNodes, changes, deploy, killHost, sharedBase, startHost } from "../control";

const EDGE = baseNodes.filter((n) => n.roles.includes("edge")).map((n) => n.name);

/** The app at its replica count, and the VIP answering with it, several times in a row. */
async function recovered(): Promise<void> {
    await waitFor("the app back at 2/2 replicas", () => replicas(appService()) === "2/2", 180_000, 1000);
    let inARow = 0;
    await waitFor("the VIP to answer 5 times in a row", async () => ((inARow = (await vipAnswers()) ? inARow + 1 : 0) >= 5), 60_000, 200);
}

// The base stack, reused when the file before left it deployed and healthy (lab/test/sequencer.js).
beforeAll(() => {
    sharedBase();
}, 10 * 60_000);

test("the VIP answers with the app, from both replicas; the stats page asks for a password", async () => {
    // HAProxy learns a new task through DNS (every 1 s) and 2 good checks: a clean-clone CI run
    // saw one request unanswered just after the deploy returned, so wait for the edge first.
    await recovered();
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add((await vipAnswers()) ?? "no answer");
    expect([...seen].sort()).toEqual([expect.stringMatching(/^swarm-ha-app\.\d\./), expect.stringMatching(/^swarm-ha-app\.\d\./)]);
    expect(vipHolders(EDGE)).toHaveLength(1);
    const stats = await fetch(`http://${VIP}:8404/stats`);
    expect(stats.status).toBe(401);
    const metrics = await fetch(`http://${addressOf("lab-m1")}:8404/metrics`);
    expect(metrics.status).toBe(401);
});

test("a second run with no change changes nothing (keepalived's host network attachment included)", () => {
    const again = deploy(baseNodes);
    expect(again.summary.error).toBeUndefined();
    expect(changes(again)).toEqual([]);
});

test("a killed app task is replaced; the VIP keeps answering: no request fails meanwhile", async () => {
    // 20 requests a second through the VIP from before the kill until the app is whole again:
    // HAProxy retries a request the dead task refused or dropped on the other replica.
    const stop = new AbortController();
    const load = runOpenLoop({ url: `http://${VIP}/`, ratePerSecond: 20, durationMs: 5 * 60_000, timeoutMs: 3000, signal: stop.signal });
    await sleep(2000);
    killTask(appService());
    await recovered();
    await sleep(2000);
    stop.abort();
    const seen = await load;
    console.log(`[edge] a killed app task: ${seen.failed} of ${seen.total} requests failed`);
    expect(`${seen.failed} failed of ${seen.total}`).toBe(`0 failed of ${seen.total}`);
    expect(seen.total).toBeGreaterThan(100);
});

test("a drained node's app tasks move to the other app node, and come back when it is active again", async () => {
    const node = "lab-m3";
    setAvailability(node, "drain");
    try {
        await waitFor(
            "both app tasks running on lab-w1, none on lab-m3",
            () => runningTasks(appService()).filter((t) => t.node === "lab-w1").length === 2 && !runningTasks(appService()).some((t) => t.node === node),
            180_000,
            1000,
        );
        for (let i = 0; i < 4; i++) expect((await vipAnswers()) ?? "no answer").toMatch(/lab-w1$/);
    } finally {
        setAvailability(node, "active");
    }
    await recovered();
});

test("HAProxy killed on the VIP holder: the VIP moves to the other edge node, and HAProxy comes back", async () => {
    const [holder] = vipHolders(EDGE);
    const other = EDGE.find((n) => n !== holder)!;
    killTask(haproxyService(holder));
    // keepalived's check of the local HAProxy fails, so the other edge node takes the VIP (the
    // chaos benchmark measures 1.3 s): seen there alone, before the swarm restarts HAProxy.
    await waitFor(`the VIP to move from ${holder} to ${other}`, () => vipHolders(EDGE).join() === other, 30_000, 100);
    await waitFor(`${haproxyService(holder)} back at 1/1`, () => replicas(haproxyService(holder)) === "1/1", 120_000, 1000);
    await recovered();
    expect(vipHolders(EDGE)).toHaveLength(1);
});

test("keepalived SIGKILLed on the VIP holder: the other edge node takes the VIP, and the VIP is held once keepalived is back", async () => {
    const [holder] = vipHolders(EDGE);
    const other = EDGE.find((n) => n !== holder)!;
    killTask(keepalivedService(holder));
    // A SIGKILLed keepalived sends no goodbye: the other node takes over once the adverts stop.
    await waitFor(`${other} to take the VIP`, () => vipHolders([other]).length === 1, 30_000, 100);
    await waitFor(`${keepalivedService(holder)} back at 1/1`, () => replicas(keepalivedService(holder)) === "1/1", 120_000, 1000);
    await recovered();
    await waitFor("exactly one VIP holder", () => vipHolders(EDGE).length === 1, 30_000, 250);
});

test("the VIP holder dies: the other edge node answers on the VIP; once back, the stack is whole again", async () => {
    const holder = vipHolders(EDGE)[0];
    console.log(`[edge] the VIP holder, ${holder}, dies`);
    killHost(holder);
    try {
        let inARow = 0;
        await waitFor("the VIP to answer from the other edge node", async () => ((inARow = (await vipAnswers()) ? inARow + 1 : 0) >= 5), 60_000, 200);
        expect(vipHolders(EDGE.filter((n) => n !== holder))).toHaveLength(1);
    } finally {
        startHost(holder);
    }
    await waitFor(`${haproxyService(holder)} back at 1/1`, () => replicas(haproxyService(holder)) === "1/1", 180_000, 1000);
    await recovered();
    const healed = deploy(baseNodes);
    // Twice in CI this deploy found lab-m3's Redis and Sentinel unreachable from lab-m2, and it
    // did not happen in 14 tries on this machine: on failure, say what the swarm and each Redis
    // node's DNS say of the Redis tier, in the failure's own message (a CI log's head keeps it).
    const redis = baseNodes.filter((n) => n.roles.includes("redis")).map((n) => n.name);
    const tier = () => describeServices(redis.flatMap((n) => [`${PREFIX}-redis-${n}`, `${PREFIX}-sentinel-${n}`]), redis);
    expect(healed.summary.error ? `${holder} died and came back, then: ${healed.summary.error}\n${tier()}` : undefined).toBeUndefined();
}, 10 * 60_000);
