"""Real keepalived, two instances, VRRP between two namespaces of this test's own.

Each test builds a ``netnode.lab.vrrp.VrrpPair``: namespaces ``nnvr-<random>-a`` and
``-b`` joined by one veth pair created inside them (never in the host's namespace,
attached to nothing else), one keepalived in each through ``netnode.drivers.keepalived``
(fast profile: advert 0.1 s; priorities 100 and 90). Nothing is sent from the host's
namespace: the VIP is looked for over netlink inside each namespace. Cleanup stops the
keepalived processes and tracked processes this test started, by their pids, and deletes
both namespaces, also when the test fails.

Deadlines are generous (10 s, for a takeover expected in well under 1 s): timings are
measured by bench/ha.py, never asserted here.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netnode.drivers.keepalived import KeepalivedProcesses
from netnode.drivers.netlink import Netlink
from netnode.errors import Refused
from netnode.lab.vrrp import INTERFACE, VIP, VIP_PREFIX, Side, VrrpPair
from netnode.render.keepalived import FAST
from tests.functional.conftest import eventually

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived is not installed"),
]

DEADLINE = 10.0
POLL = 0.02


def build(track: bool = False, reload_interval: float = 1.0) -> Iterator[VrrpPair]:
    run_dir = Path(tempfile.mkdtemp(prefix="nn-ka-"))
    pair = VrrpPair(FAST, run_dir, track=track, reload_interval=reload_interval)
    try:
        pair.build()
        if track:
            for side in pair.sides:
                pair.start_tracked(side)
            for side in pair.sides:
                eventually(lambda side=side: pair.tracked_running(side), DEADLINE, POLL)
        pair.start_all()
        yield pair
    finally:
        pair.destroy()
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def pair() -> Iterator[VrrpPair]:
    yield from build(reload_interval=0.3)


@pytest.fixture
def tracked_pair() -> Iterator[VrrpPair]:
    yield from build(track=True)


def settled_master(pair: VrrpPair) -> Side:
    master = eventually(pair.master, DEADLINE, POLL)
    assert isinstance(master, Side)
    assert eventually(lambda: pair.role(pair.other(master)) == "BACKUP", DEADLINE, POLL)
    return master


class Watch:
    """Which sides held the VIP, sampled every few milliseconds in a thread of its own
    (with its own netlink sockets) while the block runs."""

    def __init__(self, pair: VrrpPair) -> None:
        self.pair = pair
        self.samples: list[tuple[bool, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        netlink = Netlink()
        vip = f"{VIP}/{VIP_PREFIX}"
        try:
            while not self._stop.is_set():
                held = []
                for side in self.pair.sides:
                    link = netlink.observe(side.namespace).links.get(INTERFACE)
                    held.append(link is not None and vip in link.addresses)
                self.samples.append((held[0], held[1]))
                time.sleep(0.005)
        finally:
            netlink.close()

    def ever_held(self, side: Side) -> bool:
        i = self.pair.sides.index(side)
        return any(sample[i] for sample in self.samples)

    def always_held(self, side: Side) -> bool:
        i = self.pair.sides.index(side)
        return bool(self.samples) and all(sample[i] for sample in self.samples)


def test_two_instances_elect_exactly_one_master_holding_the_vip(pair: VrrpPair) -> None:
    master = settled_master(pair)
    backup = pair.other(master)
    assert pair.holders() == [master.label]
    assert pair.keepalived.roles(master.name)["vip"].state == "MASTER"
    assert pair.role(backup) == "BACKUP"
    # Every process runs in its own namespace, the VRRP child with realtime priority
    # (the fast profile's, which the driver sets).
    for side in pair.sides:
        assert pair.keepalived.runs_in(side.name, side.namespace)
        vrrp = pair.keepalived.vrrp_pid(side.name)
        assert vrrp is not None
        assert os.sched_getscheduler(vrrp) & ~os.SCHED_RESET_ON_FORK == os.SCHED_RR
    # It stays so: 20 advert intervals later, still one master, the same.
    with Watch(pair) as watch:
        time.sleep(2.0)
    assert watch.always_held(master) and not watch.ever_held(backup)
    assert pair.master() is master


def test_killed_master_is_replaced_and_does_not_take_the_vip_back(pair: VrrpPair) -> None:
    master = settled_master(pair)
    backup = pair.other(master)
    pair.crash(master)
    assert pair.keepalived.running_pid(master.name) is None
    assert eventually(
        lambda: pair.holds_vip(backup) and pair.role(backup) == "MASTER", DEADLINE, POLL
    )
    # A crash cleans nothing up: the dead side's VIP is still on its interface (on a
    # real node, gone with the node) until its keepalived starts again and removes it.
    assert pair.role(master) is None
    pair.start(master)
    assert eventually(
        lambda: pair.role(master) == "BACKUP" and not pair.holds_vip(master), DEADLINE, POLL
    )
    # nopreempt: priority 100 (or 90) back beside the new master takes nothing back.
    with Watch(pair) as watch:
        time.sleep(2.0)
    assert not watch.ever_held(master) and watch.always_held(backup)
    assert pair.master() is backup
    assert pair.role(master) == "BACKUP"


def test_ten_reloads_in_a_row_keep_the_master(pair: VrrpPair) -> None:
    master = settled_master(pair)
    backup = pair.other(master)
    pid = pair.keepalived.running_pid(master.name)
    with Watch(pair) as watch:
        for _ in range(10):
            pair.reload(master)
        time.sleep(1.0)
    assert watch.always_held(master), "the master lost the VIP during the reloads"
    assert not watch.ever_held(backup), "the backup took the VIP during the reloads"
    assert pair.keepalived.running_pid(master.name) == pid
    assert pair.master() is master
    # Still realtime: keepalived leaves alone the scheduling the driver set.
    vrrp = pair.keepalived.vrrp_pid(master.name)
    assert vrrp is not None
    assert os.sched_getscheduler(vrrp) & ~os.SCHED_RESET_ON_FORK == os.SCHED_RR
    assert pair.role(backup) == "BACKUP"


def test_graceful_stop_hands_the_vip_over(pair: VrrpPair) -> None:
    master = settled_master(pair)
    backup = pair.other(master)
    assert pair.stop(master)
    # keepalived removed the VIP on its way out, and said so with a priority-0 advert.
    assert not pair.holds_vip(master)
    assert eventually(lambda: pair.master() is backup, DEADLINE, POLL)
    assert pair.role(master) is None


def test_a_tracked_process_dying_moves_the_vip(tracked_pair: VrrpPair) -> None:
    pair = tracked_pair
    master = settled_master(pair)
    backup = pair.other(master)
    pair.kill_tracked(master)
    assert eventually(lambda: pair.role(master) == "FAULT", DEADLINE, POLL)
    assert eventually(lambda: pair.master() is backup, DEADLINE, POLL)
    # The process back: the old master leaves FAULT as a backup and takes nothing back.
    pair.start_tracked(master)
    assert eventually(lambda: pair.role(master) == "BACKUP", DEADLINE, POLL)
    with Watch(pair) as watch:
        time.sleep(1.0)
    assert not watch.ever_held(master)
    assert pair.master() is backup


def test_a_configuration_keepalived_refuses_is_kept_and_nothing_runs(tmp_path: Path) -> None:
    driver = KeepalivedProcesses(tmp_path / "run")
    with pytest.raises(Refused, match="keepalived refused the configuration"):
        driver.start("bad", "vrrp_instance x {\n    no_such_keyword 1\n}\n")
    files = driver.files("bad")
    assert Path(f"{files.config}-failed").is_file()
    assert not Path(files.config).exists()
    assert driver.running_pid("bad") is None and driver.role("bad") is None


def test_a_killed_vrrp_child_is_respawned_by_its_parent(pair: VrrpPair) -> None:
    master = settled_master(pair)
    child = pair.keepalived.vrrp_pid(master.name)
    assert child is not None
    os.kill(child, signal.SIGKILL)
    # The parent starts a new VRRP child (a BACKUP by nopreempt), the other side
    # takes over; the driver finds the new child through its pid file.
    assert eventually(
        lambda: pair.keepalived.vrrp_pid(master.name) not in (None, child), DEADLINE, POLL
    )
    assert eventually(lambda: pair.master() is pair.other(master), DEADLINE, POLL)


@pytest.mark.parametrize("golden", ["keepalived-lb-fast.conf", "keepalived-router-default.conf"])
def test_keepalived_accepts_the_golden_files(golden: str, tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[1] / "golden" / golden).read_text()
    KeepalivedProcesses(tmp_path).validate("golden", text)
