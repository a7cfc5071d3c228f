/** Running a command on a lab host over SSH, with the lab's key (for reports and tests). */
import { execFileSync } from "node:child_process";
import { LAB_SSH_OPTIONS } from "./constants";

export { LAB_KEY } from "./constants";

export function sshArgs(address: string, command: string): string[] {
    return [...LAB_SSH_OPTIONS, `root@${address}`, command];
}

/** stdout of `command` on the host at `address`; throws with stderr on failure. */
export function onLabNode(address: string, command: string): string {
    return execFileSync("ssh", sshArgs(address, command), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60000 });
}
