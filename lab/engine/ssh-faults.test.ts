/**
 * A host that dies or freezes at any phase of an SSH step fails that step, naming the host,
 * and never crashes the engine: real servers on loopback (ssh2's, and raw TCP for a host that
 * never speaks) that drop or stall at the dial, the handshake, authentication, the channel and
 * mid-command, driven through the command provider's handler (lab/engine/handlers/command-remote.ts)
 * and the SSH primitives under it. Any 'error' event ssh2 raises without a listener would be an
 * uncaught exception: each case checks none happened, also a moment after the failure.
 */
import * as net from "node:net";
import { Server, type Connection } from "ssh2";
import { ed25519KeyPair } from "../../test/support/ssh-keys";
import { remoteCommand } from "./handlers/command-remote";
import type { HandlerContext } from "./handlers/types";
import { connect, exec, HostError, type SshTarget } from "./ssh";

const HOST_KEY = ed25519KeyPair().private;
const CLIENT_KEY = ed25519KeyPair().private;

/** What a misbehaving server does with each client connection. */
type Behaviour = (client: Connection, socket: net.Socket) => void;

const servers: { close(): void }[] = [];
afterAll(() => servers.forEach((s) => s.close()));

/** An SSH server on loopback whose `behaviour` decides how each connection goes wrong; its port. */
async function sshServer(behaviour: Behaviour): Promise<number> {
    const server = new Server({ hostKeys: [HOST_KEY] }, (client) => {
        client.on("error", () => undefined);
        // The connection's TCP socket (ssh2 keeps it as _sock): destroying it is the host vanishing.
        const socket = (client as unknown as { _sock: net.Socket })._sock;
        if (!(socket instanceof net.Socket)) throw new Error("ssh2's Connection no longer keeps its socket as _sock: update this test");
        behaviour(client, socket);
    });
    return listen(server as unknown as net.Server, () => server.close());
}

/** A TCP server that does `onSocket` with each connection (a host whose SSH never answers). */
async function tcpServer(onSocket: (s: net.Socket) => void): Promise<number> {
    const server = net.createServer((s) => {
        s.on("error", () => undefined);
        onSocket(s);
    });
    return listen(server, () => server.close());
}

async function listen(server: net.Server, close: () => void): Promise<number> {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push({ close });
    return (server.address() as net.AddressInfo).port;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
    const s = net.createServer();
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    return port;
}

const accept = (client: Connection) => client.on("authentication", (ctx) => ctx.accept());
/** After authentication, hands each exec request to `onExec`. */
const onExec = (handle: (accept: () => any, reject: () => void, client: Connection, socket: net.Socket) => void): Behaviour => (client, socket) => {
    accept(client);
    client.on("ready", () => client.on("session", (acceptSession) => acceptSession().on("exec", (acc, rej) => handle(acc, rej, client, socket))));
};

const ctx: HandlerContext = {
    name: "swarm-node-preflight",
    deadline: () => Date.now() + 60_000,
    docker: () => Promise.reject(new Error("no Docker here")),
    log: () => undefined,
};

/** Runs `echo ok` through the command handler against 127.0.0.1:port, dialled twice at most, 1 s each. */
const runStep = (port: number) =>
    remoteCommand.create(
        { connection: { host: "127.0.0.1", port, user: "root", privateKey: CLIENT_KEY, dialErrorLimit: 1, perDialTimeout: 1 }, create: "echo ok", addPreviousOutputInEnv: false },
        ctx,
    );

let uncaught: unknown[] = [];
const collect = (e: unknown) => uncaught.push(e);
beforeEach(() => {
    uncaught = [];
    process.on("uncaughtException", collect);
});
afterEach(async () => {
    // Late errors (a second 'error' after the step failed) would land here.
    await new Promise((r) => setTimeout(r, 300));
    process.off("uncaughtException", collect);
    expect(uncaught.map(String)).toEqual([]);
});

describe("each phase of an SSH step fails the step, naming the host; the engine never crashes", () => {
    test("the dial: nothing listens (a stopped host)", async () => {
        await expect(runStep(await closedPort())).rejects.toThrow(/^swarm-node-preflight \(create\): host 127\.0\.0\.1: cannot open SSH to root@127\.0\.0\.1:\d+ \(2 attempt\(s\)\): connect ECONNREFUSED/);
    });

    test("the handshake: TCP answers, SSH never does (a frozen host)", async () => {
        const port = await tcpServer(() => undefined);
        await expect(runStep(port)).rejects.toThrow(/host 127\.0\.0\.1: cannot open SSH .*\(2 attempt\(s\)\): Timed out while waiting for handshake/);
    });

    test("the handshake: the host drops the connection after its banner", async () => {
        const port = await tcpServer((s) => s.end("SSH-2.0-OpenSSH_9.2p1\r\n"));
        await expect(runStep(port)).rejects.toThrow(/host 127\.0\.0\.1: cannot open SSH .*\(2 attempt\(s\)\): .*(Connection lost before handshake|closed before the SSH handshake)/);
    });

    test("authentication: the key is refused", async () => {
        const port = await sshServer((client) => client.on("authentication", (c) => c.reject()));
        await expect(runStep(port)).rejects.toThrow(/host 127\.0\.0\.1: cannot open SSH .*All configured authentication methods failed/);
    });

    test("authentication: the host drops the connection mid-way", async () => {
        const port = await sshServer((client, socket) => client.on("authentication", () => socket.destroy()));
        await expect(runStep(port)).rejects.toThrow(/host 127\.0\.0\.1: cannot open SSH .*\(2 attempt\(s\)\)/);
    });

    test("the channel: the session is refused", async () => {
        const port = await sshServer((client) => {
            accept(client);
            client.on("ready", () => client.on("session", (_a, rejectSession) => rejectSession()));
        });
        await expect(runStep(port)).rejects.toThrow(/^swarm-node-preflight \(create\) on host 127\.0\.0\.1 failed after \d+s: .*(Channel open failure|connection was lost)/);
    });

    test("the channel: the host drops the connection as the command starts", async () => {
        const port = await sshServer(onExec((_acc, _rej, _client, socket) => socket.destroy()));
        await expect(runStep(port)).rejects.toThrow(/^swarm-node-preflight \(create\) on host 127\.0\.0\.1 failed after \d+s: the connection was lost while the command ran/);
    });

    test("mid-command: output, then the host is gone", async () => {
        const port = await sshServer(
            onExec((acc, _rej, _client, socket) => {
                acc().write("started\n");
                setTimeout(() => socket.destroy(), 100);
            }),
        );
        await expect(runStep(port)).rejects.toThrow(/on host 127\.0\.0\.1 failed after \d+s: the connection was lost while the command ran/);
    });

    test("mid-command: the host freezes; the connection's keepalive ends the step", async () => {
        const port = await sshServer(onExec((acc, _rej, _client, socket) => {
            acc().write("started\n");
            socket.pause(); // reads nothing more: keepalive requests go unanswered
        }));
        const target: SshTarget = { host: "127.0.0.1", port, user: "root", privateKey: CLIENT_KEY, attempts: 1, timeoutSeconds: 2, keepalive: { intervalMs: 200, countMax: 2 } };
        const client = await connect(target);
        await expect(exec(client, "sleep 600")).rejects.toThrow(HostError);
        client.end();
    });

    test("a step that succeeds still does, on the same handler (so the failures above are the servers', not the client's)", async () => {
        const port = await sshServer(onExec((acc) => {
            const stream = acc();
            stream.write("ok\n");
            stream.exit(0);
            stream.end();
        }));
        await expect(runStep(port)).resolves.toMatchObject({ outputs: { stdout: "ok", stderr: "" } });
    });
});
