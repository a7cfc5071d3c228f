#!/bin/sh
# A stand-in `docker` CLI for testing the host scripts' logic without a Docker engine.
# It answers from FAKE_* environment variables and appends every call to $FAKE_LOG.
#   FAKE_VERSION       server version (default 24.0.7)
#   FAKE_STATE         Swarm.LocalNodeState (default inactive)
#   FAKE_CONTROL       Swarm.ControlAvailable (default false)
#   FAKE_CLUSTER       Swarm.Cluster.ID
#   FAKE_REMOTES       RemoteManagers addresses, space separated
#   FAKE_MANAGERS      manager nodes, "id reachability addr" separated by ';'
#   FAKE_MANAGED       the node's swarm-ha.managed-labels label
printf '%s\n' "$*" >>"${FAKE_LOG:?}"
case "$*" in
"version --format {{.Server.Version}}") echo "${FAKE_VERSION:-24.0.7}" ;;
"info --format {{.Swarm.LocalNodeState}}") echo "${FAKE_STATE:-inactive}" ;;
"info --format {{.Swarm.ControlAvailable}}") echo "${FAKE_CONTROL:-false}" ;;
"info --format {{.Swarm.Cluster.ID}}") echo "${FAKE_CLUSTER:-}" ;;
"info --format {{.Swarm.NodeID}}") echo "self-id" ;;
"info --format {{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}") echo "${FAKE_REMOTES:-}" ;;
"node ls --quiet --filter role=manager")
    printf '%s\n' "${FAKE_MANAGERS:-}" | tr ';' '\n' | while read -r id _; do [ -n "$id" ] && echo "$id"; done
    ;;
"node inspect --format {{.ManagerStatus.Reachability}} {{.ManagerStatus.Addr}} "*)
    id=${*##* }
    printf '%s\n' "${FAKE_MANAGERS:-}" | tr ';' '\n' | while read -r m reach addr; do
        if [ "$m" = "$id" ]; then echo "$reach $addr"; fi
    done
    ;;
"node inspect --format {{index .Spec.Labels \"swarm-ha.managed-labels\"}} "*) echo "${FAKE_MANAGED:-}" ;;
"node update "*) ;;
*) echo "fake docker: unexpected call: $*" >&2; exit 99 ;;
esac
