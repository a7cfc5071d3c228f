/**
 * The engine's copies of the Docker provider's rules (docker-service.ts), checked against the
 * provider's own behaviour as its source describes it: the spec it builds, how it counts a
 * service as converged, the durations it parses.
 */
import { goDurationNs, runningReplicas, serviceSpec } from "./handlers/docker-service";

test("Go durations as the provider parses them", () => {
    expect(goDurationNs("25s")).toBe(25e9);
    expect(goDurationNs("1m30s")).toBe(90e9);
    expect(goDurationNs("500ms")).toBe(5e8);
    expect(goDurationNs("0")).toBe(0);
    expect(() => goDurationNs("25")).toThrow(/not a Go duration/);
});

test("the ServiceSpec the provider builds from the inputs", () => {
    const spec = serviceSpec({
        name: "swarm-ha-app",
        labels: [{ label: "swarm-ha.tier", value: "app" }],
        mode: { replicated: { replicas: 2 } },
        taskSpec: {
            containerSpec: {
                image: "swarm-ha/app:1",
                env: { PORT: "8080" },
                healthcheck: { tests: ["CMD", "true"], interval: "2s", timeout: "2s", retries: 2, startPeriod: "20s" },
                stopGracePeriod: "25s",
                secrets: [{ secretId: "s1", secretName: "pw", fileName: "pw", fileMode: 0o400 }],
                capAdds: ["NET_ADMIN"],
            },
            placement: { constraints: ["node.labels.x == true"], maxReplicas: 2, prefs: ["node.labels.zone"] },
            networksAdvanceds: [{ id: "net1" }, { name: "host" }],
            restartPolicy: { condition: "any", delay: "2s", maxAttempts: 0, window: "0s" },
        },
        endpointSpec: { mode: "dnsrr", ports: [{ targetPort: 80, publishedPort: 80, publishMode: "host" }] },
        updateConfig: { parallelism: 1, order: "start-first", delay: "5s", monitor: "15s", failureAction: "rollback", maxFailureRatio: "0" },
    }) as any;
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 2 } });
    expect(spec.TaskTemplate.ContainerSpec).toMatchObject({
        Image: "swarm-ha/app:1",
        Env: ["PORT=8080"],
        StopGracePeriod: 25e9,
        Healthcheck: { Test: ["CMD", "true"], Interval: 2e9, Timeout: 2e9, StartPeriod: 20e9, Retries: 2 },
        Secrets: [{ SecretID: "s1", SecretName: "pw", File: { Name: "pw", UID: "0", GID: "0", Mode: 0o400 } }],
        CapabilityAdd: ["NET_ADMIN"],
    });
    expect(spec.TaskTemplate.Placement).toEqual({ Constraints: ["node.labels.x == true"], MaxReplicas: 2, Preferences: [{ Spread: { SpreadDescriptor: "node.labels.zone" } }] });
    expect(spec.TaskTemplate.Networks).toEqual([{ Target: "net1", Aliases: undefined }, { Target: "host", Aliases: undefined }]);
    expect(spec.EndpointSpec).toEqual({ Mode: "dnsrr", Ports: [{ Name: undefined, Protocol: "tcp", TargetPort: 80, PublishedPort: 80, PublishMode: "host" }] });
    expect(spec.UpdateConfig).toEqual({ Parallelism: 1, Delay: 5e9, FailureAction: "rollback", Monitor: 15e9, MaxFailureRatio: 0, Order: "start-first" });
});

const task = (slot: number, desired: string, state: string, node = "n1") => ({ Slot: slot, DesiredState: desired, Status: { State: state }, NodeID: node });

test("converged: one task per slot (the lowest desired state wins), running, on a node that is not down", () => {
    const up = new Set(["n1", "n2"]);
    expect(runningReplicas([task(1, "running", "running"), task(2, "running", "running", "n2")], up)).toBe(2);
    // A start-first update: slot 1 has the old task (running) and the new one (starting): not yet.
    expect(runningReplicas([task(1, "running", "running"), task(1, "running", "starting"), task(2, "running", "running", "n2")], up)).toBe(1);
    // An old task being shut down does not count over the new one.
    expect(runningReplicas([task(1, "shutdown", "running"), task(1, "running", "running")], up)).toBe(1);
    // A task on a node that is down does not count.
    expect(runningReplicas([task(1, "running", "running", "n3")], up)).toBe(0);
});
