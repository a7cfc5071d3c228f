/**
 * What the tests' fake hosts answer: the tokens and IDs the swarm would give, and what each host
 * script prints. No jest in here: the production-install test loads it with Pulumi's ts-node.
 */
export const FAKE_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-fake-test-key\n-----END OPENSSH PRIVATE KEY-----";
export const MANAGER_TOKEN = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-managerfakefakefakefake";
export const WORKER_TOKEN = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-workerfakefakefakefakef";
export const CLUSTER_ID = "k2x9fakeclusterid0001";

/** What the hosts' scripts print: told apart by the script a command runs. */
export function fakeStdout(name: string, create: string): string {
    const node = name.replace(/^swarm-/, "").replace(/-(member|preflight|settings|registration)$/, "");
    if (create.includes("# swarm-ha init.sh")) {
        return `action=initialised\ncluster_id=${CLUSTER_ID}\nnode_id=id-${node}\nmanager_token=${MANAGER_TOKEN}\nworker_token=${WORKER_TOKEN}\n`;
    }
    if (create.includes("# swarm-ha join.sh")) return `action=joined\nnode_id=id-${node}\nreplaced_node_id=\n`;
    if (name.endsWith("-preflight")) return "docker_version=24.0.7\nswarm_state=inactive\n";
    if (name.endsWith("-app-role")) return "postgres-roles: app_a created\napp_login=app_a\n";
    return "";
}
