/**
 * The `resolvers` section every HAProxy swarm-ha renders shares (the edge's and the Postgres
 * proxy's): Docker's embedded DNS, re-resolved every second. No Pulumi in here.
 */
export const DOCKER_RESOLVERS = "docker";

/** The lines of `resolvers docker`, with why each timing is what it is, then a blank line. */
export function dockerDnsResolvers(): string[] {
    return [
        `# Docker's embedded DNS. The defaults keep answers 10s and retry a name with no tasks after`,
        `# 30s; a task that stops leaves DNS (Swarm removes it 2s before it stops it) and a restarted`,
        `# task gets a new IP, so re-resolve every second and retry within 2s (not less: a name with`,
        `# no tasks is forwarded upstream, and a tighter loop floods it, haproxy/haproxy#2503).`,
        `resolvers ${DOCKER_RESOLVERS}`,
        `    nameserver dns 127.0.0.11:53`,
        `    # The default 512 bytes holds about 30 answers; Docker's DNS honours the size announced.`,
        `    accepted_payload_size 8192`,
        `    hold valid 1s`,
        `    hold obsolete 0s`,
        `    hold nx 2s`,
        `    hold other 2s`,
        `    hold refused 2s`,
        `    hold timeout 2s`,
        `    timeout resolve 1s`,
        `    timeout retry 1s`,
        ``,
    ];
}
