/** Running a command on a lab host over SSH, with the lab's key (for reports and tests). */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "./stack";

export const LAB_KEY = path.join(ROOT, ".lab", "ssh", "id_ed25519");

export function sshArgs(address: string, command: string): string[] {
    return ["-i", LAB_KEY, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", `root@${address}`, command];
}

/** stdout of `command` on the host at `address`; throws with stderr on failure. */
export function onLabNode(address: string, command: string): string {
    return execFileSync("ssh", sshArgs(address, command), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60000 });
}
