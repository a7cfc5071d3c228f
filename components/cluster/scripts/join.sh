#!/bin/sh
# Runs on a node that is not the first manager: joins it to the swarm, or leaves it alone if
# it is already a member. Never makes a node leave a swarm swarm-ha did not make.
# The join token arrives on standard input, so it is in no command line or process list.
# MANAGER_ADDRS: every manager's "address:2377" in config order, space separated; the first
# is the one that initialised the swarm.
: "${NODE_NAME:?}" "${ADVERTISE_ADDR:?}" "${MANAGER_ADDRS:?}" "${SWARM_ROLE:?}" "${CLUSTER_ID:?}"

IFS= read -r join_token || true
case "$join_token" in
SWMTKN-1-*) ;;
*) die "no join token arrived on standard input" ;;
esac

# is_member: is this node part of our swarm (the one whose managers we know)?
is_member() {
    cluster=$(swarm_info '{{.Swarm.Cluster.ID}}')
    if [ -n "$cluster" ]; then
        [ "$cluster" = "$CLUSTER_ID" ]
        return
    fi
    # Workers do not see the cluster ID; they do see the managers they talk to.
    for remote in $(swarm_info '{{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}'); do
        for manager in $MANAGER_ADDRS; do
            if [ "$remote" = "$manager" ]; then return 0; fi
        done
    done
    return 1
}

join_swarm() {
    first_manager=${MANAGER_ADDRS%% *}
    # printf is a shell builtin: the token goes from memory into curl's standard input.
    response=$(
        printf '{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s"],"JoinToken":"%s"}' \
            "$ADVERTISE_ADDR" "$first_manager" "$join_token" |
            curl --silent --show-error --unix-socket /var/run/docker.sock \
                --header 'Content-Type: application/json' --data-binary @- \
                --write-out '\n%{http_code}' http://localhost/swarm/join
    ) || die "could not reach the Docker API socket to join the swarm"
    code=$(printf '%s\n' "$response" | tail -n 1)
    [ "$code" = 200 ] || die "joining the swarm through $first_manager failed (HTTP $code): $(printf '%s\n' "$response" | sed '$d')"
}

state=$(swarm_info '{{.Swarm.LocalNodeState}}') || die "the Docker engine does not answer"
case "$state" in
active)
    is_member ||
        die "already belongs to another swarm; swarm-ha does not make a node leave a swarm it did not make. If that swarm is no longer needed, run 'docker swarm leave' on this node, then run again"
    action=kept
    ;;
inactive)
    join_swarm
    action=joined
    ;;
*)
    die "its swarm state is '$state'; if an earlier join was interrupted run 'docker swarm leave --force' on it, then run again"
    ;;
esac

if [ "$SWARM_ROLE" = manager ] && [ "$action" = joined ]; then
    # The next manager joins only once this one takes part in Raft.
    wait_until 120 "the node to become a reachable manager" is_manager
fi

printf 'action=%s\n' "$action"
printf 'node_id=%s\n' "$(swarm_info '{{.Swarm.NodeID}}')"
