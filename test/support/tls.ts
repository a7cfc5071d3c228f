/**
 * Real, throwaway TLS material for the tests: certificates made by openssl (test/tools.sh
 * installs it), keys by node:crypto, in the PEM forms `tlsCertificate` takes.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface TestCertificate {
    /** The certificate, PEM. */
    cert: string;
    /** Its private key, PKCS#8 PEM ("PRIVATE KEY"). */
    key: string;
    /** The same key in its algorithm's own PEM: PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"). */
    traditionalKey: string;
}

/**
 * A self-signed certificate valid from now for `days`, with `subject` (e.g. "/CN=shop.example.com")
 * and, if given, `san` (e.g. "DNS:shop.example.com,IP:192.0.2.100"), on a new EC or RSA key.
 */
export function makeCertificate(opts: { subject: string; san?: string; days?: number; type?: "ec" | "rsa" }): TestCertificate {
    const type = opts.type ?? "ec";
    const { privateKey } = type === "ec" ? crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }) : crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const key = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const traditionalKey = privateKey.export({ type: type === "ec" ? "sec1" : "pkcs1", format: "pem" }).toString();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-test-tls-"));
    try {
        const keyFile = path.join(dir, "privkey.pem");
        fs.writeFileSync(keyFile, key);
        const args = ["req", "-x509", "-key", keyFile, "-days", String(opts.days ?? 1), "-subj", opts.subject, ...(opts.san ? ["-addext", `subjectAltName=${opts.san}`] : [])];
        const r = spawnSync("openssl", args, { encoding: "utf8" });
        if (r.error || r.status !== 0) throw new Error(`openssl could not make a test certificate (test/tools.sh installs it): ${r.error?.message ?? r.stderr}`);
        return { cert: r.stdout, key, traditionalKey };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** `pem` with the middle of its base64 cut out, its BEGIN and END lines kept: a block that is there but does not parse. */
export function cutShort(pem: string): string {
    const lines = pem.trim().split("\n");
    return [lines[0], lines[1], lines[lines.length - 1]].join("\n") + "\n";
}
