/**
 * A deploy job installs with `npm ci --omit=dev`: the program must then load with what is left,
 * the way the Pulumi CLI loads it (its Node.js host registers ts-node with the project's
 * TypeScript, falling back to a vendored TypeScript 3.8 that cannot compile this code). In a
 * scratch copy of the repository: a production install, then index.ts under mocks, compiled
 * as @pulumi/pulumi's cmd/run/run.js does it (type checking on, the project's tsconfig).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FAKE_SSH_KEY } from "./support/fake-hosts";
import { devConfig } from "./support/program";

const ROOT = path.resolve(__dirname, "..");

/** Run in the scratch copy: register TypeScript as Pulumi's run.js does, then run the program under mocks. */
const LOADER = `
const path = require("path");
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const tsutils = require(path.join(pulumiDir, "tsutils"));
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
const ts = require(typescriptRequire);
if (!/^[5-9]\\./.test(ts.version)) throw new Error("Pulumi would compile with TypeScript " + ts.version + " (its vendored fallback): the project's is missing");
const tsconfig = path.resolve("tsconfig.json");
require(tsnodeRequire).register({ compiler: typescriptRequire, project: tsconfig, compilerOptions: { target: "ES2020", module: "commonjs", moduleResolution: "node", sourceMap: "true", ...tsutils.loadTypeScriptCompilerOptions(tsconfig) } });
const pulumi = require("@pulumi/pulumi");
// What the hosts' scripts print (join tokens, node IDs), as the other program tests fake it.
const { fakeStdout } = require("./test/support/fake-hosts.ts");
let resources = 0;
pulumi.runtime.setAllConfig(JSON.parse(process.env.SWARM_HA_TEST_CONFIG), ["swarm-ha:sshPrivateKey"]);
pulumi.runtime.setMocks({
    newResource: async (a) => {
        resources++;
        const result = a.type === "random:index/randomPassword:RandomPassword" ? "x".repeat(a.inputs.length) : undefined;
        return { id: a.name + "-id", state: { ...a.inputs, stdout: fakeStdout(a.name, a.inputs.create || ""), stderr: "", result } };
    },
    call: () => ({}),
}, "swarm-ha", "prod", false).then(() => {
    require("./index.ts");
    setTimeout(() => { console.log(JSON.stringify({ resources, typescript: ts.version })); process.exit(0); }, 5000);
});
`;

test("after `npm ci --omit=dev`, the program compiles with the project's TypeScript and declares its resources", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-prod-install-"));
    try {
        const files = spawnSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" }).stdout.split("\0").filter(Boolean);
        for (const f of files) {
            if (!fs.existsSync(path.join(ROOT, f))) continue; // deleted in the work tree
            fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
            fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
        }
        const install = spawnSync("npm", ["ci", "--omit=dev", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: dir, encoding: "utf8" });
        expect(install.stderr.split("\n").filter((l) => /ERR!/.test(l))).toEqual([]);
        expect(install.status).toBe(0);
        // A configured app image: the demo app's bundle is built by the dev install only.
        const config = { ...devConfig(), "swarm-ha:sshPrivateKey": FAKE_SSH_KEY, "swarm-ha:appImage": "registry.example.com/shop:1.0.0" };
        const run = spawnSync("node", ["-e", LOADER], { cwd: dir, encoding: "utf8", env: { ...process.env, SWARM_HA_TEST_CONFIG: JSON.stringify(config) } });
        expect(run.stderr).toBe("");
        const out = JSON.parse(run.stdout.trim().split("\n").pop()!);
        expect(out.typescript).toMatch(/^5\./);
        expect(out.resources).toBeGreaterThan(100);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}, 300_000);
