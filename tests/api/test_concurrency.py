"""Concurrent writes through the API, tested as properties of what the API answers and
what it then shows, not of how it serializes them (a per-row store with unique
constraints must pass these as the compare-and-set on one document does).

The first tests run two or three Services on one store, each with its own app and lock, as
separate ``netnode serve`` processes would; threads start together at a barrier and
make a bounded number of requests. A client may retry what the API tells it to retry
(a 409 for a load balancer that is PENDING_*, or for a store that kept changing; a
503); every other answer is final. No outcome depends on timing: whichever order the
writes land in, the properties hold. The last two hold one change while it decides
(an event, not a sleep) and show what another change does meanwhile.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import Engine

from netnode.api.service import Doc
from netnode.api.world import API_TOPOLOGY, World
from netnode.model.loading import load_data
from tests.api.conftest import NODE, Api, serve

T = TypeVar("T")
# Bounds: requests a client retries at most, and how long a thread may take (a hang is
# a failure, not a wait).
RETRIES = 100
JOIN_TIMEOUT = 60.0
LBS = "/v2/lbaas/loadbalancers"


@contextmanager
def services(engine: Engine, tmp: Path, count: int) -> Iterator[list[Api]]:
    """``count`` apps on one store, each with its own Service (own lock, own caches)."""
    with ExitStack() as stack:
        apis = []
        for i in range(count):
            folder = tmp / f"serve{i}"
            folder.mkdir()
            api = stack.enter_context(serve(engine, folder))
            # FastAPI builds an app's routes on its first requests, ignoring a pydantic
            # warning inside warnings.catch_warnings(), which is not thread-safe: two
            # apps in one process doing so at once turn it into an error (pytest's
            # filterwarnings=error). Build them before any threads start.
            for path in (LBS, "/v2/lbaas/pools", "/v2.0/networks", "/v2.0/floatingips"):
                assert api.get(path).status_code == 200
            apis.append(api)
        yield apis


def together(jobs: list[Callable[[], T]]) -> list[T]:
    """Run each job in its own thread, all released at once; their results in order
    (the first exception a job raised is raised here)."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int, job: Callable[[], T]) -> None:
        try:
            barrier.wait(JOIN_TIMEOUT)
            results[i] = job()
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), f"a thread ran past {JOIN_TIMEOUT} s"
    if errors:
        raise errors[0]
    return results


class Retries:
    """The answers a client retried, by status and first words (shared by threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: Counter[str] = Counter()

    def add(self, r: httpx.Response) -> None:
        with self._lock:
            self.seen[f"{r.status_code} {fault(r)[:60]}"] += 1


def fault(r: httpx.Response) -> str:
    try:
        return str(r.json().get("faultstring") or r.json().get("NeutronError", {}))
    except ValueError:
        return r.text


def retryable(r: httpx.Response) -> bool:
    """What a client is told to try again: a 503, a 409 for a load balancer busy with
    its last change or a store that kept changing."""
    text = fault(r)
    return r.status_code == 503 or (
        r.status_code == 409 and ("is immutable" in text or "kept changing" in text)
    )


def send(
    call: Callable[[], httpx.Response],
    retries: Retries,
    before: Callable[[], None] = lambda: None,
) -> httpx.Response:
    """``call()``'s final answer, retried (bounded) while it says to retry; ``before``
    runs ahead of each try (a reconcile pass marking the last change converged)."""
    for _ in range(RETRIES):
        before()
        r = call()
        if not retryable(r):
            return r
        retries.add(r)
    raise AssertionError(f"still told to retry after {RETRIES} tries: {r.status_code} {r.text}")


def agent(api: Api) -> Callable[[], None]:
    """A reconcile pass for ``api``'s store, one at a time as the node's one agent runs
    them: every object of the API's topology recorded as converged (ACTIVE)."""
    lock = threading.Lock()

    def converge() -> None:
        with lock:
            api.converged.clear()
            api.converge()

    return converge


def valid_document(api: Api) -> None:
    """The API's topology as stored passes the model's rules, as any writer left it."""
    load_data(api.document(API_TOPOLOGY), NODE, "api")


# --- 1. parallel creates ----------------------------------------------------------------


def test_parallel_creates_never_share_an_address(engine: Engine, tmp_path: Path) -> None:
    """8 threads on 2 services: each creates 5 load balancers on one subnet, 2 floating
    IPs on the external network and a network, none naming an address or a VLAN."""
    with services(engine, tmp_path, 2) as apis:
        subnet = apis[0].subnet_id("tenant1-subnet")
        public = apis[0].network_id("public")
        retries = Retries()

        def creates(api: Api, thread: int) -> dict[str, list[dict[str, Any]]]:
            made: dict[str, list[dict[str, Any]]] = {"lb": [], "fip": [], "net": []}

            def create(path: str, kind: str, body: dict[str, Any], key: str) -> None:
                r = send(lambda: api.post(path, {kind: body}), retries)
                assert r.status_code == 201, f"{kind} {body}: {r.status_code} {r.text}"
                made[key].append(r.json()[kind])

            for k in range(5):
                name = f"lb-{thread}-{k}"
                create(LBS, "loadbalancer", {"vip_subnet_id": subnet, "name": name}, "lb")
            for k in range(2):
                body = {"floating_network_id": public, "name": f"fip-{thread}-{k}"}
                create("/v2.0/floatingips", "floatingip", body, "fip")
            create("/v2.0/networks", "network", {"name": f"net-{thread}"}, "net")
            return made

        jobs = [lambda a=apis[t % 2], t=t: creates(a, t) for t in range(8)]
        made = together(jobs)

        lbs = [lb for m in made for lb in m["lb"]]
        fips = [f for m in made for f in m["fip"]]
        nets = [n for m in made for n in m["net"]]
        assert (len(lbs), len(fips), len(nets)) == (40, 16, 8)
        for api in apis:  # every service shows every acknowledged object, once
            listed = api.get(LBS).json()["loadbalancers"]
            assert Counter(x["id"] for x in listed) == Counter(x["id"] for x in lbs)
            assert {x["id"]: x["name"] for x in listed} == {x["id"]: x["name"] for x in lbs}
            shown = {x["id"]: x["vip_address"] for x in listed}
            assert shown == {x["id"]: x["vip_address"] for x in lbs}
            listed_fips = api.get("/v2.0/floatingips").json()["floatingips"]
            assert sorted(x["id"] for x in listed_fips) == sorted(x["id"] for x in fips)
            listed_nets = api.get("/v2.0/networks").json()["networks"]
            assert {x["id"] for x in nets} <= {x["id"] for x in listed_nets}
        vips = [x["vip_address"] for x in lbs]
        assert len(set(vips)) == len(vips), f"a VIP address given twice: {sorted(vips)}"
        assert len({x["vip_port_id"] for x in lbs}) == len(lbs)
        floating = [x["floating_ip_address"] for x in fips]
        assert len(set(floating)) == len(floating), f"given twice: {sorted(floating)}"
        vlans = [x["provider:segmentation_id"] for x in nets]
        assert len(set(vlans)) == len(vlans) and 1 not in vlans, f"VLANs: {sorted(vlans)}"
        ports = apis[1].get("/v2.0/ports").json()["ports"]
        held = [(p["network_id"], ip["ip_address"]) for p in ports for ip in p["fixed_ips"]]
        assert len(set(held)) == len(held), "two ports hold one address"
        valid_document(apis[0])
        print("retried:", dict(retries.seen))


# --- 2. parallel changes to one load balancer -------------------------------------------


def test_parallel_changes_to_one_load_balancer_end_consistent(
    engine: Engine, tmp_path: Path
) -> None:
    """6 threads on 2 services change one load balancer: 2 rename it (name and
    description together), 3 add 4 members each to its pool, and the last adds a
    member another thread adds too; each marks the last change converged before it
    tries, and retries while the load balancer is PENDING_*."""
    with services(engine, tmp_path, 2) as apis:
        lb = apis[0].loadbalancer(name="start", description="start")
        pool = apis[0].pool(loadbalancer_id=lb["id"])
        members_path = f"/v2/lbaas/pools/{pool['id']}/members"
        retries = Retries()
        renames, rounds = 2, 4
        converge = agent(apis[0])

        def rename(api: Api, thread: int) -> list[str]:
            done = []
            for k in range(rounds):
                body = {
                    "loadbalancer": {"name": f"n-{thread}-{k}", "description": f"d-{thread}-{k}"}
                }
                r = send(lambda b=body: api.put(f"{LBS}/{lb['id']}", b), retries, converge)
                assert r.status_code == 200, r.text
                done.append(f"{thread}-{k}")
            return done

        def add_members(api: Api, thread: int, addresses: list[str]) -> list[dict[str, Any]]:
            made = []
            for address in addresses:
                body = {"member": {"address": address, "protocol_port": 80}}
                r = send(lambda b=body: api.post(members_path, b), retries, converge)
                made.append({"status": r.status_code, "address": address, "body": r.json()})
            return made

        jobs: list[Callable[[], Any]] = [
            lambda a=apis[t % 2], t=t: rename(a, t) for t in range(renames)
        ]
        for t in range(3):
            addresses = [f"10.0.0.{100 + 10 * t + k}" for k in range(rounds)]
            jobs.append(lambda a=apis[t % 2], t=t, x=addresses: add_members(a, t, x))
        # The same address and port as the first member thread's first member.
        jobs.append(lambda a=apis[1]: add_members(a, 9, ["10.0.0.100"]))
        results = together(jobs)

        contested = [results[renames][0], results[-1][0]]
        for made in results[renames : renames + 3]:
            assert all(m["status"] == 201 for m in made if m not in contested), made
        assert sorted(m["status"] for m in contested) == [201, 409], contested
        refused = next(m for m in contested if m["status"] == 409)
        assert "already using ip address 10.0.0.100" in refused["body"]["faultstring"]
        acknowledged = {
            m["body"]["member"]["id"]: m["address"]
            for made in results[renames:]
            for m in made
            if m["status"] == 201
        }
        assert len(acknowledged) == 3 * rounds
        for api in apis:
            listed = api.get(members_path).json()["members"]
            assert Counter(m["id"] for m in listed) == Counter(list(acknowledged))
            assert {m["id"]: m["address"] for m in listed} == acknowledged
            shown = api.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]
            # Name and description come from one write (never torn), the last one of
            # some renaming thread (each thread's writes land in its order).
            last = {f"{t}-{rounds - 1}" for t in range(renames)}
            assert shown["name"].removeprefix("n-") in last, shown
            assert shown["description"] == "d-" + shown["name"].removeprefix("n-"), shown
        valid_document(apis[0])
        print("retried:", dict(retries.seen))


# --- 3. a create racing a delete of its network or subnet -------------------------------


def test_create_racing_a_delete_of_its_subnet_or_network(engine: Engine, tmp_path: Path) -> None:
    """10 rounds, each on a fresh network and subnet: one service deletes the subnet (or
    the network) while another creates a load balancer on it. Exactly one wins; the
    loser is refused (the delete with a 409: the subnet is in use); no load balancer is
    ever left on a subnet that is gone."""
    with services(engine, tmp_path, 2) as (a, b):
        retries = Retries()
        outcomes: Counter[str] = Counter()
        for r in range(10):
            net = a.create("/v2.0/networks", "network", {"name": f"race-{r}"})
            subnet = a.create(
                "/v2.0/subnets", "subnet", {"network_id": net["id"], "cidr": f"10.9.{r}.0/24"}
            )
            kind, target = ("subnet", subnet) if r % 2 == 0 else ("network", net)
            delete_path = f"/v2.0/{kind}s/{target['id']}"
            where = (
                {"vip_subnet_id": subnet["id"]}
                if kind == "subnet"
                else {"vip_network_id": net["id"]}
            )
            created, deleted = together(
                [
                    lambda w=where: send(lambda: b.post(LBS, {"loadbalancer": w}), retries),
                    lambda p=delete_path: send(lambda: a.delete(p), retries),
                ]
            )
            lbs = [
                x for x in a.get(LBS).json()["loadbalancers"] if x["vip_network_id"] == net["id"]
            ]
            subnets = a.get("/v2.0/subnets", params={"network_id": net["id"]}).json()["subnets"]
            if created.status_code == 201:
                assert deleted.status_code == 409, (
                    f"{kind} deleted ({deleted.status_code}) under {lbs}"
                )
                assert "in use" in fault(deleted) or "IP allocation" in fault(deleted)
                assert [x["id"] for x in lbs] == [created.json()["loadbalancer"]["id"]]
                assert [s["id"] for s in subnets] == [subnet["id"]]
                assert lbs[0]["vip_subnet_id"] == subnet["id"]
                outcomes[f"create won ({kind})"] += 1
            else:
                assert deleted.status_code == 204, (kind, deleted.text)
                assert created.status_code in (400, 404), (kind, created.status_code, created.text)
                assert lbs == [] and subnets == []
                gone = a.get(f"/v2.0/networks/{net['id']}").status_code
                assert gone == (404 if kind == "network" else 200), (kind, gone)
                outcomes[f"delete won ({kind})"] += 1
            valid_document(a)
        print("outcomes:", dict(outcomes), "retried:", dict(retries.seen))


# --- one change waiting on another, inside one Service ----------------------------------


def _renaming(lb_id: str, name: str, deciding: threading.Event | None = None) -> Any:
    """A change that renames load balancer ``lb_id``; with ``deciding``, it first waits
    (bounded) until that event is set, as a slow request would while deciding."""
    decided: list[int] = []

    def mutate(doc: Doc, _: World) -> None:
        decided.append(1)
        doc.find("loadbalancer", lb_id)  # what it read
        if deciding is not None and len(decided) == 1:
            assert deciding.wait(JOIN_TIMEOUT), "the other change never landed"
        doc.update_meta(lb_id, {"name": name})

    mutate.decided = decided  # type: ignore[attr-defined]
    return mutate


def test_a_change_to_another_load_balancer_lands_while_one_is_deciding(api: Api) -> None:
    """No lock spans a change: while a change of one load balancer is still deciding,
    a change of another lands; neither is decided twice, both are kept."""
    first, second = api.loadbalancer(name="one"), api.loadbalancer(name="two")
    landed = threading.Event()
    slow = _renaming(first["id"], "one renamed", landed)
    fast = _renaming(second["id"], "two renamed")
    worker = threading.Thread(target=api.svc.change, args=(slow,))
    worker.start()
    try:
        api.svc.change(fast)  # would wait for the slow change under a lock
    finally:
        landed.set()
        worker.join(JOIN_TIMEOUT)
    assert not worker.is_alive()
    names = {x["id"]: x["name"] for x in api.get(LBS).json()["loadbalancers"]}
    assert names == {first["id"]: "one renamed", second["id"]: "two renamed"}
    assert len(slow.decided) == 1 and len(fast.decided) == 1


def test_a_change_whose_object_changed_meanwhile_is_decided_again(api: Api) -> None:
    """Two changes of one load balancer: the one that read it before the other landed
    is decided again on what landed, never written over it."""
    lb = api.loadbalancer(name="one")
    landed = threading.Event()
    slow = _renaming(lb["id"], "slow", landed)
    worker = threading.Thread(target=api.svc.change, args=(slow,))
    worker.start()
    try:

        def describe(doc: Doc, _: World) -> None:
            doc.update_meta(lb["id"], {"description": "fast"})

        api.svc.change(describe)
    finally:
        landed.set()
        worker.join(JOIN_TIMEOUT)
    assert not worker.is_alive()
    shown = api.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]
    assert (shown["name"], shown["description"]) == ("slow", "fast")
    assert len(slow.decided) == 2
