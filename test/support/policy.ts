/**
 * Calling the HA policy pack's policies (policy/) the way @pulumi/policy's analyzer calls them
 * under `pulumi preview --policy-pack`, on resources a program run recorded (./program.ts) or
 * on hand-made ones. Shared by test/policy.test.ts and test/environments.test.ts.
 */
import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { unknownCheckingProxy } from "@pulumi/policy";
import { durationSeconds } from "../../support/registrations";
import type { Recorded } from "./program";

// As in node_modules/@pulumi/policy/server.js.

export type Policy = ResourceValidationPolicy | StackValidationPolicy;
/** The part of a recorded resource a policy sees; hand-made resources give just these. */
export type Res = Pick<Recorded, "type" | "name" | "urn" | "inputs"> & Partial<Recorded>;
/** Policy config as `--policy-pack-config` gives it: by policy name. */
export type PackConfig = Record<string, Record<string, unknown>>;

export interface Violation {
    policy: string;
    /** The resource's name (the one validated, or the one a stack policy named by URN; "" for the stack). */
    resource: string;
    urn: string;
    message: string;
}
export interface Outcome {
    violations: Violation[];
    notApplicable: string[];
}

class NotApplicable extends Error {}

function seconds(d: string | undefined): number {
    return durationSeconds(d ?? "") ?? 0;
}

function options(r: Res) {
    return {
        protect: false,
        ignoreChanges: r.ignoreChanges ?? [],
        ...(r.deleteBeforeReplace !== undefined ? { deleteBeforeReplace: r.deleteBeforeReplace } : {}),
        aliases: [],
        customTimeouts: {
            createSeconds: seconds(r.customTimeouts?.create),
            updateSeconds: seconds(r.customTimeouts?.update),
            deleteSeconds: seconds(r.customTimeouts?.delete),
        },
        additionalSecretOutputs: [],
        ...(r.parent ? { parent: r.parent } : {}),
    };
}

/**
 * Props as the analyzer builds them: plain JSON (the engine sends a protobuf Struct, secrets
 * unwrapped: `inputs` are already unwrapped), read through the SDK's unknown-checking proxy.
 */
function props(r: Res): Record<string, any> {
    return unknownCheckingProxy(JSON.parse(JSON.stringify(r.inputs)));
}

function isTypeOf(type: string, resourceClass: any): boolean {
    return resourceClass?.__pulumiType === type;
}

/** Runs `policy` over `resources` with `config`, as @pulumi/policy does, and collects what it reports. */
export async function evaluate(policy: Policy, resources: Res[], config: PackConfig = {}): Promise<Outcome> {
    const { enforcementLevel, ...policyConfig } = (config[policy.name] ?? {}) as Record<string, unknown>;
    const getConfig = <T extends object>() => ({ ...policyConfig }) as T;
    const notApplicable = (reason?: string): never => {
        throw new NotApplicable(reason ?? "");
    };
    const out: Outcome = { violations: [], notApplicable: [] };
    if (enforcementLevel === "disabled") return out;
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const provider = (r: Res) => {
        const ref = r.provider ?? "";
        const p = byUrn.get(ref.slice(0, ref.lastIndexOf("::")));
        return p ? { provider: { type: p.type, props: props(p), urn: p.urn, name: p.name } } : {};
    };

    if ("validateStack" in policy) {
        const policyResources: PolicyResource[] = resources.map((r) => {
            const p = props(r);
            return {
                type: r.type,
                props: p,
                urn: r.urn,
                name: r.name,
                opts: options(r),
                ...provider(r),
                dependencies: [],
                propertyDependencies: {},
                isType: (c: any) => isTypeOf(r.type, c),
                asType: (c: any) => (isTypeOf(r.type, c) ? (p as any) : undefined),
            };
        });
        const byUrnPolicy = new Map(policyResources.map((r) => [r.urn, r]));
        resources.forEach((r, i) => {
            const parent = r.parent ? byUrnPolicy.get(r.parent) : undefined;
            if (parent) policyResources[i].parent = parent;
            policyResources[i].dependencies = (r.dependencies ?? []).map((d) => byUrnPolicy.get(d)).filter((d): d is PolicyResource => !!d);
        });
        const args: StackValidationArgs = { resources: policyResources, stackTags: new Map(), getConfig, notApplicable };
        try {
            await policy.validateStack(args, (message, urn) =>
                out.violations.push({ policy: policy.name, resource: urn ? byUrn.get(urn)?.name ?? urn : "", urn: urn ?? "", message }),
            );
        } catch (e) {
            if (!(e instanceof NotApplicable)) throw e;
            out.notApplicable.push(e.message);
        }
        return out;
    }

    const validations = policy.validateResource === undefined ? [] : Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
    for (const r of resources) {
        for (const validate of validations) {
            const p = props(r);
            const args: ResourceValidationArgs = {
                type: r.type,
                props: p,
                urn: r.urn,
                name: r.name,
                opts: options(r),
                ...provider(r),
                stackTags: new Map(),
                isType: (c: any) => isTypeOf(r.type, c),
                asType: (c: any) => (isTypeOf(r.type, c) ? (p as any) : undefined),
                getConfig,
                notApplicable,
            };
            try {
                // The urn a resource policy passes is ignored: the resource validated is the one reported.
                await validate(args, (message) => out.violations.push({ policy: policy.name, resource: r.name, urn: r.urn, message }));
            } catch (e) {
                if (!(e instanceof NotApplicable)) throw e;
                out.notApplicable.push(`${r.name}: ${e.message}`);
            }
        }
    }
    return out;
}

export async function violations(policy: Policy, resources: Res[], config?: PackConfig): Promise<Violation[]> {
    return (await evaluate(policy, resources, config)).violations;
}
