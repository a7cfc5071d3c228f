/**
 * The read-only Docker API proxy's haproxy.cfg: typed input in, config text out, no Pulumi.
 *
 * The Docker socket is root on its host: whoever can POST to it can start a privileged
 * container. Prometheus's Swarm discovery and swarm-ha's swarm exporter only read the swarm's
 * nodes, services, tasks and networks, so this proxy (HAProxy, on a manager, the socket
 * mounted read-only) forwards exactly those reads and answers 403 to everything else: any
 * method but GET and HEAD, any other path (containers, exec, secrets, configs, images, ...).
 * It listens only on the monitoring network; the API is never published.
 */

export interface DockerApiProxyInput {
    /** The port it listens on, on the monitoring network. @example 2375 */
    port: number;
    /** The Docker socket inside the container. @example "/var/run/docker.sock" */
    socketPath: string;
}

/**
 * The API paths forwarded (GET and HEAD only), with or without the version prefix
 * (`/v1.41/nodes`): the list and inspect calls discovery makes, and the ping/version
 * handshake a client does first. Query strings (filters, `status=true`) pass.
 */
export const ALLOWED_READS = ["_ping", "version", "nodes", "services", "tasks", "networks"] as const;

const ABSOLUTE_PATH = /^\/[A-Za-z0-9._/-]+$/;

/** Renders the proxy's haproxy.cfg. Throws naming the field at fault. */
export function renderDockerApiProxyConfig(input: DockerApiProxyInput): string {
    const problems: string[] = [];
    if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) problems.push(`port must be 1 to 65535, not ${input.port}`);
    if (!ABSOLUTE_PATH.test(input.socketPath)) problems.push(`socketPath "${input.socketPath}" must be an absolute path without spaces or quotes`);
    if (problems.length > 0) throw new Error(`swarm-ha: cannot render the Docker API proxy's haproxy.cfg:\n  - ${problems.join("\n  - ")}`);
    // One path segment after the resource (an ID or name), nothing deeper: /services/<id> is an
    // inspect, /services/<id>/update is a write and /services/<id>/logs could read secrets' users' output.
    const paths = `^(/v[0-9]+\\.[0-9]+)?/(${ALLOWED_READS.join("|")})(/[A-Za-z0-9_.-]+)?/?$`;
    return [
        `# haproxy.cfg of the read-only Docker API proxy, rendered by swarm-ha (components/monitoring/docker-api-proxy-cfg.ts).`,
        `# Forwards only reads of ${ALLOWED_READS.join(", ")} to the Docker socket; everything else gets 403.`,
        ``,
        `global`,
        `    log stdout format raw local0`,
        `    fd-hard-limit 4096`,
        `    # Runs as root: the socket is root's (or the docker group's). It does nothing but forward`,
        `    # the reads below.`,
        ``,
        `defaults`,
        `    mode http`,
        `    log global`,
        `    option httplog`,
        `    option dontlognull`,
        `    timeout connect 2s`,
        `    timeout client 30s`,
        `    timeout server 30s`,
        `    timeout http-request 10s`,
        ``,
        `frontend docker_api`,
        `    bind :${input.port}`,
        `    http-request deny deny_status 403 unless METH_GET`,
        `    http-request deny deny_status 403 unless { path -m reg ${paths} }`,
        `    default_backend docker_socket`,
        ``,
        `backend docker_socket`,
        `    server docker ${input.socketPath}`,
        ``,
    ].join("\n");
}
