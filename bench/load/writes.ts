/**
 * Numbered writes for the chaos and day-two benchmarks: POST {title, seq} to a URL at a fixed
 * rate, open loop (each write its own request, never retried, sent on schedule whether or not
 * the earlier ones answered), keeping every write's outcome so that acknowledged writes can be
 * looked up afterwards. Node's `fetch`, no dependency.
 */

export interface NumberedWrite {
    seq: number;
    /** When it was sent and when its answer (or failure) came, ms since the writer started. */
    sentAt: number;
    doneAt: number;
    /** A 201: the server acknowledged it (so it must be stored). */
    ok: boolean;
    /**
     * Why it failed: "HTTP 503 postgres" (the app's answer names the dependency it lacked),
     * "HTTP 503" (an answer that names none, e.g. the edge's own), "timeout", or the socket
     * error's code (ECONNRESET...).
     */
    error?: string;
}

/** A failed fetch, in a word: "timeout", or the code of the socket error under it. */
function failure(e: unknown): string {
    const err = e as Error & { cause?: { code?: string } };
    if (err.name === "TimeoutError" || err.name === "AbortError") return "timeout";
    return err.cause?.code ?? err.message;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** " postgres" when the body is the app's JSON error naming that dependency; "" otherwise. */
function dependencyNamed(body: string): string {
    try {
        const { dependency } = JSON.parse(body) as { dependency?: unknown };
        return typeof dependency === "string" ? ` ${dependency}` : "";
    } catch {
        return "";
    }
}

/**
 * How long a numbered write may take: a client's timeout, above the app's wait for a Postgres
 * leader (LEADER_WAIT_MS, 8 s), so that a write the app holds through a leader change counts as
 * the slow success it is; a write the app gives up on still comes back as its 503.
 */
export const WRITE_TIMEOUT_MS = 15_000;

/** The slowest acknowledged write, in seconds (0 when none was acknowledged). */
export function slowestAcknowledgedS(writes: NumberedWrite[]): number {
    return Math.max(0, ...writes.filter((w) => w.ok).map((w) => w.doneAt - w.sentAt)) / 1000;
}

/**
 * Writes `{title: "<titlePrefix> <seq>", seq}` to `url` for seq = base + 1, base + 2, ... at
 * `perSecond` until stopped; `stop()` waits for the writes in flight and sorts them by seq.
 */
export function numberedWriter(url: string, base: number, perSecond = 10, timeoutMs = WRITE_TIMEOUT_MS, titlePrefix = "chaos write") {
    const writes: NumberedWrite[] = [];
    const t0 = Date.now();
    let stopped = false;
    const pending = new Set<Promise<void>>();
    const post = (seq: number) =>
        fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ title: `${titlePrefix} ${seq}`, seq }),
            signal: AbortSignal.timeout(timeoutMs),
        }).then(
            async (r) => {
                const body = await r.text().catch(() => "");
                return r.status === 201 ? {} : { error: `HTTP ${r.status}${dependencyNamed(body)}` };
            },
            (e: unknown) => ({ error: failure(e) }),
        );
    const done = (async () => {
        for (let seq = base + 1; !stopped; seq++) {
            const sentAt = Date.now() - t0;
            const p: Promise<void> = post(seq).then(({ error }) => {
                writes.push({ seq, sentAt, doneAt: Date.now() - t0, ok: error === undefined, ...(error === undefined ? {} : { error }) });
                pending.delete(p);
            });
            pending.add(p);
            await sleep(Math.max(0, (seq - base) * (1000 / perSecond) - (Date.now() - t0)));
        }
        await Promise.all(pending);
    })();
    return {
        t0,
        writes,
        stop: async () => {
            stopped = true;
            await done;
            writes.sort((a, b) => a.seq - b.seq);
        },
    };
}
