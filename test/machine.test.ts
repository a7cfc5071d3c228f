/** The machine that runs pulumi: environment settings the released providers read, refused with the fix. */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { checkMachine, machineProblems } from "../components/common/machine";

test("a clean environment (or the default Docker context) has no problem", () => {
    expect(machineProblems({ PATH: "/usr/bin", DOCKER_HOST: "unix:///var/run/docker.sock" })).toEqual([]);
    expect(machineProblems({ DOCKER_CONTEXT: "default" })).toEqual([]);
});

test("DOCKER_CONTEXT and the Docker TLS settings would send the Docker provider elsewhere: each is named with how to unset it", () => {
    const problems = machineProblems({ DOCKER_CONTEXT: "prod", DOCKER_CERT_PATH: "/certs", DOCKER_KEY_MATERIAL: "x" });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^DOCKER_CONTEXT is set \(prod\): .*unset DOCKER_CONTEXT/);
    expect(problems[1]).toMatch(/^DOCKER_CERT_PATH is set: .*TLS.*unset DOCKER_CERT_PATH/);
    expect(problems[2]).toMatch(/^DOCKER_KEY_MATERIAL is set/);
    expect(() => checkMachine({ DOCKER_CONTEXT: "prod" })).toThrow(/this machine's environment would send the providers elsewhere:\n {2}- DOCKER_CONTEXT/);
});

test("a stale SSH_AUTH_SOCK (no socket there) is refused; a live agent socket is fine", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-agent-"));
    const sock = path.join(dir, "agent.sock");
    expect(machineProblems({ SSH_AUTH_SOCK: sock })[0]).toMatch(/SSH_AUTH_SOCK names .*agent\.sock, which is not a socket.*unset SSH_AUTH_SOCK/);
    const server = net.createServer().listen(sock);
    await new Promise((r) => server.once("listening", r));
    try {
        expect(machineProblems({ SSH_AUTH_SOCK: sock })).toEqual([]);
    } finally {
        server.close();
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
