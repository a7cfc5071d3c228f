/**
 * The images swarm-ha builds, one build context each (files laid out by destination in
 * images/<name>/, plus the demo app's bundle), and the tag each gets: a hash of the context's
 * content, so a change of any file is a new tag and a rolling update, and two machines that
 * hold the same files agree on the tag. The program builds them on the nodes that run them;
 * the lab builds the same contexts once on its own engine and loads them (lab/images.ts).
 * No Pulumi in here: the lab uses it as is.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const IMAGE_NAMES = ["app", "haproxy", "keepalived", "redis", "postgres", "etcd", "backup", "monitoring"] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** Each image's build context: file name in the context → file in this repository. */
export const BUILD_CONTEXTS: Record<ImageName, Record<string, string>> = {
    app: { Dockerfile: "images/app/Dockerfile", "app.js": "app/dist/bundle/app.js" },
    haproxy: { Dockerfile: "images/haproxy/Dockerfile", "entrypoint.sh": "images/haproxy/entrypoint.sh" },
    keepalived: { Dockerfile: "images/keepalived/Dockerfile", "vrrp-state.sh": "images/keepalived/vrrp-state.sh", "vip-check.sh": "images/keepalived/vip-check.sh" },
    redis: filesOf("redis", ["Dockerfile", "lib.sh", "redis-entrypoint.sh", "sentinel-entrypoint.sh", "check.sh", "health.sh", "sentinel-health.sh"]),
    postgres: filesOf("postgres", ["Dockerfile", "entrypoint.sh", "post-bootstrap.sh", "check.py", "patroni-run.py"]),
    etcd: filesOf("etcd", ["Dockerfile", "entrypoint.sh", "check.sh"]),
    backup: filesOf("backup", ["Dockerfile", "lib.sh", "swarm-ha-backup.sh", "swarm-ha-restore.sh", "backup-cycle.sh", "metrics-server.py"]),
    monitoring: filesOf("monitoring", ["Dockerfile", "entrypoint.sh", "swarm-exporter.py", "postgres-queries.yaml", "alertmanager-check.py"]),
};

/** Files that sit in images/<name>/ under the same name in the context. */
function filesOf(name: string, files: string[]): Record<string, string> {
    return Object.fromEntries(files.map((f) => [f, `images/${name}/${f}`]));
}

/** The demo app's sources, which `npm ci` (the app's `prepare`) bundles into its image's app.js. */
export const APP_SOURCES = "app/src";
const APP_BUNDLE = BUILD_CONTEXTS.app["app.js"];

/**
 * The absolute paths of an image's context files, checked to exist and, for the app, to be
 * built from its current sources: an app.js older than a file of app/src would ship old code
 * under a tag that looks current.
 */
export function contextFiles(name: ImageName): Record<string, string> {
    const files: Record<string, string> = {};
    for (const [inContext, inRepo] of Object.entries(BUILD_CONTEXTS[name])) {
        const file = path.join(REPO_ROOT, inRepo);
        if (!fs.existsSync(file)) {
            throw new Error(`swarm-ha: ${inRepo} is missing, so the ${name} image cannot be built: run npm ci (it builds the app), or set an image of your own in config`);
        }
        files[inContext] = file;
    }
    if (name === "app") {
        const newer = sourceNewerThan(files["app.js"], path.join(REPO_ROOT, APP_SOURCES));
        if (newer) {
            throw new Error(
                `swarm-ha: ${APP_BUNDLE} is older than ${path.relative(REPO_ROOT, newer)}, so the app image would ship old code: run \`npm run build --prefix app\` (npm ci does it too), or set an image of your own in config`,
            );
        }
    }
    return files;
}

/** A file under `sources` changed after `built` was, if any: `built` was made from older sources. */
export function sourceNewerThan(built: string, sources: string): string | undefined {
    const builtAt = fs.statSync(built).mtimeMs;
    const search = (dir: string): string | undefined => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const file = path.join(dir, entry.name);
            const found = entry.isDirectory() ? search(file) : fs.statSync(file).mtimeMs > builtAt ? file : undefined;
            if (found) return found;
        }
        return undefined;
    };
    return search(sources);
}

/** 12 hex characters of a hash over the context's file names, modes and contents. */
export function contextHash(name: ImageName): string {
    const h = crypto.createHash("sha256");
    for (const [inContext, file] of Object.entries(contextFiles(name)).sort(([a], [b]) => a.localeCompare(b))) {
        h.update(`${inContext}\0${fs.statSync(file).mode & 0o111 ? "x" : "-"}\0`);
        h.update(fs.readFileSync(file));
        h.update("\0");
    }
    return h.digest("hex").slice(0, 12);
}

/** The tag swarm-ha gives its build of an image, e.g. `swarm-ha/haproxy:3f9c2a71d0be`. */
export function builtImageTag(name: ImageName): string {
    return `swarm-ha/${name}:${contextHash(name)}`;
}

/**
 * The image's build context as one local directory, `<dir>/<name>-<hash>`, made once per
 * content (file modes kept): @pulumi/command 1.2.1's CopyToRemote takes a path archive only
 * ("archive must be a path to a file or directory", copyController.go:105-111), and copies a
 * directory `D` into `remotePath/<basename of D>`. Under the user's home, 0700, so that no
 * other local user can change a context between here and the copy.
 */
export function stageBuildContext(name: ImageName, dir = path.join(os.homedir(), ".cache", "swarm-ha", "build-contexts")): string {
    const target = path.join(dir, `${name}-${contextHash(name)}`);
    if (fs.existsSync(target)) return target;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = fs.mkdtempSync(path.join(dir, `.${name}-`));
    for (const [inContext, file] of Object.entries(contextFiles(name))) {
        fs.mkdirSync(path.dirname(path.join(tmp, inContext)), { recursive: true });
        fs.copyFileSync(file, path.join(tmp, inContext));
        fs.chmodSync(path.join(tmp, inContext), fs.statSync(file).mode & 0o777);
    }
    try {
        fs.renameSync(tmp, target);
    } catch (e) {
        // Another run staged the same content first.
        fs.rmSync(tmp, { recursive: true, force: true });
        if (!fs.existsSync(target)) throw e;
    }
    return target;
}
