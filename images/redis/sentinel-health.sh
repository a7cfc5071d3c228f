#!/bin/sh
# swarm-ha-sentinel-health: the Sentinel service's Docker health check (run in the container, as
# root: the password is a root-only secret). Unhealthy when this Sentinel does not answer, or
# when it monitors a master that is gone while another Sentinel names one that answers as a
# master. Prints why.
#
# Why the second: Sentinels learn a failover from each other's hello messages, published on
# the master's and the replicas' channels. A Sentinel that restarted (with its node) just before
# or during a failover can start on the old master's address; if that address is gone, it never
# hears a hello again, and it names the dead address for good (seen on the lab: 180 s and
# counting, while its two peers agreed on the new master). Marked unhealthy, the swarm restarts
# it, and its entrypoint takes the master the other Sentinels name.
#
# "Gone" means: its master has not answered a ping for STALE_SENTINEL_SECONDS (20), or has
# reported itself a replica for that long. A normal failover re-points every Sentinel within a
# few seconds, so a lagging but healthy Sentinel never trips it.
#
# From the container's environment (see the top of sentinel-entrypoint.sh): REDIS_PASSWORD_FILE,
# SENTINEL_PORT, SENTINELS, MASTER_NAME.
set -eu
set -f # SENTINELS is split on spaces; no word of it is a file pattern

# Each Sentinel or Redis asked gets 1 s: the whole check must fit Docker's 5 s timeout.
export ASK_TIMEOUT=1
here=$(dirname "$(readlink -f "$0")")
# shellcheck source=/dev/null # lib.sh beside this file, checked on its own
. "$here/lib.sh"
require SENTINEL_PORT SENTINELS MASTER_NAME
REDISCLI_AUTH=$(read_password)
export REDISCLI_AUTH
stale_ms=$((${STALE_SENTINEL_SECONDS:-20} * 1000))

master=$(ask 127.0.0.1 "$SENTINEL_PORT" SENTINEL master "$MASTER_NAME") || master=
# field NAME: one field of SENTINEL master's reply (alternate lines: name, value).
field() {
    printf '%s\n' "$master" | tr -d '\r' | awk -v key="$1" 'NR % 2 == 1 && $0 == key { getline; print; exit }'
}
mine="$(field ip):$(field port)"
if [ "$mine" = ":" ]; then
    echo "this Sentinel does not answer on port $SENTINEL_PORT, or does not monitor $MASTER_NAME ($(printf '%s' "$master" | head -c 200 | tr '\n' ' '))"
    exit 1
fi

silent_ms=$(field last-ok-ping-reply)
replica_ms=0
[ "$(field role-reported)" = master ] || replica_ms=$(field role-reported-time)
if [ "${silent_ms:-0}" -lt "$stale_ms" ] && [ "${replica_ms:-0}" -lt "$stale_ms" ]; then
    exit 0
fi
why="has not answered for $((silent_ms / 1000))s"
[ "${silent_ms:-0}" -ge "$stale_ms" ] || why="has reported itself a replica for $((replica_ms / 1000))s"

# Ask the others; this Sentinel is in SENTINELS too, and names its own master, which is skipped.
for sentinel in $SENTINELS; do
    reply=$(ask "${sentinel%:*}" "${sentinel##*:}" SENTINEL get-master-addr-by-name "$MASTER_NAME") || continue
    named="$(printf '%s\n' "$reply" | sed -n 1p):$(printf '%s\n' "$reply" | sed -n 2p)"
    case $named in ":" | "$mine") continue ;; esac
    if [ "$(role_of "${named%:*}" "${named##*:}")" = master ]; then
        echo "this Sentinel monitors $mine, which $why, but Sentinel $sentinel names $named, which answers as a master: restart to follow it"
        exit 1
    fi
done
exit 0
