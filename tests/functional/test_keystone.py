"""``netnode serve --keystone-url`` against a real Keystone (issue 14, item 1).

Keystone from PyPI (``.venv-keystone``, tests/functional/keystone.py) starts once for
this module, with tokens that expire after ``EXPIRATION`` seconds; its admin makes two
projects, users holding Octavia's roles, netnode's service user, and catalog entries
that point at the ``netnode serve`` this module runs (without a reconcile loop: what the
API records is all these tests read). Every request carries a token Keystone issued.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from netnode.api.keystone import Keystone as Authenticator
from netnode.api.keystone import KeystoneUnavailable, ServiceUser
from tests.functional.conftest import eventually
from tests.functional.keystone import Admin, Keystone, free_port, missing

ROOT = Path(__file__).resolve().parents[2]
OPENSTACK = ROOT / ".venv-clients" / "bin" / "openstack"
EXPIRATION = 20  # seconds a token lives (Keystone's [token] expiration)
CACHE_TIME = 2.0  # netnode's --keystone-cache-time here
PASSWORD = "pw-of-a-test-user"
SERVICE_PASSWORD = "pw-of-netnode-service"

# user -> (project, roles)
USERS = {
    "alpha-member": ("alpha", ["load-balancer_member"]),
    "beta-member": ("beta", ["load-balancer_member"]),
    "alpha-observer": ("alpha", ["load-balancer_observer"]),
    "global-observer": ("beta", ["load-balancer_global_observer"]),
    "quota-admin": ("beta", ["load-balancer_quota_admin"]),
    "lb-admin": ("beta", ["load-balancer_admin"]),
    "outsider": ("alpha", ["some-other-service_role"]),
    "netnode": ("service", ["service"]),
}


@dataclass
class Site:
    keystone: Keystone
    netnode: str  # netnode serve's URL
    projects: dict[str, str]  # name -> id
    log: Path

    def token(self, user: str) -> str:
        if user == "admin":
            return self.keystone.admin_token()
        password = SERVICE_PASSWORD if user == "netnode" else PASSWORD
        return self.keystone.token(user, password, USERS[user][0])

    def call(self, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
        headers = {} if token is None else {"X-Auth-Token": token}
        return httpx.request(method, self.netnode + path, headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def keystone() -> Iterator[Keystone]:
    why = missing()
    if why is not None:
        pytest.fail(why)  # never a silent skip: `make test` installs it
    directory = Path(tempfile.mkdtemp(prefix="nn-keystone-"))
    ks = Keystone(directory, token_expiration=EXPIRATION)
    try:
        ks.start()
        print(f"Keystone started in {ks.started_in:.1f} s")
        yield ks
    finally:
        ks.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def site(keystone: Keystone) -> Iterator[Site]:
    admin = Admin(keystone)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    projects = {
        name: admin.create("project", {"name": name, "domain_id": "default"})
        for name in ("alpha", "beta", "service")
    }
    began = time.monotonic()
    for user, (project, roles) in USERS.items():
        password = SERVICE_PASSWORD if user == "netnode" else PASSWORD
        admin.user(user, password, projects[project], *roles)
    # Each service at its own path, as the README registers them (api.endpoints).
    admin.endpoint("load-balancer", "octavia", f"{url}/load-balancer")
    admin.endpoint("network", "neutron", f"{url}/networking")
    print(f"Keystone: projects, users and catalog made in {time.monotonic() - began:.1f} s")

    state = Path(tempfile.mkdtemp(prefix="nn-"))
    secret = state / "keystone-password"
    secret.write_text(SERVICE_PASSWORD + "\n")
    log = state / "serve.log"
    proc = _serve(state, port, log, "--keystone-url", keystone.url)
    try:
        _listening(proc, port, log)
        yield Site(keystone, url, projects, log)
    finally:
        _stop(proc)
        shutil.rmtree(state, ignore_errors=True)


def _serve(state: Path, port: int, log: Path, *auth: str) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "netnode.cli.main",
        "--node",
        f"t-ks-{port}",
        "--state-dir",
        str(state),
        "serve",
        "--port",
        str(port),
        "--no-agent",
        *auth,
        "--keystone-password-file",
        str(state / "keystone-password"),
        "--keystone-cache-time",
        str(CACHE_TIME),
    ]
    with open(log, "w") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT
        )


def _listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"netnode serve exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    _stop(proc)
    raise AssertionError(f"netnode serve did not listen: {log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _load_balancer(site: Site, token: str, name: str) -> dict[str, Any]:
    """A network, a subnet and a load balancer on it, made by the token's owner."""
    net = site.call("POST", "/v2.0/networks", token, json={"network": {"name": name}})
    assert net.status_code == 201, net.text
    cidr = f"10.{80 + len(name) % 20}.{sum(map(ord, name)) % 250}.0/24"
    subnet = site.call(
        "POST",
        "/v2.0/subnets",
        token,
        json={"subnet": {"network_id": net.json()["network"]["id"], "cidr": cidr}},
    )
    assert subnet.status_code == 201, subnet.text
    lb = site.call(
        "POST",
        "/v2/lbaas/loadbalancers",
        token,
        json={"loadbalancer": {"name": name, "vip_subnet_id": subnet.json()["subnet"]["id"]}},
    )
    assert lb.status_code == 201, lb.text
    return dict(lb.json()["loadbalancer"])


@pytest.fixture(scope="module")
def lbs(site: Site) -> dict[str, dict[str, Any]]:
    """One load balancer in each project, each made by that project's member."""
    return {
        "alpha": _load_balancer(site, site.token("alpha-member"), "lb-alpha"),
        "beta": _load_balancer(site, site.token("beta-member"), "lb-beta"),
    }


def _names(site: Site, token: str) -> set[str]:
    response = site.call("GET", "/v2/lbaas/loadbalancers", token)
    assert response.status_code == 200, response.text
    return {lb["name"] for lb in response.json()["loadbalancers"]}


def test_a_member_sees_and_changes_only_its_project(site: Site, lbs: dict) -> None:
    alpha = site.token("alpha-member")
    assert lbs["alpha"]["project_id"] == site.projects["alpha"]  # the token's project
    assert _names(site, alpha) == {"lb-alpha"}
    assert _names(site, site.token("beta-member")) == {"lb-beta"}
    beta_lb = lbs["beta"]["id"]
    # Another project's load balancer: forbidden, as Octavia's policy answers.
    assert site.call("GET", f"/v2/lbaas/loadbalancers/{beta_lb}", alpha).status_code == 403
    renamed = site.call(
        "PUT", f"/v2/lbaas/loadbalancers/{beta_lb}", alpha, json={"loadbalancer": {"name": "x"}}
    )
    assert renamed.status_code == 403
    # Its own: changed (the network; the load balancer stays PENDING_CREATE, no loop runs).
    net = lbs["alpha"]["vip_network_id"]
    mine = site.call(
        "PUT", f"/v2.0/networks/{net}", alpha, json={"network": {"description": "by alpha"}}
    )
    assert mine.status_code == 200, mine.text
    theirs = site.call(
        "PUT", f"/v2.0/networks/{net}", site.token("beta-member"), json={"network": {"name": "x"}}
    )
    assert theirs.status_code == 404, theirs.text


def test_an_observer_reads_its_project_and_cannot_write(site: Site, lbs: dict) -> None:
    observer = site.token("alpha-observer")
    assert _names(site, observer) == {"lb-alpha"}
    created = site.call("POST", "/v2.0/networks", observer, json={"network": {"name": "no"}})
    assert created.status_code == 403, created.text
    assert "may only read" in created.json()["NeutronError"]["message"]
    deleted = site.call("DELETE", f"/v2/lbaas/loadbalancers/{lbs['alpha']['id']}", observer)
    assert deleted.status_code == 403, deleted.text


def test_a_global_observer_reads_every_project_and_cannot_write(site: Site, lbs: dict) -> None:
    observer = site.token("global-observer")
    assert _names(site, observer) >= {"lb-alpha", "lb-beta"}
    alpha_lb = lbs["alpha"]["id"]
    shown = site.call("GET", f"/v2/lbaas/loadbalancers/{alpha_lb}", observer)
    assert shown.status_code == 200, shown.text
    only_alpha = site.call(
        "GET", "/v2/lbaas/loadbalancers", observer, params={"project_id": site.projects["alpha"]}
    )
    assert {lb["name"] for lb in only_alpha.json()["loadbalancers"]} == {"lb-alpha"}
    for method, path, body in (
        ("PUT", f"/v2/lbaas/loadbalancers/{alpha_lb}", {"loadbalancer": {"name": "x"}}),
        ("DELETE", f"/v2/lbaas/loadbalancers/{alpha_lb}", None),
        ("POST", "/v2.0/networks", {"network": {"name": "no"}}),
        ("PUT", f"/v2/lbaas/quotas/{site.projects['alpha']}", {"quota": {"pool": 5}}),
    ):
        answer = site.call(method, path, observer, json=body)
        assert answer.status_code == 403, (method, path, answer.text)


def test_admins_see_every_project(site: Site, lbs: dict) -> None:
    for user in ("admin", "lb-admin"):
        assert _names(site, site.token(user)) >= {"lb-alpha", "lb-beta"}, user
    # The same token as "Authorization: Bearer" (what Prometheus sends).
    bearer = httpx.get(
        f"{site.netnode}/v2/lbaas/loadbalancers",
        headers={"Authorization": f"Bearer {site.token('lb-admin')}"},
        timeout=30,
    )
    assert bearer.status_code == 200, bearer.text
    assert {lb["name"] for lb in bearer.json()["loadbalancers"]} >= {"lb-alpha", "lb-beta"}


def test_a_quota_admin_sets_quotas_and_a_member_cannot(site: Site) -> None:
    alpha_id = site.projects["alpha"]
    body = {"quota": {"load_balancer": 7}}
    member = site.call("PUT", f"/v2/lbaas/quotas/{alpha_id}", site.token("alpha-member"), json=body)
    assert member.status_code == 403, member.text
    quota_admin = site.token("quota-admin")
    done = site.call("PUT", f"/v2/lbaas/quotas/{alpha_id}", quota_admin, json=body)
    assert done.status_code == 202, done.text
    shown = site.call("GET", f"/v2/lbaas/quotas/{alpha_id}", quota_admin)
    assert shown.json()["quota"]["load_balancer"] == 7
    reset = site.call("DELETE", f"/v2/lbaas/quotas/{alpha_id}", quota_admin)
    assert reset.status_code == 204, reset.text


def test_no_token_or_a_bad_one_is_401_naming_keystone(site: Site) -> None:
    for token in (None, "not-a-keystone-token", site.token("alpha-member")[:-4] + "AAAA"):
        answer = site.call("GET", "/v2/lbaas/loadbalancers", token)
        assert answer.status_code == 401, answer.text
        assert answer.headers["WWW-Authenticate"] == (
            f'Keystone uri="{site.keystone.url.removesuffix("/v3")}"'
        )
        assert "requires authentication" in answer.json()["faultstring"]


def test_a_token_without_a_load_balancer_role_is_403(site: Site) -> None:
    answer = site.call("GET", "/v2/lbaas/loadbalancers", site.token("outsider"))
    assert answer.status_code == 403, answer.text
    assert "some-other-service_role" in answer.json()["faultstring"]


def test_a_revoked_token_is_refused_once_its_cache_entry_ends(site: Site) -> None:
    token = site.token("alpha-member")
    assert site.call("GET", "/v2/lbaas/loadbalancers", token).status_code == 200
    site.keystone.revoke(token)
    revoked_at = time.monotonic()
    eventually(
        lambda: site.call("GET", "/v2/lbaas/loadbalancers", token).status_code == 401,
        timeout=CACHE_TIME + 5,
    )
    assert time.monotonic() - revoked_at <= CACHE_TIME + 5


def test_an_expired_token_is_refused(site: Site) -> None:
    token = site.token("beta-member")
    shown = httpx.get(
        f"{site.keystone.url}/auth/tokens",
        headers={"X-Auth-Token": site.token("admin"), "X-Subject-Token": token},
    )
    expires = dt.datetime.fromisoformat(shown.json()["token"]["expires_at"].replace("Z", "+00:00"))
    assert site.call("GET", "/v2/lbaas/loadbalancers", token).status_code == 200
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 1)
    answer = site.call("GET", "/v2/lbaas/loadbalancers", token)
    assert answer.status_code == 401, answer.text


def test_the_cache_is_bounded_and_kept_until_its_time(site: Site) -> None:
    """netnode's authenticator itself, in this process, against the same Keystone."""
    service = ServiceUser(site.keystone.url, "netnode", SERVICE_PASSWORD, "service")
    auth = Authenticator(service, cache_time=3.0, cache_size=2)
    tokens = [site.token(u) for u in ("alpha-member", "beta-member", "alpha-observer")]
    admin = site.token("admin")
    contexts = [auth.context(t) for t in tokens]
    cached_at = time.monotonic()
    assert [(c.project_id, c.role) for c in contexts if c] == [
        (site.projects["alpha"], "member"),
        (site.projects["beta"], "member"),
        (site.projects["alpha"], "reader"),
    ]
    assert len(auth._cache) == 2  # the oldest entry made room
    site.keystone.revoke(tokens[2], admin)
    if time.monotonic() - cached_at < 2.5:  # (a machine this slow proves nothing here)
        assert auth.context(tokens[2]) == contexts[2]  # cached: revocation not seen yet
    time.sleep(max(0.0, cached_at + 3.1 - time.monotonic()))
    assert auth.context(tokens[2]) is None


def test_wrong_service_credentials_or_no_keystone_is_unavailable(site: Site) -> None:
    token = site.token("alpha-member")
    wrong = ServiceUser(site.keystone.url, "netnode", "not-its-password", "service")
    with pytest.raises(KeystoneUnavailable, match="refused netnode's service user"):
        Authenticator(wrong).context(token)
    nowhere = ServiceUser(f"http://127.0.0.1:{free_port()}/v3", "netnode", "x", "service")
    with pytest.raises(KeystoneUnavailable, match="unreachable"):
        Authenticator(nowhere).context(token)


def test_serve_answers_503_when_keystone_is_unreachable(site: Site) -> None:
    state = Path(tempfile.mkdtemp(prefix="nn-"))
    (state / "keystone-password").write_text("x\n")
    port = free_port()
    log = state / "serve.log"
    proc = _serve(state, port, log, "--keystone-url", f"http://127.0.0.1:{free_port()}/v3")
    try:
        _listening(proc, port, log)
        answer = httpx.get(
            f"http://127.0.0.1:{port}/v2.0/networks",
            headers={"X-Auth-Token": site.token("alpha-member")},
            timeout=60,
        )
        assert answer.status_code == 503, answer.text
        assert "Keystone" in answer.json()["NeutronError"]["message"]
        assert "unreachable" in answer.json()["NeutronError"]["message"]
    finally:
        _stop(proc)
        shutil.rmtree(state, ignore_errors=True)


def test_openstack_cli_with_a_password_finds_netnode_in_the_catalog(site: Site, lbs: dict) -> None:
    if not OPENSTACK.exists():
        pytest.fail(f"{OPENSTACK} is missing: `make test` installs the OpenStack clients")
    auth = [
        "--os-auth-url",
        site.keystone.url,
        "--os-username",
        "alpha-member",
        "--os-password",
        PASSWORD,
        "--os-project-name",
        "alpha",
        "--os-user-domain-name",
        "Default",
        "--os-project-domain-name",
        "Default",
        "--os-identity-api-version",
        "3",
    ]
    for command, expected in (
        (["loadbalancer", "list"], "lb-alpha"),
        (["network", "list"], "lb-alpha"),
    ):
        done = subprocess.run(
            [str(OPENSTACK), *auth, *command, "-f", "json"],
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
        names = {row["Name"] if "Name" in row else row["name"] for row in json.loads(done.stdout)}
        assert names == {expected}, (command, names)
