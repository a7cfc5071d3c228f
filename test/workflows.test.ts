/**
 * The GitHub workflows (.github/workflows/): valid against GitHub's workflow schema (SchemaStore's,
 * through @action-validator/core), naming only the secrets and stacks docs/pull-requests.md
 * defines and npm scripts that exist, and the nightly job's choice of stale test stacks.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { validateWorkflow } from "@action-validator/core";
import { parse } from "yaml";

const ROOT = path.join(__dirname, "..");
const DIR = path.join(ROOT, ".github", "workflows");
const workflows = fs.readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const text = (f: string) => fs.readFileSync(path.join(DIR, f), "utf8");
const doc = fs.readFileSync(path.join(ROOT, "docs", "pull-requests.md"), "utf8");

test("the three workflows are there, and each is a valid GitHub workflow", () => {
    expect(workflows.sort()).toEqual(["destroy-test-stack.yml", "preview.yml", "up.yml"]);
    for (const f of workflows) expect({ f, errors: validateWorkflow(text(f)).errors }).toEqual({ f, errors: [] });
});

test("the validator does reject a broken workflow (so the check above can fail)", () => {
    const broken = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        with: 3\n    timeout-minutes: soon\n";
    expect(validateWorkflow(broken).errors.length).toBeGreaterThan(0);
});

test("they run Pulumi's official action, with the policy pack on preview and up", () => {
    const steps = (f: string) => Object.values(parse(text(f)).jobs as Record<string, { steps: any[] }>).flatMap((j) => j.steps);
    for (const f of ["preview.yml", "up.yml"]) {
        const pulumi = steps(f).find((s) => String(s.uses).startsWith("pulumi/actions@"));
        expect(pulumi.uses).toBe("pulumi/actions@v7");
        expect(pulumi.with.policyPacks).toBe("policy");
        expect(fs.existsSync(path.join(ROOT, pulumi.with.policyPacks, "PulumiPolicy.yaml"))).toBe(true);
    }
    expect(steps("preview.yml").find((s) => s.with?.command)?.with).toMatchObject({ command: "preview", "comment-on-pr": true });
    // The destroy follows a preview: destroy runs no program, and the preview writes the SSH key file the Docker provider's ssh needs.
    expect(steps("destroy-test-stack.yml").filter((s) => s.with?.command).map((s) => s.with)).toMatchObject([{ command: "preview" }, { command: "destroy", remove: true }]);
});

test("npm test runs only in a Debian 12 container as root, with what the keepalived check needs, and pulumi up waits for it", () => {
    // test/tools.sh installs the checkers with apt-get as root, and the real Postgres tests
    // expect PostgreSQL 15's paths: Debian 12 (bookworm), which a hosted Ubuntu runner is not.
    const jobs = workflows.flatMap((f) => Object.entries(parse(text(f)).jobs as Record<string, any>).map(([name, job]) => ({ f, name, job })));
    const testing = jobs.filter(({ job }) => job.steps.some((s: { run?: string }) => /\bnpm test\b/.test(String(s.run ?? ""))));
    expect(testing.map(({ f, name }) => `${f}:${name}`)).toEqual(["up.yml:test"]);
    for (const { job } of testing) {
        expect(job.container.image).toMatch(/^node:20-bookworm$/);
        expect(job.container.options).toMatch(/--cap-add SYS_ADMIN/);
        expect(job.container.options).toMatch(/--cap-add NET_ADMIN/);
        expect(job.container.options ?? "").not.toMatch(/--user/);
    }
    expect(fs.readFileSync(path.join(ROOT, "test", "tools.sh"), "utf8")).toContain("/usr/lib/postgresql/15/bin/postgres:postgresql-15");
    expect(parse(text("up.yml")).jobs.up.needs).toBe("test");
});

test("every step that changes hosts runs at most 8 resource operations at once (sshd's MaxStartups on the hosts is 10)", () => {
    const steps = (f: string) => Object.values(parse(text(f)).jobs as Record<string, { steps: any[] }>).flatMap((j) => j.steps);
    const changing = ["up.yml", "destroy-test-stack.yml"].flatMap((f) => steps(f).filter((s) => ["up", "destroy"].includes(s.with?.command)));
    expect(changing.length).toBe(2);
    for (const s of changing) expect(s.with.parallel).toBe(8);
    const script = steps("destroy-test-stack.yml").map((s) => String(s.run ?? "")).join("\n");
    for (const line of script.split("\n").filter((l) => /pulumi (up|destroy)\b/.test(l))) expect(line).toContain("--parallel 8");
});

test("they use only secrets the docs name, stacks that exist or the docs define, and npm scripts that exist", () => {
    const all = workflows.map(text).join("\n");
    const secrets = [...new Set([...all.matchAll(/secrets\.([A-Z_]+)/g)].map((m) => m[1]))].sort();
    expect(secrets).toEqual(["GITHUB_TOKEN", "PULUMI_ACCESS_TOKEN"]);
    for (const s of secrets) expect(doc).toContain(`\`${s}\``);

    const stacks = [...all.matchAll(/^\s+STACK: (\S+)$/gm)].map((m) => m[1]);
    expect(stacks.length).toBeGreaterThan(0);
    for (const s of stacks) {
        expect(fs.existsSync(path.join(ROOT, `Pulumi.${s}.yaml`))).toBe(true);
        expect(doc).toContain(`\`${s}\``);
    }
    const prefixes = [...all.matchAll(/TEST_STACK_PREFIX: (\S+)$/gm)].map((m) => m[1]);
    expect(prefixes).toEqual(["test-pr-"]);
    expect(doc).toContain("`test-pr-<number>`");

    const scripts = Object.keys(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts);
    const used = [...all.matchAll(/npm (?:run )?(\w[\w:-]*)/g)].map((m) => m[1]).filter((s) => s !== "ci");
    expect(used.length).toBeGreaterThan(0);
    for (const s of used) expect(scripts).toContain(s);
});

test("the nightly job picks the test stacks not updated for a day, and nothing else", () => {
    const run = parse(text("destroy-test-stack.yml")).jobs.nightly.steps.find((s: any) => String(s.run).includes("jq -r")).run as string;
    const filter = run.match(/jq -r [^']*'([^']+)'/)![1];
    const now = Date.now();
    const iso = (hoursAgo: number) => new Date(now - hoursAgo * 3600_000).toISOString();
    const stacks = [
        { name: "acme/swarm-ha/test-pr-41", lastUpdate: iso(30) },
        { name: "acme/swarm-ha/test-pr-42", lastUpdate: iso(2) },
        { name: "acme/swarm-ha/production", lastUpdate: iso(100) },
        { name: "test-pr-7", lastUpdate: iso(25) },
        { name: "test-pr-8" },
    ];
    const cutoff = Math.floor((now - 24 * 3600_000) / 1000);
    const picked = execFileSync("jq", ["-r", "--arg", "p", "test-pr-", "--argjson", "cutoff", String(cutoff), filter], { input: JSON.stringify(stacks), encoding: "utf8" });
    expect(picked.trim().split("\n")).toEqual(["acme/swarm-ha/test-pr-41", "test-pr-7", "test-pr-8"]);
});
