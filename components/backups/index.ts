/**
 * Backups: scheduled logical backups of the app's database, each proven restorable before it
 * counts (images/backup: dump from a snapshot, restore into a throwaway Postgres, compare row
 * counts and checksums), kept on a volume of a node other than the primary's, with a retention
 * policy, and the age and result of the last good one served for monitoring.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../config";
import { backupServiceName } from "../common/names";
import { metricsLabels } from "../monitoring/prometheus-yml";
import { NAMED_SERVICE, requireDockerProvider } from "../common/providers";
import { BACKUP_METRICS_PORT, renderBackupEnv } from "./backup-env";
import { converge, healthcheck, labelList, restartAlways, rollingPolicies, stopGrace } from "../common/service-spec";

export interface BackupsArgs {
    namePrefix: string;
    /** The node that keeps the backups (not the primary's: a backup must survive the primary's host). */
    node: NodeSpec;
    image: pulumi.Input<string>;
    /** Where Postgres is: the proxy's read-write endpoint (host and port). */
    postgres: { host: string; port: number; database: string };
    /** The superuser's password (a Docker secret): pg_dump needs every table. */
    superuserPassword: docker.Secret;
    network: docker.Network;
    intervalMinutes: number;
    keep: number;
    labels?: Record<string, string>;
}

export class Backups extends pulumi.ComponentResource {
    public readonly service: docker.Service;
    /** Where the last backup's metrics are (for the monitoring tier). */
    public readonly metricsEndpoint: string;

    constructor(name: string, args: BackupsArgs, opts?: pulumi.ComponentResourceOptions) {
        requireDockerProvider("Backups", opts);
        super("swarm-ha:backups:Backups", name, {}, opts);
        const serviceName = backupServiceName(args.namePrefix);
        this.metricsEndpoint = `${serviceName}:${BACKUP_METRICS_PORT}`;
        this.service = new docker.Service(
            `${name}-service`,
            {
                name: serviceName,
                labels: labelList({ "swarm-ha.tier": "backups", ...args.labels, ...metricsLabels({ job: "backup", port: BACKUP_METRICS_PORT, network: "data" }) }),
                mode: { replicated: { replicas: 1 } },
                taskSpec: {
                    containerSpec: {
                        image: args.image,
                        commands: ["/usr/local/bin/swarm-ha-backup"],
                        env: {
                            ...renderBackupEnv({ intervalMinutes: args.intervalMinutes, keep: args.keep, database: args.postgres.database }),
                            PGHOST: args.postgres.host,
                            PGPORT: String(args.postgres.port),
                            PGUSER: "postgres",
                            PGPASSWORD_FILE: "/run/secrets/postgres-password",
                        },
                        secrets: [{ secretId: args.superuserPassword.id, secretName: args.superuserPassword.name, fileName: "postgres-password", fileMode: 0o400 }],
                        mounts: [{ type: "volume", source: `${serviceName}-data`, target: "/backups" }],
                        healthcheck: healthcheck(["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "2", `http://127.0.0.1:${BACKUP_METRICS_PORT}/metrics`], { intervalSeconds: 10, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 60 }),
                        stopSignal: "SIGTERM",
                        stopGracePeriod: stopGrace(30),
                    },
                    resources: { limits: { memoryBytes: 512 * 1024 * 1024 } },
                    restartPolicy: restartAlways(5),
                    placement: { constraints: [`node.labels.swarm-ha.name == ${args.node.name}`] },
                    networksAdvanceds: [{ id: args.network.id }],
                },
                endpointSpec: { mode: "dnsrr" },
                ...rollingPolicies({ order: "stop-first", monitorSeconds: 10 }),
                convergeConfig: converge(5, 300),
            },
            { parent: this, ...NAMED_SERVICE },
        );
        this.registerOutputs({ metricsEndpoint: this.metricsEndpoint });
    }
}
