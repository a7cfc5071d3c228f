#!/bin/bash
# swarm-ha lab node entrypoint (installed as /usr/local/sbin/lab-node-entrypoint and run
# under tini as PID 1). It makes the container behave like a small Linux host:
#   - /sys read-write (docker mounts it read-only; dockerd needs it),
#   - root may log in over SSH with the lab key (passed in $LAB_AUTHORIZED_KEY),
#   - sshd with host keys generated on the node's first start,
#   - dockerd on the default socket /var/run/docker.sock, supervised: if it exits
#     (crash, or `kill $(cat /var/run/docker.pid)` to apply a changed
#     /etc/docker/daemon.json) it is started again after a second.
# Nested dockerd specifics: nested containers' DNS goes to the lab gateway (never to
# public resolvers), and swarm tasks use a local image without trying to pull it.
# keepalived is installed but deliberately NOT started here.
# Logs: /var/log/lab/dockerd.log and /var/log/lab/sshd.log inside the node;
# this script's own messages go to the container's stdout (`docker logs NODE`).
set -euo pipefail

node=$(hostname)
log() { printf '[node %s] %s\n' "$node" "$*"; }

mkdir -p /var/log/lab

# Docker mounts /sys read-only for unprivileged containers; dockerd writes to it.
if ! mount -o remount,rw /sys; then
  log "warning: could not remount /sys read-write"
fi

# Authorise the lab's public key for root, then drop it from the environment so
# that sshd and dockerd do not inherit it.
install -d -m 0700 /root/.ssh
if [ -n "${LAB_AUTHORIZED_KEY:-}" ]; then
  printf '%s\n' "$LAB_AUTHORIZED_KEY" >/root/.ssh/authorized_keys
  chmod 0600 /root/.ssh/authorized_keys
else
  log "warning: LAB_AUTHORIZED_KEY is empty; nobody can log in over SSH"
fi
unset LAB_AUTHORIZED_KEY

# Host keys: the image ships none, so every node gets its own on first start
# (kept in the container's writable layer across restarts).
ssh-keygen -A >/dev/null
install -d -m 0755 /run/sshd
/usr/sbin/sshd -E /var/log/lab/sshd.log
log "sshd started"

stopping=0
child=""
on_stop() {
  stopping=1
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
  fi
}
trap on_stop TERM INT

# Nested containers' cgroups go next to the nodes' own, one tree per node, so that
# nodes (which see the host's cgroup tree: --cgroupns host) never share a parent.
cgroup_parent="/swarm-ha-lab-nested/$node"

# DNS for nested containers. The node's /etc/resolv.conf names only docker's embedded
# resolver (127.0.0.11), which nested containers cannot use, so dockerd would fall back
# to PUBLIC servers (8.8.8.8, 2001:4860:4860::8888) for every name it cannot resolve
# itself. Point it at the lab bridge's gateway instead: names of swarm services and
# tasks still resolve (dockerd answers those), anything else fails fast inside the lab.
gateway=$(ip -4 route show default | awk '{ print $3; exit }')
dns_args=()
if [ -n "$gateway" ]; then
  dns_args=(--dns "$gateway")
else
  log "warning: no default route; nested containers' DNS falls back to dockerd's defaults"
fi

# No registry is reachable from the lab: when a swarm task's image is already on the
# node, use it instead of trying (and timing out) to pull it first.
export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1

while :; do
  log "starting dockerd (log: /var/log/lab/dockerd.log)"
  printf '\n=== %s dockerd start ===\n' "$(date -Is)" >>/var/log/lab/dockerd.log
  dockerd --cgroup-parent "$cgroup_parent" "${dns_args[@]}" >>/var/log/lab/dockerd.log 2>&1 &
  child=$!
  # `wait` returns early when a trapped signal arrives: keep waiting until the
  # process is really gone.
  while kill -0 "$child" 2>/dev/null; do
    wait "$child" || true
  done
  child=""
  if [ "$stopping" = 1 ]; then
    log "dockerd stopped; node shutting down"
    exit 0
  fi
  log "dockerd exited; restarting it in 1s"
  sleep 1
done
