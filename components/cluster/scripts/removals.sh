#!/bin/sh
# Runs on the first manager after the quorum guard, before any node joins or changes role:
# takes out of the swarm every node that swarm-ha labelled and config no longer declares.
# It needs nothing from the departing hosts, so a dead host goes as easily as a live one:
# drain, demote if a manager, delete from the node list (remove_node in lib.sh). Removing
# managers first also keeps Raft small and healthy before any replacement is promoted.
# DECLARED_NAMES: the names of the nodes in config, space separated.
: "${NODE_NAME:?}" "${DECLARED_NAMES:?}"

if ! is_swarm_manager; then
    # No swarm yet (the guard has already refused a broken one): nothing to remove.
    printf 'status=no-swarm\n'
    exit 0
fi
self=$(swarm_info '{{.Swarm.NodeID}}')

count=0
for id in $(docker node ls --quiet); do
    name=$(node_field "$id" '{{index .Spec.Labels "swarm-ha.name"}}')
    [ -n "$name" ] || continue # not a node swarm-ha manages
    declared=false
    for d in $DECLARED_NAMES; do
        if [ "$d" = "$name" ]; then declared=true; fi
    done
    $declared && continue
    [ "$id" != "$self" ] || die "is labelled '$name', which config no longer declares, yet it is the first manager; move a manager that stays to the top of swarm-ha:nodes"
    remove_node "$id" "node '$name' ($id)"
    printf 'removed=%s %s\n' "$name" "$id"
    count=$((count + 1))
done
printf 'status=ok\ncount=%s\n' "$count"
