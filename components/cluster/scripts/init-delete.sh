#!/bin/sh
# Runs on the first manager when the swarm is destroyed (every other node has already left
# and been removed) or when this host stops being the first manager in config.
: "${NODE_NAME:?}"

state=$(swarm_info '{{.Swarm.LocalNodeState}}') || die "the Docker engine does not answer"
[ "$state" != inactive ] || exit 0

others=$(docker node ls --filter role=manager --format '{{.Self}}' | grep -c '^false$' || true)
if [ "$others" -gt 0 ]; then
    # Other managers keep the swarm: hand over, then leave. Its entry stays in their node
    # list as Down until someone runs 'docker node rm' there.
    docker node demote "$(swarm_info '{{.Swarm.NodeID}}')" >/dev/null || die "could not demote itself"
    wait_until 60 "the demotion to take effect" not is_manager
    docker swarm leave >/dev/null || die "docker swarm leave failed"
else
    docker swarm leave --force >/dev/null || die "docker swarm leave --force failed"
fi
printf 'status=left\n'
