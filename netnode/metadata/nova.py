"""Nova's metadata API, asked as Neutron's metadata agent asks it
(neutron/agent/metadata/agent.py, ``_proxy_request``): the request's path, with

- ``X-Forwarded-For``: the instance's address,
- ``X-Instance-ID``: its server's id (the port's device_id),
- ``X-Tenant-ID``: its project,
- ``X-Instance-ID-Signature``: HMAC-SHA256 of the instance id keyed with the shared
  secret, in hex (Nova's ``metadata_proxy_shared_secret``).
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request

from netnode.metadata.answers import Answer, instance_id

TIMEOUT = 10.0


def sign(secret: str, instance: str) -> str:
    return hmac.new(secret.encode(), instance.encode(), hashlib.sha256).hexdigest()


def headers(port: dict, address: str, secret: str) -> dict[str, str]:
    instance = instance_id(port)
    return {
        "X-Forwarded-For": address,
        "X-Instance-ID": instance,
        "X-Tenant-ID": port["project_id"],
        "X-Instance-ID-Signature": sign(secret, instance),
    }


def ask(url: str, secret: str, port: dict, address: str, path: str) -> Answer:
    """Nova's answer to ``path``; 502 when Nova cannot be reached."""
    target = url.rstrip("/") + path
    request = urllib.request.Request(target, headers=headers(port, address, secret))
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            kind = response.headers.get("Content-Type", "text/plain")
            return Answer(response.status, kind, response.read())
    except urllib.error.HTTPError as exc:
        kind = exc.headers.get("Content-Type", "text/plain")
        return Answer(exc.code, kind, exc.read())
    except (urllib.error.URLError, OSError) as exc:
        return Answer.text(f"Nova's metadata API at {url} did not answer: {exc}\n", 502)
