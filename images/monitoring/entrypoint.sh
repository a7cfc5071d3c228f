#!/bin/sh
# swarm-ha-monitoring PROGRAM [ARGS...]: runs one of the monitoring tier's programs in the
# foreground. Passwords come from Docker secret files named by *_FILE variables, and reach a
# program through its environment or a file, never its command line (ps shows arguments).
#
#   prometheus ARGS...          Prometheus; ARGS are its flags (config, retention, ...).
#   alertmanager ARGS...        Alertmanager, clustered with the tasks of ALERTMANAGER_PEERS
#                               (a DNS name: tasks.<service>), advertising its address in
#                               CLUSTER_SUBNET (memberlist guesses only RFC 1918 addresses).
#   node-exporter ARGS...       node-exporter reading the host's /proc, /sys and / under /host.
#   redis-exporter ARGS...      the Redis exporter; REDIS_PASSWORD_FILE holds the password.
#   postgres-exporter ARGS...   the Postgres exporter; DATA_SOURCE_PASS_FILE holds the password
#                               (the exporter reads the file itself).
#   swarm-exporter ARGS...      swarm-ha's swarm exporter (nodes, managers, service replicas).
set -eu

die() {
    printf 'swarm-ha-monitoring: error: %s\n' "$*" >&2
    exit 1
}

# The first of this container's IPv4 addresses inside the subnet $1 (CIDR).
address_in() {
    python3 - "$1" <<'PY'
import ipaddress, subprocess, sys
net = ipaddress.ip_network(sys.argv[1], strict=False)
out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    addr = ipaddress.ip_interface(line.split()[3])
    if addr.ip in net:
        print(addr.ip)
        break
PY
}

[ $# -ge 1 ] || die "name the program to run: prometheus, alertmanager, node-exporter, redis-exporter, postgres-exporter or swarm-exporter"
program=$1
shift
case $program in
prometheus)
    exec prometheus "$@"
    ;;
alertmanager)
    [ -n "${CLUSTER_SUBNET:-}" ] || die "CLUSTER_SUBNET (the monitoring network's subnet) is not set"
    [ -n "${ALERTMANAGER_PEERS:-}" ] || die "ALERTMANAGER_PEERS (tasks.<alertmanager service>) is not set"
    self=$(address_in "$CLUSTER_SUBNET")
    [ -n "$self" ] || die "this container has no address in $CLUSTER_SUBNET: is it attached to the monitoring network?"
    exec prometheus-alertmanager --cluster.listen-address="0.0.0.0:9094" --cluster.advertise-address="$self:9094" \
        --cluster.peer="$ALERTMANAGER_PEERS:9094" "$@"
    ;;
node-exporter)
    exec prometheus-node-exporter --path.procfs=/host/proc --path.sysfs=/host/sys --path.rootfs=/host/root "$@"
    ;;
redis-exporter)
    [ -r "${REDIS_PASSWORD_FILE:-}" ] || die "REDIS_PASSWORD_FILE does not name a readable file"
    # read is a shell builtin: the password is in no process's arguments.
    IFS= read -r REDIS_PASSWORD <"$REDIS_PASSWORD_FILE" || true
    export REDIS_PASSWORD
    unset REDIS_PASSWORD_FILE
    exec prometheus-redis-exporter "$@"
    ;;
postgres-exporter)
    [ -r "${DATA_SOURCE_PASS_FILE:-}" ] || die "DATA_SOURCE_PASS_FILE does not name a readable file"
    exec prometheus-postgres-exporter --extend.query-path=/usr/local/lib/swarm-ha/postgres-queries.yaml "$@"
    ;;
swarm-exporter)
    exec python3 /usr/local/lib/swarm-ha/swarm-exporter.py "$@"
    ;;
*)
    die "unknown program '$program': prometheus, alertmanager, node-exporter, redis-exporter, postgres-exporter or swarm-exporter"
    ;;
esac
