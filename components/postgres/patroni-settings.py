"""patroni-settings SETTINGS_JSON [WAIT_SECONDS]: the cluster-wide Patroni settings from config,
applied to a running cluster without restarting a member.

Run by the postgres-settings step (components/cluster/scripts/patroni-settings.sh) inside a
Postgres member's container: `docker exec -i <task> python3 - SETTINGS_JSON`, this text on stdin,
so that a member of an older image runs it too. SETTINGS_JSON is an object of Patroni's dynamic
settings (e.g. {"synchronous_mode": true, "maximum_lag_on_failover": 1048576}).

Patroni keeps these in etcd, not in patroni.yml: `bootstrap.dcs` is read once, when the cluster
is created. `PATCH /config` on a member's REST API writes them there, and every member applies
them in its next loop, with no restart (Patroni's dynamic configuration; this container is on its
REST API's allowlist). Only the settings that differ are sent. Waits, within WAIT_SECONDS (120),
for the cluster to exist (a new cluster: the first member bootstraps it). Prints one line per
setting changed, or that none was; exits 1 with the reason when they cannot be applied.

Test override: SWARM_HA_PATRONI_URL (http://127.0.0.1:8008).
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

API = os.environ.get("SWARM_HA_PATRONI_URL", "http://127.0.0.1:8008")


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(API + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def current_config():
    """The cluster's dynamic configuration, once the cluster exists (else None)."""
    try:
        config = call("GET", "/config")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    # Before the cluster is bootstrapped there is no configuration in etcd yet.
    return config if isinstance(config, dict) and "ttl" in config else None


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: patroni-settings SETTINGS_JSON [WAIT_SECONDS]", file=sys.stderr)
        return 2
    desired = json.loads(argv[1])
    wait_seconds = float(argv[2]) if len(argv) == 3 else 120.0
    if not isinstance(desired, dict) or not desired:
        print("patroni-settings: SETTINGS_JSON must be a non-empty JSON object", file=sys.stderr)
        return 2

    deadline = time.monotonic() + wait_seconds
    config = current_config()
    while config is None:
        if time.monotonic() > deadline:
            print(f"patroni-settings: Patroni's configuration could not be read at {API}/config within {wait_seconds:.0f} s (is the cluster up?)", file=sys.stderr)
            return 1
        time.sleep(1)
        config = current_config()

    changes = {key: value for key, value in desired.items() if config.get(key) != value}
    if not changes:
        print("patroni-settings: unchanged (" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(desired.items())) + ")")
        return 0
    try:
        applied = call("PATCH", "/config", changes)
    except urllib.error.HTTPError as e:
        print(f"patroni-settings: Patroni refused {json.dumps(changes)}: HTTP {e.code} {e.read().decode(errors='replace').strip()}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as e:
        print(f"patroni-settings: {API}/config could not be changed: {e}", file=sys.stderr)
        return 1
    wrong = {key: applied.get(key) for key, value in changes.items() if applied.get(key) != value}
    if wrong:
        print(f"patroni-settings: Patroni's configuration holds {json.dumps(wrong)} after asking for {json.dumps(changes)}", file=sys.stderr)
        return 1
    for key, value in sorted(changes.items()):
        print(f"patroni-settings: {key} {json.dumps(config.get(key))} -> {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
