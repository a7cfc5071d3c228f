/** A lab engine preview's plan, worded as `pulumi preview` words it. */
import type { StepRecord } from "./engine";

const SYMBOLS: Partial<Record<StepRecord["action"], string>> = { create: "+", update: "~", replace: "+-", delete: "-" };

/** A preview's plan, as `pulumi preview` words it: a line per change, then the counts. */
export function previewReport(stack: string, steps: StepRecord[]): string[] {
    // Pulumi shows a type token without its module file: docker:index/service:Service is docker:index:Service.
    const shortType = (t: string) => t.replace(/^([^:]+):([^/:]+)\/[^:]+:/, "$1:$2:");
    const changes = steps.filter((s) => SYMBOLS[s.action]);
    const info = (s: StepRecord) =>
        s.diff ? `[diff: ${s.diff.map((k) => `~${k}`).join(",")}]${s.replaceBecause ? ` replaced because ${s.replaceBecause.join(", ")} changed` : ""}` : "";
    const typeWidth = Math.max(4, ...changes.map((s) => shortType(s.type).length));
    const nameWidth = Math.max(4, ...changes.map((s) => s.name.length));
    const lines = [`Previewing update (${stack}):`, `     ${"Type".padEnd(typeWidth)}  ${"Name".padEnd(nameWidth)}  ${"Plan".padEnd(7)}  Info`];
    for (const s of changes) {
        lines.push(` ${SYMBOLS[s.action]!.padEnd(3)} ${shortType(s.type).padEnd(typeWidth)}  ${s.name.padEnd(nameWidth)}  ${s.action.padEnd(7)}  ${info(s)}`.trimEnd());
    }
    const count = (a: StepRecord["action"]) => steps.filter((s) => s.action === a).length;
    lines.push("", "Resources:");
    for (const [action, words] of [["create", "to create"], ["update", "to update"], ["replace", "to replace"], ["delete", "to delete"]] as const) {
        if (count(action) > 0) lines.push(`    ${SYMBOLS[action]!.padEnd(2)}${count(action)} ${words}`);
    }
    lines.push(`    ${changes.length} change${changes.length === 1 ? "" : "s"}. ${count("same")} unchanged`);
    return lines;
}
