/**
 * The monitoring tier's renderers (components/monitoring), checked by the programs that read
 * them: `promtool check config` on prometheus.yml, `amtool check-config` on alertmanager.yml,
 * `haproxy -c` on the Docker API proxy's config, and a real HAProxy in front of a fake Docker
 * socket that must forward the reads discovery needs and refuse every write.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { freePorts } from "./support/ports";
import { renderAlertRules } from "../components/monitoring/alert-rules";
import { renderAlertmanagerConfig, type AlertmanagerConfigInput } from "../components/monitoring/alertmanager-yml";
import { ALLOWED_READS, renderDockerApiProxyConfig } from "../components/monitoring/docker-api-proxy-cfg";
import { metricsLabels, renderPrometheusConfig, type PrometheusConfigInput } from "../components/monitoring/prometheus-yml";

let work: string;
beforeAll(() => {
    for (const tool of ["promtool", "amtool", "haproxy"]) {
        if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing: run test/tools.sh (as root it installs it), then npm test again`);
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-monitoring-"));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    return `exit ${r.status}\n${r.stdout}${r.stderr}`;
};

const promInput = (over: Partial<PrometheusConfigInput> = {}): PrometheusConfigInput => ({
    dockerApiUrl: "http://swarm-ha-docker-api:2375",
    networks: { monitoring: "swarm-ha-monitoring", app: "swarm-ha-app", data: "swarm-ha-data" },
    scrapeIntervalSeconds: 10,
    evaluationIntervalSeconds: 5,
    alertmanagers: { host: "tasks.swarm-ha-alertmanager", port: 9093 },
    rulesFile: "/etc/prometheus/rules.yml",
    haproxyAuth: { username: "admin", passwordFile: "/run/secrets/haproxy-stats-password" },
    redisExporter: "swarm-ha-redis-exporter:9121",
    redisPort: 6379,
    externalLabels: { stack: "dev" },
    ...over,
});

/** promtool on the rendering, with the files it names moved into the work directory. */
function promtoolCheck(text: string): string {
    const dir = fs.mkdtempSync(path.join(work, "prom-"));
    fs.writeFileSync(path.join(dir, "rules.yml"), renderAlertRules({ dataTier: true, vip: true, synchronousMode: true, postgresMaxLagBytes: 16 << 20, backupMaxAgeSeconds: 7800 }));
    fs.writeFileSync(path.join(dir, "password"), "not-the-real-one\n");
    const file = path.join(dir, "prometheus.yml");
    fs.writeFileSync(file, text.replace("/etc/prometheus/rules.yml", path.join(dir, "rules.yml")).replace("/run/secrets/haproxy-stats-password", path.join(dir, "password")));
    return run("promtool", ["check", "config", file]);
}

describe("prometheus.yml", () => {
    test("promtool accepts it, with and without the data tier", () => {
        expect(promtoolCheck(renderPrometheusConfig(promInput()))).toMatch(/^exit 0\n[\s\S]*SUCCESS/);
        const noData = renderPrometheusConfig(promInput({ networks: { monitoring: "swarm-ha-monitoring", app: "swarm-ha-app" }, redisExporter: undefined, redisPort: undefined }));
        expect(promtoolCheck(noData)).toMatch(/^exit 0\n/);
        expect(parse(noData).scrape_configs.map((j: any) => j.job_name)).toEqual(["tasks", "haproxy", "swarm"]);
    });

    test("every target comes from Swarm discovery through the proxy, on a network Prometheus shares with it", () => {
        const doc = parse(renderPrometheusConfig(promInput()));
        expect(doc.scrape_configs.map((j: any) => j.job_name)).toEqual(["tasks", "haproxy", "swarm", "redis"]);
        for (const job of doc.scrape_configs) {
            expect(job.dockerswarm_sd_configs).toEqual([{ host: "http://swarm-ha-docker-api:2375", role: "tasks", refresh_interval: "10s" }]);
            const network = job.relabel_configs.find((r: any) => r.source_labels?.includes("__meta_dockerswarm_network_name"));
            expect(network).toEqual({
                source_labels: ["__meta_dockerswarm_service_label_swarm_ha_metrics_network", "__meta_dockerswarm_network_name"],
                regex: "monitoring;swarm-ha-monitoring|app;swarm-ha-app|data;swarm-ha-data",
                action: "keep",
            });
        }
        // Only running tasks: a pending replacement (an address, no node yet) is no target.
        for (const job of doc.scrape_configs) expect(job.relabel_configs[0]).toEqual({ source_labels: ["__meta_dockerswarm_task_desired_state", "__meta_dockerswarm_task_state"], regex: "running;running", action: "keep" });
        // HAProxy's metrics are behind the stats password, read from its secret file.
        expect(doc.scrape_configs[1].basic_auth).toEqual({ username: "admin", password_file: "/run/secrets/haproxy-stats-password" });
        // The swarm exporter's node label names the node a series is about.
        expect(doc.scrape_configs[2].honor_labels).toBe(true);
        // Redis through the exporter, labelled as the Redis task.
        const redis = doc.scrape_configs[3];
        expect(redis.metrics_path).toBe("/scrape");
        expect(redis.relabel_configs).toEqual(expect.arrayContaining([{ target_label: "__address__", replacement: "swarm-ha-redis-exporter:9121" }]));
        expect(doc.alerting.alertmanagers[0].dns_sd_configs[0]).toMatchObject({ names: ["tasks.swarm-ha-alertmanager"], type: "A", port: 9093 });
    });

    test("a service is scraped by its labels", () => {
        expect(metricsLabels({ job: "patroni", port: 8008, network: "data" })).toEqual({
            "swarm-ha.metrics.job": "patroni",
            "swarm-ha.metrics.port": "8008",
            "swarm-ha.metrics.network": "data",
        });
    });

    test("bad input is refused, naming the field", () => {
        expect(() => renderPrometheusConfig(promInput({ dockerApiUrl: "unix:///var/run/docker.sock" }))).toThrow(/dockerApiUrl must be http\(s\):\/\/.*raw socket is never used/);
        expect(() => renderPrometheusConfig(promInput({ haproxyAuth: { username: "admin", passwordFile: "/etc/password" } }))).toThrow(/haproxyAuth.passwordFile must be a Docker secret file/);
        expect(() => renderPrometheusConfig(promInput({ scrapeIntervalSeconds: 0 }))).toThrow(/scrapeIntervalSeconds must be a whole number/);
        expect(() => renderPrometheusConfig(promInput({ networks: {} }))).toThrow(/networks is empty/);
    });
});

describe("alertmanager.yml", () => {
    const base: AlertmanagerConfigInput = { groupWaitSeconds: 5, repeatIntervalHours: 4 };
    const check = (input: AlertmanagerConfigInput) => {
        const file = path.join(work, `alertmanager-${Math.random().toString(36).slice(2)}.yml`);
        fs.writeFileSync(file, renderAlertmanagerConfig(input));
        return run("amtool", ["check-config", file]);
    };

    test("amtool accepts it with no receiver, a webhook, and every receiver at once", () => {
        expect(check(base)).toMatch(/^exit 0\n/);
        expect(check({ ...base, webhookUrl: "http://198.18.42.1:19093/alerts" })).toMatch(/^exit 0\n/);
        const all = check({
            ...base,
            webhookUrl: "https://hooks.example.com/am",
            slack: { apiUrl: "https://hooks.slack.com/services/T0/B0/xyz", channel: "#ops" },
            email: { to: "ops@example.com", from: "am@example.com", smarthost: "smtp.example.com:587", username: "am", password: "s3cret" },
        });
        expect(all).toMatch(/^exit 0\n[\s\S]*Found:[\s\S]*- 7 inhibit rules[\s\S]*- 3 receivers/);
        expect(check({ ...base, deadMansSwitchUrl: "https://hc-ping.com/0b5c3d52-4f6e-4a1b-9c1d-2e3f4a5b6c7d" })).toMatch(/^exit 0\n/);
    });

    test("one incident is one page: grouped by alert, informational alerts never mailed, explained alerts inhibited", () => {
        const doc = parse(
            renderAlertmanagerConfig({ ...base, webhookUrl: "https://hooks.example.com/am", email: { to: "ops@example.com", from: "am@example.com", smarthost: "smtp.example.com:587" } }),
        );
        expect(doc.route.group_by).toEqual(["alertname", "service"]);
        expect(doc.route.routes).toEqual([
            { receiver: "watchdog", matchers: ['alertname="Watchdog"'], group_wait: "0s", group_interval: "1m", repeat_interval: "1m" },
            { receiver: "inform", matchers: ['severity="info"'] },
        ]);
        const inform = doc.receivers.find((r: any) => r.name === "inform");
        expect(inform.email_configs).toBeUndefined();
        expect(inform.webhook_configs[0]).toEqual({ url: "https://hooks.example.com/am", send_resolved: true });
        expect(doc.inhibit_rules[0]).toMatchObject({ source_matchers: ['alertname="NodeDown"'], equal: ["node"] });
    });

    test("the Watchdog goes to the dead man's switch alone, every minute, and never pages (amtool's own routing)", () => {
        const url = "https://hc-ping.com/0b5c3d52-4f6e-4a1b-9c1d-2e3f4a5b6c7d";
        const file = path.join(work, "alertmanager-watchdog.yml");
        fs.writeFileSync(file, renderAlertmanagerConfig({ ...base, webhookUrl: "https://hooks.example.com/am", deadMansSwitchUrl: url }));
        // The receiver amtool routes the labels to (stdout; it warns on stderr that the file overrides a server URL).
        const route = (...labels: string[]) => {
            const r = spawnSync("amtool", ["config", "routes", "test", `--config.file=${file}`, ...labels], { encoding: "utf8" });
            return `exit ${r.status}\n${r.stdout.trim()}`;
        };
        expect(route("alertname=Watchdog", "severity=none")).toBe("exit 0\nwatchdog");
        expect(route("alertname=NodeDown", "severity=critical")).toBe("exit 0\npage");
        expect(route("alertname=VipHolderChanged", "severity=info")).toBe("exit 0\ninform");
        const doc = parse(fs.readFileSync(file, "utf8"));
        expect(doc.receivers.find((r: any) => r.name === "watchdog")).toEqual({ name: "watchdog", webhook_configs: [{ url, send_resolved: false }] });
        // Without a switch the Watchdog still goes nowhere else.
        fs.writeFileSync(file, renderAlertmanagerConfig({ ...base, webhookUrl: "https://hooks.example.com/am" }));
        expect(route("alertname=Watchdog", "severity=none")).toBe("exit 0\nwatchdog");
        expect(parse(fs.readFileSync(file, "utf8")).receivers.find((r: any) => r.name === "watchdog")).toEqual({ name: "watchdog" });
        expect(() => renderAlertmanagerConfig({ ...base, deadMansSwitchUrl: "hc-ping.com/x" })).toThrow(/deadMansSwitchUrl is not a URL/);
    });

    test("every alert an inhibition names is one the rules define", () => {
        const rules = renderAlertRules({ dataTier: true, vip: true, synchronousMode: true, postgresMaxLagBytes: 16 << 20, backupMaxAgeSeconds: 7800 });
        const defined = new Set(parse(rules).groups.flatMap((g: any) => g.rules.map((r: any) => r.alert).filter(Boolean)));
        const doc = parse(renderAlertmanagerConfig(base));
        const named = doc.inhibit_rules.flatMap((i: any) => [i.source_matchers[0], i.target_matchers[0]].map((m: string) => /"(.+)"/.exec(m)![1].split("|"))).flat();
        expect(named.filter((n: string) => !defined.has(n))).toEqual([]);
    });

    test("bad receivers are refused, naming the field", () => {
        expect(() => renderAlertmanagerConfig({ ...base, webhookUrl: "nope" })).toThrow(/webhookUrl is not a URL/);
        expect(() => renderAlertmanagerConfig({ ...base, email: { to: "ops@example.com", from: "am@example.com", smarthost: "smtp", username: "am" } })).toThrow(
            /email.smarthost "smtp" must be host:port[\s\S]*email.username and email.password go together/,
        );
    });
});

// The health step's Alertmanager check (images/monitoring/alertmanager-check.py) against real
// Alertmanagers (Debian's 0.25, as in the image) clustered on loopback, and one on its own.
describe("swarm-ha-alertmanager-check: the Alertmanagers run as one cluster", () => {
    const CHECK = path.join(__dirname, "..", "images/monitoring/alertmanager-check.py");
    const started: ChildProcess[] = [];
    let web: number[];
    let gossip: number[];
    const url = (i: number) => `http://127.0.0.1:${web[i]}`;
    const check = (urls: string[], count: number) => {
        const r = spawnSync("python3", [CHECK, "swarm-ha-alertmanager", "9093", String(count)], { encoding: "utf8", env: { ...process.env, SWARM_HA_ALERTMANAGER_URLS: urls.join(" ") } });
        return `${r.status} ${r.stdout}${r.stderr}`;
    };
    const clusterSize = async (i: number) => {
        try {
            const r = await fetch(`${url(i)}/api/v2/status`);
            const cluster = ((await r.json()) as { cluster: { status: string; peers?: unknown[] } }).cluster;
            return cluster.status === "ready" ? (cluster.peers ?? []).length : -1;
        } catch {
            return -1;
        }
    };

    beforeAll(async () => {
        const ports = await freePorts(6);
        web = ports.slice(0, 3);
        gossip = ports.slice(3);
        const config = path.join(work, "am-check.yml");
        fs.writeFileSync(config, "route:\n  receiver: none\nreceivers:\n  - name: none\n");
        // 0 and 1 peer with each other; 2 is on its own (its peers unreachable, as across a network split).
        const peersOf = [[gossip[1]], [gossip[0]], []];
        for (const i of [0, 1, 2]) {
            const storage = fs.mkdtempSync(path.join(work, `am-${i}-`));
            const args = [`--config.file=${config}`, `--storage.path=${storage}`, `--web.listen-address=127.0.0.1:${web[i]}`,
                `--cluster.listen-address=127.0.0.1:${gossip[i]}`, `--cluster.advertise-address=127.0.0.1:${gossip[i]}`,
                ...peersOf[i].map((p) => `--cluster.peer=127.0.0.1:${p}`), "--cluster.settle-timeout=5s", "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=2s"];
            started.push(spawn("prometheus-alertmanager", args, { stdio: "ignore" }));
        }
        const deadline = Date.now() + 40_000;
        while (Date.now() < deadline && ((await clusterSize(0)) !== 2 || (await clusterSize(1)) !== 2 || (await clusterSize(2)) !== 1)) await new Promise((r) => setTimeout(r, 500));
    }, 60_000);
    afterAll(() => started.forEach((p) => p.kill()));

    test("two that see each other pass; one on its own, one missing or one not answering fail, each said", () => {
        expect(check([url(0), url(1)], 2)).toBe("0 alertmanager: 2 clustered and ready\n");
        // 2 is on its own, as across a network split: it would send every notification again.
        expect(check([url(0), url(2)], 2)).toBe(
            `1 alertmanager: ${url(2)} is in a cluster of 1 (127.0.0.1:${gossip[2]}), not 2: the others get no silence set on it, and each sends every notification\n`,
        );
        // One task of two running (the other's node down): its own cluster view is not enough.
        expect(check([url(0)], 2)).toBe(`1 alertmanager: 1 running (${url(0)}), 2 declared\n`);
        const closed = "http://127.0.0.1:9"; // discard: nothing listens
        expect(check([url(0), closed], 2)).toMatch(new RegExp(`^1 alertmanager: ${closed} does not answer its status: .*Connection refused.*\n$`));
    });
});

describe("the read-only Docker API proxy", () => {
    let haproxy: ChildProcess | undefined;
    let socketServer: http.Server | undefined;
    afterAll(() => {
        haproxy?.kill("SIGKILL");
        socketServer?.close();
    });

    test("haproxy -c accepts it; bad input is refused", () => {
        const file = path.join(work, "docker-api.cfg");
        fs.writeFileSync(file, renderDockerApiProxyConfig({ port: 2375, socketPath: "/var/run/docker.sock" }));
        expect(run("haproxy", ["-c", "-f", file])).toMatch(/^exit 0\n/);
        expect(() => renderDockerApiProxyConfig({ port: 0, socketPath: "relative.sock" })).toThrow(/port must be 1 to 65535[\s\S]*socketPath "relative.sock" must be an absolute path/);
    });

    test("a real HAProxy forwards the reads discovery needs to the socket and refuses everything else", async () => {
        // A fake Docker daemon on a unix socket: it records what reaches it.
        const socket = path.join(work, "docker.sock");
        const reached: string[] = [];
        socketServer = http.createServer((req, res) => {
            reached.push(`${req.method} ${req.url}`);
            res.setHeader("content-type", "application/json");
            res.end("[]");
        });
        await new Promise<void>((r) => socketServer!.listen(socket, r));
        const [port] = await freePorts(1);
        const file = path.join(work, "docker-api-live.cfg");
        fs.writeFileSync(file, renderDockerApiProxyConfig({ port, socketPath: socket }).replace(`bind :${port}`, `bind 127.0.0.1:${port}`));
        haproxy = spawn("haproxy", ["-db", "-f", file], { stdio: ["ignore", "ignore", "ignore"] });
        const ask = (method: string, p: string) =>
            new Promise<number>((resolve, reject) => {
                const req = http.request({ host: "127.0.0.1", port, method, path: p }, (res) => {
                    res.resume();
                    resolve(res.statusCode!);
                });
                req.on("error", reject);
                req.end();
            });
        for (let i = 0; i < 50; i++) {
            try {
                await ask("GET", "/_ping");
                break;
            } catch {
                await new Promise((r) => setTimeout(r, 100));
            }
        }
        const allowed = ["/_ping", "/v1.41/version", "/v1.41/nodes", "/v1.41/services?status=true", "/v1.41/tasks?filters=%7B%7D", "/v1.43/networks", "/v1.41/services/abc123", "/nodes"];
        for (const p of allowed) expect(`GET ${p} ${await ask("GET", p)}`).toBe(`GET ${p} 200`);
        const refused: [string, string][] = [
            ["POST", "/v1.41/services/create"],
            ["POST", "/v1.41/services/abc/update"],
            ["DELETE", "/v1.41/services/abc"],
            ["POST", "/v1.41/containers/create"],
            ["GET", "/v1.41/containers/json"],
            ["GET", "/v1.41/secrets"],
            ["GET", "/v1.41/configs"],
            ["GET", "/v1.41/services/abc/logs"],
            ["GET", "/v1.41/tasks/../containers/json"],
            ["PUT", "/v1.41/nodes/abc"],
            ["POST", "/v1.41/swarm/leave"],
        ];
        for (const [m, p] of refused) expect(`${m} ${p} ${await ask(m, p)}`).toBe(`${m} ${p} 403`);
        // Only the allowed reads reached the daemon.
        expect(reached.filter((r) => !r.startsWith("GET ") || !ALLOWED_READS.some((a) => r.includes(`/${a}`)))).toEqual([]);
        for (const p of allowed) expect(reached).toContain(`GET ${p}`);
    });
});
