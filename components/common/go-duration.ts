/**
 * Durations the way the Docker provider reads them back. The provider sends a duration string
 * to Docker as nanoseconds and reads it back through its `shortDur` (Go's
 * `time.Duration.String()`, with a trailing "0s" or "0m" cut): "60s" comes back as "1m",
 * "90s" as "1m30s", "1000ms" as "1s". A field written in any other form differs from what the
 * provider reads back, so every `pulumi up` updates the service again
 * (kreuzwerker/terraform-provider-docker v4.5.0, internal/provider/resource_docker_service_structures.go:1341-1350).
 * Every duration in a service spec is therefore written with `goDuration`.
 *
 * No Pulumi in here: the lab engine parses and prints durations with the same functions.
 */

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's `time.ParseDuration` for the unsigned forms swarm-ha uses; nanoseconds. */
export function parseGoDuration(d: string): number {
    if (d === "0") return 0;
    const parts = [...d.matchAll(/(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join("") !== d) throw new Error(`'${d}' is not a Go duration (e.g. 10s, 1m30s)`);
    return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_NS[p[2]], 0));
}

/** `n / unit` with its fraction, trailing zeros dropped, as Go's fmtFrac/fmtInt print it. */
function withFraction(n: number, unit: number): string {
    const whole = Math.floor(n / unit);
    const rest = n - whole * unit;
    if (rest === 0) return String(whole);
    const digits = String(unit).length - 1;
    return `${whole}.${String(rest).padStart(digits, "0").replace(/0+$/, "")}`;
}

/** Go's `time.Duration.String()` of `ns` nanoseconds (non-negative). */
export function formatGoDuration(ns: number): string {
    if (!Number.isInteger(ns) || ns < 0) throw new Error(`a duration must be a whole, non-negative number of nanoseconds (got ${ns})`);
    if (ns === 0) return "0s";
    if (ns < 1e3) return `${ns}ns`;
    if (ns < 1e6) return `${withFraction(ns, 1e3)}µs`;
    if (ns < 1e9) return `${withFraction(ns, 1e6)}ms`;
    const hours = Math.floor(ns / 3600e9);
    const minutes = Math.floor((ns - hours * 3600e9) / 60e9);
    const seconds = `${withFraction(ns - hours * 3600e9 - minutes * 60e9, 1e9)}s`;
    if (hours > 0) return `${hours}h${minutes}m${seconds}`;
    if (minutes > 0) return `${minutes}m${seconds}`;
    return seconds;
}

/** The provider's `shortDur`: Go's form with a trailing "0s" after minutes, then "0m" after hours, cut. */
export function shortDur(ns: number): string {
    let s = formatGoDuration(ns);
    if (s.endsWith("m0s")) s = s.slice(0, -2);
    if (s.endsWith("h0m")) s = s.slice(0, -2);
    return s;
}

/**
 * A service spec duration of `seconds`, in the form the Docker provider reads back, so that
 * an unchanged stack shows no diff: `goDuration(60)` is "1m", `goDuration(0.5)` "500ms".
 */
export function goDuration(seconds: number): string {
    return shortDur(Math.round(seconds * 1e9));
}
