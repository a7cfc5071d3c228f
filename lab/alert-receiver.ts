/**
 * The lab's alert receiver: the webhook the lab stack's Alertmanagers post to
 * (`alertWebhookUrl`, http://<lab gateway>:19093/alerts), recording every notification with the
 * time it arrived. The lab tests and the alerts benchmark start one; `npm run lab:alerts`
 * runs one in the foreground and prints what arrives.
 *
 * Alertmanager's webhook body (version 4): { status: "firing" | "resolved", receiver,
 * groupLabels, alerts: [{ status, labels: { alertname, severity, ... }, annotations, startsAt,
 * endsAt }] }.
 */
import * as http from "node:http";
import { ALERT_RECEIVER_PORT, readHosts } from "./stack";
import { parseCli } from "../support/cli";

export interface ReceivedAlert {
    status: "firing" | "resolved";
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
}

export interface Notification {
    /** When it arrived (ms since the epoch). */
    at: number;
    status: "firing" | "resolved";
    receiver: string;
    alerts: ReceivedAlert[];
}

export class AlertReceiver {
    readonly notifications: Notification[] = [];
    private server?: http.Server;

    /** Listens on the lab gateway's address (where the nodes reach the host), or `host` given. */
    async start(host = readHosts().gateway, port = ALERT_RECEIVER_PORT): Promise<void> {
        this.server = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                if (req.method === "POST" && req.url === "/alerts") {
                    try {
                        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
                        this.notifications.push({ at: Date.now(), status: body.status, receiver: body.receiver, alerts: body.alerts ?? [] });
                        res.statusCode = 200;
                    } catch {
                        res.statusCode = 400;
                    }
                } else {
                    res.statusCode = 404;
                }
                res.end();
            });
        });
        await new Promise<void>((resolve, reject) => {
            this.server!.once("error", reject);
            this.server!.listen(port, host, () => resolve());
        });
    }

    async stop(): Promise<void> {
        if (this.server) await new Promise((r) => this.server!.close(r));
        this.server = undefined;
    }

    /** Every alert received (one per alert per notification), with the notification's arrival time. */
    alerts(): (ReceivedAlert & { at: number })[] {
        return this.notifications.flatMap((n) => n.alerts.map((a) => ({ ...a, at: n.at })));
    }

    /**
     * The first alert named `alertname` with `status` (and labels matching `labels`) that arrived
     * at or after `since`; waits up to `timeoutMs` for it. Throws, listing what did arrive, when none does.
     */
    async waitFor(alertname: string, opts: { status?: "firing" | "resolved"; since: number; timeoutMs: number; labels?: Record<string, string> }): Promise<ReceivedAlert & { at: number }> {
        const status = opts.status ?? "firing";
        const deadline = Date.now() + opts.timeoutMs;
        const match = () =>
            this.alerts().find(
                (a) => a.at >= opts.since && a.labels.alertname === alertname && a.status === status && Object.entries(opts.labels ?? {}).every(([k, v]) => a.labels[k] === v),
            );
        for (;;) {
            const found = match();
            if (found) return found;
            if (Date.now() > deadline) {
                const seen = this.alerts()
                    .filter((a) => a.at >= opts.since)
                    .map((a) => `${a.labels.alertname}(${a.status}${a.labels.node ? ` node=${a.labels.node}` : ""}${a.labels.service ? ` service=${a.labels.service}` : ""})`);
                throw new Error(`no ${status} ${alertname} notification within ${opts.timeoutMs / 1000}s; received since: ${seen.join(", ") || "nothing"}`);
            }
            await new Promise((r) => setTimeout(r, 250));
        }
    }
}

function describe(n: Notification): string {
    return n.alerts.map((a) => `${new Date(n.at).toISOString()} ${a.status.padEnd(8)} ${a.labels.alertname} ${a.labels.severity ?? ""} ${a.annotations.summary ?? ""}`).join("\n");
}

if (require.main === module) {
    // No flags: --help prints this, anything else is an error (not ignored).
    parseCli("npm run lab:alerts   (prints every notification the lab's Alertmanagers post, until Ctrl-C)", {});
    const receiver = new AlertReceiver();
    const original = receiver.notifications.push.bind(receiver.notifications);
    receiver.notifications.push = (...items: Notification[]) => {
        for (const n of items) console.log(describe(n));
        return original(...items);
    };
    receiver.start().then(
        () => console.log(`[lab] alert receiver on http://${readHosts().gateway}:${ALERT_RECEIVER_PORT}/alerts (Ctrl-C stops it)`),
        (e) => {
            console.error(`[lab] alert receiver: ${e.message}`);
            process.exit(1);
        },
    );
}
