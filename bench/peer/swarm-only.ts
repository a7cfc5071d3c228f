/**
 * swarm-ha's swarm alone, for the side-by-side with Ansible (bench/peer.ts): the same config
 * and the same SwarmCluster component index.ts uses (preflight, quorum guard, init or adopt,
 * joins, labels, health check), and nothing built on it. Run through the lab engine with
 * `lab/deploy.ts --program bench/peer/swarm-only.ts`.
 */
import { SwarmCluster } from "../../components/cluster";
import { loadStackConfig } from "../../components/config";

const config = loadStackConfig();
const cluster = new SwarmCluster("swarm", { nodes: config.nodes, ssh: config.ssh, defaultAddrPool: config.defaultAddrPool });

export const clusterId = cluster.clusterId;
