/**
 * Entry point: read the environment, listen, and turn SIGTERM/SIGINT into the graceful
 * shutdown. A second signal during the shutdown exits at once (code 1).
 */
import { ConfigError, loadConfig, type Config } from "./config";
import { jsonLogger } from "./log";
import { createApp } from "./server";
import { readVersion } from "./version";

const log = jsonLogger();

let config: Config;
try {
    config = loadConfig();
} catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(JSON.stringify({ event: "config-error", variable: err.variable, error: err.message }) + "\n");
    process.exit(2);
}

const version = readVersion();
const app = createApp({ ...config, version, log });

app.server.on("error", (err) => {
    log("server-error", { error: err.message });
    process.exit(1);
});

app.server.listen(config.port, () => {
    const address = app.server.address();
    log("listening", {
        port: typeof address === "object" && address ? address.port : config.port,
        instance: config.instance,
        version,
        pid: process.pid,
        node: process.version,
        drainSeconds: config.drainSeconds,
        shutdownTimeoutSeconds: config.shutdownTimeoutSeconds,
        memoryLimitBytes: config.memoryLimitBytes,
        memoryLimitSource: config.memoryLimitSource,
        memoryGuard: config.memoryLimitBytes === null ? "off" : `not ready from ${+(config.memoryReadyFraction * 100).toFixed(1)}% of the limit`,
        // Where the data tier is, never what opens it: the secret files' paths, not their content.
        postgres: config.postgres ?? "off (no PGHOST: the to-do endpoints answer 404)",
        redis: config.redis
            ? { ...config.redis, sentinels: config.redis.sentinels.map((s) => `${s.host}:${s.port}`).join(","), cacheTtlSeconds: config.cacheTtlSeconds }
            : "off (no REDIS_SENTINELS: nothing is cached)",
    });
});

let signalled = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
        if (signalled) {
            log("forced-exit", { signal, exitCode: 1 });
            process.exit(1);
        }
        signalled = true;
        void app.beginShutdown(signal).then((code) => process.exit(code));
    });
}
