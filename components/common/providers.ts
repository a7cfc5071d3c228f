/**
 * Components that create Docker objects take the swarm's Docker provider through their
 * options (`providers`), and their children inherit it through `parent`. Under the real
 * engine a child that reaches no provider silently uses the default one (the local Docker
 * socket, or none at all): refuse that when the component is built, not on the hosts.
 */
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";

/** Throws unless `opts` carries a Docker provider. Call it before `super()`, so nothing is registered. */
export function requireDockerProvider(component: string, opts?: pulumi.ComponentResourceOptions): void {
    const providers = opts?.providers;
    const list = Array.isArray(providers) ? providers : Object.values(providers ?? {});
    if (!list.some((p) => docker.Provider.isInstance(p))) {
        throw new Error(
            `swarm-ha: ${component} needs the swarm's Docker provider in its options: ` +
                "{ providers: { docker: cluster.provider } } (without it, its Docker objects would go to the default provider)",
        );
    }
}

/**
 * Options for a named Docker service. The provider replaces a service when its name, `mode` or
 * networks change, creating the new one first, and the swarm refuses a second service of the
 * same name: so the old one goes first (its tasks stop before the new ones start).
 */
export const NAMED_SERVICE = { deleteBeforeReplace: true } as const;
