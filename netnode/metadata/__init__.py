"""netnode's metadata service: what cloud-init asks 169.254.169.254 for.

``answers`` (pure: a port's record in, OpenStack's and EC2's answers out), ``catalog``
(the documents the reconcile writes, re-read when they change), ``nova`` (the proxy to
Nova's metadata API, signed as Neutron's metadata agent signs) and ``service`` (the
HTTP server on a UNIX socket). ``python -m netnode.metadata CONFIG`` runs it; the
reconcile starts it (``netnode.reconcile.metadata``).
"""
