/**
 * The to-dos in Postgres, reached through the stack's proxy: the read-write port goes to the
 * current Patroni leader, the read-only port to healthy replicas (the leader when there are
 * none). Two pools, one per port.
 *
 * Failing fast: a connection attempt gives up after CONNECT_TIMEOUT_MS, a statement after
 * STATEMENT_TIMEOUT_MS (on the server) or QUERY_TIMEOUT_MS (on the client, for a server that
 * no longer answers at all), so a request never hangs on a dead database. One retry: in a
 * failover the proxy cuts the connections to the demoted primary, and a statement that was on
 * one of them is run again once on a fresh connection, which the proxy sends to the new leader.
 *
 * Writes wait for a leader: a planned leader change (Patroni's switchover, or a member restarted
 * by a rolling update) leaves the proxy with no leader for 2.5 to 6 s on the lab, and a write
 * that failed at once for that would be a failed request the user sees on every image bump. So a
 * write whose connection cannot be opened, or is cut, or lands on a demoted primary, is tried
 * again with a short backoff for up to LEADER_WAIT_MS; after that it is a 503. Reads do not
 * wait: they have the replicas, and a dead database still answers them with a fast 503.
 */
import { DatabaseError, Pool, type PoolClient } from "pg";
import { readSecretFile, type PostgresConfig } from "./config";

/** A to-do as the API answers it. */
export interface Todo {
    id: number;
    title: string;
    seq: number | null;
    createdAt: string;
}

export const CONNECT_TIMEOUT_MS = 1000;
export const STATEMENT_TIMEOUT_MS = 2000;
export const QUERY_TIMEOUT_MS = 3000;
/**
 * How long a write waits for a leader before it is a 503. Above a planned leader change (2.5 to
 * 6 s on the lab, bench/results/day2.json: a 5 s wait failed 11 writes in one deploy of three)
 * with room to spare; well below a client's usual timeout and the edge's 30 s `timeout server`.
 */
export const LEADER_WAIT_MS = 8000;
/** Waits between a write's tries while there is no leader: short first, then every 500 ms. */
const LEADER_RETRY_DELAYS_MS = [100, 200, 400, 500];
/** Connections per pool and replica: the proxy and Postgres see replicas × 2 × this at most. */
export const POOL_SIZE = 10;

/** Every replica creates the table at start; the lock keeps concurrent starts from colliding in the catalog. */
const SCHEMA_LOCK_KEY = 0x5a4d_7d0; // "swarm-ha todos", any constant shared by every replica
export const SCHEMA_SQL = [
    "create table if not exists todos (id bigserial primary key, title text not null, seq bigint, created_at timestamptz default now())",
    "create index if not exists todos_seq_idx on todos (seq)",
];

const COLUMNS = "id, title, seq, created_at";

/** What the store tells the app about each Postgres call, for metrics and the dependency's state. */
export interface PostgresHooks {
    /** A statement is being retried after its connection was cut. */
    retry?(err: unknown): void;
}

/**
 * Postgres error codes that mean "this connection is gone or points at the wrong server",
 * i.e. a failover in progress: the server shutting down (57P01 admin, 57P02 crash), connection
 * exceptions (08…), and a write landing on a primary that was just demoted (25006).
 */
const CUT_CODES = new Set(["57P01", "57P02", "08000", "08003", "08006", "25006"]);
const CUT_SOCKET_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/** True when the error means the connection was cut under the statement (worth one retry on a fresh one). */
export function isConnectionCut(err: unknown): boolean {
    if (!(err instanceof Error)) return false;
    if (err instanceof DatabaseError) return err.code !== undefined && CUT_CODES.has(err.code);
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined && CUT_SOCKET_CODES.has(code)) return true;
    // pg's own words for a socket closed under a query, or a client whose socket already failed.
    return /Connection terminated unexpectedly|not queryable/.test(err.message);
}

/**
 * Errors of opening a connection that mean "no leader behind the proxy right now" rather than a
 * wrong setting: refused or unreachable (the proxy restarting), no answer within the connect
 * timeout, the proxy closing at once (no server up), Postgres starting up or shutting down
 * (57P03), a name that does not resolve yet (a Swarm service with no task running answers
 * NXDOMAIN). A wrong password or database is none of these: it is a 503 at once.
 */
const NO_LEADER_SOCKET_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/** True when the error means there is no leader to write to at this moment (worth waiting for). */
export function isLeaderAbsent(err: unknown): boolean {
    if (isConnectionCut(err)) return true;
    if (!(err instanceof Error)) return false;
    if (err instanceof DatabaseError) return err.code === "57P03";
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined && NO_LEADER_SOCKET_CODES.has(code)) return true;
    // pg-pool's words for a connect that did not finish within connectionTimeoutMillis.
    return /timeout exceeded when trying to connect|Connection terminated/.test(err.message);
}

/**
 * True for errors that are the app's own fault (bad SQL, bad data), answered 500 rather than
 * "Postgres unavailable" 503: syntax and access rule violations (42), data exceptions (22),
 * integrity constraint violations (23).
 */
export function isAppError(err: unknown): boolean {
    return err instanceof DatabaseError && err.code !== undefined && /^(42|22|23)/.test(err.code);
}

export class TodoStore {
    readonly readWrite: Pool;
    readonly readOnly: Pool;
    private schema: Promise<void> | undefined;

    constructor(
        config: PostgresConfig,
        applicationName: string,
        private readonly hooks: PostgresHooks = {},
    ) {
        const pool = (port: number) => {
            const p = new Pool({
                host: config.host,
                port,
                database: config.database,
                user: config.user,
                // Read when a connection opens, so the password never sits in the config or the
                // environment, and a rotated secret file is picked up by new connections.
                password: config.passwordFile === null ? undefined : async () => readSecretFile(config.passwordFile!),
                application_name: applicationName.slice(0, 63),
                max: POOL_SIZE,
                connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
                idleTimeoutMillis: 10_000,
                statement_timeout: STATEMENT_TIMEOUT_MS,
                query_timeout: QUERY_TIMEOUT_MS,
                // A peer that vanished (a node lost, not a clean close) is noticed on idle connections too.
                keepAlive: true,
                keepAliveInitialDelayMillis: 5_000,
            });
            // An idle connection cut by the proxy or a restarting server is dropped from the pool;
            // without a listener the 'error' event would crash the process.
            p.on("error", () => {});
            return p;
        };
        this.readWrite = pool(config.port);
        this.readOnly = pool(config.readOnlyPort);
    }

    /**
     * Creates the table and its index if missing. Called at start; until it has worked once,
     * every write calls it again first, so an app started while Postgres was down catches up.
     * Waits for a leader as a write does.
     */
    ensureSchema(): Promise<void> {
        this.schema ??= this.withClient(this.readWrite, async (c) => {
            await c.query("begin");
            try {
                await c.query("select pg_advisory_xact_lock($1)", [SCHEMA_LOCK_KEY]);
                for (const sql of SCHEMA_SQL) await c.query(sql);
                await c.query("commit");
            } catch (err) {
                await c.query("rollback").catch(() => {});
                throw err;
            }
        }, LEADER_WAIT_MS).catch((err: unknown) => {
            this.schema = undefined;
            throw err;
        });
        return this.schema;
    }

    /**
     * Inserts a to-do on the leader. If the connection is cut after the statement was sent, the
     * insert may have committed without the answer reaching us; so the retry first looks for the
     * same title and seq and returns that row instead of writing it twice (without a seq a
     * duplicate stays possible in that narrow case). Waits up to LEADER_WAIT_MS for a leader.
     */
    async create(title: string, seq: number | null): Promise<Todo> {
        await this.ensureSchema();
        const insert = { text: `insert into todos (title, seq) values ($1, $2) returning ${COLUMNS}`, values: [title, seq] };
        return this.withClient(this.readWrite, async (c, attempt) => {
            if (attempt > 1 && seq !== null) {
                const found = await c.query(`select ${COLUMNS} from todos where seq = $1 and title = $2 order by id limit 1`, [seq, title]);
                if (found.rows[0]) return toTodo(found.rows[0]);
            }
            return toTodo((await c.query(insert)).rows[0]);
        }, LEADER_WAIT_MS);
    }

    /**
     * One to-do: from a replica (the read-only port), falling back to the leader when that
     * fails. A replica that does not have it yet may only be behind (a write acknowledged a
     * moment ago), so "absent" is confirmed on the leader before the answer is 404.
     */
    async get(id: number): Promise<Todo | null> {
        const query = async (c: PoolClient) => {
            try {
                const r = await c.query(`select ${COLUMNS} from todos where id = $1`, [id]);
                return r.rows[0] ? toTodo(r.rows[0]) : null;
            } catch (err) {
                if (err instanceof DatabaseError && err.code === "42P01") return null; // no table yet: no to-do
                throw err;
            }
        };
        let fromReplica: Todo | null = null;
        let replicaAnswered = false;
        try {
            fromReplica = await this.withClient(this.readOnly, query);
            replicaAnswered = true;
        } catch (err) {
            if (isAppError(err)) throw err;
        }
        if (fromReplica) return fromReplica;
        try {
            return await this.withClient(this.readWrite, query);
        } catch (err) {
            // The leader is unreachable but a replica answered: its "absent" is the best answer there is.
            if (replicaAnswered && !isAppError(err)) return null;
            throw err;
        }
    }

    /**
     * A page of to-dos with a seq above `afterSeq`, by seq. Read on the leader: this is how the
     * chaos benchmark checks that every acknowledged write survived, and a replica that is
     * behind would report some missing.
     */
    async list(afterSeq: number | null, limit: number): Promise<Todo[]> {
        return this.withClient(this.readWrite, async (c) => {
            try {
                const r = await c.query(
                    `select ${COLUMNS} from todos where seq is not null and ($1::bigint is null or seq > $1) order by seq, id limit $2`,
                    [afterSeq, limit],
                );
                return r.rows.map(toTodo);
            } catch (err) {
                if (err instanceof DatabaseError && err.code === "42P01") return [];
                throw err;
            }
        });
    }

    /** `select 1` on the leader: what /health/ready reports as postgres. */
    async ping(): Promise<void> {
        await this.withClient(this.readWrite, (c) => c.query("select 1"));
    }

    async close(): Promise<void> {
        await Promise.all([this.readWrite.end(), this.readOnly.end()]);
    }

    /**
     * Runs `work` on a pooled connection; once more on a fresh one if the connection was cut
     * under it. With `leaderWaitMs`, it goes on trying (connects included) while there is no
     * leader, until that long after the first try. A connection that breaks is destroyed, not
     * returned to the pool.
     */
    private async withClient<T>(pool: Pool, work: (c: PoolClient, attempt: number) => Promise<T>, leaderWaitMs = 0): Promise<T> {
        const giveUpAt = Date.now() + leaderWaitMs;
        /** Whether to try again after `err` on try `attempt`, having waited for the next try. */
        const tryAgain = async (err: unknown, attempt: number): Promise<boolean> => {
            const delay = LEADER_RETRY_DELAYS_MS[Math.min(attempt, LEADER_RETRY_DELAYS_MS.length) - 1];
            if (isLeaderAbsent(err) && Date.now() + delay < giveUpAt) {
                await sleep(delay);
                return true;
            }
            // Without a wait: one immediate retry of a cut statement, as before.
            return attempt === 1 && isConnectionCut(err);
        };
        for (let attempt = 1; ; attempt++) {
            let client: PoolClient;
            try {
                client = await pool.connect(); // a refused or slow connect is a fast 503 unless waiting for a leader
            } catch (err) {
                if (leaderWaitMs > 0 && (await tryAgain(err, attempt))) {
                    this.hooks.retry?.(err);
                    continue;
                }
                throw err;
            }
            // pg emits 'error' on a checked-out client whose socket dies, besides failing its
            // query; the pool listens only while the client is idle, and an unheard 'error'
            // would crash the process. The failed query carries the error to the catch below.
            client.on("error", ignore);
            try {
                const result = await work(client, attempt);
                client.off("error", ignore);
                client.release();
                return result;
            } catch (err) {
                // A server-reported error leaves the connection usable; anything else (a cut, a
                // client-side timeout with the statement still running) does not.
                const usable = err instanceof DatabaseError && !isConnectionCut(err);
                client.release(usable ? undefined : err instanceof Error ? err : new Error(String(err)));
                if (await tryAgain(err, attempt)) {
                    this.hooks.retry?.(err);
                    continue;
                }
                throw err;
            }
        }
    }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ignore(): void {}

interface TodoRow {
    id: string;
    title: string;
    seq: string | null;
    created_at: Date;
}

/** pg answers bigint as a string; ids and seqs stay far below 2^53, so numbers are exact. */
function toTodo(row: TodoRow): Todo {
    return {
        id: Number(row.id),
        title: row.title,
        seq: row.seq === null ? null : Number(row.seq),
        createdAt: row.created_at.toISOString(),
    };
}
