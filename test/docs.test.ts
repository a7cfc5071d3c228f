/**
 * The docs cannot drift from the program: every message troubleshooting.md quotes is one the
 * program can print; every config key and npm script the docs use exists; every "Tested by"
 * names a lab test that exists.
 */
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), "utf8");
const docs = ["README.md", ...fs.readdirSync(path.join(ROOT, "docs")).map((f) => `docs/${f}`)].filter((f) => f.endsWith(".md"));

/** The text every message could come from: the components (and their scripts) and the images' scripts. */
function sources(): string {
    const out: string[] = [];
    const walk = (dir: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else if (/\.(ts|sh|py)$/.test(e.name) && !e.name.endsWith(".test.ts")) out.push(fs.readFileSync(p, "utf8"));
        }
    };
    walk(path.join(ROOT, "components"));
    walk(path.join(ROOT, "images"));
    // A shell script writes an apostrophe inside a single-quoted string as '"'"'.
    return out.join("\n").replace(/'"'"'/g, "'");
}

/**
 * Is `message` (with `<...>` placeholders) in the source? The "swarm-ha: node <name>: " prefix
 * is what the scripts' die() adds (lib.sh, host-keys.sh); the rest must be in the source, each
 * placeholder standing for any text (a shell variable, a command substitution, a template).
 */
export function inSource(message: string, source: string): boolean {
    const body = message.replace(/^swarm-ha: node <[^>]+>(?: \(<[^>]+>\))?: /, "");
    const pattern = body
        .split(/<[^>]+>/)
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*?");
    return new RegExp(pattern).test(source);
}

test("the matcher finds a message with its variable parts, and not one the program never prints", () => {
    const source = `die "Docker engine $version is too old; swarm-ha needs $MIN_DOCKER_VERSION or newer"`;
    expect(inSource("swarm-ha: node <name>: Docker engine <version> is too old; swarm-ha needs <minimum> or newer", source)).toBe(true);
    expect(inSource("swarm-ha: node <name>: Docker engine <version> is ancient", source)).toBe(false);
});

test("every message troubleshooting.md quotes is one the program can print", () => {
    const source = sources();
    expect(read("components/cluster/scripts/lib.sh")).toContain("printf 'swarm-ha: node %s: %s\\n'");
    const blocks = [...read("docs/troubleshooting.md").matchAll(/```text\n([\s\S]*?)```/g)].map((m) => m[1]);
    const messages = blocks.flatMap((b) => b.split("\n")).filter((l) => l.trim());
    expect(messages.length).toBeGreaterThanOrEqual(10);
    for (const m of messages) expect(`${inSource(m, source)}: ${m}`).toBe(`true: ${m}`);
});

test("every `pulumi config set` in the docs names a key Pulumi.yaml declares (or nodes)", () => {
    const declared = new Set([...read("Pulumi.yaml").matchAll(/^ {2}(?:swarm-ha:)?([a-zA-Z]+):$/gm)].map((m) => m[1]));
    expect(declared.size).toBeGreaterThan(40);
    for (const f of docs) {
        // (`swarm-ha:<key>` is the reference's own placeholder; `--path` sets a node's field.)
        for (const m of read(f).matchAll(/pulumi config set (?:--secret )?(?:swarm-ha:)?([a-zA-Z]+)(?=[\s"'`]|$)/gm)) {
            expect(`${f}: ${m[1]} ${declared.has(m[1])}`).toBe(`${f}: ${m[1]} true`);
        }
    }
});

test("every `npm run` in the docs is a script in package.json", () => {
    const scripts = Object.keys(JSON.parse(read("package.json")).scripts);
    for (const f of docs) {
        for (const m of read(f).matchAll(/npm run (?:-s )?([\w:-]+)/g)) expect(`${f}: ${m[1]} ${scripts.includes(m[1])}`).toBe(`${f}: ${m[1]} true`);
    }
});

test("every \"Tested by\" names a lab test that exists", () => {
    const refs = docs.flatMap((f) => [...read(f).matchAll(/Tested by: (\S+) — "([^"]+)"/g)].map((m) => ({ f, file: m[1], name: m[2] })));
    expect(refs.length).toBeGreaterThan(8);
    for (const r of refs) {
        const exists = fs.existsSync(path.join(ROOT, r.file));
        expect(`${r.f} → ${r.file}: ${exists && read(r.file).includes(`test("${r.name}"`)}`).toBe(`${r.f} → ${r.file}: true`);
    }
});
