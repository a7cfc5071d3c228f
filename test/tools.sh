#!/usr/bin/env bash
# The programs the fast tiers run besides Node (the real checkers of what swarm-ha renders).
# `npm test` calls this first: a missing one is installed from Debian's archive when this runs
# as root with apt-get, and otherwise the run fails, saying how to get it. Never a skip.
set -euo pipefail

# command:package
TOOLS=(
  shellcheck:shellcheck
  haproxy:haproxy
  keepalived:keepalived
  openssl:openssl
  curl:curl
  setpriv:util-linux
  unshare:util-linux
  redis-server:redis-server
  redis-sentinel:redis-sentinel
  redis-cli:redis-tools
  patroni:patroni
  etcd:etcd-server
  etcdctl:etcd-client
  /usr/lib/postgresql/15/bin/postgres:postgresql-15
  pg_dump:postgresql-client-15
  promtool:prometheus
  amtool:prometheus-alertmanager
  jq:jq
  arping:iputils-arping
)

missing=()
for pair in "${TOOLS[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[test] installing ${missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || echo "[test] apt-get update reported errors; trying the install anyway" >&2
  if apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then exit 0; fi
fi
echo "[test] the tests need: ${missing[*]}. Install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}), then run npm test again." >&2
exit 1
