"""The UDP health checker of a load balancer: netnode's stand-in for Octavia's
keepalived checks, since HAProxy does not balance (or check) UDP pools.

One process per load balancer whose UDP pools have an enabled health monitor, run by
``drivers.helpers`` inside the load balancer's namespace::

    python -m netnode.udpcheck CONFIG.json

It checks every member each ``delay`` seconds (``probes``), counts rise and fall
(``health``), and when a member goes down or comes back rewrites the namespace's
nftables table and health file in one locked step (``drivers.nftables``), which also
deletes the flows to a member that went down. ``config`` builds its configuration
from the model (pure).
"""
