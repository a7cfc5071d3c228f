#!/bin/sh
# Runs HAProxy in the foreground in master-worker mode, so that SIGUSR1 (the service's stop
# signal) stops it gracefully: /healthz fails at once while it serves on for haproxy.cfg's
# `grace` (keepalived moves the VIP away meanwhile), then the listeners close and the requests
# in flight finish, within hard-stop-after. The password comes from the Docker secret file named by
# STATS_PASSWORD_FILE, never from the service's environment (which `docker inspect` shows).
set -eu
if [ -n "${STATS_PASSWORD_FILE:-}" ]; then
    STATS_PASSWORD=$(cat "$STATS_PASSWORD_FILE")
    export STATS_PASSWORD
fi
exec haproxy -W -db -f "${HAPROXY_CONFIG:-/usr/local/etc/haproxy/haproxy.cfg}"
