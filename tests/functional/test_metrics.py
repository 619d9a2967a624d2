"""Metrics seen by a real Prometheus (Debian's ``prometheus``, a private one on
127.0.0.1 with its data in a temporary directory): it scrapes ``netnode agent
--metrics-listen``'s endpoint every second, and a PromQL query through its HTTP API sees
a member of a lab load balancer go down."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netnode.cli.metrics import serving
from netnode.lab.client import http_get
from netnode.plan.desired import process_name
from netnode.reconcile.agent import Agent
from tests.functional.conftest import Lab, eventually, fast_monitor, seed_data

PROMETHEUS = "/usr/bin/prometheus"

pytestmark = pytest.mark.skipif(
    not os.access(PROMETHEUS, os.X_OK), reason="Debian's prometheus is not installed"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # only 127.0.0.1
        return str(answer.read().decode())


@dataclass
class Prometheus:
    url: str

    def query(self, promql: str) -> list[dict]:
        """The instant vector ``promql`` selects now (an empty list: nothing)."""
        body = json.loads(
            get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        )
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def targets(self) -> list[dict]:
        """Its scrape targets' health and last error (for a failing test's message)."""
        body = json.loads(get(f"{self.url}/api/v1/targets"))
        return [
            {k: t.get(k) for k in ("scrapeUrl", "health", "lastError", "lastScrapeDuration")}
            for t in body["data"]["activeTargets"]
        ]

    def ready(self) -> bool:
        try:
            get(f"{self.url}/-/ready", timeout=1.0)
        except OSError:
            return False
        return True


@pytest.fixture
def prometheus_for() -> Iterator[object]:
    """``prometheus_for(target)``: a private Prometheus scraping ``http://<target>/metrics``
    every second; stopped by pid and its directory removed afterwards."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(target: str) -> Prometheus:
        home = Path(tempfile.mkdtemp(prefix="nn-prom-"))
        config = home / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: netnode\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        port = free_port()
        log = (home / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append((process, home))
        server = Prometheus(f"http://127.0.0.1:{port}")
        eventually(lambda: server.ready() or process.poll() is not None, timeout=30)
        assert process.poll() is None, (home / "prometheus.log").read_text()
        return server

    try:
        yield start
    finally:
        for process, home in started:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            shutil.rmtree(home, ignore_errors=True)


def test_prometheus_sees_a_member_go_down(lab: Lab, prometheus_for) -> None:  # type: ignore[no-untyped-def]
    data = fast_monitor(seed_data())
    path = lab.write(data)
    lab.apply(data)  # built here: the agent's thread only reads the host (see test_agent)
    topo = lab.topology(data)
    lb = topo.load_balancers[0]
    vm1 = next(m for m in lb.pools[0].members if m.name == "vm1")
    vm1_server = next(i for i in topo.lab.instances if i.name == "vm1")
    agent = Agent(lab.host, files=[path], period=600, log=lambda _s: None)
    port = free_port()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    with serving(agent, ("127.0.0.1", port)):
        thread.start()
        try:
            prometheus = prometheus_for(f"127.0.0.1:{port}")
            member = f'netnode_member_status{{loadbalancer="{lb.uid}",member="{vm1.uid}"}} == 1'

            def state() -> str | None:
                found = prometheus.query(member)
                return found[0]["metric"]["state"] if found else None

            # Generous: the machine is shared, a pass or a scrape may take seconds.
            try:
                eventually(lambda: state() == "UP", timeout=90)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; targets: {prometheus.targets()}") from None
            # netnode's own metrics came through the same scrape.
            assert prometheus.query('netnode_reconcile_passes_total{kind="full",result="ok"} > 0')
            assert prometheus.query('netnode_objects{kind="member",operating_status="ONLINE"} == 2')
            lab.host.haproxy.stop(process_name("lab", vm1_server.uid))
            assert eventually(lambda: state() == "DOWN", timeout=30)
            assert prometheus.query(
                'netnode_objects{kind="loadbalancer",operating_status="DEGRADED"} == 1'
            )
            assert prometheus.query(f'netnode_pool_active_members{{loadbalancer="{lb.uid}"}} == 1')
            # A member's weight: a change over HAProxy's runtime API, not a reload.
            data["load_balancers"][0]["pools"][0]["members"][1]["weight"] = 2
            lab.write(data)
            assert eventually(
                lambda: prometheus.query('netnode_haproxy_changes_total{how="runtime"} == 1'),
                timeout=30,
            )
            assert prometheus.query('netnode_haproxy_changes_total{how="reload"} == 0')
        finally:
            stop.set()
            agent.trigger()
            thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_prometheus_listener_answers_its_load_balancers_metrics_to_allowed_sources(
    lab: Lab,
) -> None:
    data = seed_data()
    data["load_balancers"][0]["listeners"].append(
        {
            "name": "metrics",
            "protocol": "PROMETHEUS",
            "protocol_port": 9100,
            "allowed_cidrs": ["10.255.253.0/24"],
        }
    )
    lab.apply(data)
    lb = lab.topology(data).load_balancers[0]
    outside, vm1 = lab.ns_of("client", "outside"), lab.ns_of("instance", "vm1")
    answer = lab.get(outside, "10.255.253.100", 9100)  # through the floating IP
    assert answer.status == 404  # "/" is not the exporter
    page = http_get(outside, "10.255.253.100", 9100, path="/metrics").body
    assert f'haproxy_backend_active_servers{{proxy="{lb.pools[0].uid}"}} 2' in page
    # Its HAProxy serves this load balancer alone: its sections are its own ids.
    proxies = set(re.findall(r'proxy="([^"]+)"', page))
    assert proxies == {x.uid for x in lb.listeners} | {p.uid for p in lb.pools} | {
        "netnode-metrics"
    }
    # allowed_cidrs: a source on the tenant network is not let in.
    with pytest.raises(OSError):
        http_get(vm1, "10.0.0.100", 9100, path="/metrics", timeout=1.0)


def test_netnode_agent_metrics_listen(lab: Lab) -> None:
    data = seed_data()
    path = lab.write(data)
    lab.apply(data)
    lb = lab.topology(data).load_balancers[0]
    port = free_port()
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netnode.cli.main",
            *lab.cli_args(),
            "agent",
            "-f",
            str(path),
            "--period",
            "600",
            "--metrics-listen",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def page() -> str:
            try:
                text = get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                return ""
            return text if "netnode_reconcile_passes_total{" in text else ""

        text = str(eventually(page, timeout=60))
        assert f'netnode_listener_current_sessions{{listener="{lb.listeners[0].uid}"' in text
        online = (
            'netnode_objects{kind="member",operating_status="ONLINE",provisioning_status="ACTIVE"}'
        )
        assert eventually(lambda: f"{online} 2.0" in page())
    finally:
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=60)
    assert agent.returncode == 0, err.decode()


def test_netnode_serve_metrics_want_an_admin_and_show_the_load_balancers(
    lab: Lab, tmp_path: Path
) -> None:
    data = seed_data()
    lab.apply(data)
    lb = lab.topology(data).load_balancers[0]
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        "tokens:\n"
        "  - {token: admin-token-0000000000, project_id: admin, role: admin}\n"
        "  - {token: member-token-000000000, project_id: p1, role: member}\n"
    )
    port = free_port()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netnode.cli.main",
            *lab.cli_args(),
            "serve",
            "--no-agent",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--tokens",
            str(tokens),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape(token: str) -> str:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as answer:  # only 127.0.0.1
            return str(answer.read().decode())

    def member_up() -> bool:
        try:
            text = scrape("admin-token-0000000000")
        except OSError:
            return False
        return f'member="{lb.pools[0].members[0].uid}"' in text and 'state="UP"} 1.0' in text

    try:
        assert eventually(member_up, timeout=60)
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape("member-token-000000000")
        refused.value.close()
        assert refused.value.code == 403
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err.decode()
