/**
 * Grafana (components/monitoring/grafana.ts and dashboards/*.json). The dashboards: valid JSON,
 * Grafana 11's schema fields, stable uids, unique panel ids, every panel on the provisioned data
 * source; every query parses as PromQL (the real `promtool check rules`), names only metrics and
 * labels of the metric contract, and returns data (the right data for the ones that compute
 * something) on a contract-shaped fake scrape (`promtool test rules`). The cAdvisor marking.
 * The provisioning YAML, and every bad input named.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import {
    DASHBOARD_FILES,
    DASHBOARD_NAMES,
    DASHBOARDS_DIR,
    GRAFANA_DATASOURCE_UID,
    PANEL_META_KEY,
    PANEL_NEEDS,
    PANEL_NEEDS_NOTE,
    dashboardPanels,
    dashboardQueries,
    panelNeeds,
    parseDashboard,
    readDashboard,
    renderDashboardProvider,
    renderDatasources,
    type Dashboard,
    type DashboardPanel,
} from "../components/monitoring/grafana";

jest.setTimeout(15_000);

const PROMTOOL = "promtool";

/**
 * Every metric name the contract relies on (/tmp/mon/contract.md, "the metric contract"), by
 * job. A dashboard may use no other.
 */
const CONTRACT_METRICS: Record<string, string[]> = {
    node: [
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_cpu_seconds_total",
        "node_load1",
        "node_network_receive_bytes_total",
        "swarm_ha_vrrp_master",
    ],
    cadvisor: ["container_cpu_usage_seconds_total", "container_memory_working_set_bytes"],
    swarm: ["swarm_ha_node_ready", "swarm_ha_manager_reachable", "swarm_ha_service_replicas_desired", "swarm_ha_service_replicas_running"],
    haproxy: [
        "haproxy_backend_active_servers",
        "haproxy_backend_backup_servers",
        "haproxy_backend_http_responses_total",
        "haproxy_frontend_http_requests_total",
        "haproxy_backend_status",
        "haproxy_server_status",
        "haproxy_backend_response_time_average_seconds",
        "haproxy_frontend_current_sessions",
    ],
    app: ["http_requests_total", "http_request_duration_seconds_bucket", "app_ready", "app_cache_lookups_total", "app_dependency_errors_total", "process_resident_memory_bytes"],
    redis: [
        "redis_up",
        "redis_instance_info",
        "redis_connected_slaves",
        "redis_master_link_up",
        "redis_connected_clients",
        "redis_memory_used_bytes",
        "redis_commands_processed_total",
    ],
    patroni: [
        "patroni_postgres_running",
        "patroni_primary",
        "patroni_replica",
        "patroni_sync_standby",
        "patroni_xlog_location",
        "patroni_xlog_received_location",
        "patroni_xlog_replayed_location",
        "patroni_postgres_timeline",
        "patroni_cluster_unlocked",
        "patroni_dcs_last_seen",
        "patroni_is_paused",
    ],
    postgres: ["pg_up", "pg_stat_database_numbackends", "pg_stat_database_xact_commit", "pg_database_size_bytes", "pg_wal_receiver_streaming"],
    etcd: ["etcd_server_has_leader", "etcd_server_leader_changes_seen_total", "etcd_mvcc_db_total_size_in_bytes"],
    backup: [
        "swarm_ha_backup_last_success_timestamp_seconds",
        "swarm_ha_backup_last_attempt_success",
        "swarm_ha_backup_last_attempt_timestamp_seconds",
        "swarm_ha_backup_restore_check_ok",
        "swarm_ha_backup_good_backups",
        "swarm_ha_backup_last_size_bytes",
        "swarm_ha_backup_last_duration_seconds",
    ],
    prometheus: ["prometheus_tsdb_head_series"],
    alertmanager: ["alertmanager_cluster_members", "alertmanager_notifications_failed_total"],
    all: ["up"],
};
const ALLOWED_METRICS = new Set(Object.values(CONTRACT_METRICS).flat());

/** The labels the contract names (every series' own four, and each metric's). */
const ALLOWED_LABELS = new Set([
    "job", "node", "service", "instance",
    "mountpoint", "fstype", "device", "cpu", "mode",
    "container_label_com_docker_swarm_service_name", "container_label_com_docker_swarm_node_id",
    "role", "availability",
    "proxy", "code", "state", "server",
    "method", "route", "status", "le", "result", "dependency",
    "scope", "datname", "integration",
]);

const PROMQL_KEYWORDS = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan"]);

/** The metric names an expression reads: identifiers that are not functions, keywords, labels or durations. */
function metricNames(expr: string): string[] {
    const s = expr
        .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
        .replace(/\{[^}]*\}/g, " ") // label matchers
        .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
        .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " "); // label lists
    const names: string[] = [];
    for (const m of s.matchAll(/(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*)|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
        if (m[1] !== undefined) continue; // a number or duration
        if (m[3] !== undefined) continue; // a function or aggregation
        if (PROMQL_KEYWORDS.has(m[2].toLowerCase())) continue;
        names.push(m[2]);
    }
    return names;
}

/** The label names an expression uses, in matchers and in by/on/... lists. */
function labelNames(expr: string): string[] {
    const s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
    const out: string[] = [];
    for (const m of s.matchAll(/\{([^}]*)\}/g)) for (const l of m[1].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) out.push(l[1]);
    for (const m of s.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
        for (const l of m[1].split(",").map((x) => x.trim()).filter(Boolean)) out.push(l);
    }
    return out;
}

interface Query {
    dashboard: string;
    panel: DashboardPanel;
    refId: string;
    expr: string;
    /** The recording rule it becomes for promtool. */
    record: string;
}

const DASHBOARDS: Record<string, Dashboard> = Object.fromEntries(DASHBOARD_NAMES.map((n) => [n, parseDashboard(n)]));
const QUERIES: Query[] = DASHBOARD_NAMES.flatMap((dashboard) =>
    dashboardPanels(DASHBOARDS[dashboard]).flatMap((panel) =>
        (panel.targets ?? []).map((t) => ({
            dashboard,
            panel,
            refId: t.refId!,
            expr: t.expr!,
            record: `swarm_ha_dashboard:${dashboard}:panel${panel.id}_${t.refId}`,
        })),
    ),
);

function query(dashboard: string, title: string, refId = "A"): Query {
    const q = QUERIES.find((x) => x.dashboard === dashboard && x.panel.title === title && x.refId === refId);
    if (!q) throw new Error(`the ${dashboard} dashboard has no panel "${title}" with a query ${refId} (renamed? update this test)`);
    return q;
}

function describeQuery(q: Query): string {
    return `${q.record} = ${q.dashboard} / "${q.panel.title}" ${q.refId}: ${q.expr}`;
}

/** The queries promtool's output names (by their recording rule), or all of them. */
function named(output: string): string {
    const hit = QUERIES.filter((q) => new RegExp(`${q.record.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`).test(output));
    return `queries:\n  ${(hit.length > 0 ? hit : QUERIES).map(describeQuery).join("\n  ")}`;
}

/** Runs promtool, failing (never skipping) with how to get it when it is missing. */
function promtool(args: string[]): { status: number; output: string } {
    const r = spawnSync(PROMTOOL, args, { encoding: "utf8", timeout: 10_000 });
    if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new Error("promtool is missing: the dashboards' PromQL is checked with the real one (Prometheus 2.42). Install it (Debian/Ubuntu: sudo apt-get install prometheus), then run the tests again.");
    }
    if (r.error) throw r.error;
    return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

let tmp: string;
beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-grafana-"));
});
afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function writeRules(file: string): void {
    const doc = { groups: [{ name: "dashboards", rules: QUERIES.map((q) => ({ record: q.record, expr: q.expr })) }] };
    fs.writeFileSync(file, JSON.stringify(doc, null, 1)); // JSON is YAML
}

// ---------------------------------------------------------------------------------------------
// The files.

describe("the dashboards' files", () => {
    test("are the three JSON files beside the renderer, nothing else", () => {
        expect(Object.keys(DASHBOARD_FILES).sort()).toEqual([...DASHBOARD_NAMES].sort());
        for (const [name, file] of Object.entries(DASHBOARD_FILES)) {
            expect(path.isAbsolute(file)).toBe(true);
            expect(file).toBe(path.join(DASHBOARDS_DIR, `${name}.json`));
            expect(fs.existsSync(file)).toBe(true);
        }
        expect(fs.readdirSync(DASHBOARDS_DIR).sort()).toEqual(DASHBOARD_NAMES.map((n) => `${n}.json`).sort());
        expect(DASHBOARDS_DIR).toBe(path.resolve(__dirname, "..", "components", "monitoring", "dashboards"));
    });

    test("readDashboard returns the file's text, and names an unknown dashboard", () => {
        for (const name of DASHBOARD_NAMES) expect(readDashboard(name)).toBe(fs.readFileSync(DASHBOARD_FILES[name], "utf8"));
        expect(() => readDashboard("nope")).toThrow(/no dashboard named "nope" \(there are cluster, edge, data\)/);
    });

    test.each(DASHBOARD_NAMES)("%s: valid JSON, Grafana 11's schema, a stable uid, read-only", (name) => {
        const d = JSON.parse(readDashboard(name));
        expect(d.uid).toBe(`swarm-ha-${name}`);
        expect(d.uid.length).toBeLessThanOrEqual(40);
        expect(d.title).toMatch(/^swarm-ha \/ /);
        expect(d.schemaVersion).toBe(39);
        expect(d.editable).toBe(false);
        expect(d.id).toBeNull();
        expect(d.tags).toContain("swarm-ha");
        expect(d.templating).toEqual({ list: [] });
        expect(Array.isArray(d.panels) && d.panels.length).toBeTruthy();
    });

    test("uids and titles differ between dashboards", () => {
        const uids = DASHBOARD_NAMES.map((n) => DASHBOARDS[n].uid);
        const titles = DASHBOARD_NAMES.map((n) => DASHBOARDS[n].title);
        expect(new Set(uids).size).toBe(uids.length);
        expect(new Set(titles).size).toBe(titles.length);
    });

    test.each(DASHBOARD_NAMES)("%s: unique panel ids, titles and refIds; panels on the grid without overlap", (name) => {
        const all: DashboardPanel[] = [];
        const walk = (ps: DashboardPanel[] = []) => ps.forEach((p) => (all.push(p), walk(p.panels)));
        walk(DASHBOARDS[name].panels);
        const ids = all.map((p) => p.id);
        expect(ids.every((id) => Number.isInteger(id) && id! > 0)).toBe(true);
        expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
        const titles = dashboardPanels(DASHBOARDS[name]).map((p) => p.title);
        expect(titles.filter((t, i) => titles.indexOf(t) !== i)).toEqual([]);
        const cells = new Map<string, string>();
        for (const p of all) {
            const g = p.gridPos as { x: number; y: number; w: number; h: number };
            expect(g.x + g.w).toBeLessThanOrEqual(24);
            for (let x = g.x; x < g.x + g.w; x++)
                for (let y = g.y; y < g.y + g.h; y++) {
                    const k = `${x},${y}`;
                    if (cells.has(k)) throw new Error(`panels "${cells.get(k)}" and "${p.title}" overlap at ${k}`);
                    cells.set(k, p.title!);
                }
        }
        for (const p of dashboardPanels(DASHBOARDS[name])) {
            const refIds = (p.targets ?? []).map((t) => t.refId);
            expect(new Set(refIds).size).toBe(refIds.length);
            expect(p.targets?.length).toBeGreaterThan(0);
            expect(typeof p.description === "string" && p.description.length > 0).toBe(true);
        }
    });

    test("every panel and every query is on the provisioned Prometheus data source", () => {
        for (const name of DASHBOARD_NAMES) {
            for (const p of dashboardPanels(DASHBOARDS[name])) {
                expect({ panel: p.title, ds: p.datasource }).toEqual({ panel: p.title, ds: { type: "prometheus", uid: GRAFANA_DATASOURCE_UID } });
                for (const t of p.targets ?? []) expect({ panel: p.title, ds: t.datasource }).toEqual({ panel: p.title, ds: { type: "prometheus", uid: GRAFANA_DATASOURCE_UID } });
            }
            // Rows hold no queries.
            for (const r of DASHBOARDS[name].panels.filter((p) => p.type === "row")) expect(r.targets ?? []).toEqual([]);
        }
        expect(GRAFANA_DATASOURCE_UID).toBe("prometheus");
    });

    test("the data the brief asks for are there", () => {
        const exprs = (d: string) => QUERIES.filter((q) => q.dashboard === d).map((q) => q.expr).join("\n");
        for (const m of ["swarm_ha_node_ready", "swarm_ha_manager_reachable", "swarm_ha_service_replicas_desired", "swarm_ha_service_replicas_running", "node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes", "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"]) {
            expect(exprs("cluster")).toContain(m);
        }
        for (const m of ["haproxy_backend_active_servers", "haproxy_frontend_http_requests_total", 'code="5xx"', "haproxy_backend_response_time_average_seconds", "haproxy_frontend_current_sessions", "swarm_ha_vrrp_master", "http_request_duration_seconds_bucket", "histogram_quantile"]) {
            expect(exprs("edge")).toContain(m);
        }
        for (const m of ["redis_instance_info", "redis_up", "redis_connected_slaves", "patroni_primary", "patroni_replica", "patroni_xlog_location", "patroni_xlog_replayed_location", "patroni_sync_standby", "pg_up", "pg_stat_database_numbackends", "etcd_server_has_leader", "time() - max(swarm_ha_backup_last_success_timestamp_seconds)", "swarm_ha_backup_restore_check_ok"]) {
            expect(exprs("data")).toContain(m);
        }
    });
});

// ---------------------------------------------------------------------------------------------
// The queries.

describe("the dashboards' queries", () => {
    test("dashboardQueries lists every query of every panel, with its needs", () => {
        const listed = dashboardQueries();
        expect(listed).toEqual(
            QUERIES.map((q) => ({ dashboard: q.dashboard, panel: q.panel.title, expr: q.expr, ...(panelNeeds(q.panel) ? { needs: panelNeeds(q.panel) } : {}) })),
        );
        expect(listed.length).toBeGreaterThan(40);
        expect(new Set(listed.map((q) => q.dashboard))).toEqual(new Set(DASHBOARD_NAMES));
    });

    test("are plain PromQL: no Grafana variables, no __name__ tricks", () => {
        const bad = QUERIES.filter((q) => /\$|__name__/.test(q.expr)).map(describeQuery);
        expect(bad).toEqual([]);
    });

    test("every query parses as PromQL (promtool check rules)", () => {
        const file = path.join(tmp, "parse.rules.yml");
        writeRules(file);
        const r = promtool(["check", "rules", file]);
        if (r.status !== 0) throw new Error(`promtool check rules failed:\n${r.output}\n${named(r.output)}`);
        expect(r.output).toContain(`SUCCESS: ${QUERIES.length} rules found`);
    });

    test("the PromQL check catches a broken query (so the one above means something)", () => {
        const file = path.join(tmp, "broken.rules.yml");
        fs.writeFileSync(file, JSON.stringify({ groups: [{ name: "x", rules: [{ record: "x:y", expr: "sum by (node (up)" }] }] }));
        const r = promtool(["check", "rules", file]);
        expect(r.status).not.toBe(0);
        expect(r.output).toMatch(/parse error/);
    });

    test("every metric a query reads is in the contract", () => {
        const bad: string[] = [];
        for (const q of QUERIES) for (const m of metricNames(q.expr)) if (!ALLOWED_METRICS.has(m)) bad.push(`${m} in ${describeQuery(q)}`);
        expect(bad).toEqual([]);
        // The extraction itself.
        expect(metricNames('sum by (node) (rate(node_cpu_seconds_total{mode="idle"}[5m])) / on (node) group_left count(up == 0) or vector(1e-9) offset 5m')).toEqual(["node_cpu_seconds_total", "up"]);
        expect(metricNames("histogram_quantile(0.95, sum by (le) (rate(bogus_bucket[5m])))")).toEqual(["bogus_bucket"]);
    });

    test("every label a query names is in the contract", () => {
        const bad: string[] = [];
        for (const q of QUERIES) for (const l of labelNames(q.expr)) if (!ALLOWED_LABELS.has(l)) bad.push(`${l} in ${describeQuery(q)}`);
        expect(bad).toEqual([]);
    });

    test("every query returns data, and the computed ones the right data, on a contract-shaped scrape (promtool test rules)", () => {
        const rules = path.join(tmp, "eval.rules.yml");
        writeRules(rules);
        const everyQueryHasData = QUERIES.map((q) => ({ expr: `count(${q.record}) > bool 0`, eval_time: "10m", exp_samples: [{ labels: "{}", value: 1 }] }));
        const byNode = (q: Query, values: Record<string, number>) => ({
            expr: `round(sum by (node) (${q.record}), 0.001)`,
            eval_time: "10m",
            exp_samples: Object.entries(values).map(([node, value]) => ({ labels: `{node="${node}"}`, value })),
        });
        const total = (q: Query, value: number, by = "") => ({ expr: `round(sum${by}(${q.record}), 0.001)`, eval_time: "10m", exp_samples: [{ labels: "{}", value }] });
        const computed = [
            total(query("cluster", "Nodes ready"), 3),
            total(query("cluster", "Nodes ready", "B"), 4),
            total(query("cluster", "Nodes not ready"), 1),
            total(query("cluster", "Managers reachable"), 2),
            total(query("cluster", "Manager quorum"), 1),
            total(query("cluster", "Services short of replicas"), 1),
            total(query("cluster", "Scrape targets down"), 0),
            total(query("edge", "VIP holders"), 1),
            byNode(query("edge", "VIP holder per edge node"), { "lab-m1": 1, "lab-m2": 0 }),
            {
                expr: `round(${query("edge", "Backend 5xx share").record}, 0.001)`,
                eval_time: "10m",
                exp_samples: [{ labels: `{proxy="app"}`, value: 0.1 }, { labels: `{proxy="grafana"}`, value: 0 }],
            },
            total(query("edge", "App 5xx share"), 0),
            byNode(query("data", "Redis role per node"), { "lab-m1": 1, "lab-m2": 0, "lab-m3": 0 }),
            total(query("data", "Redis masters"), 1),
            byNode(query("data", "Replicas connected to the master"), { "lab-m1": 2 }),
            byNode(query("data", "Postgres role per node"), { "lab-m1": 2, "lab-m2": 1, "lab-m3": 1 }),
            total(query("data", "Postgres primaries"), 1),
            byNode(query("data", "Replication lag (bytes behind the primary)"), { "lab-m2": 1000, "lab-m3": 10000 }),
            byNode(query("data", "Synchronous standby"), { "lab-m1": 0, "lab-m2": 1, "lab-m3": 0 }),
            total(query("data", "Age of the last good backup"), 100),
        ];
        const doc = {
            rule_files: [path.basename(rules)],
            evaluation_interval: "15s",
            tests: [{ interval: "15s", input_series: fakeScrape(), promql_expr_test: [...everyQueryHasData, ...computed] }],
        };
        const file = path.join(tmp, "eval.test.yml");
        fs.writeFileSync(file, JSON.stringify(doc, null, 1));
        const r = promtool(["test", "rules", file]);
        if (r.status !== 0) throw new Error(`promtool test rules failed:\n${r.output}\n${named(r.output)}`);
        expect(r.output).toContain("SUCCESS");
    });
});

/**
 * A scrape shaped like the contract, 10 minutes of it at 15 s: three managers lab-m1..3 (m1 and
 * m2 edge nodes, m1 holding the VIP) and a worker lab-w1 that is down; Redis master on m1 with
 * replicas on m2 and m3; the Postgres primary on m1, m2 its synchronous standby 1000 bytes behind,
 * m3 10000 behind; a backup 100 s before the end; cAdvisor running.
 */
function fakeScrape(): { series: string; values: string }[] {
    const out: { series: string; values: string }[] = [];
    const steps = 40;
    const gauge = (v: number) => `${v}x${steps}`;
    /** A counter growing by `perSecond` (at 15 s a step). */
    const counter = (perSecond: number) => `0+${perSecond * 15}x${steps}`;
    let ip = 10;
    const add = (job: string, node: string, series: [string, Record<string, string>, string][], service = `swarm-ha-${job}`) => {
        const instance = `10.0.1.${ip++}:9000`;
        const common = { job, node, service, instance };
        for (const [name, labels, values] of series) {
            const all = { ...common, ...labels };
            out.push({ series: `${name}{${Object.entries(all).map(([k, v]) => `${k}="${v}"`).join(",")}}`, values });
        }
        out.push({ series: `up{job="${job}",node="${node}",service="${service}",instance="${instance}"}`, values: gauge(1) });
    };
    const managers = ["lab-m1", "lab-m2", "lab-m3"];
    const nodes = [...managers, "lab-w1"];
    const edge = ["lab-m1", "lab-m2"];
    for (const n of nodes) {
        const fsl = { mountpoint: "/", fstype: "ext4", device: "/dev/vda1" };
        add("node", n, [
            ["node_cpu_seconds_total", { cpu: "0", mode: "idle" }, counter(0.7)],
            ["node_cpu_seconds_total", { cpu: "0", mode: "user" }, counter(0.3)],
            ["node_memory_MemAvailable_bytes", {}, gauge(3e9)],
            ["node_memory_MemTotal_bytes", {}, gauge(8e9)],
            ["node_filesystem_avail_bytes", fsl, gauge(40e9)],
            ["node_filesystem_size_bytes", fsl, gauge(100e9)],
            ["node_load1", {}, gauge(0.5)],
            ["node_network_receive_bytes_total", { device: "eth0" }, counter(1000)],
            ...(edge.includes(n) ? [["swarm_ha_vrrp_master", {}, gauge(n === "lab-m1" ? 1 : 0)] as [string, Record<string, string>, string]] : []),
        ]);
        add("cadvisor", n, [
            ["container_cpu_usage_seconds_total", { container_label_com_docker_swarm_service_name: "swarm-ha-app", container_label_com_docker_swarm_node_id: `id-${n}` }, counter(0.1)],
            ["container_memory_working_set_bytes", { container_label_com_docker_swarm_service_name: "swarm-ha-app", container_label_com_docker_swarm_node_id: `id-${n}` }, gauge(1e8)],
        ]);
    }
    // The swarm exporter: its `node` and `service` labels are the subject's.
    const swarmInstance = "10.0.1.200:9000";
    const swarm = (name: string, labels: Record<string, string>, v: number) =>
        out.push({ series: `${name}{${Object.entries({ job: "swarm", instance: swarmInstance, ...labels }).map(([k, x]) => `${k}="${x}"`).join(",")}}`, values: gauge(v) });
    for (const n of nodes) swarm("swarm_ha_node_ready", { node: n, role: managers.includes(n) ? "manager" : "worker", availability: "active" }, n === "lab-w1" ? 0 : 1);
    for (const n of managers) swarm("swarm_ha_manager_reachable", { node: n }, n === "lab-m3" ? 0 : 1);
    swarm("swarm_ha_service_replicas_desired", { service: "swarm-ha-app" }, 2);
    swarm("swarm_ha_service_replicas_running", { service: "swarm-ha-app" }, 1);
    swarm("swarm_ha_service_replicas_desired", { service: "swarm-ha-redis-lab-m1" }, 1);
    swarm("swarm_ha_service_replicas_running", { service: "swarm-ha-redis-lab-m1" }, 1);
    out.push({ series: `up{job="swarm",node="lab-m1",service="swarm-ha-swarm-exporter",instance="${swarmInstance}"}`, values: gauge(1) });

    for (const n of edge) {
        add("haproxy", n, [
            ["haproxy_backend_active_servers", { proxy: "app" }, gauge(2)],
            ["haproxy_backend_backup_servers", { proxy: "app" }, gauge(0)],
            ["haproxy_backend_http_responses_total", { proxy: "app", code: "2xx" }, counter(9)],
            ["haproxy_backend_http_responses_total", { proxy: "app", code: "5xx" }, counter(1)],
            // A backend with no 5xx series at all: its share is 0, not missing.
            ["haproxy_backend_http_responses_total", { proxy: "grafana", code: "2xx" }, counter(1)],
            ["haproxy_frontend_http_requests_total", { proxy: "http" }, counter(10)],
            ["haproxy_backend_status", { proxy: "app", state: "UP" }, gauge(1)],
            ["haproxy_backend_status", { proxy: "app", state: "DOWN" }, gauge(0)],
            ["haproxy_server_status", { proxy: "app", server: "app1", state: "UP" }, gauge(1)],
            ["haproxy_backend_response_time_average_seconds", { proxy: "app" }, gauge(0.02)],
            ["haproxy_frontend_current_sessions", { proxy: "http" }, gauge(5)],
        ]);
    }
    for (const n of ["lab-w1", "lab-m3"]) {
        const h = { method: "GET", route: "/todos" };
        add("app", n, [
            // Only 200s: the app's 5xx share is 0, not missing.
            ["http_requests_total", { ...h, status: "200" }, counter(5)],
            ["http_request_duration_seconds_bucket", { ...h, le: "0.05" }, counter(4)],
            ["http_request_duration_seconds_bucket", { ...h, le: "0.5" }, counter(5)],
            ["http_request_duration_seconds_bucket", { ...h, le: "+Inf" }, counter(5)],
            ["app_ready", {}, gauge(1)],
            ["process_resident_memory_bytes", {}, gauge(5e7)],
        ], "swarm-ha-app");
    }
    for (const n of managers) {
        const master = n === "lab-m1";
        add("redis", n, [
            ["redis_up", {}, gauge(1)],
            ["redis_instance_info", { role: master ? "master" : "slave" }, gauge(1)],
            ["redis_connected_slaves", {}, gauge(master ? 2 : 0)],
            ...(master ? [] : [["redis_master_link_up", {}, gauge(1)] as [string, Record<string, string>, string]]),
            ["redis_connected_clients", {}, gauge(3)],
            ["redis_memory_used_bytes", {}, gauge(1e6)],
            ["redis_commands_processed_total", {}, counter(20)],
        ], `swarm-ha-redis-${n}`);
        const primary = n === "lab-m1";
        const scope = { scope: "swarm-ha" };
        add("patroni", n, [
            ["patroni_postgres_running", scope, gauge(1)],
            ["patroni_primary", scope, gauge(primary ? 1 : 0)],
            ["patroni_replica", scope, gauge(primary ? 0 : 1)],
            ["patroni_sync_standby", scope, gauge(n === "lab-m2" ? 1 : 0)],
            ["patroni_xlog_location", scope, gauge(primary ? 1_000_000 : 0)],
            ["patroni_xlog_received_location", scope, gauge(primary ? 0 : 999_000)],
            ["patroni_xlog_replayed_location", scope, gauge(primary ? 0 : n === "lab-m2" ? 999_000 : 990_000)],
            ["patroni_postgres_timeline", scope, gauge(1)],
            ["patroni_cluster_unlocked", scope, gauge(0)],
            ["patroni_is_paused", scope, gauge(0)],
        ], `swarm-ha-postgres-${n}`);
        add("postgres", n, [
            ["pg_up", {}, gauge(1)],
            ["pg_stat_database_numbackends", { datname: "app" }, gauge(4)],
            ...(primary ? [] : [["pg_wal_receiver_streaming", {}, gauge(1)] as [string, Record<string, string>, string]]),
        ], `swarm-ha-postgres-${n}`);
        add("etcd", n, [
            ["etcd_server_has_leader", {}, gauge(1)],
            ["etcd_server_leader_changes_seen_total", {}, "1x40"],
            ["etcd_mvcc_db_total_size_in_bytes", {}, gauge(1e5)],
        ], `swarm-ha-etcd-${n}`);
        add("alertmanager", n, [["alertmanager_cluster_members", {}, gauge(2)]]);
    }
    add("backup", "lab-m2", [
        // 10 minutes in, time() is 600.
        ["swarm_ha_backup_last_success_timestamp_seconds", {}, gauge(500)],
        ["swarm_ha_backup_last_attempt_success", {}, gauge(1)],
        ["swarm_ha_backup_last_attempt_timestamp_seconds", {}, gauge(480)],
        ["swarm_ha_backup_restore_check_ok", {}, gauge(1)],
        ["swarm_ha_backup_good_backups", {}, gauge(3)],
        ["swarm_ha_backup_last_size_bytes", {}, gauge(2e6)],
        ["swarm_ha_backup_last_duration_seconds", {}, gauge(12)],
    ]);
    add("prometheus", "lab-m1", [["prometheus_tsdb_head_series", {}, gauge(5000)]]);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Panels that need what may not run.

describe("panels that need cAdvisor", () => {
    const all = DASHBOARD_NAMES.flatMap((d) => dashboardPanels(DASHBOARDS[d]).map((p) => ({ d, p })));

    test("a cAdvisor panel is marked, in the field and in its description; a node-exporter panel is not", () => {
        const cpu = all.find(({ d, p }) => d === "cluster" && p.title === "CPU per service")!.p;
        expect(cpu[PANEL_META_KEY]).toEqual({ needs: "cadvisor" });
        expect(panelNeeds(cpu)).toBe("cadvisor");
        expect(cpu.description!.endsWith(` ${PANEL_NEEDS_NOTE.cadvisor}`)).toBe(true);
        const node = all.find(({ d, p }) => d === "cluster" && p.title === "CPU busy per node")!.p;
        expect(node[PANEL_META_KEY]).toBeUndefined();
        expect(panelNeeds(node)).toBeUndefined();
        expect(node.description).not.toContain("cAdvisor");
        expect(PANEL_META_KEY).toBe("swarm-ha");
        expect([...PANEL_NEEDS]).toEqual(["cadvisor"]);
    });

    test("exactly the panels reading cAdvisor's metrics are marked, and the note matches the field", () => {
        for (const { d, p } of all) {
            const readsCadvisor = (p.targets ?? []).some((t) => metricNames(t.expr!).some((m) => CONTRACT_METRICS.cadvisor.includes(m)));
            expect({ dashboard: d, panel: p.title, needs: panelNeeds(p) }).toEqual({ dashboard: d, panel: p.title, needs: readsCadvisor ? "cadvisor" : undefined });
            for (const need of PANEL_NEEDS) expect({ panel: p.title, note: p.description!.endsWith(PANEL_NEEDS_NOTE[need]) }).toEqual({ panel: p.title, note: panelNeeds(p) === need });
        }
        expect(dashboardQueries().filter((q) => q.needs).map((q) => q.panel)).toEqual(["CPU per service", "Memory per service"]);
    });

    test("an unknown need is refused, naming the panel", () => {
        expect(() => panelNeeds({ title: "X", [PANEL_META_KEY]: { needs: "gpu" } })).toThrow(/panel "X" needs "gpu", which is not one of cadvisor/);
    });
});

// ---------------------------------------------------------------------------------------------
// Provisioning.

describe("renderDatasources", () => {
    test("one Prometheus data source, uid prometheus, the default, not editable", () => {
        const doc = parse(renderDatasources({ prometheusUrl: "http://swarm-ha-prometheus:9090" }));
        expect(doc).toEqual({
            apiVersion: 1,
            datasources: [
                {
                    name: "Prometheus",
                    uid: "prometheus",
                    type: "prometheus",
                    access: "proxy",
                    url: "http://swarm-ha-prometheus:9090",
                    isDefault: true,
                    editable: false,
                    jsonData: { httpMethod: "POST" },
                },
            ],
        });
    });

    test("keeps a path, drops a trailing slash, takes https", () => {
        expect(parse(renderDatasources({ prometheusUrl: "https://prom.example.com/prometheus/" })).datasources[0].url).toBe("https://prom.example.com/prometheus");
    });

    test.each([
        ["swarm-ha-prometheus:9090", /prometheusUrl must be http:\/\/ or https:\/\/|prometheusUrl "swarm-ha-prometheus:9090" is not a URL/],
        ["not a url", /prometheusUrl "not a url" is not a URL/],
        ["", /prometheusUrl "" is not a URL/],
        ["ftp://prom:9090", /prometheusUrl must be http:\/\/ or https:\/\/, not ftp:/],
        ["http://admin:secret@prom:9090", /prometheusUrl must not carry a user or password/],
        ["http://prom:9090/?x=1", /prometheusUrl must have no query or fragment/],
    ])("refuses %j, naming prometheusUrl", (url, message) => {
        expect(() => renderDatasources({ prometheusUrl: url })).toThrow(message);
        expect(() => renderDatasources({ prometheusUrl: url })).toThrow(/^swarm-ha: cannot render Grafana's data sources/);
    });
});

describe("renderDashboardProvider", () => {
    test("a file provider for the folder: not deletable, not saved from the UI", () => {
        const doc = parse(renderDashboardProvider({ path: "/etc/grafana/dashboards" }));
        expect(doc).toEqual({
            apiVersion: 1,
            providers: [
                {
                    name: "swarm-ha",
                    orgId: 1,
                    folder: "swarm-ha",
                    type: "file",
                    disableDeletion: true,
                    allowUiUpdates: false,
                    updateIntervalSeconds: 30,
                    options: { path: "/etc/grafana/dashboards", foldersFromFilesStructure: false },
                },
            ],
        });
        expect(parse(renderDashboardProvider({ path: "/var/lib/grafana/dashboards/" })).providers[0].options.path).toBe("/var/lib/grafana/dashboards");
    });

    test.each([
        ["etc/grafana/dashboards", /path must be an absolute path, not "etc\/grafana\/dashboards"/],
        ["", /path must be an absolute path/],
        ["/etc/grafana/../dashboards", /path "\/etc\/grafana\/..\/dashboards" must not contain "\.\."/],
        ["/etc/grafana dashboards", /path "\/etc\/grafana dashboards" may hold only letters/],
        ["/", /path must not be \//],
    ])("refuses %j, naming path", (p, message) => {
        expect(() => renderDashboardProvider({ path: p })).toThrow(message);
        expect(() => renderDashboardProvider({ path: p })).toThrow(/^swarm-ha: cannot render Grafana's dashboard provider/);
    });
});
