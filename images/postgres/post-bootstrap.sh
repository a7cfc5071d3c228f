#!/bin/sh
# swarm-ha-post-bootstrap: Patroni's post_bootstrap script. Patroni runs it once per cluster, on
# the member that creates it (initdb), as postgres, before any replica exists, with a connection
# string to the new primary as its last argument and PGPASSFILE set to the superuser's password.
# It creates the app's role `app`, which owns the database `app`, when APP_PASSWORD_FILE is set
# (swarm-ha's services do not set it: its postgres-app-role step does this on the running cluster).
#
# The app's password is read from the file APP_PASSWORD_FILE names (the entrypoint put it where
# only postgres can read it), by psql itself: it is on no command line and in no environment.
# Postgres stores it as a SCRAM-SHA-256 verifier (password_encryption); this session logs no
# statement, even a failed one, so the password in the CREATE ROLE never reaches the log.
# Running it again is harmless: the role's password is set again, the database kept.
set -eu

die() {
    printf 'swarm-ha-post-bootstrap: %s\n' "$*" >&2
    exit 1
}

[ "$#" -ge 1 ] || die "expects a connection string (Patroni passes one)"
for conninfo; do :; done # the last argument
if [ -z "${APP_PASSWORD_FILE:-}" ]; then
    # swarm-ha's own services: the postgres-app-role step makes them once the members are up.
    printf 'swarm-ha-post-bootstrap: no APP_PASSWORD_FILE: role app and database app are left to the postgres-app-role step\n' >&2
    exit 0
fi
[ -r "$APP_PASSWORD_FILE" ] || die "cannot read APP_PASSWORD_FILE $APP_PASSWORD_FILE"
[ -s "$APP_PASSWORD_FILE" ] || die "APP_PASSWORD_FILE $APP_PASSWORD_FILE is empty"

# psql's backquotes run `cat` through sh with psql's environment; :'name' quotes a value as an
# SQL literal, whatever characters the password holds.
psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 "$conninfo" <<'SQL'
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
SET log_min_duration_statement = -1;
\set app_password `cat "$APP_PASSWORD_FILE"`
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') AS app_role_missing \gset
\if :app_role_missing
CREATE ROLE app LOGIN PASSWORD :'app_password';
\else
ALTER ROLE app LOGIN PASSWORD :'app_password';
\endif
\unset app_password
SELECT 'CREATE DATABASE app OWNER app' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app') \gexec
SQL
printf 'swarm-ha-post-bootstrap: role app and database app are ready\n' >&2
