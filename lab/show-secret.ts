/**
 * npm run lab:secret -- <id>: a generated password of the lab stack, e.g. haproxy-stats-password
 * (what `pulumi stack output statsPassword --show-secrets` gives with the Pulumi CLI). It is
 * read from the engine's state, where it is sealed, and printed on standard output only.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { reveal } from "../support/secret-markers";
import { SecretBox } from "./engine/secret-box";
import { ROOT } from "./stack";

const id = process.argv[2];
const stateFile = path.join(ROOT, ".lab", "state", "lab.json");
if (!id) {
    console.error("usage: npm run lab:secret -- <id>   (e.g. haproxy-stats-password, redis-password)");
    process.exit(2);
}
if (!fs.existsSync(stateFile)) {
    console.error(`no lab state (${stateFile}): run npm run lab:up first`);
    process.exit(1);
}
const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { resources: { name: string; outputs: Record<string, unknown> }[] };
const generated = state.resources.find((r) => r.name === `secrets-${id}-generated`);
if (!generated) {
    console.error(`the lab stack has no generated secret '${id}' (ids: ${state.resources.filter((r) => r.name.endsWith("-generated")).map((r) => r.name.replace(/^secrets-|-generated$/g, "")).join(", ")})`);
    process.exit(1);
}
const box = new SecretBox(path.join(path.dirname(stateFile), "secrets.key"));
process.stdout.write(`${reveal(box.open(generated.outputs)).result}\n`);
