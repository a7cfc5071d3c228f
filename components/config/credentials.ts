/**
 * The secret keys: the SSH private key, the passwords a user may supply and the TLS
 * certificate. Checked for presence, for storage as secrets, and for shape. No message ever
 * repeats a secret's value, nor any part of it: the error is printed to terminals and CI logs.
 */
import { CONFIG_KEYS, KNOWN_KEYS } from "./keys";
import { PRIVATE_KEY_BLOCK, checkTlsMaterial } from "./tls";
import { type ConfigProblem, type RawConfig, SUPPLIABLE_SECRETS, fullKey } from "./types";

const SSH_KEY = fullKey("sshPrivateKey");
const SET_SSH_KEY = `pulumi config set --secret ${SSH_KEY} -- "$(cat ~/.ssh/id_ed25519)"`;

/** OpenSSH public key lines (`ssh-ed25519 AAAA...`) and PEM/RFC 4716 public key blocks. */
const PUBLIC_KEY = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)\s|-----BEGIN (RSA |SSH2 )?PUBLIC KEY-----|---- BEGIN SSH2 PUBLIC KEY ----/;

/** Why `value` cannot be an SSH private key, if it plainly cannot. */
function sshKeyShape(value: string): string | undefined {
    const v = value.trim();
    if (PUBLIC_KEY.test(v)) {
        return `is a public key (the contents of a .pub file); SSH needs the private key, the file without .pub: ${SET_SSH_KEY}`;
    }
    if (/^(\/|~|\.\.?\/)/.test(v)) {
        return `is a file path, not the key: Pulumi does not read the file, so give its contents: ${SET_SSH_KEY}`;
    }
    if (!v.includes("\n") && !v.includes("PRIVATE KEY")) {
        return `is a single line without 'PRIVATE KEY', so not a private key (a file name?); give the key file's contents: ${SET_SSH_KEY}`;
    }
    return undefined;
}

const TLS_KEY = fullKey("tlsCertificate");
const SET_TLS = `pulumi config set --secret ${TLS_KEY} -- "$(cat fullchain.pem privkey.pem)"`;

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/;
/** PKCS#8 encrypted keys, and the legacy OpenSSL encryption headers inside a PKCS#1 or SEC1 block. */
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,\s*ENCRYPTED/;

/**
 * Why `value` cannot be the PEM HAProxy loads for TLS (its certificate chain and private key in
 * one file), if it plainly cannot. Says what is missing, never what is there.
 */
function tlsCertificateShape(value: string): string | undefined {
    if (!/[\r\n]/.test(value.trim())) {
        return (
            `is a single line, so not the contents of a PEM file, whose blocks span lines (a file name? Pulumi does not read files; ` +
            `or were its line breaks turned into '\\n'?): give the files' contents: ${SET_TLS}`
        );
    }
    const noCertificate = CERTIFICATE_BLOCK.test(value) ? undefined : "no certificate (a -----BEGIN CERTIFICATE----- ... -----END CERTIFICATE----- block)";
    if (ENCRYPTED_KEY.test(value)) {
        return (
            `holds an encrypted private key${noCertificate ? ` and ${noCertificate}` : ""}: HAProxy cannot load an encrypted key, since it starts unattended with no one to type the passphrase. ` +
            `Decrypt the key (openssl pkey -in privkey.pem -out privkey-plain.pem) and set the certificate chain with the decrypted key: ${SET_TLS}`
        );
    }
    const missing = [noCertificate, PRIVATE_KEY_BLOCK.test(value) ? undefined : "no private key (a -----BEGIN PRIVATE KEY----- block, or RSA PRIVATE KEY or EC PRIVATE KEY, with its END line)"];
    const found = missing.filter((m) => m !== undefined);
    if (found.length === 0) return undefined;
    return `holds ${found.join(" and ")}; HAProxy needs the certificate chain and its private key in one PEM: ${SET_TLS}`;
}

/**
 * Secret keys: the SSH key must be set, as a secret, and look like a private key; a supplied
 * password must be a secret and not blank; the TLS certificate, when set, must be a secret
 * and hold a certificate and its unencrypted private key, which must serve (tls.ts). `secretKeys` holds the full keys set
 * with `--secret`.
 */
export function checkSecrets(raw: RawConfig, secretKeys: ReadonlySet<string>): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const sshKey = raw["sshPrivateKey"];
    if (sshKey === undefined || sshKey.trim() === "") {
        problems.push({ key: SSH_KEY, message: `is not set: give the private key that opens SSH on every node, as a secret: ${SET_SSH_KEY}` });
    } else {
        if (!secretKeys.has(SSH_KEY)) {
            problems.push({ key: SSH_KEY, message: `is stored in plain text: set it again with --secret (${SET_SSH_KEY})` });
        }
        const shape = sshKeyShape(sshKey);
        if (shape !== undefined) problems.push({ key: SSH_KEY, message: shape });
    }

    for (const name of KNOWN_KEYS) {
        if (CONFIG_KEYS[name].secret !== "if-set") continue;
        const key = fullKey(name);
        const v = raw[name];
        if (v === undefined) continue;
        // A plain "" is Pulumi.yaml's default ("generate one"), which Pulumi hands the program
        // like any value: it cannot be told from one the user typed, and means the same.
        if (v === "" && !secretKeys.has(key)) continue;
        if (name === "tlsCertificate") {
            problems.push(...checkTlsCertificate(v, secretKeys.has(key)));
        } else if (!Object.hasOwn(SUPPLIABLE_SECRETS, name)) {
            // A receiver's credential (Slack's webhook URL, the SMTP password): optional, never plain.
            if (v.trim() === "") problems.push({ key, message: `is blank: remove it (pulumi config rm ${key}), or set the real value with --secret` });
            else if (!secretKeys.has(key)) problems.push({ key, message: `is stored in plain text, and it is a credential: set it again with --secret (pulumi config set --secret ${key} ...)` });
        } else if (v.trim() === "") {
            problems.push({
                key,
                message: `is blank: an empty password protects nothing. Remove it to have one generated (pulumi config rm ${key}), or set a real one: pulumi config set --secret ${key} <password>`,
            });
        } else if (!secretKeys.has(key)) {
            problems.push({ key, message: `is stored in plain text: set it again with --secret (pulumi config set --secret ${key} ...), or remove it to have one generated` });
        }
    }
    return problems;
}

/** The TLS certificate, set (a plain "" is the default, no TLS, and is not checked). */
function checkTlsCertificate(value: string, isSecret: boolean): ConfigProblem[] {
    if (value.trim() === "") {
        return [{ key: TLS_KEY, message: `is blank, so it holds no certificate (an empty file?). Remove it to serve HTTP only (pulumi config rm ${TLS_KEY}), or set the PEM: ${SET_TLS}` }];
    }
    const problems: ConfigProblem[] = [];
    if (!isSecret) {
        problems.push({
            key: TLS_KEY,
            message:
                `is stored in plain text, and it holds a private key: set it again with --secret (${SET_TLS}), or remove it to serve HTTP only (pulumi config rm ${TLS_KEY}). ` +
                `If the stack's file was shared or committed meanwhile, treat the key as exposed and have the certificate reissued`,
        });
    }
    const shape = tlsCertificateShape(value);
    if (shape !== undefined) problems.push({ key: TLS_KEY, message: shape });
    // The blocks are there: what is in them must serve (tls.ts).
    else problems.push(...checkTlsMaterial(value, new Date()));
    return problems;
}
