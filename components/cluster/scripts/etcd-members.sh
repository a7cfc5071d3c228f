#!/bin/sh
# Runs on the first manager whenever the managers in config change, before any new etcd
# member's service is created: etcd's membership follows the declared managers (DECLARED,
# name=host, one per line) through PROGRAM (components/postgres/etcd-membership.sh), run in
# this node's task of SERVICE with `docker exec -i … sh -s`, on stdin, so that a member of an
# older etcd image runs it as well. Members of managers no longer declared are removed there,
# one at a time with the quorum kept, so that a removed manager restarts no other member and a
# new one can join (PROGRAM says how).
# With no etcd service of this stack in the swarm yet, the cluster is new: nothing to do. With
# one, this node's member must be running (the runbook lists a live manager first), within
# WAIT_SECONDS.
: "${NODE_NAME:?}" "${STACK:?}" "${SERVICE:?}" "${DECLARED:?}" "${WAIT_SECONDS:?}" "${PROGRAM:?}"

is_swarm_manager ||
    die "is not an active manager of a swarm with a leader, so etcd's members cannot be checked ($(swarm_info '{{.Swarm.Error}}'))"

existing=$(docker service ls --quiet --filter "label=swarm-ha.stack=$STACK" --filter "label=swarm-ha.tier=etcd") ||
    die "the service list cannot be read"
if [ -z "$existing" ]; then
    printf 'status=new-cluster\n'
    exit 0
fi
docker service inspect "$SERVICE" >/dev/null 2>&1 ||
    die "etcd runs in this stack, but not on this node ($SERVICE is not a service): list first in config a manager that runs an etcd member already (the runbook's order: a live manager first, a new one last)"

# The declared pairs, one per line, as arguments.
set --
while IFS= read -r pair; do
    [ -z "$pair" ] || set -- "$@" "$pair"
done <<EOF
$DECLARED
EOF

wait_until "$WAIT_SECONDS" "a running task of $SERVICE on this node" has_local_task "$SERVICE"
task=$(local_task "$SERVICE")
out=$(printf '%s\n' "$PROGRAM" | docker exec -i "$task" sh -s -- "$@" 2>&1) || die "etcd's members could not follow the managers in config (asked in $SERVICE):
$out"
printf '%s\n' "$out"
