/**
 * Keep-alive races through the lab's VIP: bursts of concurrent POSTs on long-lived keep-alive
 * connections, one burst every `--gap-ms` (± `--jitter-ms`/2), so that idle connections are
 * reused right when one side's idle timeout closes them: the client's to the edge (the edge
 * closes after CLIENT_KEEP_ALIVE_SECONDS), and the edge's to the app (Node's default would close
 * after 5 s). Node's http agent reads the Keep-Alive header, as many clients do. A request
 * that fails prints its error; the exit code is 1 when any failed.
 *
 * Found with it (Debian 12 lab, 150 s, 30 wide, every 4.98-5.04 s): 8 of 900 POSTs failed
 * (HAProxy 502, "SH--") while the app closed idle connections after 5 s; 22 of 900 (ECONNRESET)
 * while the edge passed on the app's Keep-Alive; none with both fixed.
 */
import http from "node:http";
import { readHosts } from "./stack";
import { parseCli, wholeNumber } from "../support/cli";

const USAGE = "npx tsx lab/keep-alive-race.ts [--seconds 150] [--width 30] [--gap-ms 4980] [--jitter-ms 60]";

function post(agent: http.Agent, host: string, i: number): Promise<string> {
    const body = JSON.stringify({ title: `keep-alive race ${i}` });
    return new Promise((resolve) => {
        const req = http.request(
            { host, port: 80, path: "/todos", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
            (res) => {
                res.resume();
                res.on("end", () => resolve(res.statusCode === 201 ? "ok" : `HTTP ${res.statusCode}`));
            },
        );
        req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.end(body);
    });
}

async function main(): Promise<number> {
    const { values } = parseCli(USAGE, { seconds: { type: "string" }, width: { type: "string" }, "gap-ms": { type: "string" }, "jitter-ms": { type: "string" } });
    const seconds = wholeNumber(values.seconds, "--seconds", 150);
    const width = wholeNumber(values.width, "--width", 30);
    const gapMs = wholeNumber(values["gap-ms"], "--gap-ms", 4980);
    const jitterMs = wholeNumber(values["jitter-ms"], "--jitter-ms", 60, 0);
    const host = readHosts().vip;
    const agent = new http.Agent({ keepAlive: true, maxSockets: width });
    const counts: Record<string, number> = {};
    const end = Date.now() + seconds * 1000;
    let sent = 0;
    while (Date.now() < end) {
        const results = await Promise.all(Array.from({ length: width }, () => post(agent, host, sent++)));
        for (const r of results) counts[r] = (counts[r] ?? 0) + 1;
        await new Promise((r) => setTimeout(r, gapMs + Math.random() * jitterMs));
    }
    agent.destroy();
    console.log(`[lab] keep-alive race: ${sent} POSTs to http://${host}/todos, ${width} at a time every ${gapMs}-${gapMs + jitterMs} ms: ${JSON.stringify(counts)}`);
    return sent === (counts.ok ?? 0) ? 0 : 1;
}

main().then((code) => process.exit(code));
