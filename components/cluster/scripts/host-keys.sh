#!/bin/sh
# Runs on the machine that runs Pulumi (a local command), on every update, before any step
# reaches a host: each host must present the SSH host key config pins for it (hostKey), or,
# without a pin, the key recorded on first contact in $KEY_DIR/known_hosts (where the system
# ssh of the Docker provider and of departures records it too). A changed key is refused,
# naming the node and how to update the pin. A host that does not answer is not checked here:
# its own steps and the health check say it is down, and a run that removes it must go on.
# HOSTS: one line per node, "name address pinned-key-type pinned-key-base64" ("- -" unpinned).
: "${HOSTS:?}" "${SSH_PORT:?}" "${KEY_DIR:?}"

case "$KEY_DIR" in
\~/*) KEY_DIR="$HOME/${KEY_DIR#\~/}" ;;
esac
mkdir -p "$KEY_DIR" && chmod 700 "$KEY_DIR"
known="$KEY_DIR/known_hosts"
[ -f "$known" ] || (umask 077 && : >"$known")

# fingerprint TYPE BASE64: the key's SHA256 fingerprint, as ssh prints it.
fingerprint() {
    printf '%s %s\n' "$1" "$2" | ssh-keygen -lf - 2>/dev/null | awk '{ print $2 }'
}

# refuse NAME ADDRESS MESSAGE: stop the update, naming the node.
refuse() {
    printf 'swarm-ha: node %s (%s): %s\n' "$1" "$2" "$3" >&2
    exit 1
}

# scan ADDRESS TYPES: the host's "host type key" lines for those key types (ed25519,ecdsa,rsa).
scan() {
    ssh-keyscan -T 10 -p "$SSH_PORT" -t "$2" "$1" 2>/dev/null | grep -v '^#' || true
}

# short_type TYPE: ssh-keyscan's name for a key type (ssh-ed25519 is ed25519).
short_type() {
    case "$1" in ssh-ed25519) echo ed25519 ;; ecdsa-sha2-*) echo ecdsa ;; ssh-rsa) echo rsa ;; *) echo "$1" ;; esac
}

while read -r name address pin_type pin_key; do
    [ -n "$name" ] || continue
    if [ "$SSH_PORT" = 22 ]; then host_id=$address; else host_id="[$address]:$SSH_PORT"; fi
    # The key to hold the host to: its pin, else the one recorded on first contact (if any).
    if [ "$pin_type" != "-" ]; then
        want_type=$pin_type want_key=$pin_key what="swarm-ha:nodes pins"
    else
        # shellcheck disable=SC2046 # split the "host type key" record into its fields
        set -- $(ssh-keygen -F "$host_id" -f "$known" 2>/dev/null | grep -v '^#' | head -n 1)
        want_type=${2:-} want_key=${3:-} what="first contact recorded"
    fi
    scanned=$(scan "$address" "$(short_type "${want_type:-ed25519,ecdsa,rsa}")")
    if [ -z "$scanned" ] && [ -n "$want_type" ] && [ -n "$(scan "$address" ed25519,ecdsa,rsa)" ]; then
        refuse "$name" "$address" "offers no $want_type host key, but $what one ($(fingerprint "$want_type" "$want_key")): refusing to connect, someone may be impersonating the host"
    fi
    if [ -z "$scanned" ]; then
        printf '%s: %s does not answer ssh-keyscan; its key is not checked now\n' "$name" "$address"
        continue
    fi
    if [ -z "$want_type" ]; then
        # shellcheck disable=SC2046 # split the "host type key" line into its fields
        set -- $(printf '%s\n' "$scanned" | head -n 1)
        printf '%s %s %s\n' "$host_id" "$2" "$3" >>"$known"
        printf '%s: first contact: recorded host key %s (%s) in %s\n' "$name" "$(fingerprint "$2" "$3")" "$2" "$known"
        continue
    fi
    presented=$(printf '%s\n' "$scanned" | awk -v t="$want_type" '$2 == t { print $3; exit }')
    if [ "$presented" = "$want_key" ]; then
        printf '%s: host key as %s (%s)\n' "$name" "${what#swarm-ha:nodes }" "$(fingerprint "$want_type" "$want_key")"
    elif [ "$pin_type" != "-" ]; then
        refuse "$name" "$address" "presented SSH host key $(fingerprint "$want_type" "$presented") ($want_type), but swarm-ha:nodes pins $(fingerprint "$want_type" "$want_key") for it: refusing to connect, someone may be impersonating the host. If the host was re-installed, check its new key out of band and update the node's hostKey in config to: \"$want_type $presented\""
    else
        refuse "$name" "$address" "presented SSH host key $(fingerprint "$want_type" "$presented") ($want_type), but $(fingerprint "$want_type" "$want_key") was recorded on first contact: refusing to connect, someone may be impersonating the host. If the host was re-installed, check its new key out of band, then pin it in config (hostKey: \"$want_type $presented\") and remove the old record: ssh-keygen -R '$host_id' -f $known"
    fi
done <<HOSTS_LIST
$HOSTS
HOSTS_LIST
