import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The bundler (esbuild, for the image) writes the version in here; run from `dist/` or `src/`
 * the app reads its package.json instead.
 */
declare const APP_VERSION: string | undefined;

/** The app's version: the one bundled in, else package.json's (beside dist/ and src/ alike), else "unknown". */
export function readVersion(): string {
    if (typeof APP_VERSION === "string") return APP_VERSION;
    try {
        const pkg = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as { version?: unknown };
        return typeof pkg.version === "string" ? pkg.version : "unknown";
    } catch {
        return "unknown";
    }
}
