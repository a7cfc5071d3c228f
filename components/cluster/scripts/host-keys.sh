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

while read -r name address pin_type pin_key; do
    [ -n "$name" ] || continue
    if [ "$SSH_PORT" = 22 ]; then host_id=$address; else host_id="[$address]:$SSH_PORT"; fi
    if [ "$pin_type" != "-" ]; then types=$pin_type; else types=ed25519,ecdsa,rsa; fi
    case "$types" in ssh-ed25519) types=ed25519 ;; ecdsa-sha2-*) types=ecdsa ;; ssh-rsa) types=rsa ;; esac
    # "host type key" lines, in the order asked; comments (# host:port SSH-2.0-...) go.
    scanned=$(ssh-keyscan -T 10 -p "$SSH_PORT" -t "$types" "$address" 2>/dev/null | grep -v '^#') || true
    if [ -z "$scanned" ]; then
        printf '%s: %s does not answer ssh-keyscan; its key is not checked now\n' "$name" "$address"
        continue
    fi
    if [ "$pin_type" != "-" ]; then
        presented=$(printf '%s\n' "$scanned" | awk -v t="$pin_type" '$2 == t { print $3; exit }')
        if [ "$presented" != "$pin_key" ]; then
            refuse "$name" "$address" "presented SSH host key $(fingerprint "$pin_type" "${presented:-none}") ($pin_type), but swarm-ha:nodes pins $(fingerprint "$pin_type" "$pin_key") for it: refusing to connect, someone may be impersonating the host. If the host was re-installed, check its new key out of band and update the node's hostKey in config to: \"$(printf '%s\n' "$scanned" | awk -v t="$pin_type" '$2 == t { print $2, $3; exit }')\""
        fi
        printf '%s: host key matches the pin (%s)\n' "$name" "$(fingerprint "$pin_type" "$pin_key")"
        continue
    fi
    # shellcheck disable=SC2046 # split the "host type key" line into its fields
    set -- $(printf '%s\n' "$scanned" | head -n 1)
    type=$2 key=$3
    recorded=$(ssh-keygen -F "$host_id" -f "$known" 2>/dev/null | awk -v t="$type" '$1 !~ /^#/ && $2 == t { print $3; exit }')
    if [ -z "$recorded" ]; then
        printf '%s %s %s\n' "$host_id" "$type" "$key" >>"$known"
        printf '%s: first contact: recorded host key %s (%s) in %s\n' "$name" "$(fingerprint "$type" "$key")" "$type" "$known"
    elif [ "$recorded" != "$key" ]; then
        refuse "$name" "$address" "presented SSH host key $(fingerprint "$type" "$key") ($type), but $(fingerprint "$type" "$recorded") was recorded on first contact: refusing to connect, someone may be impersonating the host. If the host was re-installed, check its new key out of band, then pin it in config (hostKey: \"$type $key\") and remove the old record: ssh-keygen -R '$host_id' -f $known"
    else
        printf '%s: host key as first recorded (%s)\n' "$name" "$(fingerprint "$type" "$key")"
    fi
done <<HOSTS_LIST
$HOSTS
HOSTS_LIST
