/**
 * How a bridged Terraform provider (the Docker provider) decides that a resource changed: it
 * compares the program's new inputs with the state it READ BACK from Docker after the last
 * create or update, field by field, by the rules of its schema (terraform-plugin-sdk v2,
 * helper/schema/schema.go `diff`, `diffList`, `diffMap`, `diffSet`, `diffString`):
 *
 * - a field the config leaves out is compared as its schema Default, or as its type's zero
 *   value ("", 0, false, empty list/map/set), unless the field is Optional+Computed: then the
 *   state's value stands and there is no diff (schema.go:1187-1201, `Computed && !ok`);
 * - a TypeMap is compared whole: a key the state has and the config lacks is a change
 *   (schema.go `diffMap`, from line 1463: options.% count and NewRemoved keys);
 * - a TypeSet is compared by the hash of each element, so its order never matters, and an
 *   element's left-out fields count as their defaults (schema.HashResource over the element
 *   with defaults applied);
 * - a TypeList is compared element by element, in order;
 * - a scalar is compared as a string; a DiffSuppressFunc may call two values equal.
 *
 * The engine uses this for every resource whose handler reads state back (`readBack`);
 * resources of the command and random providers compare inputs with stored inputs, as
 * pulumi-go-provider's default diff and the random provider do.
 */

export interface StateSchema {
    /** Optional+Computed fields (dotted paths; a list of blocks continues with its element's keys). */
    computed?: string[];
    /** Schema defaults of fields the config may leave out. */
    defaults?: Record<string, unknown>;
    /** TypeMap fields. */
    maps?: string[];
    /** TypeSet fields. */
    sets?: string[];
    /** DiffSuppressFuncs: equal by the provider's own rule. */
    suppress?: Record<string, (config: unknown, state: unknown) => boolean>;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** A Go zero value, as a config that leaves a field out reads. */
function isEmpty(v: unknown): boolean {
    if (v === undefined || v === null || v === "" || v === 0 || v === false) return true;
    if (Array.isArray(v)) return v.length === 0;
    if (isObject(v)) return Object.values(v).every(isEmpty);
    return false;
}

/** Key-order-independent JSON of a value with its zero-valued fields dropped (a set element's hash input). */
function canonical(v: unknown): string {
    if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
    if (isObject(v)) {
        return `{${Object.keys(v)
            .filter((k) => !isEmpty(v[k]))
            .sort()
            .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(typeof v === "number" ? String(v) : v);
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** A set element with the schema defaults of its left-out fields, as the provider hashes it. */
function withDefaults(element: unknown, path: string, schema: StateSchema): unknown {
    if (!isObject(element)) return element;
    const out: Record<string, unknown> = { ...element };
    for (const [p, value] of Object.entries(schema.defaults ?? {})) {
        if (!p.startsWith(`${path}.`)) continue;
        const key = p.slice(path.length + 1);
        if (!key.includes(".") && out[key] === undefined) out[key] = value;
    }
    return out;
}

/** Does `config` (the new inputs at `path`) differ from `state` (the read-back state there)? */
export function differs(config: unknown, state: unknown, path: string, schema: StateSchema): boolean {
    if (config === undefined || config === null) {
        if (schema.computed?.includes(path)) return false;
        if (path in (schema.defaults ?? {})) config = schema.defaults![path];
        else return !isEmpty(state);
    }
    const suppress = schema.suppress?.[path];
    if (suppress && state !== undefined && suppress(config, state)) return false;
    if (schema.maps?.includes(path)) return canonicalMap(config) !== canonicalMap(state);
    if (schema.sets?.includes(path)) {
        const hashes = (v: unknown) => (Array.isArray(v) ? v : []).map((e) => canonical(withDefaults(e, path, schema))).sort();
        return JSON.stringify(hashes(config)) !== JSON.stringify(hashes(state));
    }
    if (Array.isArray(config)) {
        const s = Array.isArray(state) ? state : [];
        if (s.length !== config.length) return !(config.length === 0 && s.length === 0);
        return config.some((c, i) => differs(c, s[i], path, schema));
    }
    if (isObject(config)) {
        const s = isObject(state) ? state : {};
        const keys = new Set([...Object.keys(config), ...Object.keys(s)]);
        return [...keys].some((k) => differs(config[k], s[k], join(path, k), schema));
    }
    if (state === undefined || state === null) return !isEmpty(config);
    return String(config) !== String(state);
}

/** A TypeMap's entries, compared whole (every key counts, values as strings). */
function canonicalMap(v: unknown): string {
    const m = isObject(v) ? v : {};
    return JSON.stringify(Object.keys(m).sort().map((k) => [k, String(m[k])]));
}

/** The top-level inputs whose new value differs from the read-back state. */
export function changedFields(config: Record<string, unknown>, state: Record<string, unknown>, schema: StateSchema): string[] {
    const keys = new Set([...Object.keys(config), ...Object.keys(state)]);
    return [...keys].filter((k) => differs(config[k], state[k], k, schema));
}

/** Does the value at a nested `path` (e.g. "taskSpec.networksAdvanceds") differ? */
export function pathDiffers(config: Record<string, unknown>, state: Record<string, unknown>, path: string, schema: StateSchema): boolean {
    const at = (v: unknown) => path.split(".").reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), v);
    return differs(at(config), at(state), path, schema);
}
