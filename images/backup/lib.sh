# shellcheck shell=sh
# Shared by swarm-ha-backup (the service's entrypoint), backup-cycle.sh (one backup) and
# swarm-ha-restore (the runbook's restore): sourced, never run. POSIX sh plus the Postgres
# client tools, coreutils, util-linux and mawk, all in the image.
#
# The "facts" of a database are what a restore must reproduce: for every table, its row count
# and a SHA-256 of its rows in COPY text form, in primary-key order. They are computed the same
# way on the source (inside the dump's snapshot) and on the restored copy, so two equal fact
# lists mean the restore holds exactly the rows the dump was taken from.

TAB=$(printf '\t')

# Messages go to stderr with the command's name and a UTC time, so `docker service logs` says
# who spoke and when.
log() {
    printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${PROG:-swarm-ha-backup}" "$*" >&2
}

die() {
    log "$*"
    exit 1
}

is_uint() {
    case $1 in '' | *[!0-9]*) return 1 ;; esac
    # No leading zeros beyond "0" itself: $((08)) would be read as octal.
    case $1 in 0?*) return 1 ;; esac
    return 0
}

# A database name used in file names (<name>-<time>.dump) and as a libpq dbname: letters,
# digits, '_' and '-', not starting with a digit or '-'. Excludes '/', glob characters and
# '=' (libpq would read a dbname holding '=' as a whole connection string).
valid_dbname() {
    case $1 in [A-Za-z_]*) ;; *) return 1 ;; esac
    case $1 in *[!A-Za-z0-9_-]*) return 1 ;; esac
    [ "${#1}" -le 63 ]
}

# Whether a child process still runs (a child that exited stays a zombie until waited for,
# and `kill -0` would still find it).
alive() {
    [ -r "/proc/$1/stat" ] || return 1
    [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}

# ISO 8601 UTC time of a Unix time.
iso_time() {
    date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ
}

# A JSON string of arbitrary text: backslashes and quotes escaped, control characters (newlines
# included) turned into spaces. For messages, which only need to stay readable.
json_str() {
    printf '"%s"' "$(printf '%s' "$1" | tr '\000-\037' ' ' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

# The last non-empty line of a file (a tool's last complaint is usually the one that matters).
last_line() {
    grep . "$1" 2>/dev/null | tail -n 1 | cut -c1-500
}

# The environment, with defaults, checked all at once: every problem listed, then exit 1.
load_settings() {
    BACKUP_DIR=${BACKUP_DIR:-/backups}
    BACKUP_INTERVAL_SECONDS=${BACKUP_INTERVAL_SECONDS:-3600}
    BACKUP_KEEP=${BACKUP_KEEP:-7}
    METRICS_PORT=${METRICS_PORT:-9187}
    PGDATABASE=${PGDATABASE:-app}
    PGUSER=${PGUSER:-postgres}
    # libpq waits forever for an unanswered connection by default; during a failover the proxy
    # may accept and then hang. A cycle that cannot connect fails and is retried next interval.
    PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
    # How long the backup waits for a table lock (a migration's ALTER TABLE holding it) before
    # the cycle fails, rather than waiting behind it indefinitely.
    BACKUP_LOCK_WAIT_SECONDS=${BACKUP_LOCK_WAIT_SECONDS:-60}
    # Debian keeps the server's programs (initdb, postgres) off PATH; the image puts them first.
    PATH=$PATH:${PG_BINDIR:-/usr/lib/postgresql/15/bin}
    export PATH BACKUP_DIR BACKUP_INTERVAL_SECONDS BACKUP_KEEP METRICS_PORT PGDATABASE PGUSER PGCONNECT_TIMEOUT BACKUP_LOCK_WAIT_SECONDS

    problems=
    is_uint "$BACKUP_INTERVAL_SECONDS" && [ "$BACKUP_INTERVAL_SECONDS" -ge 1 ] ||
        problems="$problems
  BACKUP_INTERVAL_SECONDS: must be a whole number of seconds, at least 1 (got \"$BACKUP_INTERVAL_SECONDS\")"
    is_uint "$BACKUP_KEEP" && [ "$BACKUP_KEEP" -ge 1 ] ||
        problems="$problems
  BACKUP_KEEP: must be a whole number, at least 1: the newest good backups kept (got \"$BACKUP_KEEP\")"
    is_uint "$METRICS_PORT" && [ "$METRICS_PORT" -ge 1 ] && [ "$METRICS_PORT" -le 65535 ] ||
        problems="$problems
  METRICS_PORT: must be a port, 1 to 65535 (got \"$METRICS_PORT\")"
    is_uint "$BACKUP_LOCK_WAIT_SECONDS" && [ "$BACKUP_LOCK_WAIT_SECONDS" -ge 1 ] ||
        problems="$problems
  BACKUP_LOCK_WAIT_SECONDS: must be a whole number of seconds, at least 1 (got \"$BACKUP_LOCK_WAIT_SECONDS\")"
    is_uint "$PGCONNECT_TIMEOUT" ||
        problems="$problems
  PGCONNECT_TIMEOUT: must be a whole number of seconds (got \"$PGCONNECT_TIMEOUT\")"
    valid_dbname "$PGDATABASE" ||
        problems="$problems
  PGDATABASE: must be 1-63 letters, digits, '_' or '-', not starting with a digit or '-' (got \"$PGDATABASE\")"
    case $BACKUP_DIR in
    /*) ;;
    *) problems="$problems
  BACKUP_DIR: must be an absolute path (got \"$BACKUP_DIR\")" ;;
    esac
    [ -z "$problems" ] || die "cannot start, the environment is wrong:$problems"
}

# Writes a libpq password file (mode 0600) holding the password in the Docker secret file $1,
# so the password reaches libpq without ever being on a command line or in an environment
# (/proc/<pid>/environ). Only shell builtins touch it before sed, which gets it on stdin.
write_pgpass() {
    [ -r "$1" ] || die "cannot read the password file $1 (PGPASSWORD_FILE)"
    # $(cat) drops trailing newlines: a secret file written with one still works.
    pw=$(cat -- "$1") || die "cannot read the password file $1 (PGPASSWORD_FILE)"
    [ -n "$pw" ] || die "the password file $1 (PGPASSWORD_FILE) is empty"
    case $pw in *"
"*) die "the password in $1 (PGPASSWORD_FILE) spans several lines, which a libpq password file cannot hold" ;;
    esac
    (
        umask 077
        # pgpass syntax: '\' and ':' in a field are escaped with '\'.
        printf '%s' "$pw" | sed -e 's/\\/\\\\/g' -e 's/:/\\:/g' -e 's/^/*:*:*:*:/' >"$2"
        printf '\n' >>"$2"
    ) || die "cannot write the libpq password file $2"
    pw=
}

# The tables whose rows are facts, one line each: oid TAB table (a JSON string) TAB order.
# Ordinary tables (partitions included; a partitioned parent holds no rows of its own) outside
# the system schemas, other sessions' temporary tables excluded (unreadable), and so are tables
# of extensions (pg_dump leaves their rows to the extension's own script).
tables_sql() {
    cat <<'SQL'
SELECT c.oid,
       to_json(n.nspname || '.' || c.relname),
       CASE WHEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
            THEN 'primary key' ELSE 'row text' END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C";
SQL
}

# One table's facts, for psql with -v oid=<oid> (and -v snap=<snapshot> on the source): its row
# count on the first line, then its rows as COPY text. The order is the primary key's, each
# collatable column compared in the "C" collation: the restored copy may sort text differently
# (another locale), and the checksum must not depend on that. Without a primary key: the row
# text itself, so identical rows are interchangeable.
table_facts_sql() {
    cat <<'SQL'
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
\if :{?snap}
SET TRANSACTION SNAPSHOT :'snap';
\endif
SELECT format('SELECT count(*) FROM %I.%I', n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = :oid \gexec
SELECT format('COPY (SELECT * FROM %I.%I AS t ORDER BY %s) TO STDOUT', n.nspname, c.relname,
              coalesce((SELECT string_agg(format('t.%I', a.attname)
                                          || CASE WHEN a.attcollation <> 0 THEN ' COLLATE "C"' ELSE '' END,
                                          ', ' ORDER BY k.ord)
                          FROM pg_index i
                         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                         WHERE i.indrelid = c.oid AND i.indisprimary),
                       't::text COLLATE "C"'))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = :oid \gexec
COMMIT;
SQL
}

# Session settings that fix how values are written as text, so the source and the restored copy
# print the same row the same way whatever their servers' defaults (a timestamptz prints in the
# session's time zone, money in its lc_monetary, ...).
FACTS_PGOPTIONS='-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=1 -c bytea_output=hex -c lc_monetary=C -c statement_timeout=0'

# facts_tsv OUT [SNAPSHOT]: writes the facts of the database libpq's environment points at to
# OUT, one line per table: table (JSON string) TAB rows TAB sha256 TAB order. With SNAPSHOT,
# every query runs in that exported snapshot. Returns non-zero (psql's complaint on stderr) if
# any query fails.
facts_tsv() {
    f_out=$1
    if [ -n "${2:-}" ]; then set -- -v "snap=$2"; else set --; fi
    : >"$f_out" || return 1
    {
        printf '%s\n' 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;'
        [ "$#" -eq 0 ] || printf '%s\n' "SET TRANSACTION SNAPSHOT :'snap';"
        tables_sql
        printf '%s\n' 'COMMIT;'
    } | PGOPTIONS=$FACTS_PGOPTIONS psql -X -q -At -F "$TAB" -v ON_ERROR_STOP=1 "$@" -f - >"$f_out.tables" || return 1
    while IFS="$TAB" read -r f_oid f_name f_order; do
        {
            table_facts_sql | PGOPTIONS=$FACTS_PGOPTIONS psql -X -q -At -v ON_ERROR_STOP=1 -v "oid=$f_oid" "$@" -f -
            echo "$?" >"$f_out.rc"
        } | {
            IFS= read -r f_rows || f_rows=
            f_sum=$(sha256sum) || exit 1
            is_uint "$f_rows" || exit 1
            printf '%s\t%s\t%s\t%s\n' "$f_name" "$f_rows" "${f_sum%% *}" "$f_order"
        } >>"$f_out" || return 1
        [ "$(cat "$f_out.rc")" = 0 ] || return 1
    done <"$f_out.tables"
    rm -f -- "$f_out.tables" "$f_out.rc"
}

# The facts (TSV on stdin) as the items of a JSON array, one per line, indented by $1 (4 spaces
# by default: the form facts_from_json reads back).
facts_json_lines() {
    awk -F '\t' -v indent="${1:-    }" '{ printf "%s%s{\"table\": %s, \"rows\": %s, \"sha256\": \"%s\", \"order\": \"%s\"}", (NR > 1 ? ",\n" : ""), indent, $1, $2, $3, $4 }
        END { if (NR) printf "\n" }'
}

# The facts TSV back from a .facts.json written by facts_json_lines.
facts_from_json() {
    sed -n 's/^    {"table": \(".*"\), "rows": \([0-9][0-9]*\), "sha256": "\([0-9a-f]*\)", "order": "\([a-z ]*\)"},\{0,1\}$/\1\t\2\t\3\t\4/p' "$1"
}

# facts_diff EXPECTED ACTUAL: one line per table whose facts differ; nothing when all agree.
facts_diff() {
    awk -F '\t' '
        NR == FNR { rows[$1] = $2; sum[$1] = $3; names[++n] = $1; next }
        !($1 in rows) { print $1 ": restored, but not in the backup'"'"'s facts"; next }
        { seen[$1] = 1 }
        rows[$1] != $2 { print $1 ": " rows[$1] " rows in the backup'"'"'s facts, " $2 " restored"; next }
        sum[$1] != $3 { print $1 ": " $2 " rows as expected, but different contents (checksum)" }
        END { for (i = 1; i <= n; i++) if (!(names[i] in seen)) print names[i] ": missing after the restore" }
    ' "$1" "$2"
}

# facts_summary TSV: "<tables> <rows>".
facts_summary() {
    awk -F '\t' '{ t++; r += $2 } END { printf "%d %.0f\n", t, r }' "$1"
}

# The good backups of $PGDATABASE in $BACKUP_DIR, newest first: a dump with its facts file. The
# facts are written only once the dump passed its restore check, so a dump without them is
# unproven (being checked, or its check was cut short) and never counts.
good_backups() {
    for g_dump in "$BACKUP_DIR/$PGDATABASE"-[0-9]*Z.dump; do
        [ -f "$g_dump" ] && [ -f "${g_dump%.dump}.facts.json" ] && printf '%s\n' "${g_dump##*/}"
    done | LC_ALL=C sort -r
}

# --- State kept on the volume, so a restarted service serves the same metrics and keeps its
# schedule. One small file per value under $BACKUP_DIR/.state, each replaced atomically.

state_get() {
    cat -- "$BACKUP_DIR/.state/$1" 2>/dev/null || printf '%s' "${2:-}"
}

state_put() {
    mkdir -p -- "$BACKUP_DIR/.state" &&
        printf '%s' "$2" >"$BACKUP_DIR/.state/$1.tmp" &&
        mv -f -- "$BACKUP_DIR/.state/$1.tmp" "$BACKUP_DIR/.state/$1"
}

# One gauge of the Prometheus text format, with its help.
metric() {
    printf '# HELP %s %s\n# TYPE %s gauge\n%s %s\n' "$1" "$2" "$1" "$1" "$3"
}

# Writes $BACKUP_DIR/metrics.prom (served at /metrics) from the state. A value that has none
# yet (no attempt since the volume was created) is left out, except the time of the last good
# backup: 0 then, so an alert on its age fires until a first backup is proven.
write_metrics() {
    {
        metric swarm_ha_backup_last_success_timestamp_seconds \
            "Snapshot time (Unix seconds) of the newest backup that passed its restore check; 0 if there is none." \
            "$(state_get last-success-epoch 0)"
        if [ -n "$(state_get last-attempt-epoch)" ]; then
            metric swarm_ha_backup_last_attempt_timestamp_seconds "Start time (Unix seconds) of the last backup attempt." "$(state_get last-attempt-epoch)"
            metric swarm_ha_backup_last_attempt_success "1 if the last backup attempt produced a backup that passed its restore check, else 0." "$(state_get last-attempt-ok 0)"
            metric swarm_ha_backup_last_duration_seconds "Duration of the last backup attempt, dump and restore check, in seconds." "$(state_get last-duration 0)"
            metric swarm_ha_backup_last_size_bytes "Size of the last attempt's dump in bytes (0 if it produced none)." "$(state_get last-size 0)"
        fi
        if [ -n "$(state_get restore-check-ok)" ]; then
            metric swarm_ha_backup_restore_check_ok \
                "1 if the last restore check that ran restored exactly the rows dumped, else 0. A dump that could not be taken (Postgres unreachable) runs no check and leaves this as it was." \
                "$(state_get restore-check-ok)"
        fi
        metric swarm_ha_backup_good_backups "Backups kept that passed their restore check." "$(good_backups | wc -l)"
    } >"$BACKUP_DIR/metrics.prom.tmp" && mv -f -- "$BACKUP_DIR/metrics.prom.tmp" "$BACKUP_DIR/metrics.prom"
}
