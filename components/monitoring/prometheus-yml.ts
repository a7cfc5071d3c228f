/**
 * Prometheus's prometheus.yml: typed input in, YAML text out, no Pulumi inside.
 *
 * Targets are found through Docker Swarm service discovery (the tasks role), asked of the
 * Docker API through swarm-ha's read-only proxy, never the raw socket. A service is scraped
 * when it carries the labels below (METRICS_LABELS), so adding a tier adds its scrape by
 * labelling its service, not by editing a list here:
 *
 *   swarm-ha.metrics.job      the `job` label of its series (node, app, haproxy, redis, ...)
 *   swarm-ha.metrics.port     the port its metrics are served on, inside the task
 *   swarm-ha.metrics.path     the path (default /metrics)
 *   swarm-ha.metrics.network  the kind of network to reach it on (app, data, monitoring, edge,
 *                             data-access): a task has one address per network, and Prometheus
 *                             reaches only the networks it is attached to (data-access only
 *                             through the Redis exporter, which is on it)
 *
 * Every series gets `node` (the swarm node the task runs on) and `service` (its Docker
 * service). Three jobs differ: `haproxy` is behind the stats password, `redis` is scraped
 * through the Redis exporter (multi-target: /scrape?target=redis://<task>:6379, labelled as
 * the Redis task), and `swarm` (swarm-ha's swarm exporter) keeps its own `node` label, which
 * names the node a series is about.
 */
import { stringify } from "yaml";

export const METRICS_LABELS = {
    job: "swarm-ha.metrics.job",
    port: "swarm-ha.metrics.port",
    path: "swarm-ha.metrics.path",
    network: "swarm-ha.metrics.network",
} as const;

/** The networks a scraped task may be reached on. */
export const SCRAPED_NETWORK_KINDS = ["edge", "app", "data-access", "data", "monitoring"] as const;
export type ScrapedNetworkKind = (typeof SCRAPED_NETWORK_KINDS)[number];

/** The Service labels that make a service's tasks scraped. */
export function metricsLabels(m: { job: string; port: number; network: ScrapedNetworkKind; path?: string }): Record<string, string> {
    return {
        [METRICS_LABELS.job]: m.job,
        [METRICS_LABELS.port]: String(m.port),
        [METRICS_LABELS.network]: m.network,
        ...(m.path ? { [METRICS_LABELS.path]: m.path } : {}),
    };
}

export interface PrometheusConfigInput {
    /**
     * The read-only Docker API proxy, as service discovery's `host`.
     * @example "http://swarm-ha-docker-api:2375"
     */
    dockerApiUrl: string;
    /**
     * The Docker names of the networks Prometheus is attached to, by kind (and of data-access,
     * which only the Redis exporter reaches): a task is scraped on the network its
     * `swarm-ha.metrics.network` label names. Kinds left out are not scraped.
     * @example { monitoring: "swarm-ha-monitoring", app: "swarm-ha-app", data: "swarm-ha-data" }
     */
    networks: Partial<Record<ScrapedNetworkKind, string>>;
    /** Seconds between scrapes (the swarm exporter's: half of it, at least 5). @example 10 */
    scrapeIntervalSeconds: number;
    /** Seconds between rule evaluations. @example 5 */
    evaluationIntervalSeconds: number;
    /**
     * The DNS name listing every Alertmanager task (`tasks.<service>`), and their port.
     * @example { host: "tasks.swarm-ha-alertmanager", port: 9093 }
     */
    alertmanagers: { host: string; port: number };
    /** The rule file's path inside the container. @example "/etc/prometheus/rules.yml" */
    rulesFile: string;
    /** HAProxy's metrics are behind the stats user and password (a Docker secret file). */
    haproxyAuth: { username: string; passwordFile: string };
    /** The Redis exporter (`host:port`) that scrapes each Redis task; absent without Redis. */
    redisExporter?: string;
    /** The port Redis listens on in its tasks. @example 6379 */
    redisPort?: number;
    /** Labels added to every series and alert (e.g. the stack's name). @example { stack: "prod" } */
    externalLabels?: Record<string, string>;
}

const HOST_PORT = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?:\d{1,5}$/;
const DNS_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Prometheus's name for a service label in discovery metadata (non-alphanumerics become _). */
function serviceLabelMeta(label: string): string {
    return `__meta_dockerswarm_service_label_${label.replace(/[^a-zA-Z0-9_]/g, "_")}`;
}

/** Throws naming every field that would make a broken or unsafe file. */
function validate(input: PrometheusConfigInput): void {
    const problems: string[] = [];
    let url: URL | undefined;
    try {
        url = new URL(input.dockerApiUrl);
    } catch {
        problems.push(`dockerApiUrl "${input.dockerApiUrl}" is not a URL: give http://<proxy service>:<port>`);
    }
    if (url && url.protocol !== "http:" && url.protocol !== "https:") problems.push(`dockerApiUrl must be http(s)://, not ${url.protocol} (the raw socket is never used)`);
    if (Object.keys(input.networks).length === 0) problems.push("networks is empty: Prometheus must reach at least the monitoring network");
    for (const [kind, name] of Object.entries(input.networks)) {
        if (!(SCRAPED_NETWORK_KINDS as readonly string[]).includes(kind)) problems.push(`networks.${kind} is not a network kind (${SCRAPED_NETWORK_KINDS.join(", ")})`);
        if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name ?? "")) problems.push(`networks.${kind} "${name}" is not a Docker network name`);
    }
    for (const [field, v, min] of [["scrapeIntervalSeconds", input.scrapeIntervalSeconds, 1], ["evaluationIntervalSeconds", input.evaluationIntervalSeconds, 1]] as const) {
        if (!Number.isInteger(v) || v < min || v > 600) problems.push(`${field} must be a whole number of seconds from ${min} to 600, not ${v}`);
    }
    if (!DNS_NAME.test(input.alertmanagers.host)) problems.push(`alertmanagers.host "${input.alertmanagers.host}" is not a DNS name`);
    if (!Number.isInteger(input.alertmanagers.port) || input.alertmanagers.port < 1 || input.alertmanagers.port > 65535) problems.push(`alertmanagers.port must be 1 to 65535`);
    if (!input.rulesFile.startsWith("/")) problems.push(`rulesFile must be an absolute path, not "${input.rulesFile}"`);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(input.haproxyAuth.username)) problems.push(`haproxyAuth.username "${input.haproxyAuth.username}" must be letters, digits, '.', '_' or '-'`);
    if (!input.haproxyAuth.passwordFile.startsWith("/run/secrets/")) problems.push(`haproxyAuth.passwordFile must be a Docker secret file (/run/secrets/...), not "${input.haproxyAuth.passwordFile}"`);
    if (input.redisExporter !== undefined && !HOST_PORT.test(input.redisExporter)) problems.push(`redisExporter "${input.redisExporter}" must be host:port`);
    if (input.redisExporter !== undefined && input.redisPort === undefined) problems.push("redisPort is needed with redisExporter");
    for (const name of Object.keys(input.externalLabels ?? {})) {
        if (!LABEL_NAME.test(name)) problems.push(`externalLabels: "${name}" is not a Prometheus label name`);
    }
    if (problems.length > 0) throw new Error(`swarm-ha: cannot render prometheus.yml:\n  - ${problems.join("\n  - ")}`);
}

type Relabel = Record<string, unknown>;

/** The relabelling every discovered job starts with: running tasks of services labelled `job`, on a network Prometheus shares. */
function discoveredTasks(input: PrometheusConfigInput, jobRegex: string, keep: "keep" | "drop"): Relabel[] {
    // RE2 has no back-references, so "the label names this network" is spelled out per kind.
    const reachable = Object.entries(input.networks).map(([kind, name]) => `${kind};${escapeRegex(name!)}`);
    return [
        // Tasks the swarm runs, as their node last reported: not a replacement still pending (it
        // has an address before it has a node), nor one that stopped. A task on a node that died
        // stays "running" until the node is back, and its failed scrapes carry that node's name.
        { source_labels: ["__meta_dockerswarm_task_desired_state", "__meta_dockerswarm_task_state"], regex: "running;running", action: "keep" },
        { source_labels: [serviceLabelMeta(METRICS_LABELS.job)], regex: ".+", action: "keep" },
        { source_labels: [serviceLabelMeta(METRICS_LABELS.job)], regex: jobRegex, action: keep },
        { source_labels: [serviceLabelMeta(METRICS_LABELS.network), "__meta_dockerswarm_network_name"], regex: reachable.join("|"), action: "keep" },
        { source_labels: [serviceLabelMeta(METRICS_LABELS.job)], target_label: "job" },
        { source_labels: ["__meta_dockerswarm_service_name"], target_label: "service" },
    ];
}

/** Sends the scrape to the task's address on its metrics port, at its metrics path. */
const toMetricsPort: Relabel[] = [
    // A task target is "<ip>:<a published port, or 80>" (one per published port: the duplicates
    // become identical targets, which Prometheus merges).
    { source_labels: ["__address__", serviceLabelMeta(METRICS_LABELS.port)], regex: "([^:]+):\\d+;(\\d+)", replacement: "$1:$2", target_label: "__address__" },
    { source_labels: [serviceLabelMeta(METRICS_LABELS.path)], regex: "(/.+)", target_label: "__metrics_path__" },
];

const nodeLabel: Relabel = { source_labels: ["__meta_dockerswarm_node_hostname"], target_label: "node" };

function escapeRegex(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Renders prometheus.yml. Throws, naming every field at fault, for input that would make a broken file. */
export function renderPrometheusConfig(input: PrometheusConfigInput): string {
    validate(input);
    const sd = (refreshSeconds: number) => [{ host: input.dockerApiUrl, role: "tasks", refresh_interval: `${refreshSeconds}s` }];
    // New tasks (a restarted Redis, a moved app task) should be scraped within a scrape or two.
    const refresh = Math.max(5, Math.min(15, input.scrapeIntervalSeconds));
    const special = ["haproxy", "swarm", ...(input.redisExporter ? ["redis"] : [])];
    const jobs: Record<string, unknown>[] = [
        {
            job_name: "tasks",
            dockerswarm_sd_configs: sd(refresh),
            relabel_configs: [...discoveredTasks(input, special.join("|"), "drop"), ...toMetricsPort, nodeLabel],
        },
        {
            job_name: "haproxy",
            basic_auth: { username: input.haproxyAuth.username, password_file: input.haproxyAuth.passwordFile },
            dockerswarm_sd_configs: sd(refresh),
            relabel_configs: [...discoveredTasks(input, "haproxy", "keep"), ...toMetricsPort, nodeLabel],
        },
        {
            // The exporter's series name the node or service they are about: keep its labels.
            job_name: "swarm",
            honor_labels: true,
            scrape_interval: `${Math.max(5, Math.floor(input.scrapeIntervalSeconds / 2))}s`,
            dockerswarm_sd_configs: sd(refresh),
            relabel_configs: [...discoveredTasks(input, "swarm", "keep"), ...toMetricsPort],
        },
    ];
    if (input.redisExporter) {
        jobs.push({
            job_name: "redis",
            metrics_path: "/scrape",
            dockerswarm_sd_configs: sd(refresh),
            relabel_configs: [
                ...discoveredTasks(input, "redis", "keep"),
                { source_labels: ["__address__"], regex: "([^:]+):\\d+", replacement: `redis://$1:${input.redisPort}`, target_label: "__param_target" },
                { source_labels: ["__address__"], regex: "([^:]+):\\d+", replacement: `$1:${input.redisPort}`, target_label: "instance" },
                { target_label: "__address__", replacement: input.redisExporter },
                nodeLabel,
            ],
        });
    }
    const doc = {
        global: {
            scrape_interval: `${input.scrapeIntervalSeconds}s`,
            scrape_timeout: `${Math.min(input.scrapeIntervalSeconds, 5)}s`,
            evaluation_interval: `${input.evaluationIntervalSeconds}s`,
            ...(input.externalLabels && Object.keys(input.externalLabels).length > 0 ? { external_labels: input.externalLabels } : {}),
        },
        rule_files: [input.rulesFile],
        alerting: {
            alertmanagers: [{ dns_sd_configs: [{ names: [input.alertmanagers.host], type: "A", port: input.alertmanagers.port, refresh_interval: "10s" }] }],
        },
        scrape_configs: jobs,
    };
    return `# prometheus.yml rendered by swarm-ha (components/monitoring/prometheus-yml.ts): change it there.\n${stringify(doc, { lineWidth: 0 })}`;
}
