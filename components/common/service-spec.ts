/**
 * The blocks every tier's docker.Service is made of, written once, in the form the Docker
 * provider reads back from Docker: a service whose inputs differ from that form is updated
 * (and its tasks may roll) on every `pulumi up`. Durations go through `goDuration` ("60s"
 * would come back as "1m"); the failure ratio is "0.0" as the provider prints it.
 * Times are given in seconds.
 */
import { goDuration } from "./go-duration";

export { goDuration } from "./go-duration";

/**
 * The least stop grace period swarm-ha gives a service. The Docker provider's delete waits for
 * each task container on its own engine to be REMOVED within the service's stop grace period,
 * and fails the step when one is not (terraform-provider-docker v4.5.0
 * resource_docker_service_funcs.go:297-341), after the service is gone: then every later run
 * fails on it too. Removal comes some seconds after the process exits (7 s on the loaded lab
 * for a container that stopped in 0.2 s), so a grace of a few seconds fails `pulumi destroy`
 * even for a process that stops at once. Every swarm-ha process exits on SIGTERM within a
 * few seconds (measured on the lab), so the longer bound costs nothing unless one hangs.
 */
export const MIN_STOP_GRACE_SECONDS = 30;

/** A stop grace period of at least `seconds` and at least MIN_STOP_GRACE_SECONDS. */
export function stopGrace(seconds: number): string {
    return goDuration(Math.max(seconds, MIN_STOP_GRACE_SECONDS));
}

/** A rolling update (or rollback) policy: one task at a time. */
export function updatePolicy(o: { order: "start-first" | "stop-first"; failureAction: "rollback" | "pause" | "continue"; monitorSeconds: number; delaySeconds?: number }) {
    return { parallelism: 1, order: o.order, delay: goDuration(o.delaySeconds ?? 0), monitor: goDuration(o.monitorSeconds), failureAction: o.failureAction, maxFailureRatio: "0.0" };
}

/** The update policy and its rollback: a failed update rolls back; a failed rollback pauses. */
export function rollingPolicies(o: { order: "start-first" | "stop-first"; monitorSeconds: number; delaySeconds?: number }) {
    return { updateConfig: updatePolicy({ ...o, failureAction: "rollback" }), rollbackConfig: updatePolicy({ ...o, failureAction: "pause" }) };
}

/** Restart a task whatever ended it, after `delaySeconds`, without limit. */
export function restartAlways(delaySeconds: number) {
    return { condition: "any", delay: goDuration(delaySeconds), maxAttempts: 0, window: "0s" };
}

/** A container health check; `tests` as Docker takes them (["CMD", ...] or ["CMD-SHELL", "..."]). */
export function healthcheck(tests: string[], o: { intervalSeconds: number; timeoutSeconds: number; retries: number; startPeriodSeconds: number }) {
    return { tests, interval: goDuration(o.intervalSeconds), timeout: goDuration(o.timeoutSeconds), retries: o.retries, startPeriod: goDuration(o.startPeriodSeconds) };
}

/**
 * How long the provider waits for a created or updated service to run: its first look after
 * `delaySeconds`, then at least every 5 s, until `timeoutSeconds` (then a new service is
 * deleted and the step fails).
 */
export function converge(delaySeconds: number, timeoutSeconds: number) {
    return { delay: goDuration(delaySeconds), timeout: goDuration(timeoutSeconds) };
}

/** Docker labels, as the provider's list of {label, value}. */
export function labelList(labels: Record<string, string>) {
    return Object.entries(labels).map(([label, value]) => ({ label, value }));
}
