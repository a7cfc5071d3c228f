/**
 * The command lines of the lab and the benchmarks: Node's util.parseArgs, strict (an unknown
 * flag or a missing value is an error that prints the usage, exit 2), and `--help`/`-h`.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseCli<T extends Options>(usage: string, options: T, allowPositionals = false, argv = process.argv.slice(2)) {
    let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
    try {
        parsed = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals }) as typeof parsed;
    } catch (e) {
        console.error(`${(e as Error).message}\n\n${usage}`);
        process.exit(2);
    }
    if (parsed.values.help) {
        console.log(usage);
        process.exit(0);
    }
    return parsed as unknown as { values: { [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : string } & { help?: boolean }; positionals: string[] };
}

/** A flag's value as a whole number of at least `min`, or the usage error. */
export function wholeNumber(value: string | undefined, flag: string, fallback: number, min = 1): number {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
        console.error(`${flag} must be a whole number of at least ${min} (got ${value})`);
        process.exit(2);
    }
    return n;
}
