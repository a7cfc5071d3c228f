#!/bin/sh
# Runs on a Postgres node just before the Docker provider restarts this node's member (a change
# of its task: image, patroni.yml, password files): MEMBER's leadership handed to another member
# by a Patroni switchover first, through PROGRAM (components/postgres/patroni-handover.py), run
# in this node's task of SERVICE with `docker exec -i … python3 -`, on stdin, so that a member of
# an older image runs it as well. DECLARED lists the members in config, one per line.
# TASK_DIGEST, a digest of the member's task as the program declares it, is why the step runs:
# it changes exactly when the task does. No running task of SERVICE here (a member that is
# down): it leads nothing, so its restart moves no leader.
: "${NODE_NAME:?}" "${SERVICE:?}" "${MEMBER:?}" "${DECLARED:?}" "${WAIT_SECONDS:?}" "${TASK_DIGEST:?}" "${PROGRAM:?}"

task=$(local_task "$SERVICE")
if [ -z "$task" ]; then
    printf 'patroni-handover: no running task of %s on this node: its restart moves no leader\n' "$SERVICE"
    exit 0
fi
# DECLARED as one argument: the program splits it (a member's name has no space or newline).
out=$(printf '%s\n' "$PROGRAM" | docker exec -i "$task" python3 - "$MEMBER" "$WAIT_SECONDS" "$DECLARED" 2>&1) ||
    die "the Postgres leader could not be moved off $MEMBER before its restart (asked in $SERVICE):
$out"
printf '%s\n' "$out"
