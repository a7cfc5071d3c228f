/** What every resource handler of the lab engine implements, and helpers they share. */
import type Docker from "dockerode";
import type { StateSchema } from "../state-diff";

export interface Performed {
    id: string;
    /** Outputs beyond the inputs (the engine returns inputs + these). */
    outputs: Record<string, unknown>;
    /**
     * The state the provider read back after the step, in the inputs' shape: the next run
     * diffs its inputs against this (with the handler's `schema`), not against the old inputs.
     * Absent for providers that keep their inputs as state (command, random).
     */
    state?: Record<string, unknown>;
}

export type Phase = "create" | "update" | "delete";

export interface HandlerContext {
    /** The resource's name, for messages. */
    name: string;
    /** When the step's custom timeout for `phase` ends (ms since the epoch), if it has one. */
    deadline(phase: Phase): number | undefined;
    /** A Docker client for the resource's provider. */
    docker(): Promise<Docker>;
    log(line: string): void;
}

export interface Handler {
    /** Inputs this handler implements; anything else is an error. */
    fields: string[];
    /** Checks nested inputs; throws on anything not implemented. */
    validate?(inputs: Record<string, any>): void;
    /** Inputs whose change replaces the resource (create new, delete old); "all" for every input. */
    replaceOn: string[] | "all";
    /** Nested inputs whose change replaces the resource, as dotted paths (e.g. "taskSpec.networksAdvanceds"). */
    replaceOnPaths?: string[];
    /** The provider schema's diff rules for a handler that returns read-back `state`. */
    schema?: StateSchema;
    /** Outputs the provider always marks secret. */
    secretOutputs?: string[];
    create(inputs: Record<string, any>, ctx: HandlerContext): Promise<Performed>;
    /** `previous`: the resource's id, its outputs and the inputs it was last created or updated with. */
    update?(inputs: Record<string, any>, previous: { id: string; outputs: Record<string, any>; inputs: Record<string, any> }, ctx: HandlerContext): Promise<Performed>;
    delete?(inputs: Record<string, any>, id: string, ctx: HandlerContext): Promise<void>;
}

export class NotImplemented extends Error {}

/** A provider function (invoke): inputs in, result out. */
export type Invoke = (inputs: Record<string, any>, ctx: { docker(): Promise<Docker> }) => Promise<Record<string, unknown>>;

export function onlyFields(what: string, obj: Record<string, unknown> | undefined, allowed: string[]) {
    for (const k of Object.keys(obj ?? {})) {
        if (obj![k] !== undefined && !allowed.includes(k)) {
            throw new NotImplemented(`lab engine: ${what}.${k} is not implemented; add it to its handler in lab/engine/handlers/ or do not use it`);
        }
    }
}

/** Docker labels from the provider's `labels` list. */
export function labelsOf(list: { label: string; value: string }[] | undefined): Record<string, string> {
    return Object.fromEntries((list ?? []).map((l) => [l.label, l.value]));
}

/** Is this a Docker Engine API 404? */
export function isNotFound(e: unknown): boolean {
    return (e as { statusCode?: number }).statusCode === 404;
}


/** What the command provider does to its outputs: one trailing newline goes. */
export function trimNewline(s: string): string {
    return s.endsWith("\n") ? s.slice(0, -1) : s;
}

/**
 * Shows a command's output the way pulumi-command logs it to the Pulumi console: by its
 * `logging` input, stdout and stderr by default, "none" for neither.
 */
export function logOutput(ctx: HandlerContext, logging: string | undefined, out: { stdout: string; stderr: string }): void {
    const mode = logging ?? "stdoutAndStderr";
    const lines = [
        ...(mode === "stdout" || mode === "stdoutAndStderr" ? out.stdout.split("\n") : []),
        ...(mode === "stderr" || mode === "stdoutAndStderr" ? out.stderr.split("\n") : []),
    ];
    for (const line of lines.filter((l) => l.trim() !== "")) ctx.log(`    ${ctx.name}: ${line}`);
}
