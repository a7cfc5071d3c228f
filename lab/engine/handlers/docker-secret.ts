/**
 * docker:index/secret:Secret — through the Docker Engine API. Every field is ForceNew; a delete
 * returns the daemon's error as it is, "not found" included (resource_docker_secret.go:143-150).
 */
import { type Handler, labelsOf } from "./types";

export const dockerSecret: Handler = {
    fields: ["name", "data", "labels"],
    replaceOn: "all",
    async create(inputs, ctx) {
        const docker = await ctx.docker();
        const s = await docker.createSecret({ Name: inputs.name, Data: inputs.data, Labels: labelsOf(inputs.labels) });
        return { id: s.id, outputs: {} };
    },
    async delete(_inputs, id, ctx) {
        await (await ctx.docker()).getSecret(id).remove();
    },
};
