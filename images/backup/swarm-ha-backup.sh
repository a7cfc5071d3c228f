#!/bin/sh
# The backup service's entrypoint (/usr/local/bin/swarm-ha-backup). Every
# BACKUP_INTERVAL_SECONDS it runs one backup cycle (backup-cycle.sh: a dump from a snapshot,
# its restore check, the record), and it serves the result at http://:METRICS_PORT/metrics
# (and /status.json). A failed cycle is recorded and the next one runs on schedule; the loop
# stops only on SIGTERM/SIGINT, which first stop the running cycle and every process it started.
# The schedule is kept on the volume: a restarted service takes its next backup one interval
# after the last attempt, not at once.
#
# BACKUP_ONCE=1: one cycle, no server, and the cycle's exit status (0 a good backup, 1 failed).
# For tests, and for a backup now: docker exec -e BACKUP_ONCE=1 <container> swarm-ha-backup
# (it waits for a scheduled cycle that is running).
#
# Started as root (the service's default), it copies the password from the Docker secret file
# PGPASSWORD_FILE (readable by root only) into a 0600 libpq password file owned by BACKUP_USER
# (default postgres), then runs everything as that user: Postgres refuses to run as root, and
# nothing else needs it. The password is never put on a command line or in an environment.
#
# For tests, paths can be moved: SWARM_HA_BACKUP_LIB (these scripts), BACKUP_DIR (/backups),
# BACKUP_SCRATCH_DIR ($BACKUP_DIR/.scratch), PG_BINDIR (/usr/lib/postgresql/15/bin),
# METRICS_ADDRESS (all interfaces).
set -u
# The backups hold every row of the database: readable by their owner only.
umask 077
LIB=${SWARM_HA_BACKUP_LIB:-/usr/local/lib/swarm-ha-backup}
# The name log() gives messages (exported: lib.sh, which reads it, is checked on its own).
export PROG=swarm-ha-backup
# shellcheck source=/dev/null # lib.sh beside this file, checked on its own
. "$LIB/lib.sh"
load_settings
BACKUP_USER=${BACKUP_USER:-postgres}

if [ "$(id -u)" = 0 ]; then
    id "$BACKUP_USER" >/dev/null 2>&1 || die "BACKUP_USER: there is no user \"$BACKUP_USER\" to run as (Postgres refuses root)"
    run=$(mktemp -d "${TMPDIR:-/tmp}/swarm-ha-backup-run.XXXXXX") || die "cannot create a temporary directory"
    if [ -n "${PGPASSWORD_FILE:-}" ]; then
        write_pgpass "$PGPASSWORD_FILE" "$run/pgpass"
        PGPASSFILE=$run/pgpass
        export PGPASSFILE
    fi
    chown -R "$BACKUP_USER:" "$run" || die "cannot give $run to $BACKUP_USER"
    # A fresh named volume takes the image's /backups (owned by postgres); anything else is
    # made writable here. The directory only: backups already in it keep their owner.
    { mkdir -p -- "$BACKUP_DIR" && chown "$BACKUP_USER:" "$BACKUP_DIR"; } || die "cannot give $BACKUP_DIR to $BACKUP_USER"
    unset PGPASSWORD_FILE
    # libpq looks for client certificates under $HOME: not root's, which it may not read.
    HOME=$run
    SWARM_HA_BACKUP_RUN_DIR=$run
    export HOME SWARM_HA_BACKUP_RUN_DIR
    exec setpriv --reuid="$BACKUP_USER" --regid="$(id -g "$BACKUP_USER")" --init-groups -- sh "$0" "$@"
fi

# From here on: the unprivileged user.
[ -n "${PGPASSWORD_FILE:-}" ] || [ -n "${PGPASSFILE:-}" ] || log "PGPASSWORD_FILE is not set: connecting without a password"
run=${SWARM_HA_BACKUP_RUN_DIR:-}
if [ -z "$run" ]; then
    run=$(mktemp -d "${TMPDIR:-/tmp}/swarm-ha-backup-run.XXXXXX") || die "cannot create a temporary directory"
    if [ -n "${PGPASSWORD_FILE:-}" ]; then
        write_pgpass "$PGPASSWORD_FILE" "$run/pgpass"
        PGPASSFILE=$run/pgpass
        export PGPASSFILE
    fi
fi
unset SWARM_HA_BACKUP_RUN_DIR PGPASSWORD_FILE
cycle_pid=
server_pid=
sleep_pid=
in_cycle=

# Run by the traps.
# shellcheck disable=SC2317
stop() {
    trap '' TERM INT HUP
    # A signal between the cycle's fork and `cycle_pid=$!` finds cycle_pid empty, but $! is
    # already the cycle's (the shell runs traps between commands): without this, the cycle
    # would run on after the service exited.
    if [ -z "$cycle_pid" ] && [ "$in_cycle" = 1 ]; then cycle_pid=$!; fi
    if [ -n "$cycle_pid" ]; then
        log "stopping: interrupting the running backup (nothing is recorded for it)"
        # The cycle leads a session of its own: the signal reaches pg_dump, pg_restore and the
        # throwaway Postgres too; the cycle then removes its temporary files and exits.
        kill -s TERM -- "-$cycle_pid" 2>/dev/null || kill -s TERM "$cycle_pid" 2>/dev/null # not yet its own session
        wait "$cycle_pid"
        # The cycle's own subshells (command substitutions) got the signal too, but may still be
        # exiting when the cycle is gone: wait for its whole session, 5 s at most, then kill it.
        tries=0
        while kill -0 -- "-$cycle_pid" 2>/dev/null && [ "$tries" -lt 50 ]; do
            sleep 0.1
            tries=$((tries + 1))
        done
        kill -s KILL -- "-$cycle_pid" 2>/dev/null
    fi
    [ -z "$sleep_pid" ] || kill "$sleep_pid" 2>/dev/null
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid"
    fi
    exit 143
}
trap 'rm -rf -- "$run"' EXIT
trap stop TERM INT HUP

run_cycle() {
    in_cycle=1
    setsid sh "$LIB/backup-cycle.sh" &
    cycle_pid=$!
    wait "$cycle_pid"
    rc=$?
    cycle_pid=
    in_cycle=
    return "$rc"
}

if [ "${BACKUP_ONCE:-}" = 1 ]; then
    run_cycle
    exit $?
fi

start_server() {
    python3 "$LIB/metrics-server.py" "$BACKUP_DIR" "${METRICS_ADDRESS:-}" "$METRICS_PORT" &
    server_pid=$!
}

# A restarted service serves its last state at once (the health check reads /metrics).
write_metrics || die "cannot write $BACKUP_DIR/metrics.prom"
start_server
last=$(state_get last-attempt-epoch 0)
is_uint "$last" || last=0
next=$((last + BACKUP_INTERVAL_SECONDS))
now=$(date +%s)
wait_first=$((next > now ? next - now : 0))
log "backing up $PGDATABASE at ${PGHOST:-the local socket}:${PGPORT:-5432} every ${BACKUP_INTERVAL_SECONDS}s into $BACKUP_DIR, keeping the newest $BACKUP_KEEP good backups; metrics on port $METRICS_PORT; first backup in ${wait_first}s"

while :; do
    now=$(date +%s)
    if [ "$now" -lt "$next" ]; then
        # In the background: a stop signal is handled at once, not after the sleep.
        sleep "$((next - now))" &
        sleep_pid=$!
        wait "$sleep_pid"
        sleep_pid=
        continue
    fi
    if ! alive "$server_pid"; then
        wait "$server_pid"
        log "the metrics server exited (status $?); starting it again"
        start_server
    fi
    if ! run_cycle; then
        log "the next attempt is in ${BACKUP_INTERVAL_SECONDS}s; the good backups are kept"
    fi
    next=$((now + BACKUP_INTERVAL_SECONDS))
    if [ "$(date +%s)" -ge "$next" ]; then
        log "the backup took longer than BACKUP_INTERVAL_SECONDS (${BACKUP_INTERVAL_SECONDS}s): the next one starts now"
    fi
done
