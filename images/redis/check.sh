#!/bin/sh
# swarm-ha-redis-check: run inside a Redis server's container (`docker exec`, as root: the
# password is a root-only secret) by the health step at the end of every update
# (components/cluster/scripts/tier-health.sh). Redis works as one when every Sentinel (SENTINELS)
# answers and names the same master for MASTER_NAME, that master answers as a master, and every
# other server of the tier (REDIS_SERVERS) is its replica with the link up. All from the
# container's own environment (see the top of redis-entrypoint.sh). Prints one line per
# difference and exits 1; prints one summary line and exits 0 when there is none.
set -eu
set -f # SENTINELS and REDIS_SERVERS are split on spaces; no word of them is a file pattern

here=$(dirname "$(readlink -f "$0")")
# shellcheck source=/dev/null # lib.sh beside this file, checked on its own
. "$here/lib.sh"
require SENTINELS MASTER_NAME REDIS_SERVERS
REDISCLI_AUTH=$(read_password)
export REDISCLI_AUTH

problems=
problem() {
    problems="$problems$*
"
}

# What each Sentinel names.
named=
for sentinel in $SENTINELS; do
    if ! reply=$(ask "${sentinel%:*}" "${sentinel##*:}" SENTINEL get-master-addr-by-name "$MASTER_NAME") || [ -z "$reply" ]; then
        problem "redis: Sentinel $sentinel does not answer"
        continue
    fi
    address=$(printf '%s\n' "$reply" | sed -n '1p;2p' | paste -sd: -)
    case $address in
        *[!0-9.:]* | *:) problem "redis: Sentinel $sentinel names no master for $MASTER_NAME ($(printf '%s' "$reply" | head -c 100 | tr '\n' ' '))" ;;
        *) named="$named$address $sentinel
" ;;
    esac
done
masters=$(printf '%s' "$named" | awk '{ print $1 }' | sort -u)
master=
case $(printf '%s\n' "$masters" | grep -c .) in
    0) [ -n "$named" ] || problem "redis: no Sentinel names a master" ;;
    1) master=$masters ;;
    *) problem "redis: the Sentinels disagree on the master: $(printf '%s' "$named" | tr '\n' ';' | sed 's/;$//; s/;/; /g')" ;;
esac

# Every server: the master answers as one; each other server is its replica, linked.
if [ -n "$master" ]; then
    master_ip=${master%:*}
    master_port=${master##*:}
    [ "$(role_of "$master_ip" "$master_port")" = master ] ||
        problem "redis: the master the Sentinels name, $master, does not answer as a master"
fi
replicas=0
for server in $REDIS_SERVERS; do
    host=${server%:*}
    port=${server##*:}
    ip=$(timeout "$ASK_TIMEOUT" getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }') || true
    if [ -z "$ip" ]; then
        problem "redis: $server has no running task (its name does not resolve)"
        continue
    fi
    [ -n "$master" ] || continue
    [ "$ip:$port" != "$master" ] || continue
    role=$(ask "$ip" "$port" ROLE) || role=
    # shellcheck disable=SC2086 # one word per line of the reply: role, master host, port, link state
    set -- $role
    if [ $# -eq 0 ]; then
        problem "redis: $server ($ip) does not answer"
    elif [ "$1" != slave ]; then
        problem "redis: $server ($ip) answers as a $1, but the Sentinels name $master as the master"
    elif [ "${2:-}:${3:-}" != "$master" ]; then
        problem "redis: $server ($ip) replicates ${2:-}:${3:-}, not the master $master"
    elif [ "${4:-}" != connected ]; then
        problem "redis: $server ($ip) is $master's replica but its link is ${4:-down}, not connected"
    else
        replicas=$((replicas + 1))
    fi
done

if [ -n "$problems" ]; then
    printf '%s' "$problems"
    exit 1
fi
echo "redis: master $master named by every Sentinel; $replicas replica(s) linked"
