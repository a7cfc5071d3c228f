/**
 * docker:index/serviceConfig:ServiceConfig — a swarm config through the Docker Engine API.
 * Configs are immutable in Docker: every input is ForceNew, so a change creates a new config
 * (which is why swarm-ha names them by content hash) and deletes the old one at the end.
 */
import { type Handler, labelsOf, removeWhenFree } from "./types";

export const dockerServiceConfig: Handler = {
    fields: ["name", "data", "labels"],
    replaceOn: "all",
    async create(inputs, ctx) {
        const docker = await ctx.docker();
        const c = await docker.createConfig({ Name: inputs.name, Data: inputs.data, Labels: labelsOf(inputs.labels) } as any);
        return { id: (c as any).id ?? (c as any).ID, outputs: {} };
    },
    async delete(_inputs, id, ctx) {
        const docker = await ctx.docker();
        // A service that used it may still be switching to its successor for a moment.
        await removeWhenFree(() => docker.getConfig(id).remove());
    },
};
