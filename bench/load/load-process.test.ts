/**
 * The load in a process of its own (./load-process.ts), against a server on 127.0.0.1: reads and
 * numbered writes go on while the benchmark's own process is blocked, and every result comes back.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { startLoad } from "./load-process";

let server: http.Server;
let url: string;
const stored: number[] = [];

beforeAll(async () => {
    server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => {
            if (req.method === "POST") {
                const { seq } = JSON.parse(body) as { seq: number };
                // Every seventh write is refused: as the app without its database would (naming
                // it), or, every fourteenth, as an edge with no server would (an HTML page).
                if (seq % 14 === 0) return void res.writeHead(503, { "content-type": "text/html" }).end("<html><body><h1>503 Service Unavailable</h1></body></html>");
                if (seq % 7 === 0) return void res.writeHead(503, { "content-type": "application/json" }).end('{"error":"Postgres is unavailable: x","dependency":"postgres"}');
                stored.push(seq);
                res.writeHead(201, { "content-type": "application/json" }).end("{}");
            } else res.writeHead(200, { "content-type": "application/json" }).end('{"instance":"a"}');
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

test("reads and writes go on, on schedule, while this process is blocked; stop() returns every result, each refused write with its reason", async () => {
    const load = startLoad({ reads: { url: `${url}/`, ratePerSecond: 50, keepResults: true }, writes: { url: `${url}/todos`, base: 1000, perSecond: 10 } });
    await load.ready;
    await new Promise((r) => setTimeout(r, 500));
    // A synchronous stall here (as a `docker exec` or a busy deploy poll is): 1.5 s.
    const until = Date.now() + 1500;
    while (Date.now() < until);
    await new Promise((r) => setTimeout(r, 1000));
    const { reads, writes, nice } = await load.stop();

    // The child kept starting requests through the stall: no gap in its schedule anywhere near
    // the stall's length (sharing this event loop, it would show a 1.5 s gap).
    const starts = reads!.results!.map((r) => r.startedAt);
    const longestGap = Math.max(...starts.slice(1).map((s, i) => s - starts[i]));
    expect(longestGap).toBeLessThan(750);
    expect(reads!.total).toBe(reads!.results!.length);
    expect(reads!.total).toBeGreaterThan(100);
    expect(reads!.failed).toBe(0); // answered late (this process was the server), not lost

    expect(writes!.length).toBeGreaterThan(20);
    expect(writes!.map((w) => w.seq)).toEqual(writes!.map((_, i) => 1001 + i));
    const refused = writes!.filter((w) => !w.ok);
    expect(refused.map((w) => w.seq)).toEqual(writes!.map((w) => w.seq).filter((seq) => seq % 7 === 0));
    expect(refused.map((w) => w.error)).toEqual(refused.map((w) => (w.seq % 14 === 0 ? "HTTP 503" : "HTTP 503 postgres")));
    expect(stored.sort((a, b) => a - b)).toEqual(writes!.filter((w) => w.ok).map((w) => w.seq));
    if (process.getuid?.() === 0) expect(nice).toBeLessThan(0);
});
