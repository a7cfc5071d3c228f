/**
 * Readiness: a registry of named checks, each an async function that answers `ready` or
 * `notReady(detail)`. /health/ready runs them all at once; the app gets traffic only while
 * every one passes. A check that throws fails with the error's message, and one that takes
 * longer than the registry's timeout fails too, so a hung dependency cannot hang the probe.
 *
 *     app.readiness.add("reference-data", async () => {
 *         await loadReferenceData();             // throws → failing with the error message
 *         return ready;
 *     });
 *
 * Only for what belongs to this replica: a dependency every replica shares (Postgres, Redis)
 * would fail them all at once, so the data tier reports those beside the checks instead.
 */
export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly detail: string };
export type ReadinessCheck = () => Promise<CheckResult>;

export const ready: CheckResult = Object.freeze({ ok: true });
export function notReady(detail: string): CheckResult {
    return { ok: false, detail };
}

export interface FailingCheck {
    check: string;
    detail: string;
}
export interface ReadinessReport {
    ready: boolean;
    /** Every check by name, in registration order. */
    checks: Record<string, "ok" | "failing">;
    failing: FailingCheck[];
}

export const DEFAULT_CHECK_TIMEOUT_MS = 2000;

export class ReadinessRegistry {
    private readonly checks = new Map<string, ReadinessCheck>();

    constructor(private readonly timeoutMs: number = DEFAULT_CHECK_TIMEOUT_MS) {}

    /** Registers a check; names are unique (lower case, digits, '-' and '_'). */
    add(name: string, check: ReadinessCheck): this {
        if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`readiness check name ${JSON.stringify(name)} must be lower case letters, digits, '-' or '_'`);
        if (this.checks.has(name)) throw new Error(`readiness check ${JSON.stringify(name)} is already registered`);
        this.checks.set(name, check);
        return this;
    }

    remove(name: string): boolean {
        return this.checks.delete(name);
    }

    names(): string[] {
        return [...this.checks.keys()];
    }

    async run(): Promise<ReadinessReport> {
        const entries = [...this.checks];
        const results = await Promise.all(entries.map(([, check]) => this.runOne(check)));
        const report: ReadinessReport = { ready: true, checks: {}, failing: [] };
        entries.forEach(([name], i) => {
            const r = results[i]!;
            report.checks[name] = r.ok ? "ok" : "failing";
            if (!r.ok) {
                report.ready = false;
                report.failing.push({ check: name, detail: r.detail });
            }
        });
        return report;
    }

    private async runOne(check: ReadinessCheck): Promise<CheckResult> {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<CheckResult>((resolve) => {
            timer = setTimeout(() => resolve(notReady(`did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        });
        try {
            const result = await Promise.race([Promise.resolve().then(check), timeout]);
            if (result && typeof result === "object" && (result.ok === true || (result.ok === false && typeof result.detail === "string"))) return result;
            return notReady("check returned neither ready nor notReady(detail)");
        } catch (err) {
            return notReady(err instanceof Error ? err.message || err.name : String(err));
        } finally {
            clearTimeout(timer);
        }
    }
}
