/**
 * The machine that runs `pulumi up`: settings in its environment that the released providers
 * read and that would take them away from the stack's hosts. Checked before the program
 * declares anything, so a run refuses at once with the fix instead of failing every step.
 */
import * as fs from "node:fs";

/** What is wrong with this environment for the providers, each with its fix. */
export function machineProblems(env: Record<string, string | undefined>): string[] {
    const problems: string[] = [];
    // The Docker provider's `context` defaults to DOCKER_CONTEXT and overrides `host`
    // (terraform-provider-docker v4.5.0 internal/provider/provider.go:59-63, 204-215).
    if (env.DOCKER_CONTEXT && env.DOCKER_CONTEXT !== "default") {
        problems.push(
            `DOCKER_CONTEXT is set (${env.DOCKER_CONTEXT}): the Docker provider would use that context instead of the swarm's first manager. ` +
                "Unset it for pulumi (unset DOCKER_CONTEXT, or env -u DOCKER_CONTEXT pulumi up)",
        );
    }
    // TLS settings take the provider's TLS branch before its ssh:// one (internal/provider/config.go:129-176).
    for (const name of ["DOCKER_CERT_PATH", "DOCKER_CA_MATERIAL", "DOCKER_CERT_MATERIAL", "DOCKER_KEY_MATERIAL"]) {
        if (env[name]) {
            problems.push(`${name} is set: the Docker provider would talk TLS to the swarm's first manager instead of SSH. Unset it for pulumi (unset ${name})`);
        }
    }
    // pulumi-command dials the agent whenever SSH_AUTH_SOCK is set, and a failed dial fails every
    // command and copy (provider/pkg/provider/remote/connection_unix.go:12-17, connection.go:135-142).
    const sock = env.SSH_AUTH_SOCK;
    if (sock && !isSocket(sock)) {
        problems.push(
            `SSH_AUTH_SOCK names ${sock}, which is not a socket (a stale agent after a reconnect?): the command provider would fail every step dialling it. ` +
                "Start an agent (eval $(ssh-agent)) or unset SSH_AUTH_SOCK; swarm-ha uses the key from config either way",
        );
    }
    return problems;
}

function isSocket(p: string): boolean {
    try {
        return fs.statSync(p).isSocket();
    } catch {
        return false;
    }
}

/** Throws one error listing every problem of this machine's environment. */
export function checkMachine(env: Record<string, string | undefined> = process.env): void {
    const problems = machineProblems(env);
    if (problems.length > 0) throw new Error(`swarm-ha: this machine's environment would send the providers elsewhere:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
}
