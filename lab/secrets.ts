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

/**
 * Every credential the lab stack holds, with its real value, read from the sealed state: each
 * generated password (`random` results, the secret-name key included), the swarm's join
 * tokens (in the first manager's sealed member-step output) and the body of the SSH private
 * key every command carries. For the secret audit (lab/test/security.test.ts): the values it
 * searches for are the real ones, so it cannot pass by looking for the wrong strings.
 */
export function labCredentials(stateFile = LAB_STATE_FILE): { what: string; value: string }[] {
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { resources: { type: string; name: string; inputs: any; outputs: any }[] };
    const box = new SecretBox(path.join(path.dirname(stateFile), "secrets.key"));
    const found: { what: string; value: string }[] = [];
    for (const r of state.resources) {
        const outputs = reveal(box.open(r.outputs));
        if (r.type === "random:index/randomPassword:RandomPassword") found.push({ what: r.name, value: outputs.result });
        if (r.type === "command:remote:Command" && r.name.endsWith("-member") && /manager_token=/.test(outputs.stdout ?? "")) {
            for (const m of (outputs.stdout as string).matchAll(/^(manager|worker)_token=(\S+)$/gm)) found.push({ what: `${m[1]} join token`, value: m[2] });
        }
    }
    const key = state.resources.map((r) => reveal(box.open(r.inputs)).connection?.privateKey).find((k) => typeof k === "string") as string | undefined;
    if (key) {
        // Its third base64 line: past the header every OpenSSH key shares, into this key's own
        // random check bytes and private part, which no other text contains.
        const lines = key.split("\n").filter((l) => l && !l.startsWith("-----"));
        found.push({ what: "the SSH private key", value: lines[2] });
    }
    return found;
}
