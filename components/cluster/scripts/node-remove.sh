#!/bin/sh
# Runs on the first manager after a removed node has left: deletes its entry from the node
# list. The node is found by the swarm-ha.name label that settings.sh put on it.
: "${NODE_NAME:?}"

# At a full teardown the first manager has already left: there is no node list any more.
is_manager || exit 0

# is_down ID: has the node stopped talking to the swarm?
is_down() {
    [ "$(docker node inspect --format '{{.Status.State}}' "$1" 2>/dev/null)" = down ]
}

for id in $(docker node ls --quiet); do
    name=$(docker node inspect --format '{{index .Spec.Labels "swarm-ha.name"}}' "$id" 2>/dev/null || true)
    [ "$name" = "$NODE_NAME" ] || continue
    wait_until 60 "node $id to be down after leaving" is_down "$id"
    docker node rm "$id" >/dev/null || die "docker node rm $id failed"
    printf 'removed=%s\n' "$id"
done
