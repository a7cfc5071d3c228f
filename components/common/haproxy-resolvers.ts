/**
 * The `resolvers` section every HAProxy swarm-ha renders shares (the edge's and the Postgres
 * proxy's): Docker's embedded DNS, re-resolved every second. No Pulumi in here.
 */
export const DOCKER_RESOLVERS = "docker";

/**
 * The lines of `resolvers docker`, with why each timing is what it is, then a blank line.
 * `keepLastAddress`: a name that stops resolving keeps its last address (for an hour) instead
 * of putting its server in maintenance. For the Postgres proxy: HAProxy takes a server that
 * leaves maintenance (its name resolves again) as UP at once, before its first check, and the
 * lab caught pg_rw sending a connection to a returning replica in that moment (the backups'
 * snapshot, exported on the leader, was then "invalid" on the replica). With the last address
 * kept, the checks mark the server DOWN, and it comes UP only once /primary answers 200.
 */
export function dockerDnsResolvers(opts: { keepLastAddress?: boolean } = {}): string[] {
    const missing = opts.keepLastAddress ? "3600s" : "2s";
    return [
        `# Docker's embedded DNS. The defaults keep answers 10s and retry a name with no tasks after`,
        `# 30s; a task that stops leaves DNS (Swarm removes it 2s before it stops it) and a restarted`,
        `# task gets a new IP, so re-resolve every second and retry within 2s (not less: a name with`,
        `# no tasks is forwarded upstream, and a tighter loop floods it, haproxy/haproxy#2503).`,
        ...(opts.keepLastAddress
            ? [
                  `# A name with no task keeps its last address for an hour rather than taking its server into`,
                  `# maintenance: HAProxy takes a server leaving maintenance as UP before its first check, so a`,
                  `# returning replica would get writers for a moment. The checks mark the old address DOWN.`,
              ]
            : []),
        `resolvers ${DOCKER_RESOLVERS}`,
        `    nameserver dns 127.0.0.11:53`,
        `    # The default 512 bytes holds about 30 answers; Docker's DNS honours the size announced.`,
        `    accepted_payload_size 8192`,
        `    hold valid 1s`,
        `    hold obsolete 0s`,
        `    hold nx ${missing}`,
        `    hold other ${missing}`,
        `    hold refused ${missing}`,
        `    hold timeout ${missing}`,
        `    timeout resolve 1s`,
        `    timeout retry 1s`,
        ``,
    ];
}
