"""The metadata service's pure parts: the proxy's HAProxy configuration (golden files,
``haproxy -c``), the document the reconcile writes, the answers made from a port
(golden files) and the lookup by address and router.

UPDATE_GOLDEN=1 rewrites tests/golden/metadata-*.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
from pathlib import Path, PurePath

import pytest

from netnode.metadata import answers, nova
from netnode.metadata.catalog import Catalog
from netnode.metadata.service import respond
from netnode.model.loading import load_data
from netnode.plan import desired
from netnode.plan import metadata as plan
from netnode.render.metadata_proxy import render_network_proxy, render_router_proxy
from tests.unit.golden import check_golden

RUN = PurePath("/var/lib/netnode/n1/haproxy")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@x"


def data() -> dict:
    def net(name: str, tag: int) -> dict:
        return {
            "name": name,
            "segmentation_id": tag,
            "subnets": [
                {
                    "name": f"{name}-subnet",
                    "cidr": "10.10.0.0/24",
                    "gateway_ip": "10.10.0.1",
                    "dns_nameservers": ["10.10.0.53", "10.10.0.54"],
                    "host_routes": [{"destination": "192.168.7.0/24", "nexthop": "10.10.0.254"}],
                }
            ],
        }

    return {
        "name": "md",
        "networks": [net("a", 31), net("b", 32), net("alone", 33)],
        "routers": [
            {"name": "ra", "interfaces": ["a-subnet"]},
            {"name": "rb", "interfaces": ["b-subnet"]},
            {"name": "empty"},
        ],
        "ports": [
            {
                "name": "vm-a",
                "network": "a",
                "fixed_ips": [{"ip_address": "10.10.0.5"}],
                "device_id": "0c9a4b1e-6a3b-4c59-9a38-2d5f1b7f0a01",
                "hostname": "alpha",
                "public_keys": {"key-a": KEY},
                "user_data": "#cloud-config\nhostname: alpha\n",
            },
            {"name": "vm-b", "network": "b", "fixed_ips": [{"ip_address": "10.10.0.5"}]},
            {"name": "vm-c", "network": "alone", "fixed_ips": [{"ip_address": "10.10.0.9"}]},
        ],
    }


def topo():  # type: ignore[no-untyped-def]
    return load_data(data(), node="n1")


def record(name: str = "vm-a") -> dict:
    t = topo()
    port = next(p for p in t.ports if p.name == name)
    net = t.network(port.network)
    return plan.document(t)["networks"][net.uid][str(port.fixed_ips[0].ip_address)]


# --- the proxy -----------------------------------------------------------------------


def test_router_proxy_matches_golden() -> None:
    check_golden(
        "metadata-router-proxy.cfg",
        render_router_proxy(
            "4a681255-77a8-55fe-bb7c-5764c3d1eed2",
            service_socket="/var/lib/netnode/n1/metadata/service.sock",
            stats_socket="/var/lib/netnode/n1/haproxy/md-4a68/stats.sock",
        ),
    )


def test_network_proxy_matches_golden() -> None:
    check_golden(
        "metadata-network-proxy.cfg",
        render_network_proxy(
            "9d3b6c2e-5d1b-5f59-a0a0-0c9a4b1e6a3b",
            service_socket="/var/lib/netnode/n1/metadata/service.sock",
            stats_socket="/var/lib/netnode/n1/haproxy/md-9d3b/stats.sock",
        ),
    )


def test_the_proxy_replaces_what_the_client_sent() -> None:
    text = render_router_proxy("r1", service_socket="/s.sock", stats_socket="/st.sock")
    lines = [line.strip() for line in text.splitlines()]
    deleted = lines.index("http-request del-header X-Forwarded-For")
    assert deleted < lines.index("http-request set-header X-Forwarded-For %[src]")
    assert "http-request del-header X-Neutron-Router-ID" in lines
    assert "option forwardfor" not in lines  # it appends to what the client sent


@pytest.mark.parametrize("bad", ["", "a b", "x\ny", "id;rm"])
def test_a_bad_id_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="X-Neutron-Router-ID"):
        render_router_proxy(bad, service_socket="/s.sock", stats_socket="/st.sock")


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_both_proxies_pass_haproxy_check(tmp_path: Path) -> None:
    for text in (
        render_router_proxy("r1", service_socket="/s.sock", stats_socket=str(tmp_path / "a")),
        render_network_proxy("n1", service_socket="/s.sock", stats_socket=str(tmp_path / "b")),
    ):
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(text)
        result = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


# --- the plan ------------------------------------------------------------------------


def test_a_router_with_tenant_interfaces_gets_the_redirect_and_a_proxy() -> None:
    t = topo()
    spec = desired.build(t, "n1", RUN)
    ra = next(r for r in t.routers if r.name == "ra")
    ns = f"qrouter-{ra.host_id}"
    (proxy,) = [p for p in spec.processes if p.namespace == ns]
    assert proxy.name == f"md-{ra.host_id}" and proxy.haproxy
    assert f"X-Neutron-Router-ID {ra.uid}" in proxy.config
    assert "server metadata /var/lib/netnode/n1/metadata/service.sock" in proxy.config
    (fw,) = [f for f in spec.firewalls if f.namespace == ns]
    nat = "\n".join(fw.rules.chains("nat")["neutron-l3-agent-PREROUTING"])
    assert "-d 169.254.169.254/32 -i qr-" in nat and "REDIRECT --to-ports 9697" in nat
    # A router without interfaces has nobody to serve: no proxy, no rules.
    empty = next(r for r in t.routers if r.name == "empty")
    assert not [p for p in spec.processes if p.namespace == f"qrouter-{empty.host_id}"]
    assert not [f for f in spec.firewalls if f.namespace == f"qrouter-{empty.host_id}"]


def test_the_network_proxy_of_a_dhcp_namespace() -> None:
    t = topo()
    alone = t.network("alone")
    proxy = plan.network_proxy(alone, f"qdhcp-{alone.uid}", RUN)
    assert proxy.namespace == f"qdhcp-{alone.uid}" and proxy.haproxy
    assert "bind 169.254.169.254:80" in proxy.config
    assert f"X-Neutron-Network-ID {alone.uid}" in proxy.config


def test_the_document_holds_each_port_by_network_and_address() -> None:
    t = topo()
    doc = plan.document(t)
    a, b = t.network("a").uid, t.network("b").uid
    ra, rb = (r.uid for r in t.routers[:2])
    assert doc["routers"] == {ra: [a], rb: [b]}
    assert doc["networks"][a]["10.10.0.5"]["name"] == "vm-a"
    assert doc["networks"][b]["10.10.0.5"]["name"] == "vm-b"
    assert doc["nova"] is None
    assert plan.document_text(t) == plan.document_text(topo())  # stable


# --- the answers ---------------------------------------------------------------------


def test_meta_data_matches_golden() -> None:
    check_golden(
        "metadata-meta_data.json",
        json.dumps(answers.meta_data(record()), indent=1, sort_keys=True) + "\n",
    )


def test_network_data_matches_golden() -> None:
    check_golden(
        "metadata-network_data.json",
        json.dumps(answers.network_data(record()), indent=1, sort_keys=True) + "\n",
    )


def test_meta_data_without_device_id_is_the_ports() -> None:
    rec = record("vm-b")
    meta = answers.meta_data(rec)
    assert meta["uuid"] == rec["id"] and meta["hostname"] == "vm-b" and meta["keys"] == []


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/latest/meta-data/instance-id", 200, "0c9a4b1e-6a3b-4c59-9a38-2d5f1b7f0a01"),
        ("/2009-04-04/meta-data/local-ipv4", 200, "10.10.0.5"),
        ("/latest/meta-data/hostname", 200, "alpha"),
        ("/latest/meta-data/public-keys/", 200, "0=key-a"),
        ("/latest/meta-data/public-keys/0/openssh-key", 200, KEY),
        ("/latest/meta-data/public-keys/0/", 200, "openssh-key"),
        ("/latest/meta-data/placement/availability-zone", 200, "nova"),
        ("/latest/user-data", 200, "#cloud-config\nhostname: alpha\n"),
        ("/openstack/latest/user_data", 200, "#cloud-config\nhostname: alpha\n"),
        ("/openstack/2012-08-10/user_data", 200, "#cloud-config\nhostname: alpha\n"),
        ("/openstack/latest/vendor_data.json", 200, "{}"),
        ("/openstack/1999-01-01/meta_data.json", 404, "404 Not Found\n"),
        ("/latest/meta-data/nothing", 404, "404 Not Found\n"),
        ("/elsewhere", 404, "404 Not Found\n"),
    ],
)
def test_paths(path: str, status: int, body: str) -> None:
    got = answers.answer(record(), path)
    assert (got.status, got.body.decode()) == (status, body)


def test_listings() -> None:
    rec = record()
    assert answers.answer(rec, "/openstack").body.decode().splitlines()[-1] == "latest"
    assert "2009-04-04" in answers.answer(rec, "/").body.decode().splitlines()
    listing = answers.answer(rec, "/openstack/latest/").body.decode().splitlines()
    assert listing == ["meta_data.json", "network_data.json", "user_data", "vendor_data.json"]
    meta = answers.answer(rec, "/latest/meta-data/").body.decode().splitlines()
    assert {"instance-id", "local-ipv4", "public-keys/", "placement/", "mac"} <= set(meta)


def test_user_data_is_404_when_the_port_has_none() -> None:
    rec = record("vm-b")
    assert answers.answer(rec, "/openstack/latest/user_data").status == 404
    assert answers.answer(rec, "/latest/user-data").status == 404
    assert "user_data" not in answers.answer(rec, "/openstack/latest").body.decode()


# --- the lookup ----------------------------------------------------------------------


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    (tmp_path / "md.json").write_text(plan.document_text(topo()))
    return Catalog(tmp_path)


def test_the_same_address_behind_two_routers_is_two_ports(catalog: Catalog) -> None:
    t = topo()
    ra, rb = (r.uid for r in t.routers[:2])
    for router, name in ((ra, "vm-a"), (rb, "vm-b")):
        headers = {"X-Forwarded-For": "10.10.0.5", "X-Neutron-Router-ID": router}
        got = respond(catalog, headers, "/openstack/latest/meta_data.json")
        assert json.loads(got.body)["name"] == name
    # Behind a router that does not serve its network, an address is nobody's.
    empty = t.routers[2].uid
    headers = {"X-Forwarded-For": "10.10.0.5", "X-Neutron-Router-ID": empty}
    assert respond(catalog, headers, "/").status == 404
    # By network (a DHCP namespace's proxy).
    headers = {"X-Forwarded-For": "10.10.0.9", "X-Neutron-Network-ID": t.network("alone").uid}
    assert respond(catalog, headers, "/latest/meta-data/hostname").body == b"vm-c"


def test_a_request_without_the_proxys_headers_is_refused(catalog: Catalog) -> None:
    assert respond(catalog, {"X-Forwarded-For": "10.10.0.5"}, "/").status == 400
    router = topo().routers[0].uid
    assert respond(catalog, {"X-Neutron-Router-ID": router}, "/").status == 400


def test_a_changed_document_is_read_again(catalog: Catalog, tmp_path: Path) -> None:
    router = topo().routers[0].uid
    headers = {"X-Forwarded-For": "10.10.0.5", "X-Neutron-Router-ID": router}
    assert respond(catalog, headers, "/latest/meta-data/hostname").body == b"alpha"
    changed = data()
    changed["ports"][0]["hostname"] = "beta"
    (tmp_path / ".new").write_text(plan.document_text(load_data(changed, node="n1")))
    os.replace(tmp_path / ".new", tmp_path / "md.json")
    assert respond(catalog, headers, "/latest/meta-data/hostname").body == b"beta"
    (tmp_path / "md.json").unlink()
    assert respond(catalog, headers, "/latest/meta-data/hostname").status == 404


def test_the_signature_is_neutrons() -> None:
    rec = record()
    sent = nova.headers(rec, "10.10.0.5", "secret")
    expected = hmac.new(b"secret", rec["device_id"].encode(), hashlib.sha256).hexdigest()
    assert sent == {
        "X-Forwarded-For": "10.10.0.5",
        "X-Instance-ID": rec["device_id"],
        "X-Tenant-ID": "",
        "X-Instance-ID-Signature": expected,
    }


def test_the_foreground_command_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from netnode.cli import main as cli

    assert cli.main(["--state-dir", str(tmp_path), "--node", "n9", "metadata-service"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/n9/metadata/config.json does not exist" in err and "netnode apply" in err
