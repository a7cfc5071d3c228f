/**
 * The host scripts: shellcheck on every file and on rendered output; hostile values stay
 * inert; and the scripts' decisions (quorum, removals, stale hosts, promotions, health, labels,
 * foreign swarms, old engines, unreachable hosts) checked by running them against fake
 * `docker`, `curl` and `ssh` commands (test/support/fake-*.sh).
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SCRIPT_DIR, declaredParams, renderScript, shellQuote, type ScriptName } from "../components/cluster/scripts";

const SCRIPTS: ScriptName[] = ["preflight", "guard", "removals", "registration", "init", "join", "settings", "health", "stack-health", "tier-health", "spread", "etcd-members", "patroni-settings", "patroni-handover", "keepalived-peers", "postgres-roles", "departure", "host-keys"];
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
    expect(() => renderScript("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: "x", EXTRA: "x" })).toThrow(/undeclared parameter\(s\) EXTRA/);
});

test("shellQuote survives every ASCII character but NUL, and any Unicode", () => {
    const all = Array.from({ length: 127 }, (_, i) => String.fromCharCode(i + 1)).join("") + "äß€😀";
    expect(execFileSync("sh", ["-c", `printf '%s' ${shellQuote(all)}`], { encoding: "utf8" })).toBe(all);
});

/** Runs a rendered script with the fake docker, curl and ssh first on PATH. */
function runWithFakes(name: ScriptName, params: Record<string, string>, env: Record<string, string>, stdin = "") {
    const bin = path.join(work, "bin");
    fs.mkdirSync(bin, { recursive: true });
    for (const tool of ["docker", "curl", "ssh", "ssh-keyscan"]) {
        fs.copyFileSync(path.join(__dirname, "support", `fake-${tool}.sh`), path.join(bin, tool));
        fs.chmodSync(path.join(bin, tool), 0o755);
    }
    const log = path.join(work, "calls.log");
    fs.writeFileSync(log, "");
    // The fakes' state of an earlier run in the same test (calls.log.*: a service's tasks, counters).
    for (const f of fs.readdirSync(work).filter((f) => f.startsWith("calls.log."))) fs.rmSync(path.join(work, f), { force: true });
    const r = spawnSync("sh", ["-c", renderScript(name, params)], {
        cwd: work,
        input: stdin,
        encoding: "utf8",
        env: { PATH: `${bin}:${process.env.PATH}`, HOME: work, FAKE_LOG: log, ...env },
        timeout: 20000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: fs.readFileSync(log, "utf8").trim().split("\n") };
}

/** A FAKE_NODES entry: id role reachability addr status availability name-label hostname. */
const node = (id: string, role: string, reach: string, addr: string, status = "ready", avail = "active", name = "-", host = id) =>
    [id, role, reach, addr, status, avail, name, host].join(" ");
const M1 = node("m1", "manager", "reachable", "10.0.0.1", "ready", "active", "m1");
const M2 = node("m2", "manager", "reachable", "10.0.0.2", "ready", "active", "m2");
const M3 = node("m3", "manager", "reachable", "10.0.0.3", "ready", "active", "m3");
const W1 = node("w1", "worker", "-", "10.0.0.11", "ready", "active", "w1");
const swarm = (...nodes: string[]) => ({ FAKE_STATE: "active", FAKE_CONTROL: "true", FAKE_SELF: "m1", FAKE_NODES: nodes.join(";") });

describe("guard.sh keeps Raft's quorum", () => {
    test("allows the same managers, or one of three removed", () => {
        for (const desired of ["10.0.0.1 10.0.0.2 10.0.0.3", "10.0.0.1 10.0.0.2"]) {
            const r = runWithFakes("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: desired }, swarm(M1, M2, M3));
            expect(r.stderr).toBe("");
            expect(r.status).toBe(0);
        }
    });

    test("waits for a leader to be elected (the node list cannot be read meanwhile) rather than counting no managers", () => {
        const r = runWithFakes("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: "10.0.0.1 10.0.0.2 10.0.0.3" }, { ...swarm(M1, M2, M3), FAKE_NO_LEADER_CALLS: "2" });
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe("status=ok\nmanagers=3\nkept=3\n");
    });

    test("refuses removing two of three managers, and says why", () => {
        const r = runWithFakes("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: "10.0.0.1" }, swarm(M1, M2, M3));
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/refusing to change the swarm's managers: of the 3 current managers, this change removes 10.0.0.2 10.0.0.3, leaving 1\./);
        expect(r.stderr).toMatch(/majority \(2 of 3\).*Remove at most 1 manager\(s\) per update/);
    });

    test("counts an unreachable manager as lost, but lets a dead one go when a majority stays", () => {
        const m2down = node("m2", "manager", "unreachable", "10.0.0.2", "down", "active", "m2");
        const m3down = node("m3", "manager", "unreachable", "10.0.0.3", "down", "active", "m3");
        const keepAll = runWithFakes("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: "10.0.0.1 10.0.0.2 10.0.0.3" }, swarm(M1, m2down, m3down));
        expect(keepAll.status).toBe(1);
        expect(keepAll.stderr).toMatch(/this change removes none of them and 2 of those it keeps are unreachable, leaving 1/);
        // The dead first manager's replacement: m1 is gone, m2 leads, w1 is to be promoted.
        const m1down = node("m1", "manager", "unreachable", "10.0.0.1", "down", "active", "m1");
        const replace = runWithFakes("guard", { NODE_NAME: "m2", DESIRED_MANAGERS: "10.0.0.2 10.0.0.3 10.0.0.11" }, { ...swarm(m1down, M2, M3, W1), FAKE_SELF: "m2" });
        expect(replace.stderr).toBe("");
        expect(replace.stdout).toContain("kept=2");
    });

    test("has nothing to guard before the swarm exists", () => {
        const r = runWithFakes("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: "10.0.0.1" }, {});
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("status=no-swarm");
    });

    test("refuses a first manager whose swarm has no leader, saying what to do", () => {
        const r = runWithFakes("guard", { NODE_NAME: "m1", DESIRED_MANAGERS: "10.0.0.1" }, { FAKE_STATE: "pending", FAKE_CONTROL: "true", FAKE_ERROR: "The swarm does not have a leader" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/node m1: its swarm has no leader \(state 'pending': The swarm does not have a leader\).*Put a working manager first in swarm-ha:nodes/);
    });
});

describe("removals.sh takes undeclared nodes out from a manager, without their hosts", () => {
    test("drains, demotes and removes a labelled node config no longer declares; leaves others alone", () => {
        const gone = node("m3", "manager", "unreachable", "10.0.0.3", "down", "active", "m3");
        const foreign = node("x1", "worker", "-", "10.0.0.50", "ready", "active", "-");
        const r = runWithFakes("removals", { NODE_NAME: "m1", DECLARED_NAMES: "m1 m2 w1" }, swarm(M1, M2, gone, W1, foreign));
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain("removed=m3 m3");
        const changes = r.calls.filter((c) => /^node (update|demote|rm)/.test(c));
        expect(changes).toEqual(["node update --availability drain m3", "node demote m3", "node rm --force m3"]);
    });

    test("waits for a live node's tasks to move before it goes", () => {
        const r = runWithFakes("removals", { NODE_NAME: "m1", DECLARED_NAMES: "m1 m2 m3" }, swarm(M1, M2, M3, W1));
        expect(r.stdout).toContain("removed=w1 w1");
        expect(r.calls).toContain("node ps --quiet --filter desired-state=running w1");
        expect(r.calls).not.toContain("node demote w1");
    });

    test("refuses to remove the manager it runs on", () => {
        const r = runWithFakes("removals", { NODE_NAME: "m1", DECLARED_NAMES: "m2 m3" }, swarm(M1, M2, M3));
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/it is the first manager; move a manager that stays to the top of swarm-ha:nodes/);
    });
});

describe("registration.sh finds what the swarm knows of a node", () => {
    test("by its swarm-ha label, else by address (only a ready node), else nothing", () => {
        const p = (name: string, addr: string) => ({ NODE_NAME: name, ADVERTISE_ADDR: addr, SWARM_ROLE: "worker", MANAGER_ADDRS: "10.0.0.1:2377" });
        expect(runWithFakes("registration", p("w1", "10.0.0.99"), swarm(M1, W1)).stdout).toBe("node_id=w1\n");
        const unlabelled = node("q7", "worker", "-", "10.0.0.12", "ready", "active", "-");
        expect(runWithFakes("registration", p("w2", "10.0.0.12"), swarm(M1, unlabelled)).stdout).toBe("node_id=q7\n");
        const downUnlabelled = node("q8", "worker", "-", "10.0.0.12", "down", "active", "-");
        expect(runWithFakes("registration", p("w2", "10.0.0.12"), swarm(M1, downUnlabelled)).stdout).toBe("node_id=\n");
        expect(runWithFakes("registration", p("w2", "10.0.0.12"), {}).stdout).toBe("node_id=\n");
    });
});

describe("join.sh", () => {
    const params = { NODE_NAME: "w1", ADVERTISE_ADDR: "10.0.0.11", MANAGER_ADDRS: "10.0.0.1:2377 10.0.0.2:2377", MANAGER_NAMES: "m1 m2", SWARM_ROLE: "worker", CLUSTER_ID: "ours", EXPECTED_NODE_ID: "" };
    const token = "SWMTKN-1-abc-def\n";

    test("joins an inactive node through the first manager, the token only on curl's stdin", () => {
        const r = runWithFakes("join", params, {}, token);
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain("action=joined");
        expect(r.calls).toContain('curl join {"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"10.0.0.11","RemoteAddrs":["10.0.0.1:2377"],"JoinToken":"SWMTKN-1-abc-def"}');
        expect(r.calls.filter((c) => !c.startsWith("curl join")).join("\n")).not.toContain("SWMTKN");
    });

    test("keeps a node the swarm knows by the ID it holds", () => {
        const r = runWithFakes("join", { ...params, EXPECTED_NODE_ID: "w1-id" }, { FAKE_STATE: "active", FAKE_SELF: "w1-id", FAKE_REMOTES: "10.0.0.2:2377" }, token);
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain("action=kept");
        expect(r.calls.some((c) => c.includes("leave") || c.startsWith("curl join"))).toBe(false);
    });

    test("a host that holds our swarm's state but is not registered (removed while it was down) leaves and joins again", () => {
        for (const state of ["active", "pending"]) {
            const r = runWithFakes("join", params, { FAKE_STATE: state, FAKE_SELF: "old-id", FAKE_REMOTES: "10.0.0.1:2377 10.0.0.2:2377" }, token);
            expect(r.stderr).toBe("");
            expect(r.stdout).toContain("action=rejoined");
            expect(r.calls).toContain("swarm leave --force");
            expect(r.calls.some((c) => c.startsWith("curl join"))).toBe(true);
        }
    });

    test("a manager that finds itself in the node list is kept even when the lookup missed it: no member of Raft leaves by force", () => {
        const r = runWithFakes("join", { ...params, SWARM_ROLE: "manager" }, { ...swarm(M1, W1), FAKE_SELF: "w1", FAKE_CLUSTER: "ours" }, token);
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain("action=kept");
        expect(r.calls.some((c) => c.includes("leave"))).toBe(false);
    });

    test("never takes a node from another swarm", () => {
        const manager = runWithFakes("join", { ...params, SWARM_ROLE: "manager" }, { FAKE_STATE: "active", FAKE_CONTROL: "true", FAKE_CLUSTER: "theirs" }, token);
        expect(manager.status).toBe(1);
        expect(manager.stderr).toMatch(/node w1: already belongs to another swarm; swarm-ha does not make a node leave/);
        const worker = runWithFakes("join", params, { FAKE_STATE: "active", FAKE_REMOTES: "192.0.2.50:2377" }, token);
        expect(worker.stderr).toMatch(/already belongs to another swarm/);
        const pending = runWithFakes("join", params, { FAKE_STATE: "pending", FAKE_REMOTES: "192.0.2.50:2377" }, token);
        expect(pending.stderr).toMatch(/holds the state of a swarm whose managers are not in swarm-ha:nodes/);
        for (const r of [manager, worker, pending]) expect(r.calls.some((c) => c.includes("leave"))).toBe(false);
    });

    test("a worker to be promoted whose join manager is down rejoins as a manager; one whose join manager is up waits for settings", () => {
        const worker = { FAKE_STATE: "active", FAKE_SELF: "w1-id", FAKE_REMOTES: "10.0.0.1:2377 10.0.0.2:2377" };
        const promoted = { ...params, SWARM_ROLE: "manager", EXPECTED_NODE_ID: "w1-id" };
        const dead = runWithFakes("join", promoted, { ...worker, FAKE_UNREACHABLE: "10.0.0.1:2377", FAKE_JOINS_AS_MANAGER: "1" }, token);
        expect(dead.stderr).toBe("");
        expect(dead.stdout).toContain("action=rejoined-as-manager");
        expect(dead.calls).toContain("swarm leave");
        expect(dead.calls).toContain("curl probe 10.0.0.1:2377");
        const alive = runWithFakes("join", promoted, worker, token);
        expect(alive.stdout).toContain("action=kept");
        expect(alive.calls).not.toContain("swarm leave");
    });

    test("a join Docker finishes in the background is waited for; another failure names the manager", () => {
        const failed = runWithFakes("join", params, { FAKE_JOIN_CODE: "500", FAKE_JOIN_BODY: '{"message":"rpc error: bad token"}' }, token);
        expect(failed.status).toBe(1);
        expect(failed.stderr).toMatch(/joining the swarm through 10.0.0.1:2377 failed \(HTTP 500\): .*bad token/);
    });

    test("a join that never completes names the managers that do not answer, and says when they cost the swarm its quorum", () => {
        // The third manager joins through m1 while m2, which joined just before it, is dead:
        // two managers in Raft, one down, no quorum. Docker keeps the join going in the background.
        const m3 = { ...params, NODE_NAME: "m3", ADVERTISE_ADDR: "10.0.0.3", SWARM_ROLE: "manager", MANAGER_ADDRS: "10.0.0.1:2377 10.0.0.2:2377 10.0.0.3:2377", MANAGER_NAMES: "m1 m2 m3" };
        const background = { FAKE_JOIN_CODE: "503", FAKE_JOIN_BODY: '{"message":"Timeout was reached before node joined. The attempt to join the swarm will continue in the background."}', SWARM_HA_JOIN_WAIT: "1" };
        // fake-docker answers "active" once a join was logged: keep it inactive (the join hangs).
        const hung = { ...background, FAKE_STATE: "inactive", FAKE_JOINS_AS_MANAGER: "" };
        const lost = runWithFakes("join", m3, { ...hung, FAKE_UNREACHABLE: "10.0.0.2:2377" }, token);
        expect(lost.status).toBe(1);
        expect(lost.stderr).toMatch(/^swarm-ha: node m3: gave up after 1s waiting for the join through 10\.0\.0\.1:2377 to complete \(.*continue in the background.*\)\. The swarm has lost its quorum: 1 of its 2 manager\(s\) do not answer on their swarm port \(m2 \(10\.0\.0\.2:2377\)\)/);
        // Managers after it have not joined yet: not probed, not blamed.
        expect(lost.calls).not.toContain("curl probe 10.0.0.3:2377");
        // A worker, with all three managers in Raft and one down: quorum kept, the dead one still named.
        const worker = runWithFakes("join", { ...params, MANAGER_ADDRS: m3.MANAGER_ADDRS, MANAGER_NAMES: m3.MANAGER_NAMES }, { ...hung, FAKE_UNREACHABLE: "10.0.0.3:2377" }, token);
        expect(worker.stderr).toMatch(/\. Manager\(s\) not answering on their swarm port: m3 \(10\.0\.0\.3:2377\) \(the swarm keeps its quorum without them\)/);
        const nobodyDown = runWithFakes("join", params, hung, token);
        expect(nobodyDown.stderr).toMatch(/\. Every manager that joined before it answers on its swarm port/);
    });

    test("no token on standard input is an error", () => {
        expect(runWithFakes("join", params, {}, "").stderr).toMatch(/no join token arrived on standard input/);
    });
});

describe("settings.sh", () => {
    const params = { NODE_NAME: "w1", NODE_ID: "w1", REPLACED_NODE_ID: "", ADVERTISE_ADDR: "10.0.0.11", SWARM_ROLE: "worker", AVAILABILITY: "active", LABELS: "swarm-ha.name=w1\nzone=b" };

    test("adds wanted labels and removes only labels swarm-ha set before", () => {
        const r = runWithFakes("settings", params, { ...swarm(M1, W1), FAKE_MANAGED: "swarm-ha.name,zone,disk" });
        expect(r.stderr).toBe("");
        expect(r.calls.find((c) => c.startsWith("node update"))).toBe(
            "node update --role worker --availability active --label-add swarm-ha.name=w1 --label-add zone=b --label-rm disk --label-add swarm-ha.managed-labels=swarm-ha.name,zone w1",
        );
        expect(r.calls.some((c) => c.includes("swarm leave") || c.includes("swarm join") || c.startsWith("node rm"))).toBe(false);
    });

    test("removes the node's stale entries: the ID it had before it rejoined, an older one with its label, a down one at its address", () => {
        const rejoined = node("q5", "worker", "-", "10.0.0.11", "ready", "active", "-");
        const older = node("w1-old", "worker", "-", "10.0.0.11", "down", "active", "w1");
        const cutShort = node("q9", "worker", "-", "10.0.0.11", "down", "active", "-");
        const someoneElse = node("q10", "worker", "-", "10.0.0.12", "down", "active", "-");
        const liveNeighbour = node("q11", "worker", "-", "10.0.0.11", "ready", "active", "-");
        const r = runWithFakes("settings", { ...params, REPLACED_NODE_ID: "q5" }, swarm(M1, W1, rejoined, older, cutShort, someoneElse, liveNeighbour));
        expect(r.stderr).toBe("");
        expect(r.calls.filter((c) => c.startsWith("node rm"))).toEqual(["node rm --force q5", "node rm --force w1-old", "node rm --force q9"]);
    });
});

describe("health.sh: the swarm must match config", () => {
    const declared = "m1 manager active\nm2 manager active\nm3 manager active\nw1 worker active";

    test("passes when it does", () => {
        const r = runWithFakes("health", { NODE_NAME: "m1", DECLARED: declared, WAIT_SECONDS: "0" }, swarm(M1, M2, M3, W1));
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain("status=healthy\nnodes=4\nmanagers=3");
    });

    test("lists every difference, naming the node", () => {
        const m3down = node("m3", "manager", "unreachable", "10.0.0.3", "down", "active", "m3");
        const w1drained = node("w1", "worker", "-", "10.0.0.11", "ready", "drain", "w1");
        const leftover = node("w9", "worker", "-", "10.0.0.19", "ready", "active", "w9");
        const handJoined = node("x1", "manager", "reachable", "10.0.0.50", "ready", "active", "-", "box");
        const r = runWithFakes("health", { NODE_NAME: "m1", DECLARED: `${declared}\nw2 worker active`, WAIT_SECONDS: "0" }, swarm(M1, m3down, w1drained, leftover, handJoined));
        expect(r.status).toBe(1);
        expect(r.stderr.split("\n").slice(1).filter(Boolean)).toEqual([
            "m2: not in the node list",
            "m3: manager unreachable, expected reachable",
            "m3: status down, expected ready",
            "manager box (x1) is not in config",
            "w1: availability drain, expected active",
            "w2: not in the node list",
            "w9 (w9) carries a swarm-ha label but is not in config",
        ]);
        expect(r.stderr).toMatch(/^swarm-ha: node m1: the swarm does not match config after 0s:/);
    });

    test("a promotion that never reached Raft is a difference", () => {
        const w1promoted = node("w1", "manager", "unreachable", "10.0.0.11", "down", "active", "w1");
        const r = runWithFakes("health", { NODE_NAME: "m1", DECLARED: "m1 manager active\nm2 manager active\nw1 manager active", WAIT_SECONDS: "0" }, swarm(M1, M2, w1promoted));
        expect(r.stderr).toContain("w1: manager unreachable, expected reachable");
    });
});

describe("stack-health.sh: every declared service runs as declared", () => {
    const params = (over: Record<string, string> = {}) => ({ NODE_NAME: "m1", STACK: "prod", EXPECTED: "sh-app\nsh-redis-m2\nsh-sentinel-m2", WAIT_SECONDS: "0", STABLE_SECONDS: "0", ...over });
    const services = (...rows: string[]) => ({ ...swarm(M1), FAKE_SERVICES: rows.join(";") });

    test("passes when every service runs its desired tasks, with a global service's count and Docker's per-node note", () => {
        const r = runWithFakes("stack-health", params({ EXPECTED: "sh-app\nsh-node-exporter" }), services("sh-app 2/2(max2) completed", "sh-node-exporter 4/4 -"));
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe("status=healthy\nservices=2\n");
        expect(r.calls).toContain("service ls --quiet --filter label=swarm-ha.stack=prod");
    });

    test("lists every difference, naming the service and what to do", () => {
        const r = runWithFakes("stack-health", params({ EXPECTED: "sh-app\nsh-redis-m2\nsh-sentinel-m2\nsh-pg-m3\nsh-grafana" }), services(
            "sh-app 1/2 updating",
            "sh-redis-m2 0/1 -",
            "sh-sentinel-m2 1/1 paused",
            "sh-pg-m3 1/1 rollback_completed",
        ));
        expect(r.status).toBe(1);
        expect(r.stderr.split("\n")[0]).toBe("swarm-ha: node m1: the stack's services do not run as declared after 0s:");
        expect(r.stderr.split("\n").slice(1).filter(Boolean)).toEqual([
            "sh-app: 1 tasks running and healthy, 2 desired",
            "sh-app: still rolling out (updating)",
            "sh-grafana: not in the swarm",
            "sh-pg-m3: its last update failed and was rolled back, so it runs its previous spec: see docker service ps --no-trunc sh-pg-m3, then pulumi up --refresh",
            "sh-redis-m2: 0 tasks running and healthy, 1 desired",
            "sh-sentinel-m2: its update is paused (paused): see docker service ps --no-trunc sh-sentinel-m2",
        ]);
    });

    test("a service the run no longer declares is not checked: it is still in the swarm while the check runs, on its way out", () => {
        const r = runWithFakes("stack-health", params({ EXPECTED: "sh-app" }), services("sh-app 2/2 -", "sh-haproxy-old-node 0/1 -", "sh-keepalived-old-node 0/1 paused"));
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe("status=healthy\nservices=1\n");
    });

    test("a service whose tasks keep dying fails the run even when it is caught at a good moment", () => {
        const r = runWithFakes("stack-health", params({ WAIT_SECONDS: "4", STABLE_SECONDS: "2" }), { ...services("sh-app 2/2 -", "sh-redis-m2 1/1 -", "sh-sentinel-m2 1/1 -"), FAKE_FLAPPING: "sh-redis-m2" });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("sh-redis-m2: 0 tasks running and healthy, 1 desired");
        // The same stack, steady, passes with the same window.
        const steady = runWithFakes("stack-health", params({ WAIT_SECONDS: "4", STABLE_SECONDS: "2" }), services("sh-app 2/2 -", "sh-redis-m2 1/1 -", "sh-sentinel-m2 1/1 -"));
        expect(steady.stderr).toBe("");
        expect(steady.status).toBe(0);
    });

    test("refuses to run where the services cannot be read", () => {
        const r = runWithFakes("stack-health", params(), { FAKE_STATE: "active", FAKE_CONTROL: "false" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^swarm-ha: node m1: is not an active manager of a swarm with a leader, so the stack cannot be checked/);
    });
});

describe("departure.sh, from the machine that runs Pulumi", () => {
    const params = { NODE_NAME: "w1", ADDRESS: "192.0.2.9", SSH_PORT: "22", SSH_USER: "root", KEY_DIR: "~/keys" };
    const withKey = () => {
        fs.mkdirSync(path.join(work, "keys"), { recursive: true });
        fs.writeFileSync(path.join(work, "keys", "id"), "key");
    };

    test("makes a reachable host leave, with the stack's key file and known_hosts", () => {
        withKey();
        const r = runWithFakes("departure", params, {});
        expect(r.stdout).toContain("status=left");
        const ssh = r.calls.find((c) => c.startsWith("ssh "))!;
        expect(ssh).toContain(`-i ${work}/keys/id -p 22`);
        expect(ssh).toContain(`UserKnownHostsFile=${work}/keys/known_hosts ${work}/keys/pinned_known_hosts`);
        expect(ssh).toContain("root@192.0.2.9");
    });

    test("a dead host is reported, not an error: a manager has already removed it", () => {
        withKey();
        const r = runWithFakes("departure", params, { FAKE_SSH: "unreachable" });
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("status=unreachable");
        expect(r.stderr).toMatch(/node w1: host 192.0.2.9 cannot be reached .*Connection timed out.*docker swarm leave --force/);
    });

    test("a host that refuses the key, or a missing key file, fails the step", () => {
        withKey();
        expect(runWithFakes("departure", params, { FAKE_SSH: "denied" }).stderr).toMatch(/could not make host 192.0.2.9 leave the swarm: .*Permission denied/);
        fs.rmSync(path.join(work, "keys"), { recursive: true });
        const missing = runWithFakes("departure", params, {});
        expect(missing.status).toBe(1);
        expect(missing.stderr).toMatch(/the stack's SSH key file .*keys\/id is missing on this machine; run 'pulumi preview' here once/);
    });
});

describe("preflight.sh", () => {
    test("an engine older than 20.10 is refused, naming the node", () => {
        const r = runWithFakes("preflight", { NODE_NAME: "m2", MIN_DOCKER_VERSION: "20.10" }, { FAKE_VERSION: "19.03.15" });
        expect(r.status).toBe(1);
        // The docker socket check may fail first on a machine without Docker; either way it names the node.
        expect(r.stderr).toMatch(/swarm-ha: node m2: (Docker engine 19.03.15 is too old; swarm-ha needs 20.10 or newer|the SSH user cannot write)/);
    });
});

describe("host-keys.sh, from the machine that runs Pulumi", () => {
    const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKDzL2LzgZmLza1BX90iXftJprDkDmhaTmoAWr9sx1a9";
    const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINvuIt52rqyaSkgit+h9yS8uO4hCysk9vW9z1Z5yWcVu";
    const fingerprint = (key: string) => execFileSync("ssh-keygen", ["-lf", "-"], { input: `${key}\n`, encoding: "utf8" }).split(" ")[1];
    /** The host at 192.0.2.9 presents `key` (or does not answer, for undefined). */
    const presents = (key?: string) => {
        const dir = path.join(work, "keys-presented");
        fs.mkdirSync(dir, { recursive: true });
        if (key) fs.writeFileSync(path.join(dir, "192.0.2.9"), `${key}\n`);
        else fs.rmSync(path.join(dir, "192.0.2.9"), { force: true });
        return { FAKE_KEYS_DIR: dir };
    };
    const check = (pin: string | undefined, env: Record<string, string>) =>
        runWithFakes("host-keys", { NODE_NAME: "m1", HOSTS: `w1 192.0.2.9 ${pin ?? "- -"}`, SSH_PORT: "2222", KEY_DIR: "~/keys" }, env);

    test("a pinned key the host presents passes; another key is refused, naming the node, both fingerprints and the new pin", () => {
        expect(check(KEY_A, presents(KEY_A))).toMatchObject({ status: 0, stdout: expect.stringContaining(`w1: host key as pins (${fingerprint(KEY_A)})`) });
        const refused = check(KEY_A, presents(KEY_B));
        expect(refused.status).toBe(1);
        expect(refused.stderr).toContain(
            `swarm-ha: node w1 (192.0.2.9): presented SSH host key ${fingerprint(KEY_B)} (ssh-ed25519), but swarm-ha:nodes pins ${fingerprint(KEY_A)} for it: refusing to connect`,
        );
        expect(refused.stderr).toContain(`update the node's hostKey in config to: "${KEY_B}"`);
        expect(refused.calls).toContain("ssh-keyscan -T 10 -p 2222 -t ed25519 192.0.2.9");
    });

    test("without a pin: first contact records the key in the stack's known_hosts, a later change is refused", () => {
        const first = check(undefined, presents(KEY_A));
        expect(first.status).toBe(0);
        expect(first.stdout).toContain(`w1: first contact: recorded host key ${fingerprint(KEY_A)}`);
        expect(fs.readFileSync(path.join(work, "keys", "known_hosts"), "utf8")).toBe(`[192.0.2.9]:2222 ${KEY_A}\n`);
        expect(check(undefined, presents(KEY_A)).stdout).toContain("w1: host key as first contact recorded");
        const changed = check(undefined, presents(KEY_B));
        expect(changed.status).toBe(1);
        expect(changed.stderr).toMatch(/node w1 \(192\.0\.2\.9\): presented SSH host key .* but .* was recorded on first contact: refusing to connect.*ssh-keygen -R '\[192\.0\.2\.9\]:2222'/);
    });

    test("without a pin, a host that offers only another key type than the recorded one is refused too", () => {
        expect(check(undefined, presents(KEY_A)).status).toBe(0);
        const ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=";
        const r = check(undefined, presents(ECDSA));
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/node w1 \(192\.0\.2\.9\): offers no ssh-ed25519 host key, but first contact recorded one \(SHA256:\S+\): refusing to connect/);
    });

    test("a host that does not answer is not checked (its own steps report it), and nothing is recorded", () => {
        const r = check(KEY_A, presents(undefined));
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("w1: 192.0.2.9 does not answer ssh-keyscan; its key is not checked now");
        expect(check(undefined, presents(undefined)).status).toBe(0);
        expect(fs.readFileSync(path.join(work, "keys", "known_hosts"), "utf8")).toBe("");
    });
});

describe("tier-health.sh: the tier's own check, in its task on this node", () => {
    const params = (over: Record<string, string> = {}) => ({
        NODE_NAME: "m3",
        TIER: "redis",
        SERVICE: "sh-redis-m3",
        CHECK: "swarm-ha-redis-check",
        WAIT_SECONDS: "10",
        ...over,
    });

    test("passes when the check passes twice in a row, run with docker exec in the service's task here", () => {
        const r = runWithFakes("tier-health", params({ CHECK: "swarm-ha-patroni-check\nw1\nw 2" }), { FAKE_TASKS: "sh-other sh-redis-m3", FAKE_CHECKS: "0" });
        expect(`${r.status} ${r.stderr}`).toBe("0 ");
        expect(r.stdout).toBe("status=healthy\ntier=redis\ncheck=check 2: exit 0\n");
        expect(r.calls.filter((c) => c.startsWith("exec"))).toEqual(["exec task-of-sh-redis-m3 swarm-ha-patroni-check w1 w 2", "exec task-of-sh-redis-m3 swarm-ha-patroni-check w1 w 2"]);
    });

    test("a check that passes for a moment does not count: it must pass twice in a row", () => {
        const r = runWithFakes("tier-health", params(), { FAKE_TASKS: "sh-redis-m3", FAKE_CHECKS: "1 0 1 0 0" });
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("check=check 5: exit 0");
    });

    test("a tier that never works as one fails the run with the check's own list", () => {
        const r = runWithFakes("tier-health", params({ WAIT_SECONDS: "2" }), { FAKE_TASKS: "sh-redis-m3", FAKE_CHECKS: "0 1" });
        expect(`${r.status} ${r.stderr}`).toBe("1 swarm-ha: node m3: the redis tier does not work as one after 2s (asked in sh-redis-m3):\ncheck 2: exit 1\n");
    });

    test("no task of the service on this node: the run fails and says so", () => {
        const r = runWithFakes("tier-health", params({ WAIT_SECONDS: "0" }), { FAKE_TASKS: "sh-redis-m2" });
        expect(`${r.status} ${r.stderr}`).toBe("1 swarm-ha: node m3: the redis tier does not work as one after 0s (asked in sh-redis-m3):\nno running task of sh-redis-m3 on this node\n");
        expect(r.calls.some((c) => c.startsWith("exec"))).toBe(false);
    });
});

describe("etcd-members.sh: etcd's members follow the managers in config, through the first manager's member", () => {
    const params = (over: Record<string, string> = {}) => ({
        NODE_NAME: "m1",
        STACK: "dev",
        SERVICE: "sh-etcd-m1",
        DECLARED: "m1=sh-etcd-m1\nm3=sh-etcd-m3\nw1=sh-etcd-w1",
        WAIT_SECONDS: "3",
        PROGRAM: "#!/bin/sh\necho 'the membership program'",
        ...over,
    });
    const etcd = (...names: string[]) => ({ ...swarm(M1), FAKE_SERVICES: names.map((n) => `${n} 1/1 -`).join(";") });

    test("a new cluster (no etcd service in the stack yet): nothing to do", () => {
        const r = runWithFakes("etcd-members", params(), etcd());
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 status=new-cluster\n");
        expect(r.calls.some((c) => c.startsWith("exec"))).toBe(false);
    });

    test("runs the membership program in this node's member, on stdin (any etcd image runs it), with every declared name=host as an argument", () => {
        const r = runWithFakes("etcd-members", params(), { ...etcd("sh-etcd-m1", "sh-etcd-m2", "sh-etcd-m3"), FAKE_TASKS: "sh-etcd-m1", FAKE_CHECKS: "0" });
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 check 1: exit 0\n");
        expect(r.calls.filter((c) => c.startsWith("exec"))).toEqual(["exec -i task-of-sh-etcd-m1 sh -s -- m1=sh-etcd-m1 m3=sh-etcd-m3 w1=sh-etcd-w1"]);
        expect(fs.readFileSync(path.join(work, "calls.log.stdin"), "utf8")).toBe("#!/bin/sh\necho 'the membership program'\n");
    });

    test("the members program fails (no quorum): the run fails with what it said", () => {
        const r = runWithFakes("etcd-members", params(), { ...etcd("sh-etcd-m1"), FAKE_TASKS: "sh-etcd-m1", FAKE_CHECKS: "1" });
        expect(`${r.status} ${r.stderr}`).toBe("1 swarm-ha: node m1: etcd's members could not follow the managers in config (asked in sh-etcd-m1):\ncheck 1: exit 1\n");
    });

    test("etcd runs, but the first manager has no member yet (a new manager listed first): the run fails and says which manager to list first", () => {
        const r = runWithFakes("etcd-members", params({ NODE_NAME: "w1", SERVICE: "sh-etcd-w1" }), etcd("sh-etcd-m1", "sh-etcd-m3"));
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("swarm-ha: node w1: etcd runs in this stack, but not on this node (sh-etcd-w1 is not a service): list first in config a manager that runs an etcd member already");
        expect(r.calls.some((c) => c.startsWith("exec"))).toBe(false);
    });

    test("this node's member is not running: gives up after the wait, naming it", () => {
        const r = runWithFakes("etcd-members", params({ WAIT_SECONDS: "1" }), { ...etcd("sh-etcd-m1"), FAKE_TASKS: "" });
        expect(`${r.status} ${r.stderr}`).toBe("1 swarm-ha: node m1: gave up after 1s waiting for a running task of sh-etcd-m1 on this node\n");
    });
});

describe("patroni-settings.sh: Patroni's settings from config, applied to the running cluster in this node's member", () => {
    const SETTINGS = '{"synchronous_mode":false,"maximum_lag_on_failover":2097152}';
    const params = (over: Record<string, string> = {}) => ({ NODE_NAME: "w1", SERVICE: "sh-pg-w1", SETTINGS, WAIT_SECONDS: "3", PROGRAM: "print('the settings program')", ...over });

    test("runs the settings program in this node's member with python3, on stdin (any Postgres image runs it), with the settings and the wait as arguments", () => {
        const r = runWithFakes("patroni-settings", params(), { FAKE_TASKS: "sh-pg-w1", FAKE_CHECKS: "0" });
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 check 1: exit 0\n");
        expect(r.calls.filter((c) => c.startsWith("exec"))).toEqual([`exec -i task-of-sh-pg-w1 python3 - ${SETTINGS} 3`]);
        expect(fs.readFileSync(path.join(work, "calls.log.stdin"), "utf8")).toBe("print('the settings program')\n");
    });

    test("Patroni refuses them: the run fails with what the program said", () => {
        const r = runWithFakes("patroni-settings", params(), { FAKE_TASKS: "sh-pg-w1", FAKE_CHECKS: "1" });
        expect(`${r.status} ${r.stderr}`).toBe("1 swarm-ha: node w1: Patroni's settings could not be applied (asked in sh-pg-w1):\ncheck 1: exit 1\n");
    });

    test("this node's member is not running: gives up after the wait, naming it", () => {
        const r = runWithFakes("patroni-settings", params({ WAIT_SECONDS: "1" }), { FAKE_TASKS: "" });
        expect(`${r.status} ${r.stderr}`).toBe("1 swarm-ha: node w1: gave up after 1s waiting for a running task of sh-pg-w1 on this node\n");
        expect(r.calls.some((c) => c.startsWith("exec"))).toBe(false);
    });
});

describe("keepalived-peers.sh: this edge node's priority and peers written to its volume, and keepalived reloaded (no restart)", () => {
    const PEERS = "priority 150\nunicast_src_ip 10.0.0.1\nunicast_peer {\n    10.0.0.2\n}\n";
    const volumes = () => path.join(work, "volumes");
    const file = () => path.join(volumes(), "sh-keepalived-peers", "peers.conf");
    const params = (over: Record<string, string> = {}) => ({ NODE_NAME: "m1", VOLUME: "sh-keepalived-peers", IMAGE: "swarm-ha/keepalived:abc", SERVICE: "sh-keepalived-m1", PEERS_CONF: PEERS, ...over });
    const run = (over: Record<string, string>, tasks: string) => runWithFakes("keepalived-peers", params(over), { FAKE_TASKS: tasks, FAKE_VOLUMES: volumes() });
    beforeEach(() => fs.rmSync(volumes(), { recursive: true, force: true }));

    test("a new edge node: the file written through keepalived's image, with no network, before its keepalived runs; nothing to reload", () => {
        const r = run({}, "");
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 keepalived-peers: sh-keepalived-peers written; no keepalived runs here yet (it reads the file when it starts)\n");
        expect(fs.readFileSync(file(), "utf8")).toBe(PEERS);
        expect((fs.statSync(file()).mode & 0o777).toString(8)).toBe("644");
        expect(fs.readdirSync(path.dirname(file()))).toEqual(["peers.conf"]);
        expect(r.calls.filter((c) => c.startsWith("run")).map((c) => c.split(" -c ")[0])).toEqual(
            Array(2).fill("run --rm -i --network none --volume sh-keepalived-peers:/peers --entrypoint /bin/sh swarm-ha/keepalived:abc"),
        );
    });

    test("the peers changed: the file replaced, the running keepalived sent SIGHUP; the same peers again: nothing", () => {
        run({}, "");
        const changed = PEERS.replace("10.0.0.2", "10.0.0.3");
        const r = run({ PEERS_CONF: changed }, "sh-keepalived-m1");
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 keepalived-peers: sh-keepalived-peers written; keepalived (task-of-sh-keepalived-m1) reloaded it\n");
        expect(r.calls.filter((c) => c.startsWith("kill"))).toEqual(["kill --signal HUP task-of-sh-keepalived-m1"]);
        expect(fs.readFileSync(file(), "utf8")).toBe(changed);
        const again = run({ PEERS_CONF: changed }, "sh-keepalived-m1");
        expect(`${again.status} ${again.stdout}`).toBe("0 keepalived-peers: sh-keepalived-peers unchanged\n");
        expect(again.calls.some((c) => c.startsWith("kill"))).toBe(false);
    });
});

describe("patroni-handover.sh: before this node's member restarts, the leader moved off it", () => {
    const params = (over: Record<string, string> = {}) => ({
        NODE_NAME: "w1",
        SERVICE: "sh-pg-w1",
        MEMBER: "w1",
        DECLARED: "w1\nw2",
        WAIT_SECONDS: "3",
        TASK_DIGEST: "0".repeat(64),
        PROGRAM: "print('the handover program')",
        ...over,
    });

    test("runs the handover program in this node's member with python3, on stdin (any Postgres image runs it), with the member, the wait and the declared members (one argument, a name per line)", () => {
        const r = runWithFakes("patroni-handover", params(), { FAKE_TASKS: "sh-pg-w1", FAKE_CHECKS: "0" });
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 check 1: exit 0\n");
        // (The fake logs one call per line: the argument's newline shows as a line break.)
        expect(r.calls.join("\n")).toMatch(/^exec -i task-of-sh-pg-w1 python3 - w1 3 w1\nw2$/m);
        expect(fs.readFileSync(path.join(work, "calls.log.stdin"), "utf8")).toBe("print('the handover program')\n");
    });

    test("no member running on this node: it leads nothing, so the restart goes ahead at once", () => {
        const r = runWithFakes("patroni-handover", params(), { FAKE_TASKS: "" });
        expect(`${r.status} ${r.stdout}`).toBe("0 patroni-handover: no running task of sh-pg-w1 on this node: its restart moves no leader\n");
        expect(r.calls.some((c) => c.startsWith("exec"))).toBe(false);
    });

    test("the leader cannot be handed over: the run fails (the primary is not restarted) with what the program said", () => {
        const r = runWithFakes("patroni-handover", params(), { FAKE_TASKS: "sh-pg-w1", FAKE_CHECKS: "1" });
        expect(`${r.status} ${r.stderr}`).toBe("1 swarm-ha: node w1: the Postgres leader could not be moved off w1 before its restart (asked in sh-pg-w1):\ncheck 1: exit 1\n");
    });
});

describe("postgres-roles.sh: the passwords of Postgres' roles, set on the running cluster from this node's member", () => {
    const PROGRAM = Buffer.from("print('the roles program')\n").toString("base64");
    const params = (mode: string, over: Record<string, string> = {}) => ({ NODE_NAME: "w1", SERVICE: "sh-pg-w1", MODE: mode, WAIT_SECONDS: "3", PROGRAM_BASE64: PROGRAM, ...over });
    // The step's stdin: a password with every character a shell or JSON could trip on.
    const PASSWORDS = JSON.stringify({ postgres: `p'w"$(touch PWNED)\\ x`, replicator: "r" });

    test("runs the program in this node's member with python3: its base64 first on stdin, then the step's stdin (the passwords); mode and wait as arguments", () => {
        const r = runWithFakes("postgres-roles", params("cluster-roles"), { FAKE_TASKS: "sh-pg-w1", FAKE_CHECKS: "0" }, PASSWORDS);
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 check 1: exit 0\n");
        const exec = r.calls.filter((c) => c.startsWith("exec"));
        expect(exec).toEqual([`exec -i task-of-sh-pg-w1 python3 -c import base64, sys; exec(compile(base64.b64decode(sys.stdin.readline()), "postgres-roles", "exec")) cluster-roles 3`]);
        expect(fs.readFileSync(path.join(work, "calls.log.stdin"), "utf8")).toBe(`${PROGRAM}\n${PASSWORDS}`);
        // The passwords are in no call's arguments.
        expect(r.calls.filter((c) => c.includes("touch PWNED"))).toEqual([]);
        expect(fs.readdirSync(work).filter((f) => f.startsWith("PWNED"))).toEqual([]);
    });

    test("cluster-roles where no member ever ran (no container of it, running or not): a new cluster, nothing to do", () => {
        const r = runWithFakes("postgres-roles", params("cluster-roles"), { FAKE_TASKS: "" }, PASSWORDS);
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 postgres-roles: no member of sh-pg-w1 on this node yet: a new cluster, whose members create the roles with these passwords\n");
        expect(r.calls.some((c) => c.startsWith("exec"))).toBe(false);
    });

    test("a member that exists but is not running: waited for, then the run fails naming it (a stopped member is not a new cluster)", () => {
        for (const [mode, env] of [["cluster-roles", { FAKE_CONTAINERS: "sh-pg-w1" }], ["app-role", {}]] as const) {
            const r = runWithFakes("postgres-roles", params(mode, { WAIT_SECONDS: "1" }), { FAKE_TASKS: "", ...env }, PASSWORDS);
            expect(`${r.status} ${r.stderr}`).toBe("1 swarm-ha: node w1: gave up after 1s waiting for a running task of sh-pg-w1 on this node\n");
            expect(r.calls.some((c) => c.startsWith("exec"))).toBe(false);
        }
    });

    test("the program fails: the run fails with what it said", () => {
        const r = runWithFakes("postgres-roles", params("app-role"), { FAKE_TASKS: "sh-pg-w1", FAKE_CHECKS: "1" }, PASSWORDS);
        expect(`${r.status} ${r.stderr}`).toBe("1 swarm-ha: node w1: the passwords of Postgres' roles could not be set (asked in sh-pg-w1):\ncheck 1: exit 1\n");
    });
});

describe("spread.sh: services spread over their nodes again, without stopping a task first", () => {
    const params = (spread = "sh-app m3 w1") => ({ NODE_NAME: "m1", SPREAD: spread, CONVERGE_SECONDS: "2", WAIT_SECONDS: "4" });
    // x1 is up but not one of the service's nodes (Swarm's placement keeps the service off it;
    // the fake never places a task on a node whose ID starts with x).
    const X1 = node("x1", "worker", "-", "10.0.0.21", "ready", "active", "x1");
    const scales = (calls: string[]) => calls.filter((c) => c.startsWith("service scale"));

    test("a spread service is left alone", () => {
        const r = runWithFakes("spread", params(), { ...swarm(M3, W1, X1), FAKE_SPREAD: "sh-app 2 m3,w1" });
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 spread=sh-app m3:1 w1:1\n");
        expect(scales(r.calls)).toEqual([]);
    });

    test("every task on one node while another is up: one more task (Swarm puts it on the empty node), then back to the count, which Swarm takes from the full node", () => {
        const r = runWithFakes("spread", params(), { ...swarm(M3, W1, X1), FAKE_SPREAD: "sh-app 2 w1,w1" });
        expect(`${r.status} ${r.stdout}`).toBe("0 spread=sh-app m3:1 w1:1 (was m3:0 w1:2)\n");
        expect(r.stderr).toBe("spreading sh-app: 2 tasks as m3:0 w1:2; scaling to 3, then back (try 1 of 3)\n");
        expect(scales(r.calls)).toEqual(["service scale --detach sh-app=3", "service scale --detach sh-app=2"]);
    });

    test("Swarm takes the scaled-down task from the wrong node: spread is tried again, up to three times, then the run fails naming where the tasks are", () => {
        const env = { ...swarm(M3, W1, X1, node("w2", "worker", "-", "10.0.0.12", "ready", "active", "w2")), FAKE_SPREAD: "sh-app 3 m3,m3,w2" };
        const r = runWithFakes("spread", params("sh-app m3 w1 w2"), { ...env, FAKE_WRONG_SCALE_DOWNS: "1" });
        expect(`${r.status} ${r.stdout}`).toBe("0 spread=sh-app m3:1 w1:1 w2:1 (was m3:2 w1:0 w2:1)\n");
        expect(r.stderr).toBe("spreading sh-app: 3 tasks as m3:2 w1:0 w2:1; scaling to 4, then back (try 1 of 3)\nspreading sh-app: 3 tasks as m3:2 w1:0 w2:1; scaling to 4, then back (try 2 of 3)\n");
        const never = runWithFakes("spread", params("sh-app m3 w1 w2"), { ...env, FAKE_WRONG_SCALE_DOWNS: "3" });
        expect(never.status).toBe(1);
        expect(never.stderr).toMatch(/swarm-ha: node m1: sh-app is still not spread after scaling it up and back 3 times: m3:2 w1:\d w2:\d \(see docker service ps sh-app\)\n$/);
        expect(scales(never.calls)).toHaveLength(6);
    });

    test("uneven past one task: as many extra tasks as must move (4 over 3 nodes from 2/2/0: one)", () => {
        const r = runWithFakes("spread", params("sh-app m3 w1 w2"), { ...swarm(M3, W1, X1, node("w2", "worker", "-", "10.0.0.12", "ready", "active", "w2")), FAKE_SPREAD: "sh-app 4 m3,m3,w1,w1" });
        expect(`${r.status} ${r.stdout}`).toBe("0 spread=sh-app m3:1 w1:2 w2:1 (was m3:2 w1:2 w2:0)\n");
        expect(scales(r.calls)).toEqual(["service scale --detach sh-app=5", "service scale --detach sh-app=4"]);
    });

    test("a node that is down or drained does not count: nothing to spread to", () => {
        for (const m3 of [node("m3", "manager", "unreachable", "10.0.0.3", "down", "active", "m3"), node("m3", "manager", "reachable", "10.0.0.3", "ready", "drain", "m3")]) {
            const r = runWithFakes("spread", params(), { ...swarm(m3, W1, X1), FAKE_SPREAD: "sh-app 2 w1,w1" });
            expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 spread=sh-app w1:2\n");
            expect(scales(r.calls)).toEqual([]);
        }
    });

    test("a service that does not run all its tasks (one still being placed) is not judged: the health check names it", () => {
        const r = runWithFakes("spread", params(), { ...swarm(M3, W1, X1), FAKE_SPREAD: "sh-app 2 w1" });
        expect(`${r.status} ${r.stderr}${r.stdout}`).toBe("0 spread=sh-app not judged: 1 of 2 tasks run on its nodes\n");
        expect(scales(r.calls)).toEqual([]);
    });

    test("extra tasks that never run: the service goes back to its count and the run fails, saying so", () => {
        const r = runWithFakes("spread", params(), { ...swarm(M3, W1, X1), FAKE_SPREAD: "sh-app 2 w1,w1", FAKE_STUCK: "sh-app" });
        expect(`${r.status} ${r.stderr}`).toBe(
            "1 spreading sh-app: 2 tasks as m3:0 w1:2; scaling to 3, then back (try 1 of 3)\nswarm-ha: node m1: sh-app did not spread: its 1 extra task(s) did not run within 4s (see docker service ps --no-trunc sh-app); it is back to 2\n",
        );
        expect(scales(r.calls)).toEqual(["service scale --detach sh-app=3", "service scale --detach sh-app=2"]);
    });

    test("each service in turn, by its own nodes", () => {
        const r = runWithFakes("spread", params("sh-app m3 w1\nsh-pg-proxy m3 w1"), { ...swarm(M3, W1, X1), FAKE_SPREAD: "sh-app 2 m3,w1;sh-pg-proxy 2 m3,m3" });
        expect(`${r.status} ${r.stdout}`).toBe("0 spread=sh-app m3:1 w1:1\nspread=sh-pg-proxy m3:1 w1:1 (was m3:2 w1:0)\n");
    });

    test("not a manager: the run fails before touching a service", () => {
        const r = runWithFakes("spread", params(), { FAKE_STATE: "active", FAKE_CONTROL: "false", FAKE_SPREAD: "sh-app 2 w1,w1" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^swarm-ha: node m1: is not an active manager of a swarm with a leader, so services cannot be spread/);
        expect(scales(r.calls)).toEqual([]);
    });
});
