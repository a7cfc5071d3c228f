#!/bin/sh
# swarm-ha-restore (/usr/local/bin/swarm-ha-restore): restores a good backup, the newest unless
# told otherwise, into a database of the live cluster. For the runbook; run it in the backup
# service's container, which has the backups, the tools and the connection settings:
#
#   docker exec <container> swarm-ha-restore --list
#   docker exec <container> swarm-ha-restore app_restored
#   docker exec <container> swarm-ha-restore --from app-20250101T030000Z.dump --overwrite app
#
# The restore goes into a new database first (swarm_ha_restore_<pid>, in one transaction) and is
# checked against the backup's facts (every table's rows and checksum); only then does it take
# the target's name. So a failed restore leaves the cluster as it was, and --overwrite drops the
# existing target (closing its connections) only once its replacement is proven.
# Connection: PGHOST, PGPORT, PGUSER and the password file PGPASSWORD_FILE, as the backups';
# the backups: $BACKUP_DIR (/backups), those of $PGDATABASE.
# Exit status: 0 restored and checked; 1 failed (nothing changed); 2 refused (usage, or the
# target exists and --overwrite was not given).
set -u
LIB=${SWARM_HA_BACKUP_LIB:-/usr/local/lib/swarm-ha-backup}
# The name log() gives messages (exported: lib.sh, which reads it, is checked on its own).
export PROG=swarm-ha-restore
# shellcheck source=/dev/null # lib.sh beside this file, checked on its own
. "$LIB/lib.sh"

usage() {
    cat <<'EOF'
usage: swarm-ha-restore [--from BACKUP] [--overwrite] TARGET
       swarm-ha-restore --list

Restores the newest good backup (or BACKUP, a name from --list) into the database TARGET,
which must not exist unless --overwrite is given. The restore is checked against the backup's
facts (every table's row count and checksum) before it takes TARGET's name.

  --list        the good backups, newest first
  --from NAME   restore this backup instead of the newest
  --overwrite   replace TARGET if it exists: it is dropped (its connections are closed) once
                the restored copy has passed its check
EOF
}

refuse() {
    printf 'swarm-ha-restore: %s\n' "$*" >&2
    exit 2
}

from=
overwrite=0
list=0
target=
while [ "$#" -gt 0 ]; do
    case $1 in
    --list) list=1 ;;
    --overwrite) overwrite=1 ;;
    --from)
        [ "$#" -ge 2 ] || refuse "--from needs a backup's name (see --list)"
        from=$2
        shift
        ;;
    --from=*) from=${1#--from=} ;;
    -h | --help)
        usage
        exit 0
        ;;
    -*)
        usage >&2
        refuse "unknown option $1"
        ;;
    *)
        [ -z "$target" ] || refuse "one TARGET only (got \"$target\" and \"$1\")"
        target=$1
        ;;
    esac
    shift
done
load_settings

if [ "$list" = 1 ]; then
    good_backups | while IFS= read -r b; do
        f=$BACKUP_DIR/${b%.dump}.facts.json
        summary=$(facts_from_json "$f" | facts_summary /dev/stdin)
        printf '%s  snapshot %s  %s bytes  %s tables  %s rows\n' "$b" \
            "$(sed -n 's/^  "snapshot_at": "\(.*\)",$/\1/p' "$f")" "$(wc -c <"$BACKUP_DIR/$b")" "${summary% *}" "${summary#* }"
    done
    exit 0
fi

[ -n "$target" ] || {
    usage >&2
    refuse "which database should the backup be restored into? (TARGET)"
}
valid_dbname "$target" || refuse "TARGET must be 1-63 letters, digits, '_' or '-', not starting with a digit or '-' (got \"$target\")"

if [ -n "$from" ]; then
    case $from in */* | .*) refuse "--from takes a backup's name as --list shows it (got \"$from\")" ;; esac
    good_backups | grep -qxF -e "$from" ||
        refuse "$from is not a good backup in $BACKUP_DIR (a dump with its facts, i.e. one that passed its restore check); see --list"
    backup=$from
else
    backup=$(good_backups | head -n 1)
    [ -n "$backup" ] || die "there is no good backup of $PGDATABASE in $BACKUP_DIR"
fi
dump=$BACKUP_DIR/$backup
facts=$BACKUP_DIR/${backup%.dump}.facts.json

# The dump must be the file that passed the check: a changed byte (a disk error, a hand edit)
# is caught here, before anything is dropped or created.
want=$(sed -n 's/^  "dump_sha256": "\([0-9a-f]*\)",$/\1/p' "$facts")
have=$(sha256sum <"$dump") || die "cannot read $dump"
if [ -z "$want" ] || [ "$want" != "${have%% *}" ]; then
    die "$backup is not the file that passed its restore check (its SHA-256 differs from its facts); pick another with --from"
fi
encoding=$(sed -n 's/^  "encoding": "\([A-Za-z0-9_]*\)",$/\1/p' "$facts")
[ -n "$encoding" ] || die "$facts names no encoding"

work=$(mktemp -d "${TMPDIR:-/tmp}/swarm-ha-restore.XXXXXX") || die "cannot create a temporary directory"
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    write_pgpass "$PGPASSWORD_FILE" "$work/pgpass"
    PGPASSFILE=$work/pgpass
    export PGPASSFILE
fi
staging=swarm_ha_restore_$$
created=0

# Run by the EXIT trap: the staging database goes, whatever happened.
# shellcheck disable=SC2317
cleanup() {
    if [ "$created" = 1 ]; then
        maintenance -v "db=$staging" <<'SQL' >/dev/null 2>&1 || log "could not drop the staging database $staging: drop it by hand"
DROP DATABASE IF EXISTS :"db" WITH (FORCE);
SQL
    fi
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 1' TERM INT HUP

# psql on the maintenance database, reading SQL from stdin.
maintenance() {
    PGDATABASE=postgres psql -X -q -At -v ON_ERROR_STOP=1 "$@" -f -
}

exists=$(maintenance -v "db=$target" 2>"$work/err" <<'SQL'
SELECT count(*) FROM pg_database WHERE datname = :'db';
SQL
) || die "cannot reach Postgres at ${PGHOST:-the local socket}:${PGPORT:-5432}: $(last_line "$work/err")"
if [ "$exists" != 0 ] && [ "$overwrite" != 1 ]; then
    refuse "the database $target exists; refusing to overwrite it. Restore into a new name, or add --overwrite to replace $target (it is dropped, its connections closed, once the restored copy has passed its check)"
fi

log "restoring $backup into $target (staged as $staging)"
createdb -T template0 -E "$encoding" "$staging" 2>"$work/err" || die "createdb failed: $(last_line "$work/err")"
created=1
# One transaction: a restore that fails half-way leaves an empty staging database, not half a one.
pg_restore --exit-on-error --single-transaction -d "$staging" "$dump" 2>"$work/err" ||
    die "pg_restore failed (nothing was changed): $(last_line "$work/err")"
PGDATABASE=$staging facts_tsv "$work/restored.tsv" 2>"$work/err" ||
    die "could not read the restored tables' facts: $(last_line "$work/err")"
facts_from_json "$facts" >"$work/expected.tsv"
facts_diff "$work/expected.tsv" "$work/restored.tsv" >"$work/diff"
if [ -s "$work/diff" ]; then
    cat "$work/diff" >&2
    die "the restored copy differs from the backup's facts (above); nothing was changed"
fi

if [ "$exists" != 0 ]; then
    log "dropping the existing $target (--overwrite)"
    maintenance -v "db=$target" 2>"$work/err" <<'SQL' || die "could not drop $target (nothing was changed): $(last_line "$work/err")"
DROP DATABASE :"db" WITH (FORCE);
SQL
fi
# From here the staging database is the only copy: it stays, whatever happens.
created=0
maintenance -v "staging=$staging" -v "db=$target" 2>"$work/err" <<'SQL' || die "could not rename $staging to $target: $(last_line "$work/err"). The restored, checked copy is $staging: rename it by hand (ALTER DATABASE $staging RENAME TO $target)"
ALTER DATABASE :"staging" RENAME TO :"db";
SQL
read -r tables rows <<EOF
$(facts_summary "$work/restored.tsv")
EOF
printf 'restored %s into %s: %s tables, %s rows; row counts and checksums match the backup\n' "$backup" "$target" "$tables" "$rows"
