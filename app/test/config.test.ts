/** Environment parsing: defaults, the cgroup memory limit, and errors that name the variable. */
import { hostname } from "node:os";
import { CGROUP_V1_MEMORY_LIMIT, CGROUP_V2_MEMORY_MAX, ConfigError, loadConfig, type ReadFile } from "../src/config";

const noCgroup: ReadFile = () => undefined;
const files = (content: Record<string, string>): ReadFile => (path) => content[path];

test("defaults", () => {
    expect(loadConfig({}, noCgroup)).toEqual({
        port: 8080,
        instance: hostname(),
        drainSeconds: 5,
        shutdownTimeoutSeconds: 15,
        memoryReadyFraction: 0.9,
        memoryLimitBytes: null,
        memoryLimitSource: "none",
    });
});

test("every variable is read; empty means unset", () => {
    const env = { PORT: "18080", INSTANCE: "web.2.abc", DRAIN_SECONDS: "0.5", SHUTDOWN_TIMEOUT_SECONDS: "30", MEMORY_READY_FRACTION: "0.75", MEMORY_LIMIT_BYTES: "536870912" };
    expect(loadConfig(env, noCgroup)).toEqual({
        port: 18080,
        instance: "web.2.abc",
        drainSeconds: 0.5,
        shutdownTimeoutSeconds: 30,
        memoryReadyFraction: 0.75,
        memoryLimitBytes: 536870912,
        memoryLimitSource: "MEMORY_LIMIT_BYTES",
    });
    expect(loadConfig({ PORT: "", INSTANCE: " ", DRAIN_SECONDS: "0" }, noCgroup)).toMatchObject({ port: 8080, instance: hostname(), drainSeconds: 0 });
});

describe("the memory limit", () => {
    test.each([
        ["cgroup v2 with a limit", { [CGROUP_V2_MEMORY_MAX]: "1073741824\n" }, 1073741824, "cgroup v2"],
        ["cgroup v2 without one", { [CGROUP_V2_MEMORY_MAX]: "max\n" }, null, "none"],
        ["cgroup v1 with a limit", { [CGROUP_V1_MEMORY_LIMIT]: "268435456\n" }, 268435456, "cgroup v1"],
        ["cgroup v1 unlimited (about 2^63)", { [CGROUP_V1_MEMORY_LIMIT]: "9223372036854771712\n" }, null, "none"],
        ["v2 before v1", { [CGROUP_V2_MEMORY_MAX]: "1000", [CGROUP_V1_MEMORY_LIMIT]: "2000" }, 1000, "cgroup v2"],
        ["no cgroup files", {}, null, "none"],
    ])("%s", (_name, content, bytes, source) => {
        expect(loadConfig({}, files(content))).toMatchObject({ memoryLimitBytes: bytes, memoryLimitSource: source });
    });

    test("MEMORY_LIMIT_BYTES overrides the cgroup; \"max\" turns the guard off", () => {
        const cgroup = files({ [CGROUP_V2_MEMORY_MAX]: "1073741824" });
        expect(loadConfig({ MEMORY_LIMIT_BYTES: "1048576" }, cgroup)).toMatchObject({ memoryLimitBytes: 1048576, memoryLimitSource: "MEMORY_LIMIT_BYTES" });
        expect(loadConfig({ MEMORY_LIMIT_BYTES: "max" }, cgroup)).toMatchObject({ memoryLimitBytes: null, memoryLimitSource: "MEMORY_LIMIT_BYTES" });
    });
});

test.each([
    ["PORT", "http"],
    ["PORT", "65536"],
    ["PORT", "-1"],
    ["DRAIN_SECONDS", "-1"],
    ["DRAIN_SECONDS", "5s"],
    ["SHUTDOWN_TIMEOUT_SECONDS", "0"],
    ["SHUTDOWN_TIMEOUT_SECONDS", "forever"],
    ["MEMORY_READY_FRACTION", "0"],
    ["MEMORY_READY_FRACTION", "1.5"],
    ["MEMORY_READY_FRACTION", "90%"],
    ["MEMORY_LIMIT_BYTES", "0"],
    ["MEMORY_LIMIT_BYTES", "512Mi"],
    ["MEMORY_LIMIT_BYTES", "99999999999999999999"],
])("%s=%s is an error naming the variable", (variable, value) => {
    let error: unknown;
    try {
        loadConfig({ [variable]: value }, noCgroup);
    } catch (e) {
        error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(new RegExp(`^${variable} must be .*; got "${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"$`));
});
