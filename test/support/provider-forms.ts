/**
 * Checks a run of the program against the released providers' forms (lab/engine/PROVIDER-RULES.md):
 * what the Docker provider would read back after creating each resource, diffed against the
 * inputs as the bridged provider diffs them, and what @pulumi/command 1.2.1's Check refuses.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { materializeAssets } from "../../lab/engine/assets";
import { copyCheckFailures } from "../../lab/engine/handlers/command-copy";
import { NETWORK_SCHEMA } from "../../lab/engine/handlers/docker-network";
import { serviceSpec } from "../../lab/engine/handlers/docker-service";
import { flattenService, SERVICE_SCHEMA } from "../../lab/engine/handlers/docker-service-state";
import { changedFields } from "../../lab/engine/state-diff";
import { parseGoDuration } from "../../components/common/go-duration";
import type { Recorded, RunResult } from "./program";

const SERVICE = "docker:index/service:Service";
const NETWORK = "docker:index/network:Network";
const COPY = "command:remote:CopyToRemote";
export const VXLAN_ID_OPTION = "com.docker.network.driver.overlay.vxlanid_list";

/** The inputs with each ignoreChanges path set to the state's value: the bridge drops diffs under them. */
function ignoring(r: Recorded, state: Record<string, any>): Record<string, any> {
    const config = structuredClone(r.inputs);
    for (const p of r.ignoreChanges) {
        const keys = p.split(".");
        let c = config;
        let s: any = state;
        for (const k of keys.slice(0, -1)) ((c = c[k]), (s = s?.[k]));
        c[keys[keys.length - 1]] = s?.[keys[keys.length - 1]];
    }
    return config;
}

/** Services whose inputs differ from what Docker would hold after creating them, with the fields. */
export function drifting(run: RunResult): { name: string; changed: string[] }[] {
    return run.resources
        .filter((r) => r.type === SERVICE)
        .map((r) => {
            // Docker holds the spec it was sent; a network given by name reads back as its ID (ignoreChanges covers it).
            const state = flattenService({ Spec: serviceSpec(r.inputs) }, r.inputs);
            return { name: r.name, changed: changedFields(ignoring(r, state), state, SERVICE_SCHEMA) };
        })
        .filter((d) => d.changed.length > 0);
}

/** Networks whose options would not read back as sent (Docker adds the VXLAN ID it allocated when none is given). */
export function replacedNetworks(run: RunResult): string[] {
    return run.resources
        .filter((r) => r.type === NETWORK)
        .filter((n) => {
            const options = n.inputs.options ?? {};
            const state = { ...n.inputs, options: { [VXLAN_ID_OPTION]: "4097", ...options } };
            return changedFields(n.inputs, state, NETWORK_SCHEMA).length > 0;
        })
        .map((n) => n.name);
}

/** Build contexts CopyToRemote 1.2.1 would refuse, or that hold no Dockerfile. */
export async function refusedCopies(run: RunResult): Promise<string[]> {
    const refused: string[] = [];
    for (const c of run.resources.filter((r) => r.type === COPY)) {
        const source = await materializeAssets(c.rawInputs.source);
        const failures = copyCheckFailures(source);
        if (failures.length > 0) refused.push(`${c.name}: ${failures.join("; ")}`);
        else if (!fs.existsSync(path.join(source["@archive"]?.path ?? "", "Dockerfile"))) refused.push(`${c.name}: no Dockerfile in ${source["@archive"]?.path}`);
    }
    return refused;
}

/**
 * Services whose stop grace period is shorter than the Docker provider's delete needs: it waits
 * that long for each task container on its engine to be removed, and fails the delete when one
 * is not (components/common/service-spec.ts, MIN_STOP_GRACE_SECONDS).
 */
export function shortGraces(run: RunResult, minSeconds: number): string[] {
    return run.resources
        .filter((r) => r.type === SERVICE)
        .filter((r) => {
            const grace = r.inputs.taskSpec?.containerSpec?.stopGracePeriod;
            return grace === undefined || parseGoDuration(grace) < minSeconds * 1e9;
        })
        .map((r) => `${r.name} (${r.inputs.taskSpec?.containerSpec?.stopGracePeriod ?? "none"})`);
}
