/**
 * Pulumi assets and archives in a resource's inputs. The SDK hands a mock `FileAsset`,
 * `StringAsset` and `AssetArchive` objects whose fields are promises; the engine turns them
 * into plain descriptions with a content hash, as the Pulumi engine does, so that a changed
 * file is a changed input and the state file can hold them.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

export interface PlainAsset {
    "@asset": { path?: string; text?: string; sha256: string };
}
export interface PlainArchive {
    "@archive": { path?: string; assets?: Record<string, PlainAsset | PlainArchive>; sha256: string };
}

const sha256 = (data: crypto.BinaryLike) => crypto.createHash("sha256").update(data).digest("hex");

function hashTree(p: string): string {
    if (!fs.statSync(p).isDirectory()) return sha256(fs.readFileSync(p));
    const entries = fs.readdirSync(p).sort().map((n) => `${n}:${hashTree(path.join(p, n))}`);
    return sha256(entries.join("\n"));
}

/** The inputs with every asset and archive replaced by its plain description (recursively). */
export async function materializeAssets(v: any): Promise<any> {
    if (pulumi.asset.Asset.isInstance(v)) {
        const a = v as any;
        const file = await a.path;
        if (file !== undefined) return { "@asset": { path: file, sha256: hashTree(file) } } satisfies PlainAsset;
        const text = await a.text;
        if (text !== undefined) return { "@asset": { text, sha256: sha256(text) } } satisfies PlainAsset;
        throw new Error("lab engine: only file and string assets are implemented");
    }
    if (pulumi.asset.Archive.isInstance(v)) {
        const a = v as any;
        const dir = await a.path;
        if (dir !== undefined) return { "@archive": { path: dir, sha256: hashTree(dir) } } satisfies PlainArchive;
        const assets = await a.assets;
        if (assets !== undefined) {
            const plain: Record<string, PlainAsset | PlainArchive> = {};
            for (const name of Object.keys(assets).sort()) plain[name] = await materializeAssets(assets[name]);
            return { "@archive": { assets: plain, sha256: sha256(JSON.stringify(plain)) } } satisfies PlainArchive;
        }
        throw new Error("lab engine: only file and asset archives are implemented");
    }
    if (Array.isArray(v)) return Promise.all(v.map(materializeAssets));
    if (v && typeof v === "object" && !(v instanceof Promise)) {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) out[k] = await materializeAssets(x);
        return out;
    }
    return v;
}
