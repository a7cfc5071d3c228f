/**
 * npm run lab:up [-- --managers N --workers M --debian trixie|bookworm]
 * Starts the lab's hosts, builds the images and loads them on the hosts, writes Pulumi.lab.yaml
 * for them, deploys swarm-ha onto them with the lab engine, and prints what it made.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LAB_STACK_FILE, ROOT, labStackConfig, readHosts, writeStackFile } from "./stack";
import { onLabNode } from "./nodes";
import { parseCli, wholeNumber } from "../support/cli";
import { LAB_KEY, LAB_SSH_OPTIONS } from "./constants";

function step(name: string, cmd: string, args: string[]): void {
    console.log(`[lab] ${name}`);
    const r = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit" });
    if (r.status !== 0) {
        console.error(`[lab] FAILED at step: ${name} (exit ${r.status}). The lab is left as it is: inspect it, or run npm run lab:down.`);
        process.exit(1);
    }
}

const { values: flags } = parseCli("npm run lab:up [-- --managers 3 --workers 1 --debian trixie|bookworm]", {
    managers: { type: "string" },
    workers: { type: "string" },
    // The hosts' Debian release, and so their Docker Engine: trixie (26.1, the default) or bookworm (20.10, the oldest supported).
    debian: { type: "string" },
});
const size = [
    ...(flags.managers ? ["--managers", String(wholeNumber(flags.managers, "--managers", 3))] : []),
    ...(flags.workers ? ["--workers", String(wholeNumber(flags.workers, "--workers", 1, 0))] : []),
    ...(flags.debian ? ["--debian", flags.debian] : []),
];
const t0 = Date.now();
step("starting the hosts", "bash", [path.join(ROOT, "lab", "hosts.sh"), "up", ...size]);
step("building and loading the images (no registry in the lab)", "npx", ["tsx", path.join(ROOT, "lab", "images.ts")]);
const hosts = readHosts();
writeStackFile(LAB_STACK_FILE, labStackConfig(hosts));
console.log(`[lab] wrote ${path.relative(ROOT, LAB_STACK_FILE)} for ${hosts.nodes.length} hosts`);
step("deploying swarm-ha onto the lab (stack lab)", "npx", ["tsx", path.join(ROOT, "lab", "deploy.ts"), "--stack", "lab", "--summary", path.join(ROOT, ".lab", "last-deploy.json")]);

const manager = hosts.nodes.find((n) => n.role === "manager")!;
console.log(`\n[lab] what swarm-ha made (seen from ${manager.name}):`);
console.log(onLabNode(manager.address, "docker node ls --format 'table {{.Hostname}}\\t{{.Status}}\\t{{.Availability}}\\t{{.ManagerStatus}}'"));
console.log(onLabNode(manager.address, "docker network ls --filter label=swarm-ha.network --format 'table {{.Name}}\\t{{.Driver}}\\t{{.Scope}}'"));
console.log(onLabNode(manager.address, "docker secret ls --filter label=swarm-ha.secret --format 'table {{.Name}}\\t{{.CreatedAt}}'"));
console.log(onLabNode(manager.address, "docker service ls"));
const outputs = JSON.parse(fs.readFileSync(path.join(ROOT, ".lab", "last-deploy.json"), "utf8")).outputs;
console.log(`[lab] the app, through the VIP:  curl ${outputs.url}`);
console.log(`[lab] HAProxy's stats:           ${outputs.statsUrl} (user ${outputs.statsUser}; password: npm run -s lab:secret -- haproxy-stats-password)`);
if (outputs.prometheusUrl) console.log(`[lab] Prometheus, Alertmanager:  ${outputs.prometheusUrl}, ${outputs.alertmanagerUrl} (the stats user and password); alerts go to npm run lab:alerts`);
console.log(`[lab] ssh into a host: ssh ${LAB_SSH_OPTIONS.map((o) => (o === LAB_KEY ? path.relative(ROOT, o) : o)).join(" ")} root@${manager.address}`);
console.log(`[lab] up in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
