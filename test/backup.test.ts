/**
 * The backup tier. The service's environment (components/backups/backup-env.ts): exact output,
 * every bad input named, no secret or connection setting in it. The image's scripts
 * (images/backup): shellcheck, and then run for real the way the service runs them (started as
 * root, dropping to the postgres user, the password in a root-only secret file) against a
 * throwaway Postgres on loopback: a backup that passes its restore check; one taken while rows
 * are being written; dumps that must fail the check (rows altered, file cut short); Postgres
 * unreachable; retention; the runbook's restore; and the service loop with its /metrics, which
 * survives a failed cycle and stops cleanly. A stand-in `pg_dump` first on PATH (the real one,
 * then delayed, altered or cut short as a test asks) makes the bad cases happen on cue.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { freePorts } from "./support/ports";
import { BACKUP_METRICS_PORT, renderBackupEnv } from "../components/backups/backup-env";

const IMAGE_DIR = path.resolve(__dirname, "..", "images", "backup");
const ENTRYPOINT = path.join(IMAGE_DIR, "swarm-ha-backup.sh");
const RESTORE = path.join(IMAGE_DIR, "swarm-ha-restore.sh");
const PG_BIN = "/usr/lib/postgresql/15/bin";
/** Postgres refuses root: as root, the tests run it (and expect the scripts to run) as this user. */
const PG_USER = "postgres";
const IS_ROOT = process.getuid?.() === 0;
/** A PATH without the developer's own shims (pyenv's python3 is not readable by postgres). */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DUMP_NAME = /^app-\d{8}T\d{6}Z\.dump$/;

jest.setTimeout(30_000);

// ---------------------------------------------------------------------------------------------
// The service's environment.

describe("renderBackupEnv", () => {
    test("renders the schedule, retention, database and metrics port, and nothing else", () => {
        expect(renderBackupEnv({ intervalMinutes: 60, keep: 7, database: "app" })).toStrictEqual({
            BACKUP_INTERVAL_SECONDS: "3600",
            BACKUP_KEEP: "7",
            PGDATABASE: "app",
            METRICS_PORT: "9187",
        });
        expect(BACKUP_METRICS_PORT).toBe(9187);
        expect(renderBackupEnv({ intervalMinutes: 1, keep: 1, database: "shop_2-eu" })).toStrictEqual({
            BACKUP_INTERVAL_SECONDS: "60",
            BACKUP_KEEP: "1",
            PGDATABASE: "shop_2-eu",
            METRICS_PORT: "9187",
        });
    });

    test("leaves the connection and the password to the component (no secret in `docker inspect`)", () => {
        const keys = Object.keys(renderBackupEnv({ intervalMinutes: 15, keep: 3, database: "app" }));
        for (const k of ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGPASSWORD_FILE", "PGPASSFILE"]) expect(keys).not.toContain(k);
    });

    test("names every bad input at once", () => {
        expect(() => renderBackupEnv({ intervalMinutes: 0.5, keep: 0, database: "app; DROP" })).toThrow(
            [
                "swarm-ha: backups: cannot render the service's environment:",
                "  intervalMinutes: must be a whole number of minutes from 1 to 10080 (a week), e.g. 60 (got 0.5)",
                "  keep: must be a whole number from 1 to 1000: how many good backups to keep, e.g. 7 (got 0)",
                `  database: must be 1-63 letters, digits, '_' or '-', not starting with a digit or '-', e.g. app (got "app; DROP")`,
            ].join("\n"),
        );
    });

    test.each([
        ["intervalMinutes", { intervalMinutes: 0 }],
        ["intervalMinutes", { intervalMinutes: -60 }],
        ["intervalMinutes", { intervalMinutes: NaN }],
        ["intervalMinutes", { intervalMinutes: 10081 }],
        ["keep", { keep: 2.5 }],
        ["keep", { keep: 1001 }],
        ["database", { database: "" }],
        ["database", { database: "1app" }],
        ["database", { database: "-app" }],
        ["database", { database: "app=x host=evil" }],
        ["database", { database: "../app" }],
        ["database", { database: "a".repeat(64) }],
    ])("refuses a bad %s: %p", (field, over) => {
        expect(() => renderBackupEnv({ intervalMinutes: 60, keep: 7, database: "app", ...over })).toThrow(new RegExp(`^  ${field}: `, "m"));
    });
});

// ---------------------------------------------------------------------------------------------
// The image's files.

describe("the backup image", () => {
    test("every script passes shellcheck (POSIX sh); the metrics server is valid Python", () => {
        const scripts = fs.readdirSync(IMAGE_DIR).filter((f) => f.endsWith(".sh")).sort();
        expect(scripts).toEqual(["backup-cycle.sh", "lib.sh", "swarm-ha-backup.sh", "swarm-ha-restore.sh"]);
        for (const f of scripts) {
            const r = spawnSync("shellcheck", ["--shell=sh", "--severity=style", path.join(IMAGE_DIR, f)], { encoding: "utf8" });
            if (r.error) throw new Error(`shellcheck is not installed (apt-get install shellcheck): ${r.error.message}`);
            expect(`${f}: ${r.stdout}${r.stderr}`).toBe(`${f}: `);
        }
        const py = spawnSync("python3", ["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", path.join(IMAGE_DIR, "metrics-server.py")], {
            encoding: "utf8",
        });
        expect(py.stderr).toBe("");
    });

    test("the Dockerfile builds on Debian bookworm, copies every file of the context, and starts the entrypoint", () => {
        const dockerfile = fs.readFileSync(path.join(IMAGE_DIR, "Dockerfile"), "utf8");
        expect(dockerfile).toMatch(/^FROM debian:bookworm-slim$/m);
        expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends postgresql-15 /);
        expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/local\/bin\/swarm-ha-backup"\]$/m);
        const copied = [...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1].split(" "));
        const context = fs.readdirSync(IMAGE_DIR).filter((f) => f !== "Dockerfile");
        expect(copied.sort()).toEqual(context.sort());
    });
});

// ---------------------------------------------------------------------------------------------
// The scripts, run for real.

let work: string;
let backupDir: string;
let tmpDir: string;
let secretFile: string;
let modeFile: string;
let fakeBin: string;
let pgPassFile: string;
let srcPort: number;
let srcPid: number | undefined;
const PASSWORD = `s3cret-${process.pid}-${Date.now()}:with\\odd'chars`;
/** Every process the tests start, killed in afterAll if still running. */
const started = new Set<ChildProcess>();


/** A command run as the Postgres user when the tests run as root. */
function asPgUser(command: string, args: string[]): [string, string[]] {
    return IS_ROOT ? ["setpriv", [`--reuid=${PG_USER}`, `--regid=${PG_USER}`, "--init-groups", "--", command, ...args]] : [command, args];
}

interface Result {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Runs a command to its end (killing it after `timeoutMs`), without blocking the event loop. */
function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Result> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
        started.add(child);
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (d) => (stdout += d));
        child.stderr!.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => killGroup(child, "SIGKILL"), options.timeoutMs ?? 25_000);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            started.delete(child);
            resolve({ code, stdout, stderr });
        });
        // A command that exits without reading its input (a quick failure) closes the pipe first:
        // the EPIPE is not the test's to report; the exit status and output are.
        child.stdin!.on("error", () => {});
        child.stdin!.end(options.input ?? "");
    });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
        process.kill(-child.pid, signal);
    } catch {
        // already gone
    }
}

/** SQL on the source Postgres, as its superuser (the password from the tests' own pgpass file). */
async function sql(database: string, text: string): Promise<string> {
    const r = await run("psql", ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(srcPort), "-U", "postgres", "-d", database, "-f", "-"], {
        env: { PATH: `${PG_BIN}:${SYSTEM_PATH}`, PGPASSFILE: pgPassFile, PGCONNECT_TIMEOUT: "5" },
        input: text,
    });
    if (r.code !== 0) throw new Error(`psql failed: ${r.stderr}`);
    return r.stdout.trim();
}

async function counts(database: string): Promise<Record<string, number>> {
    const out = await sql(
        database,
        `SELECT 'public.items', count(*) FROM public.items UNION ALL SELECT 'public.events', count(*) FROM public.events
         UNION ALL SELECT 'public.tags', count(*) FROM public.tags UNION ALL SELECT 'public.audit_log', count(*) FROM public.audit_log
         UNION ALL SELECT 'billing.Invoice "lines"', count(*) FROM billing."Invoice ""lines"""`,
    );
    return Object.fromEntries(out.split("\n").map((l) => [l.split("|")[0], Number(l.split("|")[1])]));
}

/** The environment the service gives the entrypoint: renderBackupEnv's, plus what the component adds. */
function serviceEnv(over: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
        PATH: `${fakeBin}:${SYSTEM_PATH}`,
        TMPDIR: tmpDir,
        SWARM_HA_BACKUP_LIB: IMAGE_DIR,
        BACKUP_DIR: backupDir,
        ...renderBackupEnv({ intervalMinutes: 60, keep: 7, database: "app" }),
        PGHOST: "127.0.0.1",
        PGPORT: String(srcPort),
        PGUSER: "postgres",
        PGPASSWORD_FILE: secretFile,
        ...over,
    };
}

/** One cycle through the real entrypoint (BACKUP_ONCE=1), `pg_dump` behaving as `mode` says. */
async function backupOnce(mode: "" | "slow" | "alter" | "truncate" = "", over: Record<string, string> = {}): Promise<Result> {
    fs.writeFileSync(modeFile, mode);
    return run("sh", [ENTRYPOINT], { env: serviceEnv({ BACKUP_ONCE: "1", ...over }) });
}

function restore(args: string[]): Promise<Result> {
    return run("sh", [RESTORE, ...args], { env: serviceEnv() });
}

const listing = () => fs.readdirSync(backupDir).sort();
/** Newest first, as the scripts list them. */
const goodBackups = () =>
    listing()
        .filter((f) => DUMP_NAME.test(f) && fs.existsSync(path.join(backupDir, f.replace(/\.dump$/, ".facts.json"))))
        .reverse();
const failedBackups = () => listing().filter((f) => f.endsWith(".dump.failed"));
const status = () => JSON.parse(fs.readFileSync(path.join(backupDir, "status.json"), "utf8"));
const facts = (dump: string) => JSON.parse(fs.readFileSync(path.join(backupDir, dump.replace(/\.dump$/, ".facts.json")), "utf8"));
const factCounts = (dump: string): Record<string, number> =>
    Object.fromEntries(facts(dump).tables.map((t: { table: string; rows: number }) => [t.table, t.rows]));

function parseMetrics(text: string): Record<string, number> {
    return Object.fromEntries(
        text
            .split("\n")
            .filter((l) => l && !l.startsWith("#"))
            .map((l) => [l.split(" ")[0], Number(l.split(" ")[1])]),
    );
}
const metricsFile = () => parseMetrics(fs.readFileSync(path.join(backupDir, "metrics.prom"), "utf8"));

/** What a cycle must leave behind besides its record: no partial dump, no scratch cluster, no temp files. */
function expectNoLeftovers(): void {
    expect(listing().filter((f) => f.endsWith(".partial") || f === ".scratch")).toEqual([]);
    expect(fs.readdirSync(tmpDir)).toEqual([]);
    expect(processesUnder(work)).toEqual([]);
}

/**
 * Processes other than the source Postgres that belong to these tests: their command line or
 * environment mentions `dir` (every script started here has BACKUP_DIR under it, and the
 * processes they start inherit it). Other runs of the same scripts are left alone.
 */
function processesUnder(dir: string): string[] {
    const found: string[] = [];
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        if (Number(pid) === srcPid || Number(pid) === process.pid) continue;
        let cmdline = "";
        let environ = "";
        try {
            cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
            environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8");
        } catch {
            continue;
        }
        if ((cmdline.includes(dir) || environ.includes(dir)) && !cmdline.startsWith("postgres:")) found.push(`${pid} ${cmdline}`);
    }
    return found;
}

/** Processes whose command line or environment holds the password. */
function processesHoldingPassword(): string[] {
    const found: string[] = [];
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        for (const what of ["cmdline", "environ"]) {
            try {
                if (fs.readFileSync(`/proc/${pid}/${what}`, "latin1").includes(PASSWORD)) found.push(`${pid} ${what}`);
            } catch {
                // gone, or not ours to read
            }
        }
    }
    return found;
}

function get(url: string): Promise<{ status: number; type: string; body: string }> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { timeout: 3000 }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
        });
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`${url}: no answer within 3s`)));
    });
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** The tests' stand-in pg_dump, doing what the file `modeFile` says. */
function fakePgDump(modeFile: string): string {
    return `#!/bin/sh
# The tests' pg_dump: the real one, delayed 3 s (slow), with a row altered in its output (alter: an
# uncompressed dump, one value changed to another of the same length, so it still restores), or
# cut short after it finished (truncate).
real=${PG_BIN}/pg_dump
file=
for a in "$@"; do case $a in --file=*) file=\${a#--file=} ;; esac; done
case $(cat '${modeFile}') in
slow) sleep 3; exec "$real" "$@" ;;
alter) "$real" "$@" --compress=0 || exit; sed -i 's/widget-7/widgex-7/' "$file" ;;
truncate) "$real" "$@" || exit; size=$(wc -c <"$file"); truncate -s $((size * 6 / 10)) "$file" ;;
*) exec "$real" "$@" ;;
esac
`;
}

describe("the scripts, run for real", () => {
    beforeAll(async () => {
        work = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-backup-test-"));
        // The Postgres user must reach the files below (mkdtemp makes the directory 0700).
        fs.chmodSync(work, 0o755);
        backupDir = path.join(work, "backups");
        tmpDir = path.join(work, "tmp");
        fakeBin = path.join(work, "bin");
        for (const d of [tmpDir, fakeBin]) fs.mkdirSync(d, { mode: 0o755 });
        fs.chmodSync(tmpDir, 0o1777);
        modeFile = path.join(work, "pg_dump-mode");
        fs.writeFileSync(modeFile, "", { mode: 0o644 });

        // The password as Docker delivers a secret: a file only root can read (mode 0400).
        fs.mkdirSync(path.join(work, "secrets"), { mode: 0o700 });
        secretFile = path.join(work, "secrets", "postgres-password");
        fs.writeFileSync(secretFile, PASSWORD + "\n", { mode: 0o400 });
        pgPassFile = path.join(work, "secrets", "tests.pgpass");
        fs.writeFileSync(pgPassFile, `*:*:*:*:${PASSWORD.replace(/\\/g, "\\\\").replace(/:/g, "\\:")}\n`, { mode: 0o600 });

        // The stand-in pg_dump: the real one, then what the mode file says.
        fs.writeFileSync(path.join(fakeBin, "pg_dump"), fakePgDump(modeFile), { mode: 0o755 });

        // The source: a throwaway Postgres on loopback, password required (scram), as a non-root user.
        [srcPort] = await freePorts(1);
        const pwfile = path.join(work, "initdb-password");
        fs.writeFileSync(pwfile, PASSWORD + "\n", { mode: 0o644 });
        const srcData = path.join(work, "src");
        fs.mkdirSync(srcData, { mode: 0o700 });
        if (IS_ROOT) spawnSync("chown", [PG_USER, srcData, work]);
        const [initdb, initdbArgs] = asPgUser(`${PG_BIN}/initdb`, ["-D", srcData, "-U", "postgres", "-A", "scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--locale=C", "--no-sync"]);
        const init = await run(initdb, initdbArgs);
        fs.rmSync(pwfile);
        if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
        const [postgres, postgresArgs] = asPgUser(`${PG_BIN}/postgres`, [
            "-D", srcData, "-k", work, "-c", "listen_addresses=127.0.0.1", "-c", `port=${srcPort}`, "-c", "fsync=off", "-c", "synchronous_commit=off",
        ]);
        const server = spawn(postgres, postgresArgs, { stdio: "ignore", detached: true });
        started.add(server);
        srcPid = server.pid;
        await until("the source Postgres", async () => ((await run(`${PG_BIN}/pg_isready`, ["-q", "-h", "127.0.0.1", "-p", String(srcPort)])).code === 0 ? true : undefined), 15_000);

        await sql("postgres", "CREATE DATABASE app");
        await sql(
            "app",
            `-- A role the throwaway Postgres of the restore check does not have: owner, grantee and policy role.
            CREATE ROLE app_owner NOLOGIN;
            CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0, price numeric(10,2), added timestamptz NOT NULL DEFAULT now());
            INSERT INTO items (id, name, price) SELECT g, 'widget-' || g, g * 1.25 FROM generate_series(1, 50) g;
            ALTER TABLE items OWNER TO app_owner;
            ALTER TABLE items ENABLE ROW LEVEL SECURITY;
            CREATE POLICY own_rows ON items TO app_owner USING (qty >= 0);
            CREATE TABLE events (id bigserial PRIMARY KEY, note text, at timestamptz DEFAULT clock_timestamp());
            INSERT INTO events (note) SELECT 'before ' || g FROM generate_series(1, 20) g;
            GRANT SELECT ON events TO app_owner;
            -- A text primary key in two columns: upper and lower case sort differently by locale.
            CREATE TABLE tags (tag text, item_id int REFERENCES items, PRIMARY KEY (tag, item_id));
            INSERT INTO tags VALUES ('Blue', 1), ('blue', 2), ('Äpfel', 3), ('apple', 3), ('Zebra', 4);
            -- No primary key, duplicate rows.
            CREATE TABLE audit_log (line text, at date);
            INSERT INTO audit_log VALUES ('login', '2025-01-01'), ('login', '2025-01-01'), (NULL, NULL);
            CREATE SCHEMA billing;
            CREATE TABLE billing."Invoice ""lines""" (n int PRIMARY KEY, amount money, memo jsonb);
            INSERT INTO billing."Invoice ""lines""" VALUES (1, 12.5, '{"a": [1, 2]}'), (2, 0, NULL), (3, -3.75, '"tab\\there"');`,
        );
    }, 30_000);

    afterAll(async () => {
        // Every process started here and still running: its whole group, SIGTERM then SIGKILL.
        const children = [...started].filter((c) => c.exitCode === null && c.signalCode === null && c.pid !== srcPid);
        for (const c of children) killGroup(c, "SIGTERM");
        await new Promise((r) => setTimeout(r, children.length ? 1000 : 0));
        for (const c of children) killGroup(c, "SIGKILL");
        // The source Postgres: fast shutdown.
        const src = [...started].find((c) => c.pid === srcPid);
        if (src && src.exitCode === null && src.signalCode === null) {
            const exited = new Promise((r) => src.once("exit", r));
            killGroup(src, "SIGINT");
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
            clearTimeout(timer);
            killGroup(src, "SIGKILL");
        }
        // Anything else still running from under the work directory (a cycle leads its own session).
        if (work) {
            for (const line of processesUnder(work)) {
                try {
                    process.kill(Number(line.split(" ")[0]), "SIGKILL");
                } catch {
                    // gone
                }
            }
            fs.rmSync(work, { recursive: true, force: true });
        }
    }, 30_000);

    describe("a backup cycle, run by the real entrypoint against a real Postgres", () => {
        test("makes a dump and its facts from one snapshot, proves it restorable, and says so in status.json and metrics.prom", async () => {
            const t0 = Math.floor(Date.now() / 1000);
            const r = await backupOnce();
            expect(r.stderr).toMatch(/restore check passed/);
            expect(r.code).toBe(0);

            const [dump] = goodBackups();
            expect(goodBackups()).toEqual([dump]);
            expect(listing()).toEqual([".lock", ".state", dump, dump.replace(/\.dump$/, ".facts.json"), "metrics.prom", "status.json"]);
            // pg_dump's custom format, whole (its magic number; pg_restore reads its table of contents).
            expect(fs.readFileSync(path.join(backupDir, dump)).subarray(0, 5).toString()).toBe("PGDMP");
            const toc = await run("pg_restore", ["--list", path.join(backupDir, dump)], { env: { PATH: SYSTEM_PATH } });
            expect(toc.stdout).toMatch(/TABLE DATA public items /);

            // The facts agree with the live database (nothing was written since), table by table.
            const f = facts(dump);
            expect(factCounts(dump)).toEqual({ ...(await counts("app")) });
            expect(f.tables.map((t: { table: string; order: string }) => `${t.table}: ${t.order}`)).toEqual([
                'billing.Invoice "lines": primary key',
                "public.audit_log: row text",
                "public.events: primary key",
                "public.items: primary key",
                "public.tags: primary key",
            ]);
            expect(f.restore_check).toMatchObject({ result: "passed", error: null });
            expect(f.snapshot_epoch).toBeGreaterThanOrEqual(t0 - 1);
            expect(dump).toBe(`app-${new Date(f.snapshot_epoch * 1000).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}.dump`);

            const s = status();
            expect(s).toMatchObject({ database: "app", result: "ok", stage: null, error: null, good_backups: [dump] });
            expect(s.last_attempt).toMatchObject({ backup: dump, size_bytes: fs.statSync(path.join(backupDir, dump)).size, table_count: 5, rows: 50 + 20 + 5 + 3 + 3 });
            expect(s.last_success).toMatchObject({ backup: dump, snapshot_at: f.snapshot_at, table_count: 5 });

            const m = metricsFile();
            expect(m).toEqual({
                swarm_ha_backup_last_success_timestamp_seconds: f.snapshot_epoch,
                swarm_ha_backup_last_attempt_timestamp_seconds: expect.any(Number),
                swarm_ha_backup_last_attempt_success: 1,
                swarm_ha_backup_last_duration_seconds: expect.any(Number),
                swarm_ha_backup_last_size_bytes: fs.statSync(path.join(backupDir, dump)).size,
                swarm_ha_backup_restore_check_ok: 1,
                swarm_ha_backup_good_backups: 1,
            });
            expect(m.swarm_ha_backup_last_duration_seconds).toBeLessThan(20);

            if (IS_ROOT) {
                // Started as root, it ran as the Postgres user, and the backups are private to it.
                const st = fs.statSync(path.join(backupDir, dump));
                expect(st.uid).toBe(Number(spawnSync("id", ["-u", PG_USER], { encoding: "utf8" }).stdout.trim()));
                expect(st.mode & 0o077).toBe(0);
            }
            // The password is nowhere in what the cycle wrote.
            for (const file of listing().filter((n) => !n.startsWith("."))) expect(fs.readFileSync(path.join(backupDir, file), "latin1")).not.toContain(PASSWORD);
            expectNoLeftovers();
        });

        test("rows written while the dump runs neither end up in it nor break its check: dump and facts share the snapshot", async () => {
            // A writer committing an insert and an update every few milliseconds, for at most 20s.
            const writer = run("psql", ["-X", "-q", "-h", "127.0.0.1", "-p", String(srcPort), "-U", "postgres", "-d", "app", "-f", "-"], {
                env: { PATH: `${PG_BIN}:${SYSTEM_PATH}`, PGPASSFILE: pgPassFile },
                input: `DO $$
                    DECLARE t0 timestamptz := clock_timestamp();
                    BEGIN
                      WHILE clock_timestamp() < t0 + interval '20 s' AND NOT EXISTS (SELECT 1 FROM items WHERE name = 'stop') LOOP
                        INSERT INTO events (note) VALUES ('during the dump');
                        UPDATE items SET qty = qty + 1 WHERE id = 1 + (SELECT count(*) FROM events) % 50;
                        COMMIT;
                        PERFORM pg_sleep(0.003);
                      END LOOP;
                    END $$;`,
            });
            await until("the writer's first rows", async () => (Number(await sql("app", "SELECT count(*) FROM events")) > 25 ? true : undefined), 5000);

            const r = await backupOnce("slow"); // pg_dump starts 3s after the snapshot is taken
            await sql("app", "INSERT INTO items (id, name) VALUES (1000, 'stop')");
            expect((await writer).code).toBe(0);
            expect(r.stderr).toMatch(/restore check passed/);
            expect(r.code).toBe(0);

            const newest = goodBackups()[0];
            expect(goodBackups()).toHaveLength(2);
            const inBackup = factCounts(newest)["public.events"];
            const live = (await counts("app"))["public.events"];
            // Hundreds of rows committed after the snapshot are in the database but not the backup.
            expect(live - inBackup).toBeGreaterThan(50);
            expect(status().result).toBe("ok");
            expectNoLeftovers();
        });

        test("Postgres unreachable (mid-failover): the attempt is recorded as failed and no good backup is touched, even with BACKUP_KEEP=1", async () => {
            const before = goodBackups();
            const lastSuccess = metricsFile().swarm_ha_backup_last_success_timestamp_seconds;
            const [closed] = await freePorts(1);
            // keep=1: a failed attempt must not apply retention either.
            const r = await backupOnce("", { PGPORT: String(closed), BACKUP_KEEP: "1" });
            expect(r.code).toBe(1);
            expect(goodBackups()).toEqual(before);
            expect(failedBackups()).toEqual([]);
            expect(status()).toMatchObject({ result: "failed", stage: "snapshot", good_backups: before });
            expect(status().error).toMatch(/^could not open a snapshot on app at 127\.0\.0\.1:\d+: .*Connection refused/);
            expect(status().last_success.backup).toBe(before[0]);
            expect(metricsFile()).toMatchObject({
                swarm_ha_backup_last_attempt_success: 0,
                swarm_ha_backup_last_size_bytes: 0,
                // No dump, so no check ran: the last check's verdict stands.
                swarm_ha_backup_restore_check_ok: 1,
                swarm_ha_backup_last_success_timestamp_seconds: lastSuccess,
                swarm_ha_backup_good_backups: 2,
            });
            expectNoLeftovers();
        });

        test("a dump whose rows differ from the snapshot fails its check, is moved aside as .failed, and the good backups stay", async () => {
            const before = goodBackups();
            const lastSuccess = metricsFile().swarm_ha_backup_last_success_timestamp_seconds;
            const r = await backupOnce("alter", { BACKUP_KEEP: "1" });
            expect(r.code).toBe(1);
            expect(goodBackups()).toEqual(before);
            const [failed] = failedBackups();
            expect(failedBackups()).toEqual([failed]);
            expect(failed).toMatch(/^app-\d{8}T\d{6}Z\.dump\.failed$/);
            // It restored without complaint: only the facts tell the rows apart.
            expect(status()).toMatchObject({ result: "failed", stage: "restore check" });
            const items = (await counts("app"))["public.items"];
            expect(status().error).toBe(`the restored database differs from the snapshot: "public.items": ${items} rows as expected, but different contents (checksum)`);
            expect(status().last_attempt.backup).toBe(failed);
            expect(metricsFile()).toMatchObject({
                swarm_ha_backup_last_attempt_success: 0,
                swarm_ha_backup_restore_check_ok: 0,
                swarm_ha_backup_last_success_timestamp_seconds: lastSuccess,
                swarm_ha_backup_good_backups: 2,
            });
            expectNoLeftovers();
        });

        test("a dump cut short after pg_dump finished fails its restore; only the newest failed dump is kept", async () => {
            const before = goodBackups();
            const previousFailure = failedBackups()[0];
            const r = await backupOnce("truncate", { BACKUP_KEEP: "1" });
            expect(r.code).toBe(1);
            expect(goodBackups()).toEqual(before);
            expect(status()).toMatchObject({ result: "failed", stage: "restore check" });
            expect(status().error).toMatch(/^pg_restore failed: pg_restore: error: /);
            const [failed] = failedBackups();
            expect(failedBackups()).toEqual([failed]);
            expect(failed > previousFailure).toBe(true);
            expect(listing()).toContain(failed.replace(/\.dump\.failed$/, ".facts.json.failed"));
            expectNoLeftovers();
        });

        test("retention keeps the newest BACKUP_KEEP good backups, once a new one has passed its check", async () => {
            const before = goodBackups();
            expect(before).toHaveLength(2);
            const r = await backupOnce("", { BACKUP_KEEP: "2" });
            expect(r.code).toBe(0);
            const after = goodBackups();
            expect(after).toHaveLength(2);
            expect(after[1]).toBe(before[0]);
            expect(after[0] > before[0]).toBe(true);
            expect(listing()).not.toContain(before[1].replace(/\.dump$/, ".facts.json"));
            expect(r.stderr).toContain(`retention: removed ${before[1]} (keeping the newest 2)`);
            expect(status().good_backups).toEqual(after);
            expect(metricsFile().swarm_ha_backup_good_backups).toBe(2);
        });
        test("SIGTERM in the middle of a backup stops it at once: nothing recorded, nothing left behind, the good backups kept", async () => {
            const before = { backups: goodBackups(), status: fs.readFileSync(path.join(backupDir, "status.json"), "utf8") };
            fs.writeFileSync(modeFile, "slow");
            const service = spawn("sh", [ENTRYPOINT], { env: serviceEnv({ BACKUP_ONCE: "1" }), stdio: "ignore", detached: true });
            started.add(service);
            const exited = new Promise<number | null>((r) => service.once("exit", (code) => r(code)));
            // Docker signals the container's first process only; pg_dump is then running (the
            // slow one waits 3 s first: a window the scan of /proc cannot miss on a busy machine).
            await until("pg_dump to start", () => (processesUnder(work).some((p) => p.includes("pg_dump --format=custom")) ? true : undefined), 20_000);
            const t0 = Date.now();
            service.kill("SIGTERM");
            expect(await exited).toBe(143);
            expect(Date.now() - t0).toBeLessThan(5000);
            expect(goodBackups()).toEqual(before.backups);
            expect(fs.readFileSync(path.join(backupDir, "status.json"), "utf8")).toBe(before.status);
            expectNoLeftovers();
        });
    });

    describe("swarm-ha-restore", () => {
        test("restores the newest good backup into a new database, with the backup's row counts", async () => {
            const newest = goodBackups()[0];
            const r = await restore(["app_restored"]);
            expect(`${r.code} ${r.stdout}${r.code ? r.stderr : ""}`).toBe(`0 restored ${newest} into app_restored: 5 tables, ${Object.values(factCounts(newest)).reduce((a, b) => a + b)} rows; row counts and checksums match the backup\n`);
            expect(await counts("app_restored")).toEqual(factCounts(newest));
            // Owners and policies came back with it.
            expect(await sql("app_restored", "SELECT tableowner FROM pg_tables WHERE tablename = 'items'")).toBe("app_owner");
            expect(await sql("app_restored", "SELECT policyname FROM pg_policies")).toBe("own_rows");
            // No staging database left behind.
            expect(await sql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'swarm_ha_restore_%'")).toBe("0");
        });

        test("refuses to overwrite an existing database unless told to, and then replaces it", async () => {
            await sql("app_restored", "INSERT INTO events (note) VALUES ('written after the restore')");
            const refused = await restore(["app_restored"]);
            expect(refused.code).toBe(2);
            expect(refused.stderr).toContain("the database app_restored exists; refusing to overwrite it");
            expect(await sql("app_restored", "SELECT count(*) FROM events WHERE note = 'written after the restore'")).toBe("1");

            const replaced = await restore(["--overwrite", "app_restored"]);
            expect(replaced.code).toBe(0);
            expect(await sql("app_restored", "SELECT count(*) FROM events WHERE note = 'written after the restore'")).toBe("0");
            expect(await counts("app_restored")).toEqual(factCounts(goodBackups()[0]));
        });

        test("lists the good backups, and restores an older one with --from", async () => {
            const [newest, older] = goodBackups();
            const list = await restore(["--list"]);
            expect(list.code).toBe(0);
            expect(list.stdout.split("\n").filter(Boolean).map((l) => l.split(" ")[0])).toEqual([newest, older]);
            const r = await restore(["--from", older, "app_older"]);
            expect(r.code).toBe(0);
            expect(await counts("app_older")).toEqual(factCounts(older));
            expect((await restore(["--from", "app-20000101T000000Z.dump", "app_x"])).code).toBe(2);
        });

        test("refuses a dump that changed since its check, before touching the cluster", async () => {
            const newest = goodBackups()[0];
            const file = path.join(backupDir, newest);
            const original = fs.readFileSync(file);
            try {
                fs.appendFileSync(file, "x");
                const r = await restore(["app_changed"]);
                expect(r.code).toBe(1);
                expect(r.stderr).toContain(`${newest} is not the file that passed its restore check`);
                expect(await sql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'app_changed'")).toBe("0");
            } finally {
                fs.writeFileSync(file, original);
            }
        });
    });

    describe("the service loop", () => {
        test("serves /metrics, survives a failed cycle, succeeds at the next interval, keeps the password out of every process, and stops on SIGTERM", async () => {
            // A proxy in front of Postgres that the test switches: closed connections during a "failover".
            let forwarding = false;
            const proxy = net.createServer((client) => {
                if (!forwarding) return client.destroy();
                const upstream = net.connect(srcPort, "127.0.0.1");
                client.pipe(upstream).pipe(client);
                upstream.on("error", () => client.destroy());
                client.on("error", () => upstream.destroy());
            });
            const [proxyPort, metricsPort] = await freePorts(2);
            await new Promise<void>((r) => proxy.listen(proxyPort, "127.0.0.1", r));
            const service = spawn("sh", [ENTRYPOINT], {
                env: serviceEnv({ BACKUP_INTERVAL_SECONDS: "2", PGPORT: String(proxyPort), METRICS_ADDRESS: "127.0.0.1", METRICS_PORT: String(metricsPort) }),
                stdio: ["ignore", "pipe", "pipe"],
                detached: true,
            });
            started.add(service);
            let log = "";
            service.stdout!.on("data", (d) => (log += d));
            service.stderr!.on("data", (d) => (log += d));
            const exited = new Promise<number | null>((r) => service.once("exit", (code) => r(code)));
            const leaks: string[] = [];
            try {
                const metrics = async () => {
                    leaks.push(...processesHoldingPassword());
                    try {
                        const r = await get(`http://127.0.0.1:${metricsPort}/metrics`);
                        return r.status === 200 ? r : undefined;
                    } catch {
                        return undefined;
                    }
                };
                const t0 = Math.floor(Date.now() / 1000);
                const first = await until("/metrics", metrics, 5000);
                expect(first.type).toBe("text/plain; version=0.0.4; charset=utf-8");
                const lastGood = parseMetrics(first.body).swarm_ha_backup_last_success_timestamp_seconds;
                expect(lastGood).toBeGreaterThan(0);

                // The first attempt meets the closed proxy: recorded, and the service keeps running.
                const failed = await until("a failed attempt", async () => {
                    const m = await metrics();
                    const v = m && parseMetrics(m.body);
                    return v && v.swarm_ha_backup_last_attempt_timestamp_seconds >= t0 && v.swarm_ha_backup_last_attempt_success === 0 ? v : undefined;
                }, 10_000);
                expect(failed.swarm_ha_backup_last_success_timestamp_seconds).toBe(lastGood);
                expect(service.exitCode).toBeNull();

                // Postgres is back: the next interval's attempt makes a good backup.
                forwarding = true;
                const recovered = await until("a good backup after the failure", async () => {
                    const m = await metrics();
                    const v = m && parseMetrics(m.body);
                    return v && v.swarm_ha_backup_last_attempt_success === 1 && v.swarm_ha_backup_last_success_timestamp_seconds > lastGood ? v : undefined;
                }, 15_000);
                expect(recovered.swarm_ha_backup_restore_check_ok).toBe(1);
                const st = await get(`http://127.0.0.1:${metricsPort}/status.json`);
                expect(st.type).toBe("application/json");
                expect(JSON.parse(st.body).result).toBe("ok");
                expect((await get(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
                expect(leaks).toEqual([]);

                // SIGTERM (the service's stop signal), perhaps mid-cycle: it exits promptly and leaves nothing running.
                const t1 = Date.now();
                service.kill("SIGTERM");
                expect(await exited).toBe(143);
                expect(Date.now() - t1).toBeLessThan(10_000);
                expect(log).toMatch(/backing up app at 127\.0\.0\.1:\d+ every 2s/);
                expectNoLeftovers();
                expect(processesHoldingPassword()).toEqual([]);
            } finally {
                killGroup(service, "SIGKILL");
                await new Promise((r) => proxy.close(r));
            }
        });
    });
});
