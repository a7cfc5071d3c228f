#!/bin/sh
# Runs on the first manager at the end of every update, after every service: the stack's
# services must run as declared, or the run fails with a list of what differs. Each service
# the run declares (EXPECTED, found among those labelled swarm-ha.stack=STACK) runs its
# desired number of tasks (a task with a health check counts once it is healthy: Swarm reports
# it "starting" until then), and none has an update paused or rolled back. The state must hold for STABLE_SECONDS in a row, so that a service
# whose tasks keep dying (each healthy for a moment, then killed) is not caught at a good
# moment. Waits up to WAIT_SECONDS for the stack to settle (a rolling update finishing, a task
# restarting), then gives up.
: "${NODE_NAME:?}" "${STACK:?}" "${EXPECTED:?}" "${WAIT_SECONDS:?}" "${STABLE_SECONDS:?}"

is_swarm_manager ||
    die "is not an active manager of a swarm with a leader, so the stack cannot be checked ($(swarm_info '{{.Swarm.Error}}'))"

# differences: one line per way the stack's services differ from what was declared.
differences() {
    ids=$(docker service ls --quiet --filter "label=swarm-ha.stack=$STACK") || { echo "the service list cannot be read"; return; }
    rows=
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086 # one argument per service ID
        rows=$(docker service inspect --format '{{.Spec.Name}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}-{{end}}' $ids) ||
            { echo "the services cannot be inspected"; return; }
    fi
    counts=$(docker service ls --filter "label=swarm-ha.stack=$STACK" --format '{{.Name}} {{.Replicas}}') ||
        { echo "the service list cannot be read"; return; }
    {
        printf '%s\n' "$EXPECTED" | sed 's/^/E /'
        printf '%s\n' "$rows" | sed 's/^/U /'
        printf '%s\n' "$counts" | sed 's/^/C /'
    } | awk '
        $1 == "E" && NF == 2 { expected[$2] = 1; next }
        # Only what this run declares: a service it no longer declares is still in the swarm
        # while the check runs (Pulumi deletes after it creates and updates), on its way out.
        !($2 in expected) { next }
        $1 == "U" && NF == 3 {
            if ($3 == "paused" || $3 == "rollback_paused") printf "%s: its update is paused (%s): see docker service ps --no-trunc %s\n", $2, $3, $2
            else if ($3 == "rollback_completed") printf "%s: its last update failed and was rolled back, so it runs its previous spec: see docker service ps --no-trunc %s, then pulumi up --refresh\n", $2, $2
            else if ($3 == "updating" || $3 == "rollback_started") printf "%s: still rolling out (%s)\n", $2, $3
            next
        }
        $1 == "C" && NF >= 3 {
            seen[$2] = 1
            split($3, n, "/")
            if (n[1] != n[2]) printf "%s: %s tasks running and healthy, %s desired\n", $2, n[1], n[2]
        }
        END { for (s in expected) if (!(s in seen)) printf "%s: not in the swarm\n", s }
    ' | sort
}

waited=0
stable=0
last=
while :; do
    diffs=$(differences)
    if [ -z "$diffs" ]; then
        [ "$stable" -ge "$STABLE_SECONDS" ] && break
        stable=$((stable + 2))
    else
        stable=0
        last=$diffs
    fi
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
        die "the stack's services do not run as declared after ${WAIT_SECONDS}s:
${diffs:-$last}"
    fi
    sleep 2
    waited=$((waited + 2))
done
printf 'status=healthy\nservices=%s\n' "$(printf '%s\n' "$EXPECTED" | grep -c .)"
