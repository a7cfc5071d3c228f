/**
 * The lab's monitoring tier, as its users reach it: Prometheus and Alertmanager through HAProxy
 * on the VIP (their ports, config's defaults), behind the stats user and password.
 */
import { builtImageTag } from "../components/images/catalog";
import { PREFIX, VIP, onNode } from "./faults";
import { labSecret } from "./secrets";

export const PROMETHEUS_URL = `http://${VIP}:9090`;
export const ALERTMANAGER_URL = `http://${VIP}:9093`;
export const MONITORING_NETWORK = `${PREFIX}-monitoring`;
export const DOCKER_API = `${PREFIX}-docker-api`;

let authorization: string | undefined;
function auth(): string {
    authorization ??= `Basic ${Buffer.from(`admin:${labSecret("haproxy-stats-password")}`).toString("base64")}`;
    return authorization;
}

/** GET `url` with the stats user's credentials (or `withAuth` false: none); the status and body. */
export async function getAdmin(url: string, withAuth = true): Promise<{ status: number; body: string }> {
    const res = await fetch(url, { headers: withAuth ? { authorization: auth() } : {}, signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
}

/** Prometheus's HTTP API (`/api/v1/...`): its `data`, or a throw naming the error. */
export async function prometheus<T = any>(apiPath: string, params: Record<string, string> = {}): Promise<T> {
    const url = `${PROMETHEUS_URL}/api/v1/${apiPath}${Object.keys(params).length ? `?${new URLSearchParams(params)}` : ""}`;
    const { status, body } = await getAdmin(url);
    const doc = JSON.parse(body);
    if (status !== 200 || doc.status !== "success") throw new Error(`Prometheus ${apiPath}: ${status} ${doc.error ?? body.slice(0, 200)}`);
    return doc.data as T;
}

export interface Target {
    job: string;
    node?: string;
    service?: string;
    instance: string;
    health: "up" | "down" | "unknown";
    lastError: string;
}

/** The active scrape targets, with their labels. */
export async function targets(): Promise<Target[]> {
    const data = await prometheus<{ activeTargets: { labels: Record<string, string>; health: Target["health"]; lastError: string }[] }>("targets", { state: "active" });
    return data.activeTargets.map((t) => ({ job: t.labels.job, node: t.labels.node, service: t.labels.service, instance: t.labels.instance, health: t.health, lastError: t.lastError }));
}

/** An instant query's result. */
export async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const data = await prometheus<{ resultType: string; result: any }>("query", { query: expr });
    if (data.resultType === "scalar") return [{ metric: {}, value: data.result }];
    return data.result;
}

/** The alerts Prometheus has pending or firing. */
export async function alerts(): Promise<{ labels: Record<string, string>; state: "pending" | "firing" }[]> {
    return (await prometheus<{ alerts: { labels: Record<string, string>; state: "pending" | "firing" }[] }>("alerts")).alerts;
}

/** The names of the alerting rules Prometheus loaded. */
export async function ruleNames(): Promise<string[]> {
    const data = await prometheus<{ groups: { rules: { type: string; name: string }[] }[] }>("rules");
    return data.groups.flatMap((g) => g.rules.filter((r) => r.type === "alerting").map((r) => r.name));
}

/**
 * A request to the Docker API proxy from a one-off container on the monitoring network (run on
 * `node`'s engine, from the monitoring image): the HTTP status it answered.
 */
export function dockerApiStatus(node: string, method: string, apiPath: string): number {
    const out = onNode(
        node,
        `docker run --rm --network ${MONITORING_NETWORK} --entrypoint curl ${builtImageTag("monitoring")} -s -o /dev/null -w '%{http_code}' -X ${method} --max-time 5 http://${DOCKER_API}:2375${apiPath}`,
    );
    return Number(out.trim());
}
