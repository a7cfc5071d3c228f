/**
 * The to-do endpoints, on Postgres with a Redis cache in front of reads:
 *
 *   POST /todos {title, seq?}   201 the to-do, written on the leader (the read-write port)
 *   GET  /todos/:id             from Redis (X-Cache: hit), else Postgres, then cached (X-Cache: miss)
 *   GET  /todos?afterSeq&limit  a page by seq, from the leader, never cached
 *
 * Degrading, not failing: Redis down → reads come from Postgres (slower, still correct) and
 * writes are unaffected; Postgres down → uncached reads answer 503 at once, writes after
 * waiting LEADER_WAIT_MS for a leader, naming Postgres, while cached reads still answer 200. To-dos never change once written, so a cached
 * copy can never be stale; the TTL only bounds Redis's memory.
 */
import type http from "node:http";
import type { TodoCache } from "./cache";
import { errorMessage, type Dependency } from "./dependencies";
import type { Logger } from "./log";
import type { AppMetrics } from "./metrics";
import { isAppError, type Todo, type TodoStore } from "./postgres";
import { sendJson } from "./respond";

export const MAX_BODY_BYTES = 16 * 1024;
export const MAX_TITLE_LENGTH = 1000;
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export interface TodoDeps {
    store: TodoStore;
    cache: TodoCache | null;
    postgres: Dependency;
    redis: Dependency | null;
    metrics: AppMetrics;
    log: Logger;
}

export class TodoHandlers {
    constructor(private readonly d: TodoDeps) {}

    async create(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const body = await readBody(req, MAX_BODY_BYTES);
        if (body === undefined) {
            res.setHeader("Connection", "close"); // the rest of the body is not read
            return sendJson(res, 413, { error: `the body must be at most ${MAX_BODY_BYTES} bytes` });
        }
        const input = parseTodoInput(body);
        if (typeof input === "string") return sendJson(res, 400, { error: input });
        try {
            const todo = await this.d.store.create(input.title, input.seq);
            this.d.postgres.up();
            res.setHeader("Location", `/todos/${todo.id}`);
            sendJson(res, 201, todo);
        } catch (err) {
            this.postgresFailed(res, "POST /todos", err);
        }
    }

    async get(rawId: string, res: http.ServerResponse): Promise<void> {
        const id = /^[1-9]\d{0,15}$/.test(rawId) ? Number(rawId) : NaN;
        if (!Number.isSafeInteger(id)) return sendJson(res, 400, { error: `the id must be a whole number above 0; got ${JSON.stringify(rawId.slice(0, 40))}` });
        const { cache, redis, metrics } = this.d;

        let cacheAnswered = false;
        if (cache && redis) {
            try {
                const cached = await cache.get(id);
                cacheAnswered = true;
                redis.up();
                if (cached) {
                    metrics.cacheLookup("hit");
                    res.setHeader("X-Cache", "hit");
                    return sendJson(res, 200, cached);
                }
            } catch (err) {
                metrics.dependencyError("redis");
                redis.down(err);
            }
            metrics.cacheLookup("miss");
        }
        res.setHeader("X-Cache", "miss");

        let todo: Todo | null;
        try {
            todo = await this.d.store.get(id);
            this.d.postgres.up();
        } catch (err) {
            return this.postgresFailed(res, "GET /todos/:id", err);
        }
        if (!todo) return sendJson(res, 404, { error: `no to-do ${id}` });
        if (cache && redis && cacheAnswered) {
            // Not awaited: the answer does not wait for the cache. Redis runs commands of one
            // connection in order, so a read that follows this one still finds it.
            cache.set(todo).catch((err: unknown) => {
                metrics.dependencyError("redis");
                redis.down(err);
            });
        }
        sendJson(res, 200, todo);
    }

    async list(url: URL, res: http.ServerResponse): Promise<void> {
        const afterRaw = url.searchParams.get("afterSeq") ?? "";
        const limitRaw = url.searchParams.get("limit") ?? "";
        const afterSeq = afterRaw === "" ? null : /^-?\d{1,16}$/.test(afterRaw) ? Number(afterRaw) : NaN;
        const limit = limitRaw === "" ? DEFAULT_PAGE : /^\d{1,4}$/.test(limitRaw) ? Number(limitRaw) : NaN;
        if (afterSeq !== null && !Number.isSafeInteger(afterSeq)) {
            return sendJson(res, 400, { error: `afterSeq must be a whole number; got ${JSON.stringify(afterRaw.slice(0, 40))}` });
        }
        if (!(limit >= 1 && limit <= MAX_PAGE)) {
            return sendJson(res, 400, { error: `limit must be a whole number from 1 to ${MAX_PAGE}; got ${JSON.stringify(limitRaw.slice(0, 40))}` });
        }
        try {
            const todos = await this.d.store.list(afterSeq, limit);
            this.d.postgres.up();
            // Where the next page starts; null once this page is the last.
            const last = todos[todos.length - 1];
            sendJson(res, 200, { todos, nextAfterSeq: todos.length === limit && last ? last.seq : null });
        } catch (err) {
            this.postgresFailed(res, "GET /todos", err);
        }
    }

    /** 503 naming Postgres when it is unavailable; 500 (logged) when the statement itself was wrong. */
    private postgresFailed(res: http.ServerResponse, route: string, err: unknown): void {
        if (isAppError(err)) {
            this.d.log("request-error", { route, error: errorMessage(err) });
            return sendJson(res, 500, { error: "internal error" });
        }
        this.d.metrics.dependencyError("postgres");
        this.d.postgres.down(err);
        sendJson(res, 503, { error: `Postgres is unavailable: ${errorMessage(err)}`, dependency: "postgres" });
    }
}

/** The body validated, or a message saying what is wrong with it. */
export function parseTodoInput(body: string): { title: string; seq: number | null } | string {
    let value: unknown;
    try {
        value = JSON.parse(body);
    } catch {
        return 'the body must be JSON: {"title": "…", "seq": 1}';
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return 'the body must be a JSON object: {"title": "…", "seq": 1}';
    const { title, seq } = value as Record<string, unknown>;
    if (typeof title !== "string" || title.trim() === "" || title.length > MAX_TITLE_LENGTH) {
        return `title must be a non-empty string of at most ${MAX_TITLE_LENGTH} characters`;
    }
    if (seq !== undefined && seq !== null && !(typeof seq === "number" && Number.isSafeInteger(seq))) {
        return "seq, when given, must be a whole number";
    }
    return { title, seq: typeof seq === "number" ? seq : null };
}

/** The request body as text, or undefined once it passes `limit` bytes. */
function readBody(req: http.IncomingMessage, limit: number): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const onData = (chunk: Buffer) => {
            size += chunk.length;
            if (size > limit) {
                req.off("data", onData);
                req.resume(); // let the rest go by without holding it
                resolve(undefined);
                return;
            }
            chunks.push(chunk);
        };
        req.on("data", onData);
        req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        req.on("error", reject);
    });
}
