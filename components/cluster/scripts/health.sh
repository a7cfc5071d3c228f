#!/bin/sh
# Runs on the first manager at the end of every update, after the last membership change:
# the swarm must match config, or the run fails with a list of what differs. Every declared
# node is in the node list once, Ready, with its role and availability; every declared
# manager takes part in Raft (Reachable, the Leader included); no node swarm-ha labelled is
# left undeclared, and no other node is a manager. Waits up to WAIT_SECONDS for the swarm
# to settle (a node just promoted or just back), then gives up.
# DECLARED: one line per node in config: "name role availability".
: "${NODE_NAME:?}" "${DECLARED:?}" "${WAIT_SECONDS:?}"

is_swarm_manager ||
    die "is not an active manager of a swarm with a leader, so the swarm cannot be checked ($(swarm_info '{{.Swarm.Error}}'))"

# differences: one line per way the swarm differs from config; nothing when it matches.
differences() {
    # One inspect for every node; '-' stands for an empty field so that columns stay put.
    # shellcheck disable=SC2046 # one argument per node ID
    rows=$(docker node inspect --format '{{.ID}} {{with index .Spec.Labels "swarm-ha.name"}}{{.}}{{else}}-{{end}} {{.Spec.Role}} {{.Spec.Availability}} {{.Status.State}} {{if .ManagerStatus}}{{.ManagerStatus.Reachability}}{{else}}-{{end}} {{.Description.Hostname}}' $(docker node ls --quiet)) ||
        { echo "the node list cannot be read"; return; }
    {
        printf '%s\n' "$DECLARED" | sed 's/^/D /'
        printf '%s\n' "$rows" | sed 's/^/N /'
    } | awk '
        $1 == "D" && NF == 4 { declared[$2] = 1; want_role[$2] = $3; want_avail[$2] = $4; next }
        $1 == "N" {
            id = $2; name = $3; role = $4; avail = $5; status = $6; reach = $7; host = $8
            if (name == "-") {
                if (reach != "-") printf "manager %s (%s) is not in config\n", host, id
                next
            }
            if (!(name in declared)) { printf "%s (%s) carries a swarm-ha label but is not in config\n", name, id; next }
            entries[name]++
            if (status != "ready") printf "%s: status %s, expected ready\n", name, status
            if (avail != want_avail[name]) printf "%s: availability %s, expected %s\n", name, avail, want_avail[name]
            if (role != want_role[name]) printf "%s: role %s, expected %s\n", name, role, want_role[name]
            else if (role == "manager" && reach != "reachable") printf "%s: manager %s, expected reachable\n", name, reach
            else if (role == "worker" && reach != "-") printf "%s: still in Raft (%s) after its demotion\n", name, reach
        }
        END {
            for (n in declared) {
                if (!(n in entries)) printf "%s: not in the node list\n", n
                else if (entries[n] > 1) printf "%s: %d entries in the node list\n", n, entries[n]
            }
        }' | sort
}

waited=0
while :; do
    diffs=$(differences)
    [ -n "$diffs" ] || break
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
        die "the swarm does not match config after ${WAIT_SECONDS}s:
$diffs"
    fi
    sleep 2
    waited=$((waited + 2))
done
printf 'status=healthy\nnodes=%s\nmanagers=%s\n' \
    "$(printf '%s\n' "$DECLARED" | grep -c .)" "$(docker node ls --quiet --filter role=manager | grep -c .)"
