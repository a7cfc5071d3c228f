#!/bin/sh
# Runs on a node that is not the first manager: joins it to the swarm, or leaves it alone if
# it is already a member. Never makes a node leave a swarm swarm-ha did not make.
# The join token arrives on standard input, so it is in no command line or process list.
# MANAGER_ADDRS: every manager's "address:2377" in config order, space separated; the first
# is the one that initialised the swarm and the one this node joins through.
# MANAGER_NAMES: their names, in the same order (for errors).
# EXPECTED_NODE_ID: the swarm's ID for this node as registration.sh found it, or empty.
: "${NODE_NAME:?}" "${ADVERTISE_ADDR:?}" "${MANAGER_ADDRS:?}" "${MANAGER_NAMES:?}" "${SWARM_ROLE:?}" "${CLUSTER_ID:?}" "${EXPECTED_NODE_ID?}"
# How long a join Docker finishes in the background is waited for (tests shorten it).
join_wait=${SWARM_HA_JOIN_WAIT:-60}

IFS= read -r join_token || true
case "$join_token" in
SWMTKN-1-*) ;;
*) die "no join token arrived on standard input" ;;
esac

# is_ours: does the swarm state this host holds belong to our swarm (the one whose ID and
# managers we know)? Managers see the cluster ID; workers and hosts that lost their
# managers see only the managers they talk to.
is_ours() {
    cluster=$(swarm_info '{{.Swarm.Cluster.ID}}')
    if [ -n "$cluster" ]; then
        [ "$cluster" = "$CLUSTER_ID" ]
        return
    fi
    for remote in $(swarm_info '{{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}'); do
        for manager in $MANAGER_ADDRS; do
            if [ "$remote" = "$manager" ]; then return 0; fi
        done
    done
    return 1
}

is_active() {
    [ "$(swarm_info '{{.Swarm.LocalNodeState}}')" = active ]
}

# can_reach ADDR:PORT: does a TCP connection open? (curl exit 7: refused, 28: timed out)
can_reach() {
    curl --silent --output /dev/null --connect-timeout 3 --max-time 5 "http://$1/" && return 0
    case $? in 7 | 28) return 1 ;; *) return 0 ;; esac
}

# why_no_join: why a join may hang, from what this host can see: the managers that joined
# before it (managers join one at a time, in config order; workers after all of them) that do
# not answer on the swarm port, and whether they are enough to have cost the swarm its quorum.
why_no_join() {
    _members=0
    _down=
    _down_count=0
    _i=0
    for _name in $MANAGER_NAMES; do
        _i=$((_i + 1))
        [ "$_name" != "$NODE_NAME" ] || break # this manager: the ones after it have not joined yet
        _addr=$(printf '%s\n' "$MANAGER_ADDRS" | tr ' ' '\n' | sed -n "${_i}p")
        _members=$((_members + 1))
        if ! can_reach "$_addr"; then
            _down="${_down:+$_down, }$_name ($_addr)"
            _down_count=$((_down_count + 1))
        fi
    done
    if [ "$_down_count" -eq 0 ]; then
        echo "Every manager that joined before it answers on its swarm port: see 'docker info' and the engine's log on this host and on the first manager"
    elif [ $((2 * (_members - _down_count))) -le "$_members" ]; then
        echo "The swarm has lost its quorum: $_down_count of its $_members manager(s) do not answer on their swarm port ($_down), and a swarm takes no join without a majority of its managers. Bring them back, or see docs/troubleshooting.md, 'The swarm lost its quorum'"
    else
        echo "Manager(s) not answering on their swarm port: $_down (the swarm keeps its quorum without them)"
    fi
}

join_swarm() {
    first_manager=${MANAGER_ADDRS%% *}
    # printf is a shell builtin: the token goes from memory into curl's standard input.
    response=$(
        printf '{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s"],"JoinToken":"%s"}' \
            "$ADVERTISE_ADDR" "$first_manager" "$join_token" |
            curl --silent --show-error --max-time 90 --unix-socket /var/run/docker.sock \
                --header 'Content-Type: application/json' --data-binary @- \
                --write-out '\n%{http_code}' http://localhost/swarm/join
    ) || die "could not reach the Docker API socket to join the swarm"
    code=$(printf '%s\n' "$response" | tail -n 1)
    body=$(printf '%s\n' "$response" | sed '$d')
    [ "$code" = 200 ] && return 0
    case "$body" in
    *"will continue in the background"*)
        # Docker gives up waiting after 20s but keeps trying: give it a while longer.
        _waited=0
        until is_active; do
            [ "$_waited" -lt "$join_wait" ] || die "gave up after ${join_wait}s waiting for the join through $first_manager to complete ($body). $(why_no_join)"
            sleep 1
            _waited=$((_waited + 1))
        done
        ;;
    *) die "joining the swarm through $first_manager failed (HTTP $code): $body" ;;
    esac
}

state=$(swarm_info '{{.Swarm.LocalNodeState}}') || die "the Docker engine does not answer"
self=$(swarm_info '{{.Swarm.NodeID}}')
replaced="" # the swarm ID this host had before it joined again, for settings.sh to remove
case "$state" in
inactive)
    join_swarm
    action=joined
    ;;
active | pending | error)
    if [ -n "$EXPECTED_NODE_ID" ] && [ "$self" = "$EXPECTED_NODE_ID" ]; then
        # The swarm knows this host by the ID it holds: a member.
        is_active || wait_until 60 "the node to reconnect to its managers ($(swarm_info '{{.Swarm.Error}}'))" is_active
        action=kept
    elif is_swarm_manager && docker node inspect "$self" >/dev/null 2>&1; then
        # A manager that finds itself in the node list is a member, whatever the lookup said:
        # never make a member of Raft leave by force.
        action=kept
    elif is_ours; then
        # It holds state of our swarm that the swarm no longer has: it was removed while it
        # was down, or a join was cut short. Only a fresh join makes it a member again.
        docker swarm leave --force >/dev/null || die "could not leave the stale swarm state it holds"
        replaced=$self
        join_swarm
        action=rejoined
    elif [ "$state" = active ]; then
        die "already belongs to another swarm; swarm-ha does not make a node leave a swarm it did not make. If that swarm is no longer needed, run 'docker swarm leave' on this node, then run again"
    else
        die "holds the state of a swarm whose managers are not in swarm-ha:nodes (state '$state'); if that swarm is gone, run 'docker swarm leave --force' on this node, then run again"
    fi
    ;;
*)
    die "its swarm state is '$state'; run 'docker swarm leave --force' on it if it should join this swarm, then run again"
    ;;
esac

# join_address_is_down: a worker's engine remembers the manager it joined through, and on
# promotion joins Raft only through that one (moby's nodeRunner keeps it as swarmkit's
# JoinAddr until the engine restarts, and for good once a promotion failed). If that manager
# is gone, the promotion can never finish ("can't initialize raft node").
join_address_is_down() {
    join_addr=$(sed -n 's/.*"RemoteAddr":"\([^"]*\)".*/\1/p' /var/lib/docker/swarm/docker-state.json 2>/dev/null || true)
    if [ -n "$join_addr" ]; then
        if can_reach "$join_addr"; then return 1; fi
        return 0
    fi
    # The engine's state is not readable by this user: any manager it knows that is down may be it.
    for remote in $(swarm_info '{{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}'); do
        can_reach "$remote" || return 0
    done
    return 1
}

if [ "$SWARM_ROLE" = manager ] && [ "$action" = kept ] && ! is_manager && join_address_is_down; then
    # It is to be promoted (settings.sh does that), but would never make it into Raft: join
    # again, as a manager, through the first manager. Its tasks restart once; settings.sh
    # moves its labels to the new node ID and removes the old entry.
    docker swarm leave >/dev/null || die "could not leave the swarm to rejoin it as a manager"
    replaced=$self
    join_swarm
    action=rejoined-as-manager
fi

if [ "$SWARM_ROLE" = manager ] && [ "$action" != kept ]; then
    # The next manager joins only once this one takes part in Raft.
    wait_until 120 "the node to become a reachable manager" is_manager
fi

printf 'action=%s\n' "$action"
printf 'node_id=%s\n' "$(swarm_info '{{.Swarm.NodeID}}')"
printf 'replaced_node_id=%s\n' "$replaced"
