/**
 * The lab engine state's secrets: every value that Pulumi marks secret is sealed with
 * AES-256-GCM under a key kept beside the state (like Pulumi's passphrase secrets provider),
 * so the state file holds no secret in clear.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { isSecret, makeSecret, reveal } from "../../support/secret-markers";

/** Seals and opens secret values for the state file. */
export class SecretBox {
    private readonly key: Buffer;

    constructor(keyFile: string) {
        fs.mkdirSync(path.dirname(keyFile), { recursive: true, mode: 0o700 });
        if (!fs.existsSync(keyFile)) fs.writeFileSync(keyFile, crypto.randomBytes(32).toString("hex"), { mode: 0o600, flag: "wx" });
        this.key = Buffer.from(fs.readFileSync(keyFile, "utf8").trim(), "hex");
    }

    /** Replaces every secret marker in `v` with `{ "@sealed": base64 }`. */
    seal(v: any): any {
        if (isSecret(v)) {
            const iv = crypto.randomBytes(12);
            const c = crypto.createCipheriv("aes-256-gcm", this.key, iv);
            const body = Buffer.concat([c.update(JSON.stringify(reveal(v.value)), "utf8"), c.final()]);
            return { "@sealed": Buffer.concat([iv, c.getAuthTag(), body]).toString("base64") };
        }
        if (Array.isArray(v)) return v.map((x) => this.seal(x));
        if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.seal(x)]));
        return v;
    }

    /** The inverse of `seal`: sealed values come back wrapped in the secret marker. */
    open(v: any): any {
        if (v && typeof v === "object" && !Array.isArray(v) && typeof v["@sealed"] === "string") {
            const raw = Buffer.from(v["@sealed"], "base64");
            const d = crypto.createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12));
            d.setAuthTag(raw.subarray(12, 28));
            return makeSecret(JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8")));
        }
        if (Array.isArray(v)) return v.map((x) => this.open(x));
        if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.open(x)]));
        return v;
    }
}
