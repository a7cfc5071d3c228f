/**
 * The dev stack written in the forms the released providers accept and read back, so that the
 * first real `pulumi up` passes Check and the second changes nothing (issue 17). The production
 * example gets the same checks in environments.test.ts.
 */
import { MIN_STOP_GRACE_SECONDS } from "../components/common/service-spec";
import { drifting, refusedCopies, replacedNetworks, shortGraces, VXLAN_ID_OPTION } from "./support/provider-forms";
import { FAKE_SSH_KEY, devConfig, runProgram, type RunResult } from "./support/program";

jest.setTimeout(60_000);

describe("the dev stack in the providers' forms", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram({ ...devConfig(), "swarm-ha:sshPrivateKey": FAKE_SSH_KEY });
    });

    test("every service equals what the Docker provider reads back after creating it: a second up changes nothing", () => {
        expect(run.resources.filter((r) => r.type === "docker:index/service:Service").length).toBeGreaterThan(10);
        expect(drifting(run)).toEqual([]);
    });

    test("every overlay network names its own VXLAN ID, distinct, so its options read back as sent", () => {
        expect(replacedNetworks(run)).toEqual([]);
        const ids = run.resources.filter((r) => r.type === "docker:index/network:Network").map((n) => n.inputs.options[VXLAN_ID_OPTION]);
        expect(ids).toHaveLength(5);
        expect(new Set(ids).size).toBe(5);
    });

    test("every service's stop grace period leaves the Docker provider's delete time to see its containers removed (30 s)", () => {
        expect(MIN_STOP_GRACE_SECONDS).toBe(30);
        expect(shortGraces(run, MIN_STOP_GRACE_SECONDS)).toEqual([]);
    });

    test("every build context is a path archive of a directory with a Dockerfile, which CopyToRemote 1.2.1 accepts", async () => {
        expect(run.resources.some((r) => r.type === "command:remote:CopyToRemote")).toBe(true);
        expect(await refusedCopies(run)).toEqual([]);
    });
});
