#!/usr/bin/env python3
"""swarm-ha-alertmanager-check SERVICE PORT COUNT: run inside a node-exporter container on the
monitoring network (`docker exec`) by the health step at the end of every update
(components/cluster/scripts/tier-health.sh).

The Alertmanagers work as one when COUNT of them run (`tasks.SERVICE` resolves to COUNT
addresses) and each one, asked on PORT (GET /api/v2/status), is in a ready cluster of exactly
COUNT peers. Two that do not see each other each send every notification (the pager rings
twice) and keep their own silences (a silence set on one does not hold on the other). Prints one
line per difference and exits 1; prints one summary line and exits 0 when there is none.

Test override: SWARM_HA_ALERTMANAGER_URLS (space-separated base URLs, in place of the tasks'
addresses on PORT).
"""
import json
import os
import socket
import sys
import urllib.request


def task_urls(service, port):
    """The base URL of each running task: Swarm's DNS answers tasks.<service> with each task's address."""
    override = os.environ.get("SWARM_HA_ALERTMANAGER_URLS")
    if override is not None:
        return override.split()
    try:
        answers = socket.getaddrinfo(f"tasks.{service}", port, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return [f"http://{address}:{port}" for address in sorted({a[4][0] for a in answers})]


def status(url):
    with urllib.request.urlopen(url + "/api/v2/status", timeout=3) as response:
        return json.load(response)


def problems(urls, count):
    found = []
    if len(urls) != count:
        found.append(f"alertmanager: {len(urls)} running ({' '.join(urls) or 'none'}), {count} declared")
    for url in urls:
        try:
            cluster = status(url).get("cluster") or {}
        except Exception as e:  # any failure to answer is a difference to report, not a crash
            found.append(f"alertmanager: {url} does not answer its status: {e}")
            continue
        peers = sorted(p.get("address", "?") for p in cluster.get("peers") or [])
        if cluster.get("status") != "ready":
            found.append(f"alertmanager: {url}'s cluster is {cluster.get('status')}, not ready")
        if len(peers) != count:
            found.append(f"alertmanager: {url} is in a cluster of {len(peers)} ({' '.join(peers) or 'no peer'}), not {count}: the others get no silence set on it, and each sends every notification")
    return found


def main():
    if len(sys.argv) != 4 or not sys.argv[2].isdigit() or not sys.argv[3].isdigit():
        print("usage: swarm-ha-alertmanager-check SERVICE PORT COUNT", file=sys.stderr)
        return 2
    service, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    urls = task_urls(service, port)
    found = problems(urls, count)
    if found:
        print("\n".join(found))
        return 1
    print(f"alertmanager: {count} clustered and ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
