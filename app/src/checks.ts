/** The built-in readiness checks: shutdown and memory. */
import { notReady, ready, type ReadinessCheck } from "./readiness";

/** Fails from SIGTERM on, so the load balancer stops sending new requests during the drain. */
export function shutdownCheck(shuttingDown: () => string | undefined): ReadinessCheck {
    return async () => {
        const reason = shuttingDown();
        return reason === undefined ? ready : notReady(`shutting down (${reason}): draining before the server closes`);
    };
}

const MiB = 1024 * 1024;

/**
 * Fails while resident memory is at or above `readyFraction` of the limit, so a replica close
 * to being OOM-killed gets no new work (and can recover by finishing what it has).
 */
export function memoryCheck(limitBytes: number, readyFraction: number, rss: () => number = () => process.memoryUsage.rss()): ReadinessCheck {
    return async () => {
        const used = rss();
        if (used < readyFraction * limitBytes) return ready;
        return notReady(
            `rss ${mib(used)} MiB is ${Math.round((100 * used) / limitBytes)}% of the ${mib(limitBytes)} MiB limit ` +
                `(ready below ${+(100 * readyFraction).toFixed(1)}%)`,
        );
    };
}

function mib(bytes: number): string {
    const m = bytes / MiB;
    return m < 10 ? String(+m.toFixed(1)) : String(Math.round(m));
}
