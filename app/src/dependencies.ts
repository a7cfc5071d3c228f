/**
 * The data tier's dependencies (Postgres, Redis) as /health/ready reports them: "ok" or
 * "down: <why>". They are reported, never turned into not-ready: every replica shares the same
 * Postgres and Redis, so failing readiness on them would take every replica out of HAProxy at
 * once, and the app still serves what it can (cached reads without Postgres, everything without
 * Redis). Each dependency logs one line when its state changes, not one per failed request.
 */
import type { Logger } from "./log";
import type { DependencyName } from "./metrics";

/** How long a probe may take: well inside the 2 s the health checks give /health/ready. */
export const PROBE_TIMEOUT_MS = 800;

export type DependencyStatus = "ok" | `down: ${string}`;

export class Dependency {
    private state: "unknown" | "up" | "down" = "unknown";
    private inFlight: Promise<DependencyStatus> | undefined;

    constructor(
        readonly name: DependencyName,
        private readonly ping: () => Promise<void>,
        private readonly log: Logger,
        private readonly timeoutMs: number = PROBE_TIMEOUT_MS,
    ) {}

    /** Something worked: logs `dependency-up` if it was down (or not yet seen). */
    up(): void {
        if (this.state === "up") return;
        this.state = "up";
        this.log("dependency-up", { dependency: this.name });
    }

    /** Something failed: logs `dependency-down` with why, if it was up (or not yet seen). */
    down(err: unknown): void {
        if (this.state === "down") return;
        this.state = "down";
        this.log("dependency-down", { dependency: this.name, error: errorMessage(err) });
    }

    /**
     * Pings it, at most `timeoutMs`. Probes that arrive while one runs share its answer, so a
     * burst of health checks against a hung dependency opens one connection, not one each.
     */
    probe(): Promise<DependencyStatus> {
        this.inFlight ??= this.runProbe().finally(() => (this.inFlight = undefined));
        return this.inFlight;
    }

    private async runProbe(): Promise<DependencyStatus> {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_resolve, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        });
        try {
            await Promise.race([this.ping(), timeout]);
            this.up();
            return "ok";
        } catch (err) {
            this.down(err);
            return `down: ${errorMessage(err)}`;
        } finally {
            clearTimeout(timer);
        }
    }
}

/** An error's message (its code when it has none: Node's AggregateError for a refused dual-stack connect). */
export function errorMessage(err: unknown): string {
    if (err instanceof Error) {
        if (err.message) return err.message;
        const code = (err as NodeJS.ErrnoException).code;
        if (code) return code;
        if (err instanceof AggregateError && err.errors.length > 0) return errorMessage(err.errors[0]);
        return err.name;
    }
    return String(err);
}
