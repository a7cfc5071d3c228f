/** Ports for the real servers the tests start (HAProxy, Redis, Postgres, etcd...) on loopback. */
import * as net from "node:net";

/**
 * Jest runs two test files at once (jest.config.js). Each worker takes its ports from a range of
 * its own, below the kernel's ephemeral range (32768 and up): a port one file's server gave up
 * for a moment (a Redis or etcd restarted on the same port) is never handed to the other file,
 * as the kernel's own port 0 could.
 */
const WORKER = Math.max(1, Number(process.env.JEST_WORKER_ID ?? 1));
const RANGE_SIZE = 3000;
const RANGE_START = 20000 + ((WORKER - 1) % 4) * RANGE_SIZE;

/**
 * `n` ports from this worker's range, free on every one of `hosts` (loopback addresses) just
 * now: free for the servers a test starts next.
 */
export async function freePorts(n: number, hosts: string[] = ["127.0.0.1"]): Promise<number[]> {
    const listen = (host: string, port: number) =>
        new Promise<net.Server | undefined>((resolve) => {
            const s = net.createServer();
            s.once("error", () => resolve(undefined));
            s.listen(port, host, () => resolve(s));
        });
    const ports: number[] = [];
    for (let tries = 0; ports.length < n; tries++) {
        if (tries > 1000) throw new Error(`cannot find ${n} free ports in ${RANGE_START}-${RANGE_START + RANGE_SIZE - 1} on ${hosts.join(", ")}`);
        const port = RANGE_START + Math.floor(Math.random() * RANGE_SIZE);
        const first = await listen(hosts[0], port);
        if (!first) continue; // taken: try another
        const others = await Promise.all(hosts.slice(1).map((h) => listen(h, port)));
        for (const s of [first, ...others]) if (s) await new Promise((r) => s.close(r));
        if (others.every(Boolean) && !ports.includes(port)) ports.push(port);
    }
    return ports;
}
