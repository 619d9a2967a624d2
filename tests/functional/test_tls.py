"""TLS on a real host: termination with SNI, versions and client certificates, the
X-SSL-* headers and HSTS, re-encryption to TLS members, TLS monitors, passthrough, and
certificate files that change or are wrong. Every request is a real TLS handshake from
a lab namespace (``netnode.lab.tls``), with certificates made by ``openssl``."""

from __future__ import annotations

import hashlib
import shutil
import ssl
from pathlib import Path

import pytest

from netnode.errors import TopologyError
from netnode.lab.tls import https_get
from netnode.model import ids
from netnode.plan.desired import process_name
from netnode.reconcile import converge
from netnode.reconcile.status import loadbalancer_status
from tests.functional.certs import Certs, make_certs
from tests.functional.conftest import Lab, eventually

VIP = "10.0.0.100"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def topology(certs: Certs, listener: dict, pool: dict | None = None) -> dict:
    """A tenant network, two lab VMs answering HTTP on 80 and HTTPS on 443 (a
    certificate of the test CA), a tester VM to send from, and one load balancer with
    ``listener`` in front of pool ``vms`` (both VMs on port 80 unless ``pool`` says)."""
    pool = {"name": "vms", "protocol": "HTTP", **(pool or {})}
    pool.setdefault(
        "members",
        [
            {"name": "vm1", "address": "10.0.0.81", "protocol_port": 80},
            {"name": "vm2", "address": "10.0.0.82", "protocol_port": 80},
        ],
    )
    vm = {"network": "tenant1", "https_port": 443, "tls_container_ref": str(certs.member.bundle)}
    return {
        "networks": [
            {
                "name": "tenant1",
                "segmentation_id": 1,
                "subnets": [{"name": "sub", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
            }
        ],
        "load_balancers": [
            {
                "name": "lb",
                "vip": {"network": "tenant1", "address": VIP},
                "listeners": [{"name": "l", "default_pool": "vms", **listener}],
                "pools": [pool],
            }
        ],
        "lab": {
            "instances": [
                {"name": "vm1", "address": "10.0.0.81", "body": "server_81", **vm},
                {"name": "vm2", "address": "10.0.0.82", "body": "server_82", **vm},
                {"name": "tester", "network": "tenant1", "address": "10.0.0.9", "body": "t"},
            ]
        },
    }


def terminated(certs: Certs, **more: object) -> dict:
    return {
        "protocol": "TERMINATED_HTTPS",
        "protocol_port": 443,
        "default_tls_container_ref": str(certs.default.bundle),
        **more,
    }


def member_states(lab: Lab) -> dict[str, str]:
    lb = lab.topology(lab.applied or {}).load_balancers[0]
    status = loadbalancer_status(lb, lab.host.haproxy.stats(process_name("lb", lb.uid)))
    return {m.name: m.operating_status for m in status.pools[0].members}


# --- termination -------------------------------------------------------------------------


def test_the_default_certificate_without_sni_and_sni_picks_the_others(
    lab: Lab, certs: Certs
) -> None:
    sni = [str(certs.sni_a.bundle), str(certs.sni_b.bundle)]
    lab.apply(topology(certs, terminated(certs, sni_container_refs=sni)))
    tester = lab.ns_of("instance", "tester")

    def cn(name: str | None) -> str | None:
        return https_get(tester, VIP, server_name=name, ca=certs.ca.cert).peer_cn

    assert cn(None) == "default.example"
    assert cn("a.example") == "a.example"
    assert cn("b.example") == "b.example"
    assert cn("unknown.example") == "default.example"
    bodies = {https_get(tester, VIP, ca=certs.ca.cert).body.strip() for _ in range(4)}
    assert bodies == {"server_81", "server_82"}


def test_headers_hsts_and_x_forwarded_proto(lab: Lab, certs: Certs) -> None:
    listener = terminated(
        certs,
        insert_headers={"X-Forwarded-Proto": True, "X-Forwarded-For": True},
        hsts_max_age=31536000,
        hsts_include_subdomains=True,
        hsts_preload=True,
    )
    lab.apply(topology(certs, listener))
    answer = https_get(lab.ns_of("instance", "tester"), VIP, ca=certs.ca.cert)
    assert answer.status == 200
    assert answer.headers["strict-transport-security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert answer.headers["echo-x-forwarded-proto"] == "https"


def test_tls_versions_pin_what_a_client_may_use(lab: Lab, certs: Certs) -> None:
    lab.apply(topology(certs, terminated(certs, tls_versions=["TLSv1.2"])))
    tester = lab.ns_of("instance", "tester")
    answer = https_get(tester, VIP, ca=certs.ca.cert)
    assert answer.version == "TLSv1.2" and answer.status == 200
    with pytest.raises(OSError):
        https_get(tester, VIP, ca=certs.ca.cert, min_version="TLSv1.3")


def test_alpn_and_ciphers_are_offered(lab: Lab, certs: Certs) -> None:
    listener = terminated(
        certs,
        alpn_protocols=["http/1.1"],
        tls_versions=["TLSv1.2"],
        tls_ciphers="ECDHE-ECDSA-AES256-GCM-SHA384",
    )
    lab.apply(topology(certs, listener))
    tester = lab.ns_of("instance", "tester")
    answer = https_get(tester, VIP, ca=certs.ca.cert, alpn=["h2", "http/1.1"])
    assert answer.alpn == "http/1.1" and answer.status == 200


# --- client certificates -----------------------------------------------------------------


def test_mandatory_client_authentication(lab: Lab, certs: Certs) -> None:
    listener = terminated(
        certs,
        client_authentication="MANDATORY",
        client_ca_tls_container_ref=str(certs.ca.cert),
        insert_headers={"X-SSL-Client-CN": True},
    )
    lab.apply(topology(certs, listener))
    tester = lab.ns_of("instance", "tester")
    with pytest.raises(OSError):
        https_get(tester, VIP, ca=certs.ca.cert)
    with pytest.raises(OSError):
        https_get(tester, VIP, ca=certs.ca.cert, cert=certs.stranger.cert, key=certs.stranger.key)
    answer = https_get(tester, VIP, ca=certs.ca.cert, cert=certs.client.cert, key=certs.client.key)
    assert answer.status == 200
    assert answer.headers["echo-x-ssl-client-cn"] == "client-1"


def test_a_revoked_client_certificate_is_refused(lab: Lab, certs: Certs, tmp_path: Path) -> None:
    crl = certs.ca.crl("revoked-client", [certs.client])
    other = certs.ca.issue("client-2", "client-2", client=True)
    listener = terminated(
        certs,
        client_authentication="MANDATORY",
        client_ca_tls_container_ref=str(certs.ca.cert),
        client_crl_container_ref=str(crl),
    )
    lab.apply(topology(certs, listener))
    tester = lab.ns_of("instance", "tester")
    with pytest.raises(OSError):
        https_get(tester, VIP, ca=certs.ca.cert, cert=certs.client.cert, key=certs.client.key)
    assert https_get(tester, VIP, ca=certs.ca.cert, cert=other.cert, key=other.key).status == 200


def test_optional_client_authentication_and_the_x_ssl_headers(lab: Lab, certs: Certs) -> None:
    headers = (
        "X-SSL-Client-Verify",
        "X-SSL-Client-Has-Cert",
        "X-SSL-Client-DN",
        "X-SSL-Client-CN",
        "X-SSL-Issuer",
        "X-SSL-Client-SHA1",
        "X-SSL-Client-Not-Before",
        "X-SSL-Client-Not-After",
    )
    listener = terminated(
        certs,
        client_authentication="OPTIONAL",
        client_ca_tls_container_ref=str(certs.ca.cert),
        insert_headers=dict.fromkeys(headers, True),
    )
    lab.apply(topology(certs, listener))
    tester = lab.ns_of("instance", "tester")
    anonymous = https_get(tester, VIP, ca=certs.ca.cert)
    assert anonymous.status == 200
    assert anonymous.headers["echo-x-ssl-client-has-cert"] == "0"
    assert anonymous.headers["echo-x-ssl-client-verify"] == "0"
    known = https_get(tester, VIP, ca=certs.ca.cert, cert=certs.client.cert, key=certs.client.key)
    seen = {h: known.headers[f"echo-{h.lower()}"] for h in headers}
    assert seen["X-SSL-Client-Has-Cert"] == "1"
    assert seen["X-SSL-Client-Verify"] == "0"
    assert seen["X-SSL-Client-CN"] == "client-1"
    assert seen["X-SSL-Client-DN"] == "/O=netnode tests/CN=client-1"
    assert seen["X-SSL-Issuer"] == "/O=netnode tests/CN=ca"
    der = ssl.PEM_cert_to_DER_cert(certs.client.cert.read_text())
    assert seen["X-SSL-Client-SHA1"] == hashlib.sha1(der).hexdigest().upper()
    # ASN.1 UTCTime: YYMMDDhhmmssZ, two days apart (certs.DAYS).
    before, after = seen["X-SSL-Client-Not-Before"], seen["X-SSL-Client-Not-After"]
    assert len(before) == len(after) == 13 and before.endswith("Z") and after > before


def test_l7_rules_on_the_client_certificate(lab: Lab, certs: Certs) -> None:
    """SSL_CONN_HAS_CERT, SSL_VERIFY_RESULT and SSL_DN_FIELD with real handshakes: a
    client without a certificate is refused by a policy, client-1 (verified, CN
    client-...) goes to a pool of its own; a foreign CA's certificate never gets past
    the handshake (OPTIONAL still verifies a certificate that is presented)."""
    listener = terminated(
        certs,
        client_authentication="OPTIONAL",
        client_ca_tls_container_ref=str(certs.ca.cert),
        l7policies=[
            {
                "name": "anonymous",
                "action": "REJECT",
                "rules": [
                    {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "False"}
                ],
            },
            {
                "name": "client-1",
                "action": "REDIRECT_TO_POOL",
                "redirect_pool": "vm2-only",
                "rules": [
                    {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"},
                    {
                        "type": "SSL_DN_FIELD",
                        "key": "CN",
                        "compare_type": "STARTS_WITH",
                        "value": "client-",
                    },
                ],
            },
        ],
    )
    data = topology(
        certs, listener, {"members": [{"name": "vm1", "address": "10.0.0.81", "protocol_port": 80}]}
    )
    data["load_balancers"][0]["pools"].append(
        {
            "name": "vm2-only",
            "protocol": "HTTP",
            "members": [{"name": "vm2", "address": "10.0.0.82", "protocol_port": 80}],
        }
    )
    lab.apply(data)
    tester = lab.ns_of("instance", "tester")
    assert https_get(tester, VIP, ca=certs.ca.cert).status == 403
    known = https_get(tester, VIP, ca=certs.ca.cert, cert=certs.client.cert, key=certs.client.key)
    assert (known.status, known.body.strip()) == (200, "server_82")
    with pytest.raises(ssl.SSLError):
        https_get(tester, VIP, ca=certs.ca.cert, cert=certs.stranger.cert, key=certs.stranger.key)
    # Without the DN rule's match (the policy inverted), client-1 lands on the default pool.
    data["load_balancers"][0]["listeners"][0]["l7policies"][1]["rules"][1]["invert"] = True
    lab.apply(data)
    known = https_get(tester, VIP, ca=certs.ca.cert, cert=certs.client.cert, key=certs.client.key)
    assert (known.status, known.body.strip()) == (200, "server_81")


# --- towards the members -----------------------------------------------------------------


def tls_members(certs: Certs, ca: Path, **more: object) -> dict:
    return {
        "tls_enabled": True,
        "ca_tls_container_ref": str(ca),
        "members": [
            {"name": "vm1", "address": "10.0.0.81", "protocol_port": 443},
            {"name": "vm2", "address": "10.0.0.82", "protocol_port": 443},
        ],
        **more,
    }


def test_re_encryption_verifies_the_members(lab: Lab, certs: Certs) -> None:
    pool = tls_members(certs, certs.ca.cert, tls_versions=["TLSv1.2", "TLSv1.3"])
    lab.apply(topology(certs, terminated(certs), pool))
    tester = lab.ns_of("instance", "tester")
    bodies = {https_get(tester, VIP, ca=certs.ca.cert).body.strip() for _ in range(4)}
    assert bodies == {"server_81", "server_82"}


def test_re_encryption_with_the_wrong_ca_reaches_no_member(lab: Lab, certs: Certs) -> None:
    lab.apply(topology(certs, terminated(certs), tls_members(certs, certs.other_ca.cert)))
    assert https_get(lab.ns_of("instance", "tester"), VIP, ca=certs.ca.cert).status == 503
    # Checked over the same TLS, the members are down.
    monitor = {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries_down": 1}
    pool = tls_members(certs, certs.other_ca.cert, healthmonitor=monitor)
    lab.apply(topology(certs, terminated(certs), pool))
    eventually(lambda: set(member_states(lab).values()) == {"ERROR"})
    pool = tls_members(certs, certs.ca.cert, healthmonitor=monitor)
    lab.apply(topology(certs, terminated(certs), pool))
    eventually(lambda: set(member_states(lab).values()) == {"ONLINE"})


@pytest.mark.parametrize("kind", ["HTTPS", "TLS-HELLO"])
def test_tls_monitors_mark_a_member_without_tls_down(lab: Lab, certs: Certs, kind: str) -> None:
    pool = {
        "protocol": "TCP",
        "healthmonitor": {"type": kind, "delay": 1, "timeout": 1, "max_retries_down": 1},
        "members": [
            {"name": "vm1", "address": "10.0.0.81", "protocol_port": 443},
            {"name": "vm2", "address": "10.0.0.82", "protocol_port": 80},
        ],
    }
    lab.apply(topology(certs, {"protocol": "TCP", "protocol_port": 443}, pool))
    eventually(lambda: member_states(lab) == {"vm1": "ONLINE", "vm2": "ERROR"})


def test_https_passthrough_keeps_the_members_certificate(lab: Lab, certs: Certs) -> None:
    pool = {
        "protocol": "HTTPS",
        "members": [{"name": "vm1", "address": "10.0.0.81", "protocol_port": 443}],
    }
    lab.apply(topology(certs, {"protocol": "HTTPS", "protocol_port": 443}, pool))
    answer = https_get(lab.ns_of("instance", "tester"), VIP, ca=certs.ca.cert)
    assert answer.peer_cn == "member.example" and answer.body.strip() == "server_81"


# --- certificate files -------------------------------------------------------------------


def test_a_changed_certificate_file_is_served_after_the_next_apply(
    lab: Lab, certs: Certs, tmp_path: Path
) -> None:
    pem = tmp_path / "site.pem"
    shutil.copyfile(certs.default.bundle, pem)
    data = topology(certs, terminated(certs, default_tls_container_ref=str(pem)))
    lab.apply(data)
    tester = lab.ns_of("instance", "tester")
    assert https_get(tester, VIP, ca=certs.ca.cert).peer_cn == "default.example"
    assert lab.apply(data).plan.empty
    shutil.copyfile(certs.sni_a.bundle, pem)
    assert not lab.apply(data).plan.empty
    assert https_get(tester, VIP, ca=certs.ca.cert).peer_cn == "a.example"
    lb = lab.topology(data).load_balancers[0]
    tls_dir = lab.host.haproxy.paths(process_name("lb", lb.uid)).dir / "tls"
    copies = list(tls_dir.iterdir())
    assert len(copies) == 1 and oct(copies[0].stat().st_mode & 0o777) == "0o600"
    assert copies[0].read_bytes() == certs.sni_a.bundle.read_bytes()


def test_a_missing_certificate_file_is_an_error_that_changes_nothing(
    lab: Lab, certs: Certs, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.pem"
    data = topology(certs, terminated(certs, default_tls_container_ref=str(missing)))
    with pytest.raises(TopologyError) as caught:
        lab.apply(data)
    message = str(caught.value)
    assert f"load_balancers[0].listeners[0].default_tls_container_ref: {missing}: " in message
    assert "No such file" in message
    # Nothing recorded, no namespace, no process.
    assert converge.desired(lab.host) == {}
    assert not lab.host.haproxy.names()
    topo = lab.topology(data)
    wanted = {ids.lb_namespace(topo.load_balancers[0].uid)}
    wanted |= {ids.lab_namespace(i.uid) for i in topo.lab.instances}
    assert not wanted & set(lab.host.netlink.namespaces())


def test_a_wrong_key_is_refused_and_the_running_certificate_stays(
    lab: Lab, certs: Certs, tmp_path: Path
) -> None:
    data = topology(certs, terminated(certs))
    lab.apply(data)
    lb = lab.topology(data).load_balancers[0]
    before = lab.host.haproxy.installed_config(process_name("lb", lb.uid))
    mixed = tmp_path / "mixed.pem"
    mixed.write_bytes(certs.default.cert.read_bytes() + certs.sni_a.key.read_bytes())
    with pytest.raises(TopologyError, match="does not belong to its first certificate"):
        lab.apply(topology(certs, terminated(certs, default_tls_container_ref=str(mixed))))
    lab.applied = lab.prepare(data)  # what destroy takes down: the first apply
    assert lab.host.haproxy.installed_config(process_name("lb", lb.uid)) == before
    answer = https_get(lab.ns_of("instance", "tester"), VIP, ca=certs.ca.cert)
    assert answer.peer_cn == "default.example"


def test_a_tls_member_is_added_without_a_reload(lab: Lab, certs: Certs) -> None:
    pool = tls_members(certs, certs.ca.cert)
    one = {**pool, "members": pool["members"][:1]}
    lab.apply(topology(certs, terminated(certs), one))
    tester = lab.ns_of("instance", "tester")
    assert https_get(tester, VIP, ca=certs.ca.cert).body.strip() == "server_81"
    outcome = lab.apply(topology(certs, terminated(certs), pool))
    assert [type(o).__name__ for o in outcome.plan.operations] == ["ChangeServers"]
    assert outcome.ok, outcome.failures
    lb = lab.topology(lab.applied or {}).load_balancers[0]
    assert lab.host.haproxy.master_state(process_name("lb", lb.uid)).reloads == 0
    bodies = {https_get(tester, VIP, ca=certs.ca.cert).body.strip() for _ in range(4)}
    assert bodies == {"server_81", "server_82"}
