#!/usr/bin/env python3
"""swarm-ha-patroni-check MEMBER...: run inside a Postgres member's container (`docker exec`) by
the health step at the end of every update (components/cluster/scripts/tier-health.sh).

Postgres works as one when, in the view of this member's Patroni (its REST API, GET /cluster and
/config): there is exactly one leader; every declared MEMBER is in the cluster and running; every
replica streams from the leader (its lag is known); and, with synchronous mode on and more than
one member, one of them is a synchronous standby, so that an acknowledged write survives the
next failover. A member the run no longer declares may still be listed (Pulumi removes services
last) and is not judged. Prints one line per difference and exits 1; prints one summary line and
exits 0 when there is none.

Test override: SWARM_HA_PATRONI_URL (http://127.0.0.1:8008).
"""
import json
import os
import sys
import urllib.request

API = os.environ.get("SWARM_HA_PATRONI_URL", "http://127.0.0.1:8008")
RUNNING = ("running", "streaming")


def get(path):
    with urllib.request.urlopen(API + path, timeout=3) as response:
        return json.load(response)


def problems(expected, cluster, config):
    found = []
    members = {m.get("name"): m for m in cluster.get("members", [])}
    leaders = sorted(name for name, m in members.items() if m.get("role") in ("leader", "standby_leader"))
    if len(leaders) != 1:
        found.append(f"patroni: {len(leaders)} leaders ({', '.join(leaders) or 'none'}); writes need exactly one")
    for name in expected:
        m = members.get(name)
        if m is None:
            found.append(f"patroni: member {name} is not in the cluster (its Patroni is not running or cannot reach etcd)")
        elif m.get("state") not in RUNNING:
            found.append(f"patroni: member {name} is {m.get('state')}, not running")
        elif m.get("role") not in ("leader", "standby_leader") and not isinstance(m.get("lag"), int):
            found.append(f"patroni: member {name} does not stream from the leader (lag {m.get('lag')})")
    if config.get("synchronous_mode") and len(expected) > 1:
        if not any(m.get("role") == "sync_standby" and m.get("state") in RUNNING for m in members.values()):
            found.append("patroni: synchronous mode is on but no member is a running synchronous standby: the next failover could lose acknowledged writes")
    return found


def main():
    expected = sys.argv[1:]
    if not expected:
        print("patroni: usage: swarm-ha-patroni-check MEMBER...")
        return 2
    try:
        cluster, config = get("/cluster"), get("/config")
    except Exception as error:  # any failure to ask is the answer: this member cannot say
        print(f"patroni: this member's REST API does not answer ({error})")
        return 1
    found = problems(expected, cluster, config)
    if found:
        print("\n".join(found))
        return 1
    leader = next(m["name"] for m in cluster["members"] if m.get("role") in ("leader", "standby_leader"))
    print(f"patroni: {leader} leads; {', '.join(expected)} running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
