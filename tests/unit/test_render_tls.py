"""TLS without a network: what ``netnode.render.tls`` writes (and a golden file of a
whole TERMINATED_HTTPS load balancer that ``haproxy -c`` accepts with real certificates),
the model's TLS rules, which files the plan installs, how the reconcile layer checks
certificate files, and when a TLS member can be added without a reload."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path, PurePath

import pytest

from netnode.errors import TopologyError
from netnode.model.loading import load_data
from netnode.model.topology import (
    HealthMonitor,
    Instance,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Vip,
)
from netnode.plan import tls_files
from netnode.plan.desired import build
from netnode.plan.runtime import AddServer, server_changes
from netnode.plan.spec import ProcessFile
from netnode.reconcile import certificates
from netnode.render import tls
from netnode.render.haproxy import render_lab_instance, render_loadbalancer
from tests.functional.certs import Certs, make_certs

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "tls-haproxy.cfg"
RUN = "/var/lib/netnode/netnode/haproxy/lb"
LISTENER_ID = "11111111-1111-4111-8111-111111111111"
POOL_ID = "22222222-2222-4222-8222-222222222222"
SSL_HEADERS = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]",
    "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]",
    "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]",
    "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]",
}


def terminated(**kwargs: object) -> Listener:
    fields = {
        "name": "l",
        "id": LISTENER_ID,
        "protocol": "TERMINATED_HTTPS",
        "protocol_port": 443,
        "default_tls_container_ref": "/etc/certs/default.pem",
        "default_pool": "p",
        **kwargs,
    }
    return Listener(**fields)  # type: ignore[arg-type]


def member(n: int) -> Member:
    return Member(
        name=f"m{n}",
        id=f"33333333-3333-4333-8333-33333333333{n}",
        address=f"10.0.0.{10 + n}",
        protocol_port=443,
    )


def pool(**kwargs: object) -> Pool:
    fields = {"name": "p", "id": POOL_ID, "members": [member(1), member(2)], **kwargs}
    return Pool(**fields)  # type: ignore[arg-type]


def lb_of(listener: Listener, the_pool: Pool) -> LoadBalancer:
    return LoadBalancer(
        name="lb",
        id="44444444-4444-4444-8444-444444444444",
        vip=Vip(network="net", address="10.0.0.5"),
        listeners=[listener],
        pools=[the_pool],
    )


# --- listeners ---------------------------------------------------------------------------


def test_only_terminated_https_binds_with_ssl() -> None:
    for protocol in ("HTTP", "HTTPS", "TCP"):
        listener = Listener(name="l", protocol=protocol, protocol_port=443)  # type: ignore[arg-type]
        assert tls.bind_options(listener, {}) == []
        assert tls.frontend_lines(listener) == []


def test_default_certificate_first_then_sni_through_the_installed_copies() -> None:
    listener = terminated(sni_container_refs=["/etc/certs/a.pem", "/etc/certs/b.pem"])
    files = {"/etc/certs/default.pem": f"{RUN}/tls/d.pem", "/etc/certs/b.pem": f"{RUN}/tls/b.pem"}
    assert tls.bind_options(listener, files) == [
        "ssl",
        "crt", f"{RUN}/tls/d.pem",
        "crt", "/etc/certs/a.pem",  # no copy given: the file itself
        "crt", f"{RUN}/tls/b.pem",
    ]  # fmt: skip


@pytest.mark.parametrize(("auth", "verify"), [("OPTIONAL", "optional"), ("MANDATORY", "required")])
def test_client_authentication(auth: str, verify: str) -> None:
    listener = terminated(
        client_authentication=auth,
        client_ca_tls_container_ref="/etc/certs/ca.pem",
        client_crl_container_ref="/etc/certs/crl.pem",
    )
    words = tls.bind_options(listener, {})
    assert words[3:] == [
        "verify", verify, "ca-file", "/etc/certs/ca.pem", "crl-file", "/etc/certs/crl.pem",
    ]  # fmt: skip


def test_versions_ciphers_and_alpn() -> None:
    listener = terminated(
        tls_versions=["TLSv1.3", "TLSv1.1", "TLSv1.2"],
        tls_ciphers="ECDHE+AESGCM:!aNULL",
        alpn_protocols=["h2", "http/1.1"],
    )
    assert tls.bind_options(listener, {})[3:] == [
        "ciphers", "ECDHE+AESGCM:!aNULL",
        "ssl-min-ver", "TLSv1.1", "ssl-max-ver", "TLSv1.3",
        "alpn", "h2,http/1.1",
    ]  # fmt: skip
    assert tls.version_range(["TLSv1"]) == ["ssl-min-ver", "TLSv1.0", "ssl-max-ver", "TLSv1.0"]


def test_headers_in_octavias_order_and_hsts() -> None:
    asked = dict.fromkeys(reversed(list(SSL_HEADERS)), True)
    listener = terminated(
        insert_headers={**asked, "X-Forwarded-Proto": True, "X-SSL-Issuer": False},
        hsts_max_age=600,
        hsts_preload=True,
    )
    assert tls.frontend_lines(listener) == [
        "http-request set-header X-Forwarded-Proto https",
        *(
            f"http-request set-header {h} {v}"
            for h, v in SSL_HEADERS.items()
            if h != "X-SSL-Issuer"
        ),
        'http-response set-header Strict-Transport-Security "max-age=600; preload"',
    ]
    full = terminated(hsts_max_age=0, hsts_include_subdomains=True)
    assert tls.frontend_lines(full) == [
        'http-response set-header Strict-Transport-Security "max-age=0; includeSubDomains"'
    ]
    assert tls.frontend_lines(terminated()) == []


def test_paths_that_could_break_the_line_are_refused() -> None:
    for bad in ("relative.pem", "/a b.pem", '/a"b', "/a#b", "/a,b"):
        with pytest.raises(ValueError, match="unusable file path"):
            tls.path_of("/etc/x.pem", {"/etc/x.pem": bad})


# --- pools and monitors ------------------------------------------------------------------


def test_re_encryption_server_options() -> None:
    verified = pool(
        tls_enabled=True,
        ca_tls_container_ref="/etc/certs/ca.pem",
        crl_container_ref="/etc/certs/crl.pem",
        tls_container_ref="/etc/certs/client.pem",
        tls_versions=["TLSv1.2", "TLSv1.3"],
        alpn_protocols=["http/1.1"],
    )
    assert tls.server_options(verified, None, {}) == [
        "ssl", "verify", "required", "ca-file", "/etc/certs/ca.pem",
        "crl-file", "/etc/certs/crl.pem", "crt", "/etc/certs/client.pem",
        "ssl-min-ver", "TLSv1.2", "ssl-max-ver", "TLSv1.3", "alpn", "http/1.1",
    ]  # fmt: skip
    assert tls.server_options(pool(tls_enabled=True), None, {}) == ["ssl", "verify", "none"]
    assert tls.server_options(pool(), None, {}) == []


def test_https_monitor_checks_over_tls_without_touching_the_pools_verification() -> None:
    https = HealthMonitor(type="HTTPS")
    assert tls.server_options(pool(), https, {}) == ["check-ssl", "verify", "none"]
    # A re-encrypting pool checks over its own TLS, verified as the traffic is.
    verified = pool(tls_enabled=True, ca_tls_container_ref="/etc/certs/ca.pem")
    assert "none" not in tls.server_options(verified, https, {})


def test_tls_hello_monitor() -> None:
    hello = HealthMonitor(type="TLS-HELLO")
    assert tls.check_lines(pool(protocol="TCP"), hello) == ["option ssl-hello-chk"]
    assert tls.check_lines(pool(tls_enabled=True), hello) == []
    assert tls.check_lines(pool(), HealthMonitor(type="TCP")) == []


def test_an_https_monitor_sends_http_checks() -> None:
    lb = lb_of(terminated(), pool(protocol="HTTP", healthmonitor=HealthMonitor(type="HTTPS")))
    text = render_loadbalancer(lb, stats_socket=f"{RUN}/s.sock", state_file=f"{RUN}/state")
    assert "    option httpchk GET /\n" in text
    assert " check-ssl verify none check inter 5s" in text


# --- a whole load balancer ---------------------------------------------------------------


def full_lb(refs: dict[str, str]) -> LoadBalancer:
    listener = terminated(
        default_tls_container_ref=refs["default"],
        sni_container_refs=[refs["a"], refs["b"]],
        client_authentication="OPTIONAL",
        client_ca_tls_container_ref=refs["ca"],
        client_crl_container_ref=refs["crl"],
        tls_versions=["TLSv1.2", "TLSv1.3"],
        alpn_protocols=["h2", "http/1.1"],
        insert_headers={"X-Forwarded-For": True, "X-Forwarded-Proto": True}
        | dict.fromkeys(SSL_HEADERS, True),
        hsts_max_age=31536000,
        hsts_include_subdomains=True,
    )
    the_pool = pool(
        tls_enabled=True,
        ca_tls_container_ref=refs["ca"],
        tls_container_ref=refs["client"],
        healthmonitor=HealthMonitor(type="HTTPS", delay=2),
    )
    return lb_of(listener, the_pool)


def test_terminated_https_matches_golden_file() -> None:
    refs = {k: f"/etc/certs/{k}.pem" for k in ("default", "a", "b", "ca", "crl", "client")}
    files = {ref: f"{RUN}/tls/{name}-sha.pem" for name, ref in refs.items()}
    text = render_loadbalancer(
        full_lb(refs), stats_socket=f"{RUN}/stats.sock", state_file=f"{RUN}/state", tls_files=files
    )
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_rendered_tls_configs_pass_haproxy_check(tmp_path: Path, certs: Certs) -> None:
    refs = {
        "default": str(certs.default.bundle),
        "a": str(certs.sni_a.bundle),
        "b": str(certs.sni_b.bundle),
        "ca": str(certs.ca.cert),
        "crl": str(certs.ca.crl("unit")),
        "client": str(certs.client.bundle),
    }
    (tmp_path / "state").write_text("1\n")
    stats, state = str(tmp_path / "stats.sock"), str(tmp_path / "state")
    inst = Instance(
        name="vm",
        id="66666666-6666-4666-8666-666666666666",
        network="n",
        address="10.0.0.81",
        body="hi",
        https_port=443,
        tls_container_ref=refs["default"],
    )
    hello = lb_of(
        Listener(name="l", id=LISTENER_ID, protocol="TCP", protocol_port=443, default_pool="p"),
        pool(protocol="TCP", healthmonitor=HealthMonitor(type="TLS-HELLO")),
    )
    configs = {
        "full": render_loadbalancer(full_lb(refs), stats_socket=stats, state_file=state),
        "hello": render_loadbalancer(hello, stats_socket=stats, state_file=state),
        "instance": render_lab_instance(inst, stats_socket=stats),
    }
    for name, text in configs.items():
        cfg = tmp_path / f"{name}.cfg"
        cfg.write_text(text)
        result = subprocess.run(
            ["haproxy", "-dW", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{name}:\n{text}\n{result.stderr}"


# --- the model ---------------------------------------------------------------------------


def topology(listener: dict | None = None, the_pool: dict | None = None, vm: dict | None = None):
    return {
        "networks": [
            {"name": "n", "segmentation_id": 1, "subnets": [{"name": "s", "cidr": "10.0.0.0/24"}]}
        ],
        "load_balancers": [
            {
                "name": "lb",
                "vip": {"network": "n", "address": "10.0.0.5"},
                "listeners": [
                    {
                        "name": "l",
                        "protocol": "TERMINATED_HTTPS",
                        "protocol_port": 443,
                        "default_tls_container_ref": "/etc/certs/default.pem",
                        "default_pool": "p",
                        **(listener or {}),
                    }
                ],
                "pools": [{"name": "p", **(the_pool or {})}],
            }
        ],
        "lab": {
            "instances": [
                {"name": "vm", "network": "n", "address": "10.0.0.81", "body": "x", **(vm or {})}
            ]
        },
    }


def problems(data: dict) -> list[str]:
    with pytest.raises(TopologyError) as info:
        load_data(data)
    return [str(p) for p in info.value.problems]


def test_tls_versions_must_be_a_range() -> None:
    hole = problems(topology({"tls_versions": ["TLSv1.1", "TLSv1.3"]}))
    assert hole == [
        "load_balancers[0].listeners[0].tls_versions: versions must follow each other "
        "(add TLSv1.2 or drop the versions on one side of it)"
    ]
    empty = problems(topology(the_pool={"tls_enabled": True, "tls_versions": []}))
    assert empty == [
        "load_balancers[0].pools[0].tls_versions: give at least one version, or leave "
        "tls_versions out"
    ]
    load_data(topology({"tls_versions": ["TLSv1.3", "TLSv1.2"]}))


def test_a_lab_instance_serves_https_with_a_certificate() -> None:
    assert problems(topology(vm={"https_port": 443})) == [
        "lab.instances[0].tls_container_ref: https_port needs a certificate (a PEM file "
        "with certificate and key)"
    ]
    assert problems(topology(vm={"tls_container_ref": "/etc/x.pem"})) == [
        "lab.instances[0].https_port: tls_container_ref is only used with https_port"
    ]


# --- the files the plan installs ---------------------------------------------------------


def test_references_name_their_fields() -> None:
    topo = load_data(
        topology(
            {
                "sni_container_refs": ["/etc/certs/a.pem"],
                "client_authentication": "MANDATORY",
                "client_ca_tls_container_ref": "/etc/certs/ca.pem",
            },
            {"tls_enabled": True, "ca_tls_container_ref": "/etc/certs/ca.pem"},
            {"https_port": 443, "tls_container_ref": "/etc/certs/vm.pem"},
        )
    )
    assert [(r.field, r.file, r.kind) for r in tls_files.references(topo)] == [
        ("load_balancers[0].listeners[0].default_tls_container_ref", "/etc/certs/default.pem", "keypair"),
        ("load_balancers[0].listeners[0].sni_container_refs[0]", "/etc/certs/a.pem", "keypair"),
        ("load_balancers[0].listeners[0].client_ca_tls_container_ref", "/etc/certs/ca.pem", "ca"),
        ("load_balancers[0].pools[0].ca_tls_container_ref", "/etc/certs/ca.pem", "ca"),
        ("lab.instances[0].tls_container_ref", "/etc/certs/vm.pem", "keypair"),
    ]  # fmt: skip


def test_installed_copies_are_named_by_digest() -> None:
    topo = load_data(
        topology(
            {"sni_container_refs": ["/etc/certs/same.pem"]},
            vm={"https_port": 443, "tls_container_ref": "/etc/certs/vm.pem"},
        )
    )
    digests = {"/etc/certs/default.pem": "d" * 64, "/etc/certs/same.pem": "d" * 64}
    spec = build(topo, "netnode", PurePath("/run/nn"), digests)
    lb_proc = next(p for p in spec.processes if p.kind == "loadbalancer")
    copy = f"/run/nn/{lb_proc.name}/tls/{'d' * 64}.pem"
    assert f"ssl crt {copy} crt {copy}\n" in lb_proc.config
    # Two files with one content: one copy.
    assert lb_proc.files == (
        ProcessFile(f"tls/{'d' * 64}.pem", "/etc/certs/default.pem", "d" * 64),
    )
    # Without a digest (a destroy that cannot read the file) the file itself is named.
    vm = next(p for p in spec.processes if p.kind == "instance")
    assert vm.files == () and "ssl crt /etc/certs/vm.pem\n" in vm.config


# --- checking the files ------------------------------------------------------------------


def check_one(tmp_path: Path, data: bytes | None, field: str = "default") -> list[str]:
    pem = tmp_path / "x.pem"
    if data is not None:
        pem.write_bytes(data)
    listener = {"default_tls_container_ref": str(pem)} if field == "default" else {}
    the_pool = {}
    if field == "ca":
        listener = {"default_tls_container_ref": str(pem.with_name("good.pem"))}
        the_pool = {"tls_enabled": True, "ca_tls_container_ref": str(pem)}
    if field == "crl":
        listener = {
            "client_authentication": "MANDATORY",
            "client_ca_tls_container_ref": str(pem.with_name("ca.pem")),
            "client_crl_container_ref": str(pem),
            "default_tls_container_ref": str(pem.with_name("good.pem")),
        }
    topo = load_data(topology(listener, the_pool))
    try:
        certificates.check(topo)
    except TopologyError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_a_good_bundle_gives_its_digest(tmp_path: Path, certs: Certs) -> None:
    pem = tmp_path / "good.pem"
    pem.write_bytes(certs.default.bundle.read_bytes())
    topo = load_data(topology({"default_tls_container_ref": str(pem)}))
    assert certificates.check(topo) == {str(pem): hashlib.sha256(pem.read_bytes()).hexdigest()}


def test_wrong_certificate_files_name_the_field(tmp_path: Path, certs: Certs) -> None:
    field = "load_balancers[0].listeners[0].default_tls_container_ref"
    at = f"{field}: {tmp_path / 'x.pem'}: "
    assert check_one(tmp_path, None) == [f"{at}cannot read it: No such file or directory"]
    assert check_one(tmp_path, b"hello\n") == [
        f"{at}no PEM certificate in it (expected the certificate, its chain and its private key)"
    ]
    no_key = check_one(tmp_path, certs.default.cert.read_bytes())
    assert no_key[0].startswith(f"{at}no private key in it")
    mixed = certs.default.cert.read_bytes() + certs.sni_a.key.read_bytes()
    assert "does not belong to its first certificate" in check_one(tmp_path, mixed)[0]
    broken = certs.default.bundle.read_bytes().replace(b"MII", b"XXX", 1)
    assert check_one(tmp_path, broken)[0].startswith(at)
    encrypted = subprocess.run(
        ["openssl", "pkey", "-in", str(certs.default.key), "-aes256", "-passout", "pass:x"],
        capture_output=True,
        check=True,
    ).stdout
    problem = check_one(tmp_path, certs.default.cert.read_bytes() + encrypted)
    assert "private key is encrypted" in problem[0]


def test_cas_and_crls_are_checked(tmp_path: Path, certs: Certs) -> None:
    (tmp_path / "ca.pem").write_bytes(certs.ca.cert.read_bytes())
    (tmp_path / "good.pem").write_bytes(certs.default.bundle.read_bytes())
    assert check_one(tmp_path, certs.ca.cert.read_bytes(), "ca") == []
    assert check_one(tmp_path, b"not a ca", "ca") == [
        f"load_balancers[0].pools[0].ca_tls_container_ref: {tmp_path / 'x.pem'}: "
        "no PEM certificate in it"
    ]
    crl = certs.ca.crl("check")
    assert check_one(tmp_path, crl.read_bytes(), "crl") == []
    assert check_one(tmp_path, certs.ca.cert.read_bytes(), "crl") == [
        f"load_balancers[0].listeners[0].client_crl_container_ref: {tmp_path / 'x.pem'}: "
        "no PEM certificate revocation list (X509 CRL) in it"
    ]


# --- runtime -----------------------------------------------------------------------------


def tls_cfg(members: list[Member], ca: str) -> str:
    the_pool = pool(members=members, tls_enabled=True, ca_tls_container_ref=ca)
    lb = lb_of(terminated(), the_pool)
    return render_loadbalancer(lb, stats_socket="/run/x/stats.sock", state_file="/run/x/state")


def test_a_tls_member_is_added_live_when_its_files_are_loaded() -> None:
    changes = server_changes(
        tls_cfg([member(1)], "/etc/ca.pem"), tls_cfg([member(1), member(2)], "/etc/ca.pem")
    )
    assert changes is not None and len(changes) == 1 and isinstance(changes[0], AddServer)
    assert changes[0].args == ("ssl", "verify", "required", "ca-file", "/etc/ca.pem")


def test_a_tls_member_whose_files_are_not_loaded_reloads() -> None:
    # The pool's first member: HAProxy has not loaded its CA.
    assert server_changes(tls_cfg([], "/etc/ca.pem"), tls_cfg([member(1)], "/etc/ca.pem")) is None
