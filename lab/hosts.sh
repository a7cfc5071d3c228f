#!/usr/bin/env bash
# lab/hosts.sh — the swarm-ha lab's hosts: Linux "machines" (containers that run sshd
# and their own dockerd) on a private bridge, reachable over SSH like real hosts.
#
#   lab/hosts.sh up [--managers N] [--workers M] [--debian SUITE]   (defaults 3, 1, trixie)
#   lab/hosts.sh down [--purge]
#   lab/hosts.sh status
#   lab/hosts.sh logs [DIR]
#
# Everything runs on a PRIVATE host dockerd (socket /run/swarm-ha-lab/docker.sock,
# data-root /var/lib/swarm-ha-lab/docker); no other docker on the machine is used.
# `up` writes .lab/hosts.json for the Pulumi harness. The nodes are NOT joined into a
# swarm: the Pulumi program does that over SSH. See lab/README.md.
set -Eeuo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# The lab never talks to whatever docker the caller's environment points at.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# The lab's constants, shared with the TypeScript (lab/constants.ts): one value per line.
lab_const() {
  node -e 'const v = require(process.argv[1])[process.argv[2]]; if (v === undefined) process.exit(1); console.log([].concat(v).join("\n"))' \
    "$SCRIPT_DIR/constants.json" "$1" || { echo "lab/hosts.sh: lab/constants.json has no $1 (or node is not on PATH)" >&2; exit 1; }
}
NODE_DIR="$SCRIPT_DIR/node"
LAB_DIR="$REPO_ROOT/.lab"
LOG_DIR="$LAB_DIR/logs"
SSH_DIR="$LAB_DIR/ssh"
SSH_KEY="$REPO_ROOT/$(lab_const sshKey)"
HOSTS_JSON="$LAB_DIR/hosts.json"

DOCKER_SOCK=$(lab_const dockerSocket)
RUN_DIR=$(dirname "$DOCKER_SOCK")
STATE_DIR=/var/lib/swarm-ha-lab
CACHE_DIR=/var/cache/swarm-ha-lab
DATA_ROOT="$STATE_DIR/docker"
BUILD_DIR="$STATE_DIR/build"
HOST_STATE="$STATE_DIR/host-before.env"
IPTABLES_STATE="$STATE_DIR/iptables.rules"
LOCK_FILE=/run/lock/swarm-ha-lab.lock

DOCKER_HOST_URI="unix://$DOCKER_SOCK"
DOCKERD_PIDFILE="$RUN_DIR/dockerd.pid"
DOCKERD_EXEC_ROOT="$RUN_DIR/exec"
DOCKERD_CONFIG="$RUN_DIR/daemon.json"
CONTAINERD_DIR="$RUN_DIR/containerd"
CONTAINERD_SOCK="$CONTAINERD_DIR/containerd.sock"
CONTAINERD_CONFIG="$RUN_DIR/containerd.toml"
CONTAINERD_PIDFILE="$RUN_DIR/containerd.pid"
DNSMASQ_PIDFILE="$RUN_DIR/dnsmasq.pid"

NETWORK=swarm-ha-lab
BRIDGE=swarm-ha-lab0
SUBNET=$(lab_const subnet)
GATEWAY=$(lab_const gateway)
IP_RANGE=$(lab_const ipRange) # where docker may put containers given no --ip; nodes and VIP stay below
VIP=$(lab_const vip)
NET_PREFIX=$(lab_const netPrefix)

IMAGE=swarm-ha-lab-node:1
BASE_REPO=swarm-ha-lab-base
# Bump when the way the base rootfs is built changes (it is part of the cache key).
BASE_RECIPE=1
# Bump when the way the node files are layered onto the base changes.
IMAGE_RECIPE=2
# The Debian release the nodes are built from, and so the Docker Engine they run: trixie
# (Debian 13, docker.io 26.1) by default; bookworm (Debian 12, docker.io 20.10, the oldest
# engine swarm-ha supports: MIN_DOCKER_VERSION in components/cluster/index.ts) with
# `--debian bookworm` or LAB_DEBIAN_SUITE=bookworm.
DEBIAN_SUITES=(trixie bookworm)
DEBIAN_SUITE=${LAB_DEBIAN_SUITE:-trixie}
DEBIAN_MIRROR=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${LAB_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SSH_WAIT_SECONDS=${LAB_SSH_WAIT_SECONDS:-180}

# The iptables rules the lab adds (in DOCKER-USER, which dockerd keeps first in FORWARD):
#  - traffic between nodes on the lab bridge (VRRP, swarm gossip, VXLAN) passes although
#    dockerd sets the FORWARD policy to DROP;
#  - nothing from the nodes is forwarded anywhere else: the lab's traffic stays on the
#    lab bridge and the host;
#  - the nodes may ask the lab's DNS stub on the gateway (in case INPUT is strict), and post
#    to the lab's alert receiver there (lab/alert-receiver.ts, port 19093).
LAB_RULES=(
  "DOCKER-USER -i $BRIDGE -o $BRIDGE -j ACCEPT"
  "DOCKER-USER -i $BRIDGE ! -o $BRIDGE -j REJECT"
  "INPUT -i $BRIDGE -p udp --dport 53 -j ACCEPT"
  "INPUT -i $BRIDGE -p tcp --dport 53 -j ACCEPT"
  "INPUT -i $BRIDGE -p tcp --dport 19093 -j ACCEPT"
)

mapfile -t SSH_OPTS < <(lab_const sshOptions)
SSH_OPTS=(-i "$SSH_KEY" "${SSH_OPTS[@]}")

CURRENT_STEP=start
STEP_STARTED=0

# ---------------------------------------------------------------- helpers

dk() { docker -H "$DOCKER_HOST_URI" "$@"; }

say() { printf '[lab] %s\n' "$*"; }
warn() { printf '[lab] warning: %s\n' "$*" >&2; }
die() {
  printf '[lab] error: step %s: %s\n' "$CURRENT_STEP" "$*" >&2
  exit 1
}

# step NAME: start a step; done_step MESSAGE: print its one progress line.
step() {
  CURRENT_STEP=$1
  STEP_STARTED=$SECONDS
}
done_step() {
  printf '[lab] %s: %s (%ss, total %ss)\n' "$CURRENT_STEP" "$*" \
    "$((SECONDS - STEP_STARTED))" "$SECONDS"
}

on_error() {
  local rc=$1 line=$2 where="" i
  if [ "$BASH_SUBSHELL" -eq 0 ]; then
    # Call chain, innermost first: "dk:76 < ensure_image:420 < cmd_up:700".
    for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
      where+="${where:+ < }${FUNCNAME[$i]}:${BASH_LINENO[$((i - 1))]}"
    done
    printf '[lab] error: step %s failed (exit %s at lab/hosts.sh line %s; %s)\n' \
      "$CURRENT_STEP" "$rc" "$line" "${where:-main}" >&2
  fi
}
trap 'on_error "$?" "$LINENO"' ERR

require_root() {
  if [ "$(id -u)" != 0 ]; then
    die "must run as root (it starts a dockerd and changes iptables)"
  fi
}

take_lock() {
  mkdir -p "$(dirname "$LOCK_FILE")"
  exec 9>"$LOCK_FILE"
  if ! flock -w 900 9; then
    die "another lab/hosts.sh holds $LOCK_FILE"
  fi
}

# Is PID running? A killed daemon may linger as a zombie until PID 1 reaps it: that
# counts as dead.
proc_running() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# Is PID a live lab daemon? (A stale pidfile may name a reused PID.)
pid_alive() {
  proc_running "${1:-}" || return 1
  case "$(cat "/proc/$1/comm" 2>/dev/null)" in dockerd | containerd | dnsmasq) return 0 ;; esac
  return 1
}
pid_from() { if [ -s "$1" ]; then tr -dc '0-9' <"$1"; fi; }

dockerd_answers() { dk version --format '{{.Server.Version}}' >/dev/null 2>&1; }

json_escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '%s' "$s"
}

# Node names and addresses: managers lab-m1.. at .11.., workers lab-w1.. at .21..
node_name() { if [ "$1" = manager ]; then echo "lab-m$2"; else echo "lab-w$2"; fi; }
node_addr() { if [ "$1" = manager ]; then echo "$NET_PREFIX.$((10 + $2))"; else echo "$NET_PREFIX.$((20 + $2))"; fi; }

# ---------------------------------------------------------------- step 1: packages

ensure_packages() {
  step packages
  local -a missing=()
  local pair cmd pkg
  for pair in dockerd:docker.io docker:docker.io containerd:containerd runc:runc debootstrap:debootstrap \
    iptables:iptables ip:iproute2 ssh:openssh-client ssh-keygen:openssh-client \
    dnsmasq:dnsmasq-base curl:curl flock:util-linux setsid:util-linux findmnt:util-linux tar:tar; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    if ! command -v "$cmd" >/dev/null 2>&1; then
      case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
    fi
  done
  # The image build needs the archive keyring to check debootstrap's downloads.
  if [ ! -e /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    missing+=(debian-archive-keyring)
  fi
  if [ "${#missing[@]}" -eq 0 ]; then
    done_step "all present"
    return
  fi
  local log="$LOG_DIR/apt.log"
  mkdir -p "$LOG_DIR"
  say "packages: installing ${missing[*]} (log: $log)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get update >>"$log" 2>&1; then
    warn "apt-get update reported errors; trying the install anyway"
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    warn "apt-get install failed; retrying once"
    sleep 3
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
      tail -n 20 "$log" >&2
      die "apt-get install ${missing[*]} failed (log: $log)"
    fi
  fi
  done_step "installed ${missing[*]}"
}

# ---------------------------------------------------------------- step 2: host dockerd

# Remember what the machine looked like before the lab's first dockerd, so that
# `down` can restore it (only when no other dockerd runs).
record_host_state() {
  if [ -e "$HOST_STATE" ]; then return; fi
  mkdir -p "$STATE_DIR"
  local fwd policy chains=0
  fwd=$(cat /proc/sys/net/ipv4/ip_forward)
  policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')
  if iptables -S DOCKER-USER >/dev/null 2>&1 || iptables -t nat -S DOCKER >/dev/null 2>&1; then
    chains=1
  fi
  printf 'IP_FORWARD=%s\nFORWARD_POLICY=%s\nDOCKER_CHAINS_EXISTED=%s\n' \
    "$fwd" "${policy:-ACCEPT}" "$chains" >"$HOST_STATE"
}

write_daemon_configs() {
  mkdir -p "$RUN_DIR" "$CONTAINERD_DIR" "$LOG_DIR"
  # An explicit (empty) config file so that /etc/docker/daemon.json of another docker
  # on this machine is never read.
  printf '{}\n' >"$DOCKERD_CONFIG"
  cat >"$CONTAINERD_CONFIG" <<EOF
version = 2
root = "$STATE_DIR/containerd"
state = "$CONTAINERD_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE_DIR/containerd-opt"
EOF
}

# await_daemon TRIES PID LOG MESSAGE CHECK...: polls CHECK every 0.2 s, up to TRIES times,
# while the daemon PID lives; otherwise shows the tail of its LOG and dies with MESSAGE.
await_daemon() {
  local tries=$1 pid=$2 log=$3 message=$4 i
  shift 4
  for i in $(seq 1 "$tries"); do
    if "$@"; then return 0; fi
    if ! proc_running "$pid"; then break; fi
    sleep 0.2
  done
  tail -n 30 "$log" >&2 || true
  die "$message (log: $log)"
}

start_containerd() {
  local pid
  pid=$(pid_from "$CONTAINERD_PIDFILE")
  if pid_alive "$pid" && [ -S "$CONTAINERD_SOCK" ]; then return; fi
  rm -f "$CONTAINERD_SOCK" "$CONTAINERD_SOCK.ttrpc" "$CONTAINERD_PIDFILE"
  # Own session: survives this script, and a Ctrl-C of it.
  setsid containerd --config "$CONTAINERD_CONFIG" \
    >>"$LOG_DIR/containerd.log" 2>&1 </dev/null 9>&- &
  echo "$!" >"$CONTAINERD_PIDFILE"
  await_daemon 100 "$!" "$LOG_DIR/containerd.log" "containerd did not start" test -S "$CONTAINERD_SOCK"
}

start_dockerd() {
  local pid
  pid=$(pid_from "$DOCKERD_PIDFILE")
  if pid_alive "$pid"; then
    if dockerd_answers; then return 0; fi
    # Running but not answering yet (e.g. started a moment ago): give it time below.
  else
    rm -f "$DOCKERD_PIDFILE"
    write_daemon_configs
    record_host_state
    start_containerd
    mkdir -p "$DATA_ROOT" "$DOCKERD_EXEC_ROOT"
    printf '\n=== %s lab dockerd start ===\n' "$(date -Is)" >>"$LOG_DIR/dockerd.log"
    setsid dockerd \
      --config-file "$DOCKERD_CONFIG" \
      --data-root "$DATA_ROOT" \
      --exec-root "$DOCKERD_EXEC_ROOT" \
      --pidfile "$DOCKERD_PIDFILE" \
      --host "$DOCKER_HOST_URI" \
      --containerd "$CONTAINERD_SOCK" \
      --bridge none \
      --cgroup-parent /swarm-ha-lab \
      >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null 9>&- &
    pid=$!
  fi
  await_daemon 150 "$pid" "$LOG_DIR/dockerd.log" "the lab dockerd did not answer on $DOCKER_SOCK" dockerd_answers
}

ensure_dockerd() {
  step dockerd
  local how=reused
  if ! pid_alive "$(pid_from "$DOCKERD_PIDFILE")"; then how=started; fi
  start_dockerd
  done_step "$how, $(dk version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}') on $DOCKER_SOCK"
}

# ---------------------------------------------------------------- step 3: node image

# The packages for $DEBIAN_SUITE: every line's first word, unless a second column names
# the suites the package is for and this is not one of them.
pkg_list() {
  grep -v '^[[:space:]]*#' "$NODE_DIR/packages.txt" |
    awk -v suite="$DEBIAN_SUITE" 'NF == 1 || index("," $2 ",", "," suite ",") { print $1 }'
}

base_key() {
  {
    printf 'recipe=%s suite=%s mirror=%s security=%s\n' "$BASE_RECIPE" "$DEBIAN_SUITE" \
      "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR"
    pkg_list
  } | sha256sum | cut -c1-16
}

# The files copied into the node image on top of the base rootfs, and where they go.
NODE_FILES=(
  "entrypoint.sh:/usr/local/sbin/lab-node-entrypoint:0755"
  "sshd_config:/etc/ssh/sshd_config.d/swarm-ha-lab.conf:0644"
  "daemon.json:/etc/docker/daemon.json:0644"
)
NODE_CHANGES=(
  'ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/sbin/lab-node-entrypoint"]'
  'CMD []'
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
)

image_key() {
  local entry
  {
    base_key
    printf 'recipe=%s\n' "$IMAGE_RECIPE"
    printf '%s\n' "${NODE_FILES[@]}" "${NODE_CHANGES[@]}"
    for entry in "${NODE_FILES[@]}"; do
      sha256sum <"$NODE_DIR/${entry%%:*}"
    done
  } | sha256sum | cut -c1-16
}

# Unmount everything mounted below $1 (deepest first). Tolerates nothing mounted.
umount_below() {
  local root=$1 mp
  findmnt -rn -o TARGET 2>/dev/null | awk -v r="$root" 'index($0, r "/") == 1 || $0 == r' |
    sort -r | while IFS= read -r mp; do
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || warn "could not unmount $mp"
  done
}

chroot_apt() {
  local rootfs=$1
  shift
  if ! chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get "$@"; then
    warn "apt-get $1 in the image rootfs failed; retrying once in 5s"
    sleep 5
    chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get "$@"
  fi
}

build_base_rootfs() {
  local rootfs=$1 log=$2
  umount_below "$rootfs"
  rm -rf --one-file-system "$rootfs"
  mkdir -p "$(dirname "$rootfs")"
  say "image: debootstrap $DEBIAN_SUITE (minbase) from $DEBIAN_MIRROR (log: $log)"
  if ! debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >>"$log" 2>&1; then
    warn "debootstrap failed; retrying once (log: $log)"
    umount_below "$rootfs"
    rm -rf --one-file-system "$rootfs"
    sleep 5
    if ! debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >>"$log" 2>&1; then
      tail -n 20 "$log" >&2
      die "debootstrap failed twice (log: $log)"
    fi
  fi

  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/99swarm-ha-lab" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::Retries "3";
Dpkg::Use-Pty "0";
// mirrors that serve a dated snapshot have expired Valid-Until fields
Acquire::Check-Valid-Until "false";
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/99swarm-ha-lab-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  # No service may start inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  mount -t proc proc "$rootfs/proc"
  # If anything below fails, do not leave /proc mounted in the build tree.
  trap 'umount_below "$BUILD_DIR"' EXIT

  local -a pkgs
  mapfile -t pkgs < <(pkg_list)
  say "image: apt-get install ${pkgs[*]}"
  if ! {
    chroot_apt "$rootfs" update &&
      chroot_apt "$rootfs" install -y "${pkgs[@]}" &&
      chroot_apt "$rootfs" clean
  } >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get in the image rootfs failed twice (log: $log)"
  fi

  umount_below "$rootfs"
  trap - EXIT
  # Per-node state must not be baked in: host keys are made at a node's first start.
  rm -f "$rootfs"/etc/ssh/ssh_host_* "$rootfs/usr/sbin/policy-rc.d"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log \
    "$rootfs"/tmp/* "$rootfs"/var/tmp/*
  : >"$rootfs/etc/resolv.conf"
  : >"$rootfs/etc/machine-id"
}

ensure_image() {
  step image
  local bkey ikey base have
  bkey=$(base_key)
  ikey=$(image_key)
  base="$BASE_REPO:$bkey"
  have=$(dk image inspect -f '{{index .Config.Labels "swarm-ha-lab.image-key"}}' "$IMAGE" 2>/dev/null || true)
  if [ "$have" = "$ikey" ]; then
    done_step "$IMAGE present (key $ikey)"
    return
  fi

  local how cache="$CACHE_DIR/node-base-$DEBIAN_SUITE-$bkey.tar"
  if dk image inspect "$base" >/dev/null 2>&1; then
    how="base image present"
  elif [ -s "$cache" ]; then
    say "image: loading $cache"
    dk load -q -i "$cache" >/dev/null
    how="base loaded from $cache"
  else
    local rootfs="$BUILD_DIR/rootfs-$bkey" log="$LOG_DIR/image-build.log"
    mkdir -p "$BUILD_DIR" "$CACHE_DIR" "$LOG_DIR"
    : >"$log"
    build_base_rootfs "$rootfs" "$log"
    say "image: importing the rootfs as $base"
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" \
      --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
      dk import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
    rm -rf --one-file-system "$rootfs"
    say "image: caching $base in $cache"
    dk save -o "$cache.tmp" "$base"
    mv -f "$cache.tmp" "$cache"
    local old
    # Older bases of this suite go; the other suite's base stays cached.
    for old in "$CACHE_DIR"/node-base-"$DEBIAN_SUITE"-*.tar; do
      if [ "$old" != "$cache" ] && [ -e "$old" ]; then rm -f "$old"; fi
    done
    how="base built from Debian packages"
  fi

  # The node files go on top of the base as one small layer.
  local stage="$BUILD_DIR/stage-$ikey" ctr="swarm-ha-lab-imgbuild-$$" entry src rest dst mode
  rm -rf "$stage"
  mkdir -p "$stage"
  for entry in "${NODE_FILES[@]}"; do
    src=${entry%%:*}
    rest=${entry#*:}
    dst=${rest%%:*}
    mode=${rest#*:}
    install -D -m "$mode" "$NODE_DIR/$src" "$stage$dst"
  done
  # No labels on this container: `docker commit` would copy them into the image.
  local -a stale
  mapfile -t stale < <(dk ps -aq --filter name=swarm-ha-lab-imgbuild-)
  if [ "${#stale[@]}" -gt 0 ]; then dk rm -f "${stale[@]}" >/dev/null; fi
  dk create --name "$ctr" "$base" >/dev/null
  tar --numeric-owner --owner=0 --group=0 -C "$stage" -c . | dk cp - "$ctr:/"
  local -a change_args=()
  for entry in "${NODE_CHANGES[@]}"; do change_args+=(--change "$entry"); done
  dk commit "${change_args[@]}" \
    --change "LABEL swarm-ha-lab.image-key=$ikey swarm-ha-lab.base=$base swarm-ha-lab.debian=$DEBIAN_SUITE" \
    "$ctr" "$IMAGE" >/dev/null
  dk rm -f "$ctr" >/dev/null
  rm -rf "$stage"
  # Drop other base images (older package lists) from the private engine.
  local ref
  while IFS= read -r ref; do
    if [ "$ref" != "$base" ]; then dk rmi "$ref" >/dev/null 2>&1 || true; fi
  done < <(dk images --format '{{.Repository}}:{{.Tag}}' "$BASE_REPO")
  dk image prune -f >/dev/null 2>&1 || true
  done_step "$IMAGE ready ($how; key $ikey)"
}

# ---------------------------------------------------------------- step 4: SSH key

ensure_ssh_key() {
  step ssh-key
  install -d -m 0700 "$LAB_DIR" "$SSH_DIR"
  local how=reused
  if [ ! -s "$SSH_KEY" ] || [ ! -s "$SSH_KEY.pub" ]; then
    rm -f "$SSH_KEY" "$SSH_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C swarm-ha-lab -f "$SSH_KEY"
    how=generated
  fi
  chmod 0600 "$SSH_KEY"
  chmod 0644 "$SSH_KEY.pub"
  done_step "$how $SSH_KEY"
}

# ---------------------------------------------------------------- step 5: network

ensure_iptables() {
  mkdir -p "$STATE_DIR"
  printf '%s\n' "${LAB_RULES[@]}" >"$IPTABLES_STATE"
  local line
  local -a rule
  # dockerd makes DOCKER-USER (and FORWARD's jump to it, first) when it creates a network. With
  # the network left from an earlier run, a dockerd just started had not made it ("No
  # chain/target/match" here): make it the way dockerd does, which keeps it as it is.
  if ! iptables -n -L DOCKER-USER >/dev/null 2>&1; then
    iptables -N DOCKER-USER
    iptables -A DOCKER-USER -j RETURN
    iptables -I FORWARD -j DOCKER-USER
  fi
  for line in "${LAB_RULES[@]}"; do
    read -r -a rule <<<"$line"
    if ! iptables -C "${rule[@]}" 2>/dev/null; then
      iptables -I "${rule[@]}"
    fi
  done
}

ensure_network() {
  step network
  local how=reused subnet
  if subnet=$(dk network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NETWORK" 2>/dev/null); then
    if [ "$subnet" != "$SUBNET" ]; then
      die "network $NETWORK exists with subnet $subnet (want $SUBNET); run: lab/hosts.sh down"
    fi
  else
    dk network create --driver bridge \
      --subnet "$SUBNET" --gateway "$GATEWAY" --ip-range "$IP_RANGE" \
      --opt "com.docker.network.bridge.name=$BRIDGE" \
      --label swarm-ha-lab=1 "$NETWORK" >/dev/null
    how=created
  fi
  ensure_iptables
  done_step "$how $NETWORK ($SUBNET on bridge $BRIDGE; iptables: $BRIDGE<->$BRIDGE accepted, egress rejected)"
}

# ---------------------------------------------------------------- step 5b: lab DNS stub

# A DNS stub on the gateway that answers NXDOMAIN for every name. Nodes and nested
# containers use it for names docker's embedded DNS does not know (container, service
# and task names still resolve). Without it such lookups hang for 5-20 s, because the
# lab's traffic may not leave the lab bridge and docker's resolver never answers when
# its upstream is unreachable: e.g. `docker service create` spends ~20 s trying to
# resolve registry-1.docker.io for the image digest.
ensure_dns() {
  step dns
  local pid how=reused
  pid=$(pid_from "$DNSMASQ_PIDFILE")
  if ! pid_alive "$pid"; then
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    setsid dnsmasq --keep-in-foreground --log-facility=- --conf-file=/dev/null \
      --no-resolv --no-hosts --no-poll --bind-dynamic --interface="$BRIDGE" \
      --port=53 --address=/#/ \
      >>"$LOG_DIR/dnsmasq.log" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$DNSMASQ_PIDFILE"
    sleep 0.3
    if ! proc_running "$pid"; then
      tail -n 20 "$LOG_DIR/dnsmasq.log" >&2 || true
      die "dnsmasq did not start (log: $LOG_DIR/dnsmasq.log)"
    fi
    how=started
  fi
  done_step "$how DNS stub on $GATEWAY:53 (NXDOMAIN for names docker does not know)"
}

# ---------------------------------------------------------------- step 6: nodes

# Fills WANT_NAMES / WANT_ADDRS / WANT_ROLES from the counts.
plan_nodes() {
  local managers=$1 workers=$2 i
  WANT_NAMES=()
  WANT_ADDRS=()
  WANT_ROLES=()
  for ((i = 1; i <= managers; i++)); do
    WANT_NAMES+=("$(node_name manager "$i")")
    WANT_ADDRS+=("$(node_addr manager "$i")")
    WANT_ROLES+=(manager)
  done
  for ((i = 1; i <= workers; i++)); do
    WANT_NAMES+=("$(node_name worker "$i")")
    WANT_ADDRS+=("$(node_addr worker "$i")")
    WANT_ROLES+=(worker)
  done
}

start_node() {
  local name=$1 addr=$2 role=$3 pubkey=$4
  dk volume create --label swarm-ha-lab=1 --label "swarm-ha-lab.node=$name" \
    "$name-docker" >/dev/null
  dk run -d --name "$name" --hostname "$name" \
    --label swarm-ha-lab=1 --label "swarm-ha-lab.node=$name" --label "swarm-ha-lab.role=$role" \
    --label "swarm-ha-lab.debian=$DEBIAN_SUITE" \
    --network "$NETWORK" --ip "$addr" \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' \
    --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run -v "$name-docker:/var/lib/docker" \
    --stop-timeout 30 --dns "$GATEWAY" \
    -e "LAB_AUTHORIZED_KEY=$pubkey" \
    "$IMAGE" >/dev/null
}

ensure_nodes() {
  step nodes
  local pubkey image_id i name addr role state have_addr node_suite created=0 reused=0 started=0 removed=0
  pubkey=$(cat "$SSH_KEY.pub")
  image_id=$(dk image inspect -f '{{.Id}}' "$IMAGE")

  # Nodes from an earlier `up` with larger counts go away, so the lab is exactly N+M.
  local -a existing
  mapfile -t existing < <(dk ps -a --filter label=swarm-ha-lab.node --format '{{.Names}}')
  for name in "${existing[@]}"; do
    case " ${WANT_NAMES[*]} " in *" $name "*) continue ;; esac
    dk rm -f -v "$name" >/dev/null
    dk volume rm -f "$name-docker" >/dev/null 2>&1 || true
    removed=$((removed + 1))
  done

  for i in "${!WANT_NAMES[@]}"; do
    name=${WANT_NAMES[$i]}
    addr=${WANT_ADDRS[$i]}
    role=${WANT_ROLES[$i]}
    if state=$(dk inspect -f '{{.State.Running}}' "$name" 2>/dev/null); then
      have_addr=$(dk inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$name" 2>/dev/null || true)
      if [ "$have_addr" != "$addr" ]; then
        die "container $name exists with address '${have_addr}' (want $addr); run: lab/hosts.sh down"
      fi
      node_suite=$(dk inspect -f '{{index .Config.Labels "swarm-ha-lab.debian"}}' "$name")
      if [ "${node_suite:-bookworm}" != "$DEBIAN_SUITE" ]; then
        die "$name runs Debian ${node_suite:-bookworm}, not $DEBIAN_SUITE: run lab/hosts.sh down, then up again"
      fi
      if [ "$(dk inspect -f '{{.Image}}' "$name")" != "$image_id" ]; then
        warn "$name runs an older $IMAGE; run 'lab/hosts.sh down' then 'up' to refresh it"
      fi
      if [ "$state" = true ]; then
        reused=$((reused + 1))
      else
        dk start "$name" >/dev/null
        started=$((started + 1))
      fi
    else
      start_node "$name" "$addr" "$role" "$pubkey"
      created=$((created + 1))
    fi
  done
  done_step "${#WANT_NAMES[@]} nodes: $created created, $started started, $reused reused, $removed removed"
}

# ---------------------------------------------------------------- step 7: SSH + docker

ssh_node() {
  local addr=$1
  shift
  # The remote command is one string, run by the node's shell (like any ssh).
  # shellcheck disable=SC2029
  ssh "${SSH_OPTS[@]}" "root@$addr" "$*"
}

node_logs() {
  local name=$1
  printf '[lab] --- docker logs %s (tail) ---\n' "$name" >&2
  dk logs --tail 30 "$name" 2>&1 | sed 's/^/    /' >&2 || true
  if [ "$(dk inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
    local f
    for f in /var/log/lab/dockerd.log /var/log/lab/sshd.log; do
      printf '[lab] --- %s:%s (tail) ---\n' "$name" "$f" >&2
      dk exec "$name" tail -n 30 "$f" 2>&1 | sed 's/^/    /' >&2 || true
    done
  else
    printf '[lab] --- %s is not running: %s ---\n' "$name" \
      "$(dk inspect -f 'status {{.State.Status}}, exit code {{.State.ExitCode}} {{.State.Error}}' "$name" 2>&1)" >&2
    local tmp
    tmp=$(mktemp -d)
    if dk cp "$name:/var/log/lab/." "$tmp" >/dev/null 2>&1; then
      local f
      for f in "$tmp"/*.log; do
        [ -e "$f" ] || continue
        printf '[lab] --- %s:/var/log/lab/%s (tail) ---\n' "$name" "$(basename "$f")" >&2
        tail -n 30 "$f" | sed 's/^/    /' >&2
      done
    fi
    rm -rf "$tmp"
  fi
}

wait_nodes() {
  step ssh
  local deadline=$((SECONDS + SSH_WAIT_SECONDS)) i name addr out version versions=""
  for i in "${!WANT_NAMES[@]}"; do
    name=${WANT_NAMES[$i]}
    addr=${WANT_ADDRS[$i]}
    while :; do
      if out=$(ssh_node "$addr" docker version --format '{{.Server.Version}}' 2>&1); then
        version=$out
        break
      fi
      if [ "$(dk inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
        node_logs "$name"
        die "node $name ($addr) stopped before it answered over SSH"
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        printf '[lab] last answer from %s: %s\n' "$addr" "$out" >&2
        node_logs "$name"
        die "node $name ($addr) did not answer 'docker version' over SSH within ${SSH_WAIT_SECONDS}s"
      fi
      sleep 1
    done
    case " $versions " in *" $version "*) ;; *) versions="${versions:+$versions }$version" ;; esac
  done
  done_step "all ${#WANT_NAMES[@]} nodes answer over SSH (Debian $DEBIAN_SUITE, docker engine $versions)"
}

# ---------------------------------------------------------------- step 8: hosts.json

write_hosts_json() {
  step hosts-json
  local key_abs i sep="" tmp host_key
  key_abs=$(realpath "$SSH_KEY")
  tmp="$HOSTS_JSON.tmp"
  {
    printf '{"subnet":"%s","gateway":"%s","vip":"%s","sshUser":"root","sshPort":22,' \
      "$SUBNET" "$GATEWAY" "$VIP"
    # Which Debian the nodes run (benchmarks ask a node for its engine's version).
    printf '"debian":"%s",' "$DEBIAN_SUITE"
    printf '"sshKeyPath":"%s","nodes":[' "$(json_escape "$key_abs")"
    for i in "${!WANT_NAMES[@]}"; do
      # The host's SSH key, read through the lab engine (not over SSH): the lab knows its
      # hosts' keys, so its stack pins them (hostKey).
      host_key=$(dk exec "${WANT_NAMES[$i]}" cat /etc/ssh/ssh_host_ed25519_key.pub | awk '{ print $1, $2 }')
      [ -n "$host_key" ] || die "could not read ${WANT_NAMES[$i]}'s SSH host key"
      printf '%s\n  {"name":"%s","address":"%s","role":"%s","hostKey":"%s"}' "$sep" \
        "${WANT_NAMES[$i]}" "${WANT_ADDRS[$i]}" "${WANT_ROLES[$i]}" "$host_key"
      sep=,
    done
    printf '\n]}\n'
  } >"$tmp"
  mv -f "$tmp" "$HOSTS_JSON"
  done_step "wrote $HOSTS_JSON"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local managers=3 workers=1
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --managers) managers=${2:-}; shift 2 || die "--managers needs a number" ;;
      --managers=*) managers=${1#*=}; shift ;;
      --workers) workers=${2:-}; shift 2 || die "--workers needs a number" ;;
      --workers=*) workers=${1#*=}; shift ;;
      --debian) DEBIAN_SUITE=${2:-}; shift 2 || die "--debian needs a suite (${DEBIAN_SUITES[*]})" ;;
      --debian=*) DEBIAN_SUITE=${1#*=}; shift ;;
      *) usage; exit 2 ;;
    esac
  done
  if ! [[ "$managers" =~ ^[0-9]+$ ]] || [ "$managers" -lt 1 ] || [ "$managers" -gt 9 ]; then
    die "--managers must be 1..9 (got '$managers')"
  fi
  if ! [[ "$workers" =~ ^[0-9]+$ ]] || [ "$workers" -gt 70 ]; then
    die "--workers must be 0..70 (got '$workers')"
  fi

  case " ${DEBIAN_SUITES[*]} " in
    *" $DEBIAN_SUITE "*) ;;
    *) die "--debian (or LAB_DEBIAN_SUITE) must be one of: ${DEBIAN_SUITES[*]} (got '$DEBIAN_SUITE')" ;;
  esac

  require_root
  take_lock
  say "up: $managers manager(s), $workers worker(s), Debian $DEBIAN_SUITE"
  ensure_packages
  ensure_dockerd
  ensure_image
  ensure_ssh_key
  ensure_network
  ensure_dns
  plan_nodes "$managers" "$workers"
  ensure_nodes
  wait_nodes
  write_hosts_json
  say "up: done in ${SECONDS}s. Try: ssh -i $SSH_KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@${WANT_ADDRS[0]}"
}

# Remove iptables rules/chains the lab (or its dockerd) added.
cleanup_iptables() {
  local -a rule lines=("${LAB_RULES[@]}")
  local line
  command -v iptables >/dev/null 2>&1 || return 0
  if [ -s "$IPTABLES_STATE" ]; then
    mapfile -t -O "${#lines[@]}" lines <"$IPTABLES_STATE"
  fi
  for line in "${lines[@]}"; do
    [ -n "$line" ] || continue
    read -r -a rule <<<"$line"
    while iptables -C "${rule[@]}" 2>/dev/null; do iptables -D "${rule[@]}"; done
  done
  rm -f "$IPTABLES_STATE"
  # Rules the end-to-end tests add to make a host vanish (lab/control.ts), if a run
  # was cut short before it took them away.
  while IFS= read -r line; do
    read -r -a rule <<<"${line/-A /}"
    iptables -D "${rule[@]}" 2>/dev/null || true
  done < <(iptables -S 2>/dev/null | grep -- '--comment swarm-ha-lab-dead-host' || true)
}

# A dockerd in this PID namespace (the nodes' own dockerds live in theirs).
other_dockerd_running() {
  local p comm myns
  myns=$(readlink /proc/self/ns/pid)
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null || true)
    if [ "$comm" = dockerd ] && [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$myns" ] &&
      pid_alive "${p#/proc/}"; then
      return 0
    fi
  done
  return 1
}

children_of() {
  local p stat rest
  for p in /proc/[0-9]*; do
    stat=$(cat "$p/stat" 2>/dev/null) || continue
    rest=${stat##*) }  # "STATE PPID ..."
    rest=${rest#* }
    if [ "${rest%% *}" = "$1" ]; then echo "${p#/proc/}"; fi
  done
}

# PIDs of containerd shims that belong to the lab's containerd.
lab_shims() {
  local f pid
  while IFS= read -r f; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in containerd-shim*) echo "$pid" ;; esac
  done < <(grep -l -a -F -- "$CONTAINERD_SOCK" /proc/[0-9]*/cmdline 2>/dev/null || true)
}

# Last resort when the engine could not remove its containers: kill each orphaned
# container's init (that ends everything in its PID namespace), then its shim.
kill_orphan_containers() {
  local -a shims
  mapfile -t shims < <(lab_shims)
  [ "${#shims[@]}" -gt 0 ] || return 0
  warn "killing ${#shims[@]} orphaned lab container(s) (shims ${shims[*]})"
  local shim child i
  for shim in "${shims[@]}"; do
    while IFS= read -r child; do
      kill -KILL "$child" 2>/dev/null || true
    done < <(children_of "$shim")
  done
  # Without containerd a shim may not exit by itself: give it 3s, then kill it.
  for i in $(seq 1 15); do
    [ -n "$(lab_shims)" ] || return 0
    sleep 0.2
  done
  for shim in $(lab_shims); do kill -KILL "$shim" 2>/dev/null || true; done
  sleep 0.5
}

# After the lab's dockerd stopped: if the machine had no docker before and none runs
# now, undo what dockerd did to iptables and ip_forward.
restore_host_state() {
  [ -s "$HOST_STATE" ] || return 0
  if other_dockerd_running; then
    # Keep the record: a later `down` restores the machine once that dockerd is gone.
    warn "another dockerd runs on this machine: leaving ip_forward and docker's iptables chains alone"
    return 0
  fi
  local IP_FORWARD="" FORWARD_POLICY="" DOCKER_CHAINS_EXISTED=1 key value
  while IFS='=' read -r key value; do
    case "$key" in
      IP_FORWARD) IP_FORWARD=$value ;;
      FORWARD_POLICY) FORWARD_POLICY=$value ;;
      DOCKER_CHAINS_EXISTED) DOCKER_CHAINS_EXISTED=$value ;;
    esac
  done <"$HOST_STATE"
  if command -v iptables >/dev/null 2>&1 && [ "$DOCKER_CHAINS_EXISTED" = 0 ]; then
    local table line chain
    local -a words
    for table in filter nat; do
      # Jumps into docker's chains from the built-in chains.
      while IFS= read -r line; do
        read -r -a words <<<"$line"
        words[0]=-D
        iptables -t "$table" "${words[@]}" 2>/dev/null || true
      done < <(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-A" && $2 !~ /^DOCKER/ && / -j DOCKER/')
      while IFS= read -r chain; do
        iptables -t "$table" -F "$chain" 2>/dev/null || true
      done < <(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ { print $2 }')
      while IFS= read -r chain; do
        iptables -t "$table" -X "$chain" 2>/dev/null || true
      done < <(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ { print $2 }')
    done
  fi
  if command -v iptables >/dev/null 2>&1 && [ -n "$FORWARD_POLICY" ]; then
    iptables -P FORWARD "$FORWARD_POLICY" 2>/dev/null || true
  fi
  if [ -n "$IP_FORWARD" ]; then
    printf '%s\n' "$IP_FORWARD" >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
  fi
  rm -f "$HOST_STATE"
}

stop_pid() {
  local pid=$1 what=$2 i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do
    pid_alive "$pid" || return 0
    sleep 0.2
  done
  warn "$what (pid $pid) ignored SIGTERM for 30s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
}

remove_cgroups() {
  local base d
  for base in /sys/fs/cgroup /sys/fs/cgroup/*; do
    for d in "$base/swarm-ha-lab" "$base/swarm-ha-lab-nested"; do
      [ -d "$d" ] || continue
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
  done
}

# Anything in the private data-root that only the engine can remove?
lab_leftovers() {
  local d
  if [ -d "$DATA_ROOT/containers" ] && [ -n "$(ls -A "$DATA_ROOT/containers")" ]; then return 0; fi
  for d in "$DATA_ROOT"/volumes/lab-*; do
    if [ -d "$d" ]; then return 0; fi
  done
  return 1
}

cmd_down() {
  local purge=0
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --purge) purge=1; shift ;;
      *) usage; exit 2 ;;
    esac
  done
  require_root
  take_lock

  step engine
  local started_for_cleanup=0
  if ! pid_alive "$(pid_from "$DOCKERD_PIDFILE")" && lab_leftovers &&
    command -v dockerd >/dev/null 2>&1; then
    # Left over from a crash: start the engine so that it can remove its own things.
    if (start_dockerd) >/dev/null 2>&1; then started_for_cleanup=1; else
      warn "could not start the lab dockerd to clean up; removing what can be removed without it"
    fi
  fi
  done_step "$(if dockerd_answers; then
    if [ "$started_for_cleanup" = 1 ]; then echo "started for cleanup"; else echo running; fi
  else echo "not running"; fi)"

  step nodes
  local n_nodes=0 n_vols=0 name
  if dockerd_answers; then
    local -a names vols
    mapfile -t names < <({
      dk ps -aq --filter label=swarm-ha-lab
      dk ps -aq --filter name=swarm-ha-lab-imgbuild-
    } | sort -u)
    if [ "${#names[@]}" -gt 0 ]; then
      dk rm -f -v "${names[@]}" >/dev/null
      n_nodes=${#names[@]}
    fi
    mapfile -t vols < <({
      dk volume ls -q --filter label=swarm-ha-lab
      dk volume ls -q --filter name=lab- | grep -E '^lab-[mw][0-9]+-docker$' || true
    } | sort -u)
    for name in "${vols[@]}"; do
      if dk volume rm -f "$name" >/dev/null 2>&1; then n_vols=$((n_vols + 1)); fi
    done
  fi
  done_step "removed $n_nodes container(s), $n_vols volume(s)"

  step network
  stop_pid "$(pid_from "$DNSMASQ_PIDFILE")" dnsmasq
  if dockerd_answers; then
    dk network rm "$NETWORK" >/dev/null 2>&1 || true
  fi
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link delete "$BRIDGE" 2>/dev/null || true; fi
  cleanup_iptables
  done_step "removed $NETWORK, the DNS stub and the lab's iptables rules"

  step engine-stop
  stop_pid "$(pid_from "$DOCKERD_PIDFILE")" dockerd
  stop_pid "$(pid_from "$CONTAINERD_PIDFILE")" containerd
  # Containers the engine could not remove (it would not start) still run: end them.
  kill_orphan_containers
  umount_below "$RUN_DIR"
  umount_below "$STATE_DIR"
  if [ -z "$(findmnt -rn -o TARGET | awk -v r="$RUN_DIR" 'index($0, r) == 1')" ]; then
    rm -rf --one-file-system "$RUN_DIR"
  else
    warn "mounts remain under $RUN_DIR; not removing it"
  fi
  rm -rf --one-file-system "$BUILD_DIR"
  remove_cgroups
  restore_host_state
  done_step "lab dockerd and containerd stopped, mounts under $RUN_DIR and $STATE_DIR gone"

  if [ "$purge" = 1 ]; then
    step purge
    if [ -n "$(findmnt -rn -o TARGET | awk -v r="$STATE_DIR" 'index($0, r) == 1')" ]; then
      die "mounts remain under $STATE_DIR; not deleting it"
    fi
    rm -rf --one-file-system "$STATE_DIR" "$CACHE_DIR"
    done_step "deleted $STATE_DIR (data-root) and $CACHE_DIR (image cache)"
  fi
  rm -f "$HOSTS_JSON"
  say "down: done in ${SECONDS}s"
}

cmd_status() {
  if ! dockerd_answers; then
    say "status: the lab dockerd is not running ($DOCKER_SOCK)"
    return 1
  fi
  say "status: lab dockerd $(dk version --format '{{.Server.Version}}') on $DOCKER_SOCK"
  local -a names
  mapfile -t names < <(dk ps -a --filter label=swarm-ha-lab.node --format '{{.Names}}' | sort)
  if [ "${#names[@]}" -eq 0 ]; then
    say "status: no nodes"
    return 1
  fi
  local name addr role running answer bad=0
  printf '%-8s %-15s %-8s %-8s %s\n' NAME ADDRESS ROLE RUNNING SSH
  for name in "${names[@]}"; do
    addr=$(dk inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$name" 2>/dev/null || true)
    role=$(dk inspect -f '{{index .Config.Labels "swarm-ha-lab.role"}}' "$name")
    running=$(dk inspect -f '{{.State.Running}}' "$name")
    if [ -n "$addr" ] && answer=$(ssh_node "$addr" docker version --format '{{.Server.Version}}' 2>/dev/null); then
      answer="ok (docker $answer)"
    else
      answer="NO ANSWER"
      bad=1
    fi
    printf '%-8s %-15s %-8s %-8s %s\n' "$name" "${addr:--}" "$role" "$running" "$answer"
  done
  return "$bad"
}

# Export every node's logs and swarm state into DIR (for a failed test run, before teardown).
cmd_logs() {
  local dir=${1:-"$LOG_DIR/nodes-$(date +%Y%m%dT%H%M%S)"} name
  require_root
  dockerd_answers || die "the lab dockerd is not running ($DOCKER_SOCK): nothing to export"
  mkdir -p "$dir"
  while IFS= read -r name; do
    [ -n "$name" ] || continue
    mkdir -p "$dir/$name"
    dk logs "$name" >"$dir/$name/container.log" 2>&1 || true
    dk cp "$name:/var/log/lab/." "$dir/$name/" >/dev/null 2>&1 || true
    if [ "$(dk inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
      dk exec "$name" sh -c 'docker info; docker node ls; docker service ls; docker ps -a' \
        >"$dir/$name/swarm.txt" 2>&1 || true
    else
      dk inspect -f 'not running: {{.State.Status}}, exit code {{.State.ExitCode}}' "$name" \
        >"$dir/$name/swarm.txt" 2>&1 || true
    fi
  done < <(dk ps -a --filter label=swarm-ha-lab.node --format '{{.Names}}' | sort)
  say "logs: exported to $dir"
}

usage() {
  cat >&2 <<'EOF'
usage: lab/hosts.sh up [--managers N] [--workers M] [--debian trixie|bookworm]
                                                      start the lab's hosts (default 3 + 1, trixie)
       lab/hosts.sh down [--purge]                    remove them (--purge: also the image cache)
       lab/hosts.sh status                            list the nodes and whether SSH answers
       lab/hosts.sh logs [DIR]                        export every node's logs and swarm state
EOF
}

main() {
  local cmd=${1:-}
  if [ "$#" -gt 0 ]; then shift; fi
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" || exit 1 ;;
    logs) cmd_logs "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
