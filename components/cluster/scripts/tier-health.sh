#!/bin/sh
# Runs on a node of one tier at the end of every update, beside stack-health.sh: a service can
# run all its tasks, healthy each, while the tier does not work as one (two Redis masters, an
# etcd member left over from a replaced manager, Postgres without its synchronous standby). The
# tier's own check answers that: CHECK, a program in the tier's image, then its arguments, one
# per line (swarm-ha-redis-check, swarm-ha-patroni-check MEMBER..., swarm-ha-etcd-check), run
# inside this node's task of SERVICE with `docker exec`. It must pass twice in a row, 2 s apart (a
# tier still settling after a restart may pass for a moment), within WAIT_SECONDS, or the run
# fails with the check's list of differences.
: "${NODE_NAME:?}" "${TIER:?}" "${SERVICE:?}" "${CHECK:?}" "${WAIT_SECONDS:?}"

# The check's words, one per line, as arguments.
set --
while IFS= read -r word; do
    set -- "$@" "$word"
done <<EOF
$CHECK
EOF

# check_once ARG...: the check's output; fails when the tier differs (or the task is not here).
check_once() {
    task=$(docker ps --quiet --filter "label=com.docker.swarm.service.name=$SERVICE" --filter status=running | head -n 1) || true
    if [ -z "$task" ]; then
        echo "no running task of $SERVICE on this node"
        return 1
    fi
    docker exec "$task" "$@" 2>&1
}

waited=0
passes=0
while :; do
    if out=$(check_once "$@"); then
        passes=$((passes + 1))
        [ "$passes" -lt 2 ] || break
    else
        passes=0
    fi
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
        die "the $TIER tier does not work as one after ${WAIT_SECONDS}s (asked in $SERVICE):
$out"
    fi
    sleep 2
    waited=$((waited + 2))
done
printf 'status=healthy\ntier=%s\ncheck=%s\n' "$TIER" "$out"
