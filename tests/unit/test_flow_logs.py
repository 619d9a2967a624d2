"""Tenant flow logs: the HAProxy lines (``netnode.render.flow_log``), which ``haproxy
-c`` takes for HTTP and TCP listeners, and what the receiver makes of the datagrams
HAProxy sends (``netnode.drivers.flow_logs``): the tenant's lines and HAProxy's own
apart, per load balancer, nothing written outside the logs directory, rotation."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from netnode.drivers import flow_logs
from netnode.drivers.flow_logs import FlowLogReceiver, follow, last_lines, log_file, parse
from netnode.render.flow_log import FlowLog, log_format
from tests.unit.test_render_haproxy import make_lb, render, section

LB = "44444444-4444-4444-8444-444444444444"
FLOW = b"<134>Dec  5 15:04:37 " + LB.encode() + b"[7735]: proj " + LB.encode() + b" f1 1.2.3.4\n"
ADMIN = b"<137>Dec  5 15:04:35 " + LB.encode() + b"[7735]: Server b1/s1 is DOWN\n"


def test_octavias_format_with_the_ids_and_spaces_escaped() -> None:
    http = log_format("p1", LB, http=True)
    assert http == (
        f"p1\\ {LB}\\ %f\\ %ci\\ %cp\\ %t\\ %{{+Q}}r\\ %ST\\ %B\\ %U\\ %[ssl_c_verify]\\ "
        "%{+Q}[ssl_c_s_dn]\\ %b\\ %s\\ %Tt\\ %tsc"
    )
    # HAProxy refuses the request line and the status outside HTTP mode.
    assert "%{+Q}r" not in log_format("p1", LB, http=False)
    assert "\\ -\\ -\\ %B" in log_format("p1", LB, http=False)


def test_the_lines_of_a_load_balancer_with_a_flow_log() -> None:
    text = render(make_lb(), flow_log=FlowLog("/run/nn/syslog/haproxy.sock", "p1", LB))
    glob = section(text, "global")
    assert f"log-tag {LB}" in glob
    assert "log unix@/run/nn/syslog/haproxy.sock local1 notice" in glob
    frontend = section(text, "frontend 11111111-1111-4111-8111-111111111111")
    assert frontend[:2] == ["no log", "log unix@/run/nn/syslog/haproxy.sock local0 info"]
    assert frontend[2].startswith(f"log-format p1\\ {LB}\\ %f")
    assert "option httplog" not in text


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
@pytest.mark.parametrize("protocol", ["HTTP", "TCP"])
def test_haproxy_takes_it_without_a_warning(tmp_path: Path, protocol: str) -> None:
    (tmp_path / "state").write_text("1\n")
    lb = make_lb(listener={"protocol": protocol}, pool={"protocol": protocol})
    flow = FlowLog(str(tmp_path / "log.sock"), "p1", LB)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        render(lb, flow_log=flow).replace(
            "server-state-file /var/lib/netnode/netnode/haproxy/lb/server-state",
            f"server-state-file {tmp_path / 'state'}",
        )
    )
    done = subprocess.run(["haproxy", "-dW", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_datagram_parsed() -> None:
    flow = parse(FLOW)
    assert flow is not None and flow.tenant and flow.lb_id == LB
    assert flow.line() == f"proj {LB} f1 1.2.3.4"
    admin = parse(ADMIN)
    assert admin is not None and not admin.tenant
    assert admin.line() == "Dec  5 15:04:35 alert: Server b1/s1 is DOWN"


@pytest.mark.parametrize(
    "data",
    [
        b"not syslog",
        b"<134>Dec  5 15:04:37 ../../etc/passwd[1]: x",
        b"<134>Dec  5 15:04:37 .hidden[1]: x",
        b"<999>Dec  5 15:04:37 abc[1]: x",
    ],
)
def test_what_is_not_a_load_balancers_is_dropped(tmp_path: Path, data: bytes) -> None:
    receiver = FlowLogReceiver(tmp_path / "s" / "sock", tmp_path / "logs", tmp_path)
    receiver.logs_dir.mkdir()
    receiver.write(data)
    assert (receiver.dropped, list(receiver.logs_dir.iterdir())) == (1, [])


def test_tenant_and_admin_lines_go_to_their_files_private(tmp_path: Path) -> None:
    receiver = FlowLogReceiver(tmp_path / "s" / "sock", tmp_path / "logs", tmp_path)
    receiver.logs_dir.mkdir()
    try:
        for data in (FLOW, ADMIN, FLOW):
            receiver.write(data)
    finally:
        receiver.stop()
    flow = log_file(receiver.logs_dir, LB)
    admin = log_file(receiver.logs_dir, LB, admin=True)
    assert flow.read_text().splitlines() == [f"proj {LB} f1 1.2.3.4"] * 2
    assert admin.read_text().splitlines() == ["Dec  5 15:04:35 alert: Server b1/s1 is DOWN"]
    assert flow.stat().st_mode & 0o777 == 0o600


def test_files_rotate_and_the_last_lines_reach_into_the_rotated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flow_logs, "MAX_BYTES", 200)
    receiver = FlowLogReceiver(tmp_path / "s" / "sock", tmp_path / "logs", tmp_path)
    receiver.logs_dir.mkdir()
    try:
        for n in range(40):
            receiver.write(FLOW.replace(b"1.2.3.4", str(n).encode()))
    finally:
        receiver.stop()
    path = log_file(receiver.logs_dir, LB)
    files = sorted(p.name for p in receiver.logs_dir.iterdir())
    assert files == [f"{LB}.log"] + [f"{LB}.log.{i}" for i in range(1, flow_logs.BACKUPS + 1)]
    assert all(p.stat().st_size <= 200 for p in receiver.logs_dir.iterdir())
    tail = last_lines(path, 5)
    assert [line.rsplit(" ", 1)[1] for line in tail] == ["35", "36", "37", "38", "39"]
    assert last_lines(path, 0) == []


def test_follow_reads_what_comes_across_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "lb.log"
    path.write_text("old\n")
    stop = threading.Event()
    seen: list[str] = []
    lines = follow(path, stop, interval=0.01)  # from here on: "old" is not what comes

    def reader() -> None:
        for line in lines:
            seen.append(line)
            if line == "last":
                stop.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with path.open("a") as f:
            f.write("one\ntw")
            f.flush()
            time.sleep(0.05)
            f.write("o\n")
        time.sleep(0.1)
        path.rename(tmp_path / "lb.log.1")
        path.write_text("three\nlast\n")
        thread.join(timeout=10)
    finally:
        stop.set()
        thread.join()
    assert seen == ["one", "two", "three", "last"]
