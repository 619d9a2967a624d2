"""Tokens a Keystone v3 issued (``netnode serve --keystone-url``): validated as
keystonemiddleware does, by ``GET /v3/auth/tokens`` with the token in
``X-Subject-Token``, netnode authenticated as its service user (keystoneauth1, a v3
Password plugin). The token's project and roles become a Context (``auth.from_roles``).

Validated tokens are cached (by their SHA-256 digest, never the token itself) until the
token expires or ``cache_time`` seconds pass, whichever is first, at most ``cache_size``
of them (the least recently used go first); so are tokens Keystone refused, for
``cache_time``: like keystonemiddleware's ``token_cache_time``, a token revoked in Keystone is
still taken until its cache entry ends.

A token Keystone refuses (unknown, expired, revoked) is None: the API answers 401 with
``WWW-Authenticate: Keystone uri="<url>"``. A Keystone that does not answer, or refuses
netnode's own service credentials, is ``KeystoneUnavailable``: 503.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from netnode.api.auth import Context, from_roles
from netnode.api.errors import Forbidden, ServiceUnavailable

log = logging.getLogger("netnode.api.keystone")

DEFAULT_CACHE_TIME = 300.0  # keystonemiddleware's token_cache_time
DEFAULT_CACHE_SIZE = 10_000
TIMEOUT = 10.0  # seconds for one request to Keystone


class KeystoneUnavailable(ServiceUnavailable):
    """Keystone did not answer, or did not take netnode's service credentials."""


@dataclass(frozen=True)
class ServiceUser:
    url: str  # Keystone's public endpoint, e.g. http://keystone:5000/v3
    user: str
    password: str
    project: str
    user_domain: str = "Default"
    project_domain: str = "Default"


class Keystone:
    """An authenticator of ``netnode.api.app``: ``context(token)``."""

    def __init__(
        self,
        service: ServiceUser,
        cache_time: float = DEFAULT_CACHE_TIME,
        cache_size: int = DEFAULT_CACHE_SIZE,
        session: Any = None,
    ) -> None:
        self.url = v3_url(service.url)
        self.cache_time = cache_time
        self.cache_size = cache_size
        self._session = session or _session(service)
        # digest -> (until, its Context; None: Keystone refused it, a token that stays bad)
        self._cache: OrderedDict[bytes, tuple[float, Context | None]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def www_authenticate(self) -> str:
        """The header a 401 carries, as keystonemiddleware sends it."""
        return f'Keystone uri="{self.url.removesuffix("/v3")}"'

    def context(self, token: str | None) -> Context | None:
        if not token:
            return None
        key = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                if hit[0] > now:
                    self._cache.move_to_end(key)
                    return hit[1]
                del self._cache[key]
        validated = self._validate(token)
        context, expires_in = (None, self.cache_time) if validated is None else validated
        with self._lock:
            self._cache[key] = (now + min(self.cache_time, expires_in), context)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return context

    def _validate(self, token: str) -> tuple[Context, float] | None:
        from keystoneauth1 import exceptions as ks

        try:
            response = self._session.get(
                f"{self.url}/auth/tokens",
                headers={"X-Subject-Token": token},
                authenticated=True,
                raise_exc=False,
                timeout=TIMEOUT,
                # A kept-alive connection Keystone's server closed meanwhile: once more.
                connect_retries=1,
                connect_retry_delay=0.1,
            )
        except ks.Unauthorized as exc:
            raise KeystoneUnavailable(
                f"Keystone at {self.url} refused netnode's service user: check "
                f"--keystone-user, --keystone-password and --keystone-project ({exc})"
            ) from None
        except ks.ClientException as exc:
            # ConnectFailure, ConnectTimeout, DiscoveryFailure... not the caller's fault.
            log.warning("Keystone at %s: %s", self.url, exc)
            raise KeystoneUnavailable(
                f"Keystone at {self.url} is unreachable, the token could not be "
                f"checked; try again ({type(exc).__name__})"
            ) from None
        if response.status_code in (401, 404):
            return None  # unknown, expired or revoked (Keystone says 404)
        if response.status_code == 403:
            raise KeystoneUnavailable(
                f"Keystone at {self.url} does not let netnode's service user validate "
                "tokens: give it the service role (openstack role add --project service "
                "--user netnode service)"
            )
        if response.status_code != 200:
            raise KeystoneUnavailable(
                f"Keystone at {self.url} answered {response.status_code} to a token check"
            )
        body = response.json().get("token", {})
        project = (body.get("project") or {}).get("id")
        if not project:
            raise Forbidden(
                "the token is not scoped to a project: ask Keystone for a project-scoped "
                "token (--os-project-name)"
            )
        roles = [r.get("name", "") for r in body.get("roles", [])]
        context = from_roles(project, roles)
        if context is None:
            raise Forbidden(
                f"the token's roles ({', '.join(sorted(roles)) or 'none'}) give no access to "
                "netnode: it needs load-balancer_member, _observer, _global_observer, _admin, "
                "_quota_admin, or Keystone's member, reader or admin"
            )
        return context, _seconds_left(body.get("expires_at"))


def v3_url(url: str) -> str:
    """Keystone's v3 endpoint from its base URL or the v3 one."""
    url = url.rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


def _seconds_left(expires_at: str | None) -> float:
    """Seconds until ``expires_at`` (Keystone's ISO 8601, UTC); inf without one."""
    if not expires_at:
        return float("inf")
    when = dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (when - dt.datetime.now(dt.UTC)).total_seconds()


def _session(service: ServiceUser) -> Any:
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(
        auth_url=v3_url(service.url),
        username=service.user,
        password=service.password,
        project_name=service.project,
        user_domain_name=service.user_domain,
        project_domain_name=service.project_domain,
    )
    return session.Session(auth=auth, timeout=TIMEOUT)
