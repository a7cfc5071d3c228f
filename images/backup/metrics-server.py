"""Serves the backup service's record over HTTP, for Prometheus and the container's health check.

    python3 metrics-server.py <backup dir> <address, "" for all> <port>

GET /metrics      <backup dir>/metrics.prom, as Prometheus text (version 0.0.4)
GET /status.json  <backup dir>/status.json (the last attempt, the last success, the backups kept)

The files are written by the backup cycle (each replaced atomically with a rename), and read
afresh on every request, so this server holds no state and never writes. Prometheus 3 refuses
a scrape without a known Content-Type, which is why a plain file server will not do.
"""

import http.server
import os
import sys

ROUTES = {
    "/metrics": ("metrics.prom", "text/plain; version=0.0.4; charset=utf-8"),
    "/status.json": ("status.json", "application/json"),
}


def main() -> None:
    directory, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "swarm-ha-backup"
        sys_version = ""
        # Seconds a client may stay silent: a stuck one cannot hold its thread forever.
        timeout = 10

        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            self.answer(with_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self.answer(with_body=False)

        def answer(self, with_body: bool) -> None:
            route = ROUTES.get(self.path.split("?", 1)[0])
            if route is None:
                return self.plain(404, "not found: try /metrics or /status.json\n", with_body)
            name, content_type = route
            try:
                with open(os.path.join(directory, name), "rb") as f:
                    body = f.read()
            except FileNotFoundError:
                return self.plain(503, f"no {name} yet: no backup has been attempted\n", with_body)
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def plain(self, status: int, text: str, with_body: bool) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            # The health check asks every 10s: logging each request would bury the backups' log.
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

    server = Server((address, port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
