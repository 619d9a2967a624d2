"""Load held (issue 18): ``netnode serve`` under 100 concurrent API clients for 60 s of
mixed reads and writes; no 5xx, every acknowledged write present afterwards, latency
percentiles, and the server's memory after the run beside its memory after warm-up.

One ``netnode serve --noauth --no-agent`` (the API and its store are what is loaded:
with the reconcile loop, every write would build namespaces and HAProxy processes and
the run would measure those) on a state directory of its own, SQLite by default or
``--db URL``. Set-up: a tenant network and ``--lbs`` load balancers (100). Then
``--clients`` asyncio tasks (one keep-alive connection each, httpx) run the same mix,
first for ``--warmup`` seconds, then for ``--duration`` seconds:

  40%  GET /v2/lbaas/loadbalancers?limit=50      (a page, as cloud-provider-openstack lists)
  20%  GET /v2/lbaas/loadbalancers/{id}
  10%  GET /v2.0/networks
  10%  POST /v2.0/networks                        (a network of the client's own)
  10%  PUT /v2.0/networks/{id}                    (renames one of its own)
  10%  DELETE /v2.0/networks/{id}                 (deletes one of its own)

Writes are balanced (creates and deletes), so the store ends about where it started and
a memory growth is a leak, not data. Afterwards every network whose create was
acknowledged (2xx) and whose delete was not is listed with the name of its last
acknowledged rename, and none whose delete was acknowledged is.

Targets: 0 responses 5xx; 0 acknowledged writes lost; the server's RSS after the run
<= 1.2x its RSS after warm-up. p99 latency is reported (no target). Exit status: 0
when the run worked (missed targets included), 1 otherwise, 2 when it cannot run.

Usage: .venv/bin/python bench/load.py [--clients 100] [--duration 60] [--warmup 10]
       [--lbs 100] [--db URL] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

MIX = (
    ("list", 40),
    ("show", 20),
    ("networks", 10),
    ("create", 10),
    ("rename", 10),
    ("delete", 10),
)
RSS_TARGET = 1.2
# The server's RSS is sampled this often during the run: a leak climbs to the end, a
# heap that settles after its high-water mark flattens.
RSS_EVERY = 10.0
START_TIMEOUT = 60.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)
    # Acknowledged state of the clients' own networks: id -> last acknowledged name;
    # deleted: ids whose delete was acknowledged.
    names: dict[str, str] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def record(self, kind: str, seconds: float, status: int) -> None:
        self.latencies[kind].append(seconds)
        self.statuses[status] += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def netnode_argv() -> list[str]:
    script = Path(sys.executable).with_name("netnode")
    return [str(script)] if script.exists() else [sys.executable, "-m", "netnode.cli.main"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def client(
    index: int,
    http: httpx.AsyncClient,
    lb_ids: list[str],
    deadline: float,
    tally: Tally,
    rng: random.Random,
    counting: bool,
) -> None:
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    own: list[str] = []
    serial = 0
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        if kind in ("rename", "delete") and not own:
            kind = "create"
        started = time.perf_counter()
        try:
            if kind == "list":
                r = await http.get("/v2/lbaas/loadbalancers", params={"limit": 50})
            elif kind == "show":
                r = await http.get(f"/v2/lbaas/loadbalancers/{rng.choice(lb_ids)}")
            elif kind == "networks":
                r = await http.get("/v2.0/networks")
            elif kind == "create":
                serial += 1
                name = f"load-{index}-{serial}"
                r = await http.post("/v2.0/networks", json={"network": {"name": name}})
                if r.status_code == 201:
                    net_id = r.json()["network"]["id"]
                    own.append(net_id)
                    tally.names[net_id] = name
            elif kind == "rename":
                net_id = rng.choice(own)
                serial += 1
                name = f"load-{index}-{serial}-renamed"
                r = await http.put(f"/v2.0/networks/{net_id}", json={"network": {"name": name}})
                if r.status_code == 200:
                    tally.names[net_id] = name
            else:
                net_id = own.pop(rng.randrange(len(own)))
                r = await http.delete(f"/v2.0/networks/{net_id}")
                if r.status_code == 204:
                    tally.deleted.add(net_id)
                    tally.names.pop(net_id, None)
                else:
                    own.append(net_id)
        except httpx.HTTPError as exc:
            tally.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            continue
        if counting:
            tally.record(kind, time.perf_counter() - started, r.status_code)
        if r.status_code >= 500:
            tally.errors.append(f"{kind}: {r.status_code} {r.text[:200]}")


async def run_phase(
    url: str,
    clients: int,
    seconds: float,
    lb_ids: list[str],
    tally: Tally,
    seed: int,
    counting: bool,
) -> float:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        await asyncio.gather(
            *(
                client(i, http, lb_ids, deadline, tally, random.Random(seed * 1000 + i), counting)
                for i in range(clients)
            )
        )
        return time.monotonic() - started


def set_up(url: str, lbs: int) -> list[str]:
    with httpx.Client(base_url=url, timeout=60) as http:
        net = http.post("/v2.0/networks", json={"network": {"name": "load-tenant"}})
        net.raise_for_status()
        net_id = net.json()["network"]["id"]
        sub = http.post(
            "/v2.0/subnets",
            json={
                "subnet": {
                    "name": "load-tenant-subnet",
                    "network_id": net_id,
                    "cidr": "10.78.0.0/16",
                    "ip_version": 4,
                }
            },
        )
        sub.raise_for_status()
        subnet_id = sub.json()["subnet"]["id"]
        ids = []
        for n in range(lbs):
            r = http.post(
                "/v2/lbaas/loadbalancers",
                json={"loadbalancer": {"name": f"load-lb-{n}", "vip_subnet_id": subnet_id}},
            )
            r.raise_for_status()
            ids.append(r.json()["loadbalancer"]["id"])
        return ids


def verify(url: str, tally: Tally) -> list[str]:
    """Every acknowledged write as the store now has it."""
    with httpx.Client(base_url=url, timeout=60) as http:
        listed = {n["id"]: n["name"] for n in http.get("/v2.0/networks").json()["networks"]}
    problems = []
    for net_id, name in tally.names.items():
        if net_id not in listed:
            problems.append(f"network {net_id} ({name}) acknowledged but missing")
        elif listed[net_id] != name:
            problems.append(f"network {net_id} is {listed[net_id]!r}, last acknowledged {name!r}")
    problems += [
        f"network {i} deleted (acknowledged) but still listed" for i in tally.deleted if i in listed
    ]
    return problems


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--lbs", type=int, default=100)
    p.add_argument("--db", default=None, help="store URL (default: SQLite in the state dir)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    state = Path(tempfile.mkdtemp(prefix="nn-load-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [*netnode_argv(), "--state-dir", str(state), "--node", f"load-{port}"]
    if args.db:
        argv += ["--db", args.db]
    argv += ["serve", "--noauth", "--no-agent", "--port", str(port)]
    log = state / "serve.log"
    samples: list[int] = []
    with open(log, "wb") as out:
        server = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if server.poll() is not None:
                print(f"load: netnode serve exited:\n{log.read_text()}", file=sys.stderr)
                return 1
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                print("load: netnode serve did not answer", file=sys.stderr)
                return 1
            time.sleep(0.1)

        lb_ids = set_up(url, args.lbs)
        tally = Tally()
        asyncio.run(run_phase(url, args.clients, args.warmup, lb_ids, tally, args.seed, False))
        rss_warm = rss_kib(server.pid)
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(RSS_EVERY):
                samples.append(rss_kib(server.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        took = asyncio.run(
            run_phase(url, args.clients, args.duration, lb_ids, tally, args.seed + 1, True)
        )
        sampling.set()
        sampler.join()
        rss_after = rss_kib(server.pid)
        lost = verify(url, tally)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(state, ignore_errors=True)

    everything = [x for values in tally.latencies.values() for x in values]
    unanswered = sum(1 for e in tally.errors if not e.split(": ", 2)[1][:1].isdigit())
    five = sum(n for status, n in tally.statuses.items() if status >= 500)
    ratio = rss_after / rss_warm
    print(
        f"netnode serve --no-agent, {args.clients} clients, {args.duration:.0f} s after "
        f"{args.warmup:.0f} s of warm-up, {args.lbs} load balancers, "
        f"store {'SQLite' if not args.db else args.db.split(':')[0]}"
    )
    print(
        f"  {len(everything)} requests, {len(everything) / took:.0f} req/s; statuses "
        + ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items()))
    )
    print(f"  {'request':<10} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind, _ in MIX:
        values = tally.latencies.get(kind, [])
        if values:
            print(
                f"  {kind:<10} {len(values):>7} {1000 * statistics.median(values):>8.1f} "
                f"{1000 * pct(values, 0.95):>8.1f} {1000 * pct(values, 0.99):>8.1f}"
            )
    print(
        f"  {'all':<10} {len(everything):>7} {1000 * statistics.median(everything):>8.1f} "
        f"{1000 * pct(everything, 0.95):>8.1f} {1000 * pct(everything, 0.99):>8.1f}"
    )
    rows = [
        ("responses 5xx", f"{five}", "0", five == 0),
        ("requests with no answer", f"{unanswered}", "0", unanswered == 0),
        ("acknowledged writes lost", f"{len(lost)}", "0", not lost),
        (
            "RSS after / after warm-up",
            f"{ratio:.2f}x ({rss_warm // 1024} -> {rss_after // 1024} MiB)",
            f"<= {RSS_TARGET}x",
            ratio <= RSS_TARGET,
        ),
    ]
    series = " ".join(str(k // 1024) for k in [rss_warm, *samples, rss_after])
    print(f"  RSS every {RSS_EVERY:.0f} s (MiB): {series}")
    for what, figure, target, met in rows:
        print(f"  {what:<28} {figure:<28} target {target:<8} {'met' if met else 'MISSED'}")
    for line in (lost + tally.errors)[:20]:
        print(f"  ! {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
