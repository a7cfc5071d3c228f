/** docker:index/network:Network — through the Docker Engine API, as the provider creates one. */
import { type Handler, labelsOf, removeWhenFree } from "./types";

export const dockerNetwork: Handler = {
    fields: ["name", "driver", "attachable", "options", "labels", "internal"],
    replaceOn: "all",
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
        const info = await docker.getNetwork(net.id).inspect();
        // What the provider reads back: the scope, and the subnets swarm allocated (from its pool).
        const ipamConfigs = (info.IPAM?.Config ?? []).map((c: any) => ({
            subnet: c.Subnet ?? "",
            gateway: c.Gateway ?? "",
            ipRange: c.IPRange ?? "",
            auxAddress: c.AuxiliaryAddresses ?? {},
        }));
        return { id: net.id, outputs: { scope: info.Scope, ipamConfigs } };
    },
    async delete(_inputs, id, ctx) {
        const docker = await ctx.docker();
        // Tasks of removed services detach from a network a few seconds after the service goes.
        await removeWhenFree(() => docker.getNetwork(id).remove());
    },
};
