/**
 * The backup service's environment: typed input in, `Record<string, string>` out, no Pulumi
 * inside. It is what images/backup's entrypoint (swarm-ha-backup) reads for its schedule,
 * retention and metrics; the component (./index.ts) adds where Postgres is (PGHOST, PGPORT,
 * PGUSER) and the password's Docker secret file (PGPASSWORD_FILE).
 *
 * No secret ever goes in here: `docker inspect` shows a service's environment to anyone who
 * can reach the Docker API. The password reaches the container only as a secret file.
 */

/** The port the backup service serves `/metrics` (Prometheus text) and `/status.json` on. */
export const BACKUP_METRICS_PORT = 9187;

/** The longest interval accepted: backups rarer than weekly leave the age alert meaningless. */
export const MAX_BACKUP_INTERVAL_MINUTES = 7 * 24 * 60;

/** The most backups `keep` may ask for: far more than any volume should hold. */
export const MAX_BACKUP_KEEP = 1000;

/** Everything the backup service's own settings depend on. */
export interface BackupEnvInput {
    /**
     * Minutes between the starts of two backups (whole minutes, at least 1). A failed backup
     * is retried at the next one; a restarted service waits one interval after its last
     * attempt rather than backing up at once.
     * @example 60
     */
    intervalMinutes: number;
    /**
     * How many good backups (those whose restore check passed) to keep, newest first. A failed
     * backup never deletes one.
     * @example 7
     */
    keep: number;
    /**
     * The database to back up. It also names the files: `<database>-<UTC time>.dump`. Letters,
     * digits, '_' and '-', not starting with a digit or '-' (what the entrypoint accepts).
     * @example "app"
     */
    database: string;
}

/** What the entrypoint accepts as PGDATABASE (images/backup/lib.sh `valid_dbname`). */
const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;

/**
 * Renders the backup service's environment: BACKUP_INTERVAL_SECONDS, BACKUP_KEEP, PGDATABASE
 * and METRICS_PORT, in that order.
 *
 * Throws when an input is out of range or malformed, naming every field at fault.
 * @example renderBackupEnv({ intervalMinutes: 60, keep: 7, database: "app" })
 * // { BACKUP_INTERVAL_SECONDS: "3600", BACKUP_KEEP: "7", PGDATABASE: "app", METRICS_PORT: "9187" }
 */
export function renderBackupEnv(input: BackupEnvInput): Record<string, string> {
    validate(input);
    return {
        BACKUP_INTERVAL_SECONDS: String(input.intervalMinutes * 60),
        BACKUP_KEEP: String(input.keep),
        PGDATABASE: input.database,
        METRICS_PORT: String(BACKUP_METRICS_PORT),
    };
}

function validate(input: BackupEnvInput): void {
    const problems: string[] = [];
    const check = (field: string, ok: boolean, message: string) => {
        if (!ok) problems.push(`${field}: ${message}`);
    };
    const { intervalMinutes, keep, database } = input ?? ({} as BackupEnvInput);
    check(
        "intervalMinutes",
        Number.isInteger(intervalMinutes) && intervalMinutes >= 1 && intervalMinutes <= MAX_BACKUP_INTERVAL_MINUTES,
        `must be a whole number of minutes from 1 to ${MAX_BACKUP_INTERVAL_MINUTES} (a week), e.g. 60 (got ${show(intervalMinutes)})`,
    );
    check(
        "keep",
        Number.isInteger(keep) && keep >= 1 && keep <= MAX_BACKUP_KEEP,
        `must be a whole number from 1 to ${MAX_BACKUP_KEEP}: how many good backups to keep, e.g. 7 (got ${show(keep)})`,
    );
    check(
        "database",
        typeof database === "string" && DATABASE_NAME.test(database),
        `must be 1-63 letters, digits, '_' or '-', not starting with a digit or '-', e.g. app (got ${show(database)})`,
    );
    if (problems.length) throw new Error(`swarm-ha: backups: cannot render the service's environment:\n  ${problems.join("\n  ")}`);
}

/** A value for an error message: strings quoted with escapes, so a newline shows as \n. */
function show(value: unknown): string {
    return value === undefined ? "nothing" : typeof value === "number" && !Number.isFinite(value) ? String(value) : JSON.stringify(value);
}
