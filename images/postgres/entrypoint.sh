#!/bin/sh
# swarm-ha-patroni: starts one Postgres member under Patroni, in a swarm service of its own
# (`<prefix>-pg-<node>`, its data on the node's volume at /data).
#
# It starts as root, to read the passwords from their Docker secret files (root's, mode 0400),
# then runs Patroni as the postgres user with /etc/swarm-ha/patroni.yml (a Docker config that
# holds no password and no address: components/postgres/patroni-yml.ts). What differs per member
# reaches Patroni through its own environment variables, set here:
#   PATRONI_NAME, PATRONI_SCOPE          from the service, as they are
#   PATRONI_ETCD3_HOST                   from ETCD3_HOST (host:port)
#   PATRONI_POSTGRESQL_CONNECT_ADDRESS,  this task's IPv4 address in CONNECT_SUBNET (the data
#   PATRONI_RESTAPI_CONNECT_ADDRESS      network's CIDR), with the ports Postgres and Patroni use
#   PATRONI_SUPERUSER_PASSWORD,          from the files SUPERUSER_PASSWORD_FILE and
#   PATRONI_REWIND_PASSWORD,             REPLICATION_PASSWORD_FILE name (pg_rewind connects as
#   PATRONI_REPLICATION_PASSWORD         the superuser)
# Patroni removes PATRONI_* from the environment it gives Postgres and the scripts it runs.
# The app's password (APP_PASSWORD_FILE, optional) is copied to a file only postgres can read, in
# memory, where the post-bootstrap script (swarm-ha-post-bootstrap) finds it. swarm-ha's services
# no longer set it: the postgres-app-role step makes the app's role on the running cluster, so
# that rotating the app's password restarts no member.
#
# Test overrides (the defaults are production's):
#   SWARM_HA_PATRONI_CONFIG      (/etc/swarm-ha/patroni.yml)
#   SWARM_HA_RUN_DIR             (/dev/shm/swarm-ha: Patroni's pgpass and the app password; a
#                                tmpfs in every container, so they never reach a disk)
#   PATRONI_POSTGRESQL_DATA_DIR  (/data/pg)
#   PATRONI_POSTGRESQL_LISTEN    (0.0.0.0:5432)  Patroni's own overrides of the file; the
#   PATRONI_RESTAPI_LISTEN       (0.0.0.0:8008)  announced ports follow them
set -eu

die() {
    printf 'swarm-ha-patroni: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "must start as root: it reads the root-only secret files, then runs Patroni as postgres"

config=${SWARM_HA_PATRONI_CONFIG:-/etc/swarm-ha/patroni.yml}
run_dir=${SWARM_HA_RUN_DIR:-/dev/shm/swarm-ha}
data_dir=${PATRONI_POSTGRESQL_DATA_DIR:-/data/pg}
pg_listen=${PATRONI_POSTGRESQL_LISTEN:-0.0.0.0:5432}
api_listen=${PATRONI_RESTAPI_LISTEN:-0.0.0.0:8008}

[ -n "${PATRONI_NAME:-}" ] || die "PATRONI_NAME (this member's name) is not set"
[ -n "${PATRONI_SCOPE:-}" ] || die "PATRONI_SCOPE (the cluster's name) is not set"
[ -n "${ETCD3_HOST:-}" ] || die "ETCD3_HOST (etcd's endpoint, host:port) is not set"
case $ETCD3_HOST in
# One host, one colon, digits after it.
*[!A-Za-z0-9.:_-]* | *:*:* | :* | *: | *:*[!0-9]*) die "ETCD3_HOST must be host:port (got '$ETCD3_HOST')" ;;
*:*) ;;
*) die "ETCD3_HOST must be host:port (got '$ETCD3_HOST')" ;;
esac
[ -r "$config" ] || die "cannot read Patroni's configuration $config"
for path in "$data_dir" "$run_dir"; do
    case $path in
    /*/*) ;;
    *) die "$path: the data and run directories must be absolute paths below a directory of their own" ;;
    esac
done

# A password is the file's content without its trailing newlines, on one line.
newline='
'
read_password() { # $1: the variable naming the file
    eval "file=\${$1:-}"
    [ -n "$file" ] || die "$1 (the Docker secret file of a password) is not set"
    [ -r "$file" ] || die "$1: cannot read $file"
    password=$(cat "$file")
    [ -n "$password" ] || die "$1: $file is empty"
    case $password in
    *"$newline"*) die "$1: $file holds more than one line; a password is one line" ;;
    esac
    printf '%s' "$password"
}
superuser_password=$(read_password SUPERUSER_PASSWORD_FILE)
replication_password=$(read_password REPLICATION_PASSWORD_FILE)
app_password=
if [ -n "${APP_PASSWORD_FILE:-}" ]; then app_password=$(read_password APP_PASSWORD_FILE); fi

# The address to announce: this task's IPv4 address on the data network. A task has one per
# network it is on (and loopback), and a new one at every start: Patroni publishes it in etcd
# each time, so the others and the proxy's checks follow.
ipv4_number() { # a.b.c.d -> its 32-bit number
    old_ifs=$IFS
    IFS=.
    # shellcheck disable=SC2086 # split on the dots on purpose
    set -- $1
    IFS=$old_ifs
    echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4))
}
is_ipv4() {
    case $1 in
    *[!0-9.]* | *..* | .* | *.) return 1 ;;
    esac
    old_ifs=$IFS
    IFS=.
    # shellcheck disable=SC2086 # split on the dots on purpose
    set -- $1
    IFS=$old_ifs
    [ $# -eq 4 ] || return 1
    for octet; do
        case $octet in
        0?*) return 1 ;; # a leading zero would be octal in $((...))
        esac
        if [ "${#octet}" -gt 3 ] || [ "$octet" -gt 255 ]; then return 1; fi
    done
}
subnet=${CONNECT_SUBNET:-}
[ -n "$subnet" ] || die "CONNECT_SUBNET (the data network's IPv4 CIDR, e.g. 10.0.3.0/24) is not set"
bad_subnet() {
    die "CONNECT_SUBNET must be an IPv4 CIDR such as 10.0.3.0/24 (got '$subnet')"
}
case $subnet in
*/*/*) bad_subnet ;;
*/*) ;;
*) bad_subnet ;;
esac
network=${subnet%/*}
prefix=${subnet#*/}
case $prefix in
'' | *[!0-9]* | ???*) bad_subnet ;;
esac
if ! is_ipv4 "$network" || [ "$prefix" -gt 32 ]; then bad_subnet; fi
mask=$(((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
want=$(($(ipv4_number "$network") & mask))
self=
addresses=$(ip -4 -o address show | awk '{ print $4 }')
for cidr in $addresses; do
    address=${cidr%/*}
    is_ipv4 "$address" || continue
    if [ $(($(ipv4_number "$address") & mask)) -eq "$want" ]; then
        self=$address
        break
    fi
done
[ -n "$self" ] || die "no address of this container is in CONNECT_SUBNET $subnet (it has: $(printf '%s' "$addresses" | tr '\n' ' ')); is the service on that network?"

port_of() { # $1: variable name, $2: host:port
    port=${2##*:}
    case $port in
    '' | *[!0-9]*) die "$1 must be host:port (got '$2')" ;;
    esac
    echo "$port"
}
pg_port=$(port_of PATRONI_POSTGRESQL_LISTEN "$pg_listen")
api_port=$(port_of PATRONI_RESTAPI_LISTEN "$api_listen")

# Postgres wants its data directory owned by it and private. Its parent, the service's own
# volume, is postgres's too: Patroni removes or renames the data directory itself when a
# bootstrap or a clone fails, then tries again.
mkdir -p "$data_dir"
chown postgres:postgres "$data_dir" "$(dirname "$data_dir")"
chmod 0700 "$data_dir" "$(dirname "$data_dir")"
mkdir -p "$run_dir"
chown postgres:postgres "$run_dir"
chmod 0700 "$run_dir"
if [ -n "$app_password" ]; then
    (
        umask 077
        printf '%s' "$app_password" >"$run_dir/app-password"
    )
    chown postgres:postgres "$run_dir/app-password"
    chmod 0400 "$run_dir/app-password"
    export APP_PASSWORD_FILE="$run_dir/app-password"
else
    unset APP_PASSWORD_FILE
fi
# Debian's packages make the socket directory; an image or host without it gets one.
[ -d /var/run/postgresql ] || install -d -m 2775 -o postgres -g postgres /var/run/postgresql

# One host that Patroni resolves to every etcd member's address; it then follows etcd's member list.
export PATRONI_ETCD3_HOST="$ETCD3_HOST"
export PATRONI_POSTGRESQL_CONNECT_ADDRESS="$self:$pg_port"
export PATRONI_RESTAPI_CONNECT_ADDRESS="$self:$api_port"
export PATRONI_POSTGRESQL_LISTEN="$pg_listen"
export PATRONI_RESTAPI_LISTEN="$api_listen"
export PATRONI_POSTGRESQL_DATA_DIR="$data_dir"
export PATRONI_POSTGRESQL_PGPASS="$run_dir/pgpass"
export PATRONI_SUPERUSER_PASSWORD="$superuser_password"
export PATRONI_REWIND_PASSWORD="$superuser_password"
export PATRONI_REPLICATION_PASSWORD="$replication_password"
unset SUPERUSER_PASSWORD_FILE REPLICATION_PASSWORD_FILE ETCD3_HOST CONNECT_SUBNET
HOME=$(getent passwd postgres | cut -d: -f6)
export HOME

printf 'swarm-ha-patroni: %s announces %s (Postgres :%s, Patroni :%s), etcd at %s\n' \
    "$PATRONI_NAME" "$self" "$pg_port" "$api_port" "$PATRONI_ETCD3_HOST" >&2
# Patroni handles signals itself (SIGTERM: stop Postgres, give up the leader key) and, as PID 1,
# reaps what it starts. swarm-ha-patroni-run is Patroni with its etcd DNS cache cut from 600 s to
# 5 s (patroni-run.py says why: etcd's members change address each time their tasks restart).
exec setpriv --reuid=postgres --regid=postgres --init-groups --no-new-privs swarm-ha-patroni-run "$config"
