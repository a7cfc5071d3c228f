/** The lab's and the benchmarks' command lines: --help, and an unknown flag refused (util.parseArgs, strict). */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const tsx = (...args: string[]) => spawnSync("npx", ["tsx", ...args], { cwd: ROOT, encoding: "utf8" });

test("an unknown flag is an error that prints the usage (exit 2); --help prints it (exit 0)", () => {
    const bad = tsx("lab/deploy.ts", "--stak", "lab");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("Unknown option '--stak'");
    expect(bad.stderr).toContain("tsx lab/deploy.ts [--stack lab]");
    const help = tsx("lab/deploy.ts", "--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("[--preview]");
});

test("the image loader refuses an unknown flag as well", () => {
    const r = tsx("lab/images.ts", "--all", "--extra");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("Unknown option '--extra'");
});

test("the alert receiver takes no flags: --help prints its usage, anything else is refused", () => {
    const bad = tsx("lab/alert-receiver.ts", "--port", "1");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("Unknown option '--port'");
    expect(tsx("lab/alert-receiver.ts", "--help").stdout).toContain("npm run lab:alerts");
});

test("the keep-alive race check refuses a width of 0 and a flag it does not know, before it sends anything", () => {
    const zero = tsx("lab/keep-alive-race.ts", "--width", "0");
    expect(zero.status).toBe(2);
    expect(zero.stderr).toContain("--width must be a whole number of at least 1 (got 0)");
    const bad = tsx("lab/keep-alive-race.ts", "--rate", "5");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("Unknown option '--rate'");
});

test("lab/hosts.sh up builds hosts from trixie or bookworm only, and says so before it touches anything", () => {
    const r = spawnSync("bash", ["lab/hosts.sh", "up", "--debian", "sid"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("--debian (or LAB_DEBIAN_SUITE) must be one of: trixie bookworm (got 'sid')");
    const fromEnv = spawnSync("bash", ["lab/hosts.sh", "up"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, LAB_DEBIAN_SUITE: "buster" } });
    expect(fromEnv.status).toBe(1);
    expect(fromEnv.stderr).toContain("(got 'buster')");
});
