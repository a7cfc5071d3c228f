#!/bin/sh
# etcd's membership follows the managers in config. Runs inside a running member's container,
# fed on stdin by the etcd-members step (components/cluster/scripts/etcd-members.sh:
# `docker exec -i <task> sh -s -- NAME=HOST...`, every declared manager's member) on every
# change of the managers in config, before any new member's service is created. On stdin, not
# in the image: a stack made with an older etcd image runs it too, before its members update.
#
# - Members no longer declared (a manager removed or replaced, dead or alive) are removed, one
#   at a time, each only while the cluster has its quorum: with the dead member gone, a new
#   member can be added (etcd refuses while a voting member is unreachable), and the live
#   members count a quorum of themselves alone.
# - The declared names are written to the key /swarm-ha/etcd/declared, which a member's
#   entrypoint (images/etcd/entrypoint.sh) reads before it adds itself: a removed member whose
#   task restarts (its manager left config but its host is alive) does not come back in, and a
#   member's service never restarts for a change of the list (its own copy, ETCD_PEERS, is only
#   read at creation).
#
# Nothing is restarted. Prints what it did; exits 1, saying why, when the cluster has no quorum
# (no membership change is possible then) or an undeclared member could not be removed.
#
# Test overrides: SWARM_HA_ETCD_CHECK_HOST (127.0.0.1), SWARM_HA_ETCD_CLIENT_PORT (2379),
# SWARM_HA_ETCD_PEER_PORT (2380).
set -eu
set -f # the pairs are split on '='; no word of them is a file pattern

endpoint="http://${SWARM_HA_ETCD_CHECK_HOST:-127.0.0.1}:${SWARM_HA_ETCD_CLIENT_PORT:-2379}"
peer_port=${SWARM_HA_ETCD_PEER_PORT:-2380}
DECLARED_KEY=/swarm-ha/etcd/declared

die() {
    printf 'etcd-members: %s\n' "$*" >&2
    exit 1
}
ctl() { # stdin is this script itself (sh -s): etcdctl must not read it
    etcdctl --endpoints "$endpoint" --dial-timeout=2s --command-timeout=5s "$@" </dev/null
}

[ "$#" -gt 0 ] || die "usage: sh -s -- NAME=HOST... (every declared manager's member)"
names=
urls=
for pair in "$@"; do
    case $pair in
    [A-Za-z0-9]*=[A-Za-z0-9]*) ;;
    *) die "'$pair' is not name=host" ;;
    esac
    case $pair in
    *[!A-Za-z0-9_.=-]*) die "'$pair': names and hosts are letters, digits, '.', '_' and '-'" ;;
    esac
    names="$names ${pair%%=*}"
    urls="$urls http://${pair#*=}:$peer_port"
done
names=${names# }

# A membership change needs a quorum; so does a linearizable read, which `endpoint health` is.
if ! health=$(ctl endpoint health 2>&1); then
    die "the etcd cluster has no quorum (asked at $endpoint: $(printf '%s' "$health" | tail -n 1)), so its members cannot follow the managers now: bring its dead managers back first (docs/troubleshooting.md, 'An etcd member cannot join')"
fi
ctl put "$DECLARED_KEY" "$names" >/dev/null || die "could not record the declared members ($names) at $endpoint"

list=$(ctl member list -w simple) || die "could not list the members at $endpoint"
# One row per member: ID, status, name, peer URLs, client URLs, is learner. Matched by peer
# URL: a member added but never started has no name yet.
undeclared=$(printf '%s\n' "$list" | awk -F', ' -v urls="$urls" '
    BEGIN { n = split(urls, u, " "); for (i = 1; i <= n; i++) want[u[i]] = 1 }
    NF >= 4 && !($4 in want) { print $1 " " ($3 == "" ? "(unstarted)" : $3) " " $4 }
')
removed=
if [ -n "$undeclared" ]; then
    while read -r id name url; do
        # One at a time, each with the quorum there: a removal leaves fewer members to count it.
        ctl endpoint health >/dev/null 2>&1 || die "the etcd cluster lost its quorum while members were removed; not removed yet: $name ($url)"
        # etcd refuses a removal ("unhealthy cluster") until the members left have been
        # connected for 5 s (its strict reconfiguration check): just after a member joined or
        # restarted, it says no for a while.
        tries=0
        until said=$(ctl member remove "$id" 2>&1); do
            tries=$((tries + 1))
            [ "$tries" -lt 20 ] || die "could not remove member $id ($name, $url) at $endpoint: $(printf '%s' "$said" | tail -n 1)"
            sleep 2
        done
        echo "removed member $id ($name, $url): not a declared manager"
        removed="$removed $name"
    done <<EOF
$undeclared
EOF
fi
echo "status=ok"
echo "declared=$names"
echo "removed=${removed# }"
