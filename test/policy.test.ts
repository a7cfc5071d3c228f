/**
 * The HA policy pack (policy/) on the real program's resources: index.ts run under mocks
 * with config variations, each policy called the way @pulumi/policy calls it (see evaluate
 * in test/support/policy.ts), plus a few hand-made resources for what the program cannot produce. The Pulumi CLI
 * is not needed: the pack's policies are plain objects (policy/policies.ts).
 */
import {
    DEFAULT_DATA_PORTS,
    encryptedOverlays,
    managersOddAndEnough,
    noPublishedDataPorts,
    parseImageRef,
    passwordsAreDockerSecrets,
    pinnedImages,
    policies,
    serviceHint,
    statelessReplicasAndHealthcheck,
    unpinnedReason,
} from "../policy/policies";
import { runByPulumiCli } from "../policy/index";
import { FAKE_SSH_KEY, devConfig, runProgram, type Recorded, type RunResult } from "./support/program";
import { evaluate, violations, type Res } from "./support/policy";

// Whole stacks under mocks (a few seconds each); each run is shared by the tests that need it.
jest.setTimeout(30_000);

/** How the engine sends a string not known until the update (@pulumi/policy's proxy throws on reading it). */
const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SERVICE = "docker:index/service:Service";
const NETWORK = "docker:index/network:Network";

// ------------------------------------------------------------------------------------------------
// The program's runs
// ------------------------------------------------------------------------------------------------

function dev(extra: Record<string, string> = {}): Record<string, string> {
    return { ...devConfig(), "swarm-ha:sshPrivateKey": FAKE_SSH_KEY, ...extra };
}
function devNodes(): any[] {
    return JSON.parse(devConfig()["swarm-ha:nodes"]);
}

const runs = new Map<string, Promise<RunResult>>();
/** The program run with `config`, once per name. */
function run(name: string, config: () => Record<string, string>): Promise<RunResult> {
    if (!runs.has(name)) runs.set(name, runProgram(config()));
    return runs.get(name)!;
}
const devRun = () => run("dev", () => dev());

/** A deep copy of a recorded resource with its inputs changed by `change`. */
function variant(r: Recorded, name: string, change: (inputs: any) => void): Res {
    const inputs = JSON.parse(JSON.stringify(r.inputs));
    change(inputs);
    return { type: r.type, name, urn: r.urn.replace(/::[^:]+$/, `::${name}`), inputs, parent: r.parent };
}

/** A service of someone else's, not swarm-ha's: the smallest spec the policies read. */
function foreignService(name: string, spec: Record<string, any>): Res {
    return { type: SERVICE, name, urn: `urn:pulumi:test::swarm-ha::${SERVICE}::${name}`, inputs: { name, ...spec } };
}

// ------------------------------------------------------------------------------------------------

describe("the pack", () => {
    test("six policies, uniquely named, each described; the pack is served only under the Pulumi CLI", () => {
        expect(policies.map((p) => p.name)).toEqual([
            "managers-odd-and-enough",
            "stateless-replicas-and-healthcheck",
            "no-published-data-ports",
            "passwords-are-docker-secrets",
            "encrypted-overlays",
            "pinned-images",
        ]);
        for (const p of policies) {
            expect(p.description.length).toBeGreaterThan(60);
            expect(p.enforcementLevel).toBe("mandatory");
            // @pulumi/policy refuses a config property named enforcementLevel.
            expect(Object.keys(p.configSchema?.properties ?? {})).not.toContain("enforcementLevel");
        }
        expect(runByPulumiCli(["node", "/x/node_modules/@pulumi/pulumi/cmd/run-policy-pack/index.js", "."])).toBe(true);
        expect(runByPulumiCli(["node", "/x/node_modules/@pulumi/pulumi/cmd/run-policy-pack", "."])).toBe(true);
        expect(runByPulumiCli(process.argv)).toBe(false);
    });

    test("the dev stack passes every policy with the default policy config", async () => {
        // (The pack's first run found two real gaps here, since fixed in components/monitoring:
        // a single Redis exporter, and cAdvisor's health check only in its image.)
        const r = await devRun();
        for (const p of policies) {
            const found = await violations(p, r.resources);
            expect({ policy: p.name, found }).toEqual({ policy: p.name, found: [] });
        }
    });
});

describe("managers-odd-and-enough", () => {
    test("passes the dev stack's 3 managers, read from the swarm health step", async () => {
        const r = await devRun();
        expect(await evaluate(managersOddAndEnough, r.resources)).toEqual({ violations: [], notApplicable: [] });
        // The signal: the health step's DECLARED list (see policy/policies.ts for why).
        expect(r.byName("swarm-health").inputs.create).toContain("DECLARED='manager-1 manager active\nmanager-2 manager active\nmanager-3 manager active\nworker-1 worker active");
    });

    test("fails 4 managers (allowNonHa): an even number, naming the health step, the managers and swarm-ha:nodes", async () => {
        const nodes = devNodes();
        nodes[3].swarmRole = "manager";
        const r = await run("4 managers", () => dev({ "swarm-ha:nodes": JSON.stringify(nodes), "swarm-ha:allowNonHa": "true" }));
        const [v, ...more] = await violations(managersOddAndEnough, r.resources);
        expect(more).toEqual([]);
        expect(v.resource).toBe("swarm-health");
        expect(v.urn).toBe(r.byName("swarm-health").urn);
        expect(v.message).toMatch(/^swarm-health: the swarm has 4 managers \(manager-1, manager-2, manager-3, worker-1\), an even number:/);
        expect(v.message).toContain("Change swarmRole in swarm-ha:nodes so that 3 or 5 nodes are managers");
    });

    test("fails a single manager (allowNonHa): fewer than minManagers; passes it when minManagers is 1", async () => {
        const nodes = devNodes().filter((n) => n.name !== "manager-2" && n.name !== "manager-3");
        nodes[0].roles = ["edge", "monitoring"];
        const r = await run("1 manager", () =>
            dev({ "swarm-ha:nodes": JSON.stringify(nodes), "swarm-ha:allowNonHa": "true", "swarm-ha:redisMinReplicasToWrite": "0" }),
        );
        const [v, ...more] = await violations(managersOddAndEnough, r.resources);
        expect(more).toEqual([]);
        expect(v.message).toMatch(/^swarm-health: the swarm has 1 manager \(manager-1\), fewer than 3:/);
        expect(v.message).toContain("so that 3 nodes are managers");
        expect(await violations(managersOddAndEnough, r.resources, { "managers-odd-and-enough": { minManagers: 1 } })).toEqual([]);
    });

    test("minManagers is policy config: 5 fails the dev stack's 3", async () => {
        const r = await devRun();
        const [v, ...more] = await violations(managersOddAndEnough, r.resources, { "managers-odd-and-enough": { minManagers: 5 } });
        expect(more).toEqual([]);
        expect(v.message).toMatch(/has 3 managers \(manager-1, manager-2, manager-3\), fewer than 5:.*so that 5 nodes are managers/);
    });

    test("without the health step, the settings steps' SWARM_ROLE counts; with neither, not applicable", async () => {
        const r = await devRun();
        const noHealth = r.resources.filter((x) => x.name !== "swarm-health");
        expect(await violations(managersOddAndEnough, noHealth)).toEqual([]);
        const settings3 = noHealth.filter((x) => x.name !== "swarm-manager-3-settings");
        const [v] = await violations(managersOddAndEnough, settings3);
        expect(v.message).toMatch(/has 2 managers \(manager-1, manager-2\), an even number and fewer than 3/);
        const outcome = await evaluate(managersOddAndEnough, r.resources.filter((x) => x.type !== "command:remote:Command"));
        expect(outcome).toEqual({ violations: [], notApplicable: [expect.stringContaining("no swarm-ha swarm")] });
        // A settings script not known yet (preview, before the node joins): no partial count.
        const unknown = noHealth.map((x) => (x.name === "swarm-manager-3-settings" ? { ...x, inputs: { ...x.inputs, create: UNKNOWN_STRING } } : x));
        expect((await evaluate(managersOddAndEnough, unknown)).notApplicable).toEqual([expect.stringContaining("no swarm-ha swarm")]);
    });
});

describe("stateless-replicas-and-healthcheck", () => {
    test("passes the dev stack's app and Postgres proxy (2 replicas, health-checked); exempts pinned and volume services", async () => {
        const r = await devRun();
        const found = await violations(statelessReplicasAndHealthcheck, r.resources);
        const flagged = new Set(found.map((v) => v.resource));
        for (const name of ["app-service", "postgres-proxy", "monitoring-swarm-exporter", "monitoring-docker-api"]) expect(flagged.has(name)).toBe(false);
        // Pinned (per-node) services with one task and no health check: keepalived, etcd.
        for (const name of ["edge-manager-1-keepalived", "postgres-manager-1-etcd"]) {
            expect(r.byName(name).inputs.taskSpec.containerSpec.healthcheck).toBeUndefined();
            expect(flagged.has(name)).toBe(false);
        }
        // A pinned service with a health check (a Sentinel) passes too.
        expect(r.byName("redis-manager-2-sentinel").inputs.taskSpec.containerSpec.healthcheck).toBeDefined();
        expect(flagged.has("redis-manager-2-sentinel")).toBe(false);
        // The per-node pin exempts even without a volume (the Postgres exporters); a volume exempts without a pin.
        const unpinned = variant(r.byName("monitoring-pg-exporter-worker-1"), "unpinned-pg-exporter", (i) => delete i.taskSpec.placement);
        expect((await violations(statelessReplicasAndHealthcheck, [unpinned])).map((v) => v.resource)).toEqual(["unpinned-pg-exporter"]);
        expect(await violations(statelessReplicasAndHealthcheck, [r.byName("monitoring-pg-exporter-worker-1")])).toEqual([]);
    });

    test("fails appReplicas 1 (allowNonHa), naming the app service and swarm-ha:appReplicas", async () => {
        const r = await run("1 app replica", () => dev({ "swarm-ha:allowNonHa": "true", "swarm-ha:appReplicas": "1" }));
        const app = (await violations(statelessReplicasAndHealthcheck, r.resources)).filter((v) => v.resource === "app-service");
        expect(app).toHaveLength(1);
        expect(app[0].message).toMatch(/^Docker service app-service \(swarm-ha-app\) runs 1 replica and keeps no volume/);
        expect(app[0].message).toContain("set swarm-ha:appReplicas to 2 or more");
    });

    test("fails a health check of NONE, and a replicated service with none at all, naming the component to change", async () => {
        const r = await devRun();
        const none = variant(r.byName("app-service"), "app-service", (i) => (i.taskSpec.containerSpec.healthcheck = { tests: ["NONE"] }));
        const [v, ...more] = await violations(statelessReplicasAndHealthcheck, [none]);
        expect(more).toEqual([]);
        expect(v.message).toMatch(/^Docker service app-service \(swarm-ha-app\) has no health check \(taskSpec.containerSpec.healthcheck is NONE\)/);
        expect(v.message).toContain("add a healthcheck in components/app");
        const noCheck = variant(r.byName("monitoring-cadvisor"), "monitoring-cadvisor", (i) => delete i.taskSpec.containerSpec.healthcheck);
        const cadvisor = (await violations(statelessReplicasAndHealthcheck, [noCheck]))[0];
        expect(cadvisor.message).toContain("add a healthcheck in components/monitoring, or turn cAdvisor off with swarm-ha:cadvisor false");
        // A global service is not replicated: exempt.
        const global = variant(r.byName("monitoring-cadvisor"), "cadvisor-global", (i) => (i.mode = { global: true }));
        expect(await violations(statelessReplicasAndHealthcheck, [global])).toEqual([]);
    });
});

describe("no-published-data-ports", () => {
    test("passes the dev stack: the edge publishes 80, 8404, 8405, 3000, 9090, 9093 only", async () => {
        const r = await devRun();
        expect(await violations(noPublishedDataPorts, r.resources)).toEqual([]);
        expect(r.byName("edge-manager-1-haproxy").inputs.endpointSpec.ports.map((p: any) => p.publishedPort)).toEqual([80, 8404, 8405, 3000, 9090, 9093]);
        expect(noPublishedDataPorts.configSchema?.properties.dataPorts.default).toEqual(DEFAULT_DATA_PORTS);
    });

    test("fails swarm-ha:grafanaPort 5432 on every edge HAProxy, naming the service and the config key", async () => {
        const r = await run("grafana on 5432", () => dev({ "swarm-ha:grafanaPort": "5432" }));
        const found = await violations(noPublishedDataPorts, r.resources);
        expect(found.map((v) => v.resource)).toEqual(["edge-manager-1-haproxy", "edge-manager-2-haproxy"]);
        expect(found[0].message).toMatch(/^Docker service edge-manager-1-haproxy \(swarm-ha-haproxy-manager-1\) publishes port 5432, Postgres's port \(endpointSpec.ports 'grafana'\)/);
        expect(found[0].message).toContain("Set swarm-ha:grafanaPort in the stack's config");
    });

    test("fails a hand-made Postgres publishing 5432, and a Redis published under another number; dataPorts is config", async () => {
        const pg = foreignService("pg", { taskSpec: { containerSpec: { image: "postgres:16.4" } }, endpointSpec: { ports: [{ targetPort: 5432, publishedPort: 5432 }] } });
        const redis = foreignService("cache", { taskSpec: { containerSpec: { image: "redis:7.4" } }, endpointSpec: { ports: [{ targetPort: 6379, publishedPort: 16379 }] } });
        const web = foreignService("web", { taskSpec: { containerSpec: { image: "nginx:1.27" } }, endpointSpec: { ports: [{ targetPort: 80, publishedPort: 8080 }] } });
        const found = await violations(noPublishedDataPorts, [pg, redis, web]);
        expect(found.map((v) => v.resource)).toEqual(["pg", "cache"]);
        expect(found[0].message).toMatch(/^Docker service pg publishes port 5432, Postgres's port: .*Remove the published port/);
        expect(found[1].message).toMatch(/^Docker service cache publishes port 6379 as 16379, Redis's port/);
        const custom = await violations(noPublishedDataPorts, [pg, redis, web], { "no-published-data-ports": { dataPorts: [8080] } });
        expect(custom.map((v) => v.resource)).toEqual(["web"]);
    });
});

describe("passwords-are-docker-secrets", () => {
    test("passes the dev stack: every credential is a *_FILE under /run/secrets/ (ETCD_CLUSTER_TOKEN is an identifier)", async () => {
        const r = await devRun();
        expect(await violations(passwordsAreDockerSecrets, r.resources)).toEqual([]);
        expect(r.byName("app-service").inputs.taskSpec.containerSpec.env.PGPASSWORD_FILE).toBe("/run/secrets/postgres-app-password");
        expect(r.byName("monitoring-grafana").inputs.taskSpec.containerSpec.env.GF_SECURITY_ADMIN_PASSWORD__FILE).toBe("/run/secrets/grafana-admin-password");
        // Listed as not a credential by default; without the list it would be flagged.
        const etcd = await violations(passwordsAreDockerSecrets, [r.byName("postgres-manager-1-etcd")], { "passwords-are-docker-secrets": { notSecretNames: [] } });
        expect(etcd.map((v) => v.message)).toEqual([expect.stringMatching(/sets ETCD_CLUSTER_TOKEN to a literal value/)]);
    });

    test("fails a literal password in the app's env, naming the service, the variable and the _FILE fix, never the value", async () => {
        const r = await devRun();
        const leaky = variant(r.byName("app-service"), "app-service", (i) => {
            delete i.taskSpec.containerSpec.env.PGPASSWORD_FILE;
            i.taskSpec.containerSpec.env.PGPASSWORD = "hunter2-literal";
        });
        const [v, ...more] = await violations(passwordsAreDockerSecrets, [leaky]);
        expect(more).toEqual([]);
        expect(v.message).toMatch(/^Docker service app-service \(swarm-ha-app\) sets PGPASSWORD to a literal value in containerSpec.env/);
        expect(v.message).toContain("set PGPASSWORD_FILE=/run/secrets/<secret> instead, in components/app");
        expect(v.message).toContain("pulumi config set --secret swarm-ha:");
        expect(v.message).not.toContain("hunter2-literal");
    });

    test("fails hand-made tokens, API keys and a *_FILE outside /run/secrets/; passes a *_FILE at a secret's own path", async () => {
        const svc = foreignService("worker", {
            taskSpec: {
                containerSpec: {
                    image: "acme/worker:1.0",
                    env: {
                        POSTGRES_PASSWORD: "x1",
                        GITHUB_TOKEN: "x2",
                        STRIPE_API_KEY: "x3",
                        REDISCLI_AUTH: "x4",
                        DB_PASSWORD_FILE: "/etc/worker/db-password",
                        SMTP_PASSWORD_FILE: "/secrets/smtp",
                        EMPTY_SECRET: "",
                        LOG_LEVEL: "info",
                        KEYBOARD_LAYOUT: "us",
                    },
                    secrets: [{ secretId: "s", secretName: "smtp", fileName: "/secrets/smtp" }],
                },
            },
        });
        const found = await violations(passwordsAreDockerSecrets, [svc]);
        expect(found.map((v) => v.message.replace(/^Docker service worker sets (\S+?)[ =].*$/, "$1"))).toEqual([
            "POSTGRES_PASSWORD",
            "GITHUB_TOKEN",
            "STRIPE_API_KEY",
            "REDISCLI_AUTH",
            "DB_PASSWORD_FILE",
        ]);
        expect(found[4].message).toContain("sets DB_PASSWORD_FILE=/etc/worker/db-password, a file that is not a Docker secret");
    });
});

describe("encrypted-overlays", () => {
    test("passes the dev stack: its five overlays carry the encrypted option", async () => {
        const r = await devRun();
        const networks = r.resources.filter((x) => x.type === NETWORK);
        expect(networks.map((n) => [n.name, n.inputs.driver, n.inputs.options])).toEqual(
            ["edge", "app", "data-access", "data", "monitoring"].map((k) => [`net-${k}`, "overlay", expect.objectContaining({ encrypted: "true" })]),
        );
        expect(await violations(encryptedOverlays, r.resources)).toEqual([]);
    });

    test("fails swarm-ha:encryptOverlay false on every overlay, naming each network and the key; allowUnencryptedOverlays passes it", async () => {
        const r = await run("plain overlays", () => dev({ "swarm-ha:encryptOverlay": "false" }));
        const found = await violations(encryptedOverlays, r.resources);
        expect(found.map((v) => v.resource)).toEqual(["net-edge", "net-app", "net-data-access", "net-data", "net-monitoring"]);
        expect(found[3].message).toMatch(/^Overlay network net-data \(swarm-ha-data\) is not encrypted/);
        expect(found[3].message).toContain("Set swarm-ha:encryptOverlay true in the stack's config");
        expect(found[3].message).toContain("allowUnencryptedOverlays");
        expect(await violations(encryptedOverlays, r.resources, { "encrypted-overlays": { allowUnencryptedOverlays: true } })).toEqual([]);
        // policy/lab.config.json is that setting.
        expect(await violations(encryptedOverlays, r.resources, require("../policy/lab.config.json"))).toEqual([]);
        // Only overlays: a bridge network needs no IPsec.
        const bridge = variant(r.byName("net-app"), "bridge", (i) => (i.driver = "bridge"));
        expect(await violations(encryptedOverlays, [bridge])).toEqual([]);
    });
});

describe("pinned-images", () => {
    test("passes the dev stack: swarm-ha's builds (swarm-ha/<name>:<12 hex>) and pinned Grafana and cAdvisor", async () => {
        const r = await devRun();
        expect(await violations(pinnedImages, r.resources)).toEqual([]);
        const services = r.resources.filter((x) => x.type === SERVICE);
        for (const s of services) {
            const image: string = s.inputs.taskSpec.containerSpec.image;
            expect(image).toMatch(/^swarm-ha\/[a-z]+:[0-9a-f]{12}$|^grafana\/grafana-oss:\d|^gcr\.io\/cadvisor\/cadvisor:v\d/);
            // Every service of the program has the config key that sets its image, for the message.
            expect({ service: s.name, key: serviceHint(s.name)?.image }).toEqual({ service: s.name, key: expect.stringMatching(/^swarm-ha:[a-z]+Image$/) });
        }
    });

    test("fails swarm-ha:appImage nginx (no tag), naming the app service and swarm-ha:appImage", async () => {
        const r = await run("app image nginx", () => dev({ "swarm-ha:appImage": "nginx" }));
        const [v, ...more] = await violations(pinnedImages, r.resources);
        expect(more).toEqual([]);
        expect(v.resource).toBe("app-service");
        expect(v.message).toMatch(/^Docker service app-service \(swarm-ha-app\) runs image 'nginx', which is not pinned: it has no tag/);
        expect(v.message).toContain("Set swarm-ha:appImage in the stack's config to a version tag or a digest (e.g. nginx:<version> or nginx@sha256:<digest>)");
    });

    test("fails :latest and a malformed digest; passes a version tag, a digest and a registry port", async () => {
        const r = await devRun();
        const withImage = (image: string) => variant(r.byName("monitoring-grafana"), "monitoring-grafana", (i) => (i.taskSpec.containerSpec.image = image));
        const [latest] = await violations(pinnedImages, [withImage("grafana/grafana-oss:latest")]);
        expect(latest.message).toMatch(/^Docker service monitoring-grafana \(swarm-ha-grafana\) runs image 'grafana\/grafana-oss:latest', which is not pinned: its tag is 'latest'\. Set swarm-ha:grafanaImage/);
        expect((await violations(pinnedImages, [withImage("grafana/grafana-oss@sha256:abc")]))[0].message).toContain("is not sha256:<64 hex digits>");
        const digest = `grafana/grafana-oss@sha256:${"a".repeat(64)}`;
        for (const ok of ["grafana/grafana-oss:11.3.0", digest, `grafana/grafana-oss:11.3.0@sha256:${"b".repeat(64)}`, "registry.local:5000/grafana:11.3.0"]) {
            expect({ ok, found: await violations(pinnedImages, [withImage(ok)]) }).toEqual({ ok, found: [] });
        }
        expect(unpinnedReason("registry.local:5000/grafana")).toBe("it has no tag (Docker pulls 'latest')");
        expect(parseImageRef("registry.local:5000/a/b:1.2@sha256:x")).toEqual({ tag: "1.2", digest: "sha256:x" });
    });
});
