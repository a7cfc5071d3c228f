#!/bin/sh
# A stand-in `ssh` for departure.sh, logging each call to $FAKE_LOG. $FAKE_SSH says what
# the host does: "left" (default), "unreachable" (connection timed out) or "denied".
printf 'ssh %s\n' "$*" >>"${FAKE_LOG:?}"
case "${FAKE_SSH:-left}" in
left) echo status=left ;;
unreachable)
    echo "ssh: connect to host 192.0.2.9 port 22: Connection timed out" >&2
    exit 255
    ;;
denied)
    echo "root@192.0.2.9: Permission denied (publickey)." >&2
    exit 255
    ;;
esac
