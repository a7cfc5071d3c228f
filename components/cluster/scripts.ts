/**
 * Host scripts: real files in ./scripts (checked by shellcheck), rendered into the exact text
 * a `command.remote.Command` runs. Parameters become single-quoted assignments at the top, so
 * no value, however hostile, is ever parsed as shell. Secrets never become parameters: they
 * travel on standard input.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export const SCRIPT_DIR = path.join(__dirname, "scripts");

export type ScriptName =
    | "preflight"
    | "guard"
    | "removals"
    | "registration"
    | "init"
    | "join"
    | "settings"
    | "health"
    | "departure";

/** Quotes a value for POSIX sh: inside single quotes nothing is special but the quote itself. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The parameters a script declares with `: "${NAME:?}"` lines. */
export function declaredParams(text: string): string[] {
    const names = new Set<string>();
    for (const line of text.split("\n")) {
        if (!line.startsWith(": ")) continue;
        // `${X:?}` must be non-empty, `${X?}` may be empty: both are parameters.
        for (const m of line.matchAll(/"\$\{([A-Z_][A-Z0-9_]*):?\?\}"/g)) names.add(m[1]);
    }
    return [...names];
}

function body(text: string): string {
    return text.replace(/^#!.*\n/, "");
}

const cache = new Map<string, string>();
function read(file: string): string {
    let text = cache.get(file);
    if (text === undefined) {
        text = fs.readFileSync(path.join(SCRIPT_DIR, file), "utf8");
        cache.set(file, text);
    }
    return text;
}

/**
 * The text of script `name` with `params` bound. Throws when a parameter the script declares
 * is missing or one it does not declare is given, so a script and its caller cannot drift.
 */
export function renderScript(name: ScriptName, params: Record<string, string>): string {
    const lib = read("lib.sh");
    const script = read(`${name}.sh`);
    const declared = new Set([...declaredParams(lib), ...declaredParams(script)]);
    const given = Object.keys(params);
    const missing = [...declared].filter((p) => !(p in params));
    const unknown = given.filter((p) => !declared.has(p));
    if (missing.length || unknown.length) {
        throw new Error(
            `swarm-ha: script ${name}.sh: ` +
                [missing.length ? `missing parameter(s) ${missing.join(", ")}` : "", unknown.length ? `undeclared parameter(s) ${unknown.join(", ")}` : ""]
                    .filter(Boolean)
                    .join("; "),
        );
    }
    const assignments = given
        .sort()
        .map((k) => `${k}=${shellQuote(params[k])}`)
        .join("\n");
    // SC2016, SC1003: a value such as '$(x)' or one ending in a backslash is meant
    // literally; that is what the quoting is for.
    return `#!/bin/sh\n# swarm-ha ${name}.sh\n# shellcheck disable=SC2016,SC1003\nset -eu\n${assignments}\n${body(lib)}\n${body(script)}`;
}

/** Parses the `key=value` lines a script prints. */
export function parseKeyValues(stdout: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of stdout.split("\n")) {
        const i = line.indexOf("=");
        if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    return out;
}
