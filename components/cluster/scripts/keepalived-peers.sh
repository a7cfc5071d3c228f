#!/bin/sh
# Runs on an edge node when the tier is created and whenever the edge nodes change: this node's
# keepalived priority and unicast peers (PEERS_CONF, components/edge/keepalived-conf.ts) written
# to peers.conf in the Docker volume VOLUME, which keepalived.conf includes (the volume is
# mounted into the container), then this node's running keepalived (a task of SERVICE) told to
# reload it (SIGHUP): it keeps its state, so a VIP holder keeps the VIP and no connection is
# reset. Restarting keepalived instead (a new Docker config) would move the VIP.
# The file is written through Docker (a throwaway container of IMAGE, keepalived's own image,
# with no network), so an SSH user in the docker group needs no root; it is replaced in one
# rename, so keepalived never reads half of it, and a keepalived that starts later reads it.
: "${NODE_NAME:?}" "${VOLUME:?}" "${IMAGE:?}" "${SERVICE:?}" "${PEERS_CONF:?}"

# in_volume SCRIPT: runs sh -c SCRIPT in a throwaway container with the volume at /peers.
in_volume() {
    docker run --rm -i --network none --volume "$VOLUME:/peers" --entrypoint /bin/sh "$IMAGE" -c "$1"
}

current=$(in_volume 'cat /peers/peers.conf 2>/dev/null || true' </dev/null) ||
    die "cannot read keepalived's peers from the Docker volume $VOLUME (with $IMAGE)"
if [ "$current" = "$(printf '%s' "$PEERS_CONF")" ]; then
    printf 'keepalived-peers: %s unchanged\n' "$VOLUME"
    exit 0
fi
printf '%s' "$PEERS_CONF" | in_volume 'cat >/peers/peers.conf.new && chmod 0644 /peers/peers.conf.new && mv -f /peers/peers.conf.new /peers/peers.conf' ||
    die "cannot write keepalived's peers into the Docker volume $VOLUME (with $IMAGE)"
task=$(local_task "$SERVICE")
if [ -z "$task" ]; then
    printf 'keepalived-peers: %s written; no keepalived runs here yet (it reads the file when it starts)\n' "$VOLUME"
    exit 0
fi
docker kill --signal HUP "$task" >/dev/null || die "keepalived's peers were written to $VOLUME, but its task ($task) could not be told to reload them"
printf 'keepalived-peers: %s written; keepalived (%s) reloaded it\n' "$VOLUME" "$task"
