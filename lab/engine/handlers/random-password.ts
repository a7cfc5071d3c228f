/** random:index/randomPassword:RandomPassword — as the random provider makes one, from a cryptographic source. */
import * as crypto from "node:crypto";
import type { Handler } from "./types";

const DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

/** A password as the random provider makes one: the minimums first, the rest from all allowed sets, shuffled. */
export function generatePassword(i: Record<string, any>): string {
    const sets: { chars: string; min: number }[] = [];
    if (i.lower !== false) sets.push({ chars: "abcdefghijklmnopqrstuvwxyz", min: i.minLower ?? 0 });
    if (i.upper !== false) sets.push({ chars: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", min: i.minUpper ?? 0 });
    if ((i.numeric ?? i.number) !== false) sets.push({ chars: "0123456789", min: i.minNumeric ?? 0 });
    if (i.special !== false) sets.push({ chars: i.overrideSpecial ?? DEFAULT_SPECIAL, min: i.minSpecial ?? 0 });
    const all = sets.map((s) => s.chars).join("");
    if (!all) throw new Error("random password: every character set is disabled");
    const out: string[] = [];
    for (const s of sets) for (let n = 0; n < s.min; n++) out.push(s.chars[crypto.randomInt(s.chars.length)]);
    while (out.length < i.length) out.push(all[crypto.randomInt(all.length)]);
    for (let k = out.length - 1; k > 0; k--) {
        const j = crypto.randomInt(k + 1);
        [out[k], out[j]] = [out[j], out[k]];
    }
    return out.join("");
}

export const randomPassword: Handler = {
    fields: ["length", "special", "upper", "lower", "numeric", "number", "minLower", "minUpper", "minNumeric", "minSpecial", "overrideSpecial", "keepers"],
    replaceOn: "all",
    secretOutputs: ["result"],
    async create(inputs) {
        // bcryptHash is not produced: nothing in swarm-ha reads it.
        return { id: "none", outputs: { result: generatePassword(inputs) } };
    },
};
