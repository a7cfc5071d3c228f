/**
 * docker:index/serviceConfig:ServiceConfig — a swarm config through the Docker Engine API.
 * Configs are immutable in Docker: every input is ForceNew, so a change creates a new config
 * (which is why swarm-ha names them by content hash) and deletes the old one at the end. A
 * delete returns the daemon's error at once, "not found" and "in use by a service" included:
 * no retry (resource_docker_config.go:143-146; swarmkit refuses while a service spec still
 * references the config, manager/controlapi/config.go:197).
 */
import { type Handler, labelsOf } from "./types";

export const dockerServiceConfig: Handler = {
    fields: ["name", "data", "labels"],
    replaceOn: "all",
    async create(inputs, ctx) {
        const docker = await ctx.docker();
        const c = await docker.createConfig({ Name: inputs.name, Data: inputs.data, Labels: labelsOf(inputs.labels) } as any);
        return { id: (c as any).id ?? (c as any).ID, outputs: {} };
    },
    async delete(_inputs, id, ctx) {
        await (await ctx.docker()).getConfig(id).remove();
    },
};
