/**
 * docker:index/service:Service — as @pulumi/docker 5.x performs it: it runs
 * kreuzwerker/terraform-provider-docker v4.5.0 (internal/provider/resource_docker_service*.go),
 * whose behaviour this file copies:
 * - the inputs become a swarm ServiceSpec (durations as Go strings, e.g. "10s"); `env` goes
 *   out in Go's random map order (structures.go:728-729 ranges over a map), so any update of a
 *   service with two or more variables changes its task spec and rolls its tasks;
 * - after each create and update the provider reads the service back from Docker, and the
 *   next run diffs the inputs against that state (docker-service-state.ts, ../state-diff.ts):
 *   "60s" reads back as "1m" and is a diff on every run;
 * - `name` is ForceNew, and so are `taskSpec.networksAdvanceds` (each nested field, :701-736),
 *   `hosts` and `sysctl` (:357-378, :502-507): a change replaces the service. The `mode`
 *   block is ForceNew only as a block (:762-768): a replica count changes in place;
 * - `convergeConfig` (replicated services only; `delay` default 7s, `timeout` default 3m):
 *   after a create, wait `delay`, then poll (at least every 5 s) until one task per slot, on a
 *   node that is not down, is running; on timeout the new service is DELETED and the step fails
 *   "did not converge". After an update: wait 7 s (not `delay`), then poll until the update
 *   status is `completed` (or, without one, the running count equals the replicas); a
 *   `rollback_completed`, `paused` or `rollback_paused` status fails the step;
 * - delete removes the service (a service already gone is an error, funcs.go:288-290) and,
 *   when `stopGracePeriod` is set and not "0s", waits up to it for each task container to be
 *   removed — only through the provider's own engine (the first manager): containers on other
 *   nodes are "no such container" there and are not waited for; a container still there when
 *   the grace period ends fails the delete (funcs.go:297-341), after the service is gone;
 * - any error while waiting for a new service to converge deletes it (funcs.go:66-76).
 * A task with a HEALTHCHECK counts as running only once healthy (the swarm's executor says so),
 * so "converged" means "healthy" for such services.
 */
import type Docker from "dockerode";
import { parseGoDuration } from "../../../components/common/go-duration";
import { flattenService, SERVICE_SCHEMA } from "./docker-service-state";
import { type Handler, type HandlerContext, isNotFound, labelsOf, onlyFields } from "./types";

/** Go's time.ParseDuration, for the provider's duration strings; nanoseconds. */
export function goDurationNs(d: string): number {
    try {
        return parseGoDuration(d);
    } catch (e) {
        throw new Error(`lab engine: ${(e as Error).message}`);
    }
}

/**
 * Go's map iteration order: random. An update sends the variables in an order that differs
 * from the one Docker holds (`avoid`) whenever two or more exist: a real run keeps the old
 * order with a chance of 1/n!, which the engine rounds down to none, so the lab rolls the
 * tasks a real update rolls almost always.
 */
export function goMapOrder(env: Record<string, string>, avoid?: string[]): string[] {
    const entries = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    if (entries.length < 2) return entries;
    for (;;) {
        const order = [...entries];
        for (let i = order.length - 1; i > 0; i--) {
            const j = Math.floor(Math.random() * (i + 1));
            [order[i], order[j]] = [order[j], order[i]];
        }
        if (!avoid || order.join("\n") !== avoid.join("\n")) return order;
    }
}

const ns = (d: string | undefined) => (d === undefined ? undefined : goDurationNs(d));

const FIELDS = ["name", "labels", "mode", "taskSpec", "updateConfig", "rollbackConfig", "endpointSpec", "convergeConfig"];
const TASK = ["containerSpec", "forceUpdate", "logDriver", "networksAdvanceds", "placement", "resources", "restartPolicy"];
const CONTAINER = [
    "image", "args", "commands", "env", "dir", "user", "groups", "hostname", "labels", "stopSignal", "stopGracePeriod",
    "healthcheck", "configs", "secrets", "mounts", "capAdds", "capDrops", "sysctl", "init", "readOnly", "hosts",
];

function validate(i: Record<string, any>): void {
    onlyFields("docker:Service.taskSpec", i.taskSpec, TASK);
    const c = i.taskSpec?.containerSpec;
    onlyFields("docker:Service.taskSpec.containerSpec", c, CONTAINER);
    onlyFields("docker:Service.taskSpec.containerSpec.healthcheck", c?.healthcheck, ["tests", "interval", "timeout", "startPeriod", "retries"]);
    for (const f of [...(c?.configs ?? []), ...(c?.secrets ?? [])]) onlyFields("docker:Service config/secret", f, ["configId", "configName", "secretId", "secretName", "fileName", "fileUid", "fileGid", "fileMode"]);
    for (const m of c?.mounts ?? []) onlyFields("docker:Service.taskSpec.containerSpec.mounts", m, ["target", "source", "type", "readOnly"]);
    onlyFields("docker:Service.taskSpec.placement", i.taskSpec?.placement, ["constraints", "maxReplicas", "prefs"]);
    onlyFields("docker:Service.taskSpec.resources", i.taskSpec?.resources, ["limits", "reservation"]);
    onlyFields("docker:Service.taskSpec.resources.limits", i.taskSpec?.resources?.limits, ["nanoCpus", "memoryBytes"]);
    onlyFields("docker:Service.taskSpec.resources.reservation", i.taskSpec?.resources?.reservation, ["nanoCpus", "memoryBytes"]);
    onlyFields("docker:Service.taskSpec.restartPolicy", i.taskSpec?.restartPolicy, ["condition", "delay", "maxAttempts", "window"]);
    for (const n of i.taskSpec?.networksAdvanceds ?? []) onlyFields("docker:Service.taskSpec.networksAdvanceds", n, ["name", "id", "aliases"]);
    onlyFields("docker:Service.mode", i.mode, ["replicated", "global"]);
    for (const k of ["updateConfig", "rollbackConfig"]) onlyFields(`docker:Service.${k}`, i[k], ["parallelism", "delay", "failureAction", "monitor", "maxFailureRatio", "order"]);
    onlyFields("docker:Service.endpointSpec", i.endpointSpec, ["mode", "ports"]);
    for (const p of i.endpointSpec?.ports ?? []) onlyFields("docker:Service.endpointSpec.ports", p, ["name", "protocol", "targetPort", "publishedPort", "publishMode"]);
    onlyFields("docker:Service.convergeConfig", i.convergeConfig, ["delay", "timeout"]);
    if (i.convergeConfig && i.mode?.global) throw new Error("lab engine: docker:Service convergeConfig conflicts with mode.global (as in the provider)");
}

const updatePolicy = (u: Record<string, any> | undefined) =>
    u && {
        Parallelism: u.parallelism ?? 1,
        Delay: ns(u.delay ?? "0s"),
        FailureAction: u.failureAction ?? "pause",
        Monitor: ns(u.monitor ?? "5s"),
        MaxFailureRatio: Number(u.maxFailureRatio ?? "0.0"),
        Order: u.order ?? "stop-first",
    };

/** The swarm ServiceSpec the provider builds from the resource's inputs. */
export function serviceSpec(i: Record<string, any>, envNow?: string[]): Record<string, unknown> {
    const t = i.taskSpec ?? {};
    const c = t.containerSpec ?? {};
    const file = (f: Record<string, any>) => ({ Name: f.fileName, UID: f.fileUid ?? "0", GID: f.fileGid ?? "0", Mode: f.fileMode ?? 0o444 });
    return {
        Name: i.name,
        Labels: labelsOf(i.labels),
        TaskTemplate: {
            ContainerSpec: {
                Image: c.image,
                Args: c.args,
                Command: c.commands,
                Env: c.env ? goMapOrder(c.env, envNow) : undefined,
                Dir: c.dir,
                User: c.user,
                Groups: c.groups,
                Hostname: c.hostname,
                Labels: labelsOf(c.labels),
                StopSignal: c.stopSignal,
                StopGracePeriod: ns(c.stopGracePeriod),
                Healthcheck: c.healthcheck && {
                    Test: c.healthcheck.tests,
                    Interval: ns(c.healthcheck.interval ?? "0s"),
                    Timeout: ns(c.healthcheck.timeout ?? "0s"),
                    StartPeriod: ns(c.healthcheck.startPeriod ?? "0s"),
                    Retries: c.healthcheck.retries ?? 0,
                },
                Configs: c.configs?.map((f: Record<string, any>) => ({ ConfigID: f.configId, ConfigName: f.configName, File: file(f) })),
                Secrets: c.secrets?.map((f: Record<string, any>) => ({ SecretID: f.secretId, SecretName: f.secretName, File: file(f) })),
                Mounts: c.mounts?.map((m: Record<string, any>) => ({ Target: m.target, Source: m.source, Type: m.type, ReadOnly: m.readOnly ?? false })),
                CapabilityAdd: c.capAdds,
                CapabilityDrop: c.capDrops,
                Sysctls: c.sysctl,
                Init: c.init,
                ReadOnly: c.readOnly,
                Hosts: c.hosts?.map((h: Record<string, any>) => `${h.ip} ${h.host}`),
            },
            Resources: t.resources && {
                Limits: t.resources.limits && { NanoCPUs: t.resources.limits.nanoCpus, MemoryBytes: t.resources.limits.memoryBytes },
                Reservations: t.resources.reservation && { NanoCPUs: t.resources.reservation.nanoCpus, MemoryBytes: t.resources.reservation.memoryBytes },
            },
            RestartPolicy: t.restartPolicy && {
                Condition: t.restartPolicy.condition ?? "any",
                Delay: ns(t.restartPolicy.delay ?? "5s"),
                MaxAttempts: t.restartPolicy.maxAttempts ?? 0,
                Window: ns(t.restartPolicy.window ?? "0s"),
            },
            Placement: t.placement && {
                Constraints: t.placement.constraints,
                MaxReplicas: t.placement.maxReplicas,
                // The provider passes each string through as the descriptor (e.g. node.labels.zone).
                Preferences: t.placement.prefs?.map((p: string) => ({ Spread: { SpreadDescriptor: p } })),
            },
            Networks: t.networksAdvanceds?.map((n: Record<string, any>) => ({ Target: n.id ?? n.name, Aliases: n.aliases })),
            ForceUpdate: t.forceUpdate ?? 0,
        },
        Mode: i.mode?.global ? { Global: {} } : { Replicated: { Replicas: i.mode?.replicated?.replicas ?? 1 } },
        UpdateConfig: updatePolicy(i.updateConfig),
        RollbackConfig: updatePolicy(i.rollbackConfig),
        EndpointSpec: i.endpointSpec && {
            Mode: i.endpointSpec.mode ?? "vip",
            Ports: i.endpointSpec.ports?.map((p: Record<string, any>) => ({
                Name: p.name,
                Protocol: p.protocol ?? "tcp",
                TargetPort: p.targetPort,
                PublishedPort: p.publishedPort,
                PublishMode: p.publishMode ?? "ingress",
            })),
        },
    };
}

/** The provider's numberedStates (funcs.go:668-682): `remove` and `orphaned` are not among them, so such tasks are skipped. */
const TASK_STATES = ["new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running", "complete", "shutdown", "failed", "rejected"];
const stateRank = (s: string) => TASK_STATES.indexOf(s) + 1;

/**
 * The provider's replicatedConsoleLogUpdater: one task per slot (the lowest desired state
 * wins, then the lowest observed state), on nodes that are not down; converged when as many
 * of them run (desired and observed) as the service wants replicas.
 */
export function runningReplicas(tasks: any[], activeNodes: Set<string>): number {
    const bySlot = new Map<number, any>();
    for (const t of tasks) {
        if (!stateRank(t.DesiredState) || !stateRank(t.Status?.State)) continue;
        const existing = bySlot.get(t.Slot);
        if (existing) {
            if (stateRank(existing.DesiredState) < stateRank(t.DesiredState)) continue;
            if (stateRank(existing.DesiredState) === stateRank(t.DesiredState) && stateRank(existing.Status.State) <= stateRank(t.Status.State)) continue;
        }
        if (t.NodeID && !activeNodes.has(t.NodeID)) continue;
        bySlot.set(t.Slot, t);
    }
    let running = 0;
    for (const t of bySlot.values()) if (stateRank(t.DesiredState) <= stateRank("running") && t.Status.State === "running") running++;
    return running;
}

async function activeNodes(docker: Docker): Promise<Set<string>> {
    const nodes = await docker.listNodes();
    return new Set(nodes.filter((n: any) => n.Status?.State !== "down").map((n: any) => n.ID as string));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** terraform's StateChangeConf: wait `delayMs`, then refresh with backoff (0.1 s doubling, at least `minMs`, at most 10 s). */
async function waitFor(what: string, delayMs: number, timeoutMs: number, refresh: () => Promise<boolean>): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    await sleep(Math.min(delayMs, timeoutMs));
    let wait = 100;
    for (;;) {
        if (await refresh()) return true;
        if (Date.now() >= deadline) return false;
        wait = Math.min(Math.max(wait * 2, 5000), 10_000);
        await sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
    }
}

async function tasksOf(docker: Docker, id: string) {
    return docker.listTasks({ filters: JSON.stringify({ service: [id], "desired-state": ["running"] }) });
}

/** Why tasks are not running, for the error message (the provider loses this: terraform-provider-docker#624). */
async function taskErrors(docker: Docker, id: string): Promise<string> {
    const all = await docker.listTasks({ filters: JSON.stringify({ service: [id] }) });
    const errors = [...new Set(all.map((t: any) => t.Status?.Err).filter(Boolean))];
    return errors.length ? ` (tasks report: ${errors.slice(0, 3).join("; ")})` : "";
}

async function convergeAfterCreate(docker: Docker, id: string, i: Record<string, any>, ctx: HandlerContext): Promise<void> {
    const replicas = i.mode?.replicated?.replicas ?? 1;
    const timeout = goDurationNs(i.convergeConfig.timeout ?? "3m") / 1e6;
    let ok: boolean;
    try {
        ok = await waitFor("create", goDurationNs(i.convergeConfig.delay ?? "7s") / 1e6, timeout, async () => {
            return runningReplicas(await tasksOf(docker, id), await activeNodes(docker)) === replicas;
        });
    } catch (e) {
        // funcs.go:66-76: any error of the wait deletes the new service, which is not recorded.
        await deleteService(docker, id, i);
        throw new Error(`${ctx.name}: waiting for service ${id} to converge failed: ${(e as Error).message}; as the provider does, the service was deleted`);
    }
    if (!ok) {
        const why = await taskErrors(docker, id);
        await deleteService(docker, id, i);
        throw new Error(`${ctx.name}: Service with ID (${id}) did not converge after ${i.convergeConfig.timeout ?? "3m"}${why}; as the provider does, the service was deleted`);
    }
}

async function convergeAfterUpdate(docker: Docker, id: string, i: Record<string, any>, ctx: HandlerContext): Promise<void> {
    const replicas = i.mode?.replicated?.replicas ?? 1;
    let failure: string | undefined;
    const ok = await waitFor("update", 7000, goDurationNs(i.convergeConfig.timeout ?? "3m") / 1e6, async () => {
        const service: any = await docker.getService(id).inspect();
        const status = service.UpdateStatus?.State;
        if (status === "completed") return true;
        if (status === "rollback_completed") failure = `service rollback completed: ${service.UpdateStatus.Message}`;
        if (status === "paused") failure = `service update paused: ${service.UpdateStatus.Message}`;
        if (status === "rollback_paused") failure = `service rollback paused: ${service.UpdateStatus.Message}`;
        if (failure) throw new Error(`${ctx.name}: ${failure}`);
        const done = runningReplicas(await tasksOf(docker, id), await activeNodes(docker)) === replicas;
        if (done && status === "rollback_started") throw new Error(`${ctx.name}: service rollback completed: ${service.UpdateStatus.Message}`);
        return done;
    });
    if (!ok) throw new Error(`${ctx.name}: Service with ID (${id}) did not converge after ${i.convergeConfig.timeout ?? "3m"}${await taskErrors(docker, id)}`);
}

async function deleteService(docker: Docker, id: string, i: Record<string, any>): Promise<void> {
    const grace = i.taskSpec?.containerSpec?.stopGracePeriod;
    const containers: string[] = [];
    if (grace && grace !== "0s") {
        const tasks = await docker.listTasks({ filters: JSON.stringify({ service: [i.name] }) });
        for (const t of tasks as any[]) {
            const cid = t.Status?.ContainerStatus?.ContainerID;
            if (cid && t.Status?.State !== "shutdown") containers.push(cid);
        }
    }
    // funcs.go:288-290: the daemon's error as it is, "not found" included.
    try {
        await docker.getService(id).remove();
    } catch (e) {
        throw new Error(`Error deleting service with ID '${id}': ${(e as Error).message}`);
    }
    // funcs.go:293-341: each container gets its own grace period (a context with that
    // timeout); "No such container" (one on another node, or gone already) is fine.
    const noSuch = (e: unknown) => isNotFound(e) || /No such container/.test(String((e as Error).message));
    for (const cid of containers) {
        const graceMs = goDurationNs(grace) / 1e6;
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<"deadline">((r) => (timer = setTimeout(() => r("deadline"), graceMs)));
        try {
            const waited = await Promise.race([docker.getContainer(cid).wait({ condition: "removed" }), deadline]);
            if (waited === "deadline") throw new Error(`error on wait for container with ID '${cid}': context deadline exceeded`);
        } catch (e) {
            if (!noSuch(e)) throw e;
        } finally {
            clearTimeout(timer);
        }
        try {
            await docker.getContainer(cid).remove({ force: true, v: true });
        } catch (e) {
            if (!noSuch(e) && !/already in progress/.test(String((e as Error).message))) throw new Error(`Error deleting container with ID '${cid}': ${(e as Error).message}`);
        }
    }
}

/** The provider's Read after a create or update (funcs.go:108-166): the service as Docker holds it. */
async function readBack(docker: Docker, id: string, inputs: Record<string, any>): Promise<Record<string, unknown>> {
    return flattenService(await docker.getService(id).inspect(), inputs);
}

export const dockerService: Handler = {
    fields: FIELDS,
    validate,
    replaceOn: ["name"],
    replaceOnPaths: ["taskSpec.networksAdvanceds", "taskSpec.containerSpec.hosts", "taskSpec.containerSpec.sysctl"],
    schema: SERVICE_SCHEMA,
    async create(inputs, ctx) {
        const docker = await ctx.docker();
        const created = await docker.createService(serviceSpec(inputs) as any);
        const id = (created as any).id ?? (created as any).ID;
        if (inputs.convergeConfig) await convergeAfterCreate(docker, id, inputs, ctx);
        return { id, outputs: {}, state: await readBack(docker, id, inputs) };
    },
    async update(inputs, previous, ctx) {
        const docker = await ctx.docker();
        const service: any = await docker.getService(previous.id).inspect();
        await docker.getService(previous.id).update({ version: service.Version.Index, ...serviceSpec(inputs, service.Spec?.TaskTemplate?.ContainerSpec?.Env) } as any);
        if (inputs.convergeConfig) await convergeAfterUpdate(docker, previous.id, inputs, ctx);
        return { id: previous.id, outputs: {}, state: await readBack(docker, previous.id, inputs) };
    },
    async delete(inputs, id, ctx) {
        await deleteService(await ctx.docker(), id, inputs);
    },
};
