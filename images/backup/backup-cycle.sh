#!/bin/sh
# One backup, started by swarm-ha-backup in a session of its own (so a stop signal reaches
# every process it started) as the unprivileged user (Postgres refuses to run as root):
#  1. dump: a transaction exports its snapshot (pg_export_snapshot) and stays open while
#     `pg_dump -Fc --snapshot` dumps from it and the facts are read in it (per table: rows, and
#     a checksum of the rows in primary-key order); writes landing meanwhile change neither.
#     The dump is written to a temporary file and renamed to <db>-<UTC time>.dump once whole.
#  2. restore check: the dump is restored into a throwaway Postgres (initdb under
#     $BACKUP_SCRATCH_DIR, a unix socket only) and the restored facts compared with the source's.
#  3. record: a dump that passed is kept with its facts (<db>-<time>.facts.json: the mark of a
#     good backup) and the newest BACKUP_KEEP good ones are kept; one that failed is moved aside
#     (.failed). status.json and metrics.prom say what happened.
# Exit status: 0 a good backup was made; 1 the attempt failed (recorded; no good backup is ever
# deleted then); 143 stopped by a signal (nothing recorded, temporary files removed).
# libpq finds the password through PGPASSFILE (never on a command line or in an environment).
set -u
LIB=${SWARM_HA_BACKUP_LIB:-/usr/local/lib/swarm-ha-backup}
# The name log() gives messages (exported: lib.sh, which reads it, is checked on its own).
export PROG=swarm-ha-backup
# shellcheck source=/dev/null # lib.sh beside this file, checked on its own
. "$LIB/lib.sh"
load_settings
DB=$PGDATABASE
SCRATCH_DIR=${BACKUP_SCRATCH_DIR:-$BACKUP_DIR/.scratch}
# The scratch database's name inside the throwaway Postgres.
SCRATCH_DB=restore_check
# Where the database is, for messages.
SOURCE=${PGHOST:-the local socket}:${PGPORT:-5432}

started=$(date +%s)
stage=start
work=
holder_pid=
scratch_pid=
partial=
dump=
name=
size=0
snap_epoch=
snap_at=
encoding=
check_seconds=0
check_started=

# The line of a tool's error output that says what went wrong: its first error, else its last line.
complaint() {
    grep -m 1 -e 'error:' -e 'FATAL:' -e 'ERROR:' "$1" 2>/dev/null | cut -c1-500 | grep . || last_line "$1"
}

stop_scratch() {
    [ -n "$scratch_pid" ] || return 0
    # SIGINT: Postgres's fast shutdown (SIGTERM would wait for sessions to end); SIGQUIT after
    # 20s, SIGKILL after 30s.
    kill -INT "$scratch_pid" 2>/dev/null
    i=0
    while alive "$scratch_pid"; do
        i=$((i + 1))
        [ "$i" -ne 200 ] || kill -QUIT "$scratch_pid" 2>/dev/null
        [ "$i" -ne 300 ] || kill -KILL "$scratch_pid" 2>/dev/null
        sleep 0.1
    done
    wait "$scratch_pid" 2>/dev/null
    scratch_pid=
}

stop_holder() {
    [ -n "$holder_pid" ] || return 0
    # End of input: psql exits and the transaction ends, releasing the snapshot and its locks.
    exec 3>&-
    i=0
    while alive "$holder_pid"; do
        i=$((i + 1))
        [ "$i" -ne 50 ] || kill -TERM "$holder_pid" 2>/dev/null
        sleep 0.1
    done
    wait "$holder_pid" 2>/dev/null
    holder_pid=
}

# Run by the EXIT trap, on every way out.
# shellcheck disable=SC2317
cleanup() {
    stop_holder
    stop_scratch
    [ -z "$partial" ] || rm -f -- "$partial"
    [ -z "$work" ] || rm -rf -- "$work"
    rm -rf -- "$SCRATCH_DIR"
}

# The facts file of a dump: its source facts, and the result of its restore check.
write_facts() { # $1 file, $2 result (passed|failed), $3 error or "", $4 the dump
    dump_sum=$(sha256sum <"$4") || dump_sum=
    {
        printf '{\n'
        printf '  "database": %s,\n' "$(json_str "$DB")"
        printf '  "backup": "%s",\n' "$name"
        printf '  "snapshot_at": "%s",\n' "$snap_at"
        printf '  "snapshot_epoch": %s,\n' "$snap_epoch"
        printf '  "encoding": "%s",\n' "$encoding"
        printf '  "size_bytes": %s,\n' "$size"
        printf '  "dump_sha256": "%s",\n' "${dump_sum%% *}"
        printf '  "restore_check": {"result": "%s", "checked_at": "%s", "duration_seconds": %s, "error": %s},\n' \
            "$2" "$(iso_time "$(date +%s)")" "$check_seconds" "$([ -n "$3" ] && json_str "$3" || printf null)"
        printf '  "tables": [\n'
        facts_json_lines <"$work/source.tsv"
        printf '  ]\n}\n'
    } >"$1.tmp" && mv -f -- "$1.tmp" "$1"
}

# status.json: the last attempt, the last success (kept across failures), the good backups.
write_status() { # $1 ok|failed, $2 error or ""
    finished=$(date +%s)
    tables=0 rows=0
    if [ -s "$work/source.tsv" ]; then read -r tables rows <<EOF
$(facts_summary "$work/source.tsv")
EOF
    fi
    backup=null
    if [ -n "$name" ]; then
        if [ -f "$dump" ]; then backup="\"$name\""; elif [ -f "$dump.failed" ]; then backup="\"$name.failed\""; fi
    fi
    {
        printf '{\n'
        printf '  "database": %s,\n' "$(json_str "$DB")"
        printf '  "result": "%s",\n' "$1"
        if [ "$1" = ok ]; then printf '  "stage": null,\n  "error": null,\n'; else
            printf '  "stage": "%s",\n  "error": %s,\n' "$stage" "$(json_str "$2")"
        fi
        printf '  "last_attempt": {\n'
        printf '    "started_at": "%s",\n' "$(iso_time "$started")"
        printf '    "finished_at": "%s",\n' "$(iso_time "$finished")"
        printf '    "duration_seconds": %s,\n' "$((finished - started))"
        printf '    "backup": %s,\n' "$backup"
        printf '    "snapshot_at": %s,\n' "$([ -n "$snap_at" ] && printf '"%s"' "$snap_at" || printf null)"
        printf '    "size_bytes": %s,\n' "$size"
        printf '    "restore_check_seconds": %s,\n' "$check_seconds"
        printf '    "table_count": %s,\n' "$tables"
        printf '    "rows": %s,\n' "$rows"
        printf '    "tables": [\n'
        [ ! -s "$work/source.tsv" ] || facts_json_lines '      ' <"$work/source.tsv"
        printf '    ]\n  },\n'
        printf '  "last_success": %s,\n' "$(state_get last-success.json null)"
        printf '  "good_backups": [%s]\n' "$(good_backups | awk '{ printf "%s\"%s\"", (NR > 1 ? ", " : ""), $0 }')"
        printf '}\n'
    } >"$BACKUP_DIR/status.json.tmp" && mv -f -- "$BACKUP_DIR/status.json.tmp" "$BACKUP_DIR/status.json"
}

record() { # $1 ok|failed, $2 error or ""
    state_put last-attempt-epoch "$started"
    state_put last-duration "$(($(date +%s) - started))"
    state_put last-size "$size"
    if [ "$1" = ok ]; then
        read -r tables rows <<EOF
$(facts_summary "$work/source.tsv")
EOF
        state_put last-attempt-ok 1
        state_put restore-check-ok 1
        state_put last-success-epoch "$snap_epoch"
        state_put last-success.json "{\"backup\": \"$name\", \"snapshot_at\": \"$snap_at\", \"finished_at\": \"$(iso_time "$(date +%s)")\", \"size_bytes\": $size, \"table_count\": $tables, \"rows\": $rows}"
    else
        state_put last-attempt-ok 0
        # Only a check that ran says anything about restorability; Postgres being unreachable does not.
        [ "$stage" != "restore check" ] || state_put restore-check-ok 0
    fi
    write_status "$1" "${2:-}" || log "cannot write $BACKUP_DIR/status.json"
    write_metrics || log "cannot write $BACKUP_DIR/metrics.prom"
}

# Records the failure and exits 1. A dump that failed its check is moved aside (with its source
# facts, for the post-mortem); only the newest failed one is kept, so a persistent problem does
# not fill the volume. Good backups are never touched here.
fail() {
    log "backup failed at the $stage stage: $1"
    if [ "$stage" != "restore check" ] && [ -n "$dump" ] && [ -f "$dump" ]; then
        # Whole, but its facts could not be read (or it could not be marked good): unprovable.
        rm -f -- "$dump"
    elif [ "$stage" = "restore check" ] && [ -n "$dump" ] && [ -f "$dump" ]; then
        stop_scratch
        check_seconds=$(($(date +%s) - check_started))
        write_facts "${dump%.dump}.facts.json.failed" failed "$1" "$dump" || true
        mv -f -- "$dump" "$dump.failed"
        log "moved $name aside as $name.failed; the good backups are kept"
        for f in "$BACKUP_DIR/$DB"-[0-9]*Z.dump.failed; do
            [ -f "$f" ] && printf '%s\n' "${f##*/}"
        done | LC_ALL=C sort -r | tail -n +2 | while IFS= read -r old; do
            rm -f -- "$BACKUP_DIR/$old" "$BACKUP_DIR/${old%.dump.failed}.facts.json.failed"
        done
    fi
    record failed "$1"
    exit 1
}

# Waits until psql holding the snapshot has printed $1 lines; fails if it exits or takes longer
# than $2 seconds.
wait_holder() {
    i=0
    while [ "$(wc -l <"$work/holder.out")" -lt "$1" ]; do
        alive "$holder_pid" || return 1
        i=$((i + 1))
        [ "$i" -le "$(($2 * 10))" ] || return 1
        sleep 0.1
    done
}

# Runs a command against the throwaway Postgres.
in_scratch() {
    (
        PGHOST=$work/sock PGPORT=5432 PGUSER=postgres PGDATABASE=$SCRATCH_DB
        export PGHOST PGPORT PGUSER PGDATABASE
        unset PGPASSFILE PGOPTIONS PGSERVICE PGSSLMODE
        "$@"
    )
}

work=$(mktemp -d "${TMPDIR:-/tmp}/swarm-ha-backup.XXXXXX") || die "cannot create a temporary directory"
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
mkdir -p -- "$BACKUP_DIR" || die "cannot create $BACKUP_DIR"
# One cycle at a time on a volume: a manual run (docker exec … BACKUP_ONCE=1 swarm-ha-backup)
# waits for the scheduled one instead of racing it.
exec 9>>"$BACKUP_DIR/.lock" || die "cannot write to $BACKUP_DIR"
if ! flock -n 9; then
    log "another backup is running on $BACKUP_DIR; waiting for it to finish"
    flock 9
fi

# What a cycle stopped by force (SIGKILL, a node's power) left behind: its partial dump, its
# scratch cluster, and a dump whose check never finished (not proven, so not good).
rm -f -- "$BACKUP_DIR"/.*.partial
rm -rf -- "$SCRATCH_DIR"
for f in "$BACKUP_DIR/$DB"-[0-9]*Z.dump; do
    if [ ! -f "$f" ] || [ -f "${f%.dump}.facts.json" ]; then continue; fi
    log "${f##*/}: its restore check never finished (the container stopped?); moved aside as .failed"
    mv -f -- "$f" "$f.failed"
done

# --- 1. Snapshot, dump, facts.
stage=snapshot
mkfifo "$work/holder.in" || die "cannot create a fifo in $work"
psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 <"$work/holder.in" >"$work/holder.out" 2>"$work/holder.err" 9>&- &
holder_pid=$!
exec 3>"$work/holder.in"
# `cat`, not a builtin: if psql died, the write's SIGPIPE kills cat, not this shell.
# The time in the name is the snapshot's: the moment the backup's data is from. Locking every
# table (as pg_dump does) keeps a table from being dropped or rewritten before its facts are
# read; the lock wait is bounded, so a long migration fails this cycle instead of stalling it.
cat >&3 <<SQL
SET idle_in_transaction_session_timeout = 0;
SET statement_timeout = 0;
SET lock_timeout = '${BACKUP_LOCK_WAIT_SECONDS}s';
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT pg_export_snapshot(), to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"'),
       floor(extract(epoch FROM now()))::bigint, pg_encoding_to_char(encoding)
  FROM pg_database WHERE datname = current_database();
DO \$\$
DECLARE t regclass;
BEGIN
  FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND c.relpersistence <> 't'
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  LOOP
    EXECUTE format('LOCK TABLE %s IN ACCESS SHARE MODE', t);
  END LOOP;
END
\$\$;
SELECT 'locked';
SQL
wait_holder 2 "$((PGCONNECT_TIMEOUT + BACKUP_LOCK_WAIT_SECONDS + 10))" ||
    fail "could not open a snapshot on $DB at $SOURCE: $(complaint "$work/holder.err")"
read -r snap stamp snap_epoch encoding <"$work/holder.out"
case $snap in *[!0-9A-F-]* | '') fail "unexpected answer from pg_export_snapshot(): $snap" ;; esac
case $stamp in [0-9]*T[0-9]*Z) ;; *) fail "unexpected snapshot time: $stamp" ;; esac
snap_at=$(iso_time "$snap_epoch")
name=$DB-$stamp.dump
if [ -e "$BACKUP_DIR/$name" ] || [ -e "$BACKUP_DIR/$name.failed" ]; then
    fail "$name exists already (two backups within one second?)"
fi

stage=dump
partial=$BACKUP_DIR/.$name.partial
pg_dump --format=custom --snapshot="$snap" --lock-wait-timeout="${BACKUP_LOCK_WAIT_SECONDS}s" \
    --file="$partial" 2>"$work/pg_dump.err" 9>&- ||
    fail "pg_dump failed: $(complaint "$work/pg_dump.err")"
dump=$BACKUP_DIR/$name
mv -f -- "$partial" "$dump" || fail "cannot rename the dump to $name"
partial=
size=$(wc -c <"$dump")

stage=facts
facts_tsv "$work/source.tsv" "$snap" 2>"$work/facts.err" ||
    fail "could not read the tables' facts in the snapshot: $(complaint "$work/facts.err")"
# The roles the dump names (owners, grants, policies), created in the throwaway Postgres so the
# dump restores as it would in production. Names only: no passwords, no attributes.
psql -X -q -At -v ON_ERROR_STOP=1 \
    -c "SELECT format('CREATE ROLE %I;', rolname) FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> 'postgres' ORDER BY 1" \
    >"$work/roles.sql" 2>"$work/roles.err" ||
    fail "could not list the roles: $(complaint "$work/roles.err")"
stop_holder

# --- 2. Restore check.
stage="restore check"
check_started=$(date +%s)
mkdir -p -- "$SCRATCH_DIR" "$work/sock" || fail "cannot create $SCRATCH_DIR"
initdb -D "$SCRATCH_DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions \
    >"$work/initdb.log" 2>&1 || fail "initdb failed: $(complaint "$work/initdb.log")"
# Throwaway: no durability (fsync off), no TCP, no autovacuum.
postgres -D "$SCRATCH_DIR/data" -k "$work/sock" -c port=5432 -c listen_addresses= \
    -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c autovacuum=off \
    -c max_wal_size=1GB -c shared_buffers=64MB >"$work/scratch.log" 2>&1 9>&- &
scratch_pid=$!
i=0
until pg_isready -q -h "$work/sock" -p 5432 -t 1; do
    alive "$scratch_pid" || fail "the throwaway Postgres did not start: $(complaint "$work/scratch.log")"
    i=$((i + 1))
    [ "$i" -le 300 ] || fail "the throwaway Postgres did not start within 30s"
    sleep 0.1
done
in_scratch psql -X -q -v ON_ERROR_STOP=1 -d postgres -f "$work/roles.sql" 2>"$work/restore.err" ||
    fail "could not create the roles: $(complaint "$work/restore.err")"
in_scratch createdb -T template0 -E "$encoding" --locale=C "$SCRATCH_DB" 2>"$work/restore.err" ||
    fail "createdb failed: $(complaint "$work/restore.err")"
in_scratch pg_restore --exit-on-error --no-tablespaces -d "$SCRATCH_DB" "$dump" 2>"$work/restore.err" ||
    fail "pg_restore failed: $(complaint "$work/restore.err")"
in_scratch facts_tsv "$work/restored.tsv" 2>"$work/restore.err" ||
    fail "could not read the restored tables' facts: $(complaint "$work/restore.err")"
stop_scratch
rm -rf -- "$SCRATCH_DIR"
check_seconds=$(($(date +%s) - check_started))
facts_diff "$work/source.tsv" "$work/restored.tsv" >"$work/diff"
[ ! -s "$work/diff" ] ||
    fail "the restored database differs from the snapshot: $(head -n 5 "$work/diff" | awk '{ printf "%s%s", (NR > 1 ? "; " : ""), $0 }')"

# --- 3. Record: the facts file marks the dump good; then retention, over good backups only.
stage=record
write_facts "${dump%.dump}.facts.json" passed "" "$dump" || fail "cannot write ${name%.dump}.facts.json"
good_backups | tail -n "+$((BACKUP_KEEP + 1))" | while IFS= read -r old; do
    rm -f -- "$BACKUP_DIR/$old" "$BACKUP_DIR/${old%.dump}.facts.json"
    log "retention: removed $old (keeping the newest $BACKUP_KEEP)"
done
read -r tables rows <<EOF
$(facts_summary "$work/source.tsv")
EOF
log "backup $name: $tables tables, $rows rows, $size bytes, restore check passed in ${check_seconds}s"
record ok
exit 0
