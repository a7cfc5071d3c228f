#!/bin/sh
# Runs on a node that was removed from config, after it was drained (and demoted if it was
# a manager): makes it leave the swarm.
: "${NODE_NAME:?}"

state=$(swarm_info '{{.Swarm.LocalNodeState}}') || die "the Docker engine does not answer"
[ "$state" != inactive ] || exit 0
if is_manager; then
    die "is still a manager, so swarm-ha will not make it leave (that could cost the swarm its quorum). Demote it from another manager with 'docker node demote', then run again"
fi
docker swarm leave >/dev/null || die "docker swarm leave failed"
printf 'status=left\n'
