/**
 * Driving the lab from tests and benchmarks: running the unchanged program through the lab
 * engine (a `pulumi up` with a given stack config, in the foreground or the background),
 * reading the swarm as a user would, killing and starting the lab's hosts, and a known base
 * deploy that each end-to-end file starts from. Each deploy's config, log and summary are kept
 * in .lab/deploys/.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { DeploySummary } from "./deploy";
import { onLabNode } from "./nodes";
import { type LabNode, ROOT, labNodes, labStackConfig, readHosts, writeStackFile } from "./stack";
import { LAB_DOCKER } from "./constants";

export const hosts = readHosts();
export const WORK = path.join(ROOT, ".lab", "deploys");
export const STATE = path.join(ROOT, ".lab", "state", "lab.json");
fs.mkdirSync(WORK, { recursive: true });

export const byName = (name: string) => hosts.nodes.find((n) => n.name === name)!;
export const addressOf = (name: string) => byName(name).address;
/** The lab stack's nodes as `npm run lab:up` deploys them: 3 managers, 1 worker, roles spread. */
export const baseNodes = labNodes(hosts);
export const baseNode = (name: string) => baseNodes.find((n) => n.name === name)!;

export interface Deployed {
    status: number | null;
    summary: DeploySummary;
    output: string;
}

let runs = 0;
function deployArgs(nodes: LabNode[], extra: Record<string, unknown>, args: string[]) {
    const n = ++runs;
    const config = path.join(WORK, `Pulumi.lab-${n}.yaml`);
    const summaryFile = path.join(WORK, `summary-${n}.json`);
    writeStackFile(config, labStackConfig(hosts, nodes, extra));
    return { n, summaryFile, argv: ["tsx", path.join(ROOT, "lab", "deploy.ts"), "--stack", "lab", "--config", config, "--summary", summaryFile, ...args] };
}
function finished(n: number, summaryFile: string, status: number | null, output: string): Deployed {
    fs.writeFileSync(path.join(WORK, `deploy-${n}.log`), output);
    if (!fs.existsSync(summaryFile)) throw new Error(`deploy ${n} wrote no summary (exit ${status}):\n${output.slice(-3000)}`);
    return { status, summary: JSON.parse(fs.readFileSync(summaryFile, "utf8")), output };
}

/** `pulumi up` of the lab stack with these nodes (and extra config), through the lab engine. */
export function deploy(nodes: LabNode[], extra: Record<string, unknown> = {}, args: string[] = []): Deployed {
    const { n, summaryFile, argv } = deployArgs(nodes, extra, args);
    const r = spawnSync("npx", argv, { cwd: ROOT, encoding: "utf8", timeout: 10 * 60 * 1000 });
    return finished(n, summaryFile, r.status, `${r.stdout}\n${r.stderr}`);
}

/** `pulumi preview` of the lab stack with these nodes (and extra config): what `deploy` would do, done to nothing. */
export function preview(nodes: LabNode[], extra: Record<string, unknown> = {}, args: string[] = []): Deployed {
    return deploy(nodes, extra, ["--preview", ...args]);
}

/**
 * The steps of a preview or an update, sorted, as "action name" (unchanged resources left
 * out, and the old half of a replacement, which a preview shows as part of its "replace").
 */
export function plan(d: Deployed): string[] {
    return d.summary.steps
        .filter((s) => s.action !== "same" && s.action !== "delete-replaced")
        .map((s) => `${s.action} ${s.name}`)
        .sort();
}

/** Arguments that give a deploy secret config, as `pulumi config set --secret` would (the file is readable by root alone). */
export function secretConfig(values: Record<string, string>): string[] {
    const file = path.join(WORK, `secrets-${++runs}.json`);
    fs.writeFileSync(file, JSON.stringify(values), { mode: 0o600 });
    return ["--secrets", file];
}

/** The same, started in the background: resolves when the deploy ends; `output()` shows its progress so far. */
export function deployInBackground(nodes: LabNode[], extra: Record<string, unknown> = {}, args: string[] = []) {
    const { n, summaryFile, argv } = deployArgs(nodes, extra, args);
    const child = spawn("npx", argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const done = new Promise<Deployed>((resolve) => child.on("close", (status) => resolve(finished(n, summaryFile, status, output))));
    return { done, output: () => output };
}

/** The steps that run on every update: the host keys first, the services' spread and the health checks last. */
export const EVERY_RUN = /-(health|host-keys|spread)$/;

/** What a run changed, as "action name" (unchanged resources and the every-run checks left out). */
export function changes(d: Deployed): string[] {
    return d.summary.steps.filter((s) => s.action !== "same" && !EVERY_RUN.test(s.name)).map((s) => `${s.action} ${s.name}`);
}

export interface NodeRow {
    id: string;
    hostname: string;
    status: string;
    manager: string;
}
/** `docker node ls` on a manager, sorted by host name. */
export function nodeList(manager = addressOf("lab-m1")): NodeRow[] {
    return onLabNode(manager, "docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}} {{.ManagerStatus}}'")
        .trim()
        .split("\n")
        .map((l) => {
            const [id, hostname, status, managerStatus = ""] = l.split(" ");
            return { id, hostname, status, manager: managerStatus };
        })
        .sort((a, b) => a.hostname.localeCompare(b.hostname));
}
/** The node list as "hostname status manager-status" lines. */
export const nodeSummary = (manager?: string) => nodeList(manager).map((n) => `${n.hostname} ${n.status} ${n.manager}`.trim());
export const swarmState = (address: string) => onLabNode(address, "docker info --format '{{.Swarm.LocalNodeState}}'").trim();

// --- the lab's hosts, through the lab's private Docker engine (lab/README.md) ----------------

const labDocker = (...args: string[]) => execFileSync("docker", [...LAB_DOCKER, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** iptables rules that black-hole a host: nothing reaches it, from this machine or the other nodes. */
function deadHostRules(address: string): string[][] {
    const mark = ["-m", "comment", "--comment", "swarm-ha-lab-dead-host", "-j", "DROP"];
    return [
        ["INPUT", "-s", address, ...mark],
        ["OUTPUT", "-d", address, ...mark],
        ["DOCKER-USER", "-s", address, ...mark],
        ["DOCKER-USER", "-d", address, ...mark],
    ];
}

/**
 * The host dies as a machine does when it loses power: its address stops answering at once
 * and nobody hears a goodbye. (Killing the container alone is not that: its kernel closes
 * its connections with a reset.) So: black-hole its address first, then kill it.
 */
export function killHost(name: string): void {
    for (const [chain, ...rule] of deadHostRules(addressOf(name))) execFileSync("iptables", ["-I", chain, ...rule]);
    labDocker("kill", name);
}

/** Waits until the managers see the node down (a dead host is noticed after a few missed heartbeats). */
export function waitUntilDown(name: string, manager = addressOf("lab-m1")): void {
    const deadline = Date.now() + 120_000;
    while (nodeList(manager).find((n) => n.hostname === name)?.status !== "Down") {
        if (Date.now() > deadline) throw new Error(`the managers did not see ${name} down within 120s`);
        spawnSync("sleep", ["1"]);
    }
}

/** The host comes back (its disk, and so its swarm state, survived) and answers SSH again. */
export function startHost(name: string): void {
    for (const [chain, ...rule] of deadHostRules(addressOf(name))) {
        while (spawnSync("iptables", ["-C", chain, ...rule]).status === 0) execFileSync("iptables", ["-D", chain, ...rule]);
    }
    if (labDocker("inspect", "-f", "{{.State.Running}}", name).trim() !== "true") labDocker("start", name);
    const deadline = Date.now() + 120_000;
    for (;;) {
        try {
            onLabNode(addressOf(name), "docker info --format '{{.Swarm.LocalNodeState}}'");
            return;
        } catch (e) {
            if (Date.now() > deadline) throw new Error(`${name} did not answer SSH and docker within 120s after it started: ${(e as Error).message}`);
            spawnSync("sleep", ["1"]);
        }
    }
}

/** A command inside a host, through the lab engine (not SSH): works while its SSH is busy. */
export function onHostConsole(name: string, command: string): string {
    return labDocker("exec", name, "sh", "-c", command);
}

/**
 * A host's swarm state wiped by hand, for a host whose `docker swarm leave --force` fails: its
 * dockerd is stopped (the node's entrypoint starts it again a second later) and the swarm
 * directory removed before that.
 */
const WIPE_SWARM_STATE = 'pid=$(cat /var/run/docker.pid); kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; rm -rf /var/lib/docker/swarm';

/**
 * Every host up, in no swarm (each leaves whatever swarm it holds), and no engine state: no
 * containers, no volumes (a database volume left from an earlier swarm holds that swarm's
 * passwords), no networks; only the images are kept. Then each host reboots (its container
 * restarts: a fresh network namespace and /run), because a left engine can keep kernel state
 * of the old swarm's overlays that the next swarm trips over: a vxlan link or an overlay
 * sandbox namespace with the same VNI or subnet fails its tasks with "error creating vxlan
 * interface: file exists" or "Pool overlaps with other one on this address space".
 */
export function resetToBareHosts(): void {
    for (const n of hosts.nodes) startHost(n.name);
    const clean = [
        "set -e",
        // Leave whatever swarm the host is in, and fail (so the attempt is retried) if that does
        // not work: a leave whose error was ignored once left a host in its old swarm, with no
        // leader, and the next deploy failed on it (a CI run on Docker 26, after data.test's
        // replaced manager). A leave that fails wipes the host's swarm state, and the retry
        // finds it out of any swarm.
        `state=$(docker info --format '{{.Swarm.LocalNodeState}}')`,
        `if [ "$state" != inactive ]; then docker swarm leave --force >/dev/null || { ${WIPE_SWARM_STATE}; exit 1; }; fi`,
        "docker ps -aq | xargs -r docker rm -f >/dev/null",
        "docker volume ls -q | xargs -r docker volume rm -f >/dev/null",
        "docker network prune -f >/dev/null",
    ].join("\n");
    for (const n of hosts.nodes) {
        // A host's dockerd can go away for a moment after it first answered (a CI run saw
        // "Cannot connect to the Docker daemon" here on a host a test had just restarted):
        // wait for it again and retry, twice, before calling the host broken.
        for (let attempt = 1; ; attempt++) {
            try {
                onLabNode(n.address, clean);
                break;
            } catch (e) {
                if (attempt === 3) throw e;
                spawnSync("sleep", ["5"]);
                startHost(n.name);
            }
        }
    }
    // Every host at once (`docker restart` of several containers restarts them one after
    // another, and a host's dockerd can take 10 s to stop).
    const restartAll = 'pids=; for n in "$@"; do docker $LAB_DOCKER restart --time 20 "$n" >/dev/null & pids="$pids $!"; done; s=0; for p in $pids; do wait "$p" || s=1; done; exit $s';
    const restarted = spawnSync("sh", ["-c", restartAll, "sh", ...hosts.nodes.map((n) => n.name)], { encoding: "utf8", env: { ...process.env, LAB_DOCKER: LAB_DOCKER.join(" ") } });
    if (restarted.status !== 0) throw new Error(`the lab could not restart its hosts: ${restarted.stderr}`);
    for (const n of hosts.nodes) {
        startHost(n.name);
        // What failed later deploys: a vxlan link or an overlay network that survived. (A
        // starting dockerd may set up a load-balancer sandbox of its own for a moment: not that.)
        const leftover = () => onLabNode(n.address, "ip -o link show type vxlan; docker network ls --filter driver=overlay -q").trim();
        let left = leftover();
        for (let waited = 0; left && waited < 30; waited++) {
            spawnSync("sleep", ["1"]);
            left = leftover();
        }
        if (left) throw new Error(`${n.name} still holds overlay state 30 s after a reboot:\n${left}`);
        const swarm = onLabNode(n.address, "docker info --format '{{.Swarm.LocalNodeState}}'").trim();
        if (swarm !== "inactive") throw new Error(`${n.name} is still in a swarm (${swarm}) after leaving it and a reboot`);
    }
    fs.rmSync(STATE, { force: true });
}

/**
 * The swarm tier's tests change the swarm's membership, which the data tier does not follow
 * yet (a replaced manager is a new etcd member): they deploy without it, and without
 * monitoring (it follows membership, but its services would only slow every deploy down).
 */
export const SWARM_AND_EDGE_ONLY = { "swarm-ha:dataTier": "false", "swarm-ha:monitoring": "false" };

/** A known starting point: bare hosts, then a fresh deploy of the base nodes (with `extra` config). */
export function resetToBase(extra: Record<string, unknown> = {}): Deployed {
    resetToBareHosts();
    const base = deploy(baseNodes, extra);
    if (base.status !== 0) throw new Error(`the base deploy failed: ${base.summary.error}`);
    return base;
}

/**
 * The starting point of the full-stack test files, which share one deploy: the base stack as
 * the file before left it, when it can be reused as a user's next `pulumi up` would find it
 * (every host up and untouched by a fault, a preview with no change, then a run with no change
 * whose health steps pass: they check every service, Redis, Postgres, etcd, the Alertmanagers
 * and the VIP, within their bounds). Anything else, or a check that fails, is resetToBase (about
 * two minutes for the full stack). `lab/test/sequencer.js` orders the files that share it.
 */
export function sharedBase(extra: Record<string, unknown> = {}): Deployed {
    return reuseBase(extra) ?? resetToBase(extra);
}

/** The deployed base stack, checked as sharedBase says; undefined (and why, in the log) when it cannot be reused. */
function reuseBase(extra: Record<string, unknown>): Deployed | undefined {
    const started = Date.now();
    const refuse = (why: string) => {
        console.log(`[lab] starting from bare hosts: ${why}`);
        return undefined;
    };
    if (!fs.existsSync(STATE)) return refuse("no stack is deployed");
    const faulted = hosts.nodes.filter((n) => labDocker("inspect", "-f", "{{.State.Running}}", n.name).trim() !== "true" || deadHostRules(n.address).some(([chain, ...rule]) => spawnSync("iptables", ["-C", chain, ...rule]).status === 0));
    if (faulted.length > 0) return refuse(`${faulted.map((n) => n.name).join(", ")} left down by the last test`);
    const some = (list: string[]) => list.slice(0, 3).join(", ") + (list.length > 3 ? ` and ${list.length - 3} more` : "");
    const previewed = preview(baseNodes, extra);
    if (previewed.status !== 0 || changes(previewed).length > 0) return refuse(`the deployed stack is not the base one (preview: ${previewed.summary.error ?? some(changes(previewed))})`);
    const again = deploy(baseNodes, extra);
    if (again.status !== 0 || changes(again).length > 0) return refuse(`the deployed base stack is not healthy (${again.summary.error ?? some(changes(again))})`);
    console.log(`[lab] reusing the deployed base stack: no change to preview, and its health checks passed (${((Date.now() - started) / 1000).toFixed(0)}s)`);
    return again;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
