/**
 * Conformance of the lab engine to the released providers, one test per rule of
 * PROVIDER-RULES.md: the input, what the real provider accepts, reads back and plans, each with
 * the source line it comes from (@pulumi/command 1.2.1; @pulumi/docker 5.2.0 bridging
 * kreuzwerker/terraform-provider-docker v4.5.0, "tpd" below).
 */
import { formatGoDuration, goDuration, shortDur } from "../../components/common/go-duration";
import { copyCheckFailures } from "./handlers/command-copy";
import { sshTarget } from "./handlers/command-remote";
import { dockerNetwork, NETWORK_READ_DELAY_MS, NETWORK_SCHEMA } from "./handlers/docker-network";
import { dockerSecret } from "./handlers/docker-secret";
import { dockerService, goMapOrder, runningReplicas, serviceSpec } from "./handlers/docker-service";
import { dockerServiceConfig } from "./handlers/docker-service-config";
import { flattenService, SERVICE_SCHEMA } from "./handlers/docker-service-state";
import type { HandlerContext } from "./handlers/types";
import { changedFields, pathDiffers } from "./state-diff";

/** A service as the program writes one, durations in canonical form. */
const service = (over: Record<string, any> = {}) => ({
    name: "swarm-ha-app",
    labels: [{ label: "swarm-ha.tier", value: "app" }],
    mode: { replicated: { replicas: 2 } },
    taskSpec: {
        containerSpec: {
            image: "swarm-ha/app:1",
            env: { PORT: "8080", DRAIN_SECONDS: "5", SHUTDOWN_TIMEOUT_SECONDS: "10" },
            healthcheck: { tests: ["CMD", "true"], interval: "2s", timeout: "2s", retries: 2, startPeriod: "20s" },
            stopGracePeriod: "20s",
            secrets: [{ secretId: "s1", secretName: "pw", fileName: "pw", fileUid: "65534", fileGid: "65534", fileMode: 0o400 }],
        },
        resources: { limits: { memoryBytes: 256 << 20, nanoCpus: 500_000_000 }, reservation: { memoryBytes: 32 << 20, nanoCpus: 50_000_000 } },
        restartPolicy: { condition: "any", delay: "2s", maxAttempts: 0, window: "0s" },
        placement: { constraints: ["node.labels.swarm-ha.role.app == true"], prefs: ["node.labels.swarm-ha.name"], maxReplicas: 2 },
        networksAdvanceds: [{ id: "net-app" }, { id: "net-data-access" }],
    },
    endpointSpec: { mode: "dnsrr" },
    updateConfig: { parallelism: 1, order: "start-first", delay: "5s", monitor: "15s", failureAction: "rollback", maxFailureRatio: "0.0" },
    rollbackConfig: { parallelism: 1, order: "start-first", delay: "5s", monitor: "15s", failureAction: "pause", maxFailureRatio: "0.0" },
    convergeConfig: { delay: "5s", timeout: "5m" },
    ...over,
});
/** What the provider reads back after creating `inputs`: Docker holds the spec it was sent. */
const readBack = (inputs: Record<string, any>) => flattenService({ Spec: serviceSpec(inputs) }, inputs);
const withContainer = (c: Record<string, any>) => {
    const s = service();
    return { ...s, taskSpec: { ...s.taskSpec, containerSpec: { ...s.taskSpec.containerSpec, ...c } } };
};

describe("durations (tpd structures.go:1341-1350 shortDur over Go's time.Duration.String)", () => {
    test("Go prints a duration the way time.Duration.String does", () => {
        expect([0, 1, 1500, 2_500_000, 500e6, 1e9, 1.5e9, 60e9, 90e9, 3600e9, 3661e9].map(formatGoDuration)).toEqual([
            "0s", "1ns", "1.5µs", "2.5ms", "500ms", "1s", "1.5s", "1m0s", "1m30s", "1h0m0s", "1h1m1s",
        ]);
    });
    test("the provider reads 60s back as 1m, 120s as 2m, 1h as 1h", () => {
        expect([60e9, 120e9, 90e9, 3600e9, 3660e9].map(shortDur)).toEqual(["1m", "2m", "1m30s", "1h", "1h1m"]);
        expect([60, 120, 0.5, 15, 0].map(goDuration)).toEqual(["1m", "2m", "500ms", "15s", "0s"]);
    });
    test('a service written with "60s" differs from its read-back state on every run; "1m" does not', () => {
        const sixty = withContainer({ stopGracePeriod: "60s" });
        expect(changedFields(sixty, readBack(sixty), SERVICE_SCHEMA)).toEqual(["taskSpec"]);
        const minute = withContainer({ stopGracePeriod: "1m" });
        expect(changedFields(minute, readBack(minute), SERVICE_SCHEMA)).toEqual([]);
        const start = withContainer({ healthcheck: { tests: ["CMD", "true"], interval: "3s", timeout: "2s", retries: 3, startPeriod: "120s" } });
        expect(changedFields(start, readBack(start), SERVICE_SCHEMA)).toEqual(["taskSpec"]);
    });
});

describe("docker:Service read back and diffed (tpd resource_docker_service_funcs.go:108-166, resource_docker_service.go)", () => {
    test("an unchanged service in the provider's forms shows no diff against what Docker holds", () => {
        const s = service();
        expect(changedFields(s, readBack(s), SERVICE_SCHEMA)).toEqual([]);
    });
    test('the failure ratio reads back as "0.0"; "0" is equal by suppressEquivalentFloatRatio (resource_docker_service.go:782)', () => {
        const s = service({ updateConfig: { ...service().updateConfig, maxFailureRatio: "0" } });
        expect(readBack(s).updateConfig).toMatchObject({ maxFailureRatio: "0.0" });
        expect(changedFields(s, readBack(s), SERVICE_SCHEMA)).toEqual([]);
    });
    test("env goes out in Go's map order (structures.go:728-729) but is compared as a map: no diff, whatever the order", () => {
        const s = service();
        const order = goMapOrder(s.taskSpec.containerSpec.env, ["PORT=8080", "DRAIN_SECONDS=5", "SHUTDOWN_TIMEOUT_SECONDS=10"]);
        expect(order).not.toEqual(["PORT=8080", "DRAIN_SECONDS=5", "SHUTDOWN_TIMEOUT_SECONDS=10"]);
        expect(order.sort()).toEqual(["DRAIN_SECONDS=5", "PORT=8080", "SHUTDOWN_TIMEOUT_SECONDS=10"]);
        expect(changedFields(s, readBack(s), SERVICE_SCHEMA)).toEqual([]);
        expect(goMapOrder({ ONLY: "1" }, ["ONLY=1"])).toEqual(["ONLY=1"]);
    });
    test("a replica count is an update in place: `mode` is ForceNew as a block only (resource_docker_service.go:762-768)", () => {
        const s = service();
        const more = service({ mode: { replicated: { replicas: 3 } } });
        expect(changedFields(more, readBack(s), SERVICE_SCHEMA)).toEqual(["mode"]);
        expect(dockerService.replaceOn).toEqual(["name"]);
    });
    test("a network given by name reads back as an ID, a ForceNew change (structures.go:526-541; resource_docker_service.go:701-736)", () => {
        const host = service({ taskSpec: { ...service().taskSpec, networksAdvanceds: [{ name: "host" }] } });
        const state = readBack(host) as any;
        state.taskSpec.networksAdvanceds = [{ id: "4f1c0host0network0id" }];
        expect(pathDiffers(host, state, "taskSpec.networksAdvanceds", SERVICE_SCHEMA)).toBe(true);
        expect(dockerService.replaceOnPaths).toContain("taskSpec.networksAdvanceds");
    });
    test("sets ignore order; a left-out secret file mode counts as its default 0444 (resource_docker_service.go:383-390)", () => {
        const s = service({ labels: [{ label: "b", value: "2" }, { label: "a", value: "1" }] });
        const state = readBack(s) as any;
        state.labels.reverse();
        expect(changedFields(s, state, SERVICE_SCHEMA)).toEqual([]);
        const noMode = withContainer({ secrets: [{ secretId: "s1", secretName: "pw", fileName: "pw" }] });
        expect(changedFields(noMode, readBack(noMode), SERVICE_SCHEMA)).toEqual([]);
    });
    test("removing a field that is not Computed is a change (env gone), a Computed one is not (labels gone)", () => {
        const s = service();
        const noEnv = withContainer({ env: undefined });
        expect(changedFields(noEnv, readBack(s), SERVICE_SCHEMA)).toEqual(["taskSpec"]);
        const { labels: _labels, ...noLabels } = s;
        expect(changedFields(noLabels, readBack(s), SERVICE_SCHEMA)).toEqual([]);
    });
    test("task states `remove` and `orphaned` are not among the provider's numberedStates (funcs.go:668-682)", () => {
        const t = (state: string) => ({ Slot: 1, DesiredState: "running", Status: { State: state }, NodeID: "n1" });
        expect(runningReplicas([t("orphaned")], new Set(["n1"]))).toBe(0);
        expect(runningReplicas([t("remove"), t("running")], new Set(["n1"]))).toBe(1);
    });
});

describe("docker:Network read back (tpd resource_docker_network_funcs.go:159-203, resource_docker_network.go:48-53)", () => {
    const readNetwork = async (options: Record<string, string> | undefined) => {
        const created: Record<string, any> = {};
        const fake: any = {
            createNetwork: async (spec: any) => ((created.spec = spec), { id: "n1" }),
            getNetwork: () => ({
                // Swarm allocates a VXLAN ID unless the options name one, and reports it among them.
                inspect: async () => ({
                    Name: created.spec.Name,
                    Driver: "overlay",
                    Scope: "swarm",
                    Labels: created.spec.Labels,
                    Options: { "com.docker.network.driver.overlay.vxlanid_list": "4097", ...created.spec.Options },
                    IPAM: { Driver: "default", Config: [{ Subnet: "10.0.1.0/24", Gateway: "10.0.1.1" }] },
                }),
            }),
        };
        const inputs = { name: "swarm-ha-app", driver: "overlay", ...(options ? { options } : {}) };
        const done = await createOnFakeClock(inputs, fake);
        return { inputs, state: done.state! };
    };
    /** Creates through the handler on jest's fake clock, moving it past the read-back delay. */
    const createOnFakeClock = async (inputs: Record<string, any>, fake: any) => {
        jest.useFakeTimers();
        try {
            const creating = dockerNetwork.create(inputs, ctxWith(fake));
            await jest.advanceTimersByTimeAsync(NETWORK_READ_DELAY_MS);
            return await creating;
        } finally {
            jest.useRealTimers();
        }
    };
    test("the read-back is one look, 2 s after the create: a network the swarm has not allocated by then reads back with no driver and no options, and is replaced on the next up", async () => {
        const looks: number[] = [];
        let createdAt = 0;
        const fake: any = {
            createNetwork: async () => ((createdAt = Date.now()), { id: "n1" }),
            // The allocator has not run yet: moby's BasicNetworkFromGRPC leaves Driver and Options unset.
            getNetwork: () => ({ inspect: async () => (looks.push(Date.now() - createdAt), { Name: "swarm-ha-app", Scope: "swarm", IPAM: { Driver: "default", Config: [] } }) }),
        };
        const inputs = { name: "swarm-ha-app", driver: "overlay", options: { "com.docker.network.driver.overlay.vxlanid_list": "1048577" } };
        const done = await createOnFakeClock(inputs, fake);
        expect(looks).toEqual([NETWORK_READ_DELAY_MS]);
        expect(NETWORK_READ_DELAY_MS).toBe(2000);
        expect(changedFields(inputs, done.state!, NETWORK_SCHEMA)).toEqual(["driver", "options"]);
    });
    test("options {encrypted} differ from what Docker reads back (vxlanid_list added): the network would be replaced every run", async () => {
        const { inputs, state } = await readNetwork({ encrypted: "true" });
        expect(changedFields(inputs, state, NETWORK_SCHEMA)).toEqual(["options"]);
        expect(dockerNetwork.replaceOn).toBe("all");
    });
    test("options naming their own VXLAN ID read back as they were sent; no options at all keep Docker's (Optional+Computed)", async () => {
        const pinned = await readNetwork({ "com.docker.network.driver.overlay.vxlanid_list": "1048577", encrypted: "true" });
        expect(changedFields(pinned.inputs, pinned.state, NETWORK_SCHEMA)).toEqual([]);
        const none = await readNetwork(undefined);
        expect(changedFields(none.inputs, none.state, NETWORK_SCHEMA)).toEqual([]);
    });
});

describe("deletes return the daemon's error (tpd funcs.go:288-290, resource_docker_secret.go:143-150, resource_docker_config.go:143-146)", () => {
    const notFound = Object.assign(new Error("(HTTP code 404) no such object - not found"), { statusCode: 404 });
    const inUse = Object.assign(new Error("(HTTP code 400) config is in use by the following service: swarm-ha-app"), { statusCode: 400 });
    test("a service, secret or config already gone fails its delete", async () => {
        const fake: any = { getService: () => ({ remove: async () => Promise.reject(notFound) }), getSecret: () => ({ remove: async () => Promise.reject(notFound) }), getConfig: () => ({ remove: async () => Promise.reject(notFound) }) };
        await expect(dockerService.delete!({ name: "x" }, "id1", ctxWith(fake))).rejects.toThrow(/Error deleting service with ID 'id1'.*not found/);
        await expect(dockerSecret.delete!({}, "s1", ctxWith(fake))).rejects.toThrow(/not found/);
        await expect(dockerServiceConfig.delete!({}, "c1", ctxWith(fake))).rejects.toThrow(/not found/);
    });
    test("a config still in use fails at once, without retries", async () => {
        let calls = 0;
        const fake: any = { getConfig: () => ({ remove: async () => (calls++, Promise.reject(inUse)) }) };
        await expect(dockerServiceConfig.delete!({}, "c1", ctxWith(fake))).rejects.toThrow(/in use/);
        expect(calls).toBe(1);
    });
    test("a task container still there when its stop grace period ends fails the delete (funcs.go:297-341)", async () => {
        const fake: any = {
            listTasks: async () => [{ Status: { State: "running", ContainerStatus: { ContainerID: "c1" } } }],
            getService: () => ({ remove: async () => undefined }),
            getContainer: () => ({ wait: () => new Promise(() => undefined), remove: async () => undefined }),
        };
        await expect(dockerService.delete!({ name: "x", taskSpec: { containerSpec: { stopGracePeriod: "100ms" } } }, "id1", ctxWith(fake))).rejects.toThrow(
            /error on wait for container with ID 'c1': context deadline exceeded/,
        );
    });
});

describe("command provider (@pulumi/command 1.2.1)", () => {
    test("CopyToRemote's Check takes a path archive, a path asset or a text asset, and refuses an AssetArchive (copyController.go:88-113)", () => {
        expect(copyCheckFailures({ "@archive": { assets: {}, sha256: "x" } })).toEqual(["archive must be a path to a file or directory"]);
        expect(copyCheckFailures({ "@archive": { path: "/tmp/ctx", sha256: "x" } })).toEqual([]);
        expect(copyCheckFailures({ "@asset": { text: "hi", sha256: "x" } })).toEqual([]);
        expect(copyCheckFailures(undefined)).toEqual(["either asset or archive must be set"]);
    });
    test("a dead host is dialled dialErrorLimit + 1 times (connection.go:160,252-255)", () => {
        expect(sshTarget({ host: "h", dialErrorLimit: 4 }, undefined).attempts).toBe(5);
        expect(sshTarget({ host: "h" }, undefined).attempts).toBe(11);
    });
});

function ctxWith(docker: any): HandlerContext {
    return { name: "test", deadline: () => undefined, docker: async () => docker, log: () => undefined };
}
