/**
 * The Postgres tier (components/postgres, images/postgres, images/etcd), proven with the real
 * programs: the exact text of each renderer, so any change to the output is a deliberate diff
 * here; the real checkers (`haproxy -c`, `patroni --validate-config`, shellcheck); inputs refused
 * with the field named; the entrypoints' decisions (flags, waits, addresses, passwords) against
 * stand-in programs; and, on loopback, three etcd members and two Patroni members started through
 * the entrypoints, with the proxy in front: a leader, a synchronous standby, the leader SIGKILLed,
 * the standby promoted with the acknowledged row, and the time until writes are back printed.
 * Every process started here is killed in afterAll, also when a test fails.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { freePorts } from "./support/ports";
import { parse as parseYaml } from "yaml";
import {
    ETCD_CLIENT_PORT,
    ETCD_ELECTION_TIMEOUT_MS,
    ETCD_HEARTBEAT_MS,
    ETCD_PEER_PORT,
    renderEtcd3Host,
    renderEtcdEnv,
    type EtcdEnvInput,
    type EtcdMember,
} from "../components/postgres/etcd";
import {
    DEFAULT_DATA_DIR,
    PATRONI_API_PORT,
    PATRONI_CONFIG_PATH,
    PGPASS_PATH,
    POST_BOOTSTRAP_SCRIPT,
    POSTGRES_BIN_DIR,
    POSTGRES_PORT,
    renderPatroniConfig,
    type PatroniConfigInput,
} from "../components/postgres/patroni-yml";
import { PG_PROXY_ADMIN_SOCKET, renderPgProxyConfig, type PgProxyConfigInput } from "../components/postgres/pg-proxy-cfg";
import { etcdClientHost } from "../components/common/names";

const ROOT = path.resolve(__dirname, "..");
const ETCD_ENTRYPOINT = path.join(ROOT, "images/etcd/entrypoint.sh");
const PATRONI_ENTRYPOINT = path.join(ROOT, "images/postgres/entrypoint.sh");
const PATRONI_CHECK = path.join(ROOT, "images/postgres/check.py");
const PATRONI_RUN = path.join(ROOT, "images/postgres/patroni-run.py");
const PATRONI_SETTINGS = path.join(ROOT, "components/postgres/patroni-settings.py");
const PATRONI_HANDOVER = path.join(ROOT, "components/postgres/patroni-handover.py");
const POSTGRES_ROLES = path.join(ROOT, "components/postgres/postgres-roles.py");
const ETCD_CHECK = path.join(ROOT, "images/etcd/check.sh");
const ETCD_MEMBERSHIP = path.join(ROOT, "components/postgres/etcd-membership.sh");
const POST_BOOTSTRAP = path.join(ROOT, "images/postgres/post-bootstrap.sh");
const IS_ROOT = process.getuid?.() === 0;

let work: string;
beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-postgres-"));
    // The entrypoints hand files here to the etcd and postgres users.
    fs.chmodSync(work, 0o755);
});
// The files go in afterAll below, after the programs.

function write(name: string, text: string, mode = 0o644): string {
    const file = path.join(work, name);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    fs.writeFileSync(file, text, { mode });
    fs.chmodSync(file, mode);
    return file;
}

function escape(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---------------------------------------------------------------------------------------------
// Inputs: the dev stack's (Pulumi.dev.yaml), as components/postgres/index.ts passes them.

const MANAGERS: EtcdMember[] = ["manager-1", "manager-2", "manager-3"].map((name) => ({ name, host: `swarm-ha-etcd-${name}` }));

const patroniInput = (over: Partial<PatroniConfigInput> = {}): PatroniConfigInput => ({
    scope: "swarm-ha",
    synchronousMode: true,
    maximumLagOnFailover: 1048576,
    ...over,
});

const proxyInput = (over: Partial<PgProxyConfigInput> = {}): PgProxyConfigInput => ({
    servers: [
        { name: "worker-1", host: "swarm-ha-pg-worker-1" },
        { name: "worker-2", host: "swarm-ha-pg-worker-2" },
    ],
    readWritePort: 5432,
    readOnlyPort: 5433,
    patroniPort: 8008,
    maxReplicaLagBytes: 1048576,
    healthPort: 8405,
    ...over,
});

const etcdInput = (over: Partial<EtcdEnvInput> = {}): EtcdEnvInput => ({ name: "manager-1", members: MANAGERS, clusterToken: "swarm-ha-dev", ...over });

const EXPECTED_PATRONI = `# patroni.yml, rendered by swarm-ha (components/postgres/patroni-yml.ts): change it there.
# The same file for every member. Each member's name, addresses, etcd endpoint and passwords
# come from the environment its entrypoint sets (images/postgres/entrypoint.sh): PATRONI_NAME,
# PATRONI_POSTGRESQL_CONNECT_ADDRESS, PATRONI_RESTAPI_CONNECT_ADDRESS, PATRONI_ETCD3_HOST and
# PATRONI_*_PASSWORD. No password and no address is written here.
scope: "swarm-ha"

restapi:
  # The proxy's checks (GET /primary, /replica) and the health check (GET /liveness) ask it.
  listen: "0.0.0.0:8008"
  # Reads answer anyone; what changes the cluster (switchover, restart, reinitialize, config)
  # answers only another member, or this container itself (patronictl through docker exec).
  allowlist: ["127.0.0.1/32", "::1/128"]
  allowlist_include_members: true

# A container has no watchdog device (Patroni would look for one at every start).
watchdog:
  mode: "off"

postgresql:
  listen: "0.0.0.0:5432"
  data_dir: "/data/pg"
  bin_dir: "/usr/lib/postgresql/15/bin"
  # The passwords Patroni connects with are written here: memory, not the container's disk.
  pgpass: "/dev/shm/swarm-ha/pgpass"
  # Passwords: PATRONI_SUPERUSER_PASSWORD, PATRONI_REPLICATION_PASSWORD, PATRONI_REWIND_PASSWORD.
  authentication:
    superuser:
      username: "postgres"
    replication:
      username: "replicator"
    # pg_rewind connects as the superuser, as Patroni does when no rewind user is given
    # (written out: Patroni 3.0.2's --validate-config requires the entry).
    rewind:
      username: "postgres"
  # A replica is cloned with a fast checkpoint on the primary, not a spread one (minutes).
  basebackup:
    - checkpoint: "fast"
  # Patroni writes pg_hba.conf from this list at every start, the same on every member.
  # samenet: the subnets of this container's own interfaces, that is loopback and the data
  # network (whose address is known only at run time). Every login needs a password.
  pg_hba: &pg_hba
    - "local all postgres peer"
    - "host all all samenet scram-sha-256"
    - "host replication replicator samenet scram-sha-256"

bootstrap:
  # Written to etcd by the member that creates the cluster, then shared by all; change it
  # later with patronictl edit-config (this section is read only at the cluster's creation).
  dcs:
    # The leader renews its key every loop_wait s and the key lives ttl s: a dead primary's key
    # expires 8-10 s after it died, then the replica takes over; writes are back within
    # about 12 s. A primary that cannot reach etcd for retry_timeout demotes itself: it outlasts
    # an etcd election (at most 3 s with etcd's 1500 ms election timeout), and Patroni's rule
    # loop_wait + 2 x retry_timeout <= ttl holds.
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    # Each commit waits for the synchronous standby, and only it may be promoted. Not strict:
    # with no standby left, the primary takes writes alone rather than none.
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      # A primary that comes back after a failover is rewound to follow the new one, rather
      # than cloned again.
      use_pg_rewind: true
      # A replication slot per member: the primary keeps the WAL a replica still needs.
      use_slots: true
      parameters:
        # Enough WAL for a streaming replica (Patroni's default, written out).
        wal_level: "replica"
        # Replicas answer read-only queries (the proxy's read-only port); Patroni forces it on.
        hot_standby: "on"
        # Each replica, pg_basebackup and pg_rewind holds a WAL sender (and a slot) while it
        # runs: room for a few at once.
        max_wal_senders: 10
        max_replication_slots: 10
        # WAL kept besides what the slots hold: a member whose slot is gone (it was away)
        # catches up from it without a new base backup.
        wal_keep_size: "256MB"
        # Passwords are stored as SCRAM verifiers: pg_hba accepts nothing else.
        password_encryption: "scram-sha-256"
  # UTF8, with the C.UTF-8 locale (built into Debian's C library: sorting by code point does
  # not change with a library update), and checksums, so a corrupted page is an error, not
  # wrong data (pg_rewind needs them too, or wal_log_hints).
  initdb:
    - encoding: "UTF8"
    - locale: "C.UTF-8"
    - "data-checksums"
  # Patroni uses postgresql.pg_hba above; this copy is there because Patroni 3.0.2's
  # --validate-config requires bootstrap.pg_hba.
  pg_hba: *pg_hba
  # Creates the app's role and database when APP_PASSWORD_FILE names its password's file; swarm-ha's
  # services leave that to its postgres-app-role step, so that no member reads the app's password.
  post_bootstrap: "/usr/local/bin/swarm-ha-post-bootstrap"
`;

const EXPECTED_PROXY = `# haproxy.cfg of the Postgres proxy, rendered by swarm-ha (components/postgres/pg-proxy-cfg.ts): change it there.
# Port 5432: the leader. Port 5433: replicas, or the leader while none is up. Each member's
# Patroni (port 8008) says what it is. No password is needed here.

global
    log stdout format raw local0
    # Docker may give the container a huge open-files limit, and HAProxy sizes its tables from it
    # (docker-library/haproxy#194). Cap it.
    fd-hard-limit 65536
    # The service stops HAProxy with SIGUSR1 (stop accepting, let the sessions finish). Postgres
    # sessions may last for hours: close them after 10s, inside the service's stop grace period.
    hard-stop-after 10s
    # Runtime API through 'docker exec' (show servers state).
    stats socket /tmp/haproxy-admin.sock mode 600 level admin
    stats timeout 1m
    user haproxy
    group haproxy

defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    # The members are on the same overlay network: a connection takes well under a millisecond,
    # and one that takes a second is going to an address with no task behind it.
    timeout connect 1s
    # A pooled Postgres connection may sit idle for long: keep it 30 minutes (HAProxy closes an
    # idle session after the timeout), with TCP keep-alives so nothing in between drops it sooner.
    timeout client 30m
    timeout server 30m
    option clitcpka
    option srvtcpka
    # A check with no answer within a second has failed (Patroni answers in milliseconds).
    timeout check 1s
    # Check every second (every 500ms while a change is being confirmed); 2 answers in a row
    # change a member's state. A member marked down has its sessions cut: clients reconnect
    # and land on the right one. Addresses come from DNS only (init-addr none: start with the
    # servers down rather than refuse to start while a member has no task), IPv4 first (the
    # default prefers IPv6; the overlay networks are IPv4).
    default-server inter 1s fastinter 500ms fall 2 rise 2 on-marked-down shutdown-sessions resolvers docker resolve-prefer ipv4 init-addr none

# Docker's embedded DNS. The defaults keep answers 10s and retry a name with no tasks after
# 30s; a task that stops leaves DNS (Swarm removes it 2s before it stops it) and a restarted
# task gets a new IP, so re-resolve every second and retry within 2s (not less: a name with
# no tasks is forwarded upstream, and a tighter loop floods it, haproxy/haproxy#2503).
# A name with no task keeps its last address for an hour rather than taking its server into
# maintenance: HAProxy takes a server leaving maintenance as UP before its first check, so a
# returning replica would get writers for a moment. The checks mark the old address DOWN.
resolvers docker
    nameserver dns 127.0.0.11:53
    # The default 512 bytes holds about 30 answers; Docker's DNS honours the size announced.
    accepted_payload_size 8192
    hold valid 1s
    hold obsolete 0s
    hold nx 3600s
    hold other 3600s
    hold refused 3600s
    hold timeout 3600s
    timeout resolve 1s
    timeout retry 1s

# Writers: the member whose Patroni answers 200 on /primary, that is the leader, and only it.
listen pg_rw
    bind :5432
    option httpchk GET /primary
    http-check expect status 200
    server worker-1 swarm-ha-pg-worker-1:5432 check port 8008
    server worker-2 swarm-ha-pg-worker-2:5432 check port 8008

# Readers: the replicas that stream from the leader and are at most 1048576 bytes behind, in turn
# (fewest sessions first).
listen pg_ro
    bind :5433
    balance leastconn
    option httpchk GET /replica?lag=1048576
    http-check expect status 200
    server worker-1 swarm-ha-pg-worker-1:5432 check port 8008
    server worker-2 swarm-ha-pg-worker-2:5432 check port 8008
    # While no replica is up, readers go to the leader: these servers follow pg_rw's checks of the
    # same members (up only on the leader), and serve only when every server above is down.
    server worker-1-leader swarm-ha-pg-worker-1:5432 backup track pg_rw/worker-1
    server worker-2-leader swarm-ha-pg-worker-2:5432 backup track pg_rw/worker-2

# /alive answers while HAProxy runs: the container's health check (a proxy without a leader to
# send to is not broken, and restarting it would not help). /healthz answers 503 while no
# member is the leader: for people and tests. Not logged: the health check asks every 2s.
frontend health
    mode http
    bind :8405
    monitor-uri /healthz
    monitor fail if { nbsrv(pg_rw) lt 1 }
    http-request set-log-level silent
    http-request return status 200 content-type text/plain string "alive" if { path /alive }
`;

describe("exact output", () => {
    test.each([
        ["patroni.yml (dev stack: the component's inputs, defaults for the rest)", () => renderPatroniConfig(patroniInput()), EXPECTED_PATRONI],
        ["the proxy's haproxy.cfg (dev stack)", () => renderPgProxyConfig(proxyInput()), EXPECTED_PROXY],
    ])("%s", (_name, render, expected) => {
        expect(render()).toBe(expected);
    });

    test("etcd: each member's environment, and Patroni's endpoints", () => {
        expect(renderEtcdEnv(etcdInput({ name: "manager-2" }))).toEqual({
            ETCD_NAME: "manager-2",
            ETCD_PEERS: "manager-1=swarm-ha-etcd-manager-1 manager-2=swarm-ha-etcd-manager-2 manager-3=swarm-ha-etcd-manager-3",
            ETCD_SELF_HOST: "swarm-ha-etcd-manager-2",
            ETCD_CLUSTER_TOKEN: "swarm-ha-dev",
        });
        // Patroni is given the members' shared alias, never a manager's name.
        expect(renderEtcd3Host(etcdClientHost("swarm-ha"))).toBe("swarm-ha-etcd:2379");
        expect(() => renderEtcd3Host("swarm ha", 0)).toThrow(
            "swarm-ha: etcd endpoint: cannot render:\n  host: must be a DNS name: letters, digits, '-' and dots, e.g. swarm-ha-etcd (got \"swarm ha\")\n  clientPort: must be an integer from 1 to 65535 (got 0)",
        );
    });

    test("etcd: moving a manager in the list changes no member's environment (no restart)", () => {
        const reordered = [MANAGERS[2], MANAGERS[0], MANAGERS[1]];
        for (const m of MANAGERS) {
            expect(renderEtcdEnv(etcdInput({ name: m.name, members: reordered }))).toEqual(renderEtcdEnv(etcdInput({ name: m.name })));
        }
    });

    test("patroni.yml reads back as the settings Patroni is meant to get (YAML, with pg_hba shared by its alias)", () => {
        const c = parseYaml(renderPatroniConfig(patroniInput({ synchronousMode: false, maximumLagOnFailover: 0 })));
        expect(c.bootstrap.pg_hba).toEqual(c.postgresql.pg_hba);
        expect(c.bootstrap.dcs).toEqual({
            ttl: 10,
            loop_wait: 2,
            retry_timeout: 4,
            maximum_lag_on_failover: 0,
            synchronous_mode: false,
            synchronous_mode_strict: false,
            postgresql: {
                use_pg_rewind: true,
                use_slots: true,
                parameters: {
                    wal_level: "replica",
                    hot_standby: "on",
                    max_wal_senders: 10,
                    max_replication_slots: 10,
                    wal_keep_size: "256MB",
                    password_encryption: "scram-sha-256",
                },
            },
        });
        // Nothing that differs per member, and nothing secret: those come from the entrypoint.
        expect(c.name).toBeUndefined();
        expect(c.etcd3).toBeUndefined();
        expect(c.postgresql.connect_address).toBeUndefined();
        expect(c.restapi.connect_address).toBeUndefined();
        expect(JSON.stringify(c)).not.toMatch(/password"\s*:/);
    });

    test("pgParameters: swarm-ha's settings may be changed (their reason goes), others are added by name", () => {
        const text = renderPatroniConfig(patroniInput({ pgParameters: { max_wal_senders: 20, shared_buffers: "256MB", jit: false, max_connections: 200 } }));
        expect(text).toContain(
            [
                `        # Replicas answer read-only queries (the proxy's read-only port); Patroni forces it on.`,
                `        hot_standby: "on"`,
                `        max_wal_senders: 20`,
                `        max_replication_slots: 10`,
            ].join("\n"),
        );
        expect(text).toContain(`        password_encryption: "scram-sha-256"\n        jit: "off"\n        max_connections: 200\n        shared_buffers: "256MB"\n  # UTF8`);
    });

    test("other timers are written with the arithmetic they imply", () => {
        const text = renderPatroniConfig(patroniInput({ ttl: 20, loopWait: 5, retryTimeout: 5 }));
        expect(text).toContain("    # expires 15-20 s after it died, then the replica takes over; writes are back within\n    # about 22 s.");
        expect(text).toContain("    ttl: 20\n    loop_wait: 5\n    retry_timeout: 5\n");
    });
});

// ---------------------------------------------------------------------------------------------
// Inputs the renderers refuse.

describe("wrong inputs are refused, naming the field", () => {
    test.each<[string, Partial<PatroniConfigInput>]>([
        ["scope", { scope: "swarm ha" }],
        ["scope", { scope: "swarm-ha/other" }],
        ["scope", { scope: "" }],
        ["synchronousMode", { synchronousMode: "yes" as unknown as boolean }],
        ["maximumLagOnFailover", { maximumLagOnFailover: -1 }],
        ["maximumLagOnFailover", { maximumLagOnFailover: 1.5 }],
        ["ttl", { ttl: 9 }], // 2 + 2 x 4 = 10
        ["ttl", { ttl: 0 }],
        ["loopWait", { loopWait: 0.5 }],
        ["retryTimeout", { retryTimeout: 3, ttl: 10 }], // an etcd election may take 3 s
        ["dataDir", { dataDir: "data/pg" }],
        ["dataDir", { dataDir: "/pg" }],
        ["dataDir", { dataDir: "/data/../etc" }],
        ["dataDir", { dataDir: "/data/my pg" }],
        ["postBootstrapScript", { postBootstrapScript: "swarm-ha-post-bootstrap; rm -rf /" }],
        ["pgParameters.port", { pgParameters: { port: 5433 } }],
        ["pgParameters.synchronous_standby_names", { pgParameters: { synchronous_standby_names: "*" } }],
        ["pgParameters.hot_standby", { pgParameters: { hot_standby: "off" } }],
        ["pgParameters.wal_level", { pgParameters: { wal_level: "minimal" } }],
        ["pgParameters.password_encryption", { pgParameters: { password_encryption: "md5" } }],
        ["pgParameters.work_mem", { pgParameters: { work_mem: "4MB\n  evil: true" } }],
        ["pgParameters.work_mem", { pgParameters: { work_mem: Infinity } }],
        ["pgParameters", { pgParameters: { "Work-Mem": "4MB" } }],
    ])("patroni.yml: %s %j", (field, over) => {
        expect(() => renderPatroniConfig(patroniInput(over))).toThrow(new RegExp(`^swarm-ha: patroni\\.yml: cannot render:\\n  (.*\\n  )*${escape(field)}: `));
    });

    test.each<[string, Partial<PgProxyConfigInput>]>([
        ["servers", { servers: [] }],
        ["servers[0].name", { servers: [{ name: "worker 1", host: "swarm-ha-pg-worker-1" }] }],
        ["servers[0].name", { servers: [{ name: "w1\n    server evil 10.0.0.1:5432", host: "swarm-ha-pg-worker-1" }] }],
        ["servers[1].name", { servers: [{ name: "a", host: "pg-a" }, { name: "a", host: "pg-b" }] }],
        ["servers[1].name", { servers: [{ name: "a", host: "pg-a" }, { name: "a-leader", host: "pg-b" }] }],
        ["servers[0].host", { servers: [{ name: "a", host: "pg-a:5432" }] }],
        ["servers[0].host", { servers: [{ name: "a", host: "" }] }],
        ["servers[0].port", { servers: [{ name: "a", host: "pg-a", port: 0 }] }],
        ["servers[0].patroniPort", { servers: [{ name: "a", host: "pg-a", patroniPort: 70000 }] }],
        ["readWritePort", { readWritePort: 0 }],
        ["readOnlyPort", { readOnlyPort: 5432 }],
        ["patroniPort", { patroniPort: 8008.5 }],
        ["maxReplicaLagBytes", { maxReplicaLagBytes: -1 }],
        ["healthPort", { healthPort: 5433 }],
    ])("the proxy's haproxy.cfg: %s %j", (field, over) => {
        expect(() => renderPgProxyConfig(proxyInput(over))).toThrow(new RegExp(`^swarm-ha: pg-proxy haproxy\\.cfg: cannot render:\\n  (.*\\n  )*${escape(field)}: `));
    });

    test.each<[string, Partial<EtcdEnvInput>]>([
        ["members", { members: [] }],
        ["members", { members: Array.from({ length: 8 }, (_, i) => ({ name: `m${i}`, host: `etcd-${i}` })) }],
        ["members[1].name", { members: [MANAGERS[0], { name: "manager-1", host: "other" }] }],
        ["members[1].host", { members: [MANAGERS[0], { name: "manager-2", host: MANAGERS[0].host }] }],
        ["members[0].name", { members: [{ name: "manager 1", host: "h" }] }],
        ["members[0].host", { members: [{ name: "manager-1", host: "h=x y" }] }],
        ["name", { name: "manager-4" }],
        ["clusterToken", { clusterToken: "a token" }],
    ])("etcd's environment: %s %j", (field, over) => {
        expect(() => renderEtcdEnv(etcdInput(over))).toThrow(new RegExp(`^swarm-ha: etcd environment: cannot render:\\n  (.*\\n  )*${escape(field)}: `));
    });

    test("every problem is listed at once", () => {
        expect(() => renderPatroniConfig(patroniInput({ ttl: 8, scope: "a b" }))).toThrow(
            "swarm-ha: patroni.yml: cannot render:\n" +
                "  scope: must be 1-63 letters, digits, '-' or '_', starting with a letter or digit (got \"a b\")\n" +
                "  ttl: must be at least loopWait + 2 x retryTimeout = 10 (Patroni's rule: the leader retries etcd twice before its key expires) (got 8)",
        );
        expect(() => renderPgProxyConfig(proxyInput({ readOnlyPort: 5432, maxReplicaLagBytes: 0.5 }))).toThrow(
            "swarm-ha: pg-proxy haproxy.cfg: cannot render:\n" +
                "  maxReplicaLagBytes: must be a whole number of bytes, 0 or more (got 0.5)\n" +
                "  readOnlyPort: 5432 is also readWritePort; each listener needs its own port",
        );
    });
});

// ---------------------------------------------------------------------------------------------
// The real checkers, and what the images are built from.

/** `haproxy -c` in zero-warning mode (-dW): prints "Configuration file is valid" and nothing else, or the reason. */
function haproxyCheck(file: string): string {
    const r = spawnSync("haproxy", ["-dW", "-c", "-f", file], { encoding: "utf8" });
    if (r.error) throw new Error(`haproxy is not installed (bash test/tools.sh installs it): ${r.error.message}`);
    return `exit ${r.status}\n${r.stdout}${r.stderr}`;
}

describe("the real checkers accept what swarm-ha renders and ships", () => {
    test("haproxy -c: the proxy's config, with two members and with one", () => {
        for (const [name, input] of [
            ["two", proxyInput()],
            ["one", proxyInput({ servers: [{ name: "worker-1", host: "swarm-ha-pg-worker-1" }] })],
        ] as const) {
            const file = write(`pg-proxy-${name}.cfg`, renderPgProxyConfig(input));
            expect(`${name}: ${haproxyCheck(file)}`).toBe(`${name}: exit 0\nConfiguration file is valid\n`);
        }
        // The check fails on a broken file, so a pass means something.
        const broken = write("pg-proxy-broken.cfg", renderPgProxyConfig(proxyInput()).replace("track pg_rw/worker-1", "track pg_rw/worker-9"));
        expect(haproxyCheck(broken)).toMatch(/^exit 1\n[\s\S]*\[ALERT\].*unable to find required server 'worker-9'/);
    });

    test("shellcheck --shell=sh: the entrypoints, the post-bootstrap script, etcd's check and its membership program; python3 compiles Patroni's check, the settings and handover programs", () => {
        const r = spawnSync("shellcheck", ["--shell=sh", ETCD_ENTRYPOINT, ETCD_CHECK, ETCD_MEMBERSHIP, PATRONI_ENTRYPOINT, POST_BOOTSTRAP], { encoding: "utf8" });
        if (r.error) throw new Error(`shellcheck is not installed (bash test/tools.sh installs it): ${r.error.message}`);
        expect(`exit ${r.status}\n${r.stdout}${r.stderr}`).toBe("exit 0\n");
        for (const program of [PATRONI_CHECK, PATRONI_SETTINGS, PATRONI_HANDOVER, POSTGRES_ROLES]) {
            const py = spawnSync("python3", ["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())", program], { encoding: "utf8" });
            expect(`exit ${py.status}\n${py.stderr}`).toBe("exit 0\n");
        }
    });

    test("the images: Debian bookworm's packages, each program the entrypoints and health check run", () => {
        const packages = (dockerfile: string) => {
            const text = fs.readFileSync(path.join(ROOT, dockerfile), "utf8");
            expect(text).toMatch(/^FROM debian:bookworm-slim$/m);
            return [...text.matchAll(/apt-get install -y --no-install-recommends ([a-z0-9 .+-]+)/g)].flatMap((m) => m[1].trim().split(/\s+/));
        };
        expect(packages("images/etcd/Dockerfile")).toEqual(["etcd-server", "etcd-client"]);
        expect(packages("images/postgres/Dockerfile")).toEqual(["postgresql-common", "postgresql-15", "patroni", "python3-etcd", "curl", "iproute2"]);
        // The image's paths are the ones the renderers and the component write.
        const pg = fs.readFileSync(path.join(ROOT, "images/postgres/Dockerfile"), "utf8");
        expect(pg).toContain(`COPY post-bootstrap.sh ${POST_BOOTSTRAP_SCRIPT}\n`);
        expect(pg).toContain("COPY entrypoint.sh /usr/local/bin/swarm-ha-patroni\n");
        expect(fs.readFileSync(path.join(ROOT, "images/etcd/Dockerfile"), "utf8")).toContain("COPY entrypoint.sh /usr/local/bin/swarm-ha-etcd\n");
        // The health step's checks, by the names the component runs them by.
        expect(pg).toContain("COPY check.py /usr/local/bin/swarm-ha-patroni-check\n");
        expect(fs.readFileSync(path.join(ROOT, "images/etcd/Dockerfile"), "utf8")).toContain("COPY check.sh /usr/local/bin/swarm-ha-etcd-check\n");
        const entrypoint = fs.readFileSync(PATRONI_ENTRYPOINT, "utf8");
        expect(entrypoint).toContain(`config=\${SWARM_HA_PATRONI_CONFIG:-${PATRONI_CONFIG_PATH}}\n`);
        expect(entrypoint).toContain(`run_dir=\${SWARM_HA_RUN_DIR:-${path.dirname(PGPASS_PATH)}}\n`);
        expect(entrypoint).toContain(`data_dir=\${PATRONI_POSTGRESQL_DATA_DIR:-${DEFAULT_DATA_DIR}}\n`);
        expect(entrypoint).toContain(`pg_listen=\${PATRONI_POSTGRESQL_LISTEN:-0.0.0.0:${POSTGRES_PORT}}\n`);
        expect(entrypoint).toContain(`api_listen=\${PATRONI_RESTAPI_LISTEN:-0.0.0.0:${PATRONI_API_PORT}}\n`);
    });

    test("Patroni 3.0.2's etcd3 module imports with Debian's packages, and its etcd client is python3-etcd's", () => {
        const r = spawnSync("/usr/bin/python3", ["-c", "import patroni.dcs.etcd3, etcd, dns; print(etcd.__file__); print(dns.__file__)"], { encoding: "utf8" });
        expect(`exit ${r.status} ${r.stderr}`).toBe("exit 0 ");
        const owners = r.stdout
            .trim()
            .split("\n")
            .map((file) => spawnSync("dpkg", ["-S", file], { encoding: "utf8" }).stdout.split(":")[0]);
        expect(owners).toEqual(["python3-etcd", "python3-dnspython"]);
        expect(spawnSync("patroni", ["--version"], { encoding: "utf8" }).stdout).toBe("patroni 3.0.2\n");
    });

    test("the launcher runs Patroni 3.0.2 with its etcd DNS cache cut from 600 s to 5 s: an etcd name whose answer is 6 s old is asked again", () => {
        // A swarm task's address changes when it restarts: with Patroni's own 600 s, every etcd
        // member restarting within ten minutes (a manager replaced) leaves Patroni no address
        // that answers (the lab's replaced-manager test lost the synchronous standby that way).
        const script = [
            "import importlib.machinery, time",
            `run = importlib.machinery.SourceFileLoader("patroni_run", ${JSON.stringify(PATRONI_RUN)}).load_module()`,
            "run.shorten_dns_cache()",
            "from patroni.dcs.etcd import DnsCachingResolver",
            "resolver = DnsCachingResolver()",
            "answers = iter([['10.0.9.1'], ['10.0.9.2']])",
            "resolver._do_resolve = lambda host, port: next(answers)",
            "first = resolver.resolve('swarm-ha-etcd-manager-1', 2379)",
            "resolver._cache[('swarm-ha-etcd-manager-1', 2379)] = (time.time() - 6, first)",
            "print(resolver._cache_time, resolver._cache_fail_time, first, resolver.resolve('swarm-ha-etcd-manager-1', 2379))",
        ].join("\n");
        const r = spawnSync("/usr/bin/python3", ["-c", script], { encoding: "utf8" });
        expect(`exit ${r.status} ${r.stderr}${r.stdout}`).toBe("exit 0 5.0 2.0 ['10.0.9.1'] ['10.0.9.2']\n");
        // And it is Patroni that runs (its own entry point, its own flags).
        expect(spawnSync(PATRONI_RUN, ["--version"], { encoding: "utf8" }).stdout).toBe("patroni 3.0.2\n");
    });
});

// ---------------------------------------------------------------------------------------------
// Processes: each one started is killed in afterAll.

interface Started {
    child: ChildProcess;
    log: string;
    /** A Postgres data directory whose postmaster (in a session of its own) goes with it. */
    dataDir?: string;
}
const started: Started[] = [];

/** Starts a long-running program in a process group of its own, its output to a log file. */
function startProgram(command: string, args: string[], env: NodeJS.ProcessEnv, logName: string, dataDir?: string): Started {
    const log = path.join(work, "logs", logName);
    fs.mkdirSync(path.dirname(log), { recursive: true });
    const fd = fs.openSync(log, "a");
    const child = spawn(command, args, { env, stdio: ["ignore", fd, fd], detached: true });
    fs.closeSync(fd);
    const s = { child, log, dataDir };
    started.push(s);
    return s;
}

/** The PID of the postmaster running on `dataDir`, if one is. */
function postmasterPid(dataDir: string): number | undefined {
    try {
        const pid = Number(fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
        return cmdline.includes(dataDir) ? pid : undefined;
    } catch {
        return undefined;
    }
}

function alive(s: Started): boolean {
    return s.child.exitCode === null && s.child.signalCode === null;
}

/** SIGKILLs a started program's process group and its postmaster; resolves once it has exited. */
async function kill(s: Started): Promise<void> {
    const exited = alive(s) ? new Promise((r) => s.child.once("exit", r)) : Promise.resolve();
    const pm = s.dataDir ? postmasterPid(s.dataDir) : undefined;
    for (const pid of [s.child.pid ? -s.child.pid : undefined, pm]) {
        try {
            if (pid) process.kill(pid, "SIGKILL");
        } catch {
            // already gone
        }
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    // The postmaster too: on a busy machine the pid file may have named no live postmaster a
    // moment ago (Patroni was starting it), so look again until none runs on the data directory.
    for (const deadline = Date.now() + 5000; s.dataDir && Date.now() < deadline; ) {
        const again = postmasterPid(s.dataDir);
        if (again === undefined) break;
        try {
            process.kill(again, "SIGKILL");
        } catch {
            // already gone
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

/**
 * SIGKILLs any process still running a program from the test's directory (a postmaster whose
 * pid file is gone, say): only this run's processes name that directory.
 */
function killLeftovers(): void {
    if (!work) return;
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
        try {
            if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`${work}/`)) process.kill(Number(pid), "SIGKILL");
        } catch {
            // gone, or not ours to read
        }
    }
}

afterAll(async () => {
    // Every program first (a postmaster is found through its data directory), then the files.
    await Promise.all(started.map(kill));
    killLeftovers();
    fs.rmSync(work, { recursive: true, force: true });
});

function tail(file: string, lines = 30): string {
    try {
        return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
        return "(no log)";
    }
}

/** Polls `probe` every 200 ms until it returns a value; throws with `what` (and the logs) after `ms`. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined, logs: Started[] = []): Promise<T> {
    const deadline = Date.now() + ms;
    let last: unknown;
    for (;;) {
        try {
            const v = await probe();
            if (v !== undefined) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) {
            const detail = logs.map((s) => `--- ${path.basename(s.log)}\n${tail(s.log)}`).join("\n");
            throw new Error(`${what}: not within ${ms / 1000}s${last ? ` (last error: ${(last as Error).message})` : ""}\n${detail}`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
}

interface Result {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Runs a command to its end without blocking the event loop (killed after `timeoutMs`). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 20_000, stdin?: string): Promise<Result> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { env, stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"], detached: true });
        if (stdin !== undefined) child.stdin!.end(stdin);
        const s: Started = { child, log: "" };
        started.push(s);
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (d) => (stdout += d));
        child.stderr!.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => void kill(s), timeoutMs);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            started.splice(started.indexOf(s), 1);
            resolve({ code, stdout, stderr });
        });
    });
}


function get(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { timeout: 2000, agent: false }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`${url}: no answer within 2s`)));
    });
}

// ---------------------------------------------------------------------------------------------
// The entrypoints' decisions, with stand-ins for the programs they start.

/** A directory of executable stand-ins, first in PATH. */
function fakeBin(name: string, scripts: Record<string, string>): string {
    const dir = path.join(work, name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const [file, body] of Object.entries(scripts)) write(path.join(name, file), `#!/bin/sh\n${body}\n`, 0o755);
    return dir;
}

function requireRoot(): void {
    if (!IS_ROOT) throw new Error("the entrypoints start as root and hand over to the etcd and postgres users: run this test as root (as npm test runs in CI)");
}

describe("swarm-ha-etcd (images/etcd/entrypoint.sh)", () => {
    let bin: string;
    let dns: string;
    const env = (over: NodeJS.ProcessEnv = {}, dataDir = fs.mkdtempSync(path.join(work, "etcd-data-"))): NodeJS.ProcessEnv => ({
        PATH: `${bin}:${process.env.PATH}`,
        FAKE_DNS: dns,
        ...renderEtcdEnv(etcdInput()),
        SWARM_HA_ETCD_DATA: dataDir,
        ...over,
    });

    beforeAll(() => {
        requireRoot();
        // etcd: prints who runs it, its arguments, and the ETCD_ variables it would read.
        // getent: resolves the names listed in $FAKE_DNS, as Docker's DNS does the running tasks'.
        bin = fakeBin("fake-etcd-bin", {
            etcd: `echo "user=$(id -un)"; for a in "$@"; do echo "arg=$a"; done; env | grep '^ETCD_' | sed 's/^/env=/' || true`,
            getent: `[ "$1" = ahostsv4 ] && grep -qxF "$2" "$FAKE_DNS" 2>/dev/null && echo "10.0.9.9 STREAM $2"`,
            // No other member answers: a new cluster (membership changes: test/etcd-membership.test.ts).
            etcdctl: `exit 1`,
        });
        dns = write("fake-dns", "");
    });

    const resolveAll = () => fs.writeFileSync(dns, MANAGERS.map((m) => m.host).join("\n") + "\n");

    test("the flags: names advertised, the cluster listed, the timers for a busy host; ETCD_ variables gone; run as etcd", async () => {
        resolveAll();
        const dataDir = path.join(work, "etcd-flags", "data");
        const r = await run(ETCD_ENTRYPOINT, [], env({}, dataDir));
        expect(r.code).toBe(0);
        expect(r.stdout.split("\n")).toEqual([
            "user=etcd",
            "arg=--name",
            "arg=manager-1",
            "arg=--data-dir",
            `arg=${dataDir}`,
            "arg=--listen-client-urls",
            `arg=http://0.0.0.0:${ETCD_CLIENT_PORT}`,
            "arg=--advertise-client-urls",
            `arg=http://swarm-ha-etcd-manager-1:${ETCD_CLIENT_PORT}`,
            "arg=--listen-peer-urls",
            `arg=http://0.0.0.0:${ETCD_PEER_PORT}`,
            "arg=--initial-advertise-peer-urls",
            `arg=http://swarm-ha-etcd-manager-1:${ETCD_PEER_PORT}`,
            "arg=--initial-cluster",
            "arg=manager-1=http://swarm-ha-etcd-manager-1:2380,manager-2=http://swarm-ha-etcd-manager-2:2380,manager-3=http://swarm-ha-etcd-manager-3:2380",
            "arg=--initial-cluster-token",
            "arg=swarm-ha-dev",
            "arg=--initial-cluster-state",
            "arg=new",
            "arg=--heartbeat-interval",
            `arg=${ETCD_HEARTBEAT_MS}`,
            "arg=--election-timeout",
            `arg=${ETCD_ELECTION_TIMEOUT_MS}`,
            "arg=--auto-compaction-mode",
            "arg=periodic",
            "arg=--auto-compaction-retention",
            "arg=1h",
            "arg=--logger",
            "arg=zap",
            "arg=--log-outputs",
            "arg=stderr",
            "",
        ]);
        // Its data directory is etcd's alone (etcd warns about any other mode).
        const st = fs.statSync(dataDir);
        expect([st.mode & 0o777, st.uid]).toEqual([0o700, Number(spawnSync("id", ["-u", "etcd"], { encoding: "utf8" }).stdout)]);
    });

    test("a new member waits until every peer's name resolves, then starts", async () => {
        fs.writeFileSync(dns, "swarm-ha-etcd-manager-1\n");
        const t0 = Date.now();
        const running = run(ETCD_ENTRYPOINT, [], env());
        await new Promise((r) => setTimeout(r, 1500));
        resolveAll();
        const r = await running;
        expect(r.code).toBe(0);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
        expect(r.stderr).toContain("swarm-ha-etcd: new cluster: waiting for the names of swarm-ha-etcd-manager-2 swarm-ha-etcd-manager-3 to resolve (0s of 60s)\n");
        expect(r.stderr).toMatch(/new cluster: every member's name resolves; starting manager-1\n$/);
        expect(r.stdout).toMatch(/^user=etcd\narg=--name\n/);
    });

    test("the wait is bounded: a peer that never resolves is an error naming it", async () => {
        fs.writeFileSync(dns, "swarm-ha-etcd-manager-1\nswarm-ha-etcd-manager-3\n");
        const r = await run(ETCD_ENTRYPOINT, [], env({ SWARM_HA_ETCD_RESOLVE_TIMEOUT: "1" }));
        expect(r.code).toBe(1);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(
            /swarm-ha-etcd: new cluster: after 1s, these members' names still do not resolve: swarm-ha-etcd-manager-2 \(is each one's service running, on this network\?\)\n$/,
        );
    });

    test("a member that holds data starts at once, whether its peers resolve or not (a majority needs it up)", async () => {
        fs.writeFileSync(dns, "");
        const dataDir = fs.mkdtempSync(path.join(work, "etcd-data-"));
        fs.mkdirSync(path.join(dataDir, "member"));
        const r = await run(ETCD_ENTRYPOINT, [], env({ SWARM_HA_ETCD_RESOLVE_TIMEOUT: "0" }, dataDir));
        expect(r.code).toBe(0);
        expect(r.stderr).toContain(`swarm-ha-etcd: ${dataDir} holds member data: starting manager-1 (peers need not resolve now)\n`);
    });

    test.each<[string, NodeJS.ProcessEnv, string]>([
        ["no name", { ETCD_NAME: "" }, "ETCD_NAME (this member's name) is not set"],
        ["a name not among the peers", { ETCD_NAME: "manager-4" }, `ETCD_NAME manager-4 is not in ETCD_PEERS (${renderEtcdEnv(etcdInput()).ETCD_PEERS})`],
        ["a pair without a host", { ETCD_PEERS: "manager-1=swarm-ha-etcd-manager-1 manager-2" }, "ETCD_PEERS: 'manager-2' is not name=host"],
        ["a host that is not its own", { ETCD_SELF_HOST: "etcd-x" }, "ETCD_PEERS gives manager-1 the host swarm-ha-etcd-manager-1, but ETCD_SELF_HOST is etcd-x"],
        ["a bad port", { SWARM_HA_ETCD_PEER_PORT: "23 80" }, "SWARM_HA_ETCD_PEER_PORT must be a port number (got '23 80')"],
    ])("refuses %s, saying why", async (_name, over, message) => {
        resolveAll();
        const r = await run(ETCD_ENTRYPOINT, [], env(over));
        expect(`${r.code} ${r.stderr}${r.stdout}`).toBe(`1 swarm-ha-etcd: ${message}\n`);
    });
});

describe("swarm-ha-patroni (images/postgres/entrypoint.sh)", () => {
    let bin: string;
    const passwords = { superuser: "su p'ss\"$x`\\", replication: "repl:pass", app: "app pass; drop role app" };
    let files: { superuser: string; replication: string; app: string };

    beforeAll(() => {
        requireRoot();
        // ip: a task's addresses as Docker gives them (loopback, the data overlay, docker_gwbridge).
        // swarm-ha-patroni-run (Patroni's launcher): prints who runs it, its arguments and the environment it would read.
        bin = fakeBin("fake-patroni-bin", {
            ip: [
                `[ "$*" = "-4 -o address show" ] || exit 1`,
                `echo '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever'`,
                `echo '52: eth0    inet 10.0.3.7/24 brd 10.0.3.255 scope global eth0\\       valid_lft forever preferred_lft forever'`,
                `echo '54: eth1    inet 172.18.0.5/16 brd 172.18.255.255 scope global eth1\\       valid_lft forever preferred_lft forever'`,
            ].join("\n"),
            "swarm-ha-patroni-run": [
                `echo "user=$(id -un)"`,
                `echo "args=$*"`,
                `env | grep -E '^(PATRONI_|APP_PASSWORD_FILE=|HOME=|SUPERUSER_|REPLICATION_|ETCD3_|CONNECT_)' | sort`,
                `[ -z "\${APP_PASSWORD_FILE:-}" ] || echo "app-password=$(stat -c '%U %a' "$APP_PASSWORD_FILE") $(cat "$APP_PASSWORD_FILE")"`,
            ].join("\n"),
        });
        // The secret files as Docker mounts them: root's, 0400, a trailing newline.
        files = {
            superuser: write("secrets/superuser", `${passwords.superuser}\n`, 0o400),
            replication: write("secrets/replication", passwords.replication, 0o400),
            app: write("secrets/app", `${passwords.app}\n\n`, 0o400),
        };
    });

    const env = (over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
        const dir = fs.mkdtempSync(path.join(work, "pg-entry-"));
        fs.chmodSync(dir, 0o755); // as /dev/shm lets postgres reach its run directory
        return {
            PATH: `${bin}:${process.env.PATH}`,
            PATRONI_NAME: "worker-1",
            PATRONI_SCOPE: "swarm-ha",
            ETCD3_HOST: "swarm-ha-etcd:2379",
            CONNECT_SUBNET: "10.0.3.0/24",
            SUPERUSER_PASSWORD_FILE: files.superuser,
            REPLICATION_PASSWORD_FILE: files.replication,
            APP_PASSWORD_FILE: files.app,
            SWARM_HA_PATRONI_CONFIG: write("patroni-dev.yml", renderPatroniConfig(patroniInput())),
            SWARM_HA_RUN_DIR: path.join(dir, "run"),
            PATRONI_POSTGRESQL_DATA_DIR: path.join(dir, "data", "pg"),
            ...over,
        };
    };

    test("Patroni gets the task's address in CONNECT_SUBNET, etcd, the passwords (without their newline) and the data directory, as postgres", async () => {
        const e = env();
        const r = await run(PATRONI_ENTRYPOINT, [], e);
        expect(`${r.code} ${r.stderr}`).toBe(
            "0 swarm-ha-patroni: worker-1 announces 10.0.3.7 (Postgres :5432, Patroni :8008), etcd at swarm-ha-etcd:2379\n",
        );
        const run_ = e.SWARM_HA_RUN_DIR!;
        expect(r.stdout.split("\n")).toEqual([
            "user=postgres",
            `args=${e.SWARM_HA_PATRONI_CONFIG}`,
            `APP_PASSWORD_FILE=${run_}/app-password`,
            "HOME=/var/lib/postgresql",
            "PATRONI_ETCD3_HOST=swarm-ha-etcd:2379",
            "PATRONI_NAME=worker-1",
            "PATRONI_POSTGRESQL_CONNECT_ADDRESS=10.0.3.7:5432",
            `PATRONI_POSTGRESQL_DATA_DIR=${e.PATRONI_POSTGRESQL_DATA_DIR}`,
            "PATRONI_POSTGRESQL_LISTEN=0.0.0.0:5432",
            `PATRONI_POSTGRESQL_PGPASS=${run_}/pgpass`,
            `PATRONI_REPLICATION_PASSWORD=${passwords.replication}`,
            "PATRONI_RESTAPI_CONNECT_ADDRESS=10.0.3.7:8008",
            "PATRONI_RESTAPI_LISTEN=0.0.0.0:8008",
            `PATRONI_REWIND_PASSWORD=${passwords.superuser}`,
            "PATRONI_SCOPE=swarm-ha",
            `PATRONI_SUPERUSER_PASSWORD=${passwords.superuser}`,
            `app-password=postgres 400 ${passwords.app}`,
            "",
        ]);
        // The data directory and its parent (the volume) are postgres's, private.
        const pgUid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout);
        for (const dir of [e.PATRONI_POSTGRESQL_DATA_DIR!, path.dirname(e.PATRONI_POSTGRESQL_DATA_DIR!), run_]) {
            const st = fs.statSync(dir);
            expect(`${dir} ${(st.mode & 0o777).toString(8)} ${st.uid}`).toBe(`${dir} 700 ${pgUid}`);
        }
    });

    test("without APP_PASSWORD_FILE (swarm-ha's members: the postgres-app-role step makes the app's role), Patroni starts with no app password anywhere", async () => {
        const e = env({ APP_PASSWORD_FILE: "" });
        const r = await run(PATRONI_ENTRYPOINT, [], e);
        expect(r.code).toBe(0);
        expect(r.stdout).not.toContain("APP_PASSWORD_FILE");
        expect(r.stdout).not.toContain("app-password");
        expect(fs.readdirSync(e.SWARM_HA_RUN_DIR!)).toEqual([]);
    });

    test("the ports announced follow Patroni's listen overrides; another subnet picks another address", async () => {
        const r = await run(PATRONI_ENTRYPOINT, [], env({ CONNECT_SUBNET: "172.18.0.0/16", PATRONI_POSTGRESQL_LISTEN: "127.0.0.1:15432", PATRONI_RESTAPI_LISTEN: "127.0.0.1:18008" }));
        expect(r.stdout).toContain("PATRONI_POSTGRESQL_CONNECT_ADDRESS=172.18.0.5:15432\n");
        expect(r.stdout).toContain("PATRONI_RESTAPI_CONNECT_ADDRESS=172.18.0.5:18008\n");
    });

    test.each<[string, NodeJS.ProcessEnv, string]>([
        ["no address in the subnet", { CONNECT_SUBNET: "10.0.4.0/24" }, "no address of this container is in CONNECT_SUBNET 10.0.4.0/24 (it has: 127.0.0.1/8 10.0.3.7/24 172.18.0.5/16); is the service on that network?"],
        ["an empty subnet (the network's IPAM not read back)", { CONNECT_SUBNET: "" }, "CONNECT_SUBNET (the data network's IPv4 CIDR, e.g. 10.0.3.0/24) is not set"],
        ["a subnet without a prefix", { CONNECT_SUBNET: "10.0.3.0" }, "CONNECT_SUBNET must be an IPv4 CIDR such as 10.0.3.0/24 (got '10.0.3.0')"],
        ["a prefix over 32", { CONNECT_SUBNET: "10.0.3.0/33" }, "CONNECT_SUBNET must be an IPv4 CIDR such as 10.0.3.0/24 (got '10.0.3.0/33')"],
        ["three octets", { CONNECT_SUBNET: "10.0.3/24" }, "CONNECT_SUBNET must be an IPv4 CIDR such as 10.0.3.0/24 (got '10.0.3/24')"],
        ["a leading zero", { CONNECT_SUBNET: "10.0.03.0/24" }, "CONNECT_SUBNET must be an IPv4 CIDR such as 10.0.3.0/24 (got '10.0.03.0/24')"],
        ["IPv6", { CONNECT_SUBNET: "fd00::/64" }, "CONNECT_SUBNET must be an IPv4 CIDR such as 10.0.3.0/24 (got 'fd00::/64')"],
        ["a missing secret file", { REPLICATION_PASSWORD_FILE: "/run/secrets/nothing-here" }, "REPLICATION_PASSWORD_FILE: cannot read /run/secrets/nothing-here"],
        ["no secret file named", { SUPERUSER_PASSWORD_FILE: "" }, "SUPERUSER_PASSWORD_FILE (the Docker secret file of a password) is not set"],
        ["an empty password", { SUPERUSER_PASSWORD_FILE: "/dev/null" }, "SUPERUSER_PASSWORD_FILE: /dev/null is empty"],
        ["no etcd", { ETCD3_HOST: "" }, "ETCD3_HOST (etcd's endpoint, host:port) is not set"],
        ["two etcd endpoints", { ETCD3_HOST: "a:2379,b:2379" }, "ETCD3_HOST must be host:port (got 'a:2379,b:2379')"],
        ["etcd without a port", { ETCD3_HOST: "swarm-ha-etcd" }, "ETCD3_HOST must be host:port (got 'swarm-ha-etcd')"],
        ["no config", { SWARM_HA_PATRONI_CONFIG: "/etc/swarm-ha/none.yml" }, "cannot read Patroni's configuration /etc/swarm-ha/none.yml"],
    ])("refuses to start with %s, saying why", async (_name, over, message) => {
        const r = await run(PATRONI_ENTRYPOINT, [], env(over));
        expect(`${r.code} ${r.stderr}${r.stdout}`).toBe(`1 swarm-ha-patroni: ${message}\n`);
    });

    test("a password file of two lines is refused, without printing it", async () => {
        const twoLines = write("secrets/two-lines", "line one\nline two\n", 0o400);
        const r = await run(PATRONI_ENTRYPOINT, [], env({ APP_PASSWORD_FILE: twoLines }));
        expect(`${r.code} ${r.stderr}${r.stdout}`).toBe(`1 swarm-ha-patroni: APP_PASSWORD_FILE: ${twoLines} holds more than one line; a password is one line\n`);
    });

    test("it must start as root (to read the secret files)", async () => {
        const r = await run("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", PATRONI_ENTRYPOINT], env());
        expect(`${r.code} ${r.stderr}`).toBe("1 swarm-ha-patroni: must start as root: it reads the root-only secret files, then runs Patroni as postgres\n");
    });
});

// ---------------------------------------------------------------------------------------------
// The real thing, on loopback: etcd x3 and Patroni x2 through the entrypoints, the proxy in front.

describe("patroni-handover.py against a stand-in Patroni: the cases a real cluster does not reach on cue", () => {
    test("the leader's only peer never streams: no switchover is asked, and after the wait it fails, saying the primary was not restarted and what to look at", async () => {
        const asked: string[] = [];
        const server = http.createServer((req, res) => {
            asked.push(`${req.method} ${req.url}`);
            res.writeHead(200, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ members: [{ name: "worker-1", role: "leader", state: "running" }, { name: "worker-2", role: "replica", state: "starting" }] }));
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        try {
            const port = (server.address() as { port: number }).port;
            const r = await run("python3", [PATRONI_HANDOVER, "worker-1", "2", "worker-1", "worker-2"], { PATH: process.env.PATH, SWARM_HA_PATRONI_URL: `http://127.0.0.1:${port}` });
            expect(`${r.code} ${r.stdout}${r.stderr}`).toBe(
                "1 patroni-handover: worker-1 leads and could not hand over to another member within 2 s (no other member streams yet: worker-1 leader running, worker-2 replica starting; " +
                    "cluster: worker-1 leader running, worker-2 replica starting). Its restart would stop writes, so the update stops here and worker-1 keeps running as it was: " +
                    "see that a replica streams (patronictl list in a member), then run the update again.\n",
            );
            expect(asked.filter((a) => !a.startsWith("GET /cluster"))).toEqual([]);
        } finally {
            server.close();
        }
    });

    test("the member's Patroni does not answer: the proxy sends it no writer, so the restart goes ahead", async () => {
        const [closed] = await freePorts(1);
        const r = await run("python3", [PATRONI_HANDOVER, "worker-1", "1", "worker-1", "worker-2"], { PATH: process.env.PATH, SWARM_HA_PATRONI_URL: `http://127.0.0.1:${closed}` });
        expect(`${r.code} ${r.stdout}${r.stderr}`).toBe(`0 patroni-handover: worker-1's Patroni does not answer at http://127.0.0.1:${closed}: the proxy sends it no writer; its restart moves no leader\n`);
    });
});

describe("a real cluster: etcd, Patroni and Postgres through the entrypoints, HAProxy in front", () => {
    // Three loopback addresses of their own for etcd (one port pair on each, as on three managers).
    const net3 = `127.${1 + crypto.randomInt(250)}.${1 + crypto.randomInt(250)}`;
    const etcdHosts = [1, 2, 3].map((i) => `${net3}.${i}`);
    const secret = crypto.randomBytes(6).toString("hex");
    const passwords = { superuser: `super-${secret}'"x`, replication: `repl-${secret}:\\`, app: `app-${secret} 'quoted' $HOME` };
    const scope = "swarm-ha-test";
    const members = ["worker-1", "worker-2"] as const;
    type Member = (typeof members)[number];
    let etcdPorts: { client: number; peer: number };
    let etcd3Host: string;
    let ports: Record<Member, { pg: number; api: number }>;
    let proxyPorts: { rw: number; ro: number; health: number };
    let configFile: string;
    let socketDir: string;
    let secrets: Record<keyof typeof passwords, string>;
    const etcd: Started[] = [];
    const patroni: Partial<Record<Member, Started>> = {};
    let proxy: Started;

    // The image's launcher, swarm-ha-patroni-run, on PATH as the Dockerfile installs it.
    let launcherBin: string;
    const pgEnv = (m: Member): NodeJS.ProcessEnv => ({
        PATH: `${launcherBin}:${process.env.PATH}`,
        PATRONI_NAME: m,
        PATRONI_SCOPE: scope,
        ETCD3_HOST: etcd3Host,
        CONNECT_SUBNET: "127.0.0.0/8",
        SUPERUSER_PASSWORD_FILE: secrets.superuser,
        REPLICATION_PASSWORD_FILE: secrets.replication,
        // As swarm-ha's members: no app password (the postgres-app-role step makes the role).
        SWARM_HA_PATRONI_CONFIG: configFile,
        SWARM_HA_RUN_DIR: path.join(work, m, "run"),
        PATRONI_POSTGRESQL_DATA_DIR: dataDir(m),
        PATRONI_POSTGRESQL_LISTEN: `127.0.0.1:${ports[m].pg}`,
        PATRONI_RESTAPI_LISTEN: `127.0.0.1:${ports[m].api}`,
    });
    const dataDir = (m: Member) => path.join(work, m, "data", "pg");
    const startMember = (m: Member, logName: string = m) => {
        patroni[m] = startProgram(PATRONI_ENTRYPOINT, [], pgEnv(m), `${logName}.log`, dataDir(m));
        return patroni[m]!;
    };
    const logs = () => [...etcd, ...(Object.values(patroni) as Started[]), ...(proxy ? [proxy] : [])];

    /** SQL through psql over TCP; undefined when it fails (the error in `.error`). */
    async function sql(port: number, text: string, as: { user?: string; password?: string; db?: string } = {}): Promise<Result & { out?: string }> {
        const conn = `host=127.0.0.1 port=${port} user=${as.user ?? "postgres"} dbname=${as.db ?? "postgres"} connect_timeout=2`;
        const r = await run("psql", ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", conn, "-c", text], {
            PATH: process.env.PATH,
            PGPASSWORD: as.password ?? passwords.superuser,
        });
        return { ...r, out: r.code === 0 ? r.stdout.trim() : undefined };
    }
    async function cluster(m: Member): Promise<Record<string, { role: string; state: string }>> {
        const r = await get(`http://127.0.0.1:${ports[m].api}/cluster`);
        const body = JSON.parse(r.body) as { members: { name: string; role: string; state: string }[] };
        return Object.fromEntries(body.members.map((x) => [x.name, { role: x.role, state: x.state }]));
    }
    /** The health step's check (images/postgres/check.py), as in `m`'s container: "exit output". */
    const patroniCheck = async (m: Member) => {
        const r = await run("python3", [PATRONI_CHECK, ...members], { PATH: process.env.PATH, SWARM_HA_PATRONI_URL: `http://127.0.0.1:${ports[m].api}` });
        return `${r.code} ${r.stdout}${r.stderr}`;
    };
    const streamingSyncStandby = async (leader: Member, standby: Member) => {
        const c = await cluster(leader);
        return c[leader]?.role === "leader" && c[standby]?.role === "sync_standby" && ["running", "streaming"].includes(c[standby].state) ? c : undefined;
    };

    beforeAll(async () => {
        requireRoot();
        launcherBin = fs.mkdtempSync(path.join(work, "patroni-run-bin-"));
        fs.chmodSync(launcherBin, 0o755);
        fs.symlinkSync(PATRONI_RUN, path.join(launcherBin, "swarm-ha-patroni-run"));
        const [client, peer] = await freePorts(2, etcdHosts);
        etcdPorts = { client, peer };
        const [pg1, api1, pg2, api2, rw, ro, health] = await freePorts(7);
        ports = { "worker-1": { pg: pg1, api: api1 }, "worker-2": { pg: pg2, api: api2 } };
        proxyPorts = { rw, ro, health };
        const etcdMembers = etcdHosts.map((host, i) => ({ name: `manager-${i + 1}`, host }));
        // One member's address (the one name Patroni gets; on Swarm the members' shared alias,
        // which resolves to each of them): Patroni finds the rest through etcd's member list.
        etcd3Host = renderEtcd3Host(etcdHosts[0], client);
        secrets = {
            superuser: write("live-secrets/superuser", `${passwords.superuser}\n`, 0o400),
            replication: write("live-secrets/replication", `${passwords.replication}\n`, 0o400),
            app: write("live-secrets/app", `${passwords.app}\n`, 0o400),
        };
        // The test's only changes to production's config: the post-bootstrap script from the
        // repository, and Postgres' sockets in the test's directory (two members on one host).
        socketDir = path.join(work, "sockets");
        fs.mkdirSync(socketDir, { mode: 0o777 });
        fs.chmodSync(socketDir, 0o777);
        configFile = write(
            "live/patroni.yml",
            renderPatroniConfig({ scope, synchronousMode: true, maximumLagOnFailover: 1048576, postBootstrapScript: POST_BOOTSTRAP, pgParameters: { unix_socket_directories: socketDir } }),
        );

        for (const m of etcdMembers) {
            const env = {
                PATH: process.env.PATH,
                ...renderEtcdEnv({ name: m.name, members: etcdMembers, clusterToken: `${scope}-${secret}` }),
                SWARM_HA_ETCD_DATA: path.join(work, m.name),
                SWARM_HA_ETCD_LISTEN_HOST: m.host,
                SWARM_HA_ETCD_CLIENT_PORT: String(client),
                SWARM_HA_ETCD_PEER_PORT: String(peer),
            };
            etcd.push(startProgram(ETCD_ENTRYPOINT, [], env, `etcd-${m.name}.log`));
        }
        const endpoints = etcdHosts.map((h) => `${h}:${client}`).join(",");
        await until("etcd healthy on all three members", 20_000, async () => {
            const r = await run("etcdctl", ["--endpoints", endpoints, "--command-timeout=2s", "endpoint", "health"]);
            return r.code === 0 ? true : undefined;
        }, etcd);

        // The primary's node first (the component makes the replica's service depend on it).
        startMember("worker-1");
        await until("worker-1 leads", 30_000, async () => ((await get(`http://127.0.0.1:${ports["worker-1"].api}/primary`)).status === 200 ? true : undefined), logs());
        startMember("worker-2");
        await until("worker-2 streams as the synchronous standby", 30_000, () => streamingSyncStandby("worker-1", "worker-2"), logs());
        // The postgres-app-role step, as it runs once the members are up: the app's role and database made.
        const appRole = await run("/usr/bin/python3", [POSTGRES_ROLES, "app-role", "10"], { PATH: process.env.PATH, SWARM_HA_PATRONI_URL: `http://127.0.0.1:${ports["worker-1"].api}`, SWARM_HA_SUPERUSER_PASSWORD_FILE: secrets.superuser }, 20_000, JSON.stringify({ app: passwords.app }));
        expect(`${appRole.code} ${appRole.stdout}${appRole.stderr}`).toBe(
            "0 postgres-roles: app created (it owns the app's database; the app logs in as app_a or app_b, acting as it)\n" +
                "postgres-roles: app_a created\npostgres-roles: database app created, owned by app\napp_login=app_a\n",
        );

        const proxyText = renderPgProxyConfig({
            servers: members.map((m) => ({ name: m, host: "127.0.0.1", port: ports[m].pg, patroniPort: ports[m].api })),
            readWritePort: rw,
            readOnlyPort: ro,
            patroniPort: PATRONI_API_PORT,
            maxReplicaLagBytes: 1048576,
            healthPort: health,
        });
        expect(proxyText).toContain(PG_PROXY_ADMIN_SOCKET);
        const proxyFile = write("live/pg-proxy.cfg", proxyText.replace(PG_PROXY_ADMIN_SOCKET, path.join(work, "live", "admin.sock")));
        proxy = startProgram("haproxy", ["-db", "-f", proxyFile], process.env, "haproxy.log");
        await until("the proxy sends writers to worker-1", 10_000, async () => ((await sql(rw, "SELECT pg_is_in_recovery()")).out === "f" ? true : undefined), logs());
    }, 90_000);

    test("etcd: three members from the entrypoint form one cluster, each advertising its host", async () => {
        const r = await run("etcdctl", ["--endpoints", `${etcdHosts[0]}:${etcdPorts.client}`, "member", "list", "-w", "json"]);
        const list = JSON.parse(r.stdout) as { members: { name: string; peerURLs: string[]; clientURLs: string[] }[] };
        expect(list.members.map((m) => `${m.name} ${m.peerURLs} ${m.clientURLs}`).sort()).toEqual(
            etcdHosts.map((h, i) => `manager-${i + 1} http://${h}:${etcdPorts.peer} http://${h}:${etcdPorts.client}`),
        );
    });

    test("patroni --validate-config accepts the rendered file with the environment the entrypoint sets", async () => {
        const [pg, api] = await freePorts(2);
        const validate = (file: string) =>
            run("patroni", ["--validate-config", file], {
                PATH: process.env.PATH,
                PATRONI_NAME: "worker-1",
                PATRONI_SCOPE: scope,
                PATRONI_ETCD3_HOST: etcd3Host,
                // The validator refuses loopback connect addresses: a task's, as the entrypoint finds it.
                PATRONI_POSTGRESQL_CONNECT_ADDRESS: `10.0.3.7:${POSTGRES_PORT}`,
                PATRONI_RESTAPI_CONNECT_ADDRESS: `10.0.3.7:${PATRONI_API_PORT}`,
                PATRONI_SUPERUSER_PASSWORD: "x",
                PATRONI_REWIND_PASSWORD: "x",
                PATRONI_REPLICATION_PASSWORD: "y",
                PATRONI_POSTGRESQL_DATA_DIR: path.join(work, "validate", "pg"),
                // It also checks that the ports are free here: ones that are.
                PATRONI_POSTGRESQL_LISTEN: `0.0.0.0:${pg}`,
                PATRONI_RESTAPI_LISTEN: `0.0.0.0:${api}`,
            });
        const text = renderPatroniConfig(patroniInput());
        const r = await validate(write("validate/patroni.yml", text));
        expect(`exit ${r.code} ${r.stdout}${r.stderr}`).toBe("exit 0 ");
        // It fails on a broken file, so a pass means something.
        const broken = await validate(write("validate/broken.yml", text.replace('    superuser:\n      username: "postgres"\n', "").replace(`  bin_dir: "${POSTGRES_BIN_DIR}"\n`, '  bin_dir: "/usr/lib/postgresql/9/bin"\n')));
        expect(`exit ${broken.code} ${broken.stderr}`).toMatch(/^exit 1 [\s\S]*postgresql\.authentication\.superuser\.username +is not defined\.[\s\S]*postgresql\.bin_dir .*Directory '\/usr\/lib\/postgresql\/9\/bin' does not exist\./);
    });

    test("a leader, and the other member its synchronous standby", async () => {
        expect(await cluster("worker-2")).toEqual({ "worker-1": { role: "leader", state: "running" }, "worker-2": { role: "sync_standby", state: expect.stringMatching(/^(running|streaming)$/) } });
        expect((await get(`http://127.0.0.1:${ports["worker-2"].api}/liveness`)).status).toBe(200);
        expect((await get(`http://127.0.0.1:${ports["worker-2"].api}/replica?lag=1048576`)).status).toBe(200);
        // The health step's check agrees, asked on either member.
        for (const m of members) expect(await patroniCheck(m)).toBe("0 patroni: worker-1 leads; worker-1, worker-2 running\n");
    });

    test("the postgres-settings step's program changes synchronous mode and the lag limit on the running cluster, restarting no member", async () => {
        const startTimes = async () => Promise.all(members.map(async (m) => (await sql(ports[m].pg, "SELECT pg_postmaster_start_time()")).out));
        const before = await startTimes();
        expect(before.every(Boolean)).toBe(true);
        // Asked on the replica, as on any member: Patroni keeps the settings in etcd for all.
        const apply = (settings: object, api = ports["worker-2"].api) =>
            run("python3", [PATRONI_SETTINGS, JSON.stringify(settings), "2"], { PATH: process.env.PATH, SWARM_HA_PATRONI_URL: `http://127.0.0.1:${api}` });
        const config = async () => JSON.parse((await get(`http://127.0.0.1:${ports["worker-1"].api}/config`)).body) as Record<string, unknown>;

        const off = await apply({ synchronous_mode: false, maximum_lag_on_failover: 2097152 });
        expect(`${off.code} ${off.stdout}${off.stderr}`).toBe("0 patroni-settings: maximum_lag_on_failover 1048576 -> 2097152\npatroni-settings: synchronous_mode true -> false\n");
        expect(await config()).toMatchObject({ synchronous_mode: false, maximum_lag_on_failover: 2097152 });
        await until("worker-2 is an asynchronous replica", 20_000, async () => ((await cluster("worker-1"))["worker-2"]?.role === "replica" ? true : undefined), logs());
        const again = await apply({ synchronous_mode: false, maximum_lag_on_failover: 2097152 });
        expect(`${again.code} ${again.stdout}`).toBe('0 patroni-settings: unchanged (maximum_lag_on_failover=2097152, synchronous_mode=false)\n');

        // Back to the rendered values (the tests after this one count on a synchronous standby).
        const on = await apply({ synchronous_mode: true, maximum_lag_on_failover: 1048576 });
        expect(on.code).toBe(0);
        await until("worker-2 streams as the synchronous standby again", 20_000, () => streamingSyncStandby("worker-1", "worker-2"), logs());
        expect(await startTimes()).toEqual(before);

        // No Patroni to ask: an error that says where it asked, within the wait.
        const [closed] = await freePorts(1);
        const none = await apply({ synchronous_mode: true }, closed);
        expect(none.code).toBe(1);
        expect(none.stderr).toBe(`patroni-settings: Patroni's configuration could not be read at http://127.0.0.1:${closed}/config within 2 s (is the cluster up?)\n`);
    }, 60_000);

    test("Postgres runs with the rendered settings", async () => {
        const show = async (m: Member, setting: string) => (await sql(ports[m].pg, `SHOW ${setting}`)).out;
        const settings = ["wal_level", "hot_standby", "max_wal_senders", "max_replication_slots", "wal_keep_size", "password_encryption", "data_checksums", "server_encoding", "lc_collate", "cluster_name"];
        for (const m of members) {
            expect(Object.fromEntries(await Promise.all(settings.map(async (s) => [s, await show(m, s)])))).toEqual({
                wal_level: "replica",
                hot_standby: "on",
                max_wal_senders: "10",
                max_replication_slots: "10",
                wal_keep_size: "256MB",
                password_encryption: "scram-sha-256",
                data_checksums: "on",
                server_encoding: "UTF8",
                lc_collate: "C.UTF-8",
                cluster_name: scope,
            });
        }
        expect(await show("worker-1", "synchronous_standby_names")).toBe('"worker-2"');
        expect((await sql(ports["worker-1"].pg, "SELECT slot_name, active FROM pg_replication_slots")).out).toBe("worker_2|t");
        expect((await sql(ports["worker-1"].pg, "SELECT count(*) FROM pg_authid WHERE rolpassword LIKE 'SCRAM-SHA-256$%' AND rolname IN ('postgres', 'replicator', 'app_a')")).out).toBe("3");
    });

    test("the app's login (made by the postgres-app-role step) logs in with its password (through the proxy) and acts as app, which owns database app and what the app makes; nothing else logs in", async () => {
        const app = { user: "app_a", password: passwords.app, db: "app" };
        const who = "SELECT session_user || ' ' || current_user || ' ' || current_database() || ' ' || (SELECT datdba::regrole FROM pg_database WHERE datname = 'app')";
        expect((await sql(proxyPorts.rw, who, app)).out).toBe("app_a app app app");
        expect((await sql(proxyPorts.rw, "CREATE TABLE app_owned (id int); SELECT tableowner FROM pg_tables WHERE tablename = 'app_owned'", app)).out).toBe("app");
        const wrong = await sql(proxyPorts.rw, "SELECT 1", { ...app, password: "wrong" });
        expect(wrong.stderr).toContain('password authentication failed for user "app_a"');
        // The owner itself does not log in, whatever the password.
        expect((await sql(proxyPorts.rw, "SELECT 1", { ...app, user: "app" })).stderr).toMatch(/password authentication failed for user "app"|role "app" is not permitted to log in/);
        const superWrong = await sql(ports["worker-1"].pg, "SELECT 1", { password: passwords.app });
        expect(superWrong.stderr).toContain('password authentication failed for user "postgres"');
    });

    test("the postgres-passwords and postgres-app-role steps' program, asked on the replica: new passwords for every role on the running cluster; the old ones stop working, the new ones log in, the standby keeps streaming; again: unchanged", async () => {
        // As in a member's container: Debian's python3 (Patroni's psycopg2), the superuser password
        // the container was started with in a file.
        const roles = (mode: string, wanted: object, superuserFile: string, api = ports["worker-2"].api) =>
            run("/usr/bin/python3", [POSTGRES_ROLES, mode, "3"], { PATH: process.env.PATH, SWARM_HA_PATRONI_URL: `http://127.0.0.1:${api}`, SWARM_HA_SUPERUSER_PASSWORD_FILE: superuserFile }, 20_000, JSON.stringify(wanted));
        const said = (r: Result) => `${r.code} ${r.stdout}${r.stderr}`;
        const replicationLogin = (password: string) =>
            run("psql", ["-X", "-At", `host=127.0.0.1 port=${ports["worker-1"].pg} user=replicator dbname=replication replication=true connect_timeout=2`, "-c", "IDENTIFY_SYSTEM"], { PATH: process.env.PATH, PGPASSWORD: password });
        const logins = async (p: typeof passwords, appUser: string) => [
            (await sql(ports["worker-1"].pg, "SELECT 'superuser'", { password: p.superuser })).out ?? "superuser refused",
            (await sql(proxyPorts.rw, "SELECT 'app'", { user: appUser, password: p.app, db: "app" })).out ?? "app refused",
            (await replicationLogin(p.replication)).code === 0 ? "replicator" : "replicator refused",
        ];
        const rotated = { superuser: `${passwords.superuser}-2`, replication: `${passwords.replication}-2`, app: `${passwords.app}-2` };
        const rotatedSuperuserFile = write("live-secrets/superuser-2", `${rotated.superuser}\n`, 0o400);

        // The members' roles first (the containers still hold the old superuser password), then
        // the app's (its member restarted with the new file by then).
        expect(said(await roles("cluster-roles", { postgres: rotated.superuser, replicator: rotated.replication }, secrets.superuser))).toBe(
            "0 postgres-roles: postgres password changed\npostgres-roles: replicator password changed\n",
        );
        // The app's new password goes to its other login: the running app's (app_a) still works.
        expect(said(await roles("app-role", { app: rotated.app }, rotatedSuperuserFile))).toBe("0 postgres-roles: app_b created\napp_login=app_b\n");
        expect(await logins(rotated, "app_b")).toEqual(["superuser", "app", "replicator"]);
        expect(await logins(passwords, "app_a")).toEqual(["superuser refused", "app", "replicator refused"]);
        // Once the app has rolled to app_b: app_a may no longer log in, and its sessions end.
        const held = run("psql", ["-X", "-At", `host=127.0.0.1 port=${proxyPorts.rw} user=app_a dbname=app connect_timeout=2`, "-c", "SELECT pg_sleep(30)"], { PATH: process.env.PATH, PGPASSWORD: passwords.app }, 40_000);
        await until("app_a's session to be open", 10_000, async () => ((await sql(ports["worker-1"].pg, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app_a'", { password: rotated.superuser })).out === "1" ? true : undefined));
        expect(said(await roles("app-logins", { keep: "app_b" }, rotatedSuperuserFile))).toBe("0 postgres-roles: app_a may no longer log in (1 session(s) closed)\n");
        expect((await held).code).not.toBe(0);
        expect(await logins(passwords, "app_a")).toEqual(["superuser refused", "app refused", "replicator refused"]);
        expect(await logins(rotated, "app_b")).toEqual(["superuser", "app", "replicator"]);
        expect(said(await roles("app-logins", { keep: "app_b" }, rotatedSuperuserFile))).toBe("0 postgres-roles: app_b is the only app login\n");
        // The sessions open before (the standby's stream) go on.
        expect(await streamingSyncStandby("worker-1", "worker-2")).toBeDefined();
        // Again, as a re-run of the step: nothing to do, even with the old superuser file.
        expect(said(await roles("cluster-roles", { postgres: rotated.superuser, replicator: rotated.replication }, secrets.superuser))).toBe(
            "0 postgres-roles: postgres unchanged\npostgres-roles: replicator unchanged\n",
        );
        expect(said(await roles("app-role", { app: rotated.app }, rotatedSuperuserFile))).toBe("0 postgres-roles: app_b unchanged\napp_login=app_b\n");
        // Postgres stored verifiers, never a password.
        expect((await sql(ports["worker-1"].pg, "SELECT count(*) FROM pg_authid WHERE rolpassword LIKE 'SCRAM-SHA-256$4096:%' AND rolname IN ('postgres', 'replicator', 'app_a', 'app_b')", { password: rotated.superuser })).out).toBe("4");

        // Refused, naming what to fix and no password: roles of the other mode, a password
        // Postgres would read differently, no Patroni to ask.
        const wrongRoles = await roles("cluster-roles", { app: rotated.app }, rotatedSuperuserFile);
        expect(said(wrongRoles)).toBe("1 postgres-roles: cluster-roles sets exactly the roles postgres, replicator; stdin names app\n");
        expect(said(await roles("app-logins", { keep: "postgres" }, rotatedSuperuserFile))).toBe("1 postgres-roles: app-logins keeps one of app, app_a, app_b; stdin names 'postgres'\n");
        // Keeping a login that may not log in would lock the app out.
        expect(said(await roles("app-logins", { keep: "app_a" }, rotatedSuperuserFile))).toBe("1 postgres-roles: app_a may not log in: the app would be refused; run the postgres-app-role step first\n");
        const accented = await roles("app-role", { app: "pässwörd" }, rotatedSuperuserFile);
        expect(said(accented)).toBe("1 postgres-roles: the password of role app must be printable ASCII (letters, digits, punctuation, spaces): Postgres would read other characters differently\n");
        const [closed] = await freePorts(1);
        expect(said(await roles("app-role", { app: rotated.app }, rotatedSuperuserFile, closed))).toBe(`1 postgres-roles: Patroni did not answer at http://127.0.0.1:${closed}/cluster within 3 s (is the cluster up?)\n`);
        expect(said(await roles("cluster-roles", { postgres: "x", replicator: "y" }, rotatedSuperuserFile, closed))).toBe(
            `0 postgres-roles: no cluster yet (no Patroni at http://127.0.0.1:${closed}): its members create postgres, replicator with these passwords\n`,
        );

        // Back to the passwords the members were started with (the tests after this one use them):
        // the app's goes to app_a again, which may log in again.
        expect((await roles("cluster-roles", { postgres: passwords.superuser, replicator: passwords.replication }, rotatedSuperuserFile)).code).toBe(0);
        expect(said(await roles("app-role", { app: passwords.app }, secrets.superuser))).toBe("0 postgres-roles: app_a password changed\napp_login=app_a\n");
        expect(said(await roles("app-logins", { keep: "app_a" }, secrets.superuser))).toBe("0 postgres-roles: app_b may no longer log in (0 session(s) closed)\n");
        expect(await logins(passwords, "app_a")).toEqual(["superuser", "app", "replicator"]);

        // A stack from before the two logins: `app` logs in itself. Its password unchanged, it
        // stays the app's login; at its first rotation the app moves to app_b, then `app` is retired.
        const superuserSql = (q: string) => sql(ports["worker-1"].pg, q, { password: passwords.superuser });
        expect((await superuserSql(`ALTER ROLE app LOGIN PASSWORD $q$${passwords.app}$q$; ALTER ROLE app_a NOLOGIN`)).code).toBe(0);
        expect(said(await roles("app-role", { app: passwords.app }, secrets.superuser))).toBe("0 postgres-roles: app unchanged\napp_login=app\n");
        expect(said(await roles("app-logins", { keep: "app" }, secrets.superuser))).toBe("0 postgres-roles: app is the only app login\n");
        expect(said(await roles("app-role", { app: rotated.app }, secrets.superuser))).toBe("0 postgres-roles: app_a password changed\napp_login=app_a\n");
        expect(await logins(passwords, "app")).toEqual(["superuser", "app", "replicator"]);
        expect(said(await roles("app-logins", { keep: "app_a" }, secrets.superuser))).toBe("0 postgres-roles: app may no longer log in (0 session(s) closed)\n");
        expect(await logins(passwords, "app")).toEqual(["superuser", "app refused", "replicator"]);
        // Back to the app's first password (on app_b now), for the tests after this one.
        expect(said(await roles("app-role", { app: passwords.app }, secrets.superuser))).toBe("0 postgres-roles: app_b password changed\napp_login=app_b\n");
        expect(said(await roles("app-logins", { keep: "app_b" }, secrets.superuser))).toBe("0 postgres-roles: app_a may no longer log in (0 session(s) closed)\n");
    }, 90_000);

    test("the passwords are on no command line, not in Postgres' environment nor the config; their files are postgres's alone, in memory", async () => {
        const all = Object.values(passwords);
        const leaks: string[] = [];
        for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
            let cmdline = "";
            try {
                cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
            } catch {
                continue; // gone
            }
            if (all.some((p) => cmdline.includes(p))) leaks.push(`${pid}: ${cmdline.replace(/\0/g, " ")}`);
        }
        expect(leaks).toEqual([]);
        const pm = postmasterPid(dataDir("worker-1"))!;
        const environ = fs.readFileSync(`/proc/${pm}/environ`, "utf8");
        expect(all.filter((p) => environ.includes(p))).toEqual([]);
        expect(environ.split("\0").filter((v) => v.startsWith("PATRONI_"))).toEqual([]);
        expect(all.filter((p) => fs.readFileSync(configFile, "utf8").includes(p))).toEqual([]);
        // The service's environment (what `docker inspect` shows) names files, never passwords.
        expect(all.filter((p) => JSON.stringify(pgEnv("worker-1")).includes(p))).toEqual([]);
        const runDir = path.join(work, "worker-1", "run");
        const pgUid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout);
        expect(
            fs
                .readdirSync(runDir)
                .sort()
                .map((f) => {
                    const st = fs.statSync(path.join(runDir, f));
                    return `${f} ${(st.mode & 0o777).toString(8)} ${st.uid === pgUid ? "postgres" : st.uid}`;
                }),
        ).toEqual(["pgpass 600 postgres"]);
    });

    test("the proxy: writers reach the leader, readers the replica; /healthz says a leader is up", async () => {
        expect((await sql(proxyPorts.rw, "SELECT inet_server_port() || ' ' || pg_is_in_recovery()")).out).toBe(`${ports["worker-1"].pg} false`);
        expect((await sql(proxyPorts.ro, "SELECT inet_server_port() || ' ' || pg_is_in_recovery()")).out).toBe(`${ports["worker-2"].pg} true`);
        expect((await sql(proxyPorts.ro, "CREATE TABLE nope (id int)")).stderr).toContain("cannot execute CREATE TABLE in a read-only transaction");
        expect((await get(`http://127.0.0.1:${proxyPorts.health}/healthz`)).status).toBe(200);
        expect((await get(`http://127.0.0.1:${proxyPorts.health}/alive`)).body).toBe("alive");
    });

    test("a member's handover step before its restart: asked for the replica, nothing moves; asked for the leader, Patroni switches over to the synchronous standby with every row; and back", async () => {
        const handover = (m: Member, declared: string[] = [...members], api = ports[m].api) =>
            run("python3", [PATRONI_HANDOVER, m, "60", ...declared], { PATH: process.env.PATH, SWARM_HA_PATRONI_URL: `http://127.0.0.1:${api}` }, 70_000);
        await until("worker-2 is the synchronous standby", 10_000, () => streamingSyncStandby("worker-1", "worker-2"), logs());
        expect((await sql(proxyPorts.rw, "CREATE TABLE handed_over (id int PRIMARY KEY)")).code).toBe(0);
        expect((await sql(proxyPorts.rw, "INSERT INTO handed_over VALUES (1) RETURNING id")).out).toBe("1");

        const replica = await handover("worker-2");
        expect(`${replica.code} ${replica.stdout}${replica.stderr}`).toBe("0 patroni-handover: worker-2 does not lead (worker-1 leads): its restart moves no leader\n");
        // No other member in config is in the cluster (say, a replica whose node died): nobody to hand over to.
        const alone = await handover("worker-1", ["worker-1", "worker-9"]);
        expect(`${alone.code} ${alone.stdout}`).toMatch(/^0 patroni-handover: worker-1 leads and no other member in config is in the cluster \(worker-1 leader running, worker-2 sync_standby (running|streaming)\): nobody to hand over to; writes stop while it restarts\n$/);
        expect((await cluster("worker-1"))["worker-1"].role).toBe("leader");

        const t0 = Date.now();
        const leader = await handover("worker-1");
        expect(`${leader.code} ${leader.stdout}${leader.stderr}`).toMatch(/^0 patroni-handover: worker-1 led; worker-2 leads now \(Patroni: HTTP 200 Successfully switched over to "worker-2"\), after \d+\.\d s\n$/);
        expect((await cluster("worker-2"))["worker-2"].role).toBe("leader");
        const proxied = await until("a write through the proxy on worker-2", 30_000, async () => ((await sql(proxyPorts.rw, "INSERT INTO handed_over VALUES (2) ON CONFLICT DO NOTHING")).code === 0 ? Date.now() : undefined), logs());
        console.log(`handover (a switchover before the leader's restart): writes back through the proxy ${((proxied - t0) / 1000).toFixed(1)} s after the step started`);
        expect((await sql(ports["worker-2"].pg, "SELECT string_agg(id::text, ',' ORDER BY id) FROM handed_over")).out).toBe("1,2");

        // Back, as the second member's handover does once the first has restarted.
        await until("worker-1 streams as worker-2's synchronous standby", 30_000, () => streamingSyncStandby("worker-2", "worker-1"), logs());
        const back = await handover("worker-2");
        expect(`${back.code} ${back.stdout}${back.stderr}`).toMatch(/^0 patroni-handover: worker-2 led; worker-1 leads now/);
        await until("worker-2 streams as worker-1's synchronous standby again", 30_000, () => streamingSyncStandby("worker-1", "worker-2"), logs());
        expect((await sql(ports["worker-1"].pg, "SELECT string_agg(id::text, ',' ORDER BY id) FROM handed_over")).out).toBe("1,2");
    }, 150_000);

    test("failover: the leader's Patroni and Postgres are SIGKILLed; the synchronous standby takes over with the acknowledged row", async () => {
        await until("worker-2 is the synchronous standby", 10_000, () => streamingSyncStandby("worker-1", "worker-2"), logs());
        expect((await sql(proxyPorts.rw, "CREATE TABLE acknowledged (id int PRIMARY KEY, at timestamptz DEFAULT now())")).code).toBe(0);
        // Acknowledged: the commit returned, which in synchronous mode means worker-2 has it.
        expect((await sql(proxyPorts.rw, "INSERT INTO acknowledged (id) VALUES (42) RETURNING id")).out).toBe("42");

        const t0 = Date.now();
        await kill(patroni["worker-1"]!);
        expect(postmasterPid(dataDir("worker-1"))).toBeUndefined();

        const write = (port: number, id: number) => async () => ((await sql(port, `INSERT INTO acknowledged (id) VALUES (${id}) ON CONFLICT DO NOTHING`)).code === 0 ? Date.now() : undefined);
        const direct = (await until("a write on worker-2", 30_000, write(ports["worker-2"].pg, 43), logs())) - t0;
        const proxied = (await until("a write through the proxy", 30_000, write(proxyPorts.rw, 44), logs())) - t0;
        console.log(
            `failover (leader SIGKILLed, Patroni ttl 10 s): writes back on the new leader after ${(direct / 1000).toFixed(1)} s, ` +
                `through the proxy after ${(proxied / 1000).toFixed(1)} s (goal: 15 s)`,
        );
        expect((await sql(ports["worker-2"].pg, "SELECT string_agg(id::text, ',' ORDER BY id) FROM acknowledged")).out).toBe("42,43,44");
        expect((await cluster("worker-2"))["worker-2"].role).toBe("leader");
        expect(direct).toBeLessThanOrEqual(15_000);
        expect(proxied).toBeLessThanOrEqual(15_000);
        // The health step's check says what is missing.
        await until("the check to miss worker-1", 15_000, async () => ((await patroniCheck("worker-2")).includes("worker-1 is not in the cluster") ? true : undefined), logs());
        expect(await patroniCheck("worker-2")).toBe(
            "1 patroni: member worker-1 is not in the cluster (its Patroni is not running or cannot reach etcd)\n" +
                "patroni: synchronous mode is on but no member is a running synchronous standby: the next failover could lose acknowledged writes\n",
        );
        // No replica left: readers go to the leader (pg_ro's backup servers).
        expect((await sql(proxyPorts.ro, "SELECT inet_server_port() || ' ' || pg_is_in_recovery()")).out).toBe(`${ports["worker-2"].pg} false`);
    }, 60_000);

    test("the old leader comes back as the new one's synchronous standby (pg_rewind), with every row; readers go back to it", async () => {
        startMember("worker-1", "worker-1-again");
        await until("worker-1 streams as worker-2's synchronous standby", 30_000, () => streamingSyncStandby("worker-2", "worker-1"), logs());
        expect(fs.readFileSync(patroni["worker-1"]!.log, "utf8")).toContain("pg_rewind: Done!");
        expect((await sql(ports["worker-1"].pg, "SELECT string_agg(id::text, ',' ORDER BY id) FROM acknowledged")).out).toBe("42,43,44");
        expect(await patroniCheck("worker-1")).toBe("0 patroni: worker-2 leads; worker-1, worker-2 running\n");
        await until("readers reach worker-1 again", 10_000, async () => ((await sql(proxyPorts.ro, "SELECT inet_server_port()")).out === String(ports["worker-1"].pg) ? true : undefined), logs());
    }, 45_000);
});
