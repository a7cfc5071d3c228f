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

# is_swarm_manager: is this host an active manager of a swarm that has a leader (so the
# node list can be read and changed here)?
is_swarm_manager() {
    [ "$(swarm_info '{{.Swarm.LocalNodeState}}')" = active ] && is_manager
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every second until it succeeds.
wait_until() {
    _wait_limit=$1
    _wait_what=$2
    shift 2
    _waited=0
    until "$@"; do
        _waited=$((_waited + 1))
        [ "$_waited" -lt "$_wait_limit" ] || die "gave up after ${_wait_limit}s waiting for $_wait_what"
        sleep 1
    done
}

# local_task SERVICE: the ID of a running container of SERVICE's tasks on this node, or nothing.
local_task() {
    docker ps --quiet --filter "label=com.docker.swarm.service.name=$1" --filter status=running | head -n 1
}
# has_local_task SERVICE: succeeds when this node runs a task of SERVICE (for wait_until).
has_local_task() {
    [ -n "$(local_task "$1")" ]
}

# Values are never globbed: word splitting is used only on validated lists.
set -f

# not COMMAND...: succeeds when COMMAND fails (for wait_until).
not() {
    ! "$@"
}

# node_field ID FORMAT: one field of `docker node inspect`, empty if the node is gone.
node_field() {
    docker node inspect --format "$2" "$1" 2>/dev/null || true
}

# node_addr ID: the IP a node is known by: its Raft address for a manager, the address
# it connects from for a worker.
node_addr() {
    _addr=$(node_field "$1" '{{if .ManagerStatus}}{{.ManagerStatus.Addr}}{{else}}{{.Status.Addr}}{{end}}')
    case "$_addr" in
    *]:*) _addr=${_addr%:*} ;; # [v6]:port
    *.*:*) _addr=${_addr%:*} ;; # v4:port
    esac
    _addr=${_addr#[}
    printf '%s\n' "${_addr%]}"
}

# has_no_running_tasks ID: have all of the node's tasks stopped?
has_no_running_tasks() {
    [ -z "$(docker node ps --quiet --filter desired-state=running "$1" 2>/dev/null)" ]
}

# remove_node ID WHAT: takes a node out of the swarm from this manager, without needing
# the node's host: drain it (waiting for its tasks to move if it is up), demote it if it
# is a manager, and delete it from the node list. The host, if it is alive, keeps stale
# swarm state until it leaves (swarm-ha's departure step, or its next join, does that).
# POSIX sh has no local variables: the _rm_ prefix keeps callers' variables intact.
remove_node() {
    _rm_id=$1
    _rm_what=$2
    _rm_status=$(node_field "$_rm_id" '{{.Status.State}}')
    [ -n "$_rm_status" ] || return 0
    docker node update --availability drain "$_rm_id" >/dev/null || die "could not drain $_rm_what"
    if [ "$_rm_status" = ready ]; then
        wait_until 120 "the tasks of $_rm_what to move to other nodes" has_no_running_tasks "$_rm_id"
    fi
    if [ "$(node_field "$_rm_id" '{{.Spec.Role}}')" = manager ]; then
        docker node demote "$_rm_id" >/dev/null ||
            die "could not demote $_rm_what (the swarm refuses when that would cost it its quorum)"
    fi
    # A live manager leaves Raft a moment after its demotion; until then it cannot be removed.
    wait_until 60 "$_rm_what to leave the managers' Raft cluster" node_rm "$_rm_id"
}

# node_rm ID: delete a node from the node list, quietly (for wait_until).
node_rm() {
    docker node rm --force "$1" >/dev/null 2>&1
}
