#!/bin/sh
# A stand-in `curl` for the host scripts' two uses of it, logging each call to $FAKE_LOG:
# - the Docker API join (`--unix-socket ... /swarm/join`): reads the request from stdin,
#   logs it, answers HTTP $FAKE_JOIN_CODE (default 200) with $FAKE_JOIN_BODY;
# - a TCP probe (`http://ADDR/`): exit 28 (timed out) if ADDR is in $FAKE_UNREACHABLE, else
#   52 (connected, empty reply: what a gRPC port gives plain HTTP).
last=""
for a in "$@"; do last=$a; done
case "$*" in
*--unix-socket*)
    printf 'curl join %s\n' "$(cat)" >>"${FAKE_LOG:?}"
    : >"$FAKE_LOG.joined" # fake-docker answers as a member from now on
    printf '%s\n%s' "${FAKE_JOIN_BODY:-}" "${FAKE_JOIN_CODE:-200}"
    ;;
*)
    addr=${last#http://}
    addr=${addr%/}
    printf 'curl probe %s\n' "$addr" >>"${FAKE_LOG:?}"
    for u in ${FAKE_UNREACHABLE:-}; do
        if [ "$u" = "$addr" ]; then exit 28; fi
    done
    exit 52
    ;;
esac
