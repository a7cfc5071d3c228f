#!/bin/sh
# A stand-in `ssh-keyscan` for host-keys.sh, logging each call to $FAKE_LOG: answers for the
# address (the last argument) with the "type base64" lines in $FAKE_KEYS_DIR/<address>, or
# nothing (a host that does not answer) when there is no such file.
printf 'ssh-keyscan %s\n' "$*" >>"${FAKE_LOG:?}"
for address; do :; done
file="${FAKE_KEYS_DIR:?}/$address"
[ -f "$file" ] || exit 0
echo "# $address:22 SSH-2.0-OpenSSH_9.2p1"
while read -r type key; do printf '%s %s %s\n' "$address" "$type" "$key"; done <"$file"
