#!/bin/sh
# keepalived's notify script (keepalived.conf: notify <this> root), run at every state change
# as: <this> INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>. It writes whether this node
# holds the VIP, as Prometheus text, into node-exporter's textfile directory (a volume both
# containers mount): swarm_ha_vrrp_master 1 while MASTER, 0 otherwise. Written to a temporary
# file and renamed, so node-exporter never reads half a file.
set -eu
dir=${TEXTFILE_DIR:-/textfile}
[ -d "$dir" ] || exit 0
holder=0
[ "${3:-}" = MASTER ] && holder=1
tmp="$dir/.vrrp.prom.$$"
printf '# HELP swarm_ha_vrrp_master 1 while this node holds the VIP (keepalived MASTER), else 0.\n# TYPE swarm_ha_vrrp_master gauge\nswarm_ha_vrrp_master %s\n' "$holder" >"$tmp"
mv "$tmp" "$dir/vrrp.prom"
