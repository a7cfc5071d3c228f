"""patroni-handover MEMBER WAIT_SECONDS [DECLARED_MEMBER ...]: before MEMBER's container restarts
(a new image, a changed patroni.yml, a new password file), the leader role moved off MEMBER by a
Patroni switchover, so that the restart stops a replica, never the primary.

Run by a member's postgres-handover step (components/cluster/scripts/patroni-handover.sh) inside
MEMBER's own container, just before the Docker provider updates MEMBER's service: `docker exec -i
<task> python3 - MEMBER WAIT_SECONDS DECLARED...`, this text on stdin, so that a member of an older
image runs it too. DECLARED are the members in config.

- MEMBER does not lead: nothing to do (its restart moves no leader).
- MEMBER's Patroni does not answer (within 10 s, or WAIT_SECONDS if shorter): the Postgres proxy sends writers only to the
  member whose Patroni answers /primary, so none reach this one; nothing to hand over.
- MEMBER leads: waits, within WAIT_SECONDS, until another declared member can take over (in
  synchronous mode, Patroni's synchronous standby: a member that restarted in the step before
  this one catches up first), then asks Patroni for a switchover (POST /switchover; Patroni
  picks the synchronous standby, or the best replica) and waits for the new leader. A controlled
  switchover waits for nothing to expire and loses no acknowledged write.
- MEMBER leads and no other declared member is in the cluster at all (their Patroni is gone):
  there is nobody to hand over to; says so and goes on (the restart stops writes until MEMBER
  is back, as any restart of a lone member would).
- MEMBER leads, another member is there, and no switchover succeeds within WAIT_SECONDS: exits 1
  with Patroni's last answer, so the update stops before the primary is restarted.

Prints what it did on one line. Test override: SWARM_HA_PATRONI_URL (http://127.0.0.1:8008).
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

API = os.environ.get("SWARM_HA_PATRONI_URL", "http://127.0.0.1:8008")
# How long MEMBER's own Patroni may take to answer before it counts as not answering (a loop or
# two of Patroni's, or a busy host).
ANSWER_SECONDS = 10.0
# States of a member that replicates and could be promoted.
STREAMING = ("running", "streaming")


def request(method, path, body=None):
    """(status, text) of a call to this member's REST API; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        # POST /switchover waits for the result itself: up to 2 x max(10, loop_wait) s.
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def members():
    """{name: {role, state}} from /cluster, or None when this member's Patroni does not answer."""
    try:
        status, text = request("GET", "/cluster")
        if status != 200:
            return None
        return {m["name"]: {"role": m.get("role"), "state": m.get("state")} for m in json.loads(text).get("members", [])}
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
        return None


def leader_of(cluster):
    return next((name for name, m in cluster.items() if m["role"] == "leader"), None)


def describe(cluster):
    return ", ".join(f"{name} {m['role']} {m['state']}" for name, m in sorted(cluster.items())) or "no member"


def main(argv):
    if len(argv) < 3:
        print("usage: patroni-handover MEMBER WAIT_SECONDS [DECLARED_MEMBER ...]", file=sys.stderr)
        return 2
    # Each DECLARED argument may hold several names, one per line (as the step passes them).
    member, wait_seconds, declared = argv[1], float(argv[2]), [name for arg in argv[3:] for name in arg.split()]
    others = [name for name in declared if name != member]

    started = time.monotonic()
    cluster = members()
    while cluster is None and time.monotonic() - started < min(ANSWER_SECONDS, wait_seconds):
        time.sleep(1)
        cluster = members()
    if cluster is None:
        print(f"patroni-handover: {member}'s Patroni does not answer at {API}: the proxy sends it no writer; its restart moves no leader")
        return 0

    deadline = started + wait_seconds
    last = ""
    while True:
        leader = leader_of(cluster)
        if leader != member:
            if last:
                print(f"patroni-handover: {member} led; {leader or 'no member'} leads now ({last}), after {time.monotonic() - started:.1f} s")
            else:
                print(f"patroni-handover: {member} does not lead ({leader or 'no member'} leads): its restart moves no leader")
            return 0
        present = [name for name in others if name in cluster]
        if not present:
            print(f"patroni-handover: {member} leads and no other member in config is in the cluster ({describe(cluster)}): nobody to hand over to; writes stop while it restarts")
            return 0
        if any(cluster[name]["state"] in STREAMING for name in present):
            status, text = request("POST", "/switchover", {"leader": member})
            last = f"Patroni: HTTP {status} {text.strip()}"
        else:
            last = f"no other member streams yet: {describe(cluster)}"
        if time.monotonic() > deadline:
            break
        time.sleep(1)
        cluster = members() or cluster

    # One line, as docs/troubleshooting.md quotes it.
    message = f"patroni-handover: {member} leads and could not hand over to another member within {wait_seconds:.0f} s ({last}; cluster: {describe(cluster)}). Its restart would stop writes, so the update stops here and {member} keeps running as it was: see that a replica streams (patronictl list in a member), then run the update again."
    print(message, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
