/**
 * Prometheus's alerting rules (components/monitoring/alert-rules.ts), proven with the real
 * checker: `promtool check rules` on each variant of the file, and `promtool test rules` on
 * scenarios written here, where every alert of the full file fires (with its exact labels and
 * annotations) and stays quiet: single missed scrapes, a rolling update, a failover overlap and a
 * healthy stack among them. An alert added without a firing and a quiet case fails the test.
 * Also: inputs refused with the field named, and the tiers left out leave their alerts out.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { ALERT_NAMES, alertNames, renderAlertRules, REDIS_IS_PRIMARY_RECORD, type AlertRulesInput } from "../components/monitoring/alert-rules";

const PROMTOOL = "promtool";

let work: string;
beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-alert-rules-"));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Runs promtool with `args` in the work directory; never skips: a missing promtool fails, saying how to get it. */
function promtool(args: string[]): { status: number | null; output: string } {
    const r = spawnSync(PROMTOOL, args, { cwd: work, encoding: "utf8", timeout: 60_000 });
    if (r.error) {
        throw new Error(
            `promtool (Prometheus 2.42 or later) is needed to check the alert rules and could not be run: ${r.error.message}. ` +
                "Install it (Debian/Ubuntu: sudo apt-get install prometheus, which carries /usr/bin/promtool), then run the test again.",
        );
    }
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const ALL_ON: AlertRulesInput = { dataTier: true, vip: true, synchronousMode: true, postgresMaxLagBytes: 1048576, backupMaxAgeSeconds: 10800 };

const VARIANTS: [string, AlertRulesInput][] = [
    ["everything on", ALL_ON],
    ["dataTier false", { ...ALL_ON, dataTier: false }],
    ["vip false", { ...ALL_ON, vip: false }],
    ["synchronousMode false", { ...ALL_ON, synchronousMode: false }],
    ["everything off", { ...ALL_ON, dataTier: false, vip: false, synchronousMode: false }],
];

interface ParsedRule {
    alert?: string;
    record?: string;
    expr: string;
    for?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}
function parsedRules(text: string): ParsedRule[] {
    const doc = parseYaml(text) as { groups: { name: string; rules: ParsedRule[] }[] };
    return doc.groups.flatMap((g) => g.rules);
}
const renderedAlerts = (text: string) => [...new Set(parsedRules(text).flatMap((r) => (r.alert ? [r.alert] : [])))];

describe("promtool check rules", () => {
    test.each(VARIANTS)("%s: the rendering passes", (name, input) => {
        const file = path.join(work, `check-${name.replace(/\W+/g, "-")}.yml`);
        fs.writeFileSync(file, renderAlertRules(input));
        const r = promtool(["check", "rules", file]);
        expect(r.output).toContain("SUCCESS");
        expect(r.status).toBe(0);
    });

    test("the file starts with a header saying it is rendered by swarm-ha, and groups its rules by tier", () => {
        const text = renderAlertRules(ALL_ON);
        expect(text.split("\n")[0]).toMatch(/^# .*rendered by swarm-ha \(components\/monitoring\/alert-rules\.ts\)/);
        expect((parseYaml(text) as { groups: { name: string }[] }).groups.map((g) => g.name)).toEqual(["swarm", "edge", "data", "hosts", "monitoring"]);
    });

    test("every alert has a severity, a summary and a description; alertNames lists what is rendered", () => {
        for (const [, input] of VARIANTS) {
            const text = renderAlertRules(input);
            for (const r of parsedRules(text).filter((r) => r.alert)) {
                expect([r.alert, ["critical", "warning", "info", ...(r.alert === "Watchdog" ? ["none"] : [])].includes(r.labels?.severity ?? "")]).toEqual([r.alert, true]);
                expect(Object.keys(r.annotations ?? {}).sort()).toEqual(["description", "summary"]);
            }
            expect(alertNames(input)).toEqual(renderedAlerts(text));
            for (const a of alertNames(input)) expect(ALERT_NAMES).toContain(a);
        }
        expect([...alertNames(ALL_ON)].sort()).toEqual([...ALERT_NAMES].sort());
    });
});

describe("tiers left out leave their alerts out", () => {
    const DATA = /^(Redis|Postgres|Patroni|Etcd|Backup)/;
    test("dataTier false: no Redis, Postgres, etcd or backup alert, nor the Redis recording rule", () => {
        for (const input of [{ ...ALL_ON, dataTier: false }, { ...ALL_ON, dataTier: false, synchronousMode: false }]) {
            const text = renderAlertRules(input);
            expect(renderedAlerts(text).filter((a) => DATA.test(a))).toEqual([]);
            expect(text).not.toMatch(/redis_|patroni_|pg_wal|etcd_|swarm_ha_backup|swarm_ha:redis/);
            expect(alertNames(input)).toEqual(expect.arrayContaining(["NodeDown", "VipNoHolder", "HAProxyBackendNoServerUp", "DiskSpaceLow"]));
        }
        expect(renderedAlerts(renderAlertRules(ALL_ON)).filter((a) => DATA.test(a)).length).toBeGreaterThan(10);
    });
    test("vip false: no VIP alert", () => {
        const text = renderAlertRules({ ...ALL_ON, vip: false });
        expect(renderedAlerts(text).filter((a) => a.startsWith("Vip"))).toEqual([]);
        expect(text).not.toContain("swarm_ha_vrrp_master");
        expect(alertNames({ ...ALL_ON, vip: false })).toContain("HAProxyBackendNoServerUp");
    });
    test("synchronousMode false: no PostgresNoSyncStandby, the other Postgres alerts stay", () => {
        const names = alertNames({ ...ALL_ON, synchronousMode: false });
        expect(names).not.toContain("PostgresNoSyncStandby");
        expect(names).toEqual(expect.arrayContaining(["PostgresDown", "PostgresNoPrimary", "PostgresReplicationLagHigh", "PostgresReplicaNotStreaming"]));
        expect(renderAlertRules({ ...ALL_ON, synchronousMode: false })).not.toContain("patroni_sync_standby");
        expect(alertNames(ALL_ON)).toContain("PostgresNoSyncStandby");
    });
    test("the thresholds are written into the expressions", () => {
        const rules = parsedRules(renderAlertRules({ ...ALL_ON, postgresMaxLagBytes: 16777216, backupMaxAgeSeconds: 93600 }));
        expect(rules.find((r) => r.alert === "PostgresReplicationLagHigh")?.expr).toMatch(/> 16777216$/);
        expect(rules.find((r) => r.alert === "BackupTooOld")?.expr).toMatch(/> 93600$/);
    });
});

describe("input validation names the field and the fix", () => {
    const cases: [string, Partial<Record<keyof AlertRulesInput, unknown>>, RegExp][] = [
        ["dataTier", { dataTier: "yes" }, /dataTier must be true or false \(got "yes"\)/],
        ["vip", { vip: undefined }, /vip must be true or false \(got undefined\)/],
        ["synchronousMode", { synchronousMode: 1 }, /synchronousMode must be true or false \(got 1\)/],
        ["postgresMaxLagBytes zero", { postgresMaxLagBytes: 0 }, /postgresMaxLagBytes must be a whole number of bytes above 0, e\.g\. 1048576 for 1 MiB \(got 0\)/],
        ["postgresMaxLagBytes fraction", { postgresMaxLagBytes: 1.5 }, /postgresMaxLagBytes must be a whole number/],
        ["postgresMaxLagBytes NaN", { postgresMaxLagBytes: NaN }, /postgresMaxLagBytes must be a whole number.*\(got NaN\)/],
        ["postgresMaxLagBytes string", { postgresMaxLagBytes: "1048576" }, /postgresMaxLagBytes must be a whole number.*\(got "1048576"\)/],
        ["backupMaxAgeSeconds negative", { backupMaxAgeSeconds: -5 }, /backupMaxAgeSeconds must be a whole number of seconds above 0, e\.g\. 10800 .*\(got -5\)/],
        ["backupMaxAgeSeconds infinite", { backupMaxAgeSeconds: Infinity }, /backupMaxAgeSeconds must be a whole number of seconds above 0/],
    ];
    test.each(cases)("%s", (_name, over, message) => {
        const input = { ...ALL_ON, ...over } as AlertRulesInput;
        expect(() => renderAlertRules(input)).toThrow(message);
        expect(() => alertNames(input)).toThrow(message);
    });
    test("every field at fault is named at once", () => {
        const input = { ...ALL_ON, vip: null, postgresMaxLagBytes: -1, backupMaxAgeSeconds: 0 } as unknown as AlertRulesInput;
        expect(() => renderAlertRules(input)).toThrow(/cannot render the alert rules:\n  - vip .*\n  - postgresMaxLagBytes .*\n  - backupMaxAgeSeconds /);
    });
    test("no input at all", () => {
        expect(() => renderAlertRules(undefined as unknown as AlertRulesInput)).toThrow(/the input must be an object/);
    });
    test("the thresholds are checked even without the data tier", () => {
        expect(() => renderAlertRules({ ...ALL_ON, dataTier: false, postgresMaxLagBytes: 0 })).toThrow(/postgresMaxLagBytes/);
    });
});

// ---------------------------------------------------------------------------------------------
// promtool test rules: the scenarios.
// ---------------------------------------------------------------------------------------------

type Labels = Record<string, string>;
/** One alert expected to fire: all its labels (severity included), its exact summary, and the text `{{ $value ... }}` renders to in its description. */
interface Firing {
    labels: Labels;
    summary: string;
    value?: string;
}
/** At `at`, exactly these alerts named `alert` fire ([]: it stays quiet). */
interface Check {
    at: string;
    alert: string;
    firing: Firing[];
}
interface Scenario {
    name: string;
    /** Seconds between samples (the scrape interval): 10 unless said. */
    interval?: string;
    series: [string, string][];
    checks: Check[];
}

const fires = (at: string, alert: string, ...firing: Firing[]): Check => ({ at, alert, firing });
const quiet = (at: string, alert: string): Check => ({ at, alert, firing: [] });
const series = (metric: string, labels: Labels, values: string): [string, string] => [
    `${metric}{${Object.entries(labels)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(",")}}`,
    values,
];

// The targets, labelled as the contract says (job, node, service, instance on every series).
const NODES = ["m1", "m2", "m3", "w1", "d1", "d2", "d3", "d4"];
const ip = (net: number, node: string, port: number) => `10.0.${net}.${NODES.indexOf(node) + 11}:${port}`;
const SCOPE = "swarm-ha";
const SWARM = { job: "swarm", service: "swarm-ha-swarm-exporter", instance: "10.0.9.5:9323" };
const nodeExporter = (n: string) => ({ job: "node", node: n, service: "swarm-ha-node-exporter", instance: ip(1, n, 9100) });
const haproxy = (n: string) => ({ job: "haproxy", node: n, service: `swarm-ha-haproxy-${n}`, instance: ip(2, n, 8405) });
const redis = (n: string) => ({ job: "redis", node: n, service: `swarm-ha-redis-${n}`, instance: ip(3, n, 6379) });
const patroniTarget = (n: string) => ({ job: "patroni", node: n, service: `swarm-ha-postgres-${n}`, instance: ip(3, n, 8008) });
const patroni = (n: string) => ({ ...patroniTarget(n), scope: SCOPE });
const pgExporter = (n: string) => ({ job: "postgres", node: n, service: `swarm-ha-postgres-exporter-${n}`, instance: ip(3, n, 9187) });
const etcd = (n: string) => ({ job: "etcd", node: n, service: `swarm-ha-etcd-${n}`, instance: ip(3, n, 2379) });
const BACKUP = { job: "backup", node: "d2", service: "swarm-ha-backup", instance: ip(3, "d2", 9101) };
const alertmanager = (n: string) => ({ job: "alertmanager", node: n, service: "swarm-ha-alertmanager", instance: ip(4, n, 9093) });
const swarmNode = (n: string, role = "manager") => ({ ...SWARM, node: n, role, availability: "active" });
const swarmService = (service: string) => ({ job: "swarm", service, instance: SWARM.instance });

/** The labels of an alert over both swarm exporters' series: all but the instance. */
const noInstance = ({ instance: _instance, ...rest }: Labels): Labels => rest;
const critical = (labels: Labels, extra: Labels = {}) => ({ ...labels, ...extra, severity: "critical" });
const warning = (labels: Labels, extra: Labels = {}) => ({ ...labels, ...extra, severity: "warning" });

/** The Postgres members of one cluster: d1 primary, the others replicas streaming, d2 the synchronous standby. */
function postgresCluster(samples: number, over: { lagD3?: number } = {}): [string, string][] {
    const n = samples - 1;
    const out: [string, string][] = [];
    for (const m of ["d1", "d2", "d3"]) {
        const primary = m === "d1";
        out.push(
            series("up", patroniTarget(m), `1x${n}`),
            series("patroni_postgres_running", patroni(m), `1x${n}`),
            series("patroni_primary", patroni(m), `${primary ? 1 : 0}x${n}`),
            series("patroni_replica", patroni(m), `${primary ? 0 : 1}x${n}`),
            series("patroni_sync_standby", patroni(m), `${m === "d2" ? 1 : 0}x${n}`),
            series("patroni_postgres_timeline", patroni(m), `2x${n}`),
            series("patroni_xlog_location", patroni(m), primary ? `100000000+100000x${n}` : `0x${n}`),
            series("patroni_xlog_replayed_location", patroni(m), primary ? `0x${n}` : `${100000000 - (m === "d3" ? (over.lagD3 ?? 0) : 0)}+100000x${n}`),
        );
        if (!primary) out.push(series("pg_wal_receiver_streaming", pgExporter(m), `1x${n}`));
    }
    return out;
}

/** Everything healthy, for 21 minutes: no alert fires (the hosts' alerts have had time to). */
function healthyStack(): [string, string][] {
    const n = 126; // 127 samples, 10 s apart
    const s: [string, string][] = [series("up", SWARM, `1x${n}`)];
    for (const m of ["m1", "m2", "m3", "d1"]) s.push(series("swarm_ha_node_ready", swarmNode(m, m === "d1" ? "worker" : "manager"), `1x${n}`));
    for (const m of ["m1", "m2", "m3"]) s.push(series("swarm_ha_manager_reachable", { ...SWARM, node: m }, `1x${n}`));
    s.push(series("swarm_ha_service_replicas_desired", swarmService("swarm-ha-app"), `3x${n}`), series("swarm_ha_service_replicas_running", swarmService("swarm-ha-app"), `3x${n}`));
    for (const m of ["m1", "m2"]) {
        s.push(
            series("haproxy_backend_active_servers", { ...haproxy(m), proxy: "app" }, `3x${n}`),
            series("haproxy_backend_backup_servers", { ...haproxy(m), proxy: "app" }, `0x${n}`),
            series("haproxy_backend_http_responses_total", { ...haproxy(m), proxy: "app", code: "2xx" }, `0+100x${n}`),
            series("haproxy_backend_http_responses_total", { ...haproxy(m), proxy: "app", code: "5xx" }, `0+1x${n}`),
            series("swarm_ha_vrrp_master", nodeExporter(m), `${m === "m1" ? 1 : 0}x${n}`),
            series("alertmanager_cluster_members", alertmanager(m), `2x${n}`),
        );
    }
    for (const m of ["d1", "d2", "d3"]) {
        s.push(
            series("redis_up", redis(m), `1x${n}`),
            series("redis_instance_info", { ...redis(m), role: m === "d1" ? "master" : "slave", redis_version: "7.0.15" }, `1x${n}`),
            series("etcd_server_has_leader", etcd(m), `1x${n}`),
        );
    }
    s.push(...postgresCluster(n + 1));
    s.push(
        series("swarm_ha_backup_last_success_timestamp_seconds", BACKUP, `-1800x${n}`),
        series("swarm_ha_backup_last_attempt_success", BACKUP, `1x${n}`),
        series("swarm_ha_backup_restore_check_ok", BACKUP, `1x${n}`),
    );
    for (const m of ["m1", "m2", "d1"]) {
        const filesystem = (mountpoint: string, fstype: string, device: string, avail: number) => {
            const l = { ...nodeExporter(m), mountpoint, fstype, device };
            s.push(series("node_filesystem_avail_bytes", l, `${avail}x${n}`), series("node_filesystem_size_bytes", l, `100000000000x${n}`));
        };
        filesystem("/", "ext4", "/dev/sda1", 50e9);
        filesystem("/run", "tmpfs", "tmpfs", 0); // full, and not a disk
        s.push(
            series("up", nodeExporter(m), `1x${n}`),
            series("node_memory_MemAvailable_bytes", nodeExporter(m), `4000000000x${n}`),
            series("node_memory_MemTotal_bytes", nodeExporter(m), `8000000000x${n}`),
            series("node_cpu_seconds_total", { ...nodeExporter(m), cpu: "0", mode: "idle" }, `0+5x${n}`),
            series("node_cpu_seconds_total", { ...nodeExporter(m), cpu: "0", mode: "user" }, `0+5x${n}`),
        );
    }
    return s;
}

const SCENARIOS: Scenario[] = [
    {
        name: "a healthy stack: nothing fires but the Watchdog, which always does",
        series: healthyStack(),
        checks: [
            ...ALERT_NAMES.filter((a) => a !== "Watchdog").map((a) => quiet("20m", a)),
            fires("20m", "Watchdog", { labels: { severity: "none" }, summary: "The alerting pipeline works" }),
        ],
    },

    // --- swarm ---
    {
        name: "NodeDown: a node not Ready for 20 s fires; one not-Ready scrape does not",
        interval: "5s",
        series: [
            series("swarm_ha_node_ready", swarmNode("w1", "worker"), "1 1 1 0 0 0 0 0 0 0"),
            series("swarm_ha_node_ready", swarmNode("m2"), "1 1 1 0 1 1 1 1 1 1"),
            series("swarm_ha_node_ready", swarmNode("m1"), "1x9"),
        ],
        checks: [
            quiet("20s", "NodeDown"),
            fires("30s", "NodeDown", { labels: critical(noInstance(swarmNode("w1", "worker"))), summary: "Swarm node w1 is down" }),
        ],
    },
    {
        name: "NodeDown with two swarm exporters: one alert, and it keeps firing when the exporter on the dead node goes silent",
        interval: "5s",
        series: [
            series("swarm_ha_node_ready", swarmNode("m3"), "1 1 1 0 0 _ _ _ _ _"),
            series("swarm_ha_node_ready", { ...swarmNode("m3"), instance: "10.0.9.6:9323" }, "1 1 1 0 0 0 0 0 0 0"),
            series("swarm_ha_node_ready", swarmNode("m1"), "1x9"),
            series("swarm_ha_node_ready", { ...swarmNode("m1"), instance: "10.0.9.6:9323" }, "1x9"),
        ],
        checks: [fires("30s", "NodeDown", { labels: critical(noInstance(swarmNode("m3"))), summary: "Swarm node m3 is down" })],
    },
    ...(
        [
            ["3 managers, all reachable: quiet", { m1: 1, m2: 1, m3: 1 }, undefined],
            ["3 managers, 1 down: fires", { m1: 1, m2: 0, m3: 1 }, "2 of 3"],
            ["5 managers, 1 down: quiet", { m1: 1, m2: 1, m3: 1, d1: 1, d2: 0 }, undefined],
            ["5 managers, 2 down: fires", { m1: 1, m2: 0, m3: 1, d1: 1, d2: 0 }, "3 of 5"],
            ["1 manager: fires (always one failure away)", { m1: 1 }, "1 of 1"],
            ["4 managers, all reachable: quiet", { m1: 1, m2: 1, m3: 1, d1: 1 }, undefined],
            ["4 managers, 1 down: fires", { m1: 1, m2: 1, m3: 0, d1: 1 }, "3 of 4"],
        ] as [string, Record<string, number>, string | undefined][]
    ).map(
        ([name, managers, of]): Scenario => ({
            name: `ManagerQuorumAtRisk: ${name}`,
            interval: "5s",
            series: Object.entries(managers).map(([m, v]) => series("swarm_ha_manager_reachable", { ...SWARM, node: m }, `${v}x10`)),
            checks: [of ? fires("30s", "ManagerQuorumAtRisk", { labels: { severity: "critical" }, summary: `Swarm manager quorum at risk: ${of} managers reachable` }) : quiet("30s", "ManagerQuorumAtRisk")],
        }),
    ),
    {
        name: "ManagerQuorumAtRisk: two swarm exporters (each manager seen twice), 3 managers, 1 down: fires once, counting managers not series",
        interval: "5s",
        series: ["10.0.9.5:9323", "10.0.9.6:9323"].flatMap((instance) =>
            Object.entries({ m1: 1, m2: 1, m3: 0 }).map(([m, v]) => series("swarm_ha_manager_reachable", { ...SWARM, instance, node: m }, `${v}x10`)),
        ),
        checks: [fires("30s", "ManagerQuorumAtRisk", { labels: { severity: "critical" }, summary: "Swarm manager quorum at risk: 2 of 3 managers reachable" })],
    },
    {
        name: "ManagerQuorumAtRisk: two swarm exporters, 5 managers, 1 down: quiet",
        interval: "5s",
        series: ["10.0.9.5:9323", "10.0.9.6:9323"].flatMap((instance) =>
            Object.entries({ m1: 1, m2: 1, m3: 0, d1: 1, d2: 1 }).map(([m, v]) => series("swarm_ha_manager_reachable", { ...SWARM, instance, node: m }, `${v}x10`)),
        ),
        checks: [quiet("30s", "ManagerQuorumAtRisk")],
    },
    {
        name: "SwarmApiUnreachable: the exporter's scrapes failing for over a minute fires",
        series: [series("up", SWARM, "1 1 0x12")],
        checks: [
            quiet("1m", "SwarmApiUnreachable"),
            fires("1m30s", "SwarmApiUnreachable", { labels: { alertname: "SwarmApiUnreachable", check: "scrape", severity: "critical" }, summary: "No swarm exporter can read the swarm" }),
        ],
    },
    {
        name: "SwarmApiUnreachable: no swarm exporter scraped at all fires",
        series: [series("up", nodeExporter("m1"), "1x12")],
        checks: [fires("1m10s", "SwarmApiUnreachable", { labels: { job: "swarm", check: "discovery", severity: "critical" }, summary: "No swarm exporter is scraped" })],
    },
    {
        name: "SwarmApiUnreachable: a single missed scrape does not fire",
        series: [series("up", SWARM, "1 1 0 1x12")],
        checks: [quiet("25s", "SwarmApiUnreachable"), quiet("1m30s", "SwarmApiUnreachable")],
    },
    {
        name: "ServiceReplicasBelowDesired: a task missing for 20 s fires; a start-first rolling update (running > desired), a stop-first one and a 10 s dip do not",
        interval: "5s",
        series: [
            series("swarm_ha_service_replicas_desired", swarmService("swarm-ha-app"), "3x10"),
            series("swarm_ha_service_replicas_running", swarmService("swarm-ha-app"), "3 3 3 2x7"),
            series("swarm_ha_service_replicas_desired", swarmService("swarm-ha-api"), "2x10"),
            series("swarm_ha_service_replicas_running", swarmService("swarm-ha-api"), "2 2 3 3 3 3 2x4"),
            series("swarm_ha_service_replicas_desired", swarmService("swarm-ha-web"), "2x10"),
            series("swarm_ha_service_replicas_running", swarmService("swarm-ha-web"), "2 2 1 1 2x6"),
            // A stop-first update that takes long: fewer tasks, but the swarm says it is updating.
            series("swarm_ha_service_replicas_desired", swarmService("swarm-ha-cache"), "2x10"),
            series("swarm_ha_service_replicas_running", swarmService("swarm-ha-cache"), "2 2 1x8"),
            series("swarm_ha_service_updating", swarmService("swarm-ha-cache"), "0 0 1x8"),
        ],
        checks: [
            quiet("25s", "ServiceReplicasBelowDesired"),
            fires("35s", "ServiceReplicasBelowDesired", { labels: warning(noInstance(swarmService("swarm-ha-app"))), summary: "Service swarm-ha-app runs 2 of 3 tasks", value: "2" }),
        ],
    },
    {
        name: "ServiceDown: no task for 15 s fires; a service scaled to 0, a single empty scrape and a stop-first update do not",
        interval: "5s",
        series: [
            series("swarm_ha_service_replicas_desired", swarmService("swarm-ha-worker"), "1x10"),
            series("swarm_ha_service_replicas_running", swarmService("swarm-ha-worker"), "1 1 0x8"),
            series("swarm_ha_service_replicas_desired", swarmService("swarm-ha-batch"), "0x10"),
            series("swarm_ha_service_replicas_running", swarmService("swarm-ha-batch"), "0x10"),
            series("swarm_ha_service_replicas_desired", swarmService("swarm-ha-cron"), "1x10"),
            series("swarm_ha_service_replicas_running", swarmService("swarm-ha-cron"), "1 1 0 1x7"),
            // One task updated stop-first for 40 s: none runs, but the swarm is updating it.
            series("swarm_ha_service_replicas_desired", swarmService("swarm-ha-haproxy-m1"), "1x10"),
            series("swarm_ha_service_replicas_running", swarmService("swarm-ha-haproxy-m1"), "1 1 0x8"),
            series("swarm_ha_service_updating", swarmService("swarm-ha-haproxy-m1"), "0 1x9"),
        ],
        checks: [
            quiet("15s", "ServiceDown"),
            fires("25s", "ServiceDown", { labels: critical(noInstance(swarmService("swarm-ha-worker"))), summary: "Service swarm-ha-worker has no running task" }),
        ],
    },

    // --- edge ---
    {
        name: "HAProxyBackendNoServerUp: no server for 20 s fires; backup servers only does not",
        series: [
            series("haproxy_backend_active_servers", { ...haproxy("m1"), proxy: "app" }, "2 2 0x6"),
            series("haproxy_backend_backup_servers", { ...haproxy("m1"), proxy: "app" }, "0x8"),
            series("haproxy_backend_active_servers", { ...haproxy("m2"), proxy: "app" }, "0x8"),
            series("haproxy_backend_backup_servers", { ...haproxy("m2"), proxy: "app" }, "1x8"),
        ],
        checks: [
            quiet("25s", "HAProxyBackendNoServerUp"),
            fires("40s", "HAProxyBackendNoServerUp", { labels: critical({ ...haproxy("m1"), proxy: "app" }), summary: "HAProxy on m1: backend app has no server up" }),
        ],
    },
    {
        name: "HAProxyHigh5xxRate: 9% errors fire; 100% of a trickle and 2% of real traffic do not",
        series: [
            series("haproxy_backend_http_responses_total", { ...haproxy("m1"), proxy: "app", code: "2xx" }, "0+10x36"),
            series("haproxy_backend_http_responses_total", { ...haproxy("m1"), proxy: "app", code: "5xx" }, "0+1x36"),
            series("haproxy_backend_http_responses_total", { ...haproxy("m2"), proxy: "app", code: "2xx" }, "0x36"),
            series("haproxy_backend_http_responses_total", { ...haproxy("m2"), proxy: "app", code: "5xx" }, "0+1x36"),
            series("haproxy_backend_http_responses_total", { ...haproxy("m3"), proxy: "app", code: "2xx" }, "0+49x36"),
            series("haproxy_backend_http_responses_total", { ...haproxy("m3"), proxy: "app", code: "5xx" }, "0+1x36"),
        ],
        checks: [
            quiet("2m", "HAProxyHigh5xxRate"),
            fires("5m", "HAProxyHigh5xxRate", { labels: warning({ ...haproxy("m1"), proxy: "app" }), summary: "HAProxy on m1: 9.091% of backend app's responses are 5xx", value: "9.091%" }),
        ],
    },
    {
        name: "VipHolderChanged: the VIP moving to m2 is told once, for 2 minutes",
        series: [series("swarm_ha_vrrp_master", nodeExporter("m1"), "1x5 0x20"), series("swarm_ha_vrrp_master", nodeExporter("m2"), "0x5 1x20")],
        checks: [
            quiet("50s", "VipHolderChanged"),
            fires("1m10s", "VipHolderChanged", { labels: { ...nodeExporter("m2"), severity: "info" }, summary: "The VIP moved to m2" }),
            quiet("3m30s", "VipHolderChanged"),
        ],
    },
    {
        name: "VipNoHolder: both edge nodes BACKUP for 25 s fires",
        series: [series("swarm_ha_vrrp_master", nodeExporter("m1"), "1 1 0x6"), series("swarm_ha_vrrp_master", nodeExporter("m2"), "0x8")],
        checks: [quiet("30s", "VipNoHolder"), fires("45s", "VipNoHolder", { labels: { severity: "critical" }, summary: "No edge node holds the VIP" })],
    },
    {
        name: "VipNoHolder: no VIP series at all fires",
        series: [series("up", nodeExporter("m1"), "1x8")],
        checks: [fires("30s", "VipNoHolder", { labels: { severity: "critical" }, summary: "No edge node holds the VIP" }), quiet("30s", "VipSplitBrain")],
    },
    {
        name: "VipNoHolder: a missed scrape of the holder does not fire",
        series: [series("swarm_ha_vrrp_master", nodeExporter("m1"), "1 1 stale 1x5"), series("swarm_ha_vrrp_master", nodeExporter("m2"), "0x8")],
        checks: [quiet("25s", "VipNoHolder"), quiet("30s", "VipNoHolder"), quiet("1m", "VipNoHolder")],
    },
    {
        name: "VipNoHolder: a failover seen as one scrape with no holder does not fire",
        series: [series("swarm_ha_vrrp_master", nodeExporter("m1"), "1 1 1 0x5"), series("swarm_ha_vrrp_master", nodeExporter("m2"), "0 0 0 0 1x4")],
        checks: [quiet("35s", "VipNoHolder"), quiet("40s", "VipNoHolder"), quiet("1m", "VipNoHolder")],
    },
    {
        name: "VipSplitBrain: two holders for 20 s fire, one alert per holder",
        series: [series("swarm_ha_vrrp_master", nodeExporter("m1"), "1x8"), series("swarm_ha_vrrp_master", nodeExporter("m2"), "0 0 1x6")],
        checks: [
            quiet("25s", "VipSplitBrain"),
            fires(
                "40s",
                "VipSplitBrain",
                { labels: critical(nodeExporter("m1")), summary: "VIP split brain: m1 holds the VIP along with another edge node" },
                { labels: critical(nodeExporter("m2")), summary: "VIP split brain: m2 holds the VIP along with another edge node" },
            ),
        ],
    },
    {
        name: "VipSplitBrain: a failover seen as one scrape with two holders does not fire",
        series: [series("swarm_ha_vrrp_master", nodeExporter("m1"), "1 1 1 0x5"), series("swarm_ha_vrrp_master", nodeExporter("m2"), "0 0 1x6")],
        checks: [quiet("25s", "VipSplitBrain"), quiet("30s", "VipSplitBrain"), quiet("1m", "VipSplitBrain")],
    },

    // --- data: Redis ---
    {
        name: "RedisDown: Redis unreachable for 40 s fires; one failed scrape does not",
        series: [series("redis_up", redis("d1"), "1 1 0x6"), series("redis_up", redis("d2"), "1 1 1 0 1x4")],
        checks: [quiet("45s", "RedisDown"), fires("60s", "RedisDown", { labels: warning(redis("d1")), summary: "Redis on d1 is down" })],
    },
    {
        name: "RedisNoPrimary: only replicas fires",
        series: [
            series("redis_instance_info", { ...redis("d1"), role: "slave", redis_version: "7.0.15" }, "1x6"),
            series("redis_instance_info", { ...redis("d2"), role: "slave", redis_version: "7.0.15" }, "1x6"),
        ],
        checks: [quiet("10s", "RedisNoPrimary"), fires("30s", "RedisNoPrimary", { labels: { role: "master", severity: "critical" }, summary: "Redis has no primary" })],
    },
    {
        name: "Redis failover d1 → d2 (10 s without a master): RedisPrimaryChanged fires once on d2 for 3 minutes; RedisNoPrimary stays quiet",
        series: [
            series("redis_instance_info", { ...redis("d1"), role: "master", redis_version: "7.0.15" }, "1 1 1 stale"),
            series("redis_instance_info", { ...redis("d1"), role: "slave", redis_version: "7.0.15" }, "_ _ _ _ 1x30"),
            series("redis_instance_info", { ...redis("d2"), role: "slave", redis_version: "7.0.15" }, "1 1 1 stale"),
            series("redis_instance_info", { ...redis("d2"), role: "master", redis_version: "7.0.15" }, "_ _ _ _ 1x30"),
            series("redis_instance_info", { ...redis("d3"), role: "slave", redis_version: "7.0.15" }, "1x34"),
        ],
        checks: [
            quiet("20s", "RedisPrimaryChanged"),
            quiet("35s", "RedisNoPrimary"),
            quiet("45s", "RedisNoPrimary"),
            fires("45s", "RedisPrimaryChanged", { labels: { job: "redis", node: "d2", service: "swarm-ha-redis-d2", severity: "warning" }, summary: "Redis failed over: d2 is the new primary" }),
            fires("3m", "RedisPrimaryChanged", { labels: { job: "redis", node: "d2", service: "swarm-ha-redis-d2", severity: "warning" }, summary: "Redis failed over: d2 is the new primary" }),
            quiet("3m50s", "RedisPrimaryChanged"),
            quiet("5m", "RedisPrimaryChanged"),
            quiet("5m", "RedisTwoPrimaries"),
        ],
    },
    {
        name: "RedisTwoPrimaries: two masters for 40 s fire, one alert per master",
        series: [
            series("redis_instance_info", { ...redis("d1"), role: "master", redis_version: "7.0.15" }, "1x10"),
            series("redis_instance_info", { ...redis("d2"), role: "master", redis_version: "7.0.15" }, "_ _ 1x8"),
            series("redis_instance_info", { ...redis("d3"), role: "slave", redis_version: "7.0.15" }, "1x10"),
        ],
        checks: [
            quiet("40s", "RedisTwoPrimaries"),
            fires(
                "60s",
                "RedisTwoPrimaries",
                { labels: critical(redis("d1")), summary: "Redis split brain: Redis on d1 is a primary along with another" },
                { labels: critical(redis("d2")), summary: "Redis split brain: Redis on d2 is a primary along with another" },
            ),
        ],
    },

    // --- data: Postgres and etcd ---
    {
        name: "PostgresDown: Postgres stopped (15 s) or Patroni not answering (30 s) fire; a missed scrape does not",
        series: [
            series("up", patroniTarget("d1"), "1x10"),
            series("patroni_postgres_running", patroni("d1"), "1 1 0x8"),
            series("up", patroniTarget("d2"), "1 1 0x8"),
            series("patroni_postgres_running", patroni("d2"), "1 1 stale"),
            series("up", patroniTarget("d3"), "1 1 0 1x7"),
            series("patroni_postgres_running", patroni("d3"), "1 1 stale 1x7"),
        ],
        checks: [
            fires("40s", "PostgresDown", { labels: critical(patroni("d1"), { check: "postgres" }), summary: "Postgres on d1 is not running" }),
            fires(
                "60s",
                "PostgresDown",
                { labels: critical(patroni("d1"), { check: "postgres" }), summary: "Postgres on d1 is not running" },
                { labels: critical(patroniTarget("d2"), { check: "patroni" }), summary: "Patroni on d2 does not answer" },
            ),
        ],
    },
    {
        name: "PostgresNoPrimary: every member a replica fires",
        series: [series("patroni_primary", patroni("d1"), "0x6"), series("patroni_primary", patroni("d2"), "0x6")],
        checks: [quiet("10s", "PostgresNoPrimary"), fires("30s", "PostgresNoPrimary", { labels: { severity: "critical" }, summary: "Postgres has no primary" })],
    },
    {
        name: "PostgresNoPrimary: no Patroni series at all fires; PostgresNoSyncStandby leaves it to it",
        series: [series("up", nodeExporter("d1"), "1x6")],
        checks: [fires("30s", "PostgresNoPrimary", { labels: { severity: "critical" }, summary: "Postgres has no primary" }), quiet("50s", "PostgresNoSyncStandby")],
    },
    {
        name: "Postgres failover d1 → d2 (d1 gone for 10 s): PostgresPrimaryChanged fires on d2 only, for 3 minutes; PostgresNoPrimary stays quiet",
        series: [
            series("patroni_primary", patroni("d1"), "1 1 1 stale"),
            series("patroni_postgres_timeline", patroni("d1"), "1 1 1 stale"),
            series("patroni_primary", patroni("d2"), "0 0 0 0 1x30"),
            series("patroni_postgres_timeline", patroni("d2"), "1 1 1 1 2x30"),
            series("patroni_primary", patroni("d3"), "0x34"),
            series("patroni_postgres_timeline", patroni("d3"), "1 1 1 1 1 2x29"),
        ],
        checks: [
            quiet("30s", "PostgresPrimaryChanged"),
            quiet("35s", "PostgresNoPrimary"),
            fires("1m", "PostgresPrimaryChanged", { labels: warning(patroni("d2")), summary: "Postgres failed over: d2 is the new primary" }),
            quiet("4m", "PostgresPrimaryChanged"),
        ],
    },
    {
        name: "PostgresReplicationLagHigh: a replica 10 MB behind fires; one in step and the primary (replayed 0) do not",
        series: postgresCluster(13, { lagD3: 10_000_000 }),
        checks: [
            quiet("30s", "PostgresReplicationLagHigh"),
            fires("1m30s", "PostgresReplicationLagHigh", { labels: warning(patroni("d3")), summary: "Postgres replica on d3 is 9.537MiB behind the primary", value: "9.537Mi" }),
        ],
    },
    {
        name: "PostgresReplicaNotStreaming: a replica whose receiver is not streaming, or has no receiver, fires; the primary and a streaming replica do not",
        series: [
            ...postgresCluster(13).filter(([s]) => !s.startsWith("pg_wal_receiver_streaming")),
            series("pg_wal_receiver_streaming", pgExporter("d2"), "1x12"),
            series("pg_wal_receiver_streaming", pgExporter("d3"), "1 1 0x10"),
            series("patroni_replica", patroni("d4"), "1x12"),
        ],
        checks: [
            quiet("30s", "PostgresReplicaNotStreaming"),
            fires(
                "1m30s",
                "PostgresReplicaNotStreaming",
                { labels: warning(patroni("d3")), summary: "Postgres replica on d3 is not streaming from the primary" },
                { labels: warning(patroni("d4")), summary: "Postgres replica on d4 is not streaming from the primary" },
            ),
        ],
    },
    {
        name: "PostgresNoSyncStandby: the synchronous standby gone for 40 s fires on the primary; back within 20 s does not",
        series: [
            series("patroni_primary", patroni("d1"), "1x12"),
            series("patroni_sync_standby", patroni("d1"), "0x12"),
            series("patroni_sync_standby", patroni("d2"), "1 1 0x10"),
            series("patroni_primary", { ...patroni("d3"), scope: "other" }, "1x12"),
            series("patroni_sync_standby", { ...patroni("d3"), scope: "other" }, "0 0 0 0 0 0 0 0 0 0 0 0 0"),
            series("patroni_sync_standby", { ...patroni("d4"), scope: "other" }, "1 1 0 0 1x9"),
        ],
        checks: [
            quiet("45s", "PostgresNoSyncStandby"),
            fires("1m", "PostgresNoSyncStandby", { labels: critical(patroni("d1")), summary: "Postgres primary on d1 has no synchronous standby" }),
        ],
    },
    {
        name: "PostgresNoSyncStandby: a cluster with its synchronous standby is quiet",
        series: postgresCluster(13),
        checks: [quiet("1m30s", "PostgresNoSyncStandby"), quiet("1m30s", "PostgresReplicationLagHigh"), quiet("1m30s", "PostgresReplicaNotStreaming")],
    },
    {
        name: "EtcdNoLeader: no leader for 20 s fires; a 10 s blip does not",
        series: [series("etcd_server_has_leader", etcd("d1"), "1 1 0x6"), series("etcd_server_has_leader", etcd("d2"), "1 1 0 1x5"), series("etcd_server_has_leader", etcd("d3"), "1x8")],
        checks: [quiet("30s", "EtcdNoLeader"), fires("40s", "EtcdNoLeader", { labels: critical(etcd("d1")), summary: "etcd on d1 has no leader" })],
    },

    // --- data: backups ---
    {
        name: "BackupTooOld: a last good backup older than backupMaxAgeSeconds for 5 minutes fires",
        interval: "1m",
        series: [series("swarm_ha_backup_last_success_timestamp_seconds", BACKUP, "-20000x10")],
        checks: [quiet("4m", "BackupTooOld"), fires("6m", "BackupTooOld", { labels: critical(BACKUP), summary: "The last good backup is 5h 39m 20s old", value: "5h 39m 20s" })],
    },
    {
        name: "BackupTooOld: a backup an hour old is quiet",
        interval: "1m",
        series: [series("swarm_ha_backup_last_success_timestamp_seconds", BACKUP, "-3600x10")],
        checks: [quiet("9m", "BackupTooOld")],
    },
    {
        name: "BackupFailed: a failed run, then a failed restore check, each fire with their check",
        series: [series("swarm_ha_backup_last_attempt_success", BACKUP, "1 1 0x12"), series("swarm_ha_backup_restore_check_ok", BACKUP, "1 1 1 1 0x10")],
        checks: [
            quiet("1m", "BackupFailed"),
            fires("1m30s", "BackupFailed", { labels: warning(BACKUP, { check: "backup" }), summary: "The last backup run failed" }),
            fires(
                "2m",
                "BackupFailed",
                { labels: warning(BACKUP, { check: "backup" }), summary: "The last backup run failed" },
                { labels: warning(BACKUP, { check: "restore" }), summary: "The last backup's restore check failed" },
            ),
        ],
    },

    // --- hosts ---
    {
        name: "NodeExporterDown: scrapes failing for over a minute fire; a single missed scrape does not",
        series: [series("up", nodeExporter("d1"), "1 1 0x10"), series("up", nodeExporter("d2"), "1 1 0 1x9")],
        checks: [quiet("30s", "NodeExporterDown"), fires("1m30s", "NodeExporterDown", { labels: warning(nodeExporter("d1")), summary: "node-exporter on d1 does not answer" })],
    },
    {
        name: "Disk space: under 10% for 5 minutes is low, under 5% for 1 minute critical; tmpfs and overlay are not disks",
        interval: "1m",
        series: (
            [
                ["/", "ext4", "/dev/sda1", 8e9],
                ["/var/lib/docker", "xfs", "/dev/sdb1", 3e9],
                ["/run", "tmpfs", "tmpfs", 1e8],
                ["/var/lib/docker/overlay2/abc/merged", "overlay", "overlay", 1e8],
                ["/srv", "ext4", "/dev/sdc1", 50e9],
            ] as [string, string, string, number][]
        ).flatMap(([mountpoint, fstype, device, avail]) => {
            const l = { ...nodeExporter("d1"), mountpoint, fstype, device };
            return [series("node_filesystem_avail_bytes", l, `${avail}x10`), series("node_filesystem_size_bytes", l, "100000000000x10")];
        }),
        checks: [
            quiet("4m", "DiskSpaceLow"),
            fires(
                "6m",
                "DiskSpaceLow",
                { labels: warning({ ...nodeExporter("d1"), mountpoint: "/", fstype: "ext4", device: "/dev/sda1" }), summary: "Disk space low on d1 (/)", value: "8%" },
                { labels: warning({ ...nodeExporter("d1"), mountpoint: "/var/lib/docker", fstype: "xfs", device: "/dev/sdb1" }), summary: "Disk space low on d1 (/var/lib/docker)", value: "3%" },
            ),
            quiet("30s", "DiskSpaceCritical"),
            fires("2m", "DiskSpaceCritical", {
                labels: critical({ ...nodeExporter("d1"), mountpoint: "/var/lib/docker", fstype: "xfs", device: "/dev/sdb1" }),
                summary: "Disk almost full on d1 (/var/lib/docker)",
                value: "3%",
            }),
        ],
    },
    {
        name: "MemoryPressure: 6.25% available for over 5 minutes fires; 50% does not",
        interval: "1m",
        series: [
            series("node_memory_MemAvailable_bytes", nodeExporter("d1"), "500000000x10"),
            series("node_memory_MemTotal_bytes", nodeExporter("d1"), "8000000000x10"),
            series("node_memory_MemAvailable_bytes", nodeExporter("d2"), "4000000000x10"),
            series("node_memory_MemTotal_bytes", nodeExporter("d2"), "8000000000x10"),
        ],
        checks: [
            quiet("4m", "MemoryPressure"),
            fires("6m", "MemoryPressure", { labels: warning(nodeExporter("d1")), summary: "Memory pressure on d1: 6.25% available", value: "6.25%" }),
        ],
    },
    {
        name: "CpuPressure: 95% busy for 20 minutes fires; 50% does not",
        interval: "1m",
        series: [
            ...["0", "1"].flatMap((cpu) => [
                series("node_cpu_seconds_total", { ...nodeExporter("d1"), cpu, mode: "idle" }, "0+3x25"),
                series("node_cpu_seconds_total", { ...nodeExporter("d1"), cpu, mode: "user" }, "0+57x25"),
            ]),
            series("node_cpu_seconds_total", { ...nodeExporter("d2"), cpu: "0", mode: "idle" }, "0+30x25"),
            series("node_cpu_seconds_total", { ...nodeExporter("d2"), cpu: "0", mode: "user" }, "0+30x25"),
        ],
        checks: [quiet("10m", "CpuPressure"), fires("20m", "CpuPressure", { labels: warning(nodeExporter("d1")), summary: "CPU pressure on d1: 95% busy", value: "95%" })],
    },

    // --- monitoring ---
    {
        name: "AlertmanagerClusterDegraded: an Alertmanager alone for over 5 minutes fires",
        interval: "1m",
        series: [series("alertmanager_cluster_members", alertmanager("m1"), "2 1x9"), series("alertmanager_cluster_members", alertmanager("m2"), "2 stale")],
        checks: [
            quiet("4m", "AlertmanagerClusterDegraded"),
            fires("7m", "AlertmanagerClusterDegraded", { labels: warning(alertmanager("m1")), summary: "Alertmanager on m1 sees 1 cluster member(s)", value: "1" }),
        ],
    },
];

/**
 * The description promtool should render for `f`: the rule's template with `{{ $labels.X }}`
 * replaced by the expected label and `{{ $value ... }}` by `f.value`. Any other template
 * action is refused: write that alert's case differently.
 */
function expectedDescription(rules: ParsedRule[], alert: string, f: Firing): string {
    const candidates = rules.filter((r) => r.alert === alert && Object.entries(r.labels ?? {}).every(([k, v]) => f.labels[k] === v));
    if (candidates.length !== 1) throw new Error(`${alert} ${JSON.stringify(f.labels)}: ${candidates.length} rules match these labels (want 1)`);
    return candidates[0].annotations!.description.replace(/\{\{(.*?)\}\}/g, (_all, action: string) => {
        const a = action.trim();
        const label = /^\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)$/.exec(a);
        if (label) {
            if (f.labels[label[1]] === undefined) throw new Error(`${alert}: its description shows label ${label[1]}, which the alert does not carry`);
            return f.labels[label[1]];
        }
        if (/^\$value( \| [a-zA-Z0-9]+)?$/.test(a)) {
            if (f.value === undefined) throw new Error(`${alert}: its description shows {{ ${a} }}: give the case's value`);
            return f.value;
        }
        throw new Error(`${alert}: the test cannot expand {{ ${a} }} in the description`);
    });
}

function unitTestFile(rulesFile: string, rules: ParsedRule[]): string {
    return stringify(
        {
            rule_files: [rulesFile],
            evaluation_interval: "5s",
            tests: SCENARIOS.map((s) => ({
                name: s.name,
                interval: s.interval ?? "10s",
                input_series: s.series.map(([selector, values]) => ({ series: selector, values })),
                alert_rule_test: s.checks.map((c) => ({
                    eval_time: c.at,
                    alertname: c.alert,
                    exp_alerts: c.firing.map((f) => {
                        const { severity, ...rest } = f.labels;
                        return { exp_labels: { severity, ...rest }, exp_annotations: { summary: f.summary, description: expectedDescription(rules, c.alert, f) } };
                    }),
                })),
            })),
        },
        { lineWidth: 0 },
    );
}

describe("promtool test rules", () => {
    test("every alert of the full file has a case where it fires and one where it stays quiet", () => {
        const rendered = renderedAlerts(renderAlertRules(ALL_ON));
        const checks = SCENARIOS.flatMap((s) => s.checks);
        const firing = new Set(checks.filter((c) => c.firing.length > 0).map((c) => c.alert));
        const quietOnes = new Set(checks.filter((c) => c.firing.length === 0).map((c) => c.alert));
        expect(rendered.filter((a) => !firing.has(a))).toEqual([]);
        // The Watchdog fires always: that is its point (its silence is the alarm, outside).
        expect(rendered.filter((a) => !quietOnes.has(a) && a !== "Watchdog")).toEqual([]);
        // And no case is about an alert the file does not have.
        expect(checks.map((c) => c.alert).filter((a) => !rendered.includes(a))).toEqual([]);
    });

    test("the scenarios pass on the full file (exact labels and annotations)", () => {
        const text = renderAlertRules(ALL_ON);
        expect(text).toContain(REDIS_IS_PRIMARY_RECORD);
        fs.writeFileSync(path.join(work, "rules.yml"), text);
        fs.writeFileSync(path.join(work, "rules.test.yml"), unitTestFile("rules.yml", parsedRules(text)));
        const r = promtool(["test", "rules", "rules.test.yml"]);
        if (r.status !== 0) throw new Error(`promtool test rules failed (exit ${r.status}):\n${r.output}`);
        expect(r.output).toContain("SUCCESS");
    }, 60_000);

    test("a scenario that should fail does (promtool really checks)", () => {
        fs.writeFileSync(path.join(work, "rules.yml"), renderAlertRules(ALL_ON));
        const wrong = stringify({
            rule_files: ["rules.yml"],
            evaluation_interval: "5s",
            tests: [{ interval: "10s", input_series: [series("up", nodeExporter("d1"), "0x12")].map(([s, v]) => ({ series: s, values: v })), alert_rule_test: [{ eval_time: "1m30s", alertname: "NodeExporterDown", exp_alerts: [] }] }],
        });
        fs.writeFileSync(path.join(work, "wrong.test.yml"), wrong);
        const r = promtool(["test", "rules", "wrong.test.yml"]);
        expect(r.status).not.toBe(0);
        expect(r.output).toContain("NodeExporterDown");
    });
});
