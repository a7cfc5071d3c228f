/** Running a command on a lab host over SSH, with the lab's key (for reports and tests). */
import { execFileSync } from "node:child_process";
import { LAB_SSH_OPTIONS } from "./constants";
import { readHosts } from "./stack";

export { LAB_KEY } from "./constants";

export function sshArgs(address: string, command: string): string[] {
    return [...LAB_SSH_OPTIONS, `root@${address}`, command];
}

/** stdout of `command` on the host at `address`; throws with stderr on failure. */
export function onLabNode(address: string, command: string): string {
    return execFileSync("ssh", sshArgs(address, command), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60000 });
}

/**
 * The hosts' Docker engine and Debian release, as the benchmarks record them beside their
 * numbers: "26.1.5+dfsg1 (API 1.45), Debian trixie". Asks the first host, so the lab must be up.
 */
export function hostsEngine(hosts = readHosts()): string {
    const version = onLabNode(hosts.nodes[0].address, "docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'").trim();
    // A hosts.json from before `lab/hosts.sh up` recorded the suite was always bookworm.
    return `${version}, Debian ${hosts.debian ?? "bookworm"}`;
}
