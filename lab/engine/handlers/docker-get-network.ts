/**
 * docker:index/getNetwork:getNetwork — a network by name or ID, inspected through the
 * provider's engine (the first manager), with the fields the provider returns.
 */
import type { Invoke } from "./types";

export const getNetwork: Invoke = async (inputs, ctx) => {
    const docker = await ctx.docker();
    const n: any = await docker.getNetwork(inputs.name).inspect();
    return {
        id: n.Id,
        name: n.Name,
        driver: n.Driver,
        internal: n.Internal,
        scope: n.Scope,
        options: n.Options ?? {},
        ipamConfigs: (n.IPAM?.Config ?? []).map((c: any) => ({ subnet: c.Subnet ?? "", gateway: c.Gateway ?? "", ipRange: c.IPRange ?? "", auxAddress: c.AuxiliaryAddresses ?? {} })),
        containers: [],
    };
};
