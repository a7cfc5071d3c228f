/**
 * Each config key is listed once: components/config/keys.ts holds the table the parser takes
 * its defaults and known keys from, and Pulumi.yaml declares the same keys for the Pulumi CLI.
 * These tests fail when the two drift apart (a key, its type, default, secrecy or description).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { CONFIG_KEYS, type ConfigKeySpec, ConfigError, SUPPLIABLE_SECRETS, parseStackConfig } from "../components/config";
import { NODE_SETTINGS } from "../components/config/nodes";
import { IMAGE_NAMES } from "../components/images/catalog";
import { FAKE_SSH_KEY, devConfig } from "./support/program";

const PROJECT_FILE = path.join(__dirname, "..", "Pulumi.yaml");
const projectText = fs.readFileSync(PROJECT_FILE, "utf8");

interface Declaration {
    type?: string;
    default?: unknown;
    secret?: boolean;
    description?: string;
}
const declared = (parse(projectText) as { config?: Record<string, Declaration> }).config ?? {};
const table = Object.entries(CONFIG_KEYS) as [string, ConfigKeySpec][];
const declarable = table.filter(([, spec]) => spec.type !== "list of nodes");

const oneLine = (s: string | undefined) => (s ?? "").replace(/\s+/g, " ").trim();

test("Pulumi.yaml declares exactly the table's keys, except the list of nodes", () => {
    expect(Object.keys(declared).sort()).toEqual(declarable.map(([k]) => k).sort());
});

test.each(declarable)("Pulumi.yaml declares %s as the table does", (key, spec) => {
    const d = declared[key];
    expect({ key, type: d.type, hasDefault: "default" in d, default: d.default, secret: d.secret === true, description: oneLine(d.description) }).toEqual({
        key,
        type: spec.type,
        hasDefault: spec.default !== undefined,
        default: spec.default,
        secret: spec.secret === "always",
        description: oneLine(spec.description),
    });
});

test("the list of nodes, which Pulumi.yaml cannot declare, is documented in its comment with every node setting", () => {
    expect(declared).not.toHaveProperty("nodes");
    const comment = projectText.slice(0, projectText.indexOf("\nconfig:"));
    expect(comment).toContain("`swarm-ha:nodes`");
    for (const setting of NODE_SETTINGS) expect(comment).toMatch(new RegExp(`^#\\s+${setting}\\s`, "m"));
});

test("the keys the parser refuses in plain text once set are the suppliable secrets, the TLS certificate and the alert receivers' credentials", () => {
    const ifSet = table.filter(([, s]) => s.secret === "if-set").map(([k]) => k);
    expect(ifSet.sort()).toEqual([...Object.keys(SUPPLIABLE_SECRETS), "tlsCertificate", "alertSlackApiUrl", "alertEmailPassword", "alertDeadMansSwitchUrl"].sort());
});

test("the parser's defaults are the table's", () => {
    const nodes = devConfig()["swarm-ha:nodes"];
    const c = parseStackConfig({ nodes, sshPrivateKey: FAKE_SSH_KEY }, new Set(["swarm-ha:sshPrivateKey"]));
    const d = (k: keyof typeof CONFIG_KEYS) => (CONFIG_KEYS[k] as ConfigKeySpec).default;
    expect(c.ssh).toEqual({ user: d("sshUser"), port: d("sshPort") });
    expect(c.allowNonHa).toBe(d("allowNonHa"));
    expect(c.encryptOverlay).toBe(d("encryptOverlay"));
    expect(c.dataTier).toBe(d("dataTier"));
    expect(d("dataTier")).toBe(true);
    expect(c.namePrefix).toBe(d("namePrefix"));
    expect(c.app).toEqual({
        image: undefined,
        replicas: d("appReplicas"),
        maxReplicasPerNode: d("appMaxReplicasPerNode"),
        port: d("appPort"),
        memoryMb: d("appMemoryMb"),
        cpuMillis: d("appCpuMillis"),
    });
    expect(c.edge).toEqual({
        haproxyImage: undefined,
        keepalivedImage: undefined,
        httpPort: d("httpPort"),
        httpsPort: d("httpsPort"),
        statsPort: d("statsPort"),
        healthPort: d("healthPort"),
    });
    expect(c.redis).toEqual({
        image: undefined,
        minReplicasToWrite: d("redisMinReplicasToWrite"),
        minReplicasMaxLagSeconds: d("redisMinReplicasMaxLagSeconds"),
        downAfterMs: d("redisDownAfterMs"),
    });
    // Given in MiB, handed to Patroni in bytes.
    expect(c.postgres).toEqual({
        image: undefined,
        etcdImage: undefined,
        synchronousMode: d("postgresSynchronousMode"),
        maxLagOnFailoverBytes: Number(d("postgresMaxLagOnFailoverMb")) * 1024 * 1024,
    });
    expect(c.backups).toEqual({ image: undefined, intervalMinutes: d("backupIntervalMinutes"), keep: d("backupKeep") });
    // Empty string defaults mean "none" (or "swarm-ha builds it").
    const images = ["appImage", "haproxyImage", "keepalivedImage", "redisImage", "postgresImage", "etcdImage", "backupImage"] as const;
    expect([d("vip"), d("defaultAddrPool"), ...images.map(d), d("tlsCertificate")]).toEqual(["", "", ...images.map(() => ""), ""]);
    expect(c.vip).toBeUndefined();
    expect(c.defaultAddrPool).toBeUndefined();
    // The VIP's settings, with the VIP set.
    const withVip = parseStackConfig({ nodes, sshPrivateKey: FAKE_SSH_KEY, vip: "192.0.2.100" }, new Set(["swarm-ha:sshPrivateKey"]));
    expect(withVip.vip).toEqual({ address: "192.0.2.100", prefixLength: d("vipPrefixLength"), interface: d("vipInterface"), routerId: d("vrrpRouterId") });
});

test("every image the stack runs has a key, a plain string that defaults to empty (swarm-ha builds it)", () => {
    const keys = IMAGE_NAMES.map((name) => `${name}Image`);
    for (const key of keys) {
        expect(CONFIG_KEYS).toHaveProperty(key);
        expect(CONFIG_KEYS[key as keyof typeof CONFIG_KEYS]).toMatchObject({ type: "string", default: "", secret: "never" });
    }
    // Each description says what empty means, and the data tier's what an image of yours must be.
    for (const name of IMAGE_NAMES) expect(CONFIG_KEYS[`${name}Image` as keyof typeof CONFIG_KEYS].description).toContain(`(images/${name})`);
    for (const name of ["redis", "postgres", "etcd", "backup"] as const) {
        expect(CONFIG_KEYS[`${name}Image`].description).toMatch(new RegExp(`one built from images/${name} \\(e\\.g\\. pushed to your registry\\).*Empty: swarm-ha builds it`));
    }
});

test("every key of the table is known to the parser, and no other", () => {
    const raw: Record<string, string> = { nodes: devConfig()["swarm-ha:nodes"], sshPrivateKey: FAKE_SSH_KEY };
    for (const [k, spec] of declarable) if (spec.default !== undefined && raw[k] === undefined) raw[k] = String(spec.default);
    const secrets = new Set(["swarm-ha:sshPrivateKey"]);
    expect(() => parseStackConfig(raw, secrets)).not.toThrow();
    try {
        parseStackConfig({ ...raw, notAKey: "x" }, secrets);
        throw new Error("an unknown key was accepted");
    } catch (e) {
        expect((e as ConfigError).problems.map((p) => p.key)).toEqual(["swarm-ha:notAKey"]);
    }
});
