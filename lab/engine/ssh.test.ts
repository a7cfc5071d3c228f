/**
 * The engine's SSH host key checks, against a real SSH server (ssh2's) on loopback: a
 * command's pinned `hostKey` as pulumi-command checks it, and the system ssh's known_hosts
 * rules the Docker provider's connection follows (first contact recorded, a changed key refused).
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Server } from "ssh2";
import { ed25519KeyPair } from "../../test/support/ssh-keys";
import { checkKnownHosts, connect, type SshTarget } from "./ssh";

/** An ed25519 key pair: the private key (OpenSSH text) and the public key as "type base64". */
function keyPair() {
    const k = ed25519KeyPair();
    return { privateKey: k.private, publicKey: k.public.split(" ").slice(0, 2).join(" ") };
}

const HOST = keyPair();
const OTHER = keyPair();
const CLIENT = keyPair();
let server: Server;
let port: number;
let dir: string;

beforeAll(async () => {
    server = new Server({ hostKeys: [HOST.privateKey] }, (client) => {
        client.on("authentication", (ctx) => ctx.accept());
        client.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
});
afterAll(() => server.close());
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-ssh-"))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const target = (extra: Partial<SshTarget>): SshTarget => ({
    host: "127.0.0.1",
    port,
    user: "root",
    privateKey: CLIENT.privateKey,
    attempts: 2,
    timeoutSeconds: 5,
    keepalive: { intervalMs: 15_000, countMax: 9 },
    ...extra,
});

test("a command's pinned host key: the host's own passes, another is refused as pulumi-command refuses it", async () => {
    (await connect(target({ hostKey: HOST.publicKey }))).end();
    await expect(connect(target({ hostKey: OTHER.publicKey }))).rejects.toThrow(/\(2 attempt\(s\)\): ssh: handshake failed: ssh: host key mismatch/);
});

test("known_hosts with accept-new: first contact records the key; a changed key is refused", async () => {
    const known = { files: [path.join(dir, "known_hosts"), path.join(dir, "pinned")], strict: "accept-new" as const };
    (await connect(target({ knownHosts: known, attempts: 1 }))).end();
    expect(fs.readFileSync(known.files[0], "utf8")).toBe(`[127.0.0.1]:${port} ${HOST.publicKey}\n`);
    (await connect(target({ knownHosts: known, attempts: 1 }))).end();

    fs.writeFileSync(known.files[0], `[127.0.0.1]:${port} ${OTHER.publicKey}\n`);
    await expect(connect(target({ knownHosts: known, attempts: 1 }))).rejects.toThrow(
        new RegExp(`REMOTE HOST IDENTIFICATION HAS CHANGED: the ssh-ed25519 host key of \\[127\\.0\\.0\\.1\\]:${port} is not the one in .*known_hosts:1`),
    );
    // A pin in the second file that matches wins over a stale first-contact record, as in OpenSSH.
    fs.writeFileSync(known.files[1], `[127.0.0.1]:${port} ${HOST.publicKey}\n`);
    (await connect(target({ knownHosts: known, attempts: 1 }))).end();
});

test("known_hosts rules: strict checking refuses an unknown host; hashed names are matched", () => {
    const blob = Buffer.from(HOST.publicKey.split(" ")[1], "base64");
    const file = path.join(dir, "known_hosts");
    expect(checkKnownHosts({ files: [file], strict: "yes" }, "192.0.2.9", 22, blob)).toEqual({
        ok: false,
        message: "No ssh-ed25519 host key is known for 192.0.2.9 and you have requested strict checking. Host key verification failed.",
    });
    expect(fs.existsSync(file)).toBe(false);
    // ssh-keygen -H's form of "192.0.2.9": |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
    const salt = Buffer.alloc(20, 7);
    const hash = require("node:crypto").createHmac("sha1", salt).update("192.0.2.9").digest("base64");
    fs.writeFileSync(file, `|1|${salt.toString("base64")}|${hash} ${HOST.publicKey}\n`);
    expect(checkKnownHosts({ files: [file], strict: "yes" }, "192.0.2.9", 22, blob)).toEqual({ ok: true });
    expect(checkKnownHosts({ files: [file], strict: "yes" }, "192.0.2.10", 22, blob).ok).toBe(false);
});
