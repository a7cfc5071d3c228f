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
        });
        return register(req, callback);
    };
}

/** The URN the SDK's mock monitor gives a resource (its parent's last type, then its own). */
export function mockUrn(stack: string, project: string, type: string, name: string, parent: string): string {
    const qualified = parent ? `${parent.split("::")[2].split("$").pop()}$${type}` : type;
    return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}
