/**
 * npm run bench:peer [-- --runs N]
 * swarm-ha side by side with what most people would use instead, on the same lab hosts and in
 * one run: an Ansible playbook (bench/peer/swarm.yml, Debian's ansible with its
 * community.docker collection) that does the job of swarm-ha's SwarmCluster — init, join two
 * managers and a worker, labels. For each tool, N times: from bare hosts to a formed swarm,
 * then a re-run with nothing to change. After each first run the swarm is checked to be the
 * same (3 managers and 1 worker Ready, the same labels), so neither wins by doing less.
 * swarm-ha runs bench/peer/swarm-only.ts (its SwarmCluster alone) through the lab engine.
 * Writes bench/results/peer.json and a line in bench/results/SUMMARY.md. Goal: swarm-ha
 * faster on both; a miss is reported as one. Needs the lab up (npm run lab:up).
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { baseNodes, deploy, hosts, resetToBareHosts, STATE } from "../lab/control";
import { nodeLabels } from "../components/cluster";
import { hostsEngine, onLabNode } from "../lab/nodes";
import { ROOT } from "../lab/stack";
import { median, RUN_COMMIT } from "./results";
import { parseCli, wholeNumber } from "../support/cli";

const { values: flags } = parseCli("npm run bench:peer [-- --runs 3]", { runs: { type: "string" } });
const runs = wholeNumber(flags.runs, "--runs", 3);
const PLAYBOOK = path.join(ROOT, "bench", "peer", "swarm.yml");
const PROGRAM = path.join(ROOT, "bench", "peer", "swarm-only.ts");
const M1 = hosts.nodes.find((n) => n.name === "lab-m1")!.address;
const log = (l: string) => console.log(`[bench:peer] ${l}`);

/** Ansible from Debian's archive (with community.docker), installed if missing. */
function ensureAnsible(): void {
    if (spawnSync("ansible-playbook", ["--version"]).status === 0) return;
    log("installing ansible (apt-get)");
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "ansible"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
}

/** The inventory: the lab's hosts, the same roles, addresses and labels swarm-ha's config gives them. */
function writeInventory(): string {
    const group = (role: "manager" | "worker") =>
        Object.fromEntries(
            baseNodes
                .filter((n) => n.swarmRole === role)
                .map((n) => [n.name, { ansible_host: n.address, advertise_addr: n.address, swarm_labels: Object.fromEntries(nodeLabels({ ...n, advertiseAddress: n.address, availability: "active", roles: n.roles as any })) }]),
        );
    const inventory = {
        all: {
            vars: {
                ansible_user: hosts.sshUser,
                ansible_ssh_private_key_file: hosts.sshKeyPath,
                ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                ansible_python_interpreter: "/usr/bin/python3",
                default_addr_pool: "198.18.64.0/18",
            },
            children: { managers: { hosts: group("manager") }, workers: { hosts: group("worker") } },
        },
    };
    const file = path.join(ROOT, ".lab", "peer-inventory.json");
    fs.writeFileSync(file, JSON.stringify(inventory, null, 2));
    return file;
}

/** The swarm as a user would check it: every node's role, status and labels (swarm-ha's own bookkeeping label left out). */
function swarmShape(): string[] {
    return onLabNode(M1, "docker node inspect $(docker node ls -q) --format '{{.Description.Hostname}} {{.Spec.Role}} {{.Status.State}} {{json .Spec.Labels}}'")
        .trim()
        .split("\n")
        .map((l) => {
            const [name, role, state, labels] = l.split(" ");
            const { ["swarm-ha.managed-labels"]: _, ...rest } = JSON.parse(labels) as Record<string, string>;
            return `${name} ${role} ${state} ${JSON.stringify(Object.fromEntries(Object.entries(rest).sort()))}`;
        })
        .sort();
}

function timedAnsible(inventory: string): { seconds: number; changed: number } {
    const t0 = Date.now();
    const r = spawnSync("ansible-playbook", ["-i", inventory, PLAYBOOK], { cwd: ROOT, encoding: "utf8", env: { ...process.env, ANSIBLE_HOST_KEY_CHECKING: "False", ANSIBLE_NOCOLOR: "1" } });
    const seconds = (Date.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`ansible-playbook failed (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-3000)}`);
    const changed = [...r.stdout.matchAll(/changed=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
    return { seconds, changed };
}

function timedSwarmHa(): { seconds: number; changed: number } {
    const t0 = Date.now();
    const d = deploy(baseNodes, {}, ["--program", PROGRAM]);
    const seconds = (Date.now() - t0) / 1000;
    if (d.status !== 0) throw new Error(`swarm-ha failed: ${d.summary.error}`);
    // The host-key and health checks run on every update by design; count the rest.
    const changed = d.summary.steps.filter((s) => s.action !== "same" && !/-(health|host-keys)$/.test(s.name)).length;
    return { seconds, changed };
}

ensureAnsible();
const inventory = writeInventory();
const samples = { swarmHa: { fromBare: [] as number[], noChange: [] as number[], noChangeChanged: [] as number[] }, ansible: { fromBare: [] as number[], noChange: [] as number[], noChangeChanged: [] as number[] } };
let expectedShape: string[] | undefined;
for (let i = 1; i <= runs; i++) {
    for (const tool of ["swarmHa", "ansible"] as const) {
        resetToBareHosts();
        const first = tool === "swarmHa" ? timedSwarmHa() : timedAnsible(inventory);
        const shape = swarmShape();
        expectedShape ??= shape;
        if (JSON.stringify(shape) !== JSON.stringify(expectedShape)) throw new Error(`${tool} formed another swarm:\n${shape.join("\n")}\nexpected:\n${expectedShape.join("\n")}`);
        const again = tool === "swarmHa" ? timedSwarmHa() : timedAnsible(inventory);
        samples[tool].fromBare.push(first.seconds);
        samples[tool].noChange.push(again.seconds);
        samples[tool].noChangeChanged.push(again.changed);
        log(`run ${i} ${tool}: bare to formed ${first.seconds.toFixed(1)} s, no-change re-run ${again.seconds.toFixed(1)} s (${again.changed} changed)`);
    }
}
resetToBareHosts();
fs.rmSync(STATE, { force: true });

const versions = {
    ansible: execFileSync("ansible", ["--version"], { encoding: "utf8" }).split("\n")[0],
    communityDocker: JSON.parse(fs.readFileSync("/usr/lib/python3/dist-packages/ansible_collections/community/docker/MANIFEST.json", "utf8")).collection_info.version,
};
const m = {
    swarmHa: { fromBare: median(samples.swarmHa.fromBare), noChange: median(samples.swarmHa.noChange) },
    ansible: { fromBare: median(samples.ansible.fromBare), noChange: median(samples.ansible.noChange) },
};
const result = {
    date: new Date().toISOString(),
    command: `npm run bench:peer -- --runs ${runs}`,
    commit: RUN_COMMIT,
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    engine: hostsEngine(),
    lab: "3 managers + 1 worker (the lab's hosts), the same roles, addresses, address pool and labels for both",
    versions,
    runs,
    medianSeconds: m,
    goal: "swarm-ha faster on both",
    met: { fromBare: m.swarmHa.fromBare! < m.ansible.fromBare!, noChange: m.swarmHa.noChange! < m.ansible.noChange! },
    samples,
    swarmShape: expectedShape,
    doesMoreOrLess: {
        swarmHa: [
            "checks each host's SSH key against its pin before any step (Ansible here trusts any key)",
            "preflight on every host: Docker 20.10 or newer, the socket usable, curl and awk present",
            "a quorum guard before any change of the managers, and removals of nodes no longer in config (drain, demote, node rm, leave)",
            "adopts a swarm a host already manages, and cleans a stale node of a host that rejoins",
            "join tokens only on stdin, never in a process list; state of every step (for preview and destroy)",
            "a health check on every run: every node Ready, active, managers reachable, or the run fails",
            "runs through the lab engine, which is Pulumi's engine's stand-in (the real one adds its own start-up time)",
        ],
        ansible: [
            "needs Python and the Docker SDK for Python on every host (swarm-ha needs Docker, curl and awk)",
            "runs its plays one after another; within a play, hosts in parallel (managers joined one at a time, serial: 1)",
            "no removal of nodes that leave the inventory, no quorum guard, no health check beyond the modules' results",
        ],
    },
};
const out = path.join(ROOT, "bench", "results", "peer.json");
fs.writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
const fmt = (x: number | null) => (x === null ? "n/a" : `${x.toFixed(1)} s`);
const line =
    `- ${result.date.slice(0, 10)} peer (swarm-ha's SwarmCluster vs an Ansible playbook, ${versions.ansible}, community.docker ${versions.communityDocker}; 3 managers + 1 worker, labels; commit ${RUN_COMMIT}; hosts' Docker ${result.engine}), median of ${runs}: ` +
    `bare hosts to a formed swarm: swarm-ha ${fmt(m.swarmHa.fromBare)}, Ansible ${fmt(m.ansible.fromBare)} (goal swarm-ha faster: ${result.met.fromBare ? "met" : "MISSED"}); ` +
    `no-change re-run: swarm-ha ${fmt(m.swarmHa.noChange)}, Ansible ${fmt(m.ansible.noChange)} (goal: ${result.met.noChange ? "met" : "MISSED"}) — \`${result.command}\``;
fs.appendFileSync(path.join(ROOT, "bench", "results", "SUMMARY.md"), line + "\n");
console.log(line);
