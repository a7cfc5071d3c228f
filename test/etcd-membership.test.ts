/**
 * etcd's membership follows the declared managers, on a real etcd cluster started by the
 * entrypoint (images/etcd/entrypoint.sh) on loopback addresses, with the etcd-members step's
 * program (components/postgres/etcd-membership.sh) run as the step runs it: a member whose data was lost is
 * removed and added again; the member of a dead manager is removed by the step, first, so that
 * its replacement can join and the quorum never counts it; a live manager removed from config
 * is removed, and its member does not come back in when it restarts; a member that comes back
 * with the data of a cluster that removed it joins again instead of being refused for ever; and
 * with no quorum, a new member says so and starts nothing rather than form a cluster of its own.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderEtcdEnv } from "../components/postgres/etcd";
import { freePorts } from "./support/ports";

const ENTRYPOINT = path.join(__dirname, "..", "images", "etcd", "entrypoint.sh");
const CHECK = path.join(__dirname, "..", "images", "etcd", "check.sh");
const MEMBERSHIP = fs.readFileSync(path.join(__dirname, "..", "components", "postgres", "etcd-membership.sh"), "utf8");
const IS_ROOT = process.getuid?.() === 0;
/** Loopback addresses of their own, one per member (the ports are the same on each, as on Swarm). */
const HOSTS = ["127.0.71.1", "127.0.71.2", "127.0.71.3", "127.0.71.4"];
const NAMES = ["m1", "m2", "m3", "w1"];

interface Member {
    name: string;
    host: string;
    proc: ChildProcess;
    output: string;
    exited: Promise<number | null>;
}

let work: string;
let client: number;
let peer: number;
const running: Member[] = [];

beforeAll(async () => {
    if (!IS_ROOT) throw new Error("this test runs the entrypoint, which drops to the etcd user: run it as root (CI does)");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-etcd-members-"));
    fs.chmodSync(work, 0o755); // etcd runs as the etcd user: it must get through to its data
    [client, peer] = await freePorts(2, HOSTS);
});
afterAll(async () => {
    await Promise.all(running.map((m) => stop(m)));
    fs.rmSync(work, { recursive: true, force: true });
});

const dataOf = (name: string) => path.join(work, name);

/** Starts `name`'s member through the entrypoint, with `declared` (names) as the managers in config. */
function start(name: string, declared: string[]): Member {
    const members = declared.map((n) => ({ name: n, host: HOSTS[NAMES.indexOf(n)] }));
    const host = HOSTS[NAMES.indexOf(name)];
    const proc = spawn("sh", [ENTRYPOINT], {
        env: {
            PATH: process.env.PATH,
            ...renderEtcdEnv({ name, members, clusterToken: "swarm-ha-test" }),
            SWARM_HA_ETCD_DATA: dataOf(name),
            SWARM_HA_ETCD_LISTEN_HOST: host,
            SWARM_HA_ETCD_CLIENT_PORT: String(client),
            SWARM_HA_ETCD_PEER_PORT: String(peer),
            SWARM_HA_ETCD_RESOLVE_TIMEOUT: "20",
        },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
    });
    const m: Member = { name, host, proc, output: "", exited: new Promise((r) => proc.once("exit", (code) => r(code))) };
    proc.stdout!.on("data", (d) => (m.output += d));
    proc.stderr!.on("data", (d) => (m.output += d));
    running.push(m);
    return m;
}

async function stop(m: Member): Promise<void> {
    if (m.proc.exitCode === null && m.proc.signalCode === null) {
        try {
            process.kill(-m.proc.pid!, "SIGKILL");
        } catch {
            // already gone
        }
        await m.exited;
    }
}

function etcdctl(host: string, ...args: string[]) {
    return spawnSync("etcdctl", ["--endpoints", `http://${host}:${client}`, "--dial-timeout=2s", "--command-timeout=5s", ...args], { encoding: "utf8" });
}

/** The members `host` lists: "name status" per member (an unstarted one has no name yet). */
function members(host: string): string[] {
    const r = etcdctl(host, "member", "list", "-w", "simple");
    return r.stdout.trim().split("\n").filter(Boolean).map((l) => l.split(", ")).map(([, status, name]) => `${name} ${status}`).sort();
}

const memberId = (host: string, name: string) => etcdctl(host, "member", "list", "-w", "simple").stdout.split("\n").find((l) => l.split(", ")[2] === name)?.split(", ")[0];

async function until(what: string, ms: number, probe: () => boolean, logs: Member[] = []): Promise<void> {
    const deadline = Date.now() + ms;
    while (!probe()) {
        if (Date.now() > deadline) throw new Error(`gave up after ${ms / 1000}s waiting for ${what}\n${logs.map((m) => `--- ${m.name}\n${m.output.slice(-3000)}`).join("\n")}`);
        await new Promise((r) => setTimeout(r, 300));
    }
    // The probes are synchronous (spawnSync): let the members' output that arrived meanwhile in.
    await new Promise((r) => setTimeout(r, 500));
}

const healthy = (host: string) => etcdctl(host, "endpoint", "health").status === 0;

/** The health step's check (images/etcd/check.sh), run as in `name`'s container with `declared` as the managers. */
function check(name: string, declared: string[]) {
    const r = spawnSync("sh", [CHECK, ...declared], {
        env: { PATH: process.env.PATH, SWARM_HA_ETCD_CHECK_HOST: HOSTS[NAMES.indexOf(name)], SWARM_HA_ETCD_CLIENT_PORT: String(client) },
        encoding: "utf8",
    });
    return `${r.status} ${r.stdout}${r.stderr}`;
}

/** The etcd-members step's program (components/postgres/etcd-membership.sh), run as the step runs it in `name`'s container (on stdin), with `declared` as the managers. */
function followManagers(name: string, declared: string[]) {
    const r = spawnSync("sh", ["-s", "--", ...declared.map((n) => `${n}=${HOSTS[NAMES.indexOf(n)]}`)], {
        input: MEMBERSHIP,
        env: {
            PATH: process.env.PATH,
            SWARM_HA_ETCD_CHECK_HOST: HOSTS[NAMES.indexOf(name)],
            SWARM_HA_ETCD_CLIENT_PORT: String(client),
            SWARM_HA_ETCD_PEER_PORT: String(peer),
        },
        encoding: "utf8",
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("etcd's members follow the declared managers", () => {
    const first = ["m1", "m2", "m3"];
    const byName: Record<string, Member> = {};

    test("three new members form one cluster, also when the last starts after the first two formed it (the services start one after the other)", async () => {
        for (const n of ["m1", "m2"]) byName[n] = start(n, first);
        await until("m1 and m2 to form the cluster", 30_000, () => healthy(HOSTS[0]) && healthy(HOSTS[1]), Object.values(byName));
        byName.m3 = start("m3", first);
        await until("the three to be healthy", 60_000, () => first.every((n) => healthy(HOSTS[NAMES.indexOf(n)])) && members(HOSTS[0]).join() === "m1 started,m2 started,m3 started", Object.values(byName));
        for (const n of ["m1", "m2"]) expect(byName[n].output).toContain("new cluster: every member's name resolves");
        // m3 found a cluster with its entry not started yet: it was added again and joined.
        expect(byName.m3.output).toMatch(/removed the stale entry [0-9a-f]+ of m3 \(it never started\)/);
        expect(byName.m3.output).toContain("starting m3 as a new member of the running cluster");
        // The health step's check agrees.
        expect(check("m2", first)).toBe("0 etcd: members m1 m2 m3 started and healthy\n");
    }, 90_000);

    test("a member whose data is lost is removed and added again, under a new ID", async () => {
        const before = memberId(HOSTS[0], "m3");
        await stop(byName.m3);
        fs.rmSync(dataOf("m3"), { recursive: true, force: true });
        byName.m3 = start("m3", first);
        await until("m3 back under a new ID and the cluster healthy", 30_000, () => memberId(HOSTS[0], "m3") !== before && healthy(HOSTS[2]) && members(HOSTS[0]).join() === "m1 started,m2 started,m3 started", [byName.m3]);
        expect(byName.m3.output).toMatch(/removed the stale entry [0-9a-f]+ of m3 \(its data is gone\)/);
        expect(byName.m3.output).toContain("added m3 to the running cluster through");
        expect(memberId(HOSTS[0], "m3")).not.toBe(before);
    }, 60_000);

    test("a dead manager replaced by a new one: the step removes the dead member first, the new one joins, and the cluster keeps three healthy members", async () => {
        await stop(byName.m1);
        const now = ["m2", "m3", "w1"];
        // Before the step, the health step's check names what differs from the new config.
        expect(check("m2", now)).toMatch(
            /^1 etcd: member m1 is not a declared manager: the etcd-members step should have removed it; remove it with etcdctl member remove [0-9a-f]+\netcd: the declared manager w1 is not a started member\netcd: http:\/\/127\.0\.71\.1:\d+ is unhealthy: [^\n]+\n$/,
        );
        const step = followManagers("m2", now);
        expect(step.output).toMatch(/^removed member [0-9a-f]+ \(m1, http:\/\/127\.0\.71\.1:\d+\): not a declared manager\nstatus=ok\ndeclared=m2 m3 w1\nremoved=m1\n$/);
        expect(step.status).toBe(0);
        // The two left are a quorum of two: nothing restarted, and they can take a new member.
        expect(members(HOSTS[1])).toEqual(["m2 started", "m3 started"]);
        byName.w1 = start("w1", now);
        await until("w1 in, all healthy", 30_000, () => healthy(HOSTS[3]) && members(HOSTS[1]).join() === "m2 started,m3 started,w1 started", [byName.w1]);
        expect(byName.w1.output).toContain("added w1 to the running cluster through");
        // Run again, the step finds nothing to do.
        expect(followManagers("m3", now).output).toBe("status=ok\ndeclared=m2 m3 w1\nremoved=\n");
        // The survivors keep no trace of m1 and can lose one more member.
        expect(etcdctl(HOSTS[1], "endpoint", "health", "--cluster").status).toBe(0);
        expect(check("w1", now)).toBe("0 etcd: members m2 m3 w1 started and healthy\n");
    }, 60_000);

    test("a member removed while it was away comes back with its old data: the data is set aside and it joins again", async () => {
        // m1 returns to config as a fourth manager, its volume still holding the old cluster's member.
        expect(fs.existsSync(path.join(dataOf("m1"), "member"))).toBe(true);
        const all = ["m1", "m2", "m3", "w1"];
        // The program runs the step before m1's service is created: it declares m1 again.
        expect(followManagers("m2", all).status).toBe(0);
        byName.m1 = start("m1", all);
        await until("m1 back as a new member", 30_000, () => healthy(HOSTS[0]) && members(HOSTS[1]).join() === "m1 started,m2 started,m3 started,w1 started", [byName.m1]);
        expect(byName.m1.output).toMatch(/the cluster \(http:\/\/127\.0\.71\.\d:\d+\) no longer lists m1: its old data is moved to .*member\.removed\.\d+, and it joins again/);
        expect(fs.readdirSync(dataOf("m1")).filter((f) => f.startsWith("member.removed."))).toHaveLength(1);
    }, 60_000);

    test("a live manager removed from config: the step removes its member, which does not come back in when it restarts, and the others restart for nothing", async () => {
        const kept = ["m1", "m2", "m3"];
        const step = followManagers("m1", kept);
        expect(step.output).toMatch(/^removed member [0-9a-f]+ \(w1, http:\/\/127\.0\.71\.4:\d+\): not a declared manager\nstatus=ok\ndeclared=m1 m2 m3\nremoved=w1\n$/);
        // Removed, etcd stops on w1 (its restart policy, "any", restarts the task whatever the
        // exit code), with the environment its service was created with, which still lists w1.
        await byName.w1.exited;
        expect(byName.w1.output).toContain("the member has been permanently removed from the cluster");
        byName.w1 = start("w1", ["m2", "m3", "w1"]);
        expect(await byName.w1.exited).toBe(1);
        expect(byName.w1.output).toContain("w1 is no longer a declared manager (the cluster's declared members: m1 m2 m3), so it does not join");
        expect(members(HOSTS[0])).toEqual(["m1 started", "m2 started", "m3 started"]);
        expect(check("m1", kept)).toBe("0 etcd: members m1 m2 m3 started and healthy\n");
    }, 60_000);

    test("with no quorum, a new member starts nothing and says why (it does not form a cluster of its own), and the step changes nothing", async () => {
        // Of m1, m2, m3, two die: the one left has no quorum (nor can it read who is declared).
        for (const n of ["m1", "m2"]) await stop(byName[n]);
        fs.rmSync(dataOf("w1"), { recursive: true, force: true });
        const lonely = start("w1", ["m1", "m2", "m3", "w1"]);
        const code = await lonely.exited;
        expect(code).toBe(1);
        expect(lonely.output).toMatch(/the etcd cluster \(http:\/\/127\.0\.71\.3:\d+ answers\) has no quorum, so w1 cannot join it now/);
        expect(fs.existsSync(path.join(dataOf("w1"), "member"))).toBe(false);
        const before = members(HOSTS[2]);
        const step = followManagers("m3", ["m3", "w1"]);
        expect(step.status).toBe(1);
        expect(step.output).toMatch(/^etcd-members: the etcd cluster has no quorum \(asked at http:\/\/127\.0\.71\.3:\d+: .*\), so its members cannot follow the managers now: bring its dead managers back first/);
        expect(members(HOSTS[2])).toEqual(before);
    }, 60_000);
});
