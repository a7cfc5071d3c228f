/**
 * What the Docker provider keeps in state for a docker:Service: not the program's inputs, but
 * the service as Docker holds it after each create and update, flattened back into the
 * resource's shape (kreuzwerker/terraform-provider-docker v4.5.0,
 * internal/provider/resource_docker_service_funcs.go:136-166 `resourceDockerServiceReadRefreshFunc`,
 * and the flatten* functions of resource_docker_service_structures.go, lines cited below).
 * The next `pulumi up` diffs its inputs against this (../state-diff.ts), with the schema below
 * (resource_docker_service.go). Only the fields the lab implements are flattened.
 */
import { shortDur } from "../../../components/common/go-duration";
import type { StateSchema } from "../state-diff";

const labelSet = (labels: Record<string, string> | undefined) => Object.entries(labels ?? {}).map(([label, value]) => ({ label, value }));
const dur = (ns: number | undefined) => (ns === undefined || ns === null ? undefined : shortDur(ns));
const nonEmpty = <T>(v: T[] | undefined) => (v && v.length > 0 ? v : undefined);

/** structures.go:1363 mapStringSliceToMap: "K=V" entries into a map (the first "=" splits). */
function envMap(env: string[] | undefined): Record<string, string> | undefined {
    if (!env || env.length === 0) return undefined;
    return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

/** structures.go:78-93: durations through shortDur, the ratio printed with one decimal. */
function updatePolicy(u: any): Record<string, unknown> | undefined {
    if (!u) return undefined;
    return {
        parallelism: u.Parallelism ?? 0,
        delay: dur(u.Delay ?? 0),
        failureAction: u.FailureAction ?? "",
        monitor: dur(u.Monitor ?? 0),
        maxFailureRatio: (u.MaxFailureRatio ?? 0).toFixed(1),
        order: u.Order ?? "",
    };
}

/** structures.go:344-396: a secret's or config's file, uid and gid as strings, mode as a number. */
function fileRef(f: any) {
    return f ? { fileName: f.Name, fileUid: f.UID || undefined, fileGid: f.GID || undefined, fileMode: f.Mode } : {};
}

/** structures.go:120-199 flattenContainerSpec (the fields the lab implements). */
function containerSpec(c: any): Record<string, unknown> {
    return {
        image: c.Image || undefined,
        labels: c.Labels && Object.keys(c.Labels).length > 0 ? labelSet(c.Labels) : undefined,
        commands: nonEmpty(c.Command),
        args: nonEmpty(c.Args),
        hostname: c.Hostname || undefined,
        env: envMap(c.Env),
        user: c.User || undefined,
        dir: c.Dir || undefined,
        groups: nonEmpty(c.Groups),
        readOnly: c.ReadOnly ? true : undefined,
        mounts: nonEmpty(c.Mounts)?.map((m: any) => ({ target: m.Target, source: m.Source, type: m.Type, readOnly: m.ReadOnly ?? false })),
        stopSignal: c.StopSignal || undefined,
        stopGracePeriod: dur(c.StopGracePeriod),
        // structures.go:289-305: every duration through shortDur, retries as they are.
        healthcheck: c.Healthcheck && {
            tests: nonEmpty(c.Healthcheck.Test),
            interval: dur(c.Healthcheck.Interval ?? 0),
            timeout: dur(c.Healthcheck.Timeout ?? 0),
            startPeriod: dur(c.Healthcheck.StartPeriod ?? 0),
            retries: c.Healthcheck.Retries ?? 0,
        },
        hosts: nonEmpty<string>(c.Hosts)?.map((h) => ({ ip: h.split(" ")[0], host: h.split(" ")[1] })),
        secrets: nonEmpty(c.Secrets)?.map((s: any) => ({ secretId: s.SecretID, secretName: s.SecretName || undefined, ...fileRef(s.File) })),
        configs: nonEmpty(c.Configs)?.map((s: any) => ({ configId: s.ConfigID, configName: s.ConfigName || undefined, ...fileRef(s.File) })),
        sysctl: c.Sysctls && Object.keys(c.Sysctls).length > 0 ? c.Sysctls : undefined,
        capAdds: nonEmpty(c.CapabilityAdd),
        capDrops: nonEmpty(c.CapabilityDrop),
        init: c.Init ?? undefined,
    };
}

/** structures.go:23-49 flattenTaskSpec. */
function taskSpec(t: any): Record<string, unknown> {
    const r = t.Resources;
    return {
        containerSpec: t.ContainerSpec ? containerSpec(t.ContainerSpec) : undefined,
        // structures.go:398-433: limits and reservation, each present when Docker has it.
        resources: r && {
            limits: r.Limits ? { nanoCpus: r.Limits.NanoCPUs ?? 0, memoryBytes: r.Limits.MemoryBytes ?? 0 } : undefined,
            reservation: r.Reservations ? { nanoCpus: r.Reservations.NanoCPUs ?? 0, memoryBytes: r.Reservations.MemoryBytes ?? 0 } : undefined,
        },
        // structures.go:456-477.
        restartPolicy: t.RestartPolicy && {
            condition: t.RestartPolicy.Condition || undefined,
            delay: dur(t.RestartPolicy.Delay),
            maxAttempts: t.RestartPolicy.MaxAttempts,
            window: dur(t.RestartPolicy.Window),
        },
        // structures.go:479-509: constraints and prefs are sets; max_replicas always.
        placement: t.Placement && {
            constraints: nonEmpty(t.Placement.Constraints),
            prefs: nonEmpty(t.Placement.Preferences)?.map((p: any) => p.Spread?.SpreadDescriptor),
            maxReplicas: t.Placement.MaxReplicas ?? 0,
        },
        forceUpdate: t.ForceUpdate ?? 0,
        // structures.go:526-541: Docker's Target is read back as `id` (a network ID, even for one
        // given by name, such as "host"); `name` is never read back.
        // Aliases read back as a set, only when there are any (tpd structures_service.go, flattenTaskNetworksAdvanced).
        networksAdvanceds: nonEmpty(t.Networks)?.map((n: any) => ({ id: n.Target, aliases: nonEmpty(n.Aliases) })),
    };
}

/**
 * The provider's state of a service after its Read: `spec` is Docker's `Spec`, `endpoint` its
 * `Endpoint` (funcs.go:153-161: the endpoint as allocated when Docker reports a mode). The
 * converge settings are not Docker's: the provider keeps them from the config.
 */
export function flattenService(service: { Spec: any; Endpoint?: any }, inputs: Record<string, any>): Record<string, unknown> {
    const spec = service.Spec;
    const endpoint = service.Endpoint?.Spec?.Mode ? { mode: service.Endpoint.Spec.Mode, ports: service.Endpoint.Ports ?? [] } : spec.EndpointSpec ? { mode: spec.EndpointSpec.Mode, ports: spec.EndpointSpec.Ports ?? [] } : undefined;
    return {
        name: spec.Name,
        labels: labelSet(spec.Labels),
        taskSpec: taskSpec(spec.TaskTemplate ?? {}),
        // structures.go:51-76: `global` always, `replicated` with its count.
        mode: { global: !!spec.Mode?.Global, replicated: spec.Mode?.Replicated ? { replicas: spec.Mode.Replicated.Replicas } : undefined },
        updateConfig: updatePolicy(spec.UpdateConfig),
        rollbackConfig: updatePolicy(spec.RollbackConfig),
        // structures.go:95-113, 568-587.
        endpointSpec: endpoint && {
            mode: endpoint.mode,
            ports: endpoint.ports.map((p: any) => ({ name: p.Name ?? "", protocol: p.Protocol, targetPort: p.TargetPort, publishedPort: p.PublishedPort ?? 0, publishMode: p.PublishMode })),
        },
        convergeConfig: inputs.convergeConfig,
    };
}

/** Equal ratios ("0" and "0.0"): resource_docker_service.go:782, suppressEquivalentFloatRatio. */
const sameRatio = (a: unknown, b: unknown) => Number(a) === Number(b);

/**
 * The docker_service schema's rules for the fields the lab implements
 * (internal/provider/resource_docker_service.go, v4.5.0; line numbers of that file).
 */
export const SERVICE_SCHEMA: StateSchema = {
    computed: [
        "labels", // :64
        "taskSpec.containerSpec.stopGracePeriod", // :309
        "taskSpec.containerSpec.healthcheck", // :317
        "taskSpec.containerSpec.init", // :524
        "taskSpec.resources", // :533
        "taskSpec.restartPolicy", // :606
        "taskSpec.placement", // :641
        "taskSpec.forceUpdate", // :691
        "mode", // :767
        "mode.replicated", // :776
        "endpointSpec", // :910
        "endpointSpec.mode", // :918
        "endpointSpec.ports.publishedPort", // :948
    ],
    defaults: {
        "taskSpec.containerSpec.healthcheck.interval": "0s",
        "taskSpec.containerSpec.healthcheck.timeout": "0s",
        "taskSpec.containerSpec.healthcheck.startPeriod": "0s",
        "taskSpec.containerSpec.healthcheck.retries": 0,
        "taskSpec.containerSpec.secrets.fileUid": "0",
        "taskSpec.containerSpec.secrets.fileGid": "0",
        "taskSpec.containerSpec.secrets.fileMode": 0o444,
        "taskSpec.containerSpec.configs.fileUid": "0",
        "taskSpec.containerSpec.configs.fileGid": "0",
        "taskSpec.containerSpec.configs.fileMode": 0o444,
        "mode.replicated.replicas": 1,
        "mode.global": false,
        ...Object.fromEntries(
            ["updateConfig", "rollbackConfig"].flatMap((k) => [
                [`${k}.parallelism`, 1],
                [`${k}.delay`, "0s"],
                [`${k}.failureAction`, "pause"],
                [`${k}.monitor`, "5s"],
                [`${k}.maxFailureRatio`, "0.0"],
                [`${k}.order`, "stop-first"],
            ]),
        ),
        "endpointSpec.ports.protocol": "tcp",
        "endpointSpec.ports.publishMode": "ingress",
    },
    maps: ["taskSpec.containerSpec.env", "taskSpec.containerSpec.sysctl"],
    sets: [
        "labels",
        "taskSpec.containerSpec.labels",
        "taskSpec.containerSpec.mounts",
        "taskSpec.containerSpec.hosts",
        "taskSpec.containerSpec.secrets",
        "taskSpec.containerSpec.configs",
        "taskSpec.placement.constraints",
        "taskSpec.placement.prefs",
        "taskSpec.networksAdvanceds",
    ],
    suppress: { "updateConfig.maxFailureRatio": sameRatio, "rollbackConfig.maxFailureRatio": sameRatio },
};
