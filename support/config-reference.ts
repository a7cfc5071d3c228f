/**
 * Renders docs/config-reference.md from Pulumi.yaml, so the reference cannot drift from the
 * keys' declarations: each key's type, default and description come from Pulumi.yaml's
 * `config:` block, its secrecy from components/config/keys.ts (which
 * test/config-keys.test.ts keeps equal to Pulumi.yaml), and the `nodes` entry from
 * Pulumi.yaml's header comment. The only hand-kept part is SECTIONS, which sorts the keys into
 * topics: a key Pulumi.yaml declares that no section lists is an error, not a silent omission.
 *
 *   npm run docs:config              rewrites docs/config-reference.md
 *   npm run docs:config -- --check   exits 1 when it is out of date
 *
 * Pure: no Pulumi, nothing read but the text it is given (and the keys table it imports).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { CONFIG_KEYS, type ConfigKeySpec } from "../components/config/keys";

interface Section {
    title: string;
    /**
     * The start of a paragraph of Pulumi.yaml's header comment that introduces this section
     * (rendered above its table). The generator throws when no paragraph starts so.
     */
    introFrom?: string;
    /** The section's keys; they are listed in Pulumi.yaml's order. */
    keys: readonly string[];
}

/** Every key Pulumi.yaml declares, sorted into topics, in the reference's order. */
export const SECTIONS: readonly Section[] = [
    {
        title: "SSH and the swarm",
        keys: ["sshUser", "sshPort", "sshPrivateKey", "allowNonHa", "encryptOverlay", "namePrefix", "defaultAddrPool"],
    },
    {
        title: "The app",
        keys: ["appImage", "appReplicas", "appMaxReplicasPerNode", "appPort", "appMemoryMb", "appCpuMillis"],
    },
    {
        title: "The edge and the VIP",
        introFrom: "The edge tier:",
        keys: ["haproxyImage", "keepalivedImage", "httpPort", "httpsPort", "statsPort", "healthPort", "vip", "vipPrefixLength", "vipInterface", "vrrpRouterId"],
    },
    {
        title: "The data tier",
        introFrom: "The data tier:",
        keys: [
            "dataTier",
            "redisImage",
            "redisMinReplicasToWrite",
            "redisMinReplicasMaxLagSeconds",
            "redisDownAfterMs",
            "postgresImage",
            "etcdImage",
            "postgresSynchronousMode",
            "postgresMaxLagOnFailoverMb",
        ],
    },
    {
        title: "Backups",
        keys: ["backupImage", "backupIntervalMinutes", "backupKeep"],
    },
    {
        title: "Monitoring",
        keys: [
            "monitoring",
            "monitoringImage",
            "prometheusRetentionDays",
            "grafana",
            "grafanaImage",
            "cadvisor",
            "cadvisorImage",
            "grafanaPort",
            "prometheusPort",
            "alertmanagerPort",
        ],
    },
    {
        title: "Alerts",
        keys: [
            "alertWebhookUrl",
            "alertDeadMansSwitchUrl",
            "alertSlackApiUrl",
            "alertSlackChannel",
            "alertEmailTo",
            "alertEmailFrom",
            "alertEmailSmarthost",
            "alertEmailUsername",
            "alertEmailPassword",
            "postgresLagAlertMb",
        ],
    },
    {
        title: "Passwords and certificates",
        keys: ["tlsCertificate", "postgresPassword", "postgresReplicationPassword", "postgresAppPassword", "redisPassword", "grafanaAdminPassword", "haproxyStatsPassword"],
    },
];

export const NO_DEFAULT = "none: required";
export const SECRET = { always: "secret", "if-set": "secret when set", never: "no" } as const;

interface Declaration {
    type?: unknown;
    items?: { type?: unknown };
    default?: unknown;
    secret?: unknown;
    description?: unknown;
}

/** The reference, in Markdown, for the project file whose text is `pulumiYamlText`. */
export function renderConfigReference(pulumiYamlText: string): string {
    const project = parse(pulumiYamlText) as { name?: unknown; config?: Record<string, Declaration> } | null;
    const declared = project?.config ?? {};
    const namespace = typeof project?.name === "string" ? project.name : "swarm-ha";
    const keys = Object.keys(declared);

    // A key of Pulumi.yaml no section lists would be left out of the reference without a word.
    const sectionOf = new Map<string, string>();
    for (const section of SECTIONS) {
        for (const key of section.keys) {
            if (sectionOf.has(key)) throw new Error(`support/config-reference.ts lists ${key} in two sections: ${sectionOf.get(key)} and ${section.title}`);
            sectionOf.set(key, section.title);
        }
    }
    const unsorted = keys.filter((k) => !sectionOf.has(k));
    if (unsorted.length > 0) {
        throw new Error(
            `Pulumi.yaml declares ${unsorted.join(", ")}, which no section of the config reference lists: ` +
                `add ${unsorted.length === 1 ? "it" : "each"} to SECTIONS in support/config-reference.ts`,
        );
    }
    const stale = [...sectionOf.keys()].filter((k) => !Object.hasOwn(declared, k));
    if (stale.length > 0) {
        throw new Error(`SECTIONS in support/config-reference.ts lists ${stale.join(", ")}, which Pulumi.yaml does not declare: remove ${stale.length === 1 ? "it" : "them"}`);
    }

    const table = CONFIG_KEYS as Record<string, ConfigKeySpec>;
    const paragraphs = headerParagraphs(pulumiYamlText);
    const out: string[] = [];
    const line = (s = "") => out.push(s);

    line("# Configuration reference");
    line();
    line(
        "Generated by `npm run docs:config` from the config declarations in Pulumi.yaml " +
            "(support/config-reference.ts): do not edit it by hand, edit Pulumi.yaml and regenerate.",
    );
    line();
    line("## Setting a key");
    line();
    line(`Every key is in the \`${namespace}\` namespace. Set one on the selected stack with:`);
    line();
    line("```sh");
    line(`pulumi config set ${namespace}:<key> <value>`);
    line("```");
    line();
    line(`and a key marked secret below with \`--secret\`, which stores the value encrypted:`);
    line();
    line("```sh");
    line(`pulumi config set --secret ${namespace}:<key> <value>`);
    line("```");
    line();
    line(
        `A key not set takes its default; a key whose default is "${NO_DEFAULT}" must be set. ` +
            `"${SECRET["if-set"]}": the key may be left unset (empty), but a value given in plain text is refused: set it with \`--secret\`. ` +
            `${namespace} refuses keys it does not know.`,
    );
    line();

    // The nodes, which Pulumi.yaml cannot declare: documented in its header comment.
    const nodes = paragraphs.find((p) => p.some((l) => l.includes(`\`${namespace}:nodes\``)));
    if (nodes === undefined) throw new Error(`Pulumi.yaml's header comment has no paragraph about \`${namespace}:nodes\``);
    const { prose, fields } = nodeFields(nodes);
    const nodesSpec = table["nodes"];
    line("## The hosts: `nodes`");
    line();
    line("| Key | Type | Default | Secret |");
    line("| --- | --- | --- | --- |");
    line(`| \`nodes\` | list of objects | ${NO_DEFAULT} | ${SECRET[nodesSpec?.secret ?? "never"]} |`);
    line();
    line("Pulumi.yaml cannot declare this key; its header comment documents it:");
    line();
    line(`> ${escape(prose.join(" "))}`);
    line();
    line("| Field | Description |");
    line("| --- | --- |");
    for (const f of fields) line(`| \`${f.name}\` | ${f.lines.map((l) => cell(l)).join("<br>")} |`);
    line();
    line(
        `Write the list in the stack's file, \`Pulumi.<stack>.yaml\`, under \`config:\` as \`${namespace}:nodes:\` ` +
            `(Pulumi.dev.yaml is a worked example), or set one field at a time: ` +
            `\`pulumi config set --path '${namespace}:nodes[0].name' manager-1\`.`,
    );

    for (const section of SECTIONS) {
        line();
        line(`## ${section.title}`);
        line();
        if (section.introFrom !== undefined) {
            const intro = paragraphs.find((p) => p[0].startsWith(section.introFrom!));
            if (intro === undefined) {
                throw new Error(
                    `Pulumi.yaml's header comment has no paragraph starting "${section.introFrom}", which the section ${section.title} ` +
                        `of support/config-reference.ts takes its introduction from: update introFrom`,
                );
            }
            line(escape(intro.join(" ")));
            line();
        }
        line("| Key | Type | Default | Secret | Description |");
        line("| --- | --- | --- | --- | --- |");
        for (const key of keys.filter((k) => section.keys.includes(k))) {
            const d = declared[key] ?? {};
            const spec = table[key];
            if (spec === undefined) throw new Error(`Pulumi.yaml declares ${key}, which components/config/keys.ts's CONFIG_KEYS does not list`);
            if (typeof d.description !== "string" || d.description.trim() === "") throw new Error(`Pulumi.yaml declares ${key} without a description`);
            const secrecy = d.secret === true ? "always" : spec.secret;
            line(`| \`${key}\` | ${typeName(key, d)} | ${formatDefault(d)} | ${SECRET[secrecy]} | ${cell(oneParagraph(d.description))} |`);
        }
    }
    return out.join("\n") + "\n";
}

/** A declaration's default as a user would type it, in a code span; "none: required" without one. */
export function formatDefault(d: { default?: unknown }): string {
    if (!("default" in d) || d.default === undefined || d.default === null) return NO_DEFAULT;
    if (d.default === "") return '`""` (empty)';
    const text = Array.isArray(d.default) ? JSON.stringify(d.default) : String(d.default);
    return `\`${text}\``;
}

function typeName(key: string, d: Declaration): string {
    if (d.type === "array") return `array of ${String(d.items?.type ?? "?")}`;
    if (typeof d.type !== "string") throw new Error(`Pulumi.yaml declares ${key} without a type`);
    return d.type;
}

/** Folded YAML text (and any line breaks left in it) as one paragraph. */
function oneParagraph(s: string): string {
    return s.replace(/\s+/g, " ").trim();
}

/** Text that Markdown would otherwise read as markup: HTML-like tags, emphasis. */
function escape(s: string): string {
    return s.replace(/[\\<*]/g, (c) => `\\${c}`);
}

/** Text for a table cell: escaped, with its pipes kept from ending the cell. */
function cell(s: string): string {
    return escape(s).replace(/\|/g, "\\|");
}

/**
 * The paragraphs of Pulumi.yaml's header comment (the comment lines before `config:`), each a
 * list of its lines without the leading `#` and one space.
 */
function headerParagraphs(text: string): string[][] {
    const lines = text.split(/\r?\n/);
    const end = lines.findIndex((l) => /^config:/.test(l));
    const paragraphs: string[][] = [];
    let current: string[] = [];
    for (const l of lines.slice(0, end < 0 ? lines.length : end)) {
        const m = /^#(?: (.*))?$/.exec(l);
        const body = m?.[1] ?? "";
        if (m === null || body.trim() === "") {
            if (current.length > 0) paragraphs.push(current);
            current = [];
        } else {
            current.push(body);
        }
    }
    if (current.length > 0) paragraphs.push(current);
    return paragraphs;
}

interface NodeField {
    name: string;
    /** The field's description, in lines: a new line where the comment starts an item. */
    lines: string[];
}

/**
 * Splits the nodes paragraph into its prose and its fields. Fields are written as an indented
 * table: `  name   description`, continuation lines indented further. Within a field, a
 * continuation starts a new line after a line that ends a sentence or an item (`.` or `;`), or
 * when it starts one itself (`edge: ...`); otherwise it continues the line before.
 */
function nodeFields(paragraph: string[]): { prose: string[]; fields: NodeField[] } {
    const prose: string[] = [];
    const fields: NodeField[] = [];
    for (const l of paragraph) {
        const field = /^ {2}(\S+) {2,}(\S.*)$/.exec(l);
        const more = /^ {3,}(\S.*)$/.exec(l);
        if (field !== null) {
            fields.push({ name: field[1], lines: [field[2].trim()] });
        } else if (more !== null && fields.length > 0) {
            const f = fields[fields.length - 1];
            const last = f.lines[f.lines.length - 1];
            const text = more[1].trim();
            if (/[.;]$/.test(last) || /^[a-z][a-z-]*: /.test(text)) f.lines.push(text);
            else f.lines[f.lines.length - 1] = `${last} ${text}`;
        } else if (fields.length === 0) {
            prose.push(l.trim());
        } else {
            throw new Error(`Pulumi.yaml's comment on the nodes has a line after its fields that is not part of one: "${l.trim()}"`);
        }
    }
    if (fields.length === 0) throw new Error("Pulumi.yaml's comment on the nodes lists no fields (indented `name  description` lines)");
    return { prose, fields };
}

const ROOT = path.join(__dirname, "..");
export const PROJECT_FILE = path.join(ROOT, "Pulumi.yaml");
export const REFERENCE_FILE = path.join(ROOT, "docs", "config-reference.md");

if (require.main === module) {
    const expected = renderConfigReference(fs.readFileSync(PROJECT_FILE, "utf8"));
    const relative = path.relative(process.cwd(), REFERENCE_FILE) || REFERENCE_FILE;
    if (process.argv.includes("--check")) {
        const actual = fs.existsSync(REFERENCE_FILE) ? fs.readFileSync(REFERENCE_FILE, "utf8") : undefined;
        if (actual !== expected) {
            console.error(`${relative} is ${actual === undefined ? "missing" : "out of date with Pulumi.yaml"}: run npm run docs:config`);
            process.exit(1);
        }
        console.log(`${relative} is up to date`);
    } else {
        fs.mkdirSync(path.dirname(REFERENCE_FILE), { recursive: true });
        fs.writeFileSync(REFERENCE_FILE, expected);
        console.log(`wrote ${relative}`);
    }
}
