#!/bin/sh
# Runs on the first manager once the node is a member: applies its role, availability and
# labels in place (it never rejoins the node). LABELS holds "key=value" lines, all the labels
# swarm-ha manages on this node; labels it set before and no longer wants are removed,
# others' labels are kept. Then it removes the node's stale entries: the ID its host had
# before it joined again (REPLACED_NODE_ID, from join.sh), another node labelled with this name
# (the host was replaced), or a node that is down at this node's address without a swarm-ha
# label (a join that was cut short).
: "${NODE_NAME:?}" "${NODE_ID:?}" "${REPLACED_NODE_ID?}" "${ADVERTISE_ADDR:?}" "${SWARM_ROLE:?}" "${AVAILABILITY:?}" "${LABELS:?}"

previous=$(docker node inspect --format '{{index .Spec.Labels "swarm-ha.managed-labels"}}' "$NODE_ID" 2>&1) ||
    die "is not in the swarm's node list (node id $NODE_ID): $previous"
was_role=$(node_field "$NODE_ID" '{{.Spec.Role}}')

set -- --role "$SWARM_ROLE" --availability "$AVAILABILITY"
keys=""
while IFS= read -r pair; do
    [ -n "$pair" ] || continue
    set -- "$@" --label-add "$pair"
    keys="$keys${keys:+,}${pair%%=*}"
done <<LABELS_END
$LABELS
LABELS_END

saved_ifs=$IFS
IFS=,
for key in $previous; do
    case ",$keys," in
    *",$key,"*) ;;
    *) set -- "$@" --label-rm "$key" ;;
    esac
done
IFS=$saved_ifs

docker node update "$@" --label-add "swarm-ha.managed-labels=$keys" "$NODE_ID" >/dev/null ||
    die "docker node update failed"

# is_reachable_manager: has the promoted node joined Raft?
is_reachable_manager() {
    [ "$(node_field "$NODE_ID" '{{.ManagerStatus.Reachability}}')" = reachable ]
}
if [ "$SWARM_ROLE" = manager ] && [ "$was_role" != manager ]; then
    # The next manager's role changes only once this one takes part in Raft.
    wait_until 120 "the promoted node to become a reachable manager" is_reachable_manager
fi

for id in $(docker node ls --quiet); do
    [ "$id" != "$NODE_ID" ] || continue
    name=$(node_field "$id" '{{index .Spec.Labels "swarm-ha.name"}}')
    if [ "$id" = "$REPLACED_NODE_ID" ] || [ "$name" = "$NODE_NAME" ]; then
        remove_node "$id" "an older entry of $NODE_NAME ($id)"
        printf 'removed=%s\n' "$id"
    elif [ -z "$name" ] && [ "$(node_field "$id" '{{.Status.State}}')" = down ] && [ "$(node_addr "$id")" = "$ADVERTISE_ADDR" ]; then
        remove_node "$id" "a stale entry at $ADVERTISE_ADDR ($id)"
        printf 'removed=%s\n' "$id"
    fi
done
printf 'labels=%s\n' "$keys"
