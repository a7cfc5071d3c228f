/**
 * The cluster's host scripts: real files in ./scripts (checked by shellcheck), each rendered
 * after the shared helpers in lib.sh (see ../common/host-scripts.ts for how values are bound).
 */
import * as path from "node:path";
import { renderHostScript } from "../common/host-scripts";

export { declaredParams, parseKeyValues, shellQuote } from "../common/host-scripts";

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
    | "stack-health"
    | "tier-health"
    | "spread"
    | "etcd-members"
    | "patroni-settings"
    | "patroni-handover"
    | "keepalived-peers"
    | "postgres-roles"
    | "departure"
    | "host-keys";

/** The text of script `name` (after lib.sh) with `params` bound; refuses missing or undeclared parameters. */
export function renderScript(name: ScriptName, params: Record<string, string>): string {
    return renderHostScript(`${name}.sh`, [path.join(SCRIPT_DIR, "lib.sh"), path.join(SCRIPT_DIR, `${name}.sh`)], params);
}
