/**
 * The host scripts: shellcheck on every file and on rendered output; hostile values stay
 * inert; and the scripts' decisions (quorum, labels, foreign swarms, old engines) checked by
 * running them against a fake `docker` CLI.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SCRIPT_DIR, declaredParams, renderScript, shellQuote, type ScriptName } from "../components/cluster/scripts";

const SCRIPTS: ScriptName[] = ["preflight", "guard", "init", "init-delete", "join", "leave", "node-remove", "settings", "drain"];
const HOSTILE = [
    `it's "quoted"`,
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED; #",
    "a\nb\n  c",
    "${HOME} $HOME \\ \\\\ '\\''",
    "* ? [a-z] ~ !",
];

let work: string;
beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-scripts-"));
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

function shellcheck(file: string): string {
    const r = spawnSync("shellcheck", ["--shell=sh", "--severity=style", file], { encoding: "utf8" });
    if (r.error) throw new Error(`shellcheck is not installed (apt-get install shellcheck): ${r.error.message}`);
    return r.stdout + r.stderr;
}

test("every script file passes shellcheck", () => {
    const files = fs.readdirSync(SCRIPT_DIR).filter((f) => f.endsWith(".sh"));
    expect(files.length).toBe(SCRIPTS.length + 1); // + lib.sh
    for (const f of files) expect(`${f}: ${shellcheck(path.join(SCRIPT_DIR, f))}`).toBe(`${f}: `);
});

function paramsOf(name: ScriptName, value: (p: string) => string): Record<string, string> {
    const text = fs.readFileSync(path.join(SCRIPT_DIR, "lib.sh"), "utf8") + fs.readFileSync(path.join(SCRIPT_DIR, `${name}.sh`), "utf8");
    return Object.fromEntries(declaredParams(text).map((p) => [p, value(p)]));
}

test.each(SCRIPTS)("%s.sh rendered with hostile values passes shellcheck and binds each value exactly", (name) => {
    HOSTILE.forEach((hostile, i) => {
        const params = paramsOf(name, (p) => `${p}:${hostile}`);
        const text = renderScript(name, params);
        const file = path.join(work, `${name}-${i}.sh`);
        fs.writeFileSync(file, text);
        expect(shellcheck(file)).toBe("");
        // Run only the prelude (shebang, set -eu, assignments) and print each value back.
        const prelude = text.split("\n# Helpers shared")[0];
        const printer = Object.keys(params).map((p) => `printf '%s\\0' "$${p}"`).join("\n");
        const out = execFileSync("sh", ["-c", `${prelude}\n${printer}`], { cwd: work, encoding: "utf8" });
        expect(out.split("\0").slice(0, -1)).toEqual(Object.keys(params).map((p) => params[p]));
    });
    expect(fs.readdirSync(work).filter((f) => f.startsWith("PWNED"))).toEqual([]);
});

test("rendering refuses a missing or an undeclared parameter", () => {
    expect(() => renderScript("init", { NODE_NAME: "m1", ADDR_POOL: "" })).toThrow(/init.sh: missing parameter\(s\) ADVERTISE_ADDR/);
    expect(() => renderScript("leave", { NODE_NAME: "m1", EXTRA: "x" })).toThrow(/undeclared parameter\(s\) EXTRA/);
});

test("shellQuote survives every ASCII character but NUL, and any Unicode", () => {
    const all = Array.from({ length: 127 }, (_, i) => String.fromCharCode(i + 1)).join("") + "äß€😀";
    expect(execFileSync("sh", ["-c", `printf '%s' ${shellQuote(all)}`], { encoding: "utf8" })).toBe(all);
});

/** Runs a rendered script with the fake docker first on PATH. */
function runWithFakeDocker(name: ScriptName, params: Record<string, string>, env: Record<string, string>, stdin = "") {
    const bin = path.join(work, "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.copyFileSync(path.join(__dirname, "support", "fake-docker.sh"), path.join(bin, "docker"));
    fs.chmodSync(path.join(bin, "docker"), 0o755);
    const log = path.join(work, "docker.log");
    fs.writeFileSync(log, "");
    const r = spawnSync("sh", ["-c", renderScript(name, params)], {
        cwd: work,
        input: stdin,
        encoding: "utf8",
        env: { PATH: `${bin}:${process.env.PATH}`, FAKE_LOG: log, ...env },
        timeout: 20000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: fs.readFileSync(log, "utf8").trim().split("\n") };
}

const THREE_MANAGERS = "m1 reachable 10.0.0.1:2377;m2 reachable 10.0.0.2:2377;m3 reachable 10.0.0.3:2377";
const ACTIVE_MANAGER = { FAKE_STATE: "active", FAKE_CONTROL: "true", FAKE_MANAGERS: THREE_MANAGERS };

describe("guard.sh keeps Raft's quorum", () => {
    test("allows the same managers, or one of three removed", () => {
        for (const desired of ["10.0.0.1 10.0.0.2 10.0.0.3", "10.0.0.1 10.0.0.2"]) {
            const r = runWithFakeDocker("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: desired }, ACTIVE_MANAGER);
            expect(r.stderr).toBe("");
            expect(r.status).toBe(0);
        }
    });

    test("refuses removing two of three managers, and says why", () => {
        const r = runWithFakeDocker("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: "10.0.0.1" }, ACTIVE_MANAGER);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/refusing to change the swarm's managers: of the 3 current managers, this change removes 10.0.0.2 10.0.0.3, leaving 1\./);
        expect(r.stderr).toMatch(/majority \(2 of 3\).*Remove at most 1 manager\(s\) per update/);
    });

    test("counts an unreachable manager as lost", () => {
        const env = { ...ACTIVE_MANAGER, FAKE_MANAGERS: "m1 reachable 10.0.0.1:2377;m2 unreachable 10.0.0.2:2377;m3 unreachable 10.0.0.3:2377" };
        const r = runWithFakeDocker("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: "10.0.0.1 10.0.0.2 10.0.0.3" }, env);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/this change removes none of them and 2 of those it keeps are unreachable, leaving 1/);
    });

    test("has nothing to guard before the swarm exists", () => {
        const r = runWithFakeDocker("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: "10.0.0.1" }, {});
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("status=no-swarm");
    });
});

describe("settings.sh updates labels in place", () => {
    test("adds wanted labels and removes only labels swarm-ha set before", () => {
        const r = runWithFakeDocker(
            "settings",
            { NODE_NAME: "w1", NODE_ID: "w1-id", SWARM_ROLE: "worker", AVAILABILITY: "active", LABELS: "swarm-ha.name=w1\nzone=b" },
            { FAKE_MANAGED: "swarm-ha.name,zone,disk" },
        );
        expect(r.stderr).toBe("");
        const update = r.calls.find((c) => c.startsWith("node update"))!;
        expect(update).toBe(
            "node update --role worker --availability active --label-add swarm-ha.name=w1 --label-add zone=b --label-rm disk --label-add swarm-ha.managed-labels=swarm-ha.name,zone w1-id",
        );
        expect(r.calls.some((c) => c.includes("swarm leave") || c.includes("swarm join"))).toBe(false);
    });
});

describe("join.sh never takes a node from another swarm", () => {
    const params = { NODE_NAME: "w1", ADVERTISE_ADDR: "10.0.0.9", MANAGER_ADDRS: "10.0.0.1:2377 10.0.0.2:2377", SWARM_ROLE: "worker", CLUSTER_ID: "ours" };
    const token = "SWMTKN-1-abc-def\n";

    test("a manager of another swarm is an error, and nothing is changed", () => {
        const r = runWithFakeDocker("join", { ...params, SWARM_ROLE: "manager" }, { FAKE_STATE: "active", FAKE_CONTROL: "true", FAKE_CLUSTER: "theirs" }, token);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/node w1: already belongs to another swarm; swarm-ha does not make a node leave/);
        expect(r.calls.some((c) => c.includes("leave"))).toBe(false);
    });

    test("a worker of another swarm is an error", () => {
        const r = runWithFakeDocker("join", params, { FAKE_STATE: "active", FAKE_REMOTES: "192.0.2.50:2377" }, token);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/already belongs to another swarm/);
    });

    test("a worker already in our swarm is kept as it is", () => {
        const r = runWithFakeDocker("join", params, { FAKE_STATE: "active", FAKE_REMOTES: "10.0.0.2:2377" }, token);
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain("action=kept");
    });

    test("no token on standard input is an error", () => {
        const r = runWithFakeDocker("join", params, {}, "");
        expect(r.stderr).toMatch(/no join token arrived on standard input/);
    });
});

describe("preflight.sh", () => {
    test("an engine older than 20.10 is refused, naming the node", () => {
        const r = runWithFakeDocker("preflight", { NODE_NAME: "m2", MIN_DOCKER_VERSION: "20.10" }, { FAKE_VERSION: "19.03.15" });
        expect(r.status).toBe(1);
        // The docker socket check may fail first on a machine without Docker; either way it names the node.
        expect(r.stderr).toMatch(/swarm-ha: node m2: (Docker engine 19.03.15 is too old; swarm-ha needs 20.10 or newer|the SSH user cannot write)/);
    });
});
