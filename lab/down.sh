#!/usr/bin/env bash
# npm run lab:down: removes everything the lab made (hosts, volumes, networks, bridges,
# iptables rules, processes, mounts: see lab/hosts.sh), the lab stack's engine state, the
# lab stack file, and the Docker provider's key copy for the lab stack. Safe to run twice.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/lab/hosts.sh" down "$@"
# The key copy is under the home ssh uses: the password database's, not $HOME.
home=$(getent passwd "$(id -un)" | cut -d: -f6)
rm -rf "$root/.lab/state" "$root/.lab/last-deploy.json" "$root/Pulumi.lab.yaml" "${home:?}/.ssh/swarm-ha/swarm-ha-lab"
echo "[lab] down"
