/**
 * docker:index/network:Network — through the Docker Engine API, as the provider creates one
 * (kreuzwerker/terraform-provider-docker v4.5.0, internal/provider/resource_docker_network*.go):
 * - every field is ForceNew (resource_docker_network.go:25-142): any diff replaces the network;
 * - after the create, the provider reads the network back (funcs.go:84-108, 159-203): once,
 *   2 s after the create (`networkReadRefreshDelay`, :20, :98). Its wait for options "not
 *   exposed" applies only when the scope is "overlay" (:185), which a swarm network's never is
 *   (it is "swarm"), so whatever the daemon answers then is the state. For a swarm network the
 *   daemon answers from the swarm's allocator (moby daemon/cluster/convert/network.go
 *   BasicNetworkFromGRPC): the driver and `Options` are the allocated driver state, the
 *   config's options plus `com.docker.network.driver.overlay.vxlanid_list`; before the
 *   allocator has run they are empty, and the next `pulumi up` replaces the network (every
 *   field ForceNew) until a `pulumi refresh` reads it again. `options` is Optional+Computed, so
 *   a config without options keeps them, but a config WITH options differs from them on every
 *   run (a TypeMap compares whole): the network would be replaced on every `pulumi up`;
 * - delete (funcs.go:110-135, 205-225): a network already gone is fine; "has active
 *   endpoints" is retried (first look after 2 s, then at least every 5 s, for 30 s); any other
 *   error fails the step at once.
 */
import type { StateSchema } from "../state-diff";
import { type Handler, labelsOf } from "./types";

/** resource_docker_network.go: the fields that are Optional+Computed, or have a default. */
export const NETWORK_SCHEMA: StateSchema = {
    computed: ["driver", "options", "internal", "ipamConfigs", "scope"], // :45, :53, :60, :103, :142
    defaults: { ipamDriver: "default" }, // :88
    maps: ["options", "ipamOptions"],
    sets: ["labels", "ipamConfigs"],
};

const labelSet = (labels: Record<string, string> | undefined) => Object.entries(labels ?? {}).map(([label, value]) => ({ label, value }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** resource_docker_network_funcs.go:20 `networkReadRefreshDelay`: the read-back waits this long first. */
export const NETWORK_READ_DELAY_MS = 2000;

export const dockerNetwork: Handler = {
    fields: ["name", "driver", "attachable", "options", "labels", "internal"],
    replaceOn: "all",
    schema: NETWORK_SCHEMA,
    async create(inputs, ctx) {
        const docker = await ctx.docker();
        const net = await docker.createNetwork({
            Name: inputs.name,
            Driver: inputs.driver ?? "bridge",
            Attachable: inputs.attachable ?? false,
            Internal: inputs.internal ?? false,
            Options: inputs.options ?? {},
            Labels: labelsOf(inputs.labels),
            CheckDuplicate: true,
        });
        await sleep(NETWORK_READ_DELAY_MS);
        const info: any = await docker.getNetwork(net.id).inspect();
        // What the provider reads back: the scope, and the subnets swarm allocated (from its pool).
        const ipamConfigs = (info.IPAM?.Config ?? []).map((c: any) => ({
            subnet: c.Subnet ?? "",
            gateway: c.Gateway ?? "",
            ipRange: c.IPRange ?? "",
            auxAddress: c.AuxiliaryAddresses ?? {},
        }));
        const state = {
            name: info.Name,
            labels: labelSet(info.Labels),
            driver: info.Driver,
            internal: info.Internal ?? false,
            attachable: info.Attachable ?? false,
            ipamDriver: info.IPAM?.Driver ?? "default",
            ipamOptions: info.IPAM?.Options ?? {},
            options: info.Options ?? {},
            ipamConfigs,
            scope: info.Scope,
        };
        return { id: net.id, outputs: { scope: info.Scope, ipamConfigs }, state };
    },
    async delete(_inputs, id, ctx) {
        const docker = await ctx.docker();
        const deadline = Date.now() + 30_000;
        await sleep(2000);
        for (;;) {
            try {
                await docker.getNetwork(id).inspect();
            } catch {
                return; // gone already
            }
            try {
                await docker.getNetwork(id).remove();
                return;
            } catch (e) {
                // Tasks of removed services detach from a network a few seconds after the service goes.
                if (!/has active endpoints/.test(String((e as Error).message)) || Date.now() >= deadline) throw e;
            }
            await sleep(5000);
        }
    },
};
