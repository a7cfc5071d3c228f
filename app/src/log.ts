/** One JSON line per lifecycle event on stdout (no per-request logs). */
export type Logger = (event: string, fields?: Record<string, unknown>) => void;

export function jsonLogger(write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
    return (event, fields = {}) => write(JSON.stringify({ event, time: new Date().toISOString(), ...fields }) + "\n");
}
