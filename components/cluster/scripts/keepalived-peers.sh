#!/bin/sh
# Runs on an edge node when the tier is created and whenever the edge nodes change: this node's
# keepalived priority and unicast peers (PEERS_CONF, components/edge/keepalived-conf.ts) written
# to DIR/peers.conf, which keepalived.conf includes (DIR is bind-mounted into the container), then
# this node's running keepalived (a task of SERVICE) told to reload it (SIGHUP): it keeps its
# state, so a VIP holder keeps the VIP and no connection is reset. Restarting keepalived instead
# (a new Docker config) would move the VIP. The file is replaced in one rename, so keepalived
# never reads half of it; a keepalived that starts later reads the new one.
: "${NODE_NAME:?}" "${DIR:?}" "${SERVICE:?}" "${PEERS_CONF:?}"

file="$DIR/peers.conf"
{ mkdir -p "$DIR" && chmod 0755 "$DIR" && printf '%s' "$PEERS_CONF" >"$file.new" && chmod 0644 "$file.new"; } ||
    die "cannot write keepalived's peers to $file.new"
if [ -f "$file" ] && [ "$(cat "$file.new")" = "$(cat "$file")" ]; then
    rm -f "$file.new"
    printf 'keepalived-peers: %s unchanged\n' "$file"
    exit 0
fi
mv -f "$file.new" "$file" || die "cannot replace $file"
task=$(local_task "$SERVICE")
if [ -z "$task" ]; then
    printf 'keepalived-peers: %s written; no keepalived runs here yet (it reads the file when it starts)\n' "$file"
    exit 0
fi
docker kill --signal HUP "$task" >/dev/null || die "keepalived's peers were written to $file, but its task ($task) could not be told to reload them"
printf 'keepalived-peers: %s written; keepalived (%s) reloaded it\n' "$file" "$task"
