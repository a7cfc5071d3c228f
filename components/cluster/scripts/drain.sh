#!/bin/sh
# Runs on the first manager when a node is removed from config (or the swarm destroyed):
# drains it so its tasks move elsewhere, then demotes it if it is a manager (never the host
# this runs on: that one is the last to go).
: "${NODE_NAME:?}" "${NODE_ID:?}"

docker node inspect "$NODE_ID" >/dev/null 2>&1 || exit 0

docker node update --availability drain "$NODE_ID" >/dev/null || die "could not drain it"

# no_running_tasks: have all of the node's tasks stopped?
no_running_tasks() {
    [ -z "$(docker node ps --quiet --filter desired-state=running "$NODE_ID" 2>/dev/null)" ]
}
wait_until 300 "its tasks to move to other nodes" no_running_tasks

role=$(docker node inspect --format '{{.Spec.Role}}' "$NODE_ID")
if [ "$role" = manager ] && [ "$NODE_ID" != "$(swarm_info '{{.Swarm.NodeID}}')" ]; then
    docker node demote "$NODE_ID" >/dev/null || die "could not demote it"
fi
printf 'status=drained\n'
