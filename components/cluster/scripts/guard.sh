#!/bin/sh
# Runs on the first manager before any node joins, leaves or changes role: refuses a change
# of the manager set that would leave fewer managers than Raft's quorum needs, and a swarm
# that has no leader (nothing can be changed safely there).
# DESIRED_MANAGERS: the advertise addresses of the managers in config, space separated.
: "${NODE_NAME:?}" "${DESIRED_MANAGERS:?}"

state=$(swarm_info '{{.Swarm.LocalNodeState}}') || die "the Docker engine does not answer"
case "$state" in
inactive)
    # No swarm here yet: nothing can lose quorum.
    printf 'status=no-swarm\n'
    exit 0
    ;;
active)
    is_manager ||
        die "is a worker of an existing swarm; the first manager in swarm-ha:nodes must be a manager of that swarm (move a working manager to the top), or in no swarm"
    ;;
locked)
    die "its swarm is locked (autolock is on); run 'docker swarm unlock' on it, then run again"
    ;;
*)
    die "its swarm has no leader (state '$state': $(swarm_info '{{.Swarm.Error}}')). Either more than half of the managers are down, or this host was removed from the swarm while it was down and holds stale state. Put a working manager first in swarm-ha:nodes; if no manager works, see the runbook 'the swarm lost its quorum'"
    ;;
esac

# Right after a manager dies, the others elect a leader within seconds, and until then the node
# list cannot be read (CI saw the guard count 0 managers then). Wait for it, bounded: a swarm
# that stays without a leader has lost its quorum.
waited=0
until ids=$(docker node ls --quiet --filter role=manager 2>&1); do
    [ "$waited" -lt 30 ] ||
        die "cannot list the swarm's managers after 30s ($ids). If the swarm has no leader, more than half of its managers are down: see the runbook 'the swarm lost its quorum'"
    sleep 1
    waited=$((waited + 1))
done

total=0
kept=0
unreachable=0
removed=""
for id in $ids; do
    reach=$(node_field "$id" '{{.ManagerStatus.Reachability}}')
    ip=$(node_addr "$id")
    total=$((total + 1))
    wanted=false
    for d in $DESIRED_MANAGERS; do
        if [ "$d" = "$ip" ]; then wanted=true; fi
    done
    if ! $wanted; then
        removed="$removed $ip"
    elif [ "$reach" = reachable ]; then
        kept=$((kept + 1))
    else
        unreachable=$((unreachable + 1))
    fi
done

need=$((total / 2 + 1))
if [ "$kept" -lt "$need" ]; then
    what="this change removes${removed:- none of them}"
    if [ "$unreachable" -gt 0 ]; then what="$what and $unreachable of those it keeps are unreachable"; fi
    die "refusing to change the swarm's managers: of the $total current managers, $what, leaving $kept. Raft needs a majority ($need of $total) of the current managers to stay reachable while others are demoted, or the swarm loses quorum and stops accepting changes. Remove at most $((total - need)) manager(s) per update (pulumi up again for the rest), and bring unreachable managers back first. Nothing was changed."
fi
printf 'status=ok\nmanagers=%s\nkept=%s\n' "$total" "$kept"
