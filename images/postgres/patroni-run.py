#!/usr/bin/python3
"""swarm-ha-patroni-run CONFIG: Patroni 3.0, with its etcd client's DNS cache cut to seconds.

Patroni resolves etcd's names through a cache of its own (patroni/dcs/etcd.py,
DnsCachingResolver: 600 s for an answer, 30 s for a failure), and connects only to the
addresses it cached. A swarm task gets a new address each time it starts, so when every etcd
member restarts within ten minutes (a manager replaced: each member restarts for the new member
list), every address Patroni holds is dead, and so is the shared alias it falls back to:
Patroni cannot reach etcd until the cache expires, its member key lapses, and the tier loses its
synchronous standby (or its leader). Docker's DNS answers from the node itself, so asking it
again costs nothing; the cache keeps only its role of spreading lookups out of the request path.

The cache's defaults are changed before Patroni builds its client (it calls
DnsCachingResolver() with none of its own); a Patroni whose resolver takes other arguments is
refused at start, so an upgrade cannot drop the fix silently.
"""
import inspect
import sys

# An answer is trusted for 5 s (one Patroni loop is 10 s); a name that did not resolve (a
# member's task not running yet) is asked again after 2 s.
DNS_CACHE_SECONDS = 5.0
DNS_FAILURE_CACHE_SECONDS = 2.0


def shorten_dns_cache():
    """Sets the defaults of Patroni's etcd DNS cache; raises when the resolver is not the one this was written for."""
    from patroni.dcs import etcd

    parameters = list(inspect.signature(etcd.DnsCachingResolver.__init__).parameters)
    if parameters != ["self", "cache_time", "cache_fail_time"]:
        raise RuntimeError(f"Patroni's DnsCachingResolver takes {parameters[1:]}, not (cache_time, cache_fail_time): update {__file__} for this Patroni")
    etcd.DnsCachingResolver.__init__.__defaults__ = (DNS_CACHE_SECONDS, DNS_FAILURE_CACHE_SECONDS)


if __name__ == "__main__":
    try:
        shorten_dns_cache()
    except RuntimeError as e:
        sys.exit(f"swarm-ha-patroni-run: {e}")
    # Patroni's own entry point (console_scripts: patroni = patroni.__main__:main). As PID 1 it
    # forks its worker with multiprocessing, which keeps the defaults set above.
    from patroni.__main__ import main

    sys.argv[0] = "patroni"
    sys.exit(main())
