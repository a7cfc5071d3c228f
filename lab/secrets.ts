/**
 * The lab stack's generated passwords, read from the lab engine's state where they are sealed
 * (what `pulumi stack output ... --show-secrets` gives with the Pulumi CLI). For the lab's
 * tests and tools: nothing here prints them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { reveal } from "../support/secret-markers";
import { SecretBox } from "./engine/secret-box";
import { ROOT } from "./stack";

export const LAB_STATE_FILE = path.join(ROOT, ".lab", "state", "lab.json");

/** The generated secret `id` (e.g. haproxy-stats-password) of the lab stack. Throws naming the ids there are. */
export function labSecret(id: string, stateFile = LAB_STATE_FILE): string {
    if (!fs.existsSync(stateFile)) throw new Error(`no lab state (${stateFile}): run npm run lab:up first`);
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { resources: { name: string; outputs: Record<string, unknown> }[] };
    const generated = state.resources.find((r) => r.name === `secrets-${id}-generated`);
    if (!generated) {
        const ids = state.resources.filter((r) => r.name.endsWith("-generated")).map((r) => r.name.replace(/^secrets-|-generated$/g, ""));
        throw new Error(`the lab stack has no generated secret '${id}' (ids: ${ids.join(", ")})`);
    }
    const box = new SecretBox(path.join(path.dirname(stateFile), "secrets.key"));
    return reveal(box.open(generated.outputs)).result as string;
}
