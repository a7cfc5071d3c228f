#!/bin/sh
# swarm-ha-sentinel: the command of swarm-ha's Sentinel services (images/redis). It builds the
# Sentinel's config file on the service's volume and execs redis-sentinel as the redis user.
#
# Environment (set by components/redis/index.ts; the same names as swarm-ha-redis):
#   REDIS_PASSWORD_FILE  Path of the password, a Docker secret (root-owned, mode 0400, so this
#                        script starts as root). The same password protects the Sentinels
#                        (requirepass; Sentinels also use it with each other) and opens Redis
#                        (sentinel auth-pass).
#   ANNOUNCE_SUBNET      The overlay network's subnet (CIDR), e.g. 10.0.1.0/24. This task's IPv4
#                        address in it is what the Sentinel announces (sentinel announce-ip).
#   SENTINELS            The Sentinels, space-separated host:port (their service names), this
#                        one included (it does not answer yet, so it is skipped).
#   MASTER_NAME          The name the Sentinels know the master by, e.g. mymaster: the one
#                        renderSentinelConf was given.
#   INITIAL_MASTER       host:port of the Redis service that is the master when no Sentinel knows
#                        one yet (a new cluster), e.g. swarm-ha-redis-m1:6379.
#   SENTINEL_PORT        The port Sentinel listens on (26379); it replaces the static config's port.
#   QUORUM               How many Sentinels must agree the master is down (a majority of them, 2
#                        of 3).
#   SELF, REDIS_PORT     Set for both commands; not used here.
# Optional (the production defaults; tests point them elsewhere):
#   SENTINEL_CONFIG      The static part of the config (renderSentinelConf, a Docker config):
#                        /etc/swarm-ha/sentinel.conf.
#   DATA_DIR             The service's volume: /data. The Sentinel's file is DATA_DIR/sentinel.conf.
#   MASTER_WAIT_SECONDS  How long to wait for INITIAL_MASTER's name to resolve: 60.
#   ASK_TIMEOUT          Seconds each Sentinel gets to answer one question: 2.
#
# The Sentinel's file (DATA_DIR/sentinel.conf, mode 0600, owned by redis) is its state: Sentinel
# rewrites it as it learns (its id, the epochs, the other Sentinels, the replicas). It holds the
# password in clear (sentinel auth-pass: Sentinel writes it there itself, to reach Redis after
# a restart), so it is readable by the redis user alone, and lives only on the service's volume.
# At every start it is built again:
#   1. the static part, its port and dir taken from SENTINEL_PORT and DATA_DIR, the marker line
#      replaced by 'sentinel monitor MASTER_NAME <ip> <port> QUORUM' and 'sentinel auth-pass';
#   2. sentinel announce-ip (this task's address, new at every start) and requirepass;
#   3. what the Sentinel learned, from the previous file if there is one: its id, epochs and the
#      other Sentinels (and the replicas, while the master is the same).
# So a restarted Sentinel keeps its identity and epochs, while a new deploy's settings, a new
# password and its new address all take effect. The master it monitors is, in this order: the
# one most of the other Sentinels name, the one its previous file names, INITIAL_MASTER; the
# first of them that answers as a master now wins (after every node rebooted, both earlier
# answers name an address that is gone, while INITIAL_MASTER leads), else that order. An
# address outside ANNOUNCE_SUBNET is skipped wherever it comes from: it is left from before the
# cluster moved to another network, and no task can have it any more.
set -eu

here=$(dirname "$(readlink -f "$0")")
# shellcheck source=/dev/null # lib.sh beside this file, checked on its own
. "$here/lib.sh"

SENTINEL_CONFIG=${SENTINEL_CONFIG:-/etc/swarm-ha/sentinel.conf}
DATA_DIR=${DATA_DIR:-/data}
MASTER_WAIT_SECONDS=${MASTER_WAIT_SECONDS:-60}
# components/redis/sentinel-conf.ts SENTINEL_MONITOR_MARKER: the same text.
MARKER="# swarm-ha: the entrypoint puts 'sentinel monitor' and 'sentinel auth-pass' on this line"

require ANNOUNCE_SUBNET SENTINELS MASTER_NAME INITIAL_MASTER SENTINEL_PORT QUORUM
is_port "$SENTINEL_PORT" || die "SENTINEL_PORT must be a port from 1 to 65535 (got '$SENTINEL_PORT')"
is_count "$MASTER_WAIT_SECONDS" || die "MASTER_WAIT_SECONDS must be a whole number of seconds (got '$MASTER_WAIT_SECONDS')"
case $MASTER_NAME in *[!A-Za-z0-9._-]*) die "MASTER_NAME must be letters, digits, '.', '_' or '-' (got '$MASTER_NAME')" ;; esac
split_host_port INITIAL_MASTER "$INITIAL_MASTER"
# shellcheck disable=SC2086 # one word per Sentinel
set -- $SENTINELS
if ! is_count "$QUORUM" || [ "$QUORUM" -gt $# ]; then
    die "QUORUM must be a whole number from 1 to the number of Sentinels, $# (got '$QUORUM'): a larger one is never reached, so no failover would ever start"
fi
[ -r "$SENTINEL_CONFIG" ] || die "cannot read the static config SENTINEL_CONFIG=$SENTINEL_CONFIG (the Docker config rendered by renderSentinelConf)"
grep -qxF "$MARKER" "$SENTINEL_CONFIG" ||
    die "$SENTINEL_CONFIG has no marker line for 'sentinel monitor' (\"$MARKER\"): render it with renderSentinelConf"
password=$(read_password)
REDISCLI_AUTH=$password
export REDISCLI_AUTH
self_ip=$(own_address "$ANNOUNCE_SUBNET")
log "this task is $self_ip:$SENTINEL_PORT"

state=$DATA_DIR/sentinel.conf

# --- Which master -----------------------------------------------------------------------------
previous=
if [ -f "$state" ]; then
    previous=$(awk -v name="$MASTER_NAME" '$1 == "sentinel" && $2 == "monitor" && $3 == name { print $4, $5; exit }' "$state")
fi
# A previous master outside this network is from before the cluster moved networks: gone.
previous_master=$previous
if [ -n "$previous" ] && ! in_subnet "${previous% *}" "$ANNOUNCE_SUBNET"; then
    log "my previous file names ${previous% *}:${previous#* }, outside this network ($ANNOUNCE_SUBNET): an address from before the cluster moved networks, not used"
    previous_master=
fi
answer=$(sentinels_master)
# is_master "IP PORT": the Redis there answers as a master now.
is_master() {
    [ -n "$1" ] && [ "$(role_of "${1% *}" "${1#* }")" = master ]
}
initial=
if [ -n "$answer$previous_master" ] && ! is_master "$answer" && ! is_master "$previous_master"; then
    _ip=$(timeout "$ASK_TIMEOUT" getent ahostsv4 "${INITIAL_MASTER%:*}" | awk 'NR == 1 { print $1 }') || true
    if [ -n "$_ip" ] && is_master "$_ip ${INITIAL_MASTER##*:}"; then
        initial="$_ip ${INITIAL_MASTER##*:}"
    fi
fi
if [ -n "$answer" ] && is_master "$answer"; then
    master=$answer
    log "monitoring ${master% *}:${master#* }, the master the other Sentinels name"
elif [ -n "$previous_master" ] && is_master "$previous_master"; then
    master=$previous_master
    log "monitoring ${master% *}:${master#* }, the master of my previous file"
elif [ -n "$initial" ]; then
    master=$initial
    log "the master the other Sentinels or my previous file name (${answer:-$previous_master}) does not answer as a master, and INITIAL_MASTER $INITIAL_MASTER does (the tier restarted as a whole): monitoring ${master% *}:${master#* }"
elif [ -n "$answer" ]; then
    master=$answer
    log "monitoring ${master% *}:${master#* }, the master the other Sentinels name"
elif [ -n "$previous_master" ]; then
    master=$previous_master
    log "no other Sentinel answers: monitoring ${master% *}:${master#* }, the master of my previous file"
else
    master="$(resolve "${INITIAL_MASTER%:*}" $(($(now) + MASTER_WAIT_SECONDS))) ${INITIAL_MASTER##*:}"
    log "no Sentinel knows a master: monitoring INITIAL_MASTER $INITIAL_MASTER (${master% *}:${master#* })"
fi

# The other Sentinels this one may keep knowing: the declared ones that run now, by address. A
# Sentinel never forgets another by itself, and its failover needs a majority of all it knows:
# a Sentinel removed with its node (or a dead task's old address) would count for ever, and two
# Sentinels left of three known plus one removed could never elect a leader. One that is down
# now is learned again from its hello messages when it is back.
peers=
for sentinel in $SENTINELS; do
    _ip=$(timeout "$ASK_TIMEOUT" getent ahostsv4 "${sentinel%:*}" | awk 'NR == 1 { print $1 }') || true
    [ -z "$_ip" ] || [ "$_ip ${sentinel##*:}" = "$self_ip $SENTINEL_PORT" ] || peers="$peers$_ip ${sentinel##*:};"
done

# --- The Sentinel's file ------------------------------------------------------------------------
mkdir -p "$DATA_DIR"
chmod 0700 "$DATA_DIR"
umask 077
next=$DATA_DIR/.sentinel.conf.next
rm -f "$next"
{
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in
            "$MARKER")
                echo "sentinel monitor $MASTER_NAME ${master% *} ${master#* } $QUORUM"
                printf 'sentinel auth-pass %s %s\n' "$MASTER_NAME" "$(conf_quote "$password")"
                ;;
            "port "*) echo "port $SENTINEL_PORT" ;;
            "dir "*) echo "dir $(conf_quote "$DATA_DIR")" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done <"$SENTINEL_CONFIG"
    echo ""
    echo "# swarm-ha-sentinel: this task's address and the password, written at every start."
    echo "sentinel announce-ip $self_ip"
    printf 'requirepass %s\n' "$(conf_quote "$password")"
    if [ -n "$previous" ]; then
        echo ""
        echo "# What this Sentinel learned before its restart (it rewrites this file as it learns)."
        # The replicas belong to the master they were learned from: kept only while it is the same.
        # Other Sentinels only while declared and running (see peers above).
        awk -v name="$MASTER_NAME" -v same="$([ "$previous" = "$master" ] && echo 1 || echo 0)" -v peers=";$peers" '
            $1 == "sentinel" && ($2 == "myid" || $2 == "current-epoch") { print; next }
            $1 == "sentinel" && $3 == name && ($2 == "config-epoch" || $2 == "leader-epoch") { print; next }
            $1 == "sentinel" && $3 == name && $2 == "known-sentinel" && index(peers, ";" $4 " " $5 ";") { print; next }
            $1 == "sentinel" && $3 == name && $2 == "known-replica" && same == 1 { print }
        ' "$state"
    fi
} >"$next"
mv -f "$next" "$state"
own_for_redis -R "$DATA_DIR"

run_as_redis redis-sentinel "$state"
