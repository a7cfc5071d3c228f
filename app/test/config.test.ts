/** Environment parsing: defaults, the cgroup memory limit, and errors that name the variable. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { CGROUP_V1_MEMORY_LIMIT, CGROUP_V2_MEMORY_MAX, ConfigError, loadConfig, readSecretFile, type ReadFile } from "../src/config";

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
        postgres: null,
        redis: null,
        cacheTtlSeconds: 60,
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
        postgres: null,
        redis: null,
        cacheTtlSeconds: 60,
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

describe("the data tier", () => {
    const secrets = files({ "/run/secrets/pg": "s3cret\n", "/run/secrets/redis": "other\n" });

    test("PGHOST turns Postgres on, with the stack's defaults for the rest", () => {
        expect(loadConfig({ PGHOST: "swarm-ha-pg-proxy" }, noCgroup).postgres).toEqual({
            host: "swarm-ha-pg-proxy",
            port: 5432,
            readOnlyPort: 5433,
            database: "app",
            user: "app",
            passwordFile: null,
        });
        const env = { PGHOST: "db", PGPORT: "6432", PGPORT_READONLY: "6433", PGDATABASE: "todo", PGUSER: "todo_rw", PGPASSWORD_FILE: "/run/secrets/pg" };
        expect(loadConfig(env, secrets).postgres).toEqual({ host: "db", port: 6432, readOnlyPort: 6433, database: "todo", user: "todo_rw", passwordFile: "/run/secrets/pg" });
    });

    test("REDIS_SENTINELS turns the cache on; the password stays in its file, out of the config", () => {
        const config = loadConfig({ REDIS_SENTINELS: "sentinel-a:26379, sentinel-b:26380,[fd00::3]:26379", REDIS_PASSWORD_FILE: "/run/secrets/redis", CACHE_TTL_SECONDS: "5" }, secrets);
        expect(config.redis).toEqual({
            sentinels: [
                { host: "sentinel-a", port: 26379 },
                { host: "sentinel-b", port: 26380 },
                { host: "fd00::3", port: 26379 },
            ],
            masterName: "mymaster",
            passwordFile: "/run/secrets/redis",
        });
        expect(config.cacheTtlSeconds).toBe(5);
        expect(JSON.stringify(config)).not.toMatch(/s3cret|other/);
        expect(loadConfig({ REDIS_SENTINELS: "s:1", REDIS_MASTER_NAME: "cache" }, noCgroup).redis?.masterName).toBe("cache");
    });

    test("readSecretFile drops the trailing newline(s), as $(cat file) does", () => {
        const dir = mkdtempSync(join(tmpdir(), "app-secret-"));
        try {
            writeFileSync(join(dir, "pw"), "pa ss\r\n\n");
            expect(readSecretFile(join(dir, "pw"))).toBe("pa ss");
            expect(() => readSecretFile(join(dir, "missing"))).toThrow(`cannot read the secret file ${join(dir, "missing")}: ENOENT`);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

test.each([
    ["PGPORT", "0"],
    ["PGPORT_READONLY", "postgres"],
    ["REDIS_SENTINELS", "sentinel-a"],
    ["REDIS_SENTINELS", "a:26379,,b:26379"],
    ["REDIS_SENTINELS", "a:99999"],
    ["CACHE_TTL_SECONDS", "0"],
])("%s=%s is an error naming the variable", (variable, value) => {
    let error: unknown;
    try {
        loadConfig({ PGHOST: "db", [variable]: value }, noCgroup);
    } catch (e) {
        error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(new RegExp(`^${variable} must be .*; got "${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"$`));
});

test.each(["PGPASSWORD_FILE", "REDIS_PASSWORD_FILE"])("%s naming a file that cannot be read is an error naming the variable", (variable) => {
    expect(() => loadConfig({ PGHOST: "db", REDIS_SENTINELS: "s:26379", [variable]: "/run/secrets/missing" }, noCgroup)).toThrow(
        new ConfigError(variable, 'must name a readable file (a Docker secret, e.g. /run/secrets/app-db-password); cannot read "/run/secrets/missing"'),
    );
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
