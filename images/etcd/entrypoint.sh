#!/bin/sh
# swarm-ha-etcd: starts one member of etcd, Patroni's store, in a swarm service of its own
# (`<prefix>-etcd-<node>`, dnsrr, its data on the node's volume at /data).
#
# From the service's environment (components/postgres/etcd.ts renders it):
#   ETCD_NAME           this member's name
#   ETCD_PEERS          every member as name=host, space-separated (this one included)
#   ETCD_SELF_HOST      this member's host: its service's name
#   ETCD_CLUSTER_TOKEN  --initial-cluster-token
#   ETCD_CLIENT_HOST    the name every member answers to (optional): another way to find one
# Test overrides (the defaults are production's):
#   SWARM_HA_ETCD_DATA (/data), SWARM_HA_ETCD_LISTEN_HOST (0.0.0.0), SWARM_HA_ETCD_CLIENT_PORT
#   (2379), SWARM_HA_ETCD_PEER_PORT (2380), SWARM_HA_ETCD_RESOLVE_TIMEOUT (60, seconds)
#
# Members advertise their service's name, not their IP: a task gets a new IP each time it
# starts, the name stays (with dnsrr, it resolves to the task's IP while the task runs).
#
# ETCD_PEERS is the managers declared when this member's service was created: the program never
# changes it afterwards (a change would restart every member, one after the other, each restart
# costing the quorum a member), so it can be out of date. The program's etcd-members step keeps
# the membership itself in step with config (components/postgres/etcd-membership.sh): it
# removes the members of managers no longer declared, and writes the declared names to the key
# /swarm-ha/etcd/declared.
# Here, through another member that answers, before this one starts: a member listed but
# without data here (a new disk, a wiped volume) is removed and added again; one that is not
# listed but has data (removed while it was away) sets its old data aside and is added; a
# member the key no longer declares is not added (its manager left config; its service is on
# its way out). With no member answering, it starts from its data, or forms a new cluster with
# the members of ETCD_PEERS. A member that must be added while the cluster has no quorum exits,
# saying so, and the swarm restarts it: it never forms a cluster of its own.
set -eu
set -f # ETCD_PEERS is split on spaces below; no word of it is a file pattern

die() {
    printf 'swarm-ha-etcd: %s\n' "$*" >&2
    exit 1
}
log() {
    printf 'swarm-ha-etcd: %s\n' "$*" >&2
}
port() { # $1: variable name, $2: value
    case $2 in
    '' | *[!0-9]*) die "$1 must be a port number (got '$2')" ;;
    esac
    if [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then die "$1 must be a port number (got '$2')"; fi
}

name=${ETCD_NAME:-}
peers=${ETCD_PEERS:-}
self_host=${ETCD_SELF_HOST:-}
token=${ETCD_CLUSTER_TOKEN:-}
client_alias=${ETCD_CLIENT_HOST:-}
# etcd reads ETCD_<FLAG> variables as flags, and refuses to start when one is also given on its
# command line ("conflicting environment variable ETCD_NAME is shadowed by corresponding
# command-line flag"); the others are not its own and it would warn about each.
unset ETCD_NAME ETCD_PEERS ETCD_SELF_HOST ETCD_CLUSTER_TOKEN ETCD_CLIENT_HOST

data=${SWARM_HA_ETCD_DATA:-/data}
listen_host=${SWARM_HA_ETCD_LISTEN_HOST:-0.0.0.0}
client_port=${SWARM_HA_ETCD_CLIENT_PORT:-2379}
peer_port=${SWARM_HA_ETCD_PEER_PORT:-2380}
resolve_timeout=${SWARM_HA_ETCD_RESOLVE_TIMEOUT:-60}

[ -n "$name" ] || die "ETCD_NAME (this member's name) is not set"
[ -n "$peers" ] || die "ETCD_PEERS (every member as name=host, space-separated) is not set"
[ -n "$self_host" ] || die "ETCD_SELF_HOST (this member's service name) is not set"
[ -n "$token" ] || die "ETCD_CLUSTER_TOKEN is not set"
case $client_alias in
*[!A-Za-z0-9_.-]*) die "ETCD_CLIENT_HOST: '$client_alias' is not a host name (letters, digits, '.', '_' and '-')" ;;
esac
port SWARM_HA_ETCD_CLIENT_PORT "$client_port"
port SWARM_HA_ETCD_PEER_PORT "$peer_port"
case $resolve_timeout in
'' | *[!0-9]*) die "SWARM_HA_ETCD_RESOLVE_TIMEOUT must be a number of seconds (got '$resolve_timeout')" ;;
esac
case $data in
/*) ;;
*) die "SWARM_HA_ETCD_DATA must be an absolute path (got '$data')" ;;
esac

initial_cluster=
hosts=
listed=no
for pair in $peers; do
    case $pair in
    [A-Za-z0-9]*=[A-Za-z0-9]*) ;;
    *) die "ETCD_PEERS: '$pair' is not name=host" ;;
    esac
    peer_name=${pair%%=*}
    peer_host=${pair#*=}
    case $peer_name$peer_host in
    *[!A-Za-z0-9_.-]*) die "ETCD_PEERS: '$pair': names and hosts are letters, digits, '.', '_' and '-'" ;;
    esac
    initial_cluster="${initial_cluster:+$initial_cluster,}$peer_name=http://$peer_host:$peer_port"
    hosts="$hosts $peer_host"
    if [ "$peer_name" = "$name" ]; then
        [ "$peer_host" = "$self_host" ] || die "ETCD_PEERS gives $name the host $peer_host, but ETCD_SELF_HOST is $self_host"
        listed=yes
    fi
done
[ "$listed" = yes ] || die "ETCD_NAME $name is not in ETCD_PEERS ($peers)"

# --- Membership: follow the declared managers -------------------------------------------------
# etcd's membership is its own: a member that replaces a dead manager must be added to it (the
# etcd-members step has removed the dead one), one whose data was lost must be removed and added
# again, and a member removed while it was away must not come back with its old data. All of it
# through a member that answers, and only while the cluster has its quorum (a membership change
# needs one).
state=new
ctl() { # ENDPOINT ARGS...: etcdctl against one member, bounded
    _endpoint=$1
    shift
    etcdctl --endpoints "$_endpoint" --dial-timeout=2s --command-timeout=5s "$@" 2>/dev/null
}
self_peer_url=http://$self_host:$peer_port
# The first other member that answers, and what it lists ("id, status, name, peer URLs, client
# URLs, learner" per line): one of ETCD_PEERS, or any member through the shared alias
# ETCD_CLIENT_HOST (ETCD_PEERS can name only managers gone since). A member of a cluster still
# forming does not answer.
answering=
listed_members=
for host in $hosts $client_alias; do
    [ "$host" != "$self_host" ] || continue
    getent ahostsv4 "$host" >/dev/null 2>&1 || continue
    if listed_members=$(ctl "http://$host:$client_port" member list -w simple) && [ -n "$listed_members" ]; then
        answering=http://$host:$client_port
        break
    fi
done
if [ -n "$answering" ]; then
    mine=$(printf '%s\n' "$listed_members" | awk -F', ' -v name="$name" -v url="$self_peer_url" '$3 == name || $4 == url { print $1 }')
    if [ -z "$mine" ] || [ ! -d "$data/member" ]; then
        # This member is to be added. Only if still declared: the managers as the etcd-members
        # step last wrote them (no key before its first change: then ETCD_PEERS stands).
        declared=$(ctl "$answering" get --print-value-only /swarm-ha/etcd/declared) || declared=
        case " $declared " in
        "  " | *" $name "*) ;;
        *)
            sleep 5 # the swarm restarts this task: not in a tight loop
            die "$name is no longer a declared manager (the cluster's declared members: $declared), so it does not join; its service goes at the end of the update"
            ;;
        esac
    fi
    if [ -d "$data/member" ] && [ -z "$mine" ]; then
        # The cluster no longer has this member: it was removed while it was away (its
        # manager left config, or was replaced). Its data would keep it out for ever.
        aside="$data/member.removed.$(date +%s)"
        log "the cluster ($answering) no longer lists $name: its old data is moved to $aside, and it joins again"
        mv "$data/member" "$aside"
    fi
    healthy=no
    ctl "$answering" endpoint health >/dev/null && healthy=yes
    if [ ! -d "$data/member" ]; then
        [ "$healthy" = yes ] || die "the etcd cluster ($answering answers) has no quorum, so $name cannot join it now (a membership change needs a majority of its members): bring its dead managers back (docs/troubleshooting.md, 'An etcd member cannot join'); the swarm restarts this task to try again"
        if [ -n "$mine" ]; then
            # Listed, but without data here: its data was lost (a new host, a wiped volume), or
            # it never started (a new cluster whose other members formed it first). Either way
            # it is added again, and joins with the membership etcd hands back.
            why="its data is gone"
            # (A member that never started has no client URL yet; one added by hand has no name.)
            printf '%s\n' "$listed_members" | awk -F', ' -v id="$mine" '$1 == id && ($2 == "unstarted" || $5 == "") { found = 1 } END { exit !found }' && why="it never started"
            ctl "$answering" member remove "$mine" >/dev/null || die "could not remove the stale entry $mine of $name from the cluster ($answering)"
            log "removed the stale entry $mine of $name ($why)"
        fi
        # etcd adds a voting member only once every voting member has been connected for 5 s
        # (its strict reconfiguration check, "unhealthy cluster"): just after a removal, or
        # while a declared member is down, it says no for a while.
        tries=0
        until added=$(etcdctl --endpoints "$answering" --dial-timeout=2s --command-timeout=5s member add "$name" --peer-urls="$self_peer_url" 2>&1); do
            tries=$((tries + 1))
            [ "$tries" -lt 20 ] || die "could not add $name to the cluster through $answering: $(printf '%s' "$added" | tail -n 1) (is every declared member up?)"
            sleep 2
        done
        initial_cluster=$(printf '%s\n' "$added" | sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p')
        [ -n "$initial_cluster" ] || die "etcdctl member add said nothing of the cluster: $added"
        state=existing
        log "added $name to the running cluster through $answering; it joins as a new member"
    fi
fi

if [ -d "$data/member" ]; then
    # etcd ignores the --initial-* flags once its data holds a member, and finds its peers
    # through the membership it stored, retrying the ones it cannot reach. Waiting for them
    # here would keep this member down while a manager is: a majority needs it up.
    log "$data holds member data: starting $name (peers need not resolve now)"
elif [ "$state" = existing ]; then
    log "starting $name as a new member of the running cluster"
else
    # A new cluster: every member must be reachable by name before it can form, and the names
    # appear only as the other services' tasks start (Swarm registers a task's name when it
    # runs; the members have no health check, which would hold it back until they are healthy,
    # and they cannot be healthy before the cluster forms). Bounded: a member that never starts
    # is an error worth a restart and a line in the service's logs.
    started=$(date +%s)
    while :; do
        missing=
        for host in $hosts; do
            getent ahostsv4 "$host" >/dev/null 2>&1 || missing="$missing $host"
        done
        [ -z "$missing" ] && break
        waited=$(($(date +%s) - started))
        if [ "$waited" -ge "$resolve_timeout" ]; then
            die "new cluster: after ${resolve_timeout}s, these members' names still do not resolve:$missing (is each one's service running, on this network?)"
        fi
        if [ $((waited % 10)) -eq 0 ]; then
            log "new cluster: waiting for the names of$missing to resolve (${waited}s of ${resolve_timeout}s)"
        fi
        sleep 1
    done
    log "new cluster: every member's name resolves; starting $name"
fi

# etcd runs as Debian's etcd user, its data readable by nobody else (etcd warns otherwise).
mkdir -p "$data"
chown etcd:etcd "$data"
chmod 0700 "$data"

# Timers (components/postgres/etcd.ts explains them): heartbeat 150 ms, election 1.5 s, so that
# a stall of one busy manager does not start an election, and a dead leader is replaced within
# Patroni's retry_timeout. Old revisions are compacted hourly: Patroni writes every few seconds,
# and an uncompacted store grows until etcd refuses writes (its space quota). Logs: etcd 3.4's
# structured logger (its default one is deprecated and says so at every start).
exec setpriv --reuid=etcd --regid=etcd --init-groups --no-new-privs \
    etcd \
    --name "$name" \
    --data-dir "$data" \
    --listen-client-urls "http://$listen_host:$client_port" \
    --advertise-client-urls "http://$self_host:$client_port" \
    --listen-peer-urls "http://$listen_host:$peer_port" \
    --initial-advertise-peer-urls "http://$self_host:$peer_port" \
    --initial-cluster "$initial_cluster" \
    --initial-cluster-token "$token" \
    --initial-cluster-state "$state" \
    --heartbeat-interval 150 \
    --election-timeout 1500 \
    --auto-compaction-mode periodic \
    --auto-compaction-retention 1h \
    --logger zap \
    --log-outputs stderr
