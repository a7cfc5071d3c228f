import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The app's version from its package.json (beside dist/ and src/ alike), or "unknown". */
export function readVersion(): string {
    try {
        const pkg = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as { version?: unknown };
        return typeof pkg.version === "string" ? pkg.version : "unknown";
    } catch {
        return "unknown";
    }
}
