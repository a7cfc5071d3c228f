#!/bin/sh
# Runs on the first manager before any node joins, leaves or changes role: refuses a change
# of the manager set that would leave fewer managers than Raft's quorum needs.
# DESIRED_MANAGERS: the advertise addresses of the managers in config, space separated.
: "${NODE_NAME:?}" "${DESIRED_MANAGERS:?}"

state=$(swarm_info '{{.Swarm.LocalNodeState}}') || die "the Docker engine does not answer"
if [ "$state" != active ] || ! is_manager; then
    # No swarm here yet (or not a manager of one): nothing can lose quorum.
    printf 'status=no-swarm\n'
    exit 0
fi

total=0
kept=0
unreachable=0
removed=""
for id in $(docker node ls --quiet --filter role=manager); do
    info=$(docker node inspect --format '{{.ManagerStatus.Reachability}} {{.ManagerStatus.Addr}}' "$id") ||
        die "cannot inspect manager $id"
    reach=${info%% *}
    ip=${info#* }
    ip=${ip%:*}
    ip=${ip#[}
    ip=${ip%]}
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
