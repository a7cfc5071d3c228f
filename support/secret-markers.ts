/**
 * Pulumi's secret marker as it travels between the SDK and a mock (`pulumi.runtime.Mocks`):
 * a secret value arrives wrapped as `{ [SIG_KEY]: SECRET_SIG, value }`. Shared by the unit
 * tier's recording mock and the lab engine.
 */

export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecret(v: unknown): v is { value: unknown } {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

export function makeSecret<T>(value: T): { value: T } {
    return { [SIG_KEY]: SECRET_SIG, value } as unknown as { value: T };
}

/** The plain value, with every secret marker removed (for performing a resource). */
export function reveal(v: any): any {
    if (isSecret(v)) return reveal(v.value);
    if (Array.isArray(v)) return v.map(reveal);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
    return v;
}

export function containsSecret(v: unknown): boolean {
    if (isSecret(v)) return true;
    if (Array.isArray(v)) return v.some(containsSecret);
    if (v && typeof v === "object") return Object.values(v).some(containsSecret);
    return false;
}

