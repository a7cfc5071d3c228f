/**
 * End-to-end, `npm run lab:preview`: the preview of the changes users make most (change a
 * label, bump the app image, rotate a password, remove a node, add one), each followed by the
 * `pulumi up` it previewed. A preview must touch nothing (no host changes, the state file
 * untouched), and the update must then do exactly what the preview said, no more, no less.
 */
import * as fs from "node:fs";
import { builtImageTag } from "../../components/images/catalog";
import { onLabNode } from "../nodes";
import type { LabNode } from "../stack";
import { type Deployed, EVERY_RUN, STATE, SWARM_AND_EDGE_ONLY, addressOf, baseNodes, deploy, hosts, nodeList, plan, preview, resetToBareHosts, secretConfig } from "../control";

const M1 = addressOf("lab-m1");
const IMAGE_V1 = "lab.example/shop:1.0.0";
const IMAGE_V2 = "lab.example/shop:1.1.0";
const ROTATED = { "swarm-ha:haproxyStatsPassword": "Rotated0Password0For0The0Lab0Test" };

/** The stack as the tests have left it: each test changes one thing and keeps the others. */
const stack = { nodes: baseNodes, image: IMAGE_V1, secrets: undefined as Record<string, string> | undefined };
const config = () => ({ ...SWARM_AND_EDGE_ONLY, "swarm-ha:appImage": stack.image });

/** The lab's nodes without the worker, its roles moved to the first manager. */
const withoutWorker: LabNode[] = baseNodes
    .filter((n) => n.name !== "lab-w1")
    .map((n) => (n.name === "lab-m1" ? { ...n, roles: [...n.roles, "app", "postgres-primary"] } : n));

/**
 * What a user would see change on the hosts: the swarm's nodes and labels, each service's spec
 * (not its version, which the swarm bumps by itself when an earlier rolling update completes),
 * and the secrets.
 */
function hostsSnapshot(): string {
    return onLabNode(M1, "docker node ls --format '{{.Hostname}} {{.Status}}'; docker node inspect $(docker node ls -q) --format '{{.Description.Hostname}} {{json .Spec}}'; docker service inspect $(docker service ls -q) --format '{{.Spec.Name}} {{json .Spec}}'; docker secret ls --format '{{.Name}}'");
}

/**
 * Previews the stack as `stack` now says, checks that nothing moved, then applies it and
 * checks that the update did what the preview said.
 */
function previewThenUp(): { previewed: Deployed; applied: Deployed } {
    const [nodes, extra, args] = [stack.nodes, config(), stack.secrets ? secretConfig(stack.secrets) : []];
    const stateBefore = fs.readFileSync(STATE, "utf8");
    const hostsBefore = hostsSnapshot();
    const previewed = preview(nodes, extra, args);
    expect(previewed.summary.error).toBeUndefined();
    expect(previewed.summary.preview).toBe(true);
    expect(fs.readFileSync(STATE, "utf8")).toBe(stateBefore);
    expect(hostsSnapshot()).toBe(hostsBefore);

    const applied = deploy(nodes, extra, args);
    expect(applied.summary.error).toBeUndefined();
    expect(plan(applied)).toEqual(plan(previewed));
    return { previewed, applied };
}

/** The preview's plan without the checks that run on every update (host keys, health). */
const changed = (d: Deployed) => plan(d).filter((s) => !EVERY_RUN.test(s));

let secretName: string;
beforeAll(() => {
    resetToBareHosts();
    // The "registry" images: the demo app under two release tags, on every node that has it.
    for (const n of hosts.nodes) {
        onLabNode(n.address, `if docker image inspect ${builtImageTag("app")} >/dev/null 2>&1; then docker tag ${builtImageTag("app")} ${IMAGE_V1}; docker tag ${builtImageTag("app")} ${IMAGE_V2}; fi`);
    }
    const base = deploy(stack.nodes, config());
    if (base.status !== 0) throw new Error(`the base deploy failed: ${base.summary.error}`);
    secretName = onLabNode(M1, "docker secret ls --format '{{.Name}}' | grep haproxy-stats-password").trim();
});

test("an unchanged stack previews no change, and is worded as pulumi preview words it", () => {
    const previewed = preview(stack.nodes, config());
    expect(previewed.summary.error).toBeUndefined();
    expect(changed(previewed)).toEqual([]);
    expect(previewed.output).toMatch(/^Previewing update \(lab\):$/m);
    expect(previewed.output).toMatch(/^Resources:$/m);
    expect(previewed.output).toMatch(/^ {4}\d+ changes?\. \d+ unchanged$/m);
});

test("a changed label previews an update of that node's settings, with the changed input; the update does just that", () => {
    stack.nodes = baseNodes.map((n) => (n.name === "lab-w1" ? { ...n, labels: { ...n.labels, disk: "ssd" } } : n));
    const { previewed } = previewThenUp();
    expect(changed(previewed)).toEqual(["update swarm-lab-w1-settings"]);
    expect(previewed.output).toMatch(/^ ~ +command:remote:Command +swarm-lab-w1-settings +update +\[diff: ~create.*\]$/m);
    expect(JSON.parse(onLabNode(M1, "docker node inspect lab-w1 --format '{{json .Spec.Labels}}'"))).toMatchObject({ disk: "ssd" });
});

test("a new app image previews an update of the app service alone; the update rolls it out", () => {
    stack.image = IMAGE_V2;
    const { previewed } = previewThenUp();
    expect(changed(previewed)).toEqual(["update app-service"]);
    expect(previewed.output).toMatch(/^ ~ +docker:index:Service +app-service +update +\[diff: ~taskSpec\]$/m);
    expect(onLabNode(M1, "docker service inspect swarm-ha-app --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}'").trim()).toMatch(new RegExp(`^${IMAGE_V2}`));
});

test("a rotated password previews a new Docker secret replacing the old one and the services that read it updated", () => {
    stack.secrets = ROTATED;
    const { previewed } = previewThenUp();
    // The new value makes a new Docker secret (its name holds a hash of the value), HAProxy
    // moves to it, and the generated password it replaces goes.
    expect(changed(previewed)).toEqual([
        "delete secrets-haproxy-stats-password-generated",
        "replace secrets-haproxy-stats-password",
        "update edge-lab-m1-haproxy",
        "update edge-lab-m2-haproxy",
    ]);
    expect(previewed.output).toMatch(/^ \+- +docker:index:Secret +secrets-haproxy-stats-password +replace +\[diff: .*~name.*\] replaced because .*name/m);
    const now = onLabNode(M1, "docker secret ls --format '{{.Name}}' | grep haproxy-stats-password").trim();
    expect(now).not.toBe(secretName);
    expect(now).not.toContain("\n"); // the old one is gone
});

test("a removed node previews its steps' deletes (and the removal step's update); the update removes it", () => {
    stack.nodes = withoutWorker;
    const { previewed } = previewThenUp();
    const steps = changed(previewed);
    expect(steps.filter((s) => s.includes("swarm-lab-w1"))).toEqual(
        ["departure", "member", "preflight", "registration", "settings"].map((x) => `delete swarm-lab-w1-${x}`),
    );
    // A manager takes it out of the swarm (the removals step), and its roles moved to lab-m1.
    expect(steps.filter((s) => !s.includes("swarm-lab-w1"))).toEqual(["update swarm-lab-m1-settings", "update swarm-removals"]);
    expect(previewed.output).toMatch(/^ - +command:remote:Command +swarm-lab-w1-member +delete$/m);
    expect(nodeList().map((n) => n.hostname)).toEqual(["lab-m1", "lab-m2", "lab-m3"]);
});

test("an added node previews its steps' creates; the update joins it", () => {
    stack.nodes = baseNodes;
    const { previewed } = previewThenUp();
    // Its departure is a step too: it runs when the node is removed again.
    expect(changed(previewed)).toEqual([
        ...["departure", "member", "preflight", "registration", "settings"].map((x) => `create swarm-lab-w1-${x}`),
        "update swarm-lab-m1-settings",
        "update swarm-removals",
    ]);
    expect(previewed.output).toMatch(/^ \+ +command:remote:Command +swarm-lab-w1-member +create$/m);
    expect(nodeList().map((n) => `${n.hostname} ${n.status}`)).toContain("lab-w1 Ready");
});
