/**
 * npm run lab:images [-- --all] (lab:up runs it after the hosts are up; test:lab with --all):
 * the images swarm-ha builds, in the lab. No registry is reachable and the lab's nodes cannot reach Debian's
 * archive, so the lab builds each image once on its own engine, from the same build context
 * and under the same tag as the program computes (components/images/catalog.ts), and loads it
 * into every node that lacks it. The program's build step on a node then finds the tag and
 * does not build (on real hosts it builds).
 *
 * - The base, `debian:bookworm-slim`, is a debootstrapped minbase rootfs imported under that
 *   name, cached in /var/cache/swarm-ha-lab (as Docker Hub's image would be pulled).
 * - Builds run with the host's network (where Debian's archive is reachable); the lab engine
 *   keeps the images between labs (its data-root survives `lab:down`), so a warm lab only loads.
 * - Loading compares image IDs first and loads only what a node lacks (kind's pattern): the
 *   images its roles run, or every image with --all.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { builtImageTag, contextFiles, IMAGE_NAMES, type ImageName, REPO_ROOT } from "../components/images/catalog";
import { placeStack } from "../components/config/placement";
import type { StackRole } from "../components/config/types";
import { labNodes, readHosts } from "./stack";
import { parseCli } from "../support/cli";
import { LAB_DOCKER } from "./constants";

const DOCKER_HOST = LAB_DOCKER;
const CACHE_DIR = "/var/cache/swarm-ha-lab";
const BASE = "debian:bookworm-slim";
/** Bump when the way the base rootfs is made changes (it is part of the cache key). */
const BASE_RECIPE = 2;
const MIRROR = process.env.LAB_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
const SECURITY_MIRROR = process.env.LAB_DEBIAN_SECURITY_MIRROR ?? "http://deb.debian.org/debian-security";

const log = (line: string) => console.log(`[lab] images: ${line}`);

function docker(args: string[], opts: { input?: Buffer | string; stdio?: "inherit" } = {}): string {
    const r = spawnSync("docker", [...DOCKER_HOST, ...args], { input: opts.input, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`docker ${args.join(" ")} failed (exit ${r.status}): ${(r.stderr || r.stdout || "").trim().split("\n").slice(-15).join("\n")}`);
    return r.stdout;
}
const imageId = (ref: string): string | undefined => {
    const r = spawnSync("docker", [...DOCKER_HOST, "image", "inspect", "--format", "{{.Id}}", ref], { encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : undefined;
};

/** The base image, `debian:bookworm-slim`: from the cache, or debootstrapped (minbase) and cached. */
function ensureBase(): void {
    const key = crypto.createHash("sha256").update(`recipe=${BASE_RECIPE} mirror=${MIRROR} security=${SECURITY_MIRROR}`).digest("hex").slice(0, 16);
    const labelled = spawnSync("docker", [...DOCKER_HOST, "image", "inspect", "--format", '{{index .Config.Labels "swarm-ha-lab.base-key"}}', BASE], { encoding: "utf8" });
    if (labelled.status === 0 && labelled.stdout.trim() === key) return;
    const cached = path.join(CACHE_DIR, `debian-bookworm-slim-${key}.tar`);
    if (fs.existsSync(cached)) {
        log(`loading ${BASE} from ${cached}`);
        docker(["load", "--input", cached]);
        return;
    }
    const t0 = Date.now();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-lab-base-"));
    log(`debootstrap bookworm (minbase) for ${BASE} from ${MIRROR}`);
    try {
        const r = spawnSync("debootstrap", ["--variant=minbase", "bookworm", root, MIRROR], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`debootstrap failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split("\n").slice(-10).join("\n")}`);
        fs.writeFileSync(
            path.join(root, "etc/apt/sources.list"),
            `deb ${MIRROR} bookworm main\ndeb ${MIRROR} bookworm-updates main\ndeb ${SECURITY_MIRROR} bookworm-security main\n`,
        );
        // As in Docker Hub's slim image: no recommends, and no docs, manuals or translations,
        // now or in what images built on it install (smaller images load faster into the nodes).
        fs.writeFileSync(path.join(root, "etc/apt/apt.conf.d/99swarm-ha-lab"), 'APT::Install-Recommends "false";\nAcquire::Check-Valid-Until "false";\n');
        fs.writeFileSync(
            path.join(root, "etc/dpkg/dpkg.cfg.d/docker-slim"),
            ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*", "/usr/share/groff/*", "/usr/share/lintian/*"]
                .map((p) => `path-exclude ${p}\n`)
                .join("") + "path-include /usr/share/doc/*/copyright\n",
        );
        for (const d of ["usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/groff", "usr/share/lintian"]) {
            const dir = path.join(root, d);
            if (fs.existsSync(dir)) for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
        }
        const docs = path.join(root, "usr/share/doc");
        for (const pkg of fs.readdirSync(docs)) {
            for (const f of fs.readdirSync(path.join(docs, pkg))) if (f !== "copyright") fs.rmSync(path.join(docs, pkg, f), { recursive: true, force: true });
        }
        for (const d of ["var/lib/apt/lists", "var/cache/apt/archives"]) {
            for (const f of fs.readdirSync(path.join(root, d))) if (f !== "partial" && f !== "lock") fs.rmSync(path.join(root, d, f), { recursive: true, force: true });
        }
        fs.writeFileSync(path.join(root, "etc/resolv.conf"), "");
        const tar = execFileSync("tar", ["-C", root, "-c", "."], { maxBuffer: 1024 * 1024 * 1024 });
        docker(["import", "--change", 'CMD ["bash"]', "--change", `LABEL swarm-ha-lab.base-key=${key}`, "-", BASE], { input: tar });
        fs.mkdirSync(CACHE_DIR, { recursive: true });
        docker(["save", "--output", `${cached}.tmp`, BASE]);
        fs.renameSync(`${cached}.tmp`, cached);
        log(`${BASE} made and cached in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    } finally {
        spawnSync("rm", ["-rf", "--one-file-system", root]);
    }
}

/** Builds an image on the lab's engine from its context, unless it has the tag already. */
function ensureBuilt(name: ImageName): string {
    const tag = builtImageTag(name);
    if (imageId(tag)) return tag;
    const t0 = Date.now();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `swarm-ha-lab-${name}-`));
    try {
        for (const [inContext, file] of Object.entries(contextFiles(name))) fs.copyFileSync(file, path.join(dir, inContext));
        for (const [inContext, file] of Object.entries(contextFiles(name))) fs.chmodSync(path.join(dir, inContext), fs.statSync(file).mode & 0o777);
        const context = execFileSync("tar", ["-C", dir, "-c", "."]);
        // The host's network reaches Debian's archive; the lab's nodes cannot.
        docker(["build", "--network", "host", "--quiet", "--tag", tag, "-"], { input: context });
        log(`built ${tag} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    return tag;
}

/** The lab's running nodes. */
function runningNodes(): string[] {
    return docker(["ps", "--filter", "label=swarm-ha-lab.node", "--format", "{{.Names}}"]).trim().split("\n").filter(Boolean).sort();
}

/** The tags a node lacks (or holds as another image). */
function missingOn(node: string, tags: string[]): string[] {
    return tags.filter((tag) => {
        const have = spawnSync("docker", [...DOCKER_HOST, "exec", node, "docker", "image", "inspect", "--format", "{{.Id}}", tag], { encoding: "utf8" });
        return !(have.status === 0 && have.stdout.trim() === imageId(tag));
    });
}

/** Loads `file` (a `docker save` of several images) into `node`. */
function load(node: string, file: string): Promise<void> {
    return new Promise((resolve, reject) => {
        const child = spawn("docker", [...DOCKER_HOST, "exec", "-i", node, "docker", "load", "--quiet"], { stdio: ["pipe", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const tar = fs.createReadStream(file);
        tar.on("error", (e) => {
            child.kill();
            reject(new Error(`reading ${file} for ${node}: ${e.message}`));
        });
        tar.pipe(child.stdin);
        child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`loading images into ${node} failed: ${stderr.trim()}`))));
    });
}

/**
 * The images each running node gets: by default those the lab stack runs there (what
 * `lab:up` deploys, placed as the program places it); with `everyImageEverywhere`, all of them
 * (the end-to-end tests move roles from node to node, and a node without an image would try to
 * build it, which the lab cannot).
 */
function wantedImages(nodes: string[], everyImageEverywhere: boolean): Map<string, ImageName[]> {
    const hosts = readHosts();
    const specs = labNodes(hosts).map((n) => ({ ...n, advertiseAddress: n.address, roles: n.roles as StackRole[], availability: "active" as const }));
    const { nodesByImage } = placeStack(specs, { vip: Boolean(hosts.vip) });
    const runs = (node: string, image: ImageName) => nodesByImage[image].some((n) => n.name === node);
    return new Map(nodes.map((node) => [node, IMAGE_NAMES.filter((i) => everyImageEverywhere || runs(node, i))]));
}

/** A `docker save` of `tags`, kept in the cache: the same set is saved once, not on every `lab:up`. */
function savedTar(tags: string[]): string {
    const key = crypto.createHash("sha256").update(tags.map((t) => `${t}@${imageId(t)}`).join(" ")).digest("hex").slice(0, 16);
    const file = path.join(CACHE_DIR, "images", `${key}.tar`);
    if (!fs.existsSync(file)) {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        docker(["save", "--output", `${file}.tmp`, ...tags]);
        fs.renameSync(`${file}.tmp`, file);
    }
    return file;
}

/**
 * Builds what the lab engine lacks and loads into every running node the images it lacks:
 * one `docker save` per set of images (their shared layers once), loaded into the nodes that
 * lack that set side by side.
 */
export async function ensureLabImages(opts: { everyImageEverywhere?: boolean } = {}): Promise<void> {
    const t0 = Date.now();
    ensureBase();
    // The app's bundle from its current sources: an edited app/src must reach the lab.
    execFileSync("npm", ["run", "--silent", "build", "--prefix", path.join(REPO_ROOT, "app")], { stdio: "inherit" });
    for (const name of IMAGE_NAMES) ensureBuilt(name);
    const nodes = runningNodes();
    const bySet = new Map<string, string[]>();
    for (const [node, images] of wantedImages(nodes, opts.everyImageEverywhere ?? false)) {
        const missing = missingOn(node, images.map(builtImageTag));
        if (missing.length > 0) bySet.set(missing.join(" "), [...(bySet.get(missing.join(" ")) ?? []), node]);
    }
    const loads = [...bySet].map(([set, setNodes]) => ({ set, setNodes, file: savedTar(set.split(" ")) }));
    // Saved sets of images that are not current any more (older builds) go.
    const keep = new Set(loads.map((l) => l.file));
    const saved = path.join(CACHE_DIR, "images");
    if (fs.existsSync(saved)) for (const f of fs.readdirSync(saved)) if (!keep.has(path.join(saved, f)) && !(loads.length === 0)) fs.rmSync(path.join(saved, f), { force: true });
    await Promise.all(
        loads.map(async ({ set, setNodes, file }) => {
            const t1 = Date.now();
            await Promise.all(setNodes.map((node) => load(node, file)));
            log(`loaded ${set} into ${setNodes.join(", ")} in ${((Date.now() - t1) / 1000).toFixed(0)}s`);
        }),
    );
    log(`images on ${nodes.length} node(s) in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
}

if (require.main === module) {
    const { values: flags } = parseCli("tsx lab/images.ts [--all]   (--all: every image on every node)", { all: { type: "boolean" } });
    ensureLabImages({ everyImageEverywhere: flags.all === true }).catch((e) => {
        console.error(`[lab] images: FAILED: ${(e as Error).message}`);
        process.exit(1);
    });
}
