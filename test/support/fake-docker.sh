#!/bin/sh
# A stand-in `docker` CLI for testing the host scripts' logic without a Docker engine.
# It answers from FAKE_* environment variables and appends every call to $FAKE_LOG.
#   FAKE_VERSION       server version (default 24.0.7)
#   FAKE_STATE         Swarm.LocalNodeState (default inactive)
#   FAKE_CONTROL       Swarm.ControlAvailable (default false)
#   FAKE_CLUSTER       Swarm.Cluster.ID
#   FAKE_SELF          Swarm.NodeID (default self-id)
#   FAKE_ERROR         Swarm.Error
#   FAKE_REMOTES       RemoteManagers addresses, space separated
#   FAKE_NODES         the node list, one node per ';':
#                      "id role reachability addr status availability name-label hostname"
#                      (reachability '-' for a worker, name-label '-' for none)
#   FAKE_MANAGED       the swarm-ha.managed-labels label of any node
#   FAKE_JOINS_AS_MANAGER  if set, once fake-curl has joined, this host is a manager
#   FAKE_SERVICES      the stack's services, one per ';': "name running/desired update-state"
#                      (update-state '-' for a service never updated; running/desired(maxN)
#                      for a service with at most N tasks per node)
#   FAKE_FLAPPING      a service whose running count drops to 0 on every other `service ls`
#   FAKE_TASKS         the services with a running task on this node, space-separated
#   FAKE_CONTAINERS    the services with a container on this node that is not running (one
#                      of FAKE_TASKS has a container too), space-separated
#   FAKE_CHECKS        the exit code of each `docker exec` in turn, space-separated (the last
#                      one repeats); each prints "check N: exit CODE" (`exec -i` keeps its
#                      stdin in $FAKE_LOG.stdin)
#   FAKE_SPREAD        spread.sh's services, one per ';': "service replicas node-id,node-id,..."
#                      (the node of each running task). `service scale` places new tasks as
#                      Swarm would (each on the ready, active node with the fewest; node IDs
#                      starting "x" are never chosen, as a node the service's placement
#                      excludes) and removes them from the nodes with the most copies.
#   FAKE_STUCK         a service whose new tasks never run (no node can take them)
#   FAKE_WRONG_SCALE_DOWNS  the first N scale-downs take a task from the node with the fewest
#   FAKE_NO_LEADER_CALLS  the first N `node ls` calls fail as in a swarm electing its leader
printf '%s\n' "$*" >>"${FAKE_LOG:?}"
all="$*"
last=${all##* } # the last argument: a node ID, for `node inspect`

# node_row ID: the FAKE_NODES entry of a node, as separate words.
node_row() {
    printf '%s\n' "${FAKE_NODES:-}" | tr ';' '\n' | while read -r id rest; do
        if [ "$id" = "$1" ]; then echo "$id $rest"; fi
    done
}
# field ID N: the N-th word of a node's entry (1 = id).
field() {
    node_row "$1" | cut -d ' ' -f "$2"
}
all_ids() {
    printf '%s\n' "${FAKE_NODES:-}" | tr ';' '\n' | while read -r id _; do
        if [ -n "$id" ]; then echo "$id"; fi
    done
}

# services_field N: the N-th word of every FAKE_SERVICES entry, one per line.
services_field() {
    printf '%s\n' "${FAKE_SERVICES:-}" | tr ';' '\n' | while read -r name replicas state; do
        if [ -n "$name" ]; then
            case $1 in
                1) echo "$name" ;;
                2) echo "$name $replicas" ;;
                3) echo "$name $state" ;;
            esac
        fi
    done
}

# spread_file SERVICE KIND: spread.sh's service state (KIND tasks: one node ID per running
# task; KIND replicas: the count), started from FAKE_SPREAD on first use.
spread_file() {
    _f="$FAKE_LOG.spread-$1-$2"
    if [ ! -e "$FAKE_LOG.spread-$1-replicas" ]; then
        printf '%s\n' "${FAKE_SPREAD:-}" | tr ';' '\n' | while read -r name replicas tasks; do
            [ "$name" = "$1" ] || continue
            echo "$replicas" >"$FAKE_LOG.spread-$1-replicas"
            printf '%s\n' "$tasks" | tr ',' '\n' | grep . >"$FAKE_LOG.spread-$1-tasks" || true
        done
    fi
    echo "$_f"
}
# up_nodes: the IDs of ready, active nodes, one per line.
up_nodes() {
    for id in $(all_ids); do
        if [ "$(field "$id" 5)" = ready ] && [ "$(field "$id" 6)" = active ]; then echo "$id"; fi
    done
}

case "$*" in
"service inspect --format {{.Spec.Mode.Replicated.Replicas}} "*) cat "$(spread_file "$last" replicas)" ;;
"service ps --quiet --filter desired-state=running "*)
    i=0
    while read -r _node; do
        i=$((i + 1))
        echo "task-$last-$i-$_node"
    done <"$(spread_file "$last" tasks)"
    ;;
"inspect --type task --format {{.NodeID}} {{.Status.State}} "*)
    shift 5
    for t in "$@"; do echo "${t##*-} running"; done
    ;;
"service scale --detach "*)
    service=${last%=*}
    want=${last#*=}
    tasks=$(spread_file "$service" tasks)
    echo "$want" >"$(spread_file "$service" replicas)"
    while [ "$(grep -c . "$tasks")" -gt "$want" ]; do
        # The node with the most copies loses one; the first FAKE_WRONG_SCALE_DOWNS times, the
        # node with the fewest (as Swarm once did on the lab).
        order=-k1,1nr
        wrong=$(cat "$FAKE_LOG.wrong-scale-downs" 2>/dev/null || echo 0)
        if [ "$wrong" -lt "${FAKE_WRONG_SCALE_DOWNS:-0}" ]; then
            order=-k1,1n
            echo $((wrong + 1)) >"$FAKE_LOG.wrong-scale-downs"
        fi
        most=$(sort "$tasks" | uniq -c | sort "$order" -k2 | awk 'NR == 1 { print $2 }')
        awk -v n="$most" '$1 == n && !done { done = 1; next } { print }' "$tasks" >"$tasks.new" && mv "$tasks.new" "$tasks"
    done
    if [ "$service" != "${FAKE_STUCK:-}" ]; then
        while [ "$(grep -c . "$tasks")" -lt "$want" ]; do
            # The eligible node up with the fewest copies gains one.
            fewest=$(for id in $(up_nodes); do
                case $id in x*) continue ;; esac
                echo "$(grep -cx "$id" "$tasks") $id"
            done | sort -k1,1n -k2 | awk 'NR == 1 { print $2 }')
            [ -n "$fewest" ] || break
            echo "$fewest" >>"$tasks"
        done
    fi
    ;;
"service ls --quiet --filter label=swarm-ha.stack="*) services_field 1 ;;
"service inspect --format {{.Spec.Name}} "*) services_field 3 ;;
"service inspect "[!-]*) services_field 1 | grep -qx "$last" || {
    echo "Error: no such service: $last" >&2
    exit 1
} ;;
"service ls --filter label=swarm-ha.stack="*" --format {{.Name}} {{.Replicas}}")
    calls=$(grep -c '^service ls --filter' "$FAKE_LOG")
    services_field 2 | while read -r name replicas; do
        if [ "$name" = "${FAKE_FLAPPING:-}" ] && [ $((calls % 2)) -eq 1 ]; then replicas="0/${replicas#*/}"; fi
        case $replicas in
            *"(max"*)
                max=${replicas#*(max}
                replicas="${replicas%%(*} (max ${max%)} per node)"
                ;;
        esac
        echo "$name $replicas"
    done
    ;;
"ps --quiet --filter label=com.docker.swarm.service.name="*" --filter status=running")
    service=${all#ps --quiet --filter label=com.docker.swarm.service.name=}
    service=${service%% *}
    for t in ${FAKE_TASKS:-}; do
        if [ "$t" = "$service" ]; then echo "task-of-$t"; fi
    done
    ;;
"ps --all --quiet --filter label=com.docker.swarm.service.name="*)
    service=${all#ps --all --quiet --filter label=com.docker.swarm.service.name=}
    for t in ${FAKE_TASKS:-} ${FAKE_CONTAINERS:-}; do
        if [ "$t" = "$service" ]; then echo "container-of-$t"; fi
    done
    ;;
"exec -i task-of-"* | "exec task-of-"*)
    # What `exec -i` was given on stdin, kept for the test.
    case $all in "exec -i "*) cat >"$FAKE_LOG.stdin" ;; esac
    n=$(grep -c '^exec ' "$FAKE_LOG")
    code=
    i=0
    for c in ${FAKE_CHECKS:-0}; do
        i=$((i + 1))
        code=$c
        [ "$i" -lt "$n" ] || break
    done
    echo "check $n: exit $code"
    exit "$code"
    ;;
"version --format {{.Server.Version}}") echo "${FAKE_VERSION:-24.0.7}" ;;
"info --format {{.Swarm.LocalNodeState}}") echo "${FAKE_STATE:-inactive}" ;;
"info --format {{.Swarm.ControlAvailable}}")
    if [ -n "${FAKE_JOINS_AS_MANAGER:-}" ] && [ -e "$FAKE_LOG.joined" ]; then echo true; else echo "${FAKE_CONTROL:-false}"; fi
    ;;
"info --format {{.Swarm.Cluster.ID}}") echo "${FAKE_CLUSTER:-}" ;;
"info --format {{.Swarm.NodeID}}") echo "${FAKE_SELF:-self-id}" ;;
"info --format {{.Swarm.Error}}") echo "${FAKE_ERROR:-}" ;;
"info --format {{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}") echo "${FAKE_REMOTES:-}" ;;
"node ls --quiet") all_ids ;;
"node ls --quiet --filter role=manager")
    if [ "$(grep -c '^node ls' "$FAKE_LOG")" -le "${FAKE_NO_LEADER_CALLS:-0}" ]; then
        echo "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online." >&2
        exit 1
    fi
    for id in $(all_ids); do
        if [ "$(field "$id" 2)" = manager ]; then echo "$id"; fi
    done
    ;;
"node inspect --format {{.ManagerStatus.Reachability}} "*)
    r=$(field "$last" 3)
    [ "$r" = - ] || echo "$r"
    ;;
"node inspect --format {{if .ManagerStatus}}{{.ManagerStatus.Addr}}{{else}}{{.Status.Addr}}{{end}} "*)
    id=$last
    if [ "$(field "$id" 3)" = - ]; then field "$id" 4; else echo "$(field "$id" 4):2377"; fi
    ;;
"node inspect --format {{.Spec.Role}} "*) field "$last" 2 ;;
"node inspect --format {{.Status.State}} "*) field "$last" 5 ;;
"node inspect --format {{index .Spec.Labels \"swarm-ha.name\"}} "*)
    n=$(field "$last" 7)
    [ "$n" = - ] || echo "$n"
    ;;
"node inspect --format {{index .Spec.Labels \"swarm-ha.managed-labels\"}} "*) echo "${FAKE_MANAGED:-}" ;;
"node inspect --format {{.ID}} "*)
    # health.sh's one-line-per-node format: node inspect --format FORMAT ID...
    shift 4
    for id in "$@"; do
        # shellcheck disable=SC2046 # one word per field
        set -- $(node_row "$id")
        echo "$1 $7 $2 $6 $5 $3 $8"
    done
    ;;
"node inspect "*)
    # a plain inspect: does the node exist?
    [ -n "$(node_row "$last")" ] || {
        echo "Error: No such node: $last" >&2
        exit 1
    }
    echo "[]"
    ;;
"node update "* | "node demote "* | "node rm "* | "node ps "* | "swarm leave"*) ;;
"kill --signal HUP task-of-"*) ;;
"run --rm -i --network none --volume "*)
    # A throwaway container with a named volume at /peers: the script runs here, on a directory
    # of FAKE_VOLUMES standing in for the volume.
    _dir="${FAKE_VOLUMES:?}/${7%%:*}"
    mkdir -p "$_dir"
    _script=$(printf '%s' "${12}" | sed "s|/peers/|$_dir/|g")
    exec sh -c "$_script"
    ;;
*)
    echo "fake docker: unexpected call: $*" >&2
    exit 99
    ;;
esac
