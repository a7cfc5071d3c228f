/**
 * The secret keys: the SSH private key and the passwords a user may supply. Checked for
 * presence, for storage as secrets, and for shape. No message ever repeats a secret's value,
 * nor any part of it: the error is printed to terminals and CI logs.
 */
import { CONFIG_KEYS, KNOWN_KEYS } from "./keys";
import { type ConfigProblem, type RawConfig, fullKey } from "./types";

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

/**
 * Secret keys: the SSH key must be set, as a secret, and look like a private key; a supplied
 * password must be a secret and not blank. `secretKeys` holds the full keys set with `--secret`.
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
        if (v.trim() === "") {
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
