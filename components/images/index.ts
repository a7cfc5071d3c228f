/**
 * NodeImages: the images swarm-ha builds (catalog.ts), built on every node that runs them, so
 * that no registry is needed: the build context is copied to the node (CopyToRemote), then
 * built there unless the node already has that tag (build.sh). An image set in config is used
 * as is and not built. The output of each image is its tag, known once every node that needs
 * it has it, so a service that uses it waits for the builds.
 */
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../config";
import { renderHostScript } from "../common/host-scripts";
import { COMMAND_TIMEOUTS, type SshSettings, sshConnection } from "../common/ssh";
import { builtImageTag, IMAGE_NAMES, type ImageName, stageBuildContext } from "./catalog";

export { builtImageTag, IMAGE_NAMES, type ImageName } from "./catalog";

const BUILD_SCRIPT = path.join(__dirname, "scripts", "build.sh");
/** Where build contexts go on a node, relative to the SSH user's home. */
const BUILD_DIR = ".cache/swarm-ha/build";

export interface NodeImagesArgs {
    /** The nodes that run each image; each gets its own build. */
    nodesByImage: Record<ImageName, NodeSpec[]>;
    /**
     * What a node's builds wait for, by node name (its preflight: Docker answers). Building an
     * image changes nothing in the swarm, so it need not wait for the swarm to form.
     */
    after?: Record<string, pulumi.Resource>;
    /**
     * Images given in config instead of swarm-ha's builds (e.g. from your registry): these are
     * not built.
     * @example { app: "registry.example.com/shop:1.4.2" }
     */
    configured: Partial<Record<ImageName, string>>;
    ssh: SshSettings;
}

export class NodeImages extends pulumi.ComponentResource {
    /** The image each service runs: the configured one, or swarm-ha's build once it is on every node that needs it. */
    public readonly images: Record<ImageName, pulumi.Output<string>>;

    constructor(name: string, args: NodeImagesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-ha:images:NodeImages", name, {}, opts);
        const images = {} as Record<ImageName, pulumi.Output<string>>;
        for (const image of IMAGE_NAMES) {
            const configured = args.configured[image];
            if (configured) {
                images[image] = pulumi.output(configured);
                continue;
            }
            const tag = builtImageTag(image);
            const builds = args.nodesByImage[image].map((node) => this.build(name, node, image, tag, args.ssh, args.after?.[node.name]));
            images[image] = pulumi.all(builds.map((b) => b.stdout)).apply(() => tag);
        }
        this.images = images;
        this.registerOutputs({ images });
    }

    /** Copies the context to `node` and builds the image there unless it has it. */
    private build(name: string, node: NodeSpec, image: ImageName, tag: string, ssh: SshSettings, after: pulumi.Resource | undefined) {
        const connection = sshConnection(node.address, ssh, node.hostKey);
        // The context is one local directory, copied into BUILD_DIR (relative to the SSH user's
        // home) under its own name: <image>-<hash>, which keeps contexts of old builds apart.
        const staged = stageBuildContext(image);
        const contextDir = `${BUILD_DIR}/${path.basename(staged)}`;
        const copy = new command.remote.CopyToRemote(
            `${name}-${node.name}-${image}-context`,
            { connection, source: new pulumi.asset.FileArchive(staged), remotePath: BUILD_DIR },
            { parent: this, dependsOn: after ? [after] : [], customTimeouts: COMMAND_TIMEOUTS },
        );
        return new command.remote.Command(
            `${name}-${node.name}-${image}-build`,
            {
                connection,
                create: renderHostScript("build.sh", [BUILD_SCRIPT], { NODE_NAME: node.name, IMAGE: tag, CONTEXT_DIR: contextDir }),
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [copy], customTimeouts: { ...COMMAND_TIMEOUTS, create: "20m", update: "20m" } },
        );
    }
}
