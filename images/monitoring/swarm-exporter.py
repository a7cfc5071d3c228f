"""swarm-ha's swarm exporter: what the swarm's managers say about its nodes and services.

    python3 swarm-exporter.py --docker-url http://<read-only proxy>:2375 [--port 9323]

Each scrape asks the Docker API (through the read-only proxy: GET /nodes and
GET /services?status=true, both answered only by a manager) and serves:

    swarm_ha_node_ready{node,role,availability}  1 while the swarm sees the node Ready, else 0
    swarm_ha_manager_reachable{node}             1 while that manager is Reachable (or Leader), else 0
    swarm_ha_service_replicas_desired{service}   the tasks the service should run
    swarm_ha_service_replicas_running{service}   the tasks running (and healthy, for a health-checked service)
    swarm_ha_service_updating{service}           1 while the swarm updates (or rolls back) the service, else 0:
                                                 a stop-first update runs fewer tasks for a while, by design

A failed API call fails the scrape (HTTP 500), so `up{job="swarm"}` is 0 and no stale value is
served: the managers' silence (quorum lost) is an alert of its own.
"""
import argparse
import json
import signal
import sys
import threading
import urllib.request

from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily, REGISTRY

API_VERSION = "v1.41"  # Docker 20.10: the first whose /services takes ?status=true


class SwarmCollector:
    def __init__(self, docker_url, timeout):
        self.docker_url = docker_url.rstrip("/")
        self.timeout = timeout

    def get(self, path):
        with urllib.request.urlopen(f"{self.docker_url}/{API_VERSION}{path}", timeout=self.timeout) as r:
            return json.load(r)

    def describe(self):
        # Without this, registering the collector would call collect(), i.e. the Docker API.
        return []

    def collect(self):
        nodes = self.get("/nodes")
        services = self.get("/services?status=true")
        ready = GaugeMetricFamily("swarm_ha_node_ready", "1 while the swarm sees the node Ready, else 0",
                                  labels=["node", "role", "availability"])
        reachable = GaugeMetricFamily("swarm_ha_manager_reachable", "1 while the manager is Reachable or Leader, else 0",
                                      labels=["node"])
        for n in nodes:
            name = n["Description"]["Hostname"]
            role = n["Spec"]["Role"]
            ready.add_metric([name, role, n["Spec"]["Availability"]], 1 if n["Status"]["State"] == "ready" else 0)
            if role == "manager":
                manager = n.get("ManagerStatus") or {}
                reachable.add_metric([name], 1 if manager.get("Reachability") == "reachable" else 0)
        desired = GaugeMetricFamily("swarm_ha_service_replicas_desired", "Tasks the service should run", labels=["service"])
        running = GaugeMetricFamily("swarm_ha_service_replicas_running", "Tasks of the service running", labels=["service"])
        updating = GaugeMetricFamily("swarm_ha_service_updating", "1 while the swarm updates or rolls back the service", labels=["service"])
        for s in services:
            status = s.get("ServiceStatus") or {}
            name = s["Spec"]["Name"]
            desired.add_metric([name], status.get("DesiredTasks", 0))
            running.add_metric([name], status.get("RunningTasks", 0))
            state = (s.get("UpdateStatus") or {}).get("State", "")
            updating.add_metric([name], 1 if state in ("updating", "rollback_started") else 0)
        return [ready, reachable, desired, running, updating]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docker-url", required=True, help="the read-only Docker API proxy, e.g. http://swarm-ha-docker-api:2375")
    parser.add_argument("--port", type=int, default=9323)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per Docker API call")
    args = parser.parse_args()
    REGISTRY.register(SwarmCollector(args.docker_url, args.timeout))
    start_http_server(args.port)
    # As PID 1 a process gets no default action for SIGTERM: without a handler the swarm waits
    # out the stop grace period and kills it, and the Docker provider's delete, which waits for
    # the container to go within that period, fails.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Event().wait()


if __name__ == "__main__":
    main()
