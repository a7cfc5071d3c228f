#!/bin/sh
# swarm-ha-etcd-check NAME...: run inside an etcd member's container (`docker exec`) by the
# health step at the end of every update (components/cluster/scripts/tier-health.sh). etcd
# works as one when its members are exactly the declared managers (the arguments: this run's
# config; the container's ETCD_PEERS is only the list its service was created with), each
# started, and every member answers healthy. Prints one line per difference and exits 1;
# prints one summary line and exits 0 when there is none.
#
# Test overrides: SWARM_HA_ETCD_CHECK_HOST (127.0.0.1), SWARM_HA_ETCD_CLIENT_PORT (2379).
set -eu
set -f # the declared names are split on spaces; no word of them is a file pattern

endpoint="http://${SWARM_HA_ETCD_CHECK_HOST:-127.0.0.1}:${SWARM_HA_ETCD_CLIENT_PORT:-2379}"
ctl() {
    etcdctl --endpoints "$endpoint" --dial-timeout=2s --command-timeout=5s "$@"
}

[ "$#" -gt 0 ] || { echo "usage: swarm-ha-etcd-check NAME... (every declared manager)"; exit 2; }
declared=
for name in "$@"; do
    declared="$declared $name"
done

if ! list=$(ctl member list 2>&1); then
    echo "etcd: the member on this node does not answer: $(printf '%s' "$list" | tail -n 1)"
    exit 1
fi
# One row per member: ID, status, name, peer URLs, client URLs, is learner.
problems=$(printf '%s\n' "$list" | awk -F ', ' -v declared="$declared" '
    BEGIN { n = split(declared, d, " "); for (i = 1; i <= n; i++) want[d[i]] = 1 }
    NF >= 5 {
        if ($2 != "started") printf "etcd: member %s (%s) was added but never started: remove it (etcdctl member remove %s) or start its manager\n", $1, $4, $1
        else if (!($3 in want)) printf "etcd: member %s is not a declared manager: the etcd-members step should have removed it; remove it with etcdctl member remove %s\n", $3, $1
        else started[$3] = 1
    }
    END { for (name in want) if (!(name in started)) printf "etcd: the declared manager %s is not a started member\n", name }
' | sort)

# Every member, through the client URLs the list gives.
if ! health=$(ctl endpoint health --cluster 2>&1); then
    unhealthy=$(printf '%s\n' "$health" | grep 'is unhealthy' | sed 's/^/etcd: /') || true
    problems="$problems${problems:+
}${unhealthy:-etcd: not every member answers healthy: $(printf '%s' "$health" | tail -n 1)}"
fi

if [ -n "$problems" ]; then
    printf '%s\n' "$problems"
    exit 1
fi
echo "etcd: members$declared started and healthy"
