/**
 * Reading a `Pulumi.<stack>.yaml` the way the Pulumi CLI hands its values to a program.
 * Shared by the unit tier (the dev stack's config) and the lab (the lab stack's config).
 */
import * as fs from "node:fs";
import { parse } from "yaml";

/**
 * Stack config from a `Pulumi.<stack>.yaml`, as the Pulumi CLI hands it to a program: every
 * value a string, structured values as JSON. Values the CLI encrypted (`secure:`) cannot be
 * read here and are refused.
 */
export function readStackFile(file: string): Record<string, string> {
    const doc = (parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.config ?? {})) {
        if (v && typeof v === "object" && "secure" in (v as object)) {
            throw new Error(`${file}: ${k} is encrypted by the Pulumi CLI, which this harness cannot decrypt; leave it out of the lab's config`);
        }
        config[k] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return config;
}
