/**
 * The Docker provider's SSH transport as the engine models it (docker/cli connhelper): every
 * HTTP connection is its own SSH connection running `docker system dial-stdio`, and at most two
 * idle ones are kept. Against a real SSH server (ssh2's) on loopback that answers HTTP on the
 * dial-stdio channel and counts the connections it accepts.
 */
import * as http from "node:http";
import type * as net from "node:net";
import { Server } from "ssh2";
import { ed25519KeyPair } from "../../test/support/ssh-keys";
import { dockerTransport, type SshTarget } from "./ssh";

const HOST = ed25519KeyPair();
const CLIENT = ed25519KeyPair();
let server: Server;
let port: number;
let connections = 0;
let open = 0;

beforeAll(async () => {
    server = new Server({ hostKeys: [HOST.private] }, (client) => {
        connections++;
        open++;
        client.on("close", () => open--);
        client.on("error", () => undefined);
        client.on("authentication", (ctx) => ctx.accept());
        client.on("session", (accept) => {
            accept().on("exec", (acceptExec, _reject, info) => {
                const stream = acceptExec();
                if (info.command !== "docker system dial-stdio") return stream.exit(127), stream.end();
                // A tiny keep-alive HTTP server on the channel, as dockerd behind dial-stdio.
                let buffered = "";
                stream.on("data", (d: Buffer) => {
                    buffered += d.toString();
                    while (buffered.includes("\r\n\r\n")) {
                        buffered = buffered.slice(buffered.indexOf("\r\n\r\n") + 4);
                        setTimeout(() => stream.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nOK"), 50);
                    }
                });
            });
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
});
afterAll(() => server.close());

const target: () => SshTarget = () => ({
    host: "127.0.0.1",
    port,
    user: "root",
    privateKey: CLIENT.private,
    attempts: 1,
    timeoutSeconds: 5,
    keepalive: { intervalMs: 15_000, countMax: 9 },
});

function get(agent: http.Agent): Promise<string> {
    return new Promise((resolve, reject) => {
        http.get({ agent, host: "docker", path: "/_ping" }, (res) => {
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve(body));
        }).on("error", reject);
    });
}

test("five API calls at once are five SSH connections; afterwards two stay idle and are reused; destroy closes them", async () => {
    const agent = dockerTransport(target());
    const before = connections;
    expect(await Promise.all([1, 2, 3, 4, 5].map(() => get(agent)))).toEqual(["OK", "OK", "OK", "OK", "OK"]);
    expect(connections - before).toBe(5);
    await new Promise((r) => setTimeout(r, 200));
    expect(open).toBe(2);
    // Calls one after another reuse an idle connection: no new handshake.
    await get(agent);
    await get(agent);
    expect(connections - before).toBe(5);
    agent.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(open).toBe(0);
});
