#!/bin/sh
# Runs on the first manager at the end of every update, after every service and before the
# health checks: services that may hold more than one task per node spread over their nodes
# again. Swarm places tasks only when it starts them: when a node dies, its tasks move to the
# others, and when it returns it gets none back, so the next loss of the node that took them
# takes every replica at once. SPREAD has one line per such service: its name, then the names
# (swarm-ha.name labels) of the nodes it may run on.
#
# A service is judged once it runs all its tasks (up to CONVERGE_SECONDS; one that does not is
# left to the health check). It is lopsided when one of its nodes that is up (ready, active)
# runs more than replicas / (its nodes up) of its tasks, rounded up, or fewer, rounded down. It
# is then scaled up by the tasks that must move, so that Swarm places the new tasks on the
# emptiest nodes (the services spread over the name label, with a cap per node), and back down
# once they run: Swarm removes a scaled-down service's tasks from the nodes that hold the most
# copies (swarmkit, manager/orchestrator/replicated/services.go, reconcile). No task stops
# before its replacement runs and is healthy, and the service ends with the spec Pulumi gave it
# (only its version moves). Waits up to WAIT_SECONDS for the new tasks; the service is scaled
# back whatever happens.
: "${NODE_NAME:?}" "${SPREAD:?}" "${CONVERGE_SECONDS:?}" "${WAIT_SECONDS:?}"
SPREAD_TRIES=3

is_swarm_manager ||
    die "is not an active manager of a swarm with a leader, so services cannot be spread ($(swarm_info '{{.Swarm.Error}}'))"

# The nodes that are up, "id name" per line (the same fields health.sh reads).
# shellcheck disable=SC2046 # one argument per node ID
rows=$(docker node inspect --format '{{.ID}} {{with index .Spec.Labels "swarm-ha.name"}}{{.}}{{else}}-{{end}} {{.Spec.Role}} {{.Spec.Availability}} {{.Status.State}} {{if .ManagerStatus}}{{.ManagerStatus.Reachability}}{{else}}-{{end}} {{.Description.Hostname}}' $(docker node ls --quiet)) ||
    die "the node list cannot be read, so services cannot be spread"
up=$(printf '%s\n' "$rows" | awk '$4 == "active" && $5 == "ready" { print $1, $2 }')

# tasks_by_node SERVICE: "count node-name" for each of SERVICE's nodes that are up, in SPREAD's order.
tasks_by_node() {
    _ids=$(docker service ps --quiet --filter desired-state=running "$1") || return 1
    _running=
    if [ -n "$_ids" ]; then
        # shellcheck disable=SC2086 # one argument per task ID
        _running=$(docker inspect --type task --format '{{.NodeID}} {{.Status.State}}' $_ids) || return 1
    fi
    {
        printf '%s\n' "$up" | sed 's/^/U /'
        printf '%s\n' "$_running" | sed 's/^/T /'
        printf '%s\n' "$nodes" | tr ' ' '\n' | sed 's/^/N /'
    } | awk '
        $1 == "U" && NF == 3 { name[$2] = $3; next }
        $1 == "T" && $3 == "running" && ($2 in name) { count[name[$2]]++; next }
        $1 == "N" && NF == 2 { for (id in name) if (name[id] == $2) printf "%d %s\n", count[$2], $2 }
    '
}

# imbalance REPLICAS: how many tasks must move for an even spread over the nodes up (stdin:
# tasks_by_node): the tasks above replicas/nodes (rounded up) on the fullest nodes, or those
# missing below it (rounded down) on the emptiest, whichever is more. 0 for fewer than 2 nodes.
imbalance() {
    awk -v replicas="$1" '
        { count[NR] = $1 }
        END {
            if (NR < 2) { print 0; exit }
            low = int(replicas / NR)
            high = low + (replicas % NR ? 1 : 0)
            above = 0
            below = 0
            for (i = 1; i <= NR; i++) {
                if (count[i] > high) above += count[i] - high
                if (count[i] < low) below += low - count[i]
            }
            print (above > below ? above : below)
        }
    '
}
# running: how many tasks run on the nodes up (stdin: tasks_by_node).
running() {
    awk '{ n += $1 } END { print n + 0 }'
}
# described: "name:count ..." (stdin: tasks_by_node).
described() {
    awk '{ printf "%s%s:%s", sep, $2, $1; sep = " " }'
}

# scale SERVICE REPLICAS: set the count without waiting (the caller waits for what it needs).
scale() {
    docker service scale --detach "$1=$2" >/dev/null 2>&1
}

# wait_for SERVICE COUNT [SECONDS]: poll every 2 s, up to SECONDS (WAIT_SECONDS), until exactly
# COUNT of SERVICE's tasks run on its nodes (a task still starting, or passing its first health
# check, does not).
wait_for() {
    _waited=0
    until [ "$(tasks_by_node "$1" | running)" -eq "$2" ]; do
        [ "$_waited" -lt "${3:-$WAIT_SECONDS}" ] || return 1
        sleep 2
        _waited=$((_waited + 2))
    done
}

while read -r service nodes; do
    [ -n "$service" ] || continue
    replicas=$(docker service inspect --format '{{.Spec.Mode.Replicated.Replicas}}' "$service") ||
        die "cannot read the replica count of $service, so it cannot be spread"
    # Only a service that runs all its tasks is judged: one still placing a task (a node just
    # removed, or returned) would look lopsided for a moment. One that never gets there is left
    # to the health check, which names it.
    if ! wait_for "$service" "$replicas" "$CONVERGE_SECONDS"; then
        printf 'spread=%s not judged: %s of %s tasks run on its nodes\n' "$service" "$(tasks_by_node "$service" | running)" "$replicas"
        continue
    fi
    before=$(tasks_by_node "$service") || die "cannot read where the tasks of $service run"
    moves=$(printf '%s\n' "$before" | imbalance "$replicas")
    if [ "$moves" -eq 0 ]; then
        printf 'spread=%s %s\n' "$service" "$(printf '%s\n' "$before" | described)"
        continue
    fi
    # Swarm takes a scaled-down service's tasks from its fullest nodes, but not always: on the
    # lab, right after an earlier scale-down of the same service, it once took a node's only
    # task instead (3 tasks as m3:2 w1:1 w2:1, back to m3:2 w1:1 w2:0; swarmkit's bookkeeping
    # of the slots it had just emptied is the likely cause). So it is tried up to SPREAD_TRIES
    # times.
    tries=0
    now=$before
    while [ "$moves" -gt 0 ]; do
        tries=$((tries + 1))
        [ "$tries" -le "$SPREAD_TRIES" ] ||
            die "$service is still not spread after scaling it up and back $SPREAD_TRIES times: $(printf '%s\n' "$now" | described) (see docker service ps $service)"
        printf 'spreading %s: %s tasks as %s; scaling to %s, then back (try %s of %s)\n' "$service" "$replicas" "$(printf '%s\n' "$now" | described)" "$((replicas + moves))" "$tries" "$SPREAD_TRIES" >&2
        scale "$service" "$((replicas + moves))" || die "could not scale $service to $((replicas + moves)) to spread it"
        if ! wait_for "$service" "$((replicas + moves))"; then
            scale "$service" "$replicas" || die "could not scale $service back to $replicas after spreading it failed: set it by hand (docker service scale $service=$replicas)"
            die "$service did not spread: its $moves extra task(s) did not run within ${WAIT_SECONDS}s (see docker service ps --no-trunc $service); it is back to $replicas"
        fi
        scale "$service" "$replicas" || die "could not scale $service back to $replicas after spreading it: set it by hand (docker service scale $service=$replicas)"
        wait_for "$service" "$replicas" || die "$service does not run exactly its $replicas tasks ${WAIT_SECONDS}s after being scaled back (see docker service ps $service)"
        now=$(tasks_by_node "$service") || die "cannot read where the tasks of $service run"
        moves=$(printf '%s\n' "$now" | imbalance "$replicas")
    done
    printf 'spread=%s %s (was %s)\n' "$service" "$(printf '%s\n' "$now" | described)" "$(printf '%s\n' "$before" | described)"
done <<EOF
$SPREAD
EOF
