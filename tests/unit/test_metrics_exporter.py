"""netnode.reconcile.exporter: HAProxy's exporter page (a real one, captured from
HAProxy 2.6 with the seed's ids as section names: tests/golden/haproxy-exporter.txt)
re-exported under Octavia's ids; and netnode.render.exporter's frontend."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from netnode.cli.metrics import listen_address
from netnode.errors import TopologyError
from netnode.model.loading import load_data, load_file
from netnode.model.topology import LoadBalancer
from netnode.reconcile import exporter
from netnode.render.exporter import frontend
from netnode.render.haproxy import render_loadbalancer

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
PAGE = (GOLDEN / "haproxy-exporter.txt").read_text()


def seed_lb() -> LoadBalancer:
    return load_file(ROOT / "examples" / "seed.yaml").load_balancers[0]


def samples(families: dict[str, Metric], name: str) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in families[name].samples]


def test_members_get_their_ids_pool_and_load_balancer() -> None:
    lb = seed_lb()
    pool = lb.pools[0]
    vm1, vm2 = pool.members
    families = exporter.relabel(PAGE, lb, "p1")
    up = {
        (labels["member"], labels["state"])
        for labels, value in samples(families, "netnode_member_status")
        if value == 1
    }
    # The page was captured with the first member answering, the second refusing.
    assert up == {(vm1.uid, "UP"), (vm2.uid, "DOWN")}
    labels, _ = samples(families, "netnode_member_status")[0]
    assert labels["loadbalancer"] == lb.uid
    assert labels["pool"] == pool.uid
    assert labels["project"] == "p1"
    assert samples(families, "netnode_pool_active_members") == [
        ({"loadbalancer": lb.uid, "project": "p1", "pool": pool.uid}, 1.0)
    ]


def test_only_the_load_balancers_own_sections_are_kept() -> None:
    lb = seed_lb()
    families = exporter.relabel(PAGE, lb, "p1")
    # The page has three frontends: the listener, the exporter's and another one.
    assert samples(families, "netnode_listener_http_requests") == [
        ({"loadbalancer": lb.uid, "project": "p1", "listener": lb.listeners[0].uid}, 3.0)
    ]
    assert "haproxy" not in generate(families)


def test_a_load_balancer_without_those_ids_gets_nothing() -> None:
    other = seed_lb().model_copy(update={"listeners": [], "pools": []})
    families = exporter.relabel(PAGE, other, "p1")
    assert all(not f.samples for f in families.values())


def test_the_reexport_matches_the_golden_file() -> None:
    families = exporter.relabel(PAGE, seed_lb(), "p1")
    assert generate(families) == (GOLDEN / "netnode-lb-metrics.txt").read_text()


def test_the_exporter_frontend_is_on_a_private_unix_socket() -> None:
    text = render_loadbalancer(
        seed_lb(), stats_socket="/s/stats.sock", state_file="/s/state", metrics_socket="/s/p.sock"
    )
    assert frontend("/s/p.sock") in text
    assert "    bind unix@/s/p.sock mode 600\n" in text
    with pytest.raises(ValueError, match="socket path"):
        frontend("relative.sock")


@pytest.mark.parametrize("text", ["9105", "localhost:9105", "127.0.0.1:0", "127.0.0.1:x", ":9105"])
def test_a_bad_listen_address_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="ADDRESS:PORT"):
        listen_address(text)


def test_listen_addresses() -> None:
    assert listen_address("127.0.0.1:9105") == ("127.0.0.1", 9105)
    assert listen_address("[::1]:9105") == ("::1", 9105)


class _Fixed(Collector):
    def __init__(self, families: dict[str, Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:  # type: ignore[override]
        return list(self.families.values())


def generate(families: dict[str, Metric]) -> str:
    registry = CollectorRegistry()
    registry.register(_Fixed(families))
    return generate_latest(registry).decode()


def seed_with_prometheus(**listener: object) -> dict:
    data = yaml.safe_load((ROOT / "examples" / "seed.yaml").read_text())
    data["load_balancers"][0]["listeners"].append(
        {"name": "metrics", "protocol": "PROMETHEUS", "protocol_port": 9100, **listener}
    )
    return data


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_a_prometheus_listener_serves_the_exporter_on_the_vip(tmp_path: Path) -> None:
    lb = load_data(seed_with_prometheus(allowed_cidrs=["10.255.253.0/24"])).load_balancers[0]
    metrics = next(x for x in lb.listeners if x.protocol == "PROMETHEUS")
    (tmp_path / "state").write_text("1\n")
    text = render_loadbalancer(
        lb,
        stats_socket=str(tmp_path / "stats.sock"),
        state_file=str(tmp_path / "state"),
        metrics_socket=str(tmp_path / "prom.sock"),
    )
    section = text.split(f"frontend {metrics.uid}\n", 1)[1].split("\n", 4)[:4]
    assert section[0] == "    bind 10.0.0.100:9100"
    assert "http-request use-service prometheus-exporter if { path /metrics }" in text
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    result = subprocess.run(
        ["haproxy", "-dW", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_a_prometheus_listener_takes_no_pool() -> None:
    data = seed_with_prometheus(default_pool="vms")
    with pytest.raises(
        TopologyError, match=r"listeners\[1\].default_pool.*PROMETHEUS listener sends to no pool"
    ):
        load_data(data)
