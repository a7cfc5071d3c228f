#!/bin/sh
# Runs on the first manager: initialises the swarm, or adopts the one this host already
# manages, and prints the cluster's identity and join tokens (a secret output).
: "${NODE_NAME:?}" "${ADVERTISE_ADDR:?}" "${ADDR_POOL?}"
# ADDR_POOL: the overlay address pool (CIDR), or empty for Docker's default.

state=$(swarm_info '{{.Swarm.LocalNodeState}}') || die "the Docker engine does not answer"
case "$state" in
inactive)
    # The CLI prints a join command with the worker token: keep it out of the logs.
    set -- --advertise-addr "$ADVERTISE_ADDR"
    if [ -n "$ADDR_POOL" ]; then set -- "$@" --default-addr-pool "$ADDR_POOL"; fi
    docker swarm init "$@" >/dev/null || die "docker swarm init failed"
    action=initialised
    ;;
active)
    is_manager ||
        die "is a worker of an existing swarm; the first manager in swarm-ha:nodes must be a manager of that swarm, or in no swarm"
    action=adopted
    ;;
locked)
    die "its swarm is locked (autolock is on); run 'docker swarm unlock' on it, then run again"
    ;;
*)
    die "its swarm has no leader (state '$state'); put a working manager first in swarm-ha:nodes"
    ;;
esac

printf 'action=%s\n' "$action"
printf 'cluster_id=%s\n' "$(swarm_info '{{.Swarm.Cluster.ID}}')"
printf 'node_id=%s\n' "$(swarm_info '{{.Swarm.NodeID}}')"
printf 'manager_token=%s\n' "$(docker swarm join-token --quiet manager)"
printf 'worker_token=%s\n' "$(docker swarm join-token --quiet worker)"
