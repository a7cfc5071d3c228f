#!/bin/sh
# Runs on a Postgres node whenever the cluster-wide Patroni settings in config change (and when
# the tier is created): SETTINGS (a JSON object of Patroni's dynamic settings) applied to the
# running cluster through PROGRAM (components/postgres/patroni-settings.py), run in this node's
# task of SERVICE with `docker exec -i … python3 -`, on stdin, so that a member of an older
# image runs it as well. Patroni applies them on every member with no restart; patroni.yml,
# whose `bootstrap.dcs` Patroni reads only when it creates the cluster, does not change.
# This node's member must be running within WAIT_SECONDS.
: "${NODE_NAME:?}" "${SERVICE:?}" "${SETTINGS:?}" "${WAIT_SECONDS:?}" "${PROGRAM:?}"

wait_until "$WAIT_SECONDS" "a running task of $SERVICE on this node" has_local_task "$SERVICE"
task=$(local_task "$SERVICE")
out=$(printf '%s\n' "$PROGRAM" | docker exec -i "$task" python3 - "$SETTINGS" "$WAIT_SECONDS" 2>&1) ||
    die "Patroni's settings could not be applied (asked in $SERVICE):
$out"
printf '%s\n' "$out"
