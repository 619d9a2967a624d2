"""The API's version documents: Octavia's list at ``/load-balancer/``, Neutron's at
``/networking/``, both at the bare root (see ``api.endpoints``); ``/v2`` and ``/v2.0``.

Octavia lists every minor version it serves, ``v2.0`` to the newest, each pointing at
``/v2`` and the newest CURRENT; clients that read the list (Kubernetes' cloud provider
gates tags, ``allowed_cidrs`` and timeouts on 2.5, 2.12 and 2.1) take the highest
entry. Neutron's clients do not read the root: they add ``v2.0`` to the network
endpoint themselves (openstacksdk, gophercloud), whose document is ``/v2.0``.
"""

from __future__ import annotations

from typing import Any

# (minor version, what it added, when Octavia released it; the last is netnode's own).
OCTAVIA_VERSIONS = (
    ("2.0", "the v2 API", "2016-12-11T00:00:00Z"),
    ("2.1", "listener timeouts", "2018-04-20T00:00:00Z"),
    ("2.2", "SOURCE_IP_PORT and friends", "2018-07-31T00:00:00Z"),
    ("2.3", "amphora failover", "2018-12-18T00:00:00Z"),
    ("2.4", "amphora statistics", "2018-12-19T00:00:00Z"),
    ("2.5", "tags", "2019-01-21T00:00:00Z"),
    ("2.6", "flavors", "2019-01-25T00:00:00Z"),
    ("2.7", "amphora configuration update", "2018-01-25T12:00:00Z"),
    ("2.8", "TLS client authentication", "2019-02-12T00:00:00Z"),
    ("2.9", "HTTP redirect code", "2019-03-04T00:00:00Z"),
    ("2.10", "health monitor Host header", "2019-03-05T00:00:00Z"),
    ("2.11", "additive batch member update", "2019-06-24T00:00:00Z"),
    ("2.12", "VIP access control (allowed_cidrs)", "2019-09-11T00:00:00Z"),
    ("2.13", "SOURCE_IP_PORT algorithm", "2019-09-13T00:00:00Z"),
    ("2.14", "availability zones", "2019-11-10T00:00:00Z"),
    ("2.15", "TLS cipher options", "2020-03-10T00:00:00Z"),
    ("2.16", "more UDP health check types", "2020-03-15T00:00:00Z"),
    ("2.17", "listener TLS versions", "2020-04-29T00:00:00Z"),
    ("2.18", "pool TLS versions", "2020-04-29T01:00:00Z"),
    ("2.19", "L7 policy and rule quotas", "2020-05-12T00:00:00Z"),
    ("2.20", "listener ALPN protocols", "2020-08-02T00:00:00Z"),
    ("2.21", "amphora delete", "2020-09-03T00:00:00Z"),
    ("2.22", "PROXYV2 pool protocol", "2020-09-04T00:00:00Z"),
    ("2.23", "SCTP protocol", "2020-09-07T00:00:00Z"),
    ("2.24", "pool ALPN protocols", "2020-10-15T00:00:00Z"),
    ("2.25", "PROMETHEUS listeners", "2021-10-02T00:00:00Z"),
    ("2.26", "additional VIPs", "2022-08-29T00:00:00Z"),
    ("2.27", "HSTS", "2026-11-26T00:00:00Z"),
)
NEWEST = OCTAVIA_VERSIONS[-1][0]


def octavia_versions(base_url: str) -> list[dict[str, Any]]:
    """Octavia's ``GET /``: every minor version, linking to ``/v2``, the newest CURRENT."""
    href = base_url.rstrip("/") + "/v2"
    return [
        {
            "id": f"v{version}",
            "status": "CURRENT" if version == NEWEST else "SUPPORTED",
            "updated": updated,
            "links": [{"href": href, "rel": "self"}],
        }
        for version, _added, updated in OCTAVIA_VERSIONS
    ]


def octavia_v2(base_url: str) -> dict[str, Any]:
    """``GET /v2``: the major version with its range of minor versions."""
    return {
        "id": "v2",
        "status": "CURRENT",
        "updated": OCTAVIA_VERSIONS[-1][2],
        "min_version": OCTAVIA_VERSIONS[0][0],
        "version": NEWEST,
        "links": [{"href": base_url.rstrip("/") + "/v2/", "rel": "self"}],
    }


def both(base_url: str) -> list[dict[str, Any]]:
    """The bare root, for a client given one endpoint for both services: Neutron's v2.0
    (CURRENT: a Neutron client that discovers takes it) and Octavia's v2 with its
    newest minor version. A catalog names each service's own prefix instead
    (``api.endpoints``), whose root is that service's own list."""
    return [neutron_v20(base_url), {**octavia_v2(base_url), "status": "SUPPORTED"}]


def neutron_v20(base_url: str) -> dict[str, Any]:
    """``GET /v2.0``: Neutron's one version."""
    return {
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"href": base_url.rstrip("/") + "/v2.0/", "rel": "self"}],
    }
