/**
 * The lab engine's own rules, on a fake resource type (no hosts needed): what a second run
 * does with unchanged, changed and removed resources, in which order it deletes, that it
 * never deletes after a failed program, that it fails loudly on what it does not implement,
 * and that its state file holds no secret in clear.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LabEngine } from "./engine";
import { generatePassword, HANDLERS } from "./handlers";

const TYPE = "test:index:Thing";
const journal: string[] = [];
HANDLERS[TYPE] = {
    fields: ["label", "size", "secretValue"],
    replaceOn: ["size"],
    async create(inputs) {
        journal.push(`create ${inputs.label}`);
        return { id: `id-${inputs.label}`, outputs: { echoed: inputs.secretValue ?? "" } };
    },
    async update(inputs, previous) {
        journal.push(`update ${inputs.label}`);
        return { id: previous.id, outputs: { echoed: inputs.secretValue ?? "" } };
    },
    async delete(inputs) {
        journal.push(`delete ${inputs.label}`);
    },
};

let dir: string;
beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-engine-"));
    journal.length = 0;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

type Program = () => void;

/** Runs `program` through a fresh engine on the state in `dir`; returns the engine. */
async function run(program: Program, opts: { completes?: boolean } = {}): Promise<LabEngine> {
    const engine = new LabEngine(path.join(dir, "state.json"), "proj", "stack", () => undefined);
    await pulumi.runtime.setMocks(engine, "proj", "stack", false);
    engine.attach(pulumi.runtime.getMonitor());
    program();
    await pulumi.runtime.disconnect();
    await engine.finish(opts.completes ?? true);
    return engine;
}

class Thing extends pulumi.CustomResource {
    constructor(name: string, props: Record<string, unknown>, opts: pulumi.CustomResourceOptions = {}) {
        super(TYPE, name, props, opts);
    }
}
const thing = (name: string, props: Record<string, unknown>, opts: pulumi.CustomResourceOptions = {}) => new Thing(name, props, opts);

test("first run creates; an identical second run does nothing", async () => {
    const program = () => {
        const a = thing("a", { label: "a", size: 1 });
        thing("b", { label: "b", size: 1 }, { dependsOn: a });
    };
    await run(program);
    expect(journal).toEqual(["create a", "create b"]);
    journal.length = 0;
    const second = await run(program);
    expect(journal).toEqual([]);
    expect(second.steps.map((s) => s.action)).toEqual(["same", "same"]);
});

test("a changed input updates in place; a replace-on input replaces (create new, then delete old)", async () => {
    await run(() => thing("a", { label: "a", size: 1 }));
    journal.length = 0;
    await run(() => thing("a", { label: "a2", size: 1 }));
    expect(journal).toEqual(["update a2"]);
    journal.length = 0;
    await run(() => thing("a", { label: "a3", size: 2 }));
    expect(journal).toEqual(["create a3", "delete a2"]);
});

test("removed resources are deleted dependents first", async () => {
    await run(() => {
        const base = thing("base", { label: "base", size: 1 });
        const mid = thing("mid", { label: "mid", size: 1 }, { dependsOn: base });
        thing("top", { label: "top", size: 1 }, { dependsOn: mid });
        thing("keep", { label: "keep", size: 1 });
    });
    journal.length = 0;
    await run(() => thing("keep", { label: "keep", size: 1 }));
    expect(journal).toEqual(["delete top", "delete mid", "delete base"]);
});

test("a program that did not complete deletes nothing", async () => {
    await run(() => {
        thing("a", { label: "a", size: 1 });
        thing("b", { label: "b", size: 1 });
    });
    journal.length = 0;
    // As when the program throws on bad config before declaring anything.
    await run(() => undefined, { completes: false });
    expect(journal).toEqual([]);
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"));
    expect(state.resources.map((r: { name: string }) => r.name).sort()).toEqual(["a", "b"]);
});

// These two call the engine directly: through the SDK the failure surfaces as rejected
// promises that the test runner would report on its own.
function directEngine(): LabEngine {
    return new LabEngine(path.join(dir, "state.json"), "proj", "stack", () => undefined);
}

test("an input the handler does not implement fails loudly", async () => {
    const engine = directEngine();
    await expect(engine.newResource({ type: TYPE, name: "a", inputs: { label: "a", size: 1, colour: "red" }, custom: true })).rejects.toThrow(
        /test:index:Thing.colour \(a\) is not implemented/,
    );
    expect(engine.errors).toHaveLength(1);
    expect(journal).toEqual([]);
});

test("an unknown resource type fails loudly", async () => {
    const engine = directEngine();
    await expect(engine.newResource({ type: "aws:s3/bucket:Bucket", name: "b", inputs: {}, custom: true })).rejects.toThrow(
        /resource type aws:s3\/bucket:Bucket \(b\) is not implemented/,
    );
});

test("a nested field the handler does not implement fails loudly (command connection)", async () => {
    const engine = directEngine();
    const inputs = { connection: { host: "198.18.42.11", proxy: { host: "jump" } }, create: "true", addPreviousOutputInEnv: false };
    await expect(engine.newResource({ type: "command:remote:Command", name: "c", inputs, custom: true })).rejects.toThrow(
        /command:remote:Command.connection.proxy is not implemented/,
    );
});

test("secret inputs, and outputs the program marks secret, are sealed in the state file", async () => {
    const value = "correct-horse-battery-staple";
    await run(() => thing("a", { label: "a", size: 1, secretValue: pulumi.secret(value) }, { additionalSecretOutputs: ["echoed"] }));
    const text = fs.readFileSync(path.join(dir, "state.json"), "utf8");
    expect(text).not.toContain(value);
    expect(text).toContain("@sealed");
    // ...and come back intact: an unchanged second run sees equal inputs.
    journal.length = 0;
    await run(() => thing("a", { label: "a", size: 1, secretValue: pulumi.secret(value) }, { additionalSecretOutputs: ["echoed"] }));
    expect(journal).toEqual([]);
});

test("generated passwords honour length, character sets and minimums", () => {
    for (let i = 0; i < 50; i++) {
        const p = generatePassword({ length: 32, special: false, minLower: 2, minUpper: 2, minNumeric: 2 });
        expect(p).toHaveLength(32);
        expect(p).toMatch(/^[A-Za-z0-9]+$/);
        expect(p.replace(/[^a-z]/g, "").length).toBeGreaterThanOrEqual(2);
        expect(p.replace(/[^A-Z]/g, "").length).toBeGreaterThanOrEqual(2);
        expect(p.replace(/[^0-9]/g, "").length).toBeGreaterThanOrEqual(2);
    }
    expect(new Set(Array.from({ length: 20 }, () => generatePassword({ length: 16 }))).size).toBe(20);
    expect(generatePassword({ length: 8, upper: false, lower: false, numeric: false, overrideSpecial: "#" })).toBe("########");
});
