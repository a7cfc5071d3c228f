/**
 * Prometheus's alerting rules (the rule file prometheus.yml's `rule_files` names): typed input
 * in, YAML text out, no Pulumi inside.
 *
 * Built against the metric contract of swarm-ha's monitoring tier: every series carries `job`,
 * `node` (the swarm node its task runs on), `service` and `instance`, except the swarm
 * exporter's, whose `node` and `service` name the node or service a series is about (its
 * service series have no `node`). An alert keeps those labels wherever its expression allows, so
 * a page says what and where, and Alertmanager's inhibitions (alertmanager-yml.ts) can match on
 * `node` and `service`.
 *
 * Timing, for a scrape interval of 10 s (5 s for the swarm exporter) and an evaluation interval
 * of 5 s. A failed scrape marks every series of the target stale, so a single missed scrape
 * makes the expression of an alert on those series empty for one scrape (it resets, never
 * fires), and sets `up` to 0 for one scrape (10 s): the `for:` of every alert on `up` is at
 * least 30 s. A fault is seen at the next scrape (≤ 10 s), fires after `for:` plus at most one
 * evaluation (5 s), and Alertmanager sends it after its group wait: the alerts with `for:` of
 * 10 s or 15 s (a node, a service, the VIP, a primary, etcd's leader) reach a receiver within
 * about 35 s of the fault, those with 30 s within about 50 s. Rolling updates of the app start
 * the new task first (running > desired, quiet); see ServiceDown for the services updated
 * stop-first.
 */
import { stringify } from "yaml";

/** What the rule file depends on: which tiers the stack runs, and two thresholds. */
export interface AlertRulesInput {
    /**
     * Whether the stack runs the data tier (Redis with Sentinel, Postgres with Patroni and
     * etcd, the backups). Without it no Redis, Postgres, Patroni, etcd or backup rule is
     * rendered (they would report the missing tier as down).
     * @example true
     */
    dataTier: boolean;
    /**
     * Whether the edge nodes hold a virtual IP with keepalived (its `swarm_ha_vrrp_master`
     * metric). Without it no VIP rule is rendered.
     * @example true
     */
    vip: boolean;
    /**
     * Whether Postgres runs in Patroni's synchronous mode: then a primary without a
     * synchronous standby (commits no longer copied before they are acknowledged) is an alert,
     * PostgresNoSyncStandby. Ignored without `dataTier`.
     * @example true
     */
    synchronousMode: boolean;
    /**
     * Bytes of WAL a Postgres replica may replay behind the primary before
     * PostgresReplicationLagHigh fires (e.g. Patroni's maximum_lag_on_failover: a replica
     * further behind is not promoted). A whole number above 0.
     * @example 1048576 // 1 MiB
     */
    postgresMaxLagBytes: number;
    /**
     * Seconds the last good backup may age before BackupTooOld fires: the backup interval
     * plus room for a run or two to fail. A whole number above 0.
     * @example 10800 // 3 h, with a backup every hour
     */
    backupMaxAgeSeconds: number;
}

/** Every alert this file can render, by group; {@link alertNames} lists those for one input. */
export const ALERT_NAMES = [
    // swarm
    "NodeDown",
    "ManagerQuorumAtRisk",
    "SwarmApiUnreachable",
    "ServiceReplicasBelowDesired",
    "ServiceDown",
    // edge
    "HAProxyBackendNoServerUp",
    "HAProxyHigh5xxRate",
    "VipHolderChanged",
    "VipNoHolder",
    "VipSplitBrain",
    // data
    "RedisDown",
    "RedisNoPrimary",
    "RedisTwoPrimaries",
    "RedisPrimaryChanged",
    "PostgresDown",
    "PostgresNoPrimary",
    "PostgresPrimaryChanged",
    "PostgresReplicationLagHigh",
    "PostgresReplicaNotStreaming",
    "PostgresNoSyncStandby",
    "EtcdNoLeader",
    "BackupTooOld",
    "BackupFailed",
    // hosts
    "NodeExporterDown",
    "DiskSpaceLow",
    "DiskSpaceCritical",
    "MemoryPressure",
    "CpuPressure",
    // monitoring
    "AlertmanagerClusterDegraded",
    "Watchdog",
] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

/** The recording rule RedisPrimaryChanged is built on: 1 per node whose Redis is master, 0 per node whose Redis is not. */
export const REDIS_IS_PRIMARY_RECORD = "swarm_ha:redis_is_primary:max";

/** "none": the Watchdog, never a page (Alertmanager sends it to the dead man's switch alone). */
export type Severity = "critical" | "warning" | "info" | "none";

interface AlertRule {
    alert: AlertName;
    expr: string;
    for?: string;
    labels: { severity: Severity } & Record<string, string>;
    annotations: { summary: string; description: string };
}
interface RecordingRule {
    record: string;
    expr: string;
}
type Rule = AlertRule | RecordingRule;
interface RuleGroup {
    name: string;
    rules: Rule[];
}

/**
 * Filesystems that are not disks (memory, kernel and container views): their free space is
 * not a host's. Matched whole by Prometheus.
 */
const NOT_DISKS = [
    "tmpfs", "ramfs", "devtmpfs", "overlay", "aufs", "squashfs", "nsfs", "proc", "sysfs", "procfs",
    "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs", "securityfs", "pstore", "bpf",
    "configfs", "fusectl", "hugetlbfs", "binfmt_misc", "autofs", "rpc_pipefs", "nfsd", "efivarfs",
    "selinuxfs", "fuse.lxcfs", "iso9660",
];
const DISKS = `fstype!~"${NOT_DISKS.map((f) => f.replace(/\./g, "\\\\.")).join("|")}"`;

/**
 * One alerting rule. An alert with several rules (different `for:`) gives each a `check` label:
 * rules with equal name and labels are refused by promtool, and their alerts would merge into
 * one in Alertmanager.
 */
function alert(
    name: AlertName,
    severity: Severity,
    forDuration: string | undefined,
    expr: string,
    summary: string,
    description: string,
    extraLabels: Record<string, string> = {},
): AlertRule {
    return {
        alert: name,
        expr,
        ...(forDuration ? { for: forDuration } : {}),
        labels: { severity, ...extraLabels },
        annotations: { summary, description },
    };
}

function swarmGroup(): RuleGroup {
    // Two swarm exporters run (so the pager keeps its eyes when one's node dies): their series
    // differ only by instance, so each rule takes the two as one.
    const one = (metric: string) => `max without (instance) (${metric})`;
    const managers = "max by (node) (swarm_ha_manager_reachable)";
    return {
        name: "swarm",
        rules: [
            alert(
                "NodeDown",
                "critical",
                "10s",
                `${one("swarm_ha_node_ready")} == 0`,
                "Swarm node {{ $labels.node }} is down",
                "The swarm managers see node {{ $labels.node }} ({{ $labels.role }}, {{ $labels.availability }}) as not Ready: its tasks are rescheduled on other nodes. " +
                    "Check the host and its Docker engine (docker node ls; docker node ps {{ $labels.node }}).",
            ),
            // A quorum of N managers is floor(N/2)+1; with no more than that reachable, one more
            // loss stops the swarm from scheduling. By node first: a second swarm exporter would
            // count every manager twice.
            alert(
                "ManagerQuorumAtRisk",
                "critical",
                "15s",
                `sum(${managers}) <= floor(count(${managers}) / 2) + 1`,
                `Swarm manager quorum at risk: {{ $value }} of {{ with query "count(${managers})" }}{{ . | first | value }}{{ end }} managers reachable`,
                "No more than a bare quorum of the swarm's managers is reachable: one more manager lost and the swarm can no longer schedule, heal or change anything. " +
                    "Bring the unreachable managers back (docker node ls), or add managers (a single manager is always one failure from losing the swarm).",
            ),
            alert(
                "SwarmApiUnreachable",
                "critical",
                "1m",
                'max(up{job="swarm"}) == 0',
                "No swarm exporter can read the swarm",
                "Every swarm exporter fails its scrapes: the managers do not answer the Docker API (quorum lost?), or the read-only API proxies are down. " +
                    "Node and service alerts are blind until it answers.",
                { check: "scrape" },
            ),
            alert(
                "SwarmApiUnreachable",
                "critical",
                "1m",
                'absent(up{job="swarm"})',
                "No swarm exporter is scraped",
                "Prometheus finds no task of the swarm exporter (job swarm): it is not running, or service discovery through the Docker API proxy fails. " +
                    "Node and service alerts are blind until it is back.",
                { check: "discovery" },
            ),
            alert(
                "ServiceReplicasBelowDesired",
                "warning",
                "15s",
                // Not while the swarm updates the service: a stop-first update runs fewer for a while.
                `${one("swarm_ha_service_replicas_running")} < ${one("swarm_ha_service_replicas_desired")} unless on (service) ${one("swarm_ha_service_updating")} == 1`,
                `Service {{ $labels.service }} runs {{ $value }} of {{ with printf "swarm_ha_service_replicas_desired{service=%q}" $labels.service | query }}{{ . | first | value }}{{ end }} tasks`,
                "The swarm runs fewer tasks of {{ $labels.service }} than it should: tasks fail to start or stay unhealthy, or there is no node they may run on. " +
                    "See docker service ps {{ $labels.service }}.",
            ),
            // A service updated stop-first with one task (the per-node HAProxy, Redis and backup
            // services) runs none while its new task starts: not an outage the swarm did not plan.
            alert(
                "ServiceDown",
                "critical",
                "10s",
                `(${one("swarm_ha_service_replicas_running")} == 0 and ${one("swarm_ha_service_replicas_desired")} > 0) unless on (service) ${one("swarm_ha_service_updating")} == 1`,
                "Service {{ $labels.service }} has no running task",
                "No task of {{ $labels.service }} runs (or none is healthy) although the swarm should run some: what it serves is down. " +
                    "See docker service ps {{ $labels.service }} --no-trunc.",
            ),
        ],
    };
}

function edgeGroup(input: AlertRulesInput): RuleGroup {
    const responses = (selector: string) => `sum without (code) (rate(haproxy_backend_http_responses_total${selector}[2m]))`;
    const holders = "max by (node) (swarm_ha_vrrp_master)";
    return {
        name: "edge",
        rules: [
            alert(
                "HAProxyBackendNoServerUp",
                "critical",
                "10s",
                "haproxy_backend_active_servers + haproxy_backend_backup_servers == 0",
                "HAProxy on {{ $labels.node }}: backend {{ $labels.proxy }} has no server up",
                "HAProxy ({{ $labels.service }}) on {{ $labels.node }} has no server up in backend {{ $labels.proxy }}: it answers 503 to every request for it. " +
                    "Its checks fail on every task (the app down or unhealthy, or not resolvable through Docker's DNS).",
            ),
            // At least 0.2 requests/s (24 in 2 minutes): a few errors among a handful of
            // requests are not a rate.
            alert(
                "HAProxyHigh5xxRate",
                "warning",
                "2m",
                `(${responses('{code="5xx"}')} / ${responses("")}) > 0.05\nand\n${responses("")} > 0.2`,
                "HAProxy on {{ $labels.node }}: {{ $value | humanizePercentage }} of backend {{ $labels.proxy }}'s responses are 5xx",
                "Over the last 2 minutes {{ $value | humanizePercentage }} of the responses of backend {{ $labels.proxy }} through HAProxy ({{ $labels.service }}) on {{ $labels.node }} were server errors (over 5%). " +
                    "See the app's logs and its dependencies (Redis, Postgres).",
            ),
            ...(input.vip
                ? [
                      alert(
                          "VipHolderChanged",
                          "info",
                          undefined,
                          "swarm_ha_vrrp_master == 1 and changes(swarm_ha_vrrp_master[2m]) > 0",
                          "The VIP moved to {{ $labels.node }}",
                          "Edge node {{ $labels.node }} took the virtual IP in the last 2 minutes (keepalived: the former holder failed, or its HAProxy could not reach the app). " +
                              "Clients reconnect to it; see keepalived's log on both edge nodes for why.",
                      ),
                      alert(
                          "VipNoHolder",
                          "critical",
                          "15s",
                          "(sum(swarm_ha_vrrp_master) or vector(0)) == 0",
                          "No edge node holds the VIP",
                          "No edge node reports holding the virtual IP (every keepalived BACKUP or FAULT, or none reporting): clients cannot reach the stack. " +
                              "Check keepalived and HAProxy on the edge nodes (a node's HAProxy failing its health check puts its keepalived in FAULT).",
                      ),
                      alert(
                          "VipSplitBrain",
                          "critical",
                          "10s",
                          `swarm_ha_vrrp_master == 1 and on () (count(${holders} == 1) > 1)`,
                          "VIP split brain: {{ $labels.node }} holds the VIP along with another edge node",
                          "More than one edge node holds the virtual IP, {{ $labels.node }} among them: the keepalived instances do not hear each other's adverts (network partition, firewall dropping VRRP, or mismatched virtual_router_id). " +
                              "Clients reach whichever node answers ARP last.",
                      ),
                  ]
                : []),
        ],
    };
}

function dataGroup(input: AlertRulesInput): RuleGroup {
    const redisNodes = "job, node, service";
    const target = "job, node, service, instance";
    return {
        name: "data",
        rules: [
            alert(
                "RedisDown",
                "warning",
                "30s",
                "redis_up == 0",
                "Redis on {{ $labels.node }} is down",
                "The Redis exporter cannot reach Redis {{ $labels.instance }} ({{ $labels.service }}) on {{ $labels.node }}. " +
                    "Sentinel fails over if it was the primary; see docker service ps {{ $labels.service }}.",
            ),
            alert(
                "RedisNoPrimary",
                "critical",
                "15s",
                'absent(redis_instance_info{role="master"})',
                "Redis has no primary",
                "No Redis reports itself master: the app's cache writes fail until Sentinel promotes a replica (or the Redis exporter is down and nothing is seen). " +
                    "Check the Sentinels (SENTINEL masters) and the Redis tasks.",
            ),
            alert(
                "RedisTwoPrimaries",
                "critical",
                "30s",
                `max by (${target}) (redis_instance_info{role="master"})\nand on ()\n(count(max by (node) (redis_instance_info{role="master"})) > 1)`,
                "Redis split brain: Redis on {{ $labels.node }} is a primary along with another",
                "More than one Redis reports itself master, Redis {{ $labels.instance }} ({{ $labels.service }}) on {{ $labels.node }} among them: writes to the one Sentinel does not name will be lost. " +
                    "Sentinel should demote it; if it does not, check that the Sentinels agree (SENTINEL masters on each).",
            ),
            {
                record: REDIS_IS_PRIMARY_RECORD,
                expr: `max by (${redisNodes}) (redis_instance_info{role="master"})\nor\n(max by (${redisNodes}) (redis_instance_info) * 0)`,
            },
            // Fires once, on the new primary, and resolves 3 minutes later.
            alert(
                "RedisPrimaryChanged",
                "warning",
                undefined,
                `${REDIS_IS_PRIMARY_RECORD} == 1 and changes(${REDIS_IS_PRIMARY_RECORD}[3m]) > 0`,
                "Redis failed over: {{ $labels.node }} is the new primary",
                "Sentinel promoted the Redis on {{ $labels.node }} ({{ $labels.service }}) in the last 3 minutes: the former primary failed or was unreachable. " +
                    "Writes acknowledged by the old primary and not yet replicated are lost; see the Sentinels' logs.",
            ),
            alert(
                "PostgresDown",
                "critical",
                "15s",
                "patroni_postgres_running == 0",
                "Postgres on {{ $labels.node }} is not running",
                "Patroni ({{ $labels.service }}, cluster {{ $labels.scope }}) on {{ $labels.node }} reports its Postgres not running. " +
                    "Patroni fails over if it was the primary; see the Patroni task's log.",
                { check: "postgres" },
            ),
            alert(
                "PostgresDown",
                "critical",
                "30s",
                'up{job="patroni"} == 0',
                "Patroni on {{ $labels.node }} does not answer",
                "Patroni's REST API {{ $labels.instance }} ({{ $labels.service }}) on {{ $labels.node }} fails its scrapes: the Postgres member is down or hung. " +
                    "See docker service ps {{ $labels.service }}.",
                { check: "patroni" },
            ),
            alert(
                "PostgresNoPrimary",
                "critical",
                "15s",
                "(sum(patroni_primary) or vector(0)) == 0",
                "Postgres has no primary",
                "No Patroni member reports itself the primary (or none is scraped): the app cannot write until Patroni promotes a replica. " +
                    "Check etcd (Patroni needs it to elect a leader) and patronictl list.",
            ),
            alert(
                "PostgresPrimaryChanged",
                "warning",
                undefined,
                "changes(patroni_postgres_timeline[3m]) > 0 and patroni_primary == 1",
                "Postgres failed over: {{ $labels.node }} is the new primary",
                "Patroni promoted the Postgres on {{ $labels.node }} ({{ $labels.service }}, cluster {{ $labels.scope }}) in the last 3 minutes (its timeline changed). " +
                    "The former primary failed or was switched over; see patronictl history.",
            ),
            // The primary's patroni_xlog_location is its WAL position; a replica's replayed
            // location is 0 on the primary, hence the patroni_replica filter.
            alert(
                "PostgresReplicationLagHigh",
                "warning",
                "1m",
                `max by (scope) (patroni_xlog_location and patroni_primary == 1)\n- on (scope) group_right ()\n(patroni_xlog_replayed_location and patroni_replica == 1)\n> ${input.postgresMaxLagBytes}`,
                "Postgres replica on {{ $labels.node }} is {{ $value | humanize1024 }}B behind the primary",
                `The Postgres replica {{ $labels.instance }} ({{ $labels.service }}) on {{ $labels.node }} has replayed {{ $value | humanize1024 }}B less WAL than the primary has written (limit ${input.postgresMaxLagBytes} bytes): ` +
                    "it would not be promoted in a failover. Check its disk and network, and that it streams (PostgresReplicaNotStreaming).",
            ),
            alert(
                "PostgresReplicaNotStreaming",
                "warning",
                "1m",
                "patroni_replica == 1 unless on (node) (pg_wal_receiver_streaming == 1)",
                "Postgres replica on {{ $labels.node }} is not streaming from the primary",
                "The Postgres replica ({{ $labels.service }}) on {{ $labels.node }} has no WAL receiver streaming from the primary (or its postgres exporter is not scraped): it falls behind. " +
                    "See its Postgres log (pg_stat_wal_receiver) and patronictl list.",
            ),
            ...(input.synchronousMode
                ? [
                      alert(
                          "PostgresNoSyncStandby",
                          "critical",
                          "30s",
                          "patroni_primary == 1 unless on (scope) (sum by (scope) (patroni_sync_standby) > 0)",
                          "Postgres primary on {{ $labels.node }} has no synchronous standby",
                          "The Postgres primary ({{ $labels.service }}, cluster {{ $labels.scope }}) on {{ $labels.node }} has no synchronous standby: its commits are acknowledged before any replica has them, " +
                              "and a failover now may lose them. Bring a replica back to streaming (patronictl list).",
                      ),
                  ]
                : []),
            alert(
                "EtcdNoLeader",
                "critical",
                "15s",
                "etcd_server_has_leader == 0",
                "etcd on {{ $labels.node }} has no leader",
                "The etcd member {{ $labels.instance }} ({{ $labels.service }}) on {{ $labels.node }} sees no leader (quorum lost?): Patroni cannot renew its leader lock and demotes the Postgres primary. " +
                    "Check the etcd members (etcdctl endpoint status --cluster).",
            ),
            alert(
                "BackupTooOld",
                "critical",
                "5m",
                `time() - swarm_ha_backup_last_success_timestamp_seconds > ${input.backupMaxAgeSeconds}`,
                "The last good backup is {{ $value | humanizeDuration }} old",
                `The last backup that succeeded ({{ $labels.service }} on {{ $labels.node }}) is {{ $value | humanizeDuration }} old, more than the ${input.backupMaxAgeSeconds} s allowed: ` +
                    "a restore now loses everything since. See the backup service's log (BackupFailed says whether runs fail).",
            ),
            alert(
                "BackupFailed",
                "warning",
                "1m",
                "swarm_ha_backup_last_attempt_success == 0",
                "The last backup run failed",
                "The last run of the backups ({{ $labels.service }} on {{ $labels.node }}) failed. See the backup service's log; the next run retries.",
                { check: "backup" },
            ),
            alert(
                "BackupFailed",
                "warning",
                "1m",
                "swarm_ha_backup_restore_check_ok == 0",
                "The last backup's restore check failed",
                "The last backup ({{ $labels.service }} on {{ $labels.node }}) did not restore cleanly in the restore check: it may not be usable. See the backup service's log.",
                { check: "restore" },
            ),
        ],
    };
}

function hostsGroup(): RuleGroup {
    const freeShare = `node_filesystem_avail_bytes{${DISKS}} / node_filesystem_size_bytes{${DISKS}}`;
    const disk = (free: string) =>
        `Filesystem {{ $labels.mountpoint }} ({{ $labels.device }}, {{ $labels.fstype }}) on {{ $labels.node }} has {{ $value | humanizePercentage }} of its space free (under ${free}). ` +
        "Docker images and volumes, logs and Prometheus's data are the usual growers (docker system df).";
    return {
        name: "hosts",
        rules: [
            alert(
                "NodeExporterDown",
                "warning",
                "1m",
                'up{job="node"} == 0',
                "node-exporter on {{ $labels.node }} does not answer",
                "node-exporter {{ $labels.instance }} ({{ $labels.service }}) on {{ $labels.node }} fails its scrapes: that host's disk, memory, CPU and VIP state are not watched. " +
                    "See docker service ps {{ $labels.service }}.",
            ),
            alert("DiskSpaceLow", "warning", "5m", `${freeShare} < 0.10`, "Disk space low on {{ $labels.node }} ({{ $labels.mountpoint }})", disk("10%")),
            alert("DiskSpaceCritical", "critical", "1m", `${freeShare} < 0.05`, "Disk almost full on {{ $labels.node }} ({{ $labels.mountpoint }})", disk("5%")),
            alert(
                "MemoryPressure",
                "warning",
                "5m",
                "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.10",
                "Memory pressure on {{ $labels.node }}: {{ $value | humanizePercentage }} available",
                "Only {{ $value | humanizePercentage }} of {{ $labels.node }}'s memory is available (under 10%): the kernel will soon kill processes. See docker stats on the node.",
            ),
            alert(
                "CpuPressure",
                "warning",
                "15m",
                '1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[5m])) > 0.9',
                "CPU pressure on {{ $labels.node }}: {{ $value | humanizePercentage }} busy",
                "The CPUs of {{ $labels.node }} have been {{ $value | humanizePercentage }} busy (over 90%) for 15 minutes: its tasks answer slowly. See docker stats on the node.",
            ),
        ],
    };
}

function monitoringGroup(): RuleGroup {
    return {
        name: "monitoring",
        rules: [
            alert(
                "AlertmanagerClusterDegraded",
                "warning",
                "5m",
                "alertmanager_cluster_members < 2",
                "Alertmanager on {{ $labels.node }} sees {{ $value }} cluster member(s)",
                "Alertmanager {{ $labels.instance }} ({{ $labels.service }}) on {{ $labels.node }} sees {{ $value }} member(s) in its cluster instead of 2: " +
                    "the other is down or they cannot gossip (port 9094); one more failure and no alert is sent.",
            ),
            // Fires for as long as Prometheus evaluates rules and reaches Alertmanager:
            // Alertmanager posts it to the dead man's switch every minute, so silence (a dead
            // Prometheus, a dead Alertmanager, a broken path between them) is itself the alarm.
            alert(
                "Watchdog",
                "none",
                undefined,
                "vector(1)",
                "The alerting pipeline works",
                "Always firing, on purpose: Alertmanager sends it to the dead man's switch (alertDeadMansSwitchUrl) every minute, and the switch pages when it stops hearing from it.",
            ),
        ],
    };
}

const show = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : String(v));

/** Throws naming every field at fault, and how to fix it. */
function validate(input: AlertRulesInput): void {
    if (typeof input !== "object" || input === null) throw new Error(`swarm-ha: cannot render the alert rules: the input must be an object (got ${show(input)})`);
    const problems: string[] = [];
    for (const field of ["dataTier", "vip", "synchronousMode"] as const) {
        if (typeof input[field] !== "boolean") problems.push(`${field} must be true or false (got ${show(input[field])})`);
    }
    if (!Number.isSafeInteger(input.postgresMaxLagBytes) || input.postgresMaxLagBytes <= 0) {
        problems.push(`postgresMaxLagBytes must be a whole number of bytes above 0, e.g. 1048576 for 1 MiB (got ${show(input.postgresMaxLagBytes)})`);
    }
    if (!Number.isSafeInteger(input.backupMaxAgeSeconds) || input.backupMaxAgeSeconds <= 0) {
        problems.push(`backupMaxAgeSeconds must be a whole number of seconds above 0, e.g. 10800 for 3 h with hourly backups (got ${show(input.backupMaxAgeSeconds)})`);
    }
    if (problems.length > 0) throw new Error(`swarm-ha: cannot render the alert rules:\n  - ${problems.join("\n  - ")}`);
}

function groups(input: AlertRulesInput): RuleGroup[] {
    validate(input);
    const data = input.dataTier ? [dataGroup(input)] : [];
    return [swarmGroup(), edgeGroup(input), ...data, hostsGroup(), monitoringGroup()];
}

/** The alerts rendered for `input`, each once (an alert may have several rules), in file order. Throws as {@link renderAlertRules}. */
export function alertNames(input: AlertRulesInput): AlertName[] {
    const names = groups(input).flatMap((g) => g.rules.flatMap((r) => ("alert" in r ? [r.alert] : [])));
    return [...new Set(names)];
}

/** Renders the rule file. Throws, naming every field at fault, for input that would make a wrong file. */
export function renderAlertRules(input: AlertRulesInput): string {
    const doc = { groups: groups(input) };
    return `# Prometheus alerting rules rendered by swarm-ha (components/monitoring/alert-rules.ts): change them there.\n${stringify(doc, { lineWidth: 0 })}`;
}
