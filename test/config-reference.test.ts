/**
 * docs/config-reference.md is generated from Pulumi.yaml by support/config-reference.ts
 * (`npm run docs:config`). These tests fail when the committed file is stale, when a key is
 * missing from it, and when Pulumi.yaml gains a key the generator has no section for.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CONFIG_KEYS, type ConfigKeySpec } from "../components/config/keys";
import { NODE_SETTINGS } from "../components/config/nodes";
import { NO_DEFAULT, SECRET, SECTIONS, formatDefault, renderConfigReference } from "../support/config-reference";

const ROOT = path.join(__dirname, "..");
const projectText = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
const REFERENCE = path.join(ROOT, "docs", "config-reference.md");
const rendered = renderConfigReference(projectText);
const table = Object.entries(CONFIG_KEYS) as [string, ConfigKeySpec][];

/** The cells of the reference's table row for `key` (Key, Type, Default, Secret[, Description]). */
function row(markdown: string, key: string): string[] | undefined {
    const line = markdown.split("\n").find((l) => l.startsWith(`| \`${key}\` |`));
    return line
        ?.split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim());
}

/** Pulumi.yaml's text with one more key declared, first under `config:`. */
function withKey(key: string): string {
    const declaration = `config:\n  ${key}:\n    type: string\n    description: A key nobody filed.\n    default: ""\n`;
    const text = projectText.replace(/^config:\n/m, declaration);
    expect(text).not.toBe(projectText);
    return text;
}

test("the committed docs/config-reference.md is the generator's output for Pulumi.yaml", () => {
    const committed = fs.existsSync(REFERENCE) ? fs.readFileSync(REFERENCE, "utf8") : "(missing)";
    if (committed !== rendered) {
        throw new Error("docs/config-reference.md is out of date with Pulumi.yaml (or support/config-reference.ts): run npm run docs:config");
    }
});

test.each(table)("the reference lists %s with its default and secrecy", (key, spec) => {
    const cells = row(rendered, key);
    expect(cells).toBeDefined();
    const [, , defaultCell, secretCell] = cells!;
    expect({ key, default: defaultCell, secret: secretCell }).toEqual({
        key,
        default: spec.default === undefined ? NO_DEFAULT : formatDefault({ default: spec.default }),
        secret: SECRET[spec.secret],
    });
});

test("secret keys are marked secret: sshPrivateKey always, the passwords, certificate and alert credentials when set", () => {
    expect(row(rendered, "sshPrivateKey")![3]).toBe("secret");
    for (const key of ["tlsCertificate", "postgresPassword", "redisPassword", "haproxyStatsPassword", "alertSlackApiUrl", "alertEmailPassword", "alertDeadMansSwitchUrl"]) {
        expect([key, row(rendered, key)![3]]).toEqual([key, "secret when set"]);
    }
    expect(row(rendered, "sshPort")![3]).toBe("no");
});

test("descriptions are Pulumi.yaml's, folded into one line", () => {
    expect(row(rendered, "appReplicas")![4]).toBe(
        "How many tasks of the app run: at least 2, so the app survives the loss of one (1 only with allowNonHa). The active app nodes must have room for one more (appMaxReplicasPerNode each): a rolling update starts the new task before it stops the old one. At most 500: HAProxy keeps two server slots per task.",
    );
});

test("the nodes entry is rendered from Pulumi.yaml's header comment, with every node setting", () => {
    expect(rendered).toContain("`swarm-ha:nodes`, the list of hosts");
    for (const setting of NODE_SETTINGS) expect(rendered).toMatch(new RegExp(`^\\| \`${setting}\` \\| \\S`, "m"));
    expect(row(rendered, "swarmRole")![1]).toContain("manager \\| worker");
});

test("the sections list every declared key once", () => {
    const all = SECTIONS.flatMap((s) => s.keys);
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort()).toEqual(table.filter(([, s]) => s.type !== "list of nodes").map(([k]) => k).sort());
});

test("a key Pulumi.yaml declares without a section makes the generator throw, naming the key", () => {
    expect(() => renderConfigReference(withKey("brandNewKey"))).toThrow(/brandNewKey.*SECTIONS in support\/config-reference\.ts/);
});

test("a key the sections list but Pulumi.yaml no longer declares makes the generator throw, naming the key", () => {
    const without = projectText.replace(/^ {2}backupKeep:\n(?: {4}.*\n)+/m, "");
    expect(without).not.toBe(projectText);
    expect(() => renderConfigReference(without)).toThrow(/backupKeep/);
});
