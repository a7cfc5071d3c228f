/**
 * swarm-ha: the stack's entry point. Reads and validates the stack's config (nothing is
 * created if it is invalid), forms the swarm, then builds on its Docker provider.
 */
import * as pulumi from "@pulumi/pulumi";
import { SwarmCluster } from "./components/cluster";
import { loadStackConfig } from "./components/config";
import { SwarmNetworks } from "./components/networks";
import { StackSecrets } from "./components/secrets";

const config = loadStackConfig();

const cluster = new SwarmCluster("swarm", { nodes: config.nodes, ssh: config.ssh, defaultAddrPool: config.defaultAddrPool });

// Every Docker object below reaches the swarm through its component's options.
const onSwarm = { providers: { docker: cluster.provider } };

const networks = new SwarmNetworks("net", { namePrefix: config.namePrefix, encrypted: config.encryptOverlay }, onSwarm);

const secrets = new StackSecrets("secrets", { namePrefix: config.namePrefix, supplied: config.suppliedSecrets }, onSwarm);

export const clusterId = cluster.clusterId;
export const dockerHost = cluster.dockerHost;
/** Secret: `pulumi stack output joinTokens --show-secrets` to join a host by hand. */
export const joinTokens = cluster.joinTokens;
export const nodes = pulumi
    .all(cluster.nodes.map((n) => n.nodeId))
    .apply((ids) =>
        Object.fromEntries(
            cluster.nodes.map((n, i) => [
                n.spec.name,
                { address: n.spec.address, swarmRole: n.spec.swarmRole, roles: n.spec.roles, availability: n.spec.availability, nodeId: ids[i] },
            ]),
        ),
    );
export const networkNames = networks.names;
export const secretNames = pulumi.all(Object.fromEntries(Object.entries(secrets.secrets).map(([k, s]) => [k, s.name])));
export const vip = config.vip ?? null;
