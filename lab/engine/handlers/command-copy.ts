/**
 * command:remote:CopyToRemote — copies an asset or archive to a host over SFTP, the way
 * @pulumi/command 1.x does (provider/pkg/provider/remote/copyController.go): a file to
 * `remotePath` (into it when it is a directory); an asset archive's entries to
 * `remotePath/<name>`, creating directories; a directory archive into `remotePath/<dir name>`.
 * Any change of the source (its content hash), the path or `triggers` copies again; delete
 * does nothing on the host.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { SFTPWrapper } from "ssh2";
import type { PlainArchive, PlainAsset } from "../assets";
import { connect, HostError } from "../ssh";
import { CONNECTION_FIELDS, sshTarget } from "./command-remote";
import { type Handler, type HandlerContext, NotImplemented, onlyFields } from "./types";

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

async function writeFile(sftp: SFTPWrapper, remote: string, data: Buffer): Promise<void> {
    await mkdirAll(sftp, path.posix.dirname(remote));
    await p<void>((cb) => sftp.writeFile(remote, data, (e) => cb(e)));
}

async function copyEntry(sftp: SFTPWrapper, entry: PlainAsset | PlainArchive, remote: string): Promise<void> {
    if ("@asset" in entry) {
        const a = entry["@asset"];
        await writeFile(sftp, remote, a.path !== undefined ? fs.readFileSync(a.path) : Buffer.from(a.text ?? "", "utf8"));
        return;
    }
    const a = entry["@archive"];
    if (a.assets) {
        for (const [name, e] of Object.entries(a.assets)) await copyEntry(sftp, e, path.posix.join(remote, name));
        return;
    }
    const walk = async (local: string, dest: string) => {
        if (fs.statSync(local).isDirectory()) {
            await mkdirAll(sftp, dest);
            for (const n of fs.readdirSync(local)) await walk(path.join(local, n), path.posix.join(dest, n));
        } else await writeFile(sftp, dest, fs.readFileSync(local));
    };
    await walk(a.path!, path.posix.join(remote, path.basename(a.path!)));
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
        if (!inputs.source || !("@asset" in inputs.source || "@archive" in inputs.source)) {
            throw new NotImplemented("lab engine: command:remote:CopyToRemote.source must be an asset or an archive");
        }
    },
    replaceOn: ["triggers"],
    async create(inputs, ctx) {
        await copy(inputs, ctx, "create");
        return { id: crypto.randomBytes(8).toString("hex"), outputs: {} };
    },
    async update(inputs, previous, ctx) {
        await copy(inputs, ctx, "update");
        return { id: previous.id, outputs: {} };
    },
};
