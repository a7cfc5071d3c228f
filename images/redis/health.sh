#!/bin/sh
# swarm-ha-redis-health: the Redis service's Docker health check (run in the container, as
# root: the password is a root-only secret). Unhealthy when this Redis does not answer, when it
# is a master the Sentinels do not name while they name another (see below), when it is a
# replica that has not synced with a master once since it started (see the end), or when
# it is a replica stuck on a master that is gone while the Sentinels name another that answers:
# a replica that restarted (a new address) moments before its master died is not yet known to
# the Sentinels (they learn replicas from the master's INFO, every 10 s), so their failover
# never re-points it, and it would try the dead address for ever. Marked unhealthy, the swarm
# restarts it, and its entrypoint follows the master the Sentinels name. Prints why.
#
# From the container's environment (see the top of redis-entrypoint.sh): REDIS_PASSWORD_FILE,
# REDIS_PORT, SENTINELS, MASTER_NAME, ANNOUNCE_SUBNET, QUORUM. STALE_REPLICA_SECONDS (20): how
# long the link must have been down first (a failover re-points known replicas within seconds).
set -eu
set -f # SENTINELS is split on spaces; no word of it is a file pattern

# Each Sentinel or Redis asked gets 1 s: the whole check must fit Docker's 5 s timeout.
export ASK_TIMEOUT=1
here=$(dirname "$(readlink -f "$0")")
# shellcheck source=/dev/null # lib.sh beside this file, checked on its own
. "$here/lib.sh"
require REDIS_PORT SENTINELS MASTER_NAME ANNOUNCE_SUBNET QUORUM
REDISCLI_AUTH=$(read_password)
export REDISCLI_AUTH
stale_after=${STALE_REPLICA_SECONDS:-20}

# field NAME: one field of the INFO text in $info.
field() {
    printf '%s\n' "$info" | tr -d '\r' | sed -n "s/^$1://p"
}

info=$(ask 127.0.0.1 "$REDIS_PORT" INFO) || info=
[ "$(field role)" != "" ] || {
    echo "this Redis does not answer on port $REDIS_PORT"
    exit 1
}
# A master that QUORUM Sentinels do not name, while they name another that answers as a master:
# two masters. A Redis that started while its node's network did not reach the others yet
# (after a reboot) found no Sentinel and, being INITIAL_MASTER, led a tier of its own, and its
# node's Sentinel followed it (seen in CI on Docker 26.1: 180 s and counting). The other
# Sentinels never learn of it, so nothing would ever demote it. Marked unhealthy, the swarm
# restarts it, and its entrypoint follows the master most Sentinels name; the writes it took
# alone are lost, as in a failover. Not before STALE_REPLICA_SECONDS of uptime: a master the
# entrypoint has just made re-points the Sentinels first.
if [ "$(field role)" = master ] && [ "$(field uptime_in_seconds)" -ge "$stale_after" ]; then
    self="$(own_address "$ANNOUNCE_SUBNET"):$REDIS_PORT"
    others=0
    for sentinel in $SENTINELS; do
        reply=$(ask "${sentinel%:*}" "${sentinel##*:}" SENTINEL get-master-addr-by-name "$MASTER_NAME") || continue
        named="$(printf '%s\n' "$reply" | sed -n 1p):$(printf '%s\n' "$reply" | sed -n 2p)"
        case $named in ":" | "$self") continue ;; esac
        if [ "$(role_of "${named%:*}" "${named##*:}")" = master ]; then
            others=$((others + 1))
            other=$named
        fi
    done
    if [ "$others" -ge "$QUORUM" ]; then
        echo "this Redis ($self) is a master, but $others Sentinel(s) name $other, which answers as a master too: restart to follow it"
        exit 1
    fi
    exit 0
fi
[ "$(field role)" = slave ] && [ "$(field master_link_status)" = down ] || exit 0
down=$(field master_link_down_since_seconds)
# -1: never linked since it started, so down for as long as it has run.
never_linked=false
if [ "$down" = -1 ]; then
    never_linked=true
    down=$(field uptime_in_seconds)
fi

following="$(field master_host):$(field master_port)"
if [ "${down:-0}" -ge "$stale_after" ]; then
    for sentinel in $SENTINELS; do
        reply=$(ask "${sentinel%:*}" "${sentinel##*:}" SENTINEL get-master-addr-by-name "$MASTER_NAME") || continue
        named="$(printf '%s\n' "$reply" | sed -n 1p):$(printf '%s\n' "$reply" | sed -n 2p)"
        [ "$named" != ":" ] || continue
        if [ "$named" != "$following" ] && [ "$(role_of "${named%:*}" "${named##*:}")" = master ]; then
            echo "this replica follows $following, unreachable for ${down}s, but the Sentinels' master is $named: restart to follow it"
            exit 1
        fi
        break
    done
fi
# A replica that has not synced once since it started is not healthy yet: a rolling update
# (one Redis service after another) waits for it before it restarts the next one, which may be
# the master the Sentinels are just promoting. Without this wait, an image change restarted
# every Redis within seconds and left each a replica of a dead address, with no master at all.
# A replica that was linked and lost its master stays healthy: the Sentinels re-point it.
if [ "$never_linked" = true ]; then
    echo "this replica has not synced with its master ($following) since it started, ${down}s ago"
    exit 1
fi
exit 0
