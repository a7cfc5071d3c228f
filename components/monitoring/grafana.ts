/**
 * Grafana's provisioning: typed input in, YAML text out, no Pulumi inside; and swarm-ha's three
 * dashboards, static JSON files beside this one (dashboards/*.json), read with fs at run time.
 *
 *   cluster  the swarm (nodes, managers, services' replicas), the nodes (node-exporter) and the
 *            containers (cAdvisor)
 *   edge     the VIP holder (keepalived), HAProxy's backends, traffic, errors and sessions, and
 *            the app's requests and latency
 *   data     Redis, Postgres (Patroni), etcd and the backups
 *
 * The dashboards query one data source, provisioned with the uid `prometheus`
 * (GRAFANA_DATASOURCE_UID); they are read-only in Grafana (`editable: false`, and the provider
 * forbids saving changes from the UI). Their queries are plain PromQL, with no Grafana
 * variables, so that a check can run each one as is against Prometheus (dashboardQueries).
 *
 * A panel whose data come from something that may not run (cAdvisor can be turned off, and the
 * lab does not run it) says so in a field Grafana ignores, and in words at the end of its
 * description:
 *
 *   "swarm-ha": { "needs": "cadvisor" }
 *   "description": "... Needs cAdvisor: empty where cAdvisor does not run (...)."
 *
 * PANEL_META_KEY and PANEL_NEEDS name the field and its values; panelNeeds() reads it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";

/** The uid of the provisioned Prometheus data source; every panel and query names it. */
export const GRAFANA_DATASOURCE_UID = "prometheus";

export const DASHBOARD_NAMES = ["cluster", "edge", "data"] as const;
export type DashboardName = (typeof DASHBOARD_NAMES)[number];

/** The folder of the dashboards' JSON files. */
export const DASHBOARDS_DIR = path.join(__dirname, "dashboards");

/** Each dashboard's JSON file (absolute path); the file name is also its name in the container. */
export const DASHBOARD_FILES: Record<DashboardName, string> = {
    cluster: path.join(DASHBOARDS_DIR, "cluster.json"),
    edge: path.join(DASHBOARDS_DIR, "edge.json"),
    data: path.join(DASHBOARDS_DIR, "data.json"),
};

/** The key, on a panel, of swarm-ha's own panel fields (Grafana ignores it). */
export const PANEL_META_KEY = "swarm-ha";

/** What a panel may need beyond the always-present exporters: the value of `"swarm-ha": { "needs": ... }`. */
export const PANEL_NEEDS = ["cadvisor"] as const;
export type PanelNeed = (typeof PANEL_NEEDS)[number];

/** The sentence a panel's description ends with when it has `needs` (for people; the field is for programs). */
export const PANEL_NEEDS_NOTE: Record<PanelNeed, string> = {
    cadvisor: "Needs cAdvisor: empty where cAdvisor does not run (config cadvisor: false, or the lab).",
};

/** One query of one panel. */
export interface DashboardQuery {
    /** The dashboard's name (cluster, edge, data). */
    dashboard: string;
    /** The panel's title. */
    panel: string;
    /** The PromQL, exactly as Grafana sends it. */
    expr: string;
    /** What the panel needs that may not run (a PANEL_NEEDS value); absent: its data are always expected. */
    needs?: string;
}

/** A panel, as much of it as swarm-ha reads. */
export interface DashboardPanel {
    id?: number;
    type?: string;
    title?: string;
    description?: string;
    datasource?: { type?: string; uid?: string } | null;
    targets?: { refId?: string; expr?: string; datasource?: { type?: string; uid?: string } | null }[];
    /** A row's panels while it is collapsed. */
    panels?: DashboardPanel[];
    [PANEL_META_KEY]?: { needs?: string };
    [key: string]: unknown;
}

export interface Dashboard {
    uid: string;
    title: string;
    panels: DashboardPanel[];
    [key: string]: unknown;
}

function checkName(name: string): DashboardName {
    if (!(DASHBOARD_NAMES as readonly string[]).includes(name)) {
        throw new Error(`swarm-ha: no dashboard named "${name}" (there are ${DASHBOARD_NAMES.join(", ")})`);
    }
    return name as DashboardName;
}

/** A dashboard's JSON text, as Grafana is to load it. */
export function readDashboard(name: DashboardName | string): string {
    const file = DASHBOARD_FILES[checkName(name)];
    try {
        return fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new Error(`swarm-ha: cannot read the ${name} dashboard (${file}): ${(e as Error).message}`);
    }
}

/** A dashboard, parsed. */
export function parseDashboard(name: DashboardName | string): Dashboard {
    const text = readDashboard(name);
    try {
        return JSON.parse(text) as Dashboard;
    } catch (e) {
        throw new Error(`swarm-ha: the ${name} dashboard (${DASHBOARD_FILES[name as DashboardName]}) is not valid JSON: ${(e as Error).message}`);
    }
}

/** Every panel of a dashboard, rows' collapsed panels included, rows themselves left out. */
export function dashboardPanels(dashboard: Dashboard): DashboardPanel[] {
    const out: DashboardPanel[] = [];
    const walk = (panels: DashboardPanel[] | undefined) => {
        for (const p of panels ?? []) {
            if (p.type === "row") walk(p.panels);
            else out.push(p);
        }
    };
    walk(dashboard.panels);
    return out;
}

/** What a panel needs that may not run (its `"swarm-ha": { "needs" }`), or undefined. Throws on a value not in PANEL_NEEDS. */
export function panelNeeds(panel: DashboardPanel): PanelNeed | undefined {
    const needs = panel[PANEL_META_KEY]?.needs;
    if (needs === undefined) return undefined;
    if (!(PANEL_NEEDS as readonly string[]).includes(needs)) {
        throw new Error(`swarm-ha: panel "${panel.title}" needs "${needs}", which is not one of ${PANEL_NEEDS.join(", ")}`);
    }
    return needs as PanelNeed;
}

/** Every query of every panel of every dashboard, in dashboard and panel order. */
export function dashboardQueries(): DashboardQuery[] {
    const out: DashboardQuery[] = [];
    for (const name of DASHBOARD_NAMES) {
        for (const panel of dashboardPanels(parseDashboard(name))) {
            const needs = panelNeeds(panel);
            for (const t of panel.targets ?? []) {
                if (typeof t.expr !== "string" || t.expr.trim() === "") {
                    throw new Error(`swarm-ha: the ${name} dashboard's panel "${panel.title}" has a query (refId ${t.refId}) without an expr`);
                }
                out.push({ dashboard: name, panel: panel.title ?? `#${panel.id}`, expr: t.expr, ...(needs ? { needs } : {}) });
            }
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Provisioning.

export interface DatasourcesInput {
    /**
     * Prometheus's URL as Grafana's server reaches it (Grafana proxies the queries).
     * @example "http://swarm-ha-prometheus:9090"
     */
    prometheusUrl: string;
}

/** Renders provisioning/datasources/*.yaml: Prometheus, uid `prometheus`, the default, not editable. */
export function renderDatasources(input: DatasourcesInput): string {
    const problems: string[] = [];
    let url: URL | undefined;
    try {
        url = new URL(input.prometheusUrl);
    } catch {
        problems.push(`prometheusUrl "${input.prometheusUrl}" is not a URL: give http://<prometheus service>:<port>`);
    }
    if (url) {
        if (url.protocol !== "http:" && url.protocol !== "https:") problems.push(`prometheusUrl must be http:// or https://, not ${url.protocol}`);
        if (url.username || url.password) problems.push("prometheusUrl must not carry a user or password (the provisioning file is not a secret)");
        if (url.search || url.hash) problems.push(`prometheusUrl must have no query or fragment, not "${url.search}${url.hash}"`);
        if (/\s/.test(input.prometheusUrl)) problems.push("prometheusUrl must not contain whitespace");
    }
    if (problems.length > 0) throw new Error(`swarm-ha: cannot render Grafana's data sources:\n  - ${problems.join("\n  - ")}`);
    const doc = {
        apiVersion: 1,
        datasources: [
            {
                name: "Prometheus",
                uid: GRAFANA_DATASOURCE_UID,
                type: "prometheus",
                access: "proxy",
                url: input.prometheusUrl.replace(/\/+$/, ""),
                isDefault: true,
                editable: false,
                jsonData: { httpMethod: "POST" },
            },
        ],
    };
    return stringify(doc, { lineWidth: 0 });
}

export interface DashboardProviderInput {
    /**
     * The folder, inside Grafana's container, the dashboards' JSON files are in.
     * @example "/etc/grafana/dashboards"
     */
    path: string;
}

/** Renders provisioning/dashboards/*.yaml: a file provider for `path`, dashboards neither deletable nor saved from the UI. */
export function renderDashboardProvider(input: DashboardProviderInput): string {
    const p = input.path;
    const problems: string[] = [];
    if (typeof p !== "string" || !p.startsWith("/")) problems.push(`path must be an absolute path, not "${p}"`);
    else {
        if (!/^\/[A-Za-z0-9._/-]*$/.test(p)) problems.push(`path "${p}" may hold only letters, digits, '.', '_', '-' and '/'`);
        if (p.split("/").some((s) => s === "..")) problems.push(`path "${p}" must not contain ".."`);
        if (p.replace(/\/+$/, "") === "") problems.push("path must not be / (Grafana would read every JSON file of the container)");
    }
    if (problems.length > 0) throw new Error(`swarm-ha: cannot render Grafana's dashboard provider:\n  - ${problems.join("\n  - ")}`);
    const doc = {
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
                options: { path: p.replace(/(.)\/+$/, "$1"), foldersFromFilesStructure: false },
            },
        ],
    };
    return stringify(doc, { lineWidth: 0 });
}
