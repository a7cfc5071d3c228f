/**
 * command:remote:CopyToRemote — copies a file or a directory to a host over SFTP, the way
 * @pulumi/command 1.2.1 does (provider/pkg/provider/remote/copyController.go):
 * - Check (:88-113): the source is a path asset, a text asset, or a PATH archive; any other
 *   archive (an AssetArchive of entries) fails with "archive must be a path to a file or
 *   directory" before anything runs;
 * - a file goes to `remotePath` (into it when it is a directory); a text asset is written to
 *   `remotePath`; a directory `dir` goes to `remotePath/<basename of dir>`, or its contents
 *   into `remotePath` when the path ends in "/" (sftpCopy, :226-268);
 * - an update copies again only when the source's hash or `remotePath` changed (:140-154);
 *   a change of `triggers` replaces the resource; delete does nothing on the host.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { SFTPWrapper } from "ssh2";
import type { PlainArchive, PlainAsset } from "../assets";
import { connect, HostError } from "../ssh";
import { CONNECTION_FIELDS, sshTarget } from "./command-remote";
import { type Handler, type HandlerContext, onlyFields } from "./types";

const p = <T>(f: (cb: (err: Error | null | undefined, v?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));

async function mkdirAll(sftp: SFTPWrapper, dir: string): Promise<void> {
    const parts = dir.split("/").filter(Boolean);
    let cur = dir.startsWith("/") ? "" : ".";
    for (const part of parts) {
        cur = `${cur}/${part}`;
        try {
            await p<void>((cb) => sftp.mkdir(cur, (e) => cb(e)));
        } catch {
            // exists (or the next write says why not)
        }
    }
}

async function isRemoteDir(sftp: SFTPWrapper, remote: string): Promise<boolean> {
    try {
        return (await p<any>((cb) => sftp.stat(remote, cb))).isDirectory();
    } catch {
        return false;
    }
}

async function writeFile(sftp: SFTPWrapper, remote: string, data: Buffer): Promise<void> {
    await mkdirAll(sftp, path.posix.dirname(remote));
    await p<void>((cb) => sftp.writeFile(remote, data, (e) => cb(e)));
}

async function copyEntry(sftp: SFTPWrapper, entry: PlainAsset | PlainArchive, remote: string): Promise<void> {
    const source = "@asset" in entry ? entry["@asset"] : entry["@archive"];
    if ("@asset" in entry && entry["@asset"].text !== undefined) {
        await writeFile(sftp, remote, Buffer.from(entry["@asset"].text, "utf8"));
        return;
    }
    const local = source.path!;
    if (!fs.statSync(local).isDirectory()) {
        await writeFile(sftp, (await isRemoteDir(sftp, remote)) ? path.posix.join(remote, path.basename(local)) : remote, fs.readFileSync(local));
        return;
    }
    const walk = async (from: string, dest: string) => {
        if (fs.statSync(from).isDirectory()) {
            await mkdirAll(sftp, dest);
            for (const n of fs.readdirSync(from)) await walk(path.join(from, n), path.posix.join(dest, n));
        } else await writeFile(sftp, dest, fs.readFileSync(from));
    };
    await walk(local, local.endsWith("/") ? remote : path.posix.join(remote, path.basename(local)));
}

async function copy(inputs: Record<string, any>, ctx: HandlerContext, phase: "create" | "update") {
    const target = sshTarget(inputs.connection, ctx.deadline(phase));
    let client;
    try {
        client = await connect(target);
    } catch (e) {
        throw new HostError(`${ctx.name} (${phase}): host ${target.host}: ${(e as Error).message}`);
    }
    try {
        const sftp = await p<SFTPWrapper>((cb) => client.sftp(cb));
        await copyEntry(sftp, inputs.source, inputs.remotePath);
        sftp.end();
    } catch (e) {
        throw new HostError(`${ctx.name} (${phase}): copying to ${target.host}:${inputs.remotePath} failed: ${(e as Error).message}`);
    } finally {
        client.end();
    }
}

export const copyToRemote: Handler = {
    fields: ["connection", "source", "remotePath", "triggers"],
    validate(inputs) {
        onlyFields("command:remote:CopyToRemote.connection", inputs.connection, CONNECTION_FIELDS);
        const failures = copyCheckFailures(inputs.source);
        if (failures.length > 0) throw new Error(`command:remote:CopyToRemote: ${failures.join("; ")}`);
    },
    replaceOn: ["triggers"],
    async create(inputs, ctx) {
        await copy(inputs, ctx, "create");
        return { id: crypto.randomBytes(8).toString("hex"), outputs: {} };
    },
    async update(inputs, previous, ctx) {
        const before = previous.inputs;
        const hash = (src: any) => (src?.["@asset"] ?? src?.["@archive"])?.sha256;
        if (hash(inputs.source) !== hash(before.source) || inputs.remotePath !== before.remotePath) await copy(inputs, ctx, "update");
        return { id: previous.id, outputs: {} };
    },
};

/** copyController.go:77-113 (Check): what the released provider refuses, in its words. */
export function copyCheckFailures(source: any): string[] {
    const asset = source?.["@asset"];
    const archive = source?.["@archive"];
    if (asset && archive) return ["only one of asset or archive can be set"];
    if (!asset && !archive) return ["either asset or archive must be set"];
    if (asset && asset.path === undefined && asset.text === undefined) return ["asset must be a path-based file asset or a text asset"];
    if (archive && archive.path === undefined) return ["archive must be a path to a file or directory"];
    return [];
}
