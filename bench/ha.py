"""High availability: how long a takeover takes, per failover profile, side by side.

Section "VRRP alone": keepalived and nothing else. For each profile (``--profiles``,
default ``default,fast``: netnode.render.keepalived.PROFILES), a ``netnode.lab.vrrp.
VrrpPair``: two namespaces of this run's own (``nnvr-<random>-a``/``-b``) joined by one
veth pair created inside them, 169.254.77.1 and .2, VIP 10.77.0.100/24, one keepalived
in each through netnode's driver (priorities 100 and 90, VRRPv3 unicast, nopreempt).
Then ``--rounds`` times:

1. wait until exactly one side holds the VIP and says MASTER and the other says BACKUP,
   and let ``--settle`` seconds pass, plus a random part of an advert interval (the
   kill then falls at a random point between two adverts);
2. SIGKILL the master's keepalived (its VRRP child and its parent, by the pids in their
   pid files: no last advert, nothing cleaned up, as when a node dies);
3. poll the backup's interface over netlink, inside its namespace, every ``--poll``
   seconds (5 ms) until the VIP is there: the **takeover time**, from just before the
   SIGKILL to the first poll that sees the VIP (so up to one poll interval late);
4. start the killed side again (its keepalived removes the stale VIP and stays BACKUP:
   nopreempt), which makes it the next round's backup.

Also shown, without a target: the first election after both start (each begins as
BACKUP and waits one master-down interval before it claims the VIP), and the takeover
the profile predicts: the backup's master-down interval (3 x advert + (256 -
priority)/256 x advert) counts from the last advert it heard, which left the master up
to one advert interval before the kill, so a takeover lands between (interval - advert)
and the interval.

Target: takeover < 1 s on the fast profile, every round (its worst). A round that does
not see the VIP within ``--max-wait`` seconds counts as missed.

Usage: .venv/bin/python bench/ha.py [--rounds 5] [--profiles default,fast] [--poll 0.005]

Safety: VRRP only between this run's two namespaces, over a veth pair that never
appears in the host's namespace; nothing is sent from the host's namespace; the only
processes signalled are this run's keepalived processes, by their verified pid files;
``finally`` (also on Ctrl-C and SIGTERM) stops them and deletes both namespaces, then the
state directory. Bounded: rounds x (settle + max-wait + restart) per profile.

Exit status: 0 when every round ran (missed targets included), 1 otherwise, 130 when
interrupted (after cleaning up).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import labkit

from netnode.drivers.netlink import Netlink
from netnode.errors import NetnodeError
from netnode.lab.vrrp import INTERFACE, PRIORITIES, VIP, VIP_PREFIX, Side, VrrpPair
from netnode.render.keepalived import PROFILES, Profile, master_down_interval

TARGET_FAST = 1.0
ELECTION_TIMEOUT = 30.0


@dataclass
class Figures:
    profile: Profile
    election: float | None = None
    takeovers: list[float | None] = field(default_factory=list)


class BenchFailure(Exception):
    pass


def wait_for(probe: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.01)
    raise BenchFailure(f"{what} not within {timeout:.0f} s")


def settled(pair: VrrpPair, timeout: float) -> Side:
    found: list[Side] = []

    def one_of_each() -> bool:
        master = pair.master()
        if master is None or pair.role(pair.other(master)) != "BACKUP":
            return False
        found.append(master)
        return True

    wait_for(one_of_each, timeout, "one master and one backup")
    return found[-1]


def vip_seen(netlink: Netlink, side: Side) -> bool:
    link = netlink.observe(side.namespace).links.get(INTERFACE)
    return link is not None and f"{VIP}/{VIP_PREFIX}" in link.addresses


def run_profile(profile: Profile, args: argparse.Namespace, run_dir: Path) -> Figures:
    figures = Figures(profile)
    pair = VrrpPair(profile, run_dir / profile.name)
    netlink = Netlink()
    try:
        pair.build()
        started = time.monotonic()
        pair.start_all()
        while pair.holders() == [] and time.monotonic() - started < ELECTION_TIMEOUT:
            time.sleep(args.poll)
        figures.election = time.monotonic() - started if pair.holders() else None
        for round_no in range(1, args.rounds + 1):
            master = settled(pair, ELECTION_TIMEOUT)
            backup = pair.other(master)
            # A random phase against the adverts: a kill right after one is the slowest.
            time.sleep(args.settle + random.uniform(0, profile.advert_int))
            t0 = time.monotonic()
            pair.crash(master)
            took: float | None = None
            while time.monotonic() - t0 < args.max_wait:
                if vip_seen(netlink, backup):
                    took = time.monotonic() - t0
                    break
                time.sleep(args.poll)
            figures.takeovers.append(took)
            shown = "not seen" if took is None else f"{took:.3f} s"
            print(
                f"  {profile.name}: round {round_no}: {master.label} killed, "
                f"VIP on {backup.label} after {shown}",
                flush=True,
            )
            pair.start(master)
            wait_for(
                lambda master=master: pair.role(master) == "BACKUP" and not pair.holds_vip(master),
                ELECTION_TIMEOUT,
                f"{master.label} back as a backup",
            )
    finally:
        netlink.close()
        pair.destroy()
    return figures


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(all_figures: list[Figures], args: argparse.Namespace) -> None:
    print()
    print(f"VRRP alone: takeover after SIGKILL of the master's keepalived ({args.rounds} rounds,")
    print(f"VIP polled every {args.poll * 1000:.0f} ms over netlink in the backup's namespace)")
    print()
    header = (
        f"{'profile':<9}{'advert':>8}{'expected':>12}{'median':>9}{'max':>9}"
        f"{'missed':>8}{'first election':>16}   target"
    )
    print(header)
    print("-" * len(header))
    for f in all_figures:
        seen = [t for t in f.takeovers if t is not None]
        missed = len(f.takeovers) - len(seen)
        advert = f.profile.advert_int
        low = min(master_down_interval(advert, p) for p in PRIORITIES) - advert
        high = max(master_down_interval(advert, p) for p in PRIORITIES)
        expected = f"{low:.2f}-{high:.2f}"
        median = statistics.median(seen) if seen else None
        worst = max(seen) if seen and not missed else None
        if f.profile.name == "fast":
            ok = worst is not None and worst < TARGET_FAST
            target = f"< {TARGET_FAST:.0f} s every round: {'met' if ok else 'MISSED'}"
        else:
            target = "(none)"
        print(
            f"{f.profile.name:<9}{f.profile.advert_int:>7.2f}s{expected:>12}"
            f"{seconds(median):>9}{seconds(worst):>9}{missed:>8}"
            f"{seconds(f.election):>16}   {target}"
        )
    print()
    print(
        "times in seconds; expected = the backup's master-down interval (3 x advert +\n"
        "(256 - priority)/256 x advert, priorities "
        f"{'/'.join(map(str, sorted(PRIORITIES)))}) counts from the last advert it heard,\n"
        "up to one advert before the kill; first election = from starting both until one\n"
        "holds the VIP"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profiles", default="default,fast")
    parser.add_argument("--poll", type=float, default=0.005, help="seconds between polls")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before each kill")
    parser.add_argument("--max-wait", type=float, default=10.0, help="seconds per takeover")
    args = parser.parse_args(argv)
    args.profiles = args.profiles.split(",")
    unknown = [p for p in args.profiles if p not in PROFILES]
    if unknown or not 1 <= args.rounds <= 100 or not 0 < args.poll <= 1:
        parser.error(
            f"profiles among {', '.join(PROFILES)}; rounds 1-100; poll (0, 1]"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = labkit.preflight("ha", ("ip", "keepalived"))
    if why is not None:
        print(why, file=sys.stderr)
        return 2
    labkit.stop_on_sigterm()
    run_dir = Path(tempfile.mkdtemp(prefix="nn-ha-"))
    all_figures = []
    try:
        for name in args.profiles:
            print(f"ha: VRRP alone, profile {name}", flush=True)
            all_figures.append(run_profile(PROFILES[name], args, run_dir))
    except (BenchFailure, NetnodeError) as exc:
        print(f"ha: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ha: interrupted (cleaned up)", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    report(all_figures, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
