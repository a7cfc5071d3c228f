#!/bin/sh
# Runs on a node that runs an image swarm-ha builds: builds it from the context copied to
# CONTEXT_DIR, unless the node has it already (the tag is a hash of the context, so a present
# tag is the same image). Needs the base image and Debian's archive reachable from the node.
: "${NODE_NAME:?}" "${IMAGE:?}" "${CONTEXT_DIR:?}"

die() {
    printf 'swarm-ha: node %s: %s\n' "$NODE_NAME" "$*" >&2
    exit 1
}

case "$CONTEXT_DIR" in
/*) ;;
*) CONTEXT_DIR="$HOME/$CONTEXT_DIR" ;; # copied relative to the SSH user's home
esac

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    printf 'image=%s\naction=present\n' "$IMAGE"
    exit 0
fi
[ -f "$CONTEXT_DIR/Dockerfile" ] || die "the build context of $IMAGE is missing ($CONTEXT_DIR)"
log=$(mktemp)
if ! timeout 900 docker build --quiet --tag "$IMAGE" "$CONTEXT_DIR" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    die "building $IMAGE failed (the last lines of docker build are above)"
fi
rm -f "$log"
printf 'image=%s\naction=built\n' "$IMAGE"
