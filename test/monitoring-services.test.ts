/**
 * The monitoring tier under mocks (the dev stack: monitoring on manager-1, three managers, five
 * nodes): where each service runs, what it may reach, how it finds its targets, that its
 * credentials stay secret, and that turning it off leaves the rest as it was.
 */
import * as pulumi from "@pulumi/pulumi";
import { FAKE_SSH_KEY, devConfig, runProgram, type RunResult } from "./support/program";

jest.setTimeout(30_000);

const SERVICE = "docker:index/service:Service";
const dev = (extra: Record<string, string> = {}) => ({ ...devConfig(), "swarm-ha:sshPrivateKey": FAKE_SSH_KEY, ...extra });
const decoded = (r: { inputs: Record<string, any> }) => Buffer.from(r.inputs.data, "base64").toString("utf8");
const service = (run: RunResult, name: string) => run.resources.find((r) => r.type === SERVICE && r.inputs.name === name)!;
const labels = (r: { inputs: Record<string, any> }) => Object.fromEntries(r.inputs.labels.map((l: any) => [l.label, l.value]));

describe("the dev stack's monitoring", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(dev({ "swarm-ha:alertWebhookUrl": "https://hooks.example.com/am" }));
    });

    test("the Docker API is reached only through the read-only proxy: the socket mounted read-only on a manager, nothing published", () => {
        const proxy = service(run, "swarm-ha-docker-api").inputs;
        expect(proxy.taskSpec.containerSpec.mounts).toEqual([{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock", readOnly: true }]);
        // Two, on two managers; two swarm exporters on two nodes: one node's death blinds neither.
        expect(proxy.mode).toEqual({ replicated: { replicas: 2 } });
        expect(proxy.taskSpec.placement).toEqual({ constraints: ["node.role == manager"], maxReplicas: 1 });
        const exporter = service(run, "swarm-ha-swarm-exporter").inputs;
        expect([exporter.mode, exporter.taskSpec.placement]).toEqual([{ replicated: { replicas: 2 } }, { maxReplicas: 1 }]);
        // Their replica counts follow the nodes: a change replaces them, the old one first (its name is taken).
        expect(run.resources.filter((r) => r.type === "docker:index/service:Service" && r.parent?.includes("Monitoring") && !r.deleteBeforeReplace).map((r) => r.name)).toEqual([]);
        expect(proxy.taskSpec.networksAdvanceds).toEqual([{ id: "net-monitoring-id" }]);
        expect(proxy.endpointSpec).toEqual({ mode: "dnsrr" });
        // No other service mounts the socket.
        const mountsSocket = run.resources.filter((r) => r.type === SERVICE && JSON.stringify(r.inputs.taskSpec.containerSpec.mounts ?? []).includes("docker.sock"));
        expect(mountsSocket.map((r) => r.inputs.name)).toEqual(["swarm-ha-docker-api"]);
        expect(decoded(run.byName("monitoring-prometheus-config"))).toContain("host: http://swarm-ha-docker-api:2375");
    });

    test("Prometheus: a pair, one per monitoring node with its own volume, on the networks of what it scrapes, HAProxy's password from its secret", () => {
        const prom = service(run, "swarm-ha-prometheus").inputs;
        expect(prom.mode).toEqual({ replicated: { replicas: 2 } });
        expect(prom.taskSpec.placement).toEqual({ constraints: ["node.labels.swarm-ha.role.monitoring == true"], maxReplicas: 1 });
        // Updated one at a time, the old task stopped first (its volume): the other keeps alerting.
        expect(prom.updateConfig).toMatchObject({ parallelism: 1, order: "stop-first" });
        expect(prom.taskSpec.networksAdvanceds).toEqual([{ id: "net-monitoring-id" }, { id: "net-app-id" }, { id: "net-data-id" }]);
        expect(prom.taskSpec.containerSpec.mounts).toEqual([{ type: "volume", source: "swarm-ha-prometheus-data", target: "/prometheus" }]);
        expect(prom.taskSpec.containerSpec.secrets.map((s: any) => s.fileName)).toEqual(["haproxy-stats-password"]);
        expect(prom.taskSpec.containerSpec.args).toContain("--storage.tsdb.retention.time=15d");
        expect(prom.endpointSpec.ports).toBeUndefined();
    });

    test("two Alertmanagers on two managers, clustered; their config (receivers' credentials) is a Docker secret", () => {
        const am = service(run, "swarm-ha-alertmanager").inputs;
        expect(am.mode).toEqual({ replicated: { replicas: 2 } });
        expect(am.taskSpec.placement).toEqual({ constraints: ["node.role == manager"], maxReplicas: 1 });
        expect(am.taskSpec.containerSpec.env.ALERTMANAGER_PEERS).toBe("tasks.swarm-ha-alertmanager");
        expect(am.taskSpec.containerSpec.secrets.map((s: any) => s.fileName)).toEqual(["alertmanager.yml"]);
        const secret = run.byName("secrets-alertmanager-config");
        expect(secret.secretInputs).toContain("data");
        expect(decoded(secret)).toContain("url: https://hooks.example.com/am");
        // No Docker config holds an Alertmanager configuration.
        expect(run.resources.filter((r) => r.type === "docker:index/serviceConfig:ServiceConfig").filter((c) => decoded(c).includes("receivers:"))).toEqual([]);
    });

    test("node-exporter (and cAdvisor) run one task on each of the five nodes; every scraped service says how to scrape it", () => {
        for (const name of ["swarm-ha-node-exporter", "swarm-ha-cadvisor"]) {
            const s = service(run, name).inputs;
            expect(`${name} ${s.mode.replicated.replicas} ${s.taskSpec.placement.maxReplicas}`).toBe(`${name} 5 1`);
        }
        const scraped = Object.fromEntries(
            run.resources.filter((r) => r.type === SERVICE && labels(r)["swarm-ha.metrics.job"]).map((r) => [r.inputs.name, `${labels(r)["swarm-ha.metrics.job"]} ${labels(r)["swarm-ha.metrics.port"]} ${labels(r)["swarm-ha.metrics.network"]}`]),
        );
        expect(scraped).toMatchObject({
            "swarm-ha-app": "app 8080 app",
            "swarm-ha-haproxy-manager-1": "haproxy 8404 app",
            "swarm-ha-redis-worker-1": "redis 6379 data-access",
            "swarm-ha-pg-worker-1": "patroni 8008 data",
            "swarm-ha-etcd-manager-1": "etcd 2379 data",
            "swarm-ha-backup": "backup 9187 data",
            "swarm-ha-pg-exporter-worker-1": "postgres 9187 monitoring",
            "swarm-ha-swarm-exporter": "swarm 9323 monitoring",
            "swarm-ha-node-exporter": "node 9100 monitoring",
        });
        // Sentinels are not Redis servers: not scraped as such.
        expect(scraped["swarm-ha-sentinel-worker-1"]).toBeUndefined();
    });

    test("each Postgres member gets its exporter beside it; the password comes from a file, in no environment", () => {
        const pgx = service(run, "swarm-ha-pg-exporter-worker-2").inputs;
        expect(pgx.taskSpec.placement.constraints).toEqual(["node.labels.swarm-ha.name == worker-2"]);
        expect(pgx.taskSpec.containerSpec.env).toEqual({
            DATA_SOURCE_URI: "swarm-ha-pg-worker-2:5432/postgres?sslmode=disable",
            DATA_SOURCE_USER: "postgres",
            DATA_SOURCE_PASS_FILE: "/run/secrets/postgres-password",
        });
        expect(service(run, "swarm-ha-redis-exporter").inputs.taskSpec.containerSpec.env).toEqual({ REDIS_PASSWORD_FILE: "/run/secrets/redis-password" });
    });

    test("Grafana: provisioned data source and dashboards, its admin password from a secret file", () => {
        const g = service(run, "swarm-ha-grafana").inputs;
        expect(g.taskSpec.containerSpec.image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
        expect(g.taskSpec.containerSpec.env.GF_SECURITY_ADMIN_PASSWORD__FILE).toBe("/run/secrets/grafana-admin-password");
        expect(Object.keys(g.taskSpec.containerSpec.env).filter((k) => /PASSWORD$/.test(k))).toEqual([]);
        expect(g.taskSpec.containerSpec.configs.map((c: any) => c.fileName)).toEqual([
            "/etc/grafana/provisioning/datasources/swarm-ha.yml",
            "/etc/grafana/provisioning/dashboards/swarm-ha.yml",
            "/etc/grafana/dashboards/cluster.json",
            "/etc/grafana/dashboards/edge.json",
            "/etc/grafana/dashboards/data.json",
        ]);
        expect(g.taskSpec.networksAdvanceds).toEqual([{ id: "net-monitoring-id" }]);
    });

    test("HAProxy serves the UIs on the monitoring network; keepalived reports the VIP holder into node-exporter's volume", () => {
        const cfg = decoded(run.byName("edge-manager-1-haproxy-config"));
        expect(cfg).toContain("server-template prometheus 1-2 tasks.swarm-ha-prometheus:9090 check");
        expect(cfg).toContain("server-template alertmanager 1-2 tasks.swarm-ha-alertmanager:9093 check");
        expect(cfg).toContain("server-template grafana 1-1 tasks.swarm-ha-grafana:3000 check");
        const keepalived = run.byName("edge-manager-1-keepalived").inputs.taskSpec.containerSpec;
        expect(keepalived.mounts).toContainEqual({ type: "volume", source: "swarm-ha-textfile", target: "/textfile" });
        expect(decoded(run.byName("edge-manager-1-keepalived-config"))).toContain("notify /usr/local/bin/swarm-ha-vrrp-state root");
    });

    test("the outputs: the UIs' URLs through the VIP, Grafana's password secret", async () => {
        expect([run.outputs.grafanaUrl, run.outputs.prometheusUrl, run.outputs.alertmanagerUrl]).toEqual([
            "http://192.0.2.100:3000/",
            "http://192.0.2.100:9090/",
            "http://192.0.2.100:9093/",
        ]);
        expect(await pulumi.isSecret(run.exports.grafanaAdminPassword)).toBe(true);
    });
});

test("receivers' credentials set as secrets reach only alertmanager.yml's Docker secret", async () => {
    const slack = "https://hooks.slack.com/services/T000/B000/not-a-real-token";
    const run = await runProgram(
        dev({ "swarm-ha:alertSlackApiUrl": slack, "swarm-ha:alertEmailTo": "ops@example.com", "swarm-ha:alertEmailFrom": "am@example.com", "swarm-ha:alertEmailSmarthost": "smtp.example.com:587", "swarm-ha:alertEmailUsername": "am", "swarm-ha:alertEmailPassword": "smtp-not-real" }),
        { secretKeys: ["swarm-ha:sshPrivateKey", "swarm-ha:alertSlackApiUrl", "swarm-ha:alertEmailPassword"] },
    );
    // Every resource's inputs, with base64 data decoded: only the secret holds the credentials.
    const text = (r: { inputs: Record<string, any> }) => JSON.stringify(r.inputs) + (typeof r.inputs.data === "string" ? decoded(r) : "");
    const holders = run.resources.filter((r) => text(r).includes("not-a-real-token") || text(r).includes("smtp-not-real"));
    expect(holders.map((r) => r.name)).toEqual(["secrets-alertmanager-config"]);
    const secret = run.byName("secrets-alertmanager-config");
    expect(secret.secretInputs).toContain("data");
    expect(decoded(secret)).toContain(slack);
    expect(decoded(secret)).toContain("auth_password: smtp-not-real");
});

test("monitoring off: none of its services, HAProxy off its network, keepalived reports nothing; the rest as with it", async () => {
    const on = await runProgram(dev());
    const off = await runProgram(dev({ "swarm-ha:monitoring": "false" }));
    const names = (run: RunResult) => run.resources.filter((r) => r.type === SERVICE).map((r) => r.inputs.name as string).sort();
    const monitoringServices = names(on).filter((n) => !names(off).includes(n));
    expect(monitoringServices).toEqual([
        "swarm-ha-alertmanager",
        "swarm-ha-cadvisor",
        "swarm-ha-docker-api",
        "swarm-ha-grafana",
        "swarm-ha-node-exporter",
        "swarm-ha-pg-exporter-worker-1",
        "swarm-ha-pg-exporter-worker-2",
        "swarm-ha-prometheus",
        "swarm-ha-redis-exporter",
        "swarm-ha-swarm-exporter",
    ]);
    expect(names(off).every((n) => names(on).includes(n))).toBe(true);
    expect(off.byName("edge-manager-1-haproxy").inputs.taskSpec.networksAdvanceds).toEqual([{ id: "net-edge-id" }, { id: "net-app-id" }]);
    expect(decoded(off.byName("edge-manager-1-keepalived-config"))).not.toContain("notify");
    expect([off.outputs.grafanaUrl, off.outputs.prometheusUrl, off.outputs.alertmanagerUrl]).toEqual([null, null, null]);
});
