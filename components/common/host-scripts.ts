/**
 * Host scripts: real files (checked by shellcheck), rendered into the exact text a
 * `command.remote.Command` (or a local one) runs. Parameters become single-quoted assignments
 * at the top, so no value, however hostile, is ever parsed as shell. Secrets never become
 * parameters: they travel on standard input or in Docker secrets.
 */
import * as fs from "node:fs";

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

const cache = new Map<string, string>();
function read(file: string): string {
    let text = cache.get(file);
    if (text === undefined) {
        text = fs.readFileSync(file, "utf8");
        cache.set(file, text);
    }
    return text;
}

/**
 * The text of the script made of `files` (helpers first, the script last; each without its
 * shebang) with `params` bound. Throws when a parameter the files declare is missing or one
 * they do not declare is given, so a script and its caller cannot drift.
 */
export function renderHostScript(label: string, files: string[], params: Record<string, string>): string {
    const texts = files.map(read);
    const declared = new Set(texts.flatMap(declaredParams));
    const given = Object.keys(params);
    const missing = [...declared].filter((p) => !(p in params));
    const unknown = given.filter((p) => !declared.has(p));
    if (missing.length || unknown.length) {
        throw new Error(
            `swarm-ha: script ${label}: ` +
                [missing.length ? `missing parameter(s) ${missing.join(", ")}` : "", unknown.length ? `undeclared parameter(s) ${unknown.join(", ")}` : ""]
                    .filter(Boolean)
                    .join("; "),
        );
    }
    const assignments = given
        .sort()
        .map((k) => `${k}=${shellQuote(params[k])}`)
        .join("\n");
    const body = texts.map((t) => t.replace(/^#!.*\n/, "")).join("\n");
    // SC2016, SC1003: a value such as '$(x)' or one ending in a backslash is meant
    // literally; that is what the quoting is for.
    return `#!/bin/sh\n# swarm-ha ${label}\n# shellcheck disable=SC2016,SC1003\nset -eu\n${assignments}\n${body}`;
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
