/**
 * AppService: the stateless app, replicated over the `app`-labelled nodes, behind HAProxy.
 *
 * What makes a replica's death, a rolling update or a drained node invisible to clients:
 * - a health check on /health/ready: Swarm puts a task in DNS only once it is healthy, and
 *   takes it out when it turns unhealthy (HAProxy checks the same URL, faster);
 * - `endpoint_mode: dnsrr`: HAProxy finds the tasks themselves through `tasks.<service>` (no
 *   IPVS virtual IP between them, which the lab's kernel does not have either);
 * - rolling updates that start the new task first, watch it, and roll back on failure;
 * - a stop grace period longer than the app's drain: on SIGTERM the demo app keeps serving
 *   while not ready (HAProxy stops sending), then finishes what is in flight.
 * Its inputs do not depend on the proxy's: a proxy change never restarts the app.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { appServiceName } from "../common/names";
import { metricsLabels } from "../monitoring/prometheus-yml";
import { NAMED_SERVICE, requireDockerProvider } from "../common/providers";
import { converge, healthcheck, labelList, restartAlways, rollingPolicies, stopGrace } from "../common/service-spec";

/** How long the demo app keeps serving after SIGTERM while it reports not ready. */
export const DRAIN_SECONDS = 5;
/** How long it then gives requests in flight (its SHUTDOWN_TIMEOUT_SECONDS). */
export const SHUTDOWN_TIMEOUT_SECONDS = 15;

export interface AppServiceArgs {
    /** Prefix of Docker object names: the service is `<prefix>-app`. */
    namePrefix: string;
    /** The image (swarm-ha's demo app, built on the app nodes, or yours). */
    image: pulumi.Input<string>;
    /** Tasks to run. @default 2 */
    replicas?: number;
    /** The most tasks on one node (a rolling update needs one free slot). @default 2 */
    maxReplicasPerNode?: number;
    /** The port the app listens on in its container; it must answer GET /health/ready there. @default 8080 */
    port?: number;
    /** Memory limit per task, MiB. @default 256 */
    memoryMb?: number;
    /** CPU limit per task, thousandths of a core. @default 500 */
    cpuMillis?: number;
    /** The overlay network the app shares with HAProxy. */
    network: docker.Network;
    /** Extra labels for the service (e.g. the stack's). */
    labels?: Record<string, string>;
    /** The data tier, when the stack has one: where Postgres and Redis are, and their passwords (mounted as files). */
    data?: AppDataArgs;
}

export interface AppDataArgs {
    /**
     * The data-access network, where the Postgres proxy, Redis and its Sentinels are: the app
     * reaches Postgres only through the proxy (the members, Patroni and etcd are on the data
     * network, which the app does not join).
     */
    network: docker.Network;
    /** `user`: the login the postgres-app-role step set the password on (it alternates at each rotation). */
    postgres: { host: string; port: number; readOnlyPort: number; database: string; user: pulumi.Input<string>; password: docker.Secret };
    redis: { sentinels: string[]; masterName: string; password: docker.Secret };
}

/** The app's environment for the data tier (no secret in it: the passwords are files). */
function dataEnv(data: AppDataArgs | undefined): Record<string, pulumi.Input<string>> {
    if (!data) return {};
    return {
        PGHOST: data.postgres.host,
        PGPORT: String(data.postgres.port),
        PGPORT_READONLY: String(data.postgres.readOnlyPort),
        PGDATABASE: data.postgres.database,
        PGUSER: data.postgres.user,
        PGPASSWORD_FILE: "/run/secrets/postgres-app-password",
        REDIS_SENTINELS: data.redis.sentinels.join(","),
        REDIS_MASTER_NAME: data.redis.masterName,
        REDIS_PASSWORD_FILE: "/run/secrets/redis-password",
    };
}

export class AppService extends pulumi.ComponentResource {
    public readonly service: docker.Service;
    /** The service's name, which is also its DNS name on its network (`tasks.<name>` lists its tasks). */
    public readonly serviceName: string;
    public readonly port: number;

    constructor(name: string, args: AppServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        requireDockerProvider("AppService", opts);
        super("swarm-ha:app:AppService", name, {}, opts);
        const replicas = args.replicas ?? 2;
        const port = args.port ?? 8080;
        this.port = port;
        this.serviceName = appServiceName(args.namePrefix);
        this.service = new docker.Service(
            `${name}-service`,
            {
                name: this.serviceName,
                labels: labelList({ "swarm-ha.tier": "app", ...args.labels, ...metricsLabels({ job: "app", port, network: "app" }) }),
                mode: { replicated: { replicas } },
                taskSpec: {
                    containerSpec: {
                        image: args.image,
                        // The task's name in answers and logs, e.g. swarm-ha-app.2.lab-w1.
                        hostname: "{{.Service.Name}}.{{.Task.Slot}}.{{.Node.Hostname}}",
                        env: {
                            PORT: String(port),
                            DRAIN_SECONDS: String(DRAIN_SECONDS),
                            SHUTDOWN_TIMEOUT_SECONDS: String(SHUTDOWN_TIMEOUT_SECONDS),
                            ...dataEnv(args.data),
                        },
                        // Passwords as files (the *_FILE variables name them), never as values; readable by the
                        // app's user (nobody) only.
                        secrets: args.data
                            ? [
                                  { secretId: args.data.postgres.password.id, secretName: args.data.postgres.password.name, fileName: "postgres-app-password", fileUid: "65534", fileGid: "65534", fileMode: 0o400 },
                                  { secretId: args.data.redis.password.id, secretName: args.data.redis.password.name, fileName: "redis-password", fileUid: "65534", fileGid: "65534", fileMode: 0o400 },
                              ]
                            : undefined,
                        healthcheck: healthcheck(["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "2", `http://127.0.0.1:${port}/health/ready`], { intervalSeconds: 2, timeoutSeconds: 2, retries: 2, startPeriodSeconds: 20 }),
                        stopSignal: "SIGTERM",
                        // The drain and the requests in flight, with room to spare before a SIGKILL.
                        stopGracePeriod: stopGrace(DRAIN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + 5),
                    },
                    resources: {
                        limits: { memoryBytes: (args.memoryMb ?? 256) * 1024 * 1024, nanoCpus: (args.cpuMillis ?? 500) * 1_000_000 },
                        reservation: { memoryBytes: 32 * 1024 * 1024, nanoCpus: 50_000_000 },
                    },
                    restartPolicy: restartAlways(2),
                    placement: {
                        constraints: ["node.labels.swarm-ha.role.app == true"],
                        // One task per node where it can (each node has its own name label), so that
                        // draining or losing a node never takes every replica at once; the cap leaves
                        // room for a start-first update's extra task.
                        prefs: ["node.labels.swarm-ha.name"],
                        maxReplicas: args.maxReplicasPerNode ?? 2,
                    },
                    networksAdvanceds: [{ id: args.network.id }, ...(args.data ? [{ id: args.data.network.id }] : [])],
                },
                endpointSpec: { mode: "dnsrr" },
                // Start the new task, let it turn healthy, watch it for a while, then stop the old one.
                ...rollingPolicies({ order: "start-first", delaySeconds: 5, monitorSeconds: 15 }),
                // Wait until every replica is running and healthy (the provider also fails the
                // step when a rolling update rolls back). The provider looks first after `delay`,
                // then at most every 5 s: a task starts and passes its first check (2 s) within
                // about 5 s, so the first look usually finds it done.
                convergeConfig: converge(5, 300),
            },
            // A change of appReplicas is an update in place (the provider's `mode` block is ForceNew
            // only as a whole). A change of networks replaces the service, and the swarm refuses a
            // second service of the same name: the old one goes first.
            { parent: this, ...NAMED_SERVICE },
        );
        this.registerOutputs({ serviceName: this.serviceName });
    }
}
