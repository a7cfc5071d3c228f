#!/bin/sh
# A stand-in `ssh-keyscan` for host-keys.sh, logging each call to $FAKE_LOG: answers for the
# address (the last argument) with the "type base64" lines in $FAKE_KEYS_DIR/<address> whose
# type is one `-t` asks for (ed25519, ecdsa, rsa), or nothing (a host that does not answer)
# when there is no such file.
printf 'ssh-keyscan %s\n' "$*" >>"${FAKE_LOG:?}"
types=ed25519,ecdsa,rsa
while [ "$#" -gt 1 ]; do
    case "$1" in -t) types=$2; shift ;; esac
    shift
done
address=$1
file="${FAKE_KEYS_DIR:?}/$address"
[ -f "$file" ] || exit 0
echo "# $address:22 SSH-2.0-OpenSSH_9.2p1"
while read -r type key; do
    case "$type" in ssh-ed25519) short=ed25519 ;; ecdsa-sha2-*) short=ecdsa ;; ssh-rsa) short=rsa ;; *) short=$type ;; esac
    case ",$types," in *",$short,"*) printf '%s %s %s\n' "$address" "$type" "$key" ;; esac
done <"$file"
