/** Writing answers: JSON everywhere (Prometheus text for /metrics), never cached by a proxy. */
import type http from "node:http";

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
    send(res, status, "application/json; charset=utf-8", JSON.stringify(body));
}

export function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
    res.writeHead(status, {
        "Content-Type": contentType,
        "Content-Length": Buffer.byteLength(body),
        "Cache-Control": "no-store",
    });
    res.end(body);
}
