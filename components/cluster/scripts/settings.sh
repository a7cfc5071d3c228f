#!/bin/sh
# Runs on the first manager: applies a node's role, availability and labels in place (it
# never rejoins the node). LABELS holds "key=value" lines, all the labels swarm-ha manages on
# this node; labels it set before and no longer wants are removed, others' labels are kept.
: "${NODE_NAME:?}" "${NODE_ID:?}" "${SWARM_ROLE:?}" "${AVAILABILITY:?}" "${LABELS:?}"

previous=$(docker node inspect --format '{{index .Spec.Labels "swarm-ha.managed-labels"}}' "$NODE_ID" 2>&1) ||
    die "is not in the swarm's node list (node id $NODE_ID): $previous"

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
printf 'labels=%s\n' "$keys"
