/**
 * SwarmNetworks: one overlay network per kind of traffic, so that a service reaches only
 * the tiers it needs (the load balancer never sees the databases; the app sees Postgres only
 * through its proxy). NETWORK_KINDS says which service joins which.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { NETWORK_KINDS, type NetworkKind, networkName, VXLAN_ID_OPTION, vxlanId } from "../common/names";
import { requireDockerProvider } from "../common/providers";

export { NETWORK_KINDS, type NetworkKind } from "../common/names";

export interface SwarmNetworksArgs {
    /** Prefix of the Docker network names, e.g. `swarm-ha` gives `swarm-ha-edge`. */
    namePrefix: string;
    /**
     * Encrypt overlay traffic between nodes (IPsec). Default: `true`. Turn it off only where
     * the hosts' kernels lack ESP support (as in the local lab) or the links are trusted.
     */
    encrypted?: boolean;
}

/**
 * Which networks admit one-off containers (`docker run --network`): app, data-access and
 * data, for migrations and restore checks; monitoring, for ad-hoc scrapes. Edge carries only
 * the load balancer.
 */
const ATTACHABLE: Record<NetworkKind, boolean> = { edge: false, app: true, "data-access": true, data: true, monitoring: true };

/**
 * The swarm's networks. Pass the swarm's Docker provider in the options
 * (`{ providers: { docker: cluster.provider } }`): every network inherits it from here.
 */
export class SwarmNetworks extends pulumi.ComponentResource {
    public readonly networks: Record<NetworkKind, docker.Network>;
    /** Docker network names by kind. */
    public readonly names: Record<NetworkKind, string>;

    constructor(name: string, args: SwarmNetworksArgs, opts?: pulumi.ComponentResourceOptions) {
        requireDockerProvider("SwarmNetworks", opts);
        super("swarm-ha:networks:SwarmNetworks", name, {}, opts);
        const encrypted = args.encrypted ?? true;
        const networks = {} as Record<NetworkKind, docker.Network>;
        const names = {} as Record<NetworkKind, string>;
        for (const kind of NETWORK_KINDS) {
            names[kind] = networkName(args.namePrefix, kind);
            networks[kind] = new docker.Network(
                `${name}-${kind}`,
                {
                    name: names[kind],
                    driver: "overlay",
                    attachable: ATTACHABLE[kind],
                    // Docker enables IPsec when the "encrypted" option is present at all. The
                    // VXLAN ID is ours (see vxlanId): Docker reads the options back with it, and
                    // any option the program did not send would replace the network every run.
                    options: { [VXLAN_ID_OPTION]: String(vxlanId(args.namePrefix, kind)), ...(encrypted ? { encrypted: "true" } : {}) },
                    labels: [
                        { label: "swarm-ha.network", value: kind },
                        { label: "swarm-ha.stack", value: pulumi.getStack() },
                    ],
                },
                // A network keeps its name when replaced (e.g. encryption turned off), and Docker
                // refuses two networks of one name: remove the old one first.
                { parent: this, deleteBeforeReplace: true },
            );
        }
        this.networks = networks;
        this.names = names;
        this.registerOutputs({ names });
    }
}
