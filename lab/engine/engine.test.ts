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
import { LabEngine, type StepRecord } from "./engine";
import { previewReport } from "./preview-report";
import { generatePassword, HANDLERS } from "./handlers";

const TYPE = "test:index:Thing";
const journal: string[] = [];
let created = 0;
HANDLERS[TYPE] = {
    fields: ["label", "size", "secretValue"],
    replaceOn: ["size"],
    async create(inputs) {
        journal.push(`create ${inputs.label}`);
        // A new id each time, as a real provider gives a re-created object.
        return { id: `id-${inputs.label}-${++created}`, outputs: { echoed: inputs.secretValue ?? "" } };
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
async function run(program: Program, opts: { completes?: boolean; preview?: boolean; parallel?: number } = {}): Promise<LabEngine> {
    const engine = new LabEngine(path.join(dir, "state.json"), "proj", "stack", () => undefined, opts.preview ? "preview" : "up", opts.parallel);
    await pulumi.runtime.setMocks(engine, "proj", "stack", opts.preview ?? false);
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

test("--parallel N: at most N resource operations at once, as pulumi up --parallel runs them", async () => {
    const SLOW = "test:index:Slow";
    let now = 0;
    let most = 0;
    HANDLERS[SLOW] = {
        fields: ["label"],
        replaceOn: "all",
        async create(inputs) {
            most = Math.max(most, ++now);
            await new Promise((r) => setTimeout(r, 30));
            now--;
            return { id: `id-${inputs.label}`, outputs: {} };
        },
    };
    class Slow extends pulumi.CustomResource {
        constructor(name: string) {
            super(SLOW, name, { label: name });
        }
    }
    await run(() => Array.from({ length: 12 }, (_, i) => new Slow(`s${i}`)), { parallel: 3 });
    expect(most).toBe(3);
    fs.rmSync(path.join(dir, "state.json"));
    most = 0;
    await run(() => Array.from({ length: 12 }, (_, i) => new Slow(`s${i}`)));
    expect(most).toBe(12);
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

describe("preview", () => {
    const before = () => {
        const base = thing("base", { label: "base", size: 1 });
        thing("relabelled", { label: "old", size: 1 });
        thing("resized", { label: "resized", size: 1 });
        thing("dependent", { label: base.id.apply((id) => `on-${id}`), size: 1 });
        thing("removed", { label: "removed", size: 1 });
    };
    // One change of each kind: a new resource, an update, a replacement, a removal, and a
    // resource whose input depends on a replaced one's id (unknown until the update makes it).
    const after = () => {
        const base = thing("base", { label: "base", size: 2 });
        thing("relabelled", { label: "new", size: 1 });
        thing("resized", { label: "resized", size: 1 });
        thing("dependent", { label: base.id.apply((id) => `on-${id}`), size: 1 });
        thing("added", { label: "added", size: 1 });
    };
    // Sorted: steps that do not depend on each other happen in either order.
    const plan = (steps: StepRecord[]) =>
        steps
            .filter((s) => s.action !== "same")
            .map((s) => `${s.action} ${s.name}${s.diff ? ` [${s.diff}]` : ""}`)
            .sort();

    test("decides every step as the update would, performs none and writes no state; the update then does exactly that", async () => {
        await run(before);
        const stateBefore = fs.readFileSync(path.join(dir, "state.json"), "utf8");
        journal.length = 0;

        const preview = await run(after, { preview: true });
        expect(journal).toEqual([]);
        expect(fs.readFileSync(path.join(dir, "state.json"), "utf8")).toBe(stateBefore);
        expect(plan(preview.steps)).toEqual(["create added", "delete removed", "replace base [size]", "update dependent [label]", "update relabelled [label]"]);
        expect(preview.steps.find((s) => s.name === "base")?.replaceBecause).toEqual(["size"]);

        const up = await run(after);
        expect(plan(up.steps.filter((s) => s.action !== "delete-replaced"))).toEqual(plan(preview.steps));
        expect(journal.sort()).toEqual(["create added", "create base", "delete base", "delete removed", "update new", expect.stringMatching(/^update on-id-base-\d+$/)]);
    });

    test("of an unchanged program: no changes", async () => {
        await run(before);
        const preview = await run(before, { preview: true });
        expect(plan(preview.steps)).toEqual([]);
        expect(previewReport("stack", preview.steps).slice(-1)).toEqual(["    0 changes. 5 unchanged"]);
    });

    test("is worded as pulumi preview words it", () => {
        const step = (action: StepRecord["action"], name: string, extra: Partial<StepRecord> = {}): StepRecord => ({ action, type: "docker:index/service:Service", name, seconds: 0, endedAt: 0, ...extra });
        const report = previewReport("lab", [
            step("same", "kept"),
            step("create", "app"),
            step("update", "edge", { diff: ["taskSpec", "labels"] }),
            step("replace", "secret", { diff: ["name", "data"], replaceBecause: ["name", "data"] }),
            step("delete", "old"),
        ]);
        expect(report).toEqual([
            "Previewing update (lab):",
            "     Type                  Name    Plan     Info",
            " +   docker:index:Service  app     create",
            " ~   docker:index:Service  edge    update   [diff: ~taskSpec,~labels]",
            " +-  docker:index:Service  secret  replace  [diff: ~name,~data] replaced because name, data changed",
            " -   docker:index:Service  old     delete",
            "",
            "Resources:",
            "    + 1 to create",
            "    ~ 1 to update",
            "    +-1 to replace",
            "    - 1 to delete",
            "    4 changes. 1 unchanged",
        ]);
    });
});
