#!/bin/sh
# Runs on the first manager before a node's member step: what the swarm knows of the node.
# Prints node_id= the swarm's ID for it (found by the swarm-ha.name label settings.sh puts
# on it, else by its address), or nothing when the swarm has no such node. join.sh compares
# it with the host's own swarm state: a host that believes it is in this swarm but is not
# registered was removed while it was down, and must leave before it joins again.
# SWARM_ROLE and MANAGER_ADDRS are not used here: they are the member step's inputs too, so
# that this lookup runs again whenever the member step does and the two never disagree.
: "${NODE_NAME:?}" "${ADVERTISE_ADDR:?}" "${SWARM_ROLE:?}" "${MANAGER_ADDRS:?}"

if ! is_swarm_manager; then
    printf 'node_id=\n'
    exit 0
fi

by_label=""
by_addr=""
for id in $(docker node ls --quiet); do
    if [ "$(node_field "$id" '{{index .Spec.Labels "swarm-ha.name"}}')" = "$NODE_NAME" ]; then
        by_label=$id
    elif [ -z "$by_addr" ] && [ "$(node_addr "$id")" = "$ADVERTISE_ADDR" ] && [ "$(node_field "$id" '{{.Status.State}}')" = ready ]; then
        by_addr=$id
    fi
done
printf 'node_id=%s\n' "${by_label:-$by_addr}"
