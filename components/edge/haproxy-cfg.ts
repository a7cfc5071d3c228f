/**
 * The edge tier's haproxy.cfg: typed input in, config text out, no Pulumi inside.
 *
 * The text is delivered as a Docker config file to the HAProxy container on each edge node
 * (HAProxy 2.6 from Debian bookworm, or the official 2.8 image). That container is attached to
 * the stack's overlay networks, publishes its ports in host mode, and finds the app's tasks
 * through Docker's embedded DNS. Why each value that is not HAProxy's default was chosen is
 * said in a comment next to it, in the rendered text, so it can be read where it runs.
 *
 * Secrets never enter the text: the stats password is read by HAProxy from an environment
 * variable the container's entrypoint fills from a Docker secret file.
 */
import { dockerDnsResolvers } from "../common/haproxy-resolvers";

/** TLS termination on the edge. */
export interface HaproxyTlsInput {
    /**
     * The port HTTPS is served on inside the container. Plain HTTP is redirected to
     * `https://<same host>/…`, i.e. to port 443 as the client sees it, so publish it as 443.
     * @example 443
     */
    port: number;
    /**
     * Absolute path, inside the container, of one PEM file holding the certificate chain and
     * its private key (a Docker secret).
     * @example "/run/secrets/swarm-ha-edge-tls"
     */
    certPath: string;
}

/** Everything haproxy.cfg depends on. */
export interface HaproxyConfigInput {
    /**
     * The edge node this HAProxy runs on. HAProxy's `node` name: shown on the stats page, so
     * the page says which node holds the VIP. Letters, digits, '-' and '_'.
     * @example "manager-1"
     */
    nodeName: string;
    /**
     * The app service's DNS name on the overlay network (its Docker service name). HAProxy
     * resolves `tasks.<appHost>`, which lists the IP of every healthy task.
     * @example "swarm-ha-app"
     */
    appHost: string;
    /**
     * The port the app listens on inside its tasks.
     * @example 8080
     */
    appPort: number;
    /**
     * Server slots HAProxy keeps for app tasks (`server-template app 1-<n>`). Use twice the
     * most replicas the app will have: a start-first rolling update runs each new task beside
     * the old one it replaces, and a slot is needed for every task DNS lists, or the extra
     * tasks get no traffic.
     * @example 8 // 4 replicas × 2
     */
    maxAppServers: number;
    /**
     * The port plain HTTP is served on.
     * @example 80
     */
    httpPort: number;
    /** HTTPS. When set, every plain HTTP request is redirected to HTTPS. */
    tls?: HaproxyTlsInput;
    /**
     * The port of the stats page (`/stats`) and of HAProxy's built-in Prometheus exporter
     * (`/metrics`), both behind HTTP basic auth.
     * @example 8404
     */
    statsPort: number;
    /**
     * The basic-auth user of the stats page and metrics.
     * @example "admin"
     */
    statsUser: string;
    /**
     * The NAME of the environment variable that holds the stats password. The container's
     * entrypoint fills it from the Docker secret file before HAProxy starts; HAProxy expands
     * `"${NAME}"` while parsing, so the password itself never appears in this file. HAProxy
     * refuses to start when the variable is unset or empty.
     * @example "STATS_PASSWORD"
     */
    statsPasswordEnv: string;
    /**
     * The port of `/healthz`: 200 while at least one app server is up, 503 when none is.
     * keepalived's track script polls it, so the VIP leaves a node whose HAProxy cannot serve.
     * @example 8405
     */
    healthPort: number;
    /**
     * Admin UIs served on their own ports (the monitoring tier's Grafana, Prometheus,
     * Alertmanager), each sent to the tasks of a service on a network HAProxy shares. With
     * `auth`, a UI is behind the stats user and password (the header is not passed on); without
     * it, the UI must have its own login (Grafana).
     */
    adminRoutes?: AdminRoute[];
}

/** One admin UI behind HAProxy. */
export interface AdminRoute {
    /** The frontend's and backend's name. @example "prometheus" */
    name: string;
    /** The port it is served on. @example 9090 */
    port: number;
    /** The service's DNS name; HAProxy resolves `tasks.<host>`. @example "swarm-ha-prometheus" */
    host: string;
    /** The port it listens on in its tasks. @example 9090 */
    targetPort: number;
    /** Its readiness path, for HAProxy's checks. @example "/-/ready" */
    checkPath: string;
    /** Behind the stats user and password. */
    auth: boolean;
    /** The most tasks it runs (server slots). @example 2 */
    maxServers: number;
}

/** HAProxy's `node` name rule: "only letters, digits, hyphen and underscore". */
const NODE_NAME = /^[A-Za-z0-9_-]{1,63}$/;
/** A DNS name: dot-separated labels of letters, digits and inner hyphens. */
const DNS_NAME = /^(?=.{1,240}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** A basic-auth user name: no ':' (it ends the user in the Authorization header), no spaces, no quotes. */
const USER_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** HAProxy's rule for environment variable names in `"${NAME}"`. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** An absolute path HAProxy reads as one word: no spaces, quotes, '#', '$' or backslashes. */
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._/-]+$/;
/** The most slots `maxAppServers` may ask for: far above any replica count this stack runs. */
export const MAX_APP_SERVERS = 1000;

/**
 * HAProxy's server slots for an app of `replicas` tasks: two per task (a rolling update runs a
 * new task beside each old one), rounded up to a multiple of 8. Scaling the app within a block
 * of 4 replicas then leaves haproxy.cfg, and so every edge HAProxy, as it is. A slot no task
 * fills costs next to nothing: it has no address, so it is in maintenance and never checked.
 */
export function appServerSlots(replicas: number): number {
    return Math.ceil((2 * replicas) / 8) * 8;
}

/** The runtime API's socket inside the container. */
export const ADMIN_SOCKET = "/tmp/haproxy-admin.sock";

/** The app's readiness endpoint (app/src/server.ts): 503 while the task starts or drains. */
export const APP_READY_PATH = "/health/ready";

/**
 * How long a stopping HAProxy keeps serving with /healthz failed (`grace`), so that the VIP has
 * moved before its listeners close. keepalived gives the VIP up after its check fails `fall` (2)
 * times at `interval` (1 s), and the next node takes it within a few adverts (0.5 s each): about
 * 2.5 s at worst. 4 s leaves room for a slow check on a loaded node.
 */
export const STOP_DRAIN_SECONDS = 4;
/**
 * How long a client's idle keep-alive connection stays open (`timeout http-keep-alive`), said to
 * clients in each answer's Keep-Alive header: the clients that read it (Node's fetch and http
 * agent among them) close an idle connection a second before, so none sends a request on a
 * connection this edge is closing.
 */
export const CLIENT_KEEP_ALIVE_SECONDS = 5;

/** The longest a soft stop may then take to finish the requests in flight (`hard-stop-after`). */
export const HARD_STOP_AFTER_SECONDS = 10;

/**
 * Renders haproxy.cfg for one edge node.
 *
 * Throws when an input would make a broken or unsafe file (a port out of range or reused, a
 * name HAProxy would split or parse as syntax), naming every field at fault.
 */
export function renderHaproxyConfig(input: HaproxyConfigInput): string {
    validate(input);
    const { nodeName, appHost, appPort, maxAppServers, httpPort, tls, statsPort, statsUser, statsPasswordEnv, healthPort, adminRoutes = [] } = input;
    const password = `\${${statsPasswordEnv}}`;

    const lines = [
        `# haproxy.cfg of edge node ${nodeName}, rendered by swarm-ha (components/edge/haproxy-cfg.ts): change it there.`,
        `# The stats password is read from the environment variable ${statsPasswordEnv}, never written here.`,
        ``,
        `global`,
        `    node ${nodeName}`,
        `    log stdout format raw local0`,
        `    # Docker may give the container a huge open-files limit, and HAProxy sizes its tables from it`,
        `    # (docker-library/haproxy#194: gigabytes at start). Cap it; maxconn follows (about half).`,
        `    fd-hard-limit 65536`,
        `    # The service stops HAProxy with SIGUSR1. For the first ${STOP_DRAIN_SECONDS}s it keeps serving while /healthz`,
        `    # fails, so keepalived moves the VIP away before a listener closes (a stop-first update of`,
        `    # the VIP holder refused every connection until then); then the soft stop: unbind, finish`,
        `    # the requests in flight.`,
        `    grace ${STOP_DRAIN_SECONDS}s`,
        `    # Bounds the soft stop below the service's stop grace period, so a long request cannot turn`,
        `    # it into a SIGKILL.`,
        `    hard-stop-after ${HARD_STOP_AFTER_SECONDS}s`,
        `    # Runtime API through 'docker exec' (show servers state, set server app/app1 state drain).`,
        `    # /tmp: writable by the HAProxy user of both Debian's package and the official image.`,
        `    stats socket ${ADMIN_SOCKET} mode 600 level admin`,
        `    # An interactive session there is not cut after the default 10s of idle.`,
        `    stats timeout 1m`,
        `    # Bind the ports and read the certificates as root, then run as the haproxy user (both images`,
        `    # have it; where HAProxy already runs as that user this changes nothing).`,
        `    user haproxy`,
        `    group haproxy`,
        ``,
        `# An unset or empty variable would expand to an empty password: refuse to start instead.`,
        `.if streq("${password}","")`,
        `    .alert "the environment variable ${statsPasswordEnv} (the stats password) is unset or empty"`,
        `.endif`,
        ``,
        `defaults`,
        `    mode http`,
        `    log global`,
        `    option httplog`,
        `    # Connections that send nothing (port probes) are not logged.`,
        `    option dontlognull`,
        `    # Tasks are on the same overlay (a connect takes well under a millisecond). A killed task's`,
        `    # address drops SYNs silently until DNS and the checks catch up: give up on it after 500ms`,
        `    # and let the retry (redispatch) reach another task before the client loses patience.`,
        `    timeout connect 500ms`,
        `    timeout client 30s`,
        `    timeout server 30s`,
        `    # A client gets 10s to send its request headers (slowloris).`,
        `    timeout http-request 10s`,
        `    timeout http-keep-alive ${CLIENT_KEEP_ALIVE_SECONDS}s`,
        `    # Fail fast rather than queue when every server is at its limit.`,
        `    timeout queue 5s`,
        `    # Three more attempts (the default, written out: the retry rules below count on it), each`,
        `    # on another server (the default redispatches on the last retry only).`,
        `    retries 3`,
        `    option redispatch 1`,
        `    # Besides failed connections, retry a request whose server closed or timed out without`,
        `    # answering (a task that died). Not a 503: the app answers 503 when its database is down,`,
        `    # and every other task would answer the same. Only GET and HEAD (see backend app).`,
        `    retry-on conn-failure empty-response response-timeout`,
        ``,
        ...dockerDnsResolvers(),
        `# The password arrives in plain text from the secret file; it lives only in memory.`,
        `userlist stats_users`,
        `    user ${statsUser} insecure-password "${password}"`,
        ``,
        `frontend http`,
        `    bind :${httpPort}`,
        ...(tls
            ? [
                  `    # HTTP/2 must be offered explicitly on HAProxy 2.6.`,
                  `    bind :${tls.port} ssl crt ${tls.certPath} alpn h2,http/1.1`,
                  `    # 308 keeps the method and body of a POST (a 301 may turn it into a GET).`,
                  `    http-request redirect scheme https code 308 unless { ssl_fc }`,
                  `    http-request set-header X-Forwarded-Proto https`,
              ]
            : [`    http-request set-header X-Forwarded-Proto http`]),
        `    # While stopping (see grace), each answer closes its connection: a client's next request`,
        `    # opens a new one, which reaches whichever node holds the VIP by then, instead of reusing`,
        `    # one to this node that the VIP's move would reset.`,
        `    http-after-response set-header Connection close if { stopping }`,
        `    # Keep-Alive is the app's, passed on: how long the app keeps HAProxy's idle connections`,
        `    # (10 minutes). Clients read it as this edge's and reused connections it had closed after`,
        `    # ${CLIENT_KEEP_ALIVE_SECONDS}s, failing their next request. Say the edge's own. (HTTP/2 drops the header.)`,
        `    http-after-response set-header Keep-Alive timeout=${CLIENT_KEEP_ALIVE_SECONDS}`,
        `    default_backend app`,
        ``,
        `backend app`,
        `    option forwardfor`,
        `    option httpchk GET ${APP_READY_PATH}`,
        `    http-check expect status 200`,
        `    # A retry resends the request: safe only when it changes nothing. METH_GET matches GET and`,
        `    # HEAD, so a POST, PUT or DELETE is never sent twice.`,
        `    http-request disable-l7-retry if !METH_GET`,
        `    # Check every second (every 500ms while changing state); 2 failures take a task out, 2`,
        `    # successes put it back, ramping its weight over 2s. 3 failed connections in a row for real`,
        `    # requests take it out at once (connections only: a 503 for a database that is down is an`,
        `    # answer, not a broken task). Addresses come from DNS only (init-addr none: start with`,
        `    # the slots down rather than refuse to start when the app has no task yet), IPv4 first`,
        `    # (the default prefers IPv6; the stack's overlay networks are IPv4).`,
        `    default-server inter 1s fastinter 500ms fall 2 rise 2 slowstart 2s observe layer4 error-limit 3 on-error mark-down resolvers docker resolve-prefer ipv4 init-addr none`,
        `    # tasks.<service> lists one address per healthy task whatever the service's endpoint mode`,
        `    # (the bare name is a single virtual IP unless the service uses dnsrr).`,
        `    server-template app 1-${maxAppServers} tasks.${appHost}:${appPort} check`,
        ``,
        `frontend stats`,
        `    bind :${statsPort}`,
        `    http-request auth realm swarm-ha unless { http_auth(stats_users) }`,
        `    http-request use-service prometheus-exporter if { path /metrics }`,
        `    stats enable`,
        `    stats uri /stats`,
        `    stats show-node`,
        ``,
        `# keepalived's track script: the VIP stays only where HAProxy can reach an app server and is`,
        `# not stopping.`,
        `# /alive answers while HAProxy runs at all: the container's health check (a proxy with no`,
        `# app server up is not broken, and restarting it would not help).`,
        `frontend health`,
        `    bind :${healthPort}`,
        `    monitor-uri /healthz`,
        `    monitor fail if { nbsrv(app) lt 1 } || { stopping }`,
        `    http-request return status 200 content-type text/plain string "alive" if { path /alive }`,
        ...adminRoutes.flatMap((r) => [
            ``,
            `# ${r.name}: tasks.${r.host} on its own port${r.auth ? ", behind the stats password (not passed on)" : " (it has its own login)"}.`,
            `frontend ${r.name}`,
            `    bind :${r.port}`,
            ...(r.auth ? [`    http-request auth realm swarm-ha unless { http_auth(stats_users) }`, `    http-request del-header Authorization`] : []),
            `    default_backend ${r.name}`,
            ``,
            `backend ${r.name}`,
            `    option httpchk GET ${r.checkPath}`,
            `    http-check expect status 200`,
            `    default-server inter 2s fall 2 rise 2 resolvers docker resolve-prefer ipv4 init-addr none`,
            `    server-template ${r.name} 1-${r.maxServers} tasks.${r.host}:${r.targetPort} check`,
        ]),
    ];
    return lines.join("\n") + "\n";
}

function validate(input: HaproxyConfigInput): void {
    const problems: string[] = [];
    const check = (field: string, ok: boolean, message: string) => {
        if (!ok) problems.push(`${field}: ${message}`);
    };
    const port = (field: string, value: unknown) =>
        check(field, Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535, `must be an integer from 1 to 65535 (got ${show(value)})`);

    check("nodeName", typeof input.nodeName === "string" && NODE_NAME.test(input.nodeName), `must be 1-63 letters, digits, '-' or '_' (got ${show(input.nodeName)})`);
    check("appHost", typeof input.appHost === "string" && DNS_NAME.test(input.appHost), `must be a DNS name: letters, digits, '-' and dots, e.g. swarm-ha-app (got ${show(input.appHost)})`);
    port("appPort", input.appPort);
    check(
        "maxAppServers",
        Number.isInteger(input.maxAppServers) && input.maxAppServers >= 1 && input.maxAppServers <= MAX_APP_SERVERS,
        `must be an integer from 1 to ${MAX_APP_SERVERS}, e.g. twice the app's replicas (got ${show(input.maxAppServers)})`,
    );
    port("httpPort", input.httpPort);
    if (input.tls !== undefined) {
        port("tls.port", input.tls.port);
        check(
            "tls.certPath",
            typeof input.tls.certPath === "string" && ABSOLUTE_PATH.test(input.tls.certPath) && !input.tls.certPath.split("/").includes(".."),
            `must be an absolute path of letters, digits, '.', '_', '-' and '/', e.g. /run/secrets/edge-tls (got ${show(input.tls.certPath)})`,
        );
    }
    port("statsPort", input.statsPort);
    check("statsUser", typeof input.statsUser === "string" && USER_NAME.test(input.statsUser), `must be 1-64 letters, digits, '.', '_' or '-' (got ${show(input.statsUser)})`);
    check(
        "statsPasswordEnv",
        typeof input.statsPasswordEnv === "string" && ENV_NAME.test(input.statsPasswordEnv),
        `must be the NAME of an environment variable (letters, digits and '_', not starting with a digit), e.g. STATS_PASSWORD, not the password (got ${input.statsPasswordEnv === undefined ? "nothing" : "another value, not shown"})`,
    );
    port("healthPort", input.healthPort);
    const routes = input.adminRoutes ?? [];
    routes.forEach((r, i) => {
        const f = `adminRoutes[${i}]`;
        check(`${f}.name`, /^[a-z][a-z0-9_-]{0,30}$/.test(r.name) && !["http", "stats", "health", "app", "docker"].includes(r.name), `must be a lower-case name of its own, not http, stats, health, app or docker (got ${show(r.name)})`);
        port(`${f}.port`, r.port);
        port(`${f}.targetPort`, r.targetPort);
        check(`${f}.host`, typeof r.host === "string" && DNS_NAME.test(r.host), `must be a DNS name (got ${show(r.host)})`);
        check(`${f}.checkPath`, typeof r.checkPath === "string" && /^\/[A-Za-z0-9._~/-]*$/.test(r.checkPath), `must be a path of letters, digits and '._~/-' (got ${show(r.checkPath)})`);
        check(`${f}.maxServers`, Number.isInteger(r.maxServers) && r.maxServers >= 1 && r.maxServers <= 16, `must be an integer from 1 to 16 (got ${show(r.maxServers)})`);
        if (routes.findIndex((o) => o.name === r.name) < i) problems.push(`${f}.name: ${show(r.name)} is used twice`);
    });

    // Every listener needs its own port.
    const listeners: [string, unknown][] = [
        ["httpPort", input.httpPort],
        ...(input.tls ? ([["tls.port", input.tls.port]] as [string, unknown][]) : []),
        ["statsPort", input.statsPort],
        ["healthPort", input.healthPort],
        ...routes.map((r, i): [string, unknown] => [`adminRoutes[${i}].port`, r.port]),
    ];
    listeners.forEach(([field, value], i) => {
        const first = listeners.findIndex(([, v]) => v === value);
        if (first >= 0 && first < i) problems.push(`${field}: ${show(value)} is also ${listeners[first][0]}; each listener needs its own port`);
    });

    if (problems.length) throw new Error(`swarm-ha: haproxy.cfg: cannot render:\n  ${problems.join("\n  ")}`);
}

/** A value for an error message: strings quoted with escapes, so a newline shows as \n. */
function show(value: unknown): string {
    return value === undefined ? "nothing" : JSON.stringify(value);
}
