/** Ports for the real servers the tests start (HAProxy, Redis, Postgres, etcd...) on loopback. */
import * as net from "node:net";

/**
 * `n` ports the OS has just handed out and taken back, free on every one of `hosts` (loopback
 * addresses): free for the servers a test starts next.
 */
export async function freePorts(n: number, hosts: string[] = ["127.0.0.1"]): Promise<number[]> {
    const listen = (host: string, port: number) =>
        new Promise<net.Server | undefined>((resolve) => {
            const s = net.createServer();
            s.once("error", () => resolve(undefined));
            s.listen(port, host, () => resolve(s));
        });
    const ports: number[] = [];
    while (ports.length < n) {
        const first = await listen(hosts[0], 0);
        if (!first) throw new Error(`cannot listen on ${hosts[0]}`);
        const port = (first.address() as net.AddressInfo).port;
        const others = await Promise.all(hosts.slice(1).map((h) => listen(h, port)));
        for (const s of [first, ...others]) if (s) await new Promise((r) => s.close(r));
        if (others.every(Boolean) && !ports.includes(port)) ports.push(port);
    }
    return ports;
}
