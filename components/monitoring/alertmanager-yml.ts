/**
 * Alertmanager's alertmanager.yml: typed input in, YAML text out, no Pulumi inside.
 *
 * The receivers' credentials (SMTP password, Slack webhook URL) are written into the text, so
 * the component delivers it as a Docker secret, never as a config; nothing else holds them.
 *
 * Routing: one incident is one page. Alerts are grouped by name and service (two nodes down
 * are one NodeDown notification; a second service short of tasks is a page of its own, sent
 * after group_wait rather than held for the first one's group_interval), and the alerts a
 * bigger one explains are inhibited (a dead node's exporters, disks and the replicas the
 * swarm moves off it; a Redis or Postgres with no primary explains its members being down). Critical and warning alerts go
 * to every receiver; informational ones (the VIP moved) to the chat and webhook receivers,
 * never to email. The Watchdog, always firing, goes to the dead man's switch alone, every
 * minute: when those pings stop, the switch pages (alerting itself is down).
 */
import { stringify } from "yaml";

export interface EmailReceiver {
    /** @example "ops@example.com" */
    to: string;
    /** @example "alertmanager@example.com" */
    from: string;
    /** SMTP server, host:port. @example "smtp.example.com:587" */
    smarthost: string;
    /** SMTP login; absent for a server that takes mail without one. */
    username?: string;
    password?: string;
}

export interface AlertmanagerConfigInput {
    /** Generic webhook (Alertmanager's JSON payload), e.g. a pager's or the lab's recorder. */
    webhookUrl?: string;
    /**
     * A dead man's switch: a URL that pages when its pings stop (healthchecks.io, Cronitor,
     * PagerDuty's). It gets the Watchdog alert alone, every minute; absent, the Watchdog goes
     * nowhere (it stays visible in Alertmanager's UI).
     */
    deadMansSwitchUrl?: string;
    /** Slack's incoming-webhook URL (a credential) and channel. */
    slack?: { apiUrl: string; channel: string };
    email?: EmailReceiver;
    /** Seconds a new group waits for more alerts before its first notification. @example 5 */
    groupWaitSeconds: number;
    /** Hours between repeats of a notification for alerts still firing. @example 4 */
    repeatIntervalHours: number;
}

const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+$/;
const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$/;

function validate(input: AlertmanagerConfigInput): void {
    const problems: string[] = [];
    const url = (field: string, v: string) => {
        try {
            const u = new URL(v);
            if (u.protocol !== "http:" && u.protocol !== "https:") problems.push(`${field} must be an http(s) URL, not ${u.protocol}`);
        } catch {
            problems.push(`${field} is not a URL`);
        }
    };
    if (input.webhookUrl !== undefined) url("webhookUrl", input.webhookUrl);
    if (input.deadMansSwitchUrl !== undefined) url("deadMansSwitchUrl", input.deadMansSwitchUrl);
    if (input.slack) {
        url("slack.apiUrl", input.slack.apiUrl);
        if (!/^[#@]?[a-z0-9._-]{1,80}$/i.test(input.slack.channel)) problems.push(`slack.channel "${input.slack.channel}" is not a channel name (e.g. #ops)`);
    }
    if (input.email) {
        if (!EMAIL.test(input.email.to)) problems.push(`email.to "${input.email.to}" is not an email address`);
        if (!EMAIL.test(input.email.from)) problems.push(`email.from "${input.email.from}" is not an email address`);
        if (!HOST_PORT.test(input.email.smarthost)) problems.push(`email.smarthost "${input.email.smarthost}" must be host:port (e.g. smtp.example.com:587)`);
        if ((input.email.username === undefined) !== (input.email.password === undefined)) problems.push("email.username and email.password go together: give both or neither");
    }
    if (!Number.isInteger(input.groupWaitSeconds) || input.groupWaitSeconds < 0 || input.groupWaitSeconds > 600) problems.push("groupWaitSeconds must be 0 to 600");
    if (!Number.isInteger(input.repeatIntervalHours) || input.repeatIntervalHours < 1 || input.repeatIntervalHours > 168) problems.push("repeatIntervalHours must be 1 to 168");
    if (problems.length > 0) throw new Error(`swarm-ha: cannot render alertmanager.yml:\n  - ${problems.join("\n  - ")}`);
}

/** Whether any receiver is configured (with none, alerts are only seen in Alertmanager's UI). */
export function hasReceivers(input: Pick<AlertmanagerConfigInput, "webhookUrl" | "slack" | "email">): boolean {
    return input.webhookUrl !== undefined || input.slack !== undefined || input.email !== undefined;
}

/** Alerts whose firing explains others: source alert → the alerts it silences, sharing `equal` labels. */
const INHIBITIONS: { source: string; targets: string; equal: string[] }[] = [
    { source: "NodeDown", targets: "NodeExporterDown|DiskSpaceLow|DiskSpaceCritical|MemoryPressure|CpuPressure|RedisDown|PostgresDown|HAProxyBackendNoServerUp", equal: ["node"] },
    // Every service with a task on the dead node is short of one until the swarm moves it.
    { source: "NodeDown", targets: "ServiceReplicasBelowDesired", equal: [] },
    { source: "ServiceDown", targets: "ServiceReplicasBelowDesired", equal: ["service"] },
    { source: "DiskSpaceCritical", targets: "DiskSpaceLow", equal: ["node", "mountpoint"] },
    { source: "RedisNoPrimary", targets: "RedisDown|RedisPrimaryChanged", equal: [] },
    { source: "PostgresNoPrimary", targets: "PostgresDown|PostgresReplicaNotStreaming|PostgresNoSyncStandby|PostgresReplicationLagHigh|PostgresPrimaryChanged", equal: [] },
    { source: "SwarmApiUnreachable", targets: "ManagerQuorumAtRisk", equal: [] },
];

/** Renders alertmanager.yml. Throws, naming every field at fault. */
export function renderAlertmanagerConfig(input: AlertmanagerConfigInput): string {
    validate(input);
    const webhook = input.webhookUrl ? { webhook_configs: [{ url: input.webhookUrl, send_resolved: true }] } : {};
    const slack = input.slack ? { slack_configs: [{ api_url: input.slack.apiUrl, channel: input.slack.channel, send_resolved: true }] } : {};
    const email = input.email
        ? {
              email_configs: [
                  {
                      to: input.email.to,
                      from: input.email.from,
                      smarthost: input.email.smarthost,
                      ...(input.email.username ? { auth_username: input.email.username, auth_password: input.email.password } : {}),
                      send_resolved: true,
                  },
              ],
          }
        : {};
    const doc = {
        route: {
            receiver: "page",
            group_by: ["alertname", "service"],
            group_wait: `${input.groupWaitSeconds}s`,
            group_interval: "1m",
            repeat_interval: `${input.repeatIntervalHours}h`,
            routes: [
                // The Watchdog first (it must never page): to the dead man's switch every minute.
                { receiver: "watchdog", matchers: ['alertname="Watchdog"'], group_wait: "0s", group_interval: "1m", repeat_interval: "1m" },
                { receiver: "inform", matchers: ['severity="info"'] },
            ],
        },
        inhibit_rules: INHIBITIONS.map((i) => ({
            source_matchers: [`alertname="${i.source}"`],
            target_matchers: [`alertname=~"${i.targets}"`],
            ...(i.equal.length > 0 ? { equal: i.equal } : {}),
        })),
        receivers: [
            { name: "page", ...webhook, ...slack, ...email },
            { name: "inform", ...webhook, ...slack },
            { name: "watchdog", ...(input.deadMansSwitchUrl ? { webhook_configs: [{ url: input.deadMansSwitchUrl, send_resolved: false }] } : {}) },
        ],
    };
    return `# alertmanager.yml rendered by swarm-ha (components/monitoring/alertmanager-yml.ts): change it there.\n# It holds the receivers' credentials: it is a Docker secret, never a config.\n${stringify(doc, { lineWidth: 0 })}`;
}
