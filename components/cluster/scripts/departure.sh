#!/bin/sh
# Runs on the machine that runs Pulumi (a local command), when a node leaves config or the
# stack is destroyed: makes the node's host leave the swarm, if the host can be reached.
# By then a manager has already taken the node out of the node list (removals.sh), or the
# whole swarm is being dissolved (destroy: every other node leaves before the first manager),
# so a dead host is not an error: it is reported, and its stale state is cleaned up by
# swarm-ha's join if it is ever added back.
# KEY_DIR: where the stack's copy of the SSH key lives (the Docker provider uses it too).
: "${NODE_NAME:?}" "${ADDRESS:?}" "${SSH_PORT:?}" "${SSH_USER:?}" "${KEY_DIR:?}"

case "$KEY_DIR" in
\~/*) KEY_DIR="$HOME/${KEY_DIR#\~/}" ;;
esac
[ -f "$KEY_DIR/id" ] ||
    die "the stack's SSH key file $KEY_DIR/id is missing on this machine; run 'pulumi preview' here once (it writes the file), then run again"

# ConnectTimeout bounds a dead host; ServerAlive* a host that dies while it leaves.
if out=$(ssh -i "$KEY_DIR/id" -p "$SSH_PORT" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR \
    -o UserKnownHostsFile="$KEY_DIR/known_hosts $KEY_DIR/pinned_known_hosts" -o StrictHostKeyChecking=accept-new \
    -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3 \
    "$SSH_USER@$ADDRESS" \
    'state=$(docker info --format "{{.Swarm.LocalNodeState}}" 2>/dev/null) || { echo "docker does not answer" >&2; exit 1; }
     if [ "$state" = inactive ]; then echo status=not-in-a-swarm; else docker swarm leave --force >/dev/null && echo status=left; fi' 2>&1); then
    printf '%s\n' "$out"
    exit 0
fi
out=$(printf '%s' "$out" | tr -d '\r') # ssh ends its own messages with CR LF
case "$out" in
*"timed out"* | *"No route to host"* | *"Connection refused"* | *"Network is unreachable"* | *"Host is unreachable"* | *"Could not resolve"* | *"closed by remote host"*)
    printf 'status=unreachable\n'
    printf 'swarm-ha: node %s: host %s cannot be reached (%s); it is out of the swarm'"'"'s node list already. If it comes back, it still believes it is in the swarm: run '"'"'docker swarm leave --force'"'"' on it, or add it to swarm-ha:nodes again (its join cleans that up).\n' \
        "$NODE_NAME" "$ADDRESS" "$out" >&2
    ;;
*) die "could not make host $ADDRESS leave the swarm: $out" ;;
esac
