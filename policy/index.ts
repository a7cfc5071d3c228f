/**
 * The `swarm-ha-ha` policy pack, for a stack to enforce in preview and update:
 *
 *   pulumi preview --policy-pack policy
 *   pulumi preview --policy-pack policy --policy-pack-config policy/lab.config.json   # the lab
 *
 * The policies are in ./policies.ts (tests call them there). The Pulumi CLI runs a Node.js
 * pack with @pulumi/pulumi's `run-policy-pack` (from this directory, which needs the
 * package.json beside this file for the pack's version); a PolicyPack starts the gRPC
 * server the CLI talks to, so it is created only then, never when something else imports
 * this file.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

/** Is this process the Pulumi CLI's policy pack runner (`node .../@pulumi/pulumi/cmd/run-policy-pack`)? */
export function runByPulumiCli(argv: string[] = process.argv): boolean {
    return /[\\/]run-policy-pack([\\/]|$)/.test(argv[1] ?? "");
}

if (runByPulumiCli()) {
    new PolicyPack("swarm-ha-ha", { policies, enforcementLevel: "mandatory" });
}
