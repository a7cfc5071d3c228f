#!/bin/sh
# swarm-ha-vip-check VIP INTERFACE: run inside an edge node's keepalived container (`docker exec`,
# on the host's network, with NET_RAW) by the health step at the end of every update
# (components/cluster/scripts/tier-health.sh). The VIP works when exactly one edge node holds it:
# none, and clients reach nothing; two (VRRP adverts lost between the nodes, each one MASTER),
# and the network's ARP caches split clients between them. This node's own addresses say whether
# it holds the VIP; ARP duplicate address detection (arping -D, whose probe carries no sender
# address, so this node's kernel does not answer it) says whether another node on INTERFACE's
# network answers for it. Prints one line per difference and exits 1; prints one summary line and
# exits 0 when there is none. IPv4 only (ARP).
set -eu

[ $# -eq 2 ] || {
    echo "usage: swarm-ha-vip-check VIP INTERFACE" >&2
    exit 2
}
vip=$1
dev=$2

if ! addresses=$(ip -4 -o address show dev "$dev" 2>&1); then
    echo "vip: cannot list the addresses of $dev on this node: $addresses"
    exit 1
fi
here=no
printf '%s\n' "$addresses" | awk '{ sub("/.*", "", $4); print $4 }' | grep -qxF "$vip" && here=yes

# Each other holder answers the probe with its MAC address: "Unicast reply from VIP [MAC] ...".
# arping exits 1 when a reply came (and 2 on an error of its own, with no reply lines).
replies=$(arping -D -c 2 -w 3 -I "$dev" "$vip" 2>&1) || true
others=$(printf '%s\n' "$replies" | sed -n 's/^Unicast reply from [0-9.]* \[\([0-9A-Fa-f:]*\)\].*/\1/p' | tr 'A-F' 'a-f' | sort -u | paste -sd' ' -)
if ! printf '%s\n' "$replies" | grep -q '^Sent [0-9]* probe'; then
    echo "vip: arping could not probe $vip on $dev: $(printf '%s' "$replies" | tail -n 1)"
    exit 1
fi

if [ "$here" = yes ] && [ -n "$others" ]; then
    echo "vip: $vip is held by this node and answered for by $others too: two edge nodes hold it (do their VRRP adverts reach each other?)"
    exit 1
elif [ "$here" = no ] && [ -z "$others" ]; then
    echo "vip: no edge node holds $vip (none answers ARP for it on $dev, and this node has not got it): is keepalived running and HAProxy's /healthz passing on an edge node?"
    exit 1
elif [ "$here" = yes ]; then
    echo "vip: $vip held by this node only"
else
    echo "vip: $vip held by one other edge node only ($others)"
fi
