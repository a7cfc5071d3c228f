"""postgres-roles MODE WAIT_SECONDS: the passwords of Postgres' roles, set on the running cluster.

Run by the postgres-passwords and postgres-app-role steps (components/cluster/scripts/
postgres-roles.sh) inside a Postgres member's container, as root: this text comes first on
stdin (one base64 line, which a fixed `python3 -c` loader runs, so that a member of an older image
runs it too), then a JSON object {role: password} (the step's own stdin: never on a command
line, in an environment or in a file).

MODE:
  cluster-roles  the roles the members log in as (postgres, replicator). Run before the members
                 restart with the new passwords' files: a restarted member then logs in with what
                 the roles already hold, while the others' open sessions go on (a password is
                 checked at login only). On a new cluster (no Patroni answers) it does nothing:
                 the members create the roles with these passwords.
  app-role       the app's login: `app` (NOLOGIN) owns database `app` and what the app makes in
                 it; the app logs in as app_a or app_b, members of `app` that act as it (SET
                 role). A new password goes to the login the app does not use now (the one that
                 may not log in, else the one with fewer sessions), which may log in from then
                 on; the running app keeps its own until it rolls to the new one, so no login is
                 refused meanwhile. Prints `app_login=<role>` last: the role the app must use.
                 Run once the members are up, before the app rolls; the members never read this
                 password, so changing it restarts no member. A stack from before the two
                 logins has `app` itself as its login; it stays so until the next rotation.
  app-logins     stdin {"keep": ROLE}: every other app login may no longer log in, and its
                 sessions are closed. Run once the app has rolled to ROLE.

Each password becomes a SCRAM-SHA-256 verifier here, the way psql's \\password does it, so the
password itself never reaches the server, its log or pg_stat_activity; a role whose verifier
already matches is left alone (prints "unchanged"). It talks to the leader that Patroni names,
as postgres, with the superuser password this container was started with
(SWARM_HA_SUPERUSER_PASSWORD_FILE) or, when a run before this one already changed it, the new
one. Waits, within WAIT_SECONDS, for a leader. Prints one line per role; exits 1 with the
reason, naming no password, when it cannot.

Test overrides: SWARM_HA_PATRONI_URL (http://127.0.0.1:8008),
SWARM_HA_SUPERUSER_PASSWORD_FILE (/run/secrets/postgres-password).
"""
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

import psycopg2
from psycopg2 import sql

API = os.environ.get("SWARM_HA_PATRONI_URL", "http://127.0.0.1:8008")
SUPERUSER_PASSWORD_FILE = os.environ.get("SWARM_HA_SUPERUSER_PASSWORD_FILE", "/run/secrets/postgres-password")
MODES = {"cluster-roles": ("postgres", "replicator"), "app-role": ("app",), "app-logins": ("keep",)}
APP_DATABASE = "app"
# Owns the app's database and tables; logs in only on a stack from before APP_LOGINS.
APP_OWNER = "app"
# The app's two logins: a rotation sets the one not in use, so the running app is never refused.
APP_LOGINS = ("app_a", "app_b")
# Postgres' own default for the verifiers it makes (scram_iterations).
SCRAM_ITERATIONS = 4096
# Printable ASCII: Postgres runs a password through SASLprep before hashing it, which leaves such
# text as it is; anything else it might change, and a verifier made here would not match.
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
VERIFIER = re.compile(r"SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)")


def fail(message):
    print(f"postgres-roles: {message}", file=sys.stderr)
    return 1


def scram_verifier(password, salt, iterations=SCRAM_ITERATIONS):
    """The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802, RFC 7677)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def verifies(verifier, password):
    """True when `verifier` (pg_authid.rolpassword) accepts `password`."""
    m = VERIFIER.fullmatch(verifier or "")
    return bool(m) and hmac.compare_digest(scram_verifier(password, base64.b64decode(m.group(2)), int(m.group(1))), verifier)


def leader(deadline):
    """(host, port) of the leader Patroni names; None when no Patroni answers at all (no cluster)."""
    answered = False
    while True:
        try:
            with urllib.request.urlopen(API + "/cluster", timeout=5) as response:
                cluster = json.load(response)
            answered = True
            for m in cluster.get("members", []):
                if m.get("role") == "leader" and m.get("state") in ("running", "streaming"):
                    return m["host"], int(m["port"])
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            if not answered:
                return None
            raise TimeoutError(f"no running leader in Patroni's view at {API}/cluster")
        time.sleep(1)


def connect(host, port, candidates):
    """A session as postgres on the leader, with the first candidate password that logs in."""
    last = None
    for password in candidates:
        try:
            # Bounded against a leader that freezes mid-way: each statement gives up after 10 s,
            # and TCP keep-alives notice a vanished peer within about 11 s.
            conn = psycopg2.connect(
                host=host, port=port, user="postgres", password=password, dbname="postgres", connect_timeout=5, application_name="swarm-ha postgres-roles",
                options="-c statement_timeout=10000", keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
            )
            conn.autocommit = True
            return conn
        except psycopg2.OperationalError as e:
            last = e
    raise ConnectionError(f"cannot log in to the leader {host}:{port} as postgres: {str(last).strip().splitlines()[0] if last else 'no password'}")


def main(argv, stdin):
    if len(argv) != 3 or argv[1] not in MODES:
        print(f"usage: postgres-roles {'|'.join(MODES)} WAIT_SECONDS  (passwords as JSON on stdin)", file=sys.stderr)
        return 2
    mode, wait_seconds = argv[1], float(argv[2])
    try:
        wanted = json.loads(stdin.read())
    except ValueError:
        return fail("stdin is not a JSON object of role: password")
    expected = MODES[mode]
    if not isinstance(wanted, dict) or sorted(wanted) != sorted(expected):
        return fail(f"{mode} sets exactly the roles {', '.join(expected)}; stdin names {', '.join(sorted(wanted)) if isinstance(wanted, dict) else 'none'}")
    if mode == "app-logins":
        if wanted["keep"] not in (APP_OWNER, *APP_LOGINS):
            return fail(f"app-logins keeps one of {', '.join((APP_OWNER, *APP_LOGINS))}; stdin names {wanted['keep']!r}")
    for role, password in wanted.items() if mode != "app-logins" else ():
        if not isinstance(password, str) or not PRINTABLE_ASCII.fullmatch(password):
            return fail(f"the password of role {role} must be printable ASCII (letters, digits, punctuation, spaces): Postgres would read other characters differently")

    try:
        found = leader(time.monotonic() + wait_seconds)
    except TimeoutError as e:
        return fail(f"{e} within {wait_seconds:.0f} s")
    if found is None:
        if mode == "cluster-roles":
            print(f"postgres-roles: no cluster yet (no Patroni at {API}): its members create {', '.join(expected)} with these passwords")
            return 0
        return fail(f"Patroni did not answer at {API}/cluster within {wait_seconds:.0f} s (is the cluster up?)")

    candidates = []
    try:
        with open(SUPERUSER_PASSWORD_FILE) as f:
            candidates.append(f.read().rstrip("\n"))
    except OSError as e:
        return fail(f"cannot read the superuser's password file {SUPERUSER_PASSWORD_FILE}: {e.strerror}")
    if "postgres" in wanted and wanted["postgres"] not in candidates:
        candidates.append(wanted["postgres"])
    try:
        conn = connect(*found, candidates)
    except ConnectionError as e:
        return fail(str(e))
    try:
        cur = conn.cursor()
        # The verifiers are not the passwords, but no statement of this session is logged either.
        cur.execute("SET log_statement = 'none'; SET log_min_error_statement = 'panic'; SET log_min_duration_statement = -1")
        if mode == "app-role":
            return app_role(cur, wanted["app"])
        if mode == "app-logins":
            return app_logins(cur, wanted["keep"])
        for role in expected:
            cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
            row = cur.fetchone()
            if row is not None and verifies(row[0], wanted[role]):
                print(f"postgres-roles: {role} unchanged")
                continue
            if row is None:
                return fail(f"role {role} does not exist on the leader {found[0]}:{found[1]}: the cluster was not made by swarm-ha's members")
            cur.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(role)), (scram_verifier(wanted[role], os.urandom(16)),))
            print(f"postgres-roles: {role} password changed")
    finally:
        conn.close()
    return 0


def app_roles(cur):
    """{role: (may log in, verifier)} of the app's owner and logins that exist."""
    cur.execute("SELECT rolname, rolcanlogin, rolpassword FROM pg_authid WHERE rolname = ANY(%s)", ([APP_OWNER, *APP_LOGINS],))
    return {name: (can_login, verifier) for name, can_login, verifier in cur.fetchall()}


def app_role(cur, password):
    """The app-role mode: see the top of this file."""
    roles = app_roles(cur)
    if APP_OWNER not in roles:
        cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(APP_OWNER)))
        print(f"postgres-roles: {APP_OWNER} created (it owns the app's database; the app logs in as {' or '.join(APP_LOGINS)}, acting as it)")
    login = next((r for r in (APP_OWNER, *APP_LOGINS) if r in roles and roles[r][0] and verifies(roles[r][1], password)), None)
    if login is not None:
        print(f"postgres-roles: {login} unchanged")
    else:
        # The login the running app does not use: one that may not log in; else (a rotation
        # whose app-logins step never ran) the one with fewer sessions now.
        idle = [r for r in APP_LOGINS if r not in roles or not roles[r][0]]
        if not idle:
            cur.execute("SELECT usename, count(*) FROM pg_stat_activity WHERE usename = ANY(%s) GROUP BY usename", (list(APP_LOGINS),))
            sessions = dict(cur.fetchall())
            idle = sorted(APP_LOGINS, key=lambda r: sessions.get(r, 0))
        login = idle[0]
        verifier = scram_verifier(password, os.urandom(16))
        if login in roles:
            cur.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(login)), (verifier,))
            print(f"postgres-roles: {login} password changed")
        else:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(sql.Identifier(login), sql.Identifier(APP_OWNER)), (verifier,))
            print(f"postgres-roles: {login} created")
    if login != APP_OWNER:
        # It acts as the owner from its login on: what the app makes is the owner's, whichever login made it.
        cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(APP_OWNER), sql.Identifier(login)))
        cur.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(sql.Identifier(login), sql.Literal(APP_OWNER)))
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (APP_DATABASE,))
    if cur.fetchone() is None:
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(APP_DATABASE), sql.Identifier(APP_OWNER)))
        print(f"postgres-roles: database {APP_DATABASE} created, owned by {APP_OWNER}")
    print(f"app_login={login}")
    return 0


def app_logins(cur, keep):
    """The app-logins mode: see the top of this file."""
    roles = app_roles(cur)
    if keep not in roles or not roles[keep][0]:
        return fail(f"{keep} may not log in: the app would be refused; run the postgres-app-role step first")
    retired = 0
    for role in (APP_OWNER, *APP_LOGINS):
        if role == keep or role not in roles or not roles[role][0]:
            continue
        cur.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s", (role,))
        print(f"postgres-roles: {role} may no longer log in ({cur.fetchone()[0]} session(s) closed)")
        retired += 1
    if retired == 0:
        print(f"postgres-roles: {keep} is the only app login")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv, sys.stdin))
