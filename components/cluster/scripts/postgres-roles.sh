#!/bin/sh
# Runs on a Postgres node when the passwords of Postgres' roles change, and when the tier is
# created: MODE cluster-roles (postgres and replicator, before the members restart with their new
# files) or app-role (the app's role, once the members are up). The passwords come on this
# script's standard input (the step's `stdin`: a JSON object of role: password) and go on, behind
# PROGRAM_BASE64 (components/postgres/postgres-roles.py, base64 on one line), into this node's
# task of SERVICE: `docker exec -i … python3 -c LOADER`, so that a member of an older image runs
# it as well. They are on no command line, in no file and in no environment here.
# cluster-roles on a node where no task of SERVICE ever ran (no container of it, running or not):
# a new cluster, whose members create the roles with these passwords; nothing to do. Otherwise
# this node's member must be running within WAIT_SECONDS.
: "${NODE_NAME:?}" "${SERVICE:?}" "${MODE:?}" "${WAIT_SECONDS:?}" "${PROGRAM_BASE64:?}"

if [ "$MODE" = cluster-roles ] &&
    [ -z "$(docker ps --all --quiet --filter "label=com.docker.swarm.service.name=$SERVICE")" ]; then
    printf 'postgres-roles: no member of %s on this node yet: a new cluster, whose members create the roles with these passwords\n' "$SERVICE"
    exit 0
fi
wait_until "$WAIT_SECONDS" "a running task of $SERVICE on this node" has_local_task "$SERVICE"
task=$(local_task "$SERVICE")
# The program's base64 on the first line, the passwords after it; the loader is fixed text.
# shellcheck disable=SC2016 # the loader is Python, not shell
loader='import base64, sys; exec(compile(base64.b64decode(sys.stdin.readline()), "postgres-roles", "exec"))'
out=$({
    printf '%s\n' "$PROGRAM_BASE64"
    cat
} | docker exec -i "$task" python3 -c "$loader" "$MODE" "$WAIT_SECONDS" 2>&1) ||
    die "the passwords of Postgres' roles could not be set (asked in $SERVICE):
$out"
printf '%s\n' "$out"
