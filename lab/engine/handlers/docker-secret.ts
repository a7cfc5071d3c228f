/** docker:index/secret:Secret — through the Docker Engine API. */
import { type Handler, isNotFound, labelsOf } from "./types";

export const dockerSecret: Handler = {
    fields: ["name", "data", "labels"],
    replaceOn: "all",
    async create(inputs, ctx) {
        const docker = await ctx.docker();
        const s = await docker.createSecret({ Name: inputs.name, Data: inputs.data, Labels: labelsOf(inputs.labels) });
        return { id: s.id, outputs: {} };
    },
    async delete(_inputs, id, ctx) {
        try {
            await (await ctx.docker()).getSecret(id).remove();
        } catch (e) {
            if (!isNotFound(e)) throw e;
        }
    },
};
