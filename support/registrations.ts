/**
 * What a `pulumi.runtime.Mocks` is not told: a resource's parent, dependencies and options.
 * They travel on each registration request, so we read them there as it reaches the SDK's
 * mock monitor. Used by the lab engine and by the unit tests' recording mock.
 */

export interface Registration {
    type: string;
    name: string;
    /** URN of the parent ("" for none). */
    parent: string;
    /** URNs the resource waited for (dependsOn and input dependencies). */
    dependencies: string[];
    deleteBeforeReplace: boolean;
    additionalSecretOutputs: string[];
    /** `customTimeouts` as given (Go duration strings such as "10m"; "" when unset). */
    customTimeouts: { create: string; update: string; delete: string };
    /** Property paths whose change replaces the resource (e.g. "triggers[*]"; SDKs add some themselves). */
    replaceOnChanges: string[];
    /** Property paths whose changes are ignored once the resource exists (dotted, e.g. "taskSpec.networksAdvanceds"). */
    ignoreChanges: string[];
    /** Resource options that change what the engine does, by name, when set (protect, ignoreChanges, ...). */
    otherOptions: string[];
}

/** Calls `record` with every registration the monitor (`pulumi.runtime.getMonitor()`) receives. */
export function watchRegistrations(monitor: any, record: (r: Registration) => void): void {
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: any) => {
        record({
            type: req.getType(),
            name: req.getName(),
            parent: req.getParent(),
            dependencies: req.getDependenciesList(),
            deleteBeforeReplace: req.getDeletebeforereplace(),
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
            customTimeouts: {
                create: req.getCustomtimeouts()?.getCreate() ?? "",
                update: req.getCustomtimeouts()?.getUpdate() ?? "",
                delete: req.getCustomtimeouts()?.getDelete() ?? "",
            },
            replaceOnChanges: req.getReplaceonchangesList(),
            ignoreChanges: req.getIgnorechangesList(),
            otherOptions: [
                req.getProtect() ? "protect" : "",
                req.getRetainondelete() ? "retainOnDelete" : "",
                req.getDeletedwith() ? "deletedWith" : "",
                req.getAliasesList().length || req.getAliasurnsList().length ? "aliases" : "",
                req.getImportid() ? "import" : "",
            ].filter(Boolean),
        });
        return register(req, callback);
    };
}

/** The URN the SDK's mock monitor gives a resource (its parent's last type, then its own). */
export function mockUrn(stack: string, project: string, type: string, name: string, parent: string): string {
    const qualified = parent ? `${parent.split("::")[2].split("$").pop()}$${type}` : type;
    return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/** Seconds in a Go duration string as Pulumi's customTimeouts take them ("1h2m3s", "10m", "90s"); undefined for "". */
export function durationSeconds(d: string): number | undefined {
    if (d === "") return undefined;
    const parts = [...d.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join("") !== d) throw new Error(`not a duration: '${d}' (use Go's form, e.g. 10m or 1h30m)`);
    const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
    return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]], 0);
}
