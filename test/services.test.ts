/**
 * The app and the edge under mocks (the dev stack: edge on manager-1 and manager-2, the app on
 * worker-1 and worker-2, VIP 192.0.2.100): which images are built where, and the services'
 * specs that make faults invisible to clients — and that no secret leaks into a config.
 */
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { SUPPLIABLE_SECRETS } from "../components/config";
import * as os from "node:os";
import * as path from "node:path";
import { BUILD_CONTEXTS, builtImageTag, contextFiles, IMAGE_NAMES, sourceNewerThan } from "../components/images/catalog";
import { FAKE_SSH_KEY, devConfig, runProgram, type RunResult } from "./support/program";
import { makeCertificate } from "./support/tls";

// Whole stacks under mocks: more than jest's 5 s when the suites run side by side.
jest.setTimeout(30_000);

const CONFIG = "docker:index/serviceConfig:ServiceConfig";
const SERVICE = "docker:index/service:Service";

function dev(extra: Record<string, string> = {}) {
    return { ...devConfig(), "swarm-ha:sshPrivateKey": FAKE_SSH_KEY, ...extra };
}
/** The app's component, whose dependsOn holds what the app waits for. */
const appComponent = (run: RunResult) => run.resources.find((r) => r.type === "swarm-ha:app:AppService")!;
const decoded = (r: { inputs: Record<string, any> }) => Buffer.from(r.inputs.data, "base64").toString("utf8");

describe("the dev stack's services", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(dev());
    });

    test("each image is built on the nodes that run it, under its content-hash tag", () => {
        const builds = run.resources.filter((r) => r.name.endsWith("-build")).map((r) => r.name).sort();
        expect(builds).toEqual(
            [
                // The edge (HAProxy, keepalived) on the edge nodes; etcd on the managers; Redis and Sentinel on its nodes;
                // the app and Postgres's proxy (HAProxy) on the app nodes, Postgres on its own, the backups on a replica's node.
                ...["manager-1-etcd", "manager-1-haproxy", "manager-1-keepalived", "manager-2-etcd", "manager-2-haproxy", "manager-2-keepalived", "manager-2-redis"],
                ...["manager-3-etcd", "manager-3-redis", "worker-1-app", "worker-1-haproxy", "worker-1-postgres", "worker-1-redis"],
                ...["worker-2-app", "worker-2-backup", "worker-2-haproxy", "worker-2-postgres"],
                // Monitoring: node-exporter on every node, the Docker API proxy (HAProxy) on any manager.
                ...["manager-1-monitoring", "manager-2-monitoring", "manager-3-haproxy", "manager-3-monitoring", "worker-1-monitoring", "worker-2-monitoring"],
            ]
                .map((n) => `images-${n}-build`)
                .sort(),
        );
        const build = run.byName("images-worker-1-app-build").inputs;
        expect(build.connection.host).toBe("192.0.2.21");
        expect(build.create).toContain(`IMAGE='${builtImageTag("app")}'`);
        const copy = run.byName("images-worker-1-app-context");
        expect(copy.type).toBe("command:remote:CopyToRemote");
        expect(run.byName("images-worker-1-app-build").dependencies).toContain(copy.urn);
        expect(run.byName("app-service").inputs.taskSpec.containerSpec.image).toBe(builtImageTag("app"));
    });

    test("the app: replicated over the app nodes, found by DNS, healthy before it gets traffic, updated start-first with a rollback", () => {
        const app = run.byName("app-service");
        const spec = app.inputs;
        expect(spec.name).toBe("swarm-ha-app");
        expect(spec.mode).toEqual({ replicated: { replicas: 2 } });
        expect(spec.endpointSpec).toEqual({ mode: "dnsrr" });
        expect(spec.taskSpec.placement).toEqual({ constraints: ["node.labels.swarm-ha.role.app == true"], prefs: ["node.labels.swarm-ha.name"], maxReplicas: 2 });
        expect(spec.taskSpec.containerSpec.healthcheck.tests).toEqual(expect.arrayContaining(["http://127.0.0.1:8080/health/ready"]));
        expect(spec.updateConfig).toMatchObject({ order: "start-first", failureAction: "rollback", parallelism: 1 });
        // Longer than the app's drain (5 s) plus its shutdown timeout (15 s), and at least the 30 s
        // the Docker provider's delete needs to see the container removed.
        expect(spec.taskSpec.containerSpec.stopGracePeriod).toBe("30s");
        // The edge reaches it on the app network; it reaches the Postgres proxy and Redis on the
        // data-access network (never the data network, where the Postgres members and etcd are).
        expect(spec.taskSpec.networksAdvanceds).toEqual([{ id: "net-app-id" }, { id: "net-data-access-id" }]);
        expect(spec.convergeConfig).toMatchObject({ timeout: "5m" });
        expect(app.dependencies).toEqual(expect.arrayContaining([run.byName("images-worker-1-app-build").urn, run.byName("images-worker-2-app-build").urn]));
    });

    test("every service is on exactly the networks its tier needs: the app reaches the data tier only on data-access (the Postgres proxy, Redis, Sentinels), never the data network", () => {
        // The same table as lab/test/security.test.ts, which probes the deployed networks. First match wins.
        const NETWORKS: [RegExp, string][] = [
            [/^swarm-ha-redis-exporter$/, "monitoring data-access"],
            [/^swarm-ha-pg-exporter-/, "monitoring data"],
            [/^swarm-ha-haproxy-/, "edge app monitoring"],
            [/^swarm-ha-keepalived-/, "host"],
            [/^swarm-ha-app$/, "app data-access"],
            [/^swarm-ha-(redis|sentinel)-/, "data-access"],
            [/^swarm-ha-pg-proxy$/, "data data-access"],
            [/^swarm-ha-(pg|etcd)-|^swarm-ha-backup$/, "data"],
            [/^swarm-ha-prometheus$/, "monitoring app data"],
            [/^swarm-ha-(alertmanager|docker-api|node-exporter|swarm-exporter|grafana|cadvisor)$/, "monitoring"],
        ];
        const services = run.resources.filter((r) => r.type === "docker:index/service:Service");
        expect(services.length).toBeGreaterThan(20);
        for (const s of services) {
            const name: string = s.inputs.name;
            const networks = s.inputs.taskSpec.networksAdvanceds.map((n: { id?: string; name?: string }) => n.name ?? n.id!.replace(/^net-(.*)-id$/, "$1")).join(" ");
            const expected = NETWORKS.find(([re]) => re.test(name));
            expect(`${name}: ${networks}`).toBe(`${name}: ${expected ? expected[1] : "(a service the design does not know)"}`);
        }
        // A change of networks replaces a service, and the swarm refuses two of one name: every
        // service goes before its replacement comes (else such an update fails on a name conflict).
        expect(services.filter((s) => !s.deleteBeforeReplace).map((s) => s.inputs.name)).toEqual([]);
    });

    test("Redis: its health check gives a loaded host about 30 s of silence before the swarm kills a task (killing every Redis at once costs a whole-tier recovery)", () => {
        for (const node of ["manager-2", "manager-3", "worker-1"]) {
            const check = run.byName(`redis-${node}-redis`).inputs.taskSpec.containerSpec.healthcheck;
            expect(check).toMatchObject({ interval: "2s", timeout: "5s", retries: 5 });
            // The image's check: it answers, and a replica is not stuck on a master that is gone.
            expect(check.tests).toEqual(["CMD", "/usr/local/bin/swarm-ha-redis-health"]);
            // A Sentinel's: it answers, and is not stuck on a dead master while its peers name a live one.
            const sentinel = run.byName(`redis-${node}-sentinel`).inputs.taskSpec.containerSpec.healthcheck;
            expect(sentinel).toMatchObject({ interval: "2s", timeout: "5s", retries: 5, tests: ["CMD", "/usr/local/bin/swarm-ha-sentinel-health"] });
        }
    });

    test("etcd and Postgres members change one at a time: each waits for the one before it (a quorum and a leader always stay up)", () => {
        // etcd from the last manager to the first: a replacement (listed last) joins before the others restart.
        const etcd = ["manager-3", "manager-2", "manager-1"].map((m) => run.byName(`postgres-${m}-etcd`));
        expect(etcd[0].dependencies.filter((u) => /-etcd$/.test(u))).toEqual([]);
        expect(etcd[1].dependencies).toContain(etcd[0].urn);
        expect(etcd[2].dependencies).toContain(etcd[1].urn);
        const pg = run.resources.filter((r) => /^postgres-.*-pg$/.test(r.name));
        expect(pg.length).toBeGreaterThanOrEqual(2);
        // Through each member's handover step (the leader moved off it before it restarts).
        const handover = (r: (typeof pg)[number]) => run.byName(r.name.replace(/-pg$/, "-handover"));
        for (let i = 1; i < pg.length; i++) expect(handover(pg[i]).dependencies).toContain(pg[i - 1].urn);
        for (const p of pg) expect(p.dependencies).toContain(handover(p).urn);
    });

    test("a change of managers restarts no etcd member: the etcd-members step on the first manager removes the undeclared ones before any member is created, and a member's environment is read only at its creation", async () => {
        const step = run.byName("postgres-etcd-members");
        expect(step.inputs.connection.host).toBe(run.byName("swarm-manager-1-member").inputs.connection.host);
        expect(step.inputs.create).toContain("# swarm-ha etcd-members.sh");
        expect(step.inputs.create).toMatch(/^DECLARED='manager-1=swarm-ha-etcd-manager-1\nmanager-2=swarm-ha-etcd-manager-2\nmanager-3=swarm-ha-etcd-manager-3'$/m);
        expect(step.inputs.create).toMatch(/^SERVICE='swarm-ha-etcd-manager-1'$/m);
        // It runs once every node has its role (after the health step: a promoted worker listed
        // first is a manager by then), with the data network, and before the first etcd member.
        expect(step.dependencies).toContain(run.byName("swarm-health").urn);
        expect(step.dependencies).toContain(run.byName("net-data").urn);
        expect(run.byName("postgres-manager-3-etcd").dependencies).toContain(step.urn);
        for (const m of ["manager-1", "manager-2", "manager-3"]) {
            const etcd = run.byName(`postgres-${m}-etcd`);
            expect(etcd.ignoreChanges).toEqual(["taskSpec.containerSpec.env"]);
            expect(etcd.inputs.taskSpec.containerSpec.env.ETCD_CLIENT_HOST).toBe("swarm-ha-etcd");
        }
        // manager-3 removed from config (a test cluster may have two managers): the step's list changes.
        const nodes = JSON.parse((dev() as Record<string, string>)["swarm-ha:nodes"]) as { name: string; swarmRole: string }[];
        const after = await runProgram(dev({ "swarm-ha:nodes": JSON.stringify(nodes.filter((n) => n.name !== "manager-3")), "swarm-ha:allowNonHa": "true" }));
        expect(after.byName("postgres-etcd-members").inputs.create).toMatch(/^DECLARED='manager-1=swarm-ha-etcd-manager-1\nmanager-2=swarm-ha-etcd-manager-2'$/m);
        expect(after.resources.some((r) => r.name === "postgres-manager-3-etcd")).toBe(false);
    });

    test("Postgres passwords rotate on the running cluster: the roles steps get them on stdin (secret), the members' roles before any member, the app's after them; a new app password restarts no member", async () => {
        const cluster = run.byName("postgres-passwords");
        const app = run.byName("postgres-app-role");
        for (const [step, mode] of [[cluster, "cluster-roles"], [app, "app-role"]] as const) {
            expect(step.inputs.connection.host).toBe(run.byName("swarm-worker-1-member").inputs.connection.host);
            expect(step.inputs.create).toContain("# swarm-ha postgres-roles.sh");
            expect(step.inputs.create).toMatch(new RegExp(`^MODE='${mode}'$`, "m"));
            expect(step.secretInputs).toContain("stdin");
            expect(step.secretInputs).not.toContain("create");
        }
        const password = (id: string) => decoded(run.byName(`secrets-${id}`));
        expect(JSON.parse(cluster.inputs.stdin)).toEqual({ postgres: password("postgres-password"), replicator: password("postgres-replication-password") });
        expect(JSON.parse(app.inputs.stdin)).toEqual({ app: password("postgres-app-password") });
        // The roles change before the first member restarts with its new files; the app's role once every member runs.
        // (the first member's handover step comes just before it, and after the roles).
        expect(run.byName("postgres-worker-1-handover").dependencies).toContain(cluster.urn);
        expect(run.byName("postgres-worker-1-pg").dependencies).toContain(run.byName("postgres-worker-1-handover").urn);
        expect(app.dependencies).toContain(run.byName("postgres-worker-2-pg").urn);
        // No member reads the app's password: rotating it changes the app and its role step, not Postgres.
        const members = (r: typeof run) => r.resources.filter((x) => x.name.endsWith("-pg")).map((x) => JSON.stringify([x.name, x.inputs]));
        expect(members(run).join()).not.toContain("postgres-app-password");
        const rotated = await runProgram(dev({ "swarm-ha:postgresAppPassword": "rotated-app-password-1234" }));
        expect(members(rotated)).toEqual(members(run));
        expect(JSON.parse(rotated.byName("postgres-app-role").inputs.stdin)).toEqual({ app: "rotated-app-password-1234" });
        expect(rotated.byName("app-service").inputs.taskSpec.containerSpec.secrets).not.toEqual(run.byName("app-service").inputs.taskSpec.containerSpec.secrets);
    });

    test("the app logs in as the login the postgres-app-role step names, and its other login is stopped only once the stack's health step passed (the app's rolling update over)", () => {
        // The mocks' app-role step names app_a (test/support/fake-hosts.ts), as on a new cluster.
        expect(run.byName("app-service").inputs.taskSpec.containerSpec.env.PGUSER).toBe("app_a");
        expect(run.outputs.postgresAppUser).toBe("app_a");
        const retire = run.byName("postgres-app-logins");
        expect(retire.inputs.create).toMatch(/^MODE='app-logins'$/m);
        expect(JSON.parse(retire.inputs.stdin)).toEqual({ keep: "app_a" });
        expect(retire.inputs.connection.host).toBe(run.byName("postgres-app-role").inputs.connection.host);
        // Not on the app's service: the provider reports its update done while old tasks still run.
        expect(retire.dependencies).toContain(run.byName("stack-health").urn);
        expect(retire.dependencies).not.toContain(run.byName("app-service").urn);
        // Not a child of the Postgres component, which the app depends on as a whole.
        expect(retire.parent ?? "").toBe("");
    });

    test("Patroni's settings in config reach the running cluster through the postgres-settings step; patroni.yml, and with it every Postgres member, stays the same", async () => {
        const step = run.byName("postgres-settings");
        expect(step.inputs.connection.host).toBe(run.byName("swarm-worker-1-member").inputs.connection.host);
        expect(step.inputs.create).toContain("# swarm-ha patroni-settings.sh");
        expect(step.inputs.create).toMatch(/^SERVICE='swarm-ha-pg-worker-1'$/m);
        expect(step.inputs.create).toMatch(/^SETTINGS='\{"synchronous_mode":true,"maximum_lag_on_failover":1048576\}'$/m);
        // Once every member is there.
        expect(step.dependencies).toContain(run.byName("postgres-worker-2-pg").urn);

        const changed = await runProgram(dev({ "swarm-ha:postgresSynchronousMode": "false", "swarm-ha:postgresMaxLagOnFailoverMb": "2" }));
        expect(changed.byName("postgres-settings").inputs.create).toMatch(/^SETTINGS='\{"synchronous_mode":false,"maximum_lag_on_failover":2097152\}'$/m);
        const members = (r: typeof run) => r.resources.filter((x) => x.name.endsWith("-pg") || x.name === "postgres-patroni-config").map((x) => JSON.stringify([x.name, x.inputs]));
        expect(members(changed)).toEqual(members(run));
    });

    test("each Postgres member's restart waits for its handover step, which runs (its update) exactly when that member's task changes: the leader is moved off it first", async () => {
        const members = ["worker-1", "worker-2"];
        const step = (r: typeof run, m: string) => r.byName(`postgres-${m}-handover`);
        const digest = (r: typeof run, m: string) => /^TASK_DIGEST='([0-9a-f]{64})'$/m.exec(step(r, m).inputs.update)?.[1];
        for (const m of members) {
            const handover = step(run, m);
            // On the member's own node, in its container; on a new stack (create) it does nothing.
            expect(handover.inputs.connection.host).toBe(run.byName(`swarm-${m}-member`).inputs.connection.host);
            expect(handover.inputs.update).toContain("# swarm-ha patroni-handover.sh");
            expect(handover.inputs.update).toMatch(new RegExp(`^MEMBER='${m}'$`, "m"));
            expect(handover.inputs.update).toMatch(/^DECLARED='worker-1\nworker-2'$/m);
            expect(handover.inputs.create).not.toContain("docker");
            expect(run.byName(`postgres-${m}-pg`).dependencies).toContain(handover.urn);
        }
        // One member at a time: the second member's handover once the first is back.
        expect(step(run, "worker-1").dependencies).toContain(run.byName("postgres-passwords").urn);
        expect(step(run, "worker-2").dependencies).toContain(run.byName("postgres-worker-1-pg").urn);
        expect(digest(run, "worker-1")).not.toBe(digest(run, "worker-2"));

        // A new image changes every member's task, and with it every handover; Patroni's settings
        // and the app's password change no member's task, and no handover runs.
        const image = await runProgram(dev({ "swarm-ha:postgresImage": "registry.example.com/swarm-ha/postgres:15-2" }));
        const settings = await runProgram(dev({ "swarm-ha:postgresSynchronousMode": "false", "swarm-ha:postgresAppPassword": "rotated-app-password-1234" }));
        for (const m of members) {
            expect(digest(image, m)).not.toBe(digest(run, m));
            expect(step(settings, m).inputs.update).toBe(step(run, m).inputs.update);
        }
    });

    test("Patroni reaches etcd through the alias every etcd member shares: no Postgres member's environment names a manager", async () => {
        const etcd = ["manager-1", "manager-2", "manager-3"].map((m) => run.byName(`postgres-${m}-etcd`));
        for (const e of etcd) expect(e.inputs.taskSpec.networksAdvanceds).toEqual([{ id: expect.any(String), aliases: ["swarm-ha-etcd"] }]);
        const pg = run.resources.filter((r) => /^postgres-.*-pg$/.test(r.name));
        for (const p of pg) expect(p.inputs.taskSpec.containerSpec.env.ETCD3_HOST).toBe("swarm-ha-etcd:2379");
        // Managers reordered: the etcd and Postgres members are exactly as they were (no restart).
        const nodes = JSON.parse((dev() as Record<string, string>)["swarm-ha:nodes"]) as { name: string; swarmRole: string }[];
        const managers = nodes.filter((n) => n.swarmRole === "manager");
        const reordered = [...managers.slice(1), managers[0], ...nodes.filter((n) => n.swarmRole !== "manager")];
        const after = await runProgram(dev({ "swarm-ha:nodes": JSON.stringify(reordered) }));
        for (const p of pg) expect(JSON.stringify(after.byName(p.name).inputs.taskSpec)).toBe(JSON.stringify(p.inputs.taskSpec));
        for (const e of etcd) expect(JSON.stringify(after.byName(e.name).inputs.taskSpec)).toBe(JSON.stringify(e.inputs.taskSpec));
    });

    test.each(IMAGE_NAMES)("the %s image's build context holds every file its Dockerfile copies", (name) => {
        const dockerfile = fs.readFileSync(contextFiles(name).Dockerfile, "utf8");
        const copied = [...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1].trim().split(/\s+/));
        expect(copied.length).toBeGreaterThan(0);
        for (const file of copied) expect(`${name}: ${file} ${file in BUILD_CONTEXTS[name]}`).toBe(`${name}: ${file} true`);
    });

    test("an app bundle built before its sources changed is found (the app image would ship old code), and the repository's is current", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-bundle-"));
        try {
            fs.mkdirSync(path.join(dir, "src", "deep"), { recursive: true });
            const bundle = path.join(dir, "app.js");
            const source = path.join(dir, "src", "deep", "postgres.ts");
            fs.writeFileSync(source, "old");
            fs.writeFileSync(bundle, "built");
            const [earlier, later] = [new Date(Date.now() - 60_000), new Date()];
            fs.utimesSync(source, earlier, earlier);
            fs.utimesSync(bundle, later, later);
            expect(sourceNewerThan(bundle, path.join(dir, "src"))).toBeUndefined();
            fs.utimesSync(source, later, new Date(later.getTime() + 1000)); // edited after the build
            expect(sourceNewerThan(bundle, path.join(dir, "src"))).toBe(source);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        // npm ci built the repository's bundle after checking out its sources.
        expect(() => contextFiles("app")).not.toThrow();
    });

    test("Redis: every Redis knows its peers (to lead or follow after a whole-tier restart), and its memory ceiling is half its container's limit", () => {
        const redis = ["manager-2", "manager-3", "worker-1"].map((node) => run.byName(`redis-${node}-redis`));
        const peers = redis.map((r) => `${r.inputs.name}:6379`).join(" ");
        for (const r of redis) {
            const env = r.inputs.taskSpec.containerSpec.env;
            expect(env.REDIS_SERVERS).toBe(peers);
            expect(env.INITIAL_MASTER).toBe(`${redis[0].inputs.name}:6379`);
            expect(Number(env.QUORUM)).toBe(2);
            expect(r.inputs.taskSpec.resources.limits.memoryBytes).toBe(256 * 1024 * 1024);
        }
        const config = run.resources.find((r) => r.type === "docker:index/serviceConfig:ServiceConfig" && /-redis-[0-9a-f]+$/.test(r.inputs.name));
        const text = Buffer.from(config!.inputs.data, "base64").toString("utf8");
        expect(text).toMatch(/^maxmemory 128mb$/m);
        expect(text).toMatch(/^maxmemory-policy volatile-lru$/m);
    });

    test("HAProxy: one service per edge node, pinned, host-mode ports, its config by content, updated one node at a time", () => {
        const m1 = run.byName("edge-manager-1-haproxy");
        const m2 = run.byName("edge-manager-2-haproxy");
        expect(m1.inputs.name).toBe("swarm-ha-haproxy-manager-1");
        expect(m1.inputs.taskSpec.placement.constraints).toEqual(["node.labels.swarm-ha.name == manager-1"]);
        expect(m1.inputs.endpointSpec.ports.map((p: any) => `${p.name} ${p.publishedPort} ${p.publishMode}`)).toEqual([
            "http 80 host",
            "stats 8404 host",
            "health 8405 host",
            // The monitoring UIs.
            "grafana 3000 host",
            "prometheus 9090 host",
            "alertmanager 9093 host",
        ]);
        expect(m1.inputs.updateConfig.order).toBe("stop-first");
        expect(m1.inputs.taskSpec.containerSpec.stopSignal).toBe("SIGUSR1");
        expect(m1.inputs.taskSpec.networksAdvanceds).toEqual([{ id: "net-edge-id" }, { id: "net-app-id" }, { id: "net-monitoring-id" }]);
        expect(m2.dependencies).toContain(m1.urn);
        const config = run.byName("edge-manager-1-haproxy-config");
        expect(config.inputs.name).toMatch(/^swarm-ha-haproxy-[0-9a-f]{12}$/);
        // Two slots per app task, rounded up to a multiple of 8 (appServerSlots).
        expect(decoded(config)).toContain("server-template app 1-8 tasks.swarm-ha-app:8080 check");
        expect(m1.inputs.taskSpec.containerSpec.configs[0]).toMatchObject({ fileName: "/usr/local/etc/haproxy/haproxy.cfg" });
    });

    test("the stats password reaches HAProxy only as a Docker secret file; no config and no environment holds it", () => {
        const password = run.secretValues.find((v) => v.startsWith("pwsecretshaproxystatspassword"))!;
        expect(password).toBeDefined();
        const m1 = run.byName("edge-manager-1-haproxy").inputs.taskSpec.containerSpec;
        expect(m1.secrets).toEqual([expect.objectContaining({ fileName: "haproxy-stats-password", secretId: "secrets-haproxy-stats-password-id" })]);
        expect(m1.env).toEqual({ STATS_PASSWORD_FILE: "/run/secrets/haproxy-stats-password", HAPROXY_CONFIG: "/usr/local/etc/haproxy/haproxy.cfg" });
        for (const config of run.resources.filter((r) => r.type === CONFIG)) {
            for (const secret of run.secretValues) expect(`${config.name}: ${decoded(config).includes(secret)}`).toBe(`${config.name}: false`);
        }
        expect(decoded(run.byName("edge-manager-1-haproxy-config"))).toContain('"${STATS_PASSWORD}"');
    });

    test("keepalived: one service per edge node on the host's network with VRRP's capabilities; its network attachment is left alone once made", () => {
        const k1 = run.byName("edge-manager-1-keepalived");
        expect(k1.inputs.taskSpec.networksAdvanceds).toEqual([{ name: "host" }]);
        expect(k1.inputs.taskSpec.containerSpec.capAdds).toEqual(["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]);
        expect(k1.ignoreChanges).toEqual(["taskSpec.networksAdvanceds"]);
        const conf = decoded(run.byName("edge-manager-1-keepalived-config"));
        expect(conf).toContain("192.0.2.100/24 dev eth0");
        expect(conf).toContain("http://192.0.2.11:8405/healthz");
        // Its priority and peers: in a file of the node's, written by a step over SSH before the service starts.
        expect(conf).toContain("    include /etc/keepalived/swarm-ha/peers.conf\n");
        expect(k1.inputs.taskSpec.containerSpec.mounts).toContainEqual({ type: "volume", source: "swarm-ha-keepalived-peers", target: "/etc/keepalived/swarm-ha", readOnly: true });
        const peers = (r: typeof run, node: string) => r.byName(`edge-${node}-keepalived-peers`);
        expect(peers(run, "manager-1").inputs.connection.host).toBe(run.byName("swarm-manager-1-member").inputs.connection.host);
        expect(peers(run, "manager-1").inputs.create).toContain("# swarm-ha keepalived-peers.sh");
        // Written through keepalived's own image, the one its service runs.
        expect(peers(run, "manager-1").inputs.create).toMatch(new RegExp(`^IMAGE='${k1.inputs.taskSpec.containerSpec.image.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}'$`, "m"));
        expect(peers(run, "manager-1").inputs.create).toMatch(/priority 150\n[^]*unicast_src_ip 192\.0\.2\.11\nunicast_peer \{\n {4}192\.0\.2\.12\n\}/);
        expect(peers(run, "manager-2").inputs.create).toContain("priority 140\n");
        for (const node of ["manager-1", "manager-2"]) {
            expect(peers(run, node).inputs.delete).toBeUndefined();
            for (const k of ["manager-1", "manager-2"]) expect(run.byName(`edge-${k}-keepalived`).dependencies).toContain(peers(run, node).urn);
        }
        // One keepalived at a time: a change of its own config never stops both.
        expect(run.byName("edge-manager-2-keepalived").dependencies).toContain(k1.urn);
    });

    test("a change of edge nodes rewrites the peers files and leaves every keepalived's service and config as it was (no restart, the VIP stays)", async () => {
        const nodes = JSON.parse(devConfig()["swarm-ha:nodes"]) as { name: string; roles?: string[] }[];
        const third = nodes.find((n) => n.name === "worker-1")!;
        const more = await runProgram(dev({ "swarm-ha:nodes": JSON.stringify(nodes.map((n) => (n === third ? { ...n, roles: [...(n.roles ?? []), "edge"] } : n))) }));
        for (const node of ["manager-1", "manager-2"]) {
            expect(more.byName(`edge-${node}-keepalived-config`).inputs).toEqual(run.byName(`edge-${node}-keepalived-config`).inputs);
            expect(JSON.stringify(more.byName(`edge-${node}-keepalived`).inputs)).toBe(JSON.stringify(run.byName(`edge-${node}-keepalived`).inputs));
            expect(more.byName(`edge-${node}-keepalived-peers`).inputs.create).not.toBe(run.byName(`edge-${node}-keepalived-peers`).inputs.create);
        }
        expect(more.byName("edge-manager-1-keepalived-peers").inputs.create).toMatch(/unicast_peer \{\n {4}192\.0\.2\.12\n {4}192\.0\.2\.\d+\n\}/);
    });

    test("keepalived's configs do not depend on the nodes' order in config (moving the first manager rewrites none)", async () => {
        const nodes = JSON.parse(devConfig()["swarm-ha:nodes"]);
        const swapped = await runProgram(dev({ "swarm-ha:nodes": JSON.stringify([nodes[1], nodes[0], ...nodes.slice(2)]) }));
        for (const edge of ["manager-1", "manager-2"]) {
            const name = `edge-${edge}-keepalived-config`;
            expect(swapped.byName(name).inputs).toEqual(run.byName(name).inputs);
        }
    });

    test("stack outputs: where clients go, the stats page, and the generated passwords a user connects with, as secrets", async () => {
        expect(run.outputs.url).toBe("http://192.0.2.100/");
        expect(run.outputs.statsUrl).toBe("http://192.0.2.100:8404/stats");
        expect(await pulumi.isSecret(run.exports.url)).toBe(false);
        // Each the very password its Docker secret holds (the one the service reads).
        for (const [output, id] of [["statsPassword", "haproxy-stats-password"], ["postgresAppPassword", "postgres-app-password"], ["redisPassword", "redis-password"]]) {
            expect({ output, secret: await pulumi.isSecret(run.exports[output]) }).toEqual({ output, secret: true });
            expect({ output, value: run.outputs[output] }).toEqual({ output, value: decoded(run.byName(`secrets-${id}`)) });
            expect(run.outputs[output]).toMatch(/^pw/); // generated (the mock's RandomPassword)
        }
    });

    test("a password set in config is the output as given, still secret", async () => {
        const supplied = await runProgram(dev({ "swarm-ha:postgresAppPassword": "app-pw-from-config", "swarm-ha:redisPassword": "redis-pw-from-config" }));
        expect([supplied.outputs.postgresAppPassword, supplied.outputs.redisPassword]).toEqual(["app-pw-from-config", "redis-pw-from-config"]);
        expect(await pulumi.isSecret(supplied.exports.postgresAppPassword)).toBe(true);
        expect(await pulumi.isSecret(supplied.exports.redisPassword)).toBe(true);
    });
});

describe("without the data tier (dataTier false)", () => {
    let run: RunResult;
    // Without monitoring too, so that what is left is the app and the edge alone.
    const noMonitoring = { "swarm-ha:monitoring": "false" };
    beforeAll(async () => {
        run = await runProgram(dev({ "swarm-ha:dataTier": "false", ...noMonitoring }));
    });

    test("no Redis, Sentinel, Postgres, etcd, Postgres proxy or backups, and none of their images is built; the app and the edge are as with it", () => {
        expect(run.resources.filter((r) => r.type === SERVICE).map((r) => r.inputs.name).sort()).toEqual([
            "swarm-ha-app",
            "swarm-ha-haproxy-manager-1",
            "swarm-ha-haproxy-manager-2",
            "swarm-ha-keepalived-manager-1",
            "swarm-ha-keepalived-manager-2",
        ]);
        expect(run.resources.filter((r) => /^(redis|postgres|backups)-/.test(r.name) || /swarm-ha:(redis|postgres|backups):/.test(r.type))).toEqual([]);
        // HAProxy only on the edge nodes: no Postgres proxy beside the app.
        expect(run.resources.filter((r) => r.name.endsWith("-build")).map((r) => r.name).sort()).toEqual(
            ["manager-1-haproxy", "manager-1-keepalived", "manager-2-haproxy", "manager-2-keepalived", "worker-1-app", "worker-2-app"].map((n) => `images-${n}-build`),
        );
    });

    test("the app runs on the app network alone, with no database or cache settings and no data-tier secret", () => {
        const app = run.byName("app-service");
        const container = app.inputs.taskSpec.containerSpec;
        expect(app.inputs.taskSpec.networksAdvanceds).toEqual([{ id: "net-app-id" }]);
        expect(container.env).toEqual({ PORT: "8080", DRAIN_SECONDS: "5", SHUTDOWN_TIMEOUT_SECONDS: "15" });
        expect(container.secrets).toBeUndefined();
        // Nothing of a data tier to wait for.
        expect(appComponent(run).dependencies.filter((urn) => /swarm-ha:(redis|postgres|backups):/.test(urn))).toEqual([]);
    });

    test("the networks and every secret are created as with it", () => {
        expect(run.resources.filter((r) => r.type === "docker:index/network:Network").map((r) => r.inputs.name).sort()).toEqual(
            ["swarm-ha-app", "swarm-ha-data", "swarm-ha-data-access", "swarm-ha-edge", "swarm-ha-monitoring"],
        );
        expect(run.resources.filter((r) => r.type === "docker:index/secret:Secret")).toHaveLength(Object.keys(SUPPLIABLE_SECRETS).length);
    });

    test("the data tier's stack outputs are null (its passwords too); the others are as with it", () => {
        const data = ["postgresReadWrite", "postgresReadOnly", "redisSentinels", "redisMasterName", "backupMetrics", "postgresAppPassword", "redisPassword"];
        expect(data.map((k) => [k, run.outputs[k]])).toEqual(data.map((k) => [k, null]));
        expect(run.outputs.url).toBe("http://192.0.2.100/");
        expect(run.outputs.appService).toBe("swarm-ha-app");
    });

    test("nodes without any data-tier role: refused with the data tier, before anything is created; deployed without it", async () => {
        const nodes = JSON.parse(devConfig()["swarm-ha:nodes"]).map((n: any) => ({ ...n, roles: n.roles.filter((r: string) => r === "edge" || r === "app") }));
        const config = dev({ "swarm-ha:nodes": JSON.stringify(nodes), ...noMonitoring });
        await expect(runProgram(config)).rejects.toThrow(/swarm-ha:nodes: has 0 node\(s\) with role 'postgres-primary'/);
        const without = await runProgram({ ...config, "swarm-ha:dataTier": "false" });
        expect(without.resources.filter((r) => r.type === SERVICE).map((r) => r.inputs.name).sort()).toEqual(
            run.resources.filter((r) => r.type === SERVICE).map((r) => r.inputs.name).sort(),
        );
    });

    test("with the data tier (the default) the app has its settings and the outputs are set", async () => {
        const withData = await runProgram(dev({ "swarm-ha:dataTier": "true" }));
        const env = withData.byName("app-service").inputs.taskSpec.containerSpec.env;
        expect(Object.keys(env)).toEqual(expect.arrayContaining(["PGHOST", "REDIS_SENTINELS"]));
        // On a new stack, the app waits for Redis and Postgres.
        const deps = appComponent(withData).dependencies;
        for (const component of ["swarm-ha:redis:RedisCluster$", "swarm-ha:postgres:PostgresCluster$"]) expect(deps.some((urn) => urn.includes(component))).toBe(true);
        for (const k of ["postgresReadWrite", "postgresReadOnly", "redisSentinels", "redisMasterName", "backupMetrics", "postgresAppPassword", "redisPassword"]) expect(withData.outputs[k]).not.toBeNull();
    });
});

describe("variations", () => {
    test("without a VIP there is no keepalived (no service, no build) and clients use the first edge node", async () => {
        const run = await runProgram(dev({ "swarm-ha:vip": "" }));
        expect(run.resources.filter((r) => r.name.includes("keepalived"))).toEqual([]);
        expect(run.outputs.url).toBe("http://192.0.2.11/");
    });

    test("an image named in config is used as is and not built", async () => {
        const run = await runProgram(dev({ "swarm-ha:appImage": "registry.example.com/shop:1.4.2" }));
        expect(run.resources.filter((r) => r.name.endsWith("-app-build"))).toEqual([]);
        expect(run.byName("app-service").inputs.taskSpec.containerSpec.image).toBe("registry.example.com/shop:1.4.2");
    });

    test("a Postgres image named in config is used by every Postgres member and built nowhere; the other images are still built", async () => {
        const ref = "registry.example.com/swarm-ha/postgres:15-1";
        const run = await runProgram(dev({ "swarm-ha:postgresImage": ref }));
        const names = run.resources.map((r) => r.name);
        expect(names.filter((n) => /-postgres-(build|context)$/.test(n))).toEqual([]);
        const members = run.resources.filter((r) => r.type === "docker:index/service:Service" && r.name.endsWith("-pg"));
        expect(members.map((m) => m.name).sort()).toEqual(["postgres-worker-1-pg", "postgres-worker-2-pg"]);
        for (const m of members) expect(m.inputs.taskSpec.containerSpec.image).toBe(ref);
        // etcd, beside Postgres, is still swarm-ha's build.
        expect(names.filter((n) => n.endsWith("-etcd-build")).sort()).toEqual(["images-manager-1-etcd-build", "images-manager-2-etcd-build", "images-manager-3-etcd-build"]);
        expect(run.byName("postgres-manager-1-etcd").inputs.taskSpec.containerSpec.image).toBe(builtImageTag("etcd"));
    });

    test("with every data-tier image named in config, only the app's, the edge's and monitoring's images are built", async () => {
        const ref = (name: string) => `registry.example.com/swarm-ha/${name}:1`;
        const run = await runProgram(
            dev({
                "swarm-ha:redisImage": ref("redis"),
                "swarm-ha:postgresImage": ref("postgres"),
                "swarm-ha:etcdImage": ref("etcd"),
                "swarm-ha:backupImage": ref("backup"),
            }),
        );
        const built = new Set(run.resources.filter((r) => r.name.endsWith("-build")).map((r) => /^images-.+-(\w+)-build$/.exec(r.name)![1]));
        expect([...built].sort()).toEqual(["app", "haproxy", "keepalived", "monitoring"]);
        const image = (name: string) => run.byName(name).inputs.taskSpec.containerSpec.image;
        expect([image("redis-worker-1-redis"), image("redis-worker-1-sentinel")]).toEqual([ref("redis"), ref("redis")]);
        expect(image("postgres-worker-1-pg")).toBe(ref("postgres"));
        expect(image("postgres-manager-1-etcd")).toBe(ref("etcd"));
        expect(image("backups-service")).toBe(ref("backup"));
    });

    test("with a TLS certificate HAProxy also publishes HTTPS and reads the PEM from a Docker secret; the URL is https", async () => {
        // Real material: the config check reads it (a key of another certificate, or an expired one, is refused).
        const site = makeCertificate({ subject: "/CN=shop.example.com", san: "DNS:shop.example.com" });
        const pem = site.cert + site.key;
        const config = dev({ "swarm-ha:tlsCertificate": pem });
        const run = await runProgram(config, { secretKeys: ["swarm-ha:sshPrivateKey", "swarm-ha:tlsCertificate"] });
        const m1 = run.byName("edge-manager-1-haproxy").inputs;
        expect(m1.endpointSpec.ports.map((p: any) => p.publishedPort)).toEqual([80, 443, 8404, 8405, 3000, 9090, 9093]);
        expect(m1.taskSpec.containerSpec.secrets.map((s: any) => s.fileName)).toEqual(["haproxy-stats-password", "tls-certificate.pem"]);
        expect(run.byName("secrets-tls-certificate").secretInputs).toContain("data");
        expect(decoded(run.byName("edge-manager-1-haproxy-config"))).toContain("crt /run/secrets/tls-certificate.pem");
        expect(run.outputs.url).toBe("https://192.0.2.100/");
    });

    test("scaling the app within a block of 4 replicas leaves every edge HAProxy as it was; past it, HAProxy gets more server slots", async () => {
        const haproxy = (r: Awaited<ReturnType<typeof runProgram>>) => ["manager-1", "manager-2"].map((n) => JSON.stringify([r.byName(`edge-${n}-haproxy`).inputs, r.byName(`edge-${n}-haproxy-config`).inputs]));
        // Room on the two app nodes for 5 tasks and a rolling update's extra one.
        const roomy = { "swarm-ha:appMaxReplicasPerNode": "3" };
        const two = await runProgram(dev(roomy));
        const four = await runProgram(dev({ ...roomy, "swarm-ha:appReplicas": "4" }));
        expect(four.byName("app-service").inputs.mode.replicated.replicas).toBe(4);
        expect(haproxy(four)).toEqual(haproxy(two));
        const five = await runProgram(dev({ ...roomy, "swarm-ha:appReplicas": "5" }));
        expect(decoded(five.byName("edge-manager-1-haproxy-config"))).toContain("server-template app 1-16 tasks.swarm-ha-app:8080 check");
    });

    test("a change to the proxy (its stats port) leaves the app's service exactly as it was: no restart", async () => {
        const a = await runProgram(dev());
        const b = await runProgram(dev({ "swarm-ha:statsPort": "9404" }));
        expect(b.byName("app-service").inputs).toEqual(a.byName("app-service").inputs);
        expect(b.byName("edge-manager-1-haproxy-config").inputs.name).not.toEqual(a.byName("edge-manager-1-haproxy-config").inputs.name);
    });
});
