# shellcheck shell=sh
# Shared by swarm-ha-redis and swarm-ha-sentinel (sourced, never run): reading the password,
# finding this task's address, asking the Sentinels who the master is, resolving a name, and
# writing values into a Redis config file. The environment contract is documented at the top of
# each entrypoint.
#
# The password must never reach a command line (ps shows every process's arguments): it is
# read with the shell's `read`, written with the shell's `printf` (both builtins: no process
# is started), and handed to redis-cli only through its environment (REDISCLI_AUTH).

# The prefix of every message: the command's name (swarm-ha-redis, swarm-ha-sentinel).
LOG_NAME=${0##*/}

log() {
    printf '%s: %s\n' "$LOG_NAME" "$*" >&2
}

die() {
    printf '%s: error: %s\n' "$LOG_NAME" "$*" >&2
    exit 1
}

now() {
    date +%s
}

# require NAME...: every variable named must be set and not empty.
require() {
    for _name in "$@"; do
        eval "_value=\${$_name:-}"
        [ -n "$_value" ] || die "the environment variable $_name is not set (see the top of this script for what it means)"
    done
}

# is_port VALUE: an integer from 1 to 65535.
is_port() {
    case $1 in '' | *[!0-9]* | 0*) return 1 ;; esac
    [ "$1" -le 65535 ]
}

# is_count VALUE: an integer from 1 up.
is_count() {
    case $1 in '' | *[!0-9]* | 0*) return 1 ;; esac
}

# ipv4_int ADDRESS: prints a dotted IPv4 address as one integer; fails on anything else.
ipv4_int() {
    case $1 in '' | *[!0-9.]* | .* | *. | *..*) return 1 ;; esac
    _ifs=$IFS
    IFS=.
    # shellcheck disable=SC2086 # split on the dots, on purpose (only digits and dots are left)
    set -- $1
    IFS=$_ifs
    [ $# -eq 4 ] || return 1
    for _octet; do
        case $_octet in 0?*) return 1 ;; esac # no leading zeros: the shell would read them as octal
        [ "$_octet" -le 255 ] || return 1
    done
    echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4))
}

# in_subnet IP CIDR: succeeds when the IPv4 address IP is in CIDR; dies when CIDR is not an
# IPv4 subnet (it is ANNOUNCE_SUBNET).
in_subnet() {
    _net=${2%/*}
    _bits=${2#*/}
    _net_int=$(ipv4_int "$_net") || die "ANNOUNCE_SUBNET must be an IPv4 subnet like 10.0.1.0/24 (got '$2')"
    case $_bits in '' | *[!0-9]*) die "ANNOUNCE_SUBNET must be an IPv4 subnet like 10.0.1.0/24 (got '$2')" ;; esac
    [ "$_bits" -le 32 ] || die "ANNOUNCE_SUBNET must be an IPv4 subnet like 10.0.1.0/24 (got '$2')"
    _mask=$(((0xFFFFFFFF << (32 - _bits)) & 0xFFFFFFFF))
    _int=$(ipv4_int "$1") || return 1
    [ $((_int & _mask)) -eq $((_net_int & _mask)) ]
}

# own_address CIDR: prints this task's IPv4 address in CIDR (the overlay network's subnet), the
# address it announces to the Sentinels and replicas; dies, naming the subnet, when it has none.
own_address() {
    in_subnet 0.0.0.0 "$1" || true # dies here, naming it, when CIDR is not a subnet
    _addresses=$(ip -4 -o addr show | awk '{ split($4, a, "/"); print a[1] }') || die "cannot list this task's addresses (ip -4 addr show failed)"
    for _address in $_addresses; do
        if in_subnet "$_address" "$1"; then
            echo "$_address"
            return 0
        fi
    done
    die "this task has no IPv4 address in ANNOUNCE_SUBNET $1 (it has: $(echo "$_addresses" | tr '\n' ' ')): is the service attached to that network, and is ANNOUNCE_SUBNET its subnet?"
}

# read_password: prints the first line of REDIS_PASSWORD_FILE (run it as $(read_password): a
# subshell, not a new process). The caller hands it to redis-cli as REDISCLI_AUTH, the one way
# redis-cli takes it without a command-line argument.
read_password() {
    require REDIS_PASSWORD_FILE
    [ -r "$REDIS_PASSWORD_FILE" ] || die "cannot read the password file REDIS_PASSWORD_FILE=$REDIS_PASSWORD_FILE (a Docker secret, root-owned: the entrypoint must start as root)"
    _password=
    # The last line of a file may lack its newline: read then fails but has read it.
    IFS= read -r _password <"$REDIS_PASSWORD_FILE" || [ -n "$_password" ] || true
    [ -n "$_password" ] || die "the password file $REDIS_PASSWORD_FILE is empty: an empty password protects nothing"
    printf '%s' "$_password"
}

# conf_quote VALUE: prints VALUE as one double-quoted word of a Redis config file ('\' and '"'
# escaped), with builtins only (VALUE may be the password).
conf_quote() {
    _rest=$1
    _out=
    while :; do
        case $_rest in
            *[\\\"]*)
                _head=${_rest%%[\\\"]*}
                _rest=${_rest#"$_head"}
                _char=${_rest%"${_rest#?}"}
                _rest=${_rest#?}
                _out="$_out$_head\\$_char"
                ;;
            *)
                _out="$_out$_rest"
                break
                ;;
        esac
    done
    printf '"%s"' "$_out"
}

# Seconds each Sentinel or Redis gets to answer one question: a task that is gone (its name
# forwarded to an upstream DNS, its address silent) must not hold the start for long.
: "${ASK_TIMEOUT:=2}"

# ask HOST PORT ARG...: runs one redis-cli command against HOST:PORT (password from REDISCLI_AUTH),
# bounded by ASK_TIMEOUT; prints the raw reply.
ask() {
    _ask_host=$1
    _ask_port=$2
    shift 2
    timeout "$ASK_TIMEOUT" redis-cli -h "$_ask_host" -p "$_ask_port" --raw "$@" 2>/dev/null
}

# sentinels_master: asks every Sentinel in SENTINELS for MASTER_NAME's address and prints
# "IP PORT", the answer most of them give; prints nothing when none answers. An address outside
# ANNOUNCE_SUBNET counts as no answer: no task of this network can have it, so it is from before
# the cluster moved to another network (every task's address changed at once), and waiting for
# it would wait forever.
sentinels_master() {
    _answers=
    for _sentinel in $SENTINELS; do
        _host=${_sentinel%:*}
        _port=${_sentinel##*:}
        if ! _reply=$(ask "$_host" "$_port" SENTINEL get-master-addr-by-name "$MASTER_NAME"); then
            log "Sentinel $_sentinel: no answer"
            continue
        fi
        _ip=$(printf '%s\n' "$_reply" | sed -n 1p)
        _p=$(printf '%s\n' "$_reply" | sed -n 2p)
        if ipv4_int "$_ip" >/dev/null && is_port "$_p" && ! in_subnet "$_ip" "$ANNOUNCE_SUBNET"; then
            log "Sentinel $_sentinel: names $_ip:$_p, outside this network ($ANNOUNCE_SUBNET): an address from before the cluster moved networks, ignored"
        elif ipv4_int "$_ip" >/dev/null && is_port "$_p"; then
            log "Sentinel $_sentinel: the master of $MASTER_NAME is $_ip:$_p"
            _answers="$_answers$_ip $_p
"
        else
            log "Sentinel $_sentinel: no master for $MASTER_NAME ($(printf '%s' "$_reply" | head -c 200 | tr '\n' ' '))"
        fi
    done
    [ -n "$_answers" ] || return 0
    printf '%s' "$_answers" | sort | uniq -c | sort -k1,1nr -k2,2 -k3,3n | awk 'NR == 1 { print $2, $3 }'
}

# sentinel_cannot_fail_over HOST PORT: succeeds when the Sentinel at HOST:PORT answers that it
# sees MASTER_NAME down (s_down) with no failover under way, and that every replica it knows is
# down too: it has no one to promote, so it will wait for the dead master for ever. That is what
# a whole tier restarted at once looks like (every task back at a new address).
sentinel_cannot_fail_over() {
    _master=$(ask "$1" "$2" SENTINEL master "$MASTER_NAME") || return 1
    _flags=$(printf '%s\n' "$_master" | awk 'prev == "flags" { print; exit } { prev = $0 }')
    case ",$_flags," in *,s_down,*) ;; *) return 1 ;; esac
    case ",$_flags," in *,failover_in_progress,* | *,promoted,*) return 1 ;; esac
    _replicas=$(ask "$1" "$2" SENTINEL replicas "$MASTER_NAME") || return 1
    # Every replica's flags: each must say s_down (none listed: nothing to promote either).
    ! printf '%s\n' "$_replicas" | awk 'prev == "flags" { print } { prev = $0 }' | grep -qv 's_down'
}

# role_of IP PORT: prints the role ("master", "slave", "sentinel") the Redis at IP:PORT reports,
# or nothing when it does not answer.
role_of() {
    ask "$1" "$2" ROLE | sed -n 1p || true
}

# resolve HOST DEADLINE: prints HOST's IPv4 address (an address is printed as is), retrying once
# a second until DEADLINE (seconds since the epoch); dies then. Swarm publishes a service's name
# only while its task runs (and, with a health check, once healthy).
resolve() {
    while :; do
        if ipv4_int "$1" >/dev/null; then
            echo "$1"
            return 0
        fi
        _ip=$(timeout "$ASK_TIMEOUT" getent ahostsv4 "$1" | awk 'NR == 1 { print $1 }') || true
        if [ -n "$_ip" ]; then
            echo "$_ip"
            return 0
        fi
        [ "$(now)" -lt "$2" ] || die "cannot resolve $1 (no IPv4 address): is its service running?"
        log "waiting for $1 to resolve"
        sleep 1
    done
}

# split_host_port NAME VALUE: checks VALUE is host:port (dies naming NAME otherwise).
split_host_port() {
    case $2 in
        *:*) ;;
        *) die "$1 must be host:port (got '$2')" ;;
    esac
    is_port "${2##*:}" || die "$1 must be host:port with a port from 1 to 65535 (got '$2')"
    [ -n "${2%:*}" ] || die "$1 must be host:port (got '$2')"
}

# run_as_redis PROGRAM ARG...: replaces this shell with PROGRAM, as the redis user when started
# as root (the secret is readable only by root; nothing else needs root). The umask 077 makes
# every file it writes, config rewrites included (they follow the umask), readable by it alone.
run_as_redis() {
    unset REDISCLI_AUTH password
    umask 077
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=redis --regid=redis --init-groups -- "$@"
    fi
    exec "$@"
}

# own_for_redis [-R] PATH...: hands files and directories (-R: and all within) to the redis user
# when running as root.
own_for_redis() {
    [ "$(id -u)" = 0 ] || return 0
    if [ "$1" = -R ]; then
        shift
        chown -R redis:redis "$@"
    else
        chown redis:redis "$@"
    fi
}
