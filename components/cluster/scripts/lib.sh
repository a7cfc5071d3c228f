#!/bin/sh
# Helpers shared by every swarm-ha host script: the renderer puts this file first.
# Host scripts must stay POSIX sh: they run in the SSH user's login shell.
: "${NODE_NAME:?}"

# die MESSAGE: stop with an error that names the node it concerns.
die() {
    printf 'swarm-ha: node %s: %s\n' "$NODE_NAME" "$*" >&2
    exit 1
}

# swarm_info FORMAT: one field of `docker info`, e.g. '{{.Swarm.LocalNodeState}}'.
swarm_info() {
    docker info --format "$1" 2>/dev/null
}

# is_manager: does this host take part in the swarm's Raft (manager) cluster?
is_manager() {
    [ "$(swarm_info '{{.Swarm.ControlAvailable}}')" = true ]
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every second until it succeeds.
wait_until() {
    limit=$1
    what=$2
    shift 2
    waited=0
    until "$@"; do
        waited=$((waited + 1))
        [ "$waited" -lt "$limit" ] || die "gave up after ${limit}s waiting for $what"
        sleep 1
    done
}

# Values are never globbed: word splitting is used only on validated address lists.
set -f

# not COMMAND...: succeeds when COMMAND fails (for wait_until).
not() {
    ! "$@"
}
