#!/bin/sh
# swarm-ha-redis: the command of swarm-ha's Redis services (images/redis). It decides whether
# this Redis starts as the master or as a replica, writes the config Redis runs, and execs
# redis-server as the redis user.
#
# Environment (set by components/redis/index.ts):
#   REDIS_PASSWORD_FILE  Path of the password, a Docker secret (root-owned, mode 0400, so this
#                        script starts as root). It protects Redis (requirepass) and opens its
#                        master (masterauth). Never put the password itself in the environment.
#   ANNOUNCE_SUBNET      The overlay network's subnet (CIDR), e.g. 10.0.1.0/24. This task's IPv4
#                        address in it is the address it announces (replica-announce-ip) and by
#                        which it knows itself in the Sentinels' answers.
#   SENTINELS            The Sentinels, space-separated host:port (their service names), e.g.
#                        "swarm-ha-sentinel-m1:26379 swarm-ha-sentinel-m2:26379 …".
#   MASTER_NAME          The name the Sentinels know the master by, e.g. mymaster.
#   INITIAL_MASTER       host:port of the Redis service that is the master when no Sentinel knows
#                        one yet (a new cluster), e.g. swarm-ha-redis-m1:6379.
#   SELF                 host:port of this Redis service: this Redis is the initial master when
#                        SELF = INITIAL_MASTER.
#   REDIS_PORT           The port Redis listens on (6379); it replaces the static config's port.
#   REDIS_SERVERS        Every Redis service of the tier, space-separated host:port (SELF among
#                        them): the peers asked when the master the Sentinels name is silent.
#   QUORUM               The Sentinels' quorum: how many must see no replica to promote before
#                        INITIAL_MASTER leads a tier that restarted as a whole.
# Optional (the production defaults; tests point them elsewhere):
#   REDIS_CONFIG         The static part of the config (renderRedisConf, a Docker config):
#                        /etc/swarm-ha/redis.conf.
#   DATA_DIR             The service's volume, Redis's dir (the append-only file): /data.
#   RUN_DIR              Where the config Redis runs is written: /run/swarm-ha, in the
#                        container's own layer, gone with the task (never on the volume).
#   MASTER_WAIT_SECONDS  How long to wait for the master the Sentinels name to answer as a
#                        master, or for INITIAL_MASTER's name to resolve: 25, below the service's
#                        health-check start period (30s), so this script says why it gives up
#                        before the health check kills the task. A failover takes about 5s.
#   ASK_TIMEOUT          Seconds each Sentinel or Redis gets to answer one question: 2.
#
# Which master: the Sentinels are asked (SENTINEL get-master-addr-by-name, ASK_TIMEOUT each),
# and the answer most of them give wins.
#   - They name this task's own address: start as the master.
#   - They name another address: start as its replica once it answers as a master. Until then
#     (the master just died and the Sentinels are failing over) ask again every second, for
#     MASTER_WAIT_SECONDS at most, then fail (Swarm restarts the task, which asks again). So a
#     master that died and comes back after a failover comes back as a replica of the new one.
#   - They name an address that does not answer at all: if another Redis answers as a master,
#     start as its replica (the tier is recovering, below). If this is INITIAL_MASTER, no other
#     Redis answers and QUORUM Sentinels see the master down with every replica they know down
#     too (no failover can ever come: every Redis task restarted at once, at new addresses, or
#     was killed by the kernel's OOM killer), start as the master and point every Sentinel at
#     it (SENTINEL REMOVE, MONITOR, SET: its own settings kept); the others follow it. Writes
#     the last master took that had not reached INITIAL_MASTER's append-only file are lost:
#     the same bound as a failover's (min-replicas-max-lag). When INITIAL_MASTER's node is
#     down too, the tier waits for it (images/redis/README.md has the manual way out).
#   - None answers (a new cluster, whose Sentinels start after the Redis services): the master
#     if SELF = INITIAL_MASTER, else a replica of INITIAL_MASTER (its name resolved to an IP).
#     An answer outside ANNOUNCE_SUBNET counts as none: it is from before the cluster moved to
#     another network (every address changed at once), and waiting for it would never end.
# Addresses are IPs, never names: a dead task's name stops resolving, and Sentinel must still
# tell it apart (research note ha-tiers.md §3).
#
# Files, in RUN_DIR (mode 0600, owned by redis):
#   redis.conf          The config Redis runs: a copy of REDIS_CONFIG (port and dir taken from
#                       REDIS_PORT and DATA_DIR), then an include of runtime.conf. It must be
#                       writable: Sentinel's failover runs CONFIG REWRITE, which writes the
#                       current settings into it, the password included (Redis writes it there
#                       itself), hence mode 0600 and a place outside the volume.
#   runtime.conf        requirepass, masterauth, replica-announce-ip and, on a replica, replicaof.
set -eu

here=$(dirname "$(readlink -f "$0")")
# shellcheck source=/dev/null # lib.sh beside this file, checked on its own
. "$here/lib.sh"

REDIS_CONFIG=${REDIS_CONFIG:-/etc/swarm-ha/redis.conf}
DATA_DIR=${DATA_DIR:-/data}
RUN_DIR=${RUN_DIR:-/run/swarm-ha}
MASTER_WAIT_SECONDS=${MASTER_WAIT_SECONDS:-25}

require ANNOUNCE_SUBNET SENTINELS MASTER_NAME INITIAL_MASTER SELF REDIS_PORT REDIS_SERVERS QUORUM
is_port "$REDIS_PORT" || die "REDIS_PORT must be a port from 1 to 65535 (got '$REDIS_PORT')"
is_count "$MASTER_WAIT_SECONDS" || die "MASTER_WAIT_SECONDS must be a whole number of seconds (got '$MASTER_WAIT_SECONDS')"
split_host_port INITIAL_MASTER "$INITIAL_MASTER"
split_host_port SELF "$SELF"
[ -r "$REDIS_CONFIG" ] || die "cannot read the static config REDIS_CONFIG=$REDIS_CONFIG (the Docker config rendered by renderRedisConf)"
password=$(read_password)
REDISCLI_AUTH=$password
export REDISCLI_AUTH
self_ip=$(own_address "$ANNOUNCE_SUBNET")
log "this task is $self_ip:$REDIS_PORT ($SELF)"

# live_peers: one line "ROLE IP PORT" for each other Redis of REDIS_SERVERS that answers now (a
# service name resolves only while its task runs and is healthy).
live_peers() {
    for _server in $REDIS_SERVERS; do
        [ "$_server" != "$SELF" ] || continue
        _ip=$(timeout "$ASK_TIMEOUT" getent ahostsv4 "${_server%:*}" | awk 'NR == 1 { print $1 }') || true
        [ -n "$_ip" ] || continue
        _role=$(role_of "$_ip" "${_server##*:}")
        [ -z "$_role" ] || echo "$_role $_ip ${_server##*:}"
    done
}

# sentinels_stuck: succeeds when at least QUORUM Sentinels see the master down with no replica
# to promote (sentinel_cannot_fail_over): no failover will ever come.
sentinels_stuck() {
    _stuck=0
    for _sentinel in $SENTINELS; do
        if sentinel_cannot_fail_over "${_sentinel%:*}" "${_sentinel##*:}"; then
            _stuck=$((_stuck + 1))
        fi
    done
    [ "$_stuck" -ge "$QUORUM" ]
}

# repoint_sentinels IP PORT: makes every Sentinel that answers monitor IP:PORT instead of the
# master it waits for, keeping its settings (quorum, down-after, failover timeout, parallel
# syncs: read from it first) and giving it the password. The commands go to redis-cli on its
# standard input, written by printf (a builtin), so the password is in no command line.
repoint_sentinels() {
    for _sentinel in $SENTINELS; do
        _host=${_sentinel%:*}
        _port=${_sentinel##*:}
        if ! _settings=$(ask "$_host" "$_port" SENTINEL master "$MASTER_NAME"); then
            log "Sentinel $_sentinel: no answer, not re-pointed (when it restarts it takes the master the others name)"
            continue
        fi
        _q=$(printf '%s\n' "$_settings" | awk 'prev == "quorum" { print; exit } { prev = $0 }')
        _down=$(printf '%s\n' "$_settings" | awk 'prev == "down-after-milliseconds" { print; exit } { prev = $0 }')
        _timeout=$(printf '%s\n' "$_settings" | awk 'prev == "failover-timeout" { print; exit } { prev = $0 }')
        _syncs=$(printf '%s\n' "$_settings" | awk 'prev == "parallel-syncs" { print; exit } { prev = $0 }')
        if ! is_count "$_q" || ! is_count "$_down" || ! is_count "$_timeout" || ! is_count "$_syncs"; then
            log "Sentinel $_sentinel: unexpected settings for $MASTER_NAME, not re-pointed"
            continue
        fi
        _replies=$({
            printf 'SENTINEL REMOVE %s\n' "$MASTER_NAME"
            printf 'SENTINEL MONITOR %s %s %s %s\n' "$MASTER_NAME" "$1" "$2" "$_q"
            printf 'SENTINEL SET %s auth-pass %s\n' "$MASTER_NAME" "$(conf_quote "$password")"
            printf 'SENTINEL SET %s down-after-milliseconds %s failover-timeout %s parallel-syncs %s\n' "$MASTER_NAME" "$_down" "$_timeout" "$_syncs"
        } | timeout "$ASK_TIMEOUT" redis-cli -h "$_host" -p "$_port" --raw 2>&1) || true
        if [ "$(printf '%s\n' "$_replies" | grep -cx OK)" -eq 4 ]; then
            log "Sentinel $_sentinel: now monitors $1:$2"
        else
            log "Sentinel $_sentinel: re-pointing failed ($(printf '%s' "$_replies" | head -c 200 | tr '\n' ' '))"
        fi
    done
}

# --- Which master -----------------------------------------------------------------------------
master_ip=
master_port=
deadline=$(($(now) + MASTER_WAIT_SECONDS))
while :; do
    answer=$(sentinels_master)
    if [ -z "$answer" ]; then
        if [ "$SELF" = "$INITIAL_MASTER" ]; then
            log "no Sentinel knows a master: this is INITIAL_MASTER, starting as the master"
        else
            master_ip=$(resolve "${INITIAL_MASTER%:*}" "$deadline")
            master_port=${INITIAL_MASTER##*:}
            log "no Sentinel knows a master: starting as a replica of INITIAL_MASTER $INITIAL_MASTER ($master_ip:$master_port)"
        fi
        break
    fi
    ip=${answer% *}
    port=${answer#* }
    if [ "$ip" = "$self_ip" ] && [ "$port" = "$REDIS_PORT" ]; then
        log "the Sentinels name this task as the master: starting as the master"
        break
    fi
    role=$(role_of "$ip" "$port")
    if [ "$role" = master ]; then
        master_ip=$ip
        master_port=$port
        log "starting as a replica of $ip:$port"
        break
    fi
    if [ -z "$role" ]; then
        # The named master is silent. Is the tier recovering from a whole restart already (a
        # Redis answers as a master), or can the Sentinels still fail over (one answers as a
        # replica)?
        peers=$(live_peers)
        leader=$(printf '%s\n' "$peers" | awk '$1 == "master" { print $2, $3; exit }')
        if [ -n "$leader" ]; then
            master_ip=${leader% *}
            master_port=${leader#* }
            log "the Sentinels name $ip:$port, which does not answer, and $master_ip:$master_port answers as a master (a failover, or the recovery of a tier that restarted as a whole, made it one): starting as its replica"
            break
        fi
        if [ "$SELF" = "$INITIAL_MASTER" ] && [ -z "$peers" ] && sentinels_stuck; then
            log "the whole tier restarted: the Sentinels name $ip:$port, which does not answer, no other Redis answers, and $QUORUM Sentinel(s) have no replica to promote. This is INITIAL_MASTER: starting as the master and pointing the Sentinels at it"
            repoint_sentinels "$self_ip" "$REDIS_PORT"
            break
        fi
    fi
    [ "$(now)" -lt "$deadline" ] ||
        die "the Sentinels name $ip:$port as the master of $MASTER_NAME, but it has not answered as a master for ${MASTER_WAIT_SECONDS}s (${role:-no answer}). If every Redis task got a new address at once (the whole cluster restarted), the Sentinels watch an address that is gone: see images/redis/README.md"
    log "the Sentinels name $ip:$port, which does not answer as a master (${role:-no answer}): a failover may be under way; asking again"
    sleep 1
done

# --- The config Redis runs --------------------------------------------------------------------
# Parents the default way (others may pass through), then the two directories for redis alone.
mkdir -p "$RUN_DIR" "$DATA_DIR"
chmod 0700 "$RUN_DIR" "$DATA_DIR"
umask 077
config=$RUN_DIR/redis.conf
runtime=$RUN_DIR/runtime.conf
rm -f "$config" "$runtime"
{
    echo "# Written by swarm-ha-redis at start: what only this task knows. Mode 0600 (the password)."
    printf 'requirepass %s\n' "$(conf_quote "$password")"
    printf 'masterauth %s\n' "$(conf_quote "$password")"
    echo "replica-announce-ip $self_ip"
    if [ -n "$master_ip" ]; then
        echo "replicaof $master_ip $master_port"
    fi
} >"$runtime"
{
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in
            "port "*) echo "port $REDIS_PORT" ;;
            "dir "*) echo "dir $(conf_quote "$DATA_DIR")" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done <"$REDIS_CONFIG"
    echo ""
    echo "# swarm-ha-redis: the password, this task's address and its master (last: they win)."
    echo "include $(conf_quote "$runtime")"
} >"$config"
own_for_redis "$RUN_DIR" "$config" "$runtime"
own_for_redis -R "$DATA_DIR"

run_as_redis redis-server "$config"
