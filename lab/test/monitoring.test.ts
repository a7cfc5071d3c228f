/**
 * End-to-end, the monitoring tier on the lab: Prometheus finds every target through Swarm
 * discovery (through the read-only Docker API proxy, which refuses writes), scrapes them all,
 * loads every alert rule, stays quiet on a healthy stack, and every dashboard query returns
 * data. Alerts reach the lab's receiver through the clustered Alertmanagers: a stopped node's
 * NodeDown (and the managers' quorum warning), sent by the other Prometheus of the pair when the
 * node ran one, and the app's replicas alert firing, then
 * resolving. The time each takes is measured by bench/alerts.ts, not here.
 */
import { alertNames } from "../../components/monitoring/alert-rules";
import { dashboardQueries } from "../../components/monitoring/grafana";
import { AlertReceiver } from "../alert-receiver";
import { baseNodes, killHost, sharedBase, startHost } from "../control";
import { appService, killTask, replicas, sleep, waitFor } from "../faults";
import { works } from "../data";
import { ALERTMANAGER_URL, PROMETHEUS_URL, alerts, dockerApiStatus, getAdmin, query, ruleNames, targets } from "../monitoring";

const NODES = baseNodes.map((n) => n.name);
const receiver = new AlertReceiver();

// The base stack, reused when the file before left it deployed and healthy (lab/test/sequencer.js).
beforeAll(async () => {
    sharedBase();
    await receiver.start();
}, 15 * 60_000);
afterAll(() => receiver.stop());

/** What Prometheus scrapes on the lab: job → how many targets (every node's node-exporter, ...). */
const EXPECTED_TARGETS: Record<string, number> = {
    node: 4,
    swarm: 2,
    prometheus: 2,
    alertmanager: 2,
    app: 2,
    haproxy: 2,
    redis: 3,
    patroni: 2,
    postgres: 2,
    etcd: 3,
    backup: 1,
};

test("Prometheus finds every target through Swarm discovery, and every one is up, labelled with its node and service", async () => {
    let last: Awaited<ReturnType<typeof targets>> = [];
    const summary = () => Object.fromEntries(Object.keys(EXPECTED_TARGETS).map((job) => [job, last.filter((t) => t.job === job && t.health === "up").length]));
    await waitFor(
        "every expected target up",
        async () => {
            last = await targets().catch(() => []);
            return JSON.stringify(summary()) === JSON.stringify(EXPECTED_TARGETS);
        },
        180_000,
        2000,
    ).catch((e) => {
        throw new Error(`${(e as Error).message}\nup per job: ${JSON.stringify(summary())}\ndown: ${last.filter((t) => t.health !== "up").map((t) => `${t.job} ${t.instance}: ${t.lastError}`).join("; ")}`);
    });
    expect(last.filter((t) => t.health !== "up")).toEqual([]);
    // Every series says where it comes from: the node-exporter of each node, Redis by its own node.
    expect(last.filter((t) => t.job === "node").map((t) => t.node).sort()).toEqual([...NODES].sort());
    expect(last.filter((t) => t.job === "redis").map((t) => t.service).sort()).toEqual(baseNodes.filter((n) => n.roles.includes("redis")).map((n) => `swarm-ha-redis-${n.name}`).sort());
    for (const t of last.filter((t) => t.job !== "swarm")) expect(`${t.job} ${t.node ? "node" : "no node"} ${t.service ? "service" : "no service"}`).toBe(`${t.job} node service`);
}, 240_000);

test("the Docker API proxy answers the reads discovery needs and refuses writes", () => {
    expect(dockerApiStatus("lab-m1", "GET", "/v1.41/services?status=true")).toBe(200);
    expect(dockerApiStatus("lab-m1", "POST", "/v1.41/services/create")).toBe(403);
    expect(dockerApiStatus("lab-m1", "GET", "/v1.41/containers/json")).toBe(403);
    expect(dockerApiStatus("lab-m1", "GET", "/v1.41/secrets")).toBe(403);
});

test("Prometheus and Alertmanager answer only with the stats password, through HAProxy on the VIP", async () => {
    // HAProxy's checks find a task that just (re)started within a few seconds.
    for (const url of [PROMETHEUS_URL, ALERTMANAGER_URL]) {
        await waitFor(`${url} ready through HAProxy`, async () => (await getAdmin(`${url}/-/ready`).catch(() => ({ status: 0 }))).status === 200, 60_000, 1000);
        expect((await getAdmin(`${url}/-/ready`, false)).status).toBe(401);
    }
    // The two Alertmanagers found each other.
    await waitFor("two Alertmanagers in the cluster", async () => (await query("min(alertmanager_cluster_members)"))[0]?.value[1] === "2", 120_000, 2000);
});

test("every alert rule is loaded, and a healthy stack fires none but the Watchdog", async () => {
    const expected = alertNames({ dataTier: true, vip: true, synchronousMode: true, postgresMaxLagBytes: 16 << 20, backupMaxAgeSeconds: 2 * 60 * 60 + 600 });
    expect([...new Set(await ruleNames())].sort()).toEqual([...new Set(expected)].sort());
    // Informational alerts (the VIP holder changed) may fire after a deploy; nothing else may
    // but the Watchdog, which always does (its pings stopping is the dead man's switch's page).
    // (Pending ones are conditions within their `for`: a busy lab's CPU, say.)
    const firing = (await alerts()).filter((a) => a.labels.severity !== "info" && a.state === "firing");
    expect(firing.filter((a) => a.labels.alertname !== "Watchdog").map((a) => `${a.labels.alertname} ${a.state} ${a.labels.node ?? a.labels.service ?? ""}`)).toEqual([]);
    expect(firing.filter((a) => a.labels.alertname === "Watchdog")).toHaveLength(1);
});

test("every dashboard query returns data on the lab (apart from cAdvisor's, which the lab does not run)", async () => {
    // Some traffic, so the app's and HAProxy's request metrics exist.
    for (let i = 0; i < 20; i++) await works(`dashboards ${i}`).catch(() => false);
    await sleep(25_000);
    // The restore-check panel has data once the first backup (a dump, then a restore into a
    // scratch database) is through, which takes minutes on a loaded lab.
    await waitFor("the first backup's restore check", async () => (await query("swarm_ha_backup_restore_check_ok")).length > 0, 240_000, 5000);
    const empty: string[] = [];
    for (const q of dashboardQueries().filter((q) => q.needs === undefined)) {
        const result = await query(q.expr);
        if (result.length === 0) empty.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
    }
    expect(empty).toEqual([]);
}, 420_000);

test("a stopped node that runs one of the two Prometheus pages NodeDown (through the other), with the managers one failure from losing quorum, and resolves when it is back", async () => {
    // One Prometheus on each monitoring node (lab-m1, lab-m2): lab-m2's dies with its host.
    const prometheusNodes = (await query('up{job="prometheus"} == 1')).map((r) => r.metric.node).sort();
    expect(prometheusNodes).toEqual(["lab-m1", "lab-m2"]);
    const since = Date.now();
    killHost("lab-m2");
    try {
        const down = await receiver.waitFor("NodeDown", { since, timeoutMs: 120_000, labels: { node: "lab-m2" } });
        expect(down.labels.severity).toBe("critical");
        await receiver.waitFor("ManagerQuorumAtRisk", { since, timeoutMs: 60_000 });
    } finally {
        startHost("lab-m2");
    }
    await receiver.waitFor("NodeDown", { status: "resolved", since, timeoutMs: 180_000, labels: { node: "lab-m2" } });
    // The pair is whole again: lab-m2's Prometheus back on its node.
    await waitFor("both Prometheus scraped again", async () => (await query('up{job="prometheus"} == 1')).length === 2, 180_000, 5000);
}, 480_000);

test("app tasks that keep dying page ServiceReplicasBelowDesired, which resolves once they stay up", async () => {
    const app = appService();
    await waitFor("the app at 2/2", () => replicas(app) === "2/2", 180_000, 2000);
    const since = Date.now();
    // A crash loop: kill a task every 3 s for 45 s.
    const until = Date.now() + 45_000;
    while (Date.now() < until) {
        try {
            killTask(app);
        } catch {
            // no task running right now: the swarm is starting one
        }
        await sleep(3000);
    }
    await receiver.waitFor("ServiceReplicasBelowDesired", { since, timeoutMs: 60_000, labels: { service: app } });
    await receiver.waitFor("ServiceReplicasBelowDesired", { status: "resolved", since, timeoutMs: 180_000, labels: { service: app } });
}, 360_000);
