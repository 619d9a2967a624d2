"""What a pass does not do again: units rebuilt only when what they are made from
changed (``desired.Memo``), certificate files checked again only when they changed
(``certificates.Verdicts``), recorded topologies parsed again only for a new generation
(the agent). Real rendering, real files and real ``openssl``; the counters below wrap
the real functions and call through."""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

import pytest
import yaml

from netnode.errors import TopologyError
from netnode.model import ids
from netnode.model.loading import load_data
from netnode.plan import desired, units
from netnode.plan.memo import Memo
from netnode.reconcile import certificates, provisioning
from netnode.reconcile.agent import Agent
from netnode.reconcile.host import Host
from tests.functional.certs import Certs, make_certs

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"
RUN = PurePath("/var/lib/netnode/netnode/haproxy")


class Calls:
    """Wraps a function: counts its calls and calls it."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.count = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return self.function(*args, **kwargs)


@pytest.fixture
def data() -> dict:
    """The seed with a second load balancer."""
    data = yaml.safe_load(SEED.read_text())
    second = copy.deepcopy(data["load_balancers"][0])
    second["name"] = "02"
    second["vip"] = {"network": "tenant1", "address": "10.0.0.101"}
    data["load_balancers"].append(second)
    return data


def add_member(data: dict, lb: int = 0) -> dict:
    data = copy.deepcopy(data)
    data["load_balancers"][lb]["pools"][0]["members"].append(
        {"name": "vm3", "address": "10.0.0.83", "protocol_port": 80}
    )
    return data


def by_name(parts: tuple[units.Unit, ...]) -> dict[str, units.Unit]:
    return {part.name: part for part in parts}


# --- units -----------------------------------------------------------------------------


def test_a_rebuild_renders_only_the_changed_load_balancer(
    data: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = Calls(desired.render_loadbalancer)
    monkeypatch.setattr(desired, "render_loadbalancer", renders)
    memo = desired.Memo()
    first = by_name(desired.build_units(load_data(data), "netnode", RUN, {}, memo))
    assert renders.count == 2
    changed = add_member(data)
    second = by_name(desired.build_units(load_data(changed), "netnode", RUN, {}, memo))
    assert renders.count == 3
    lb1, lb2 = (ids.lb_namespace(lb.uid) for lb in load_data(data).load_balancers)
    assert second[lb2] is first[lb2]
    assert second[lb1] is not first[lb1]
    assert {u for u in second if second[u] is not first[u]} == {lb1}
    # What the memo gave is what a build from nothing gives, fingerprints included.
    fresh = desired.build(load_data(changed), "netnode", RUN, {})
    assert units.assemble("netnode", "seed", second.values()) == fresh
    assert {u: p.fingerprint for u, p in second.items()} == units.fingerprints(fresh)


def test_what_a_unit_is_made_from_besides_its_object_rebuilds_it(data: dict) -> None:
    memo = desired.Memo()
    topo = load_data(data)
    first = by_name(desired.build_units(topo, "netnode", RUN, {}, memo))
    lb1 = ids.lb_namespace(topo.load_balancers[0].uid)
    # Another network definition (its VLAN): every unit on it is rebuilt, the external
    # client (on the public network only) is not.
    other = copy.deepcopy(data)
    other["networks"][0]["segmentation_id"] = 5
    second = by_name(desired.build_units(load_data(other), "netnode", RUN, {}, memo))
    (client,) = topo.lab.clients
    assert {u for u in first if second[u] is first[u]} == {ids.lab_namespace(client.uid)}
    assert second[lb1].ports[0].tag == 5
    # Another run directory: the configurations name other sockets.
    third = by_name(desired.build_units(load_data(other), "netnode", RUN / "x", {}, memo))
    assert third[lb1] is not second[lb1]
    assert str(RUN / "x") in third[lb1].processes[0].config


def test_a_certificate_of_new_content_rebuilds_its_load_balancer_only(
    data: dict, tmp_path: Path
) -> None:
    pem = str(tmp_path / "site.pem")
    listener = data["load_balancers"][0]["listeners"][0]
    listener.update(protocol="TERMINATED_HTTPS", protocol_port=443)
    listener["default_tls_container_ref"] = pem
    data["load_balancers"][0]["pools"][0]["protocol"] = "HTTP"
    topo = load_data(data)
    memo = desired.Memo()
    first = by_name(desired.build_units(topo, "netnode", RUN, {pem: "a" * 64}, memo))
    second = by_name(desired.build_units(topo, "netnode", RUN, {pem: "b" * 64}, memo))
    lb1, lb2 = (ids.lb_namespace(lb.uid) for lb in topo.load_balancers)
    assert second[lb2] is first[lb2]
    assert second[lb1] is not first[lb1]
    assert "b" * 64 in second[lb1].processes[0].config


def test_provisioning_fingerprints_only_the_changed_load_balancers_objects(
    data: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Calls(provisioning._lb_objects)
    monkeypatch.setattr(provisioning, "_lb_objects", made)
    memo: Memo[dict[str, provisioning.Object]] = Memo()
    topo = load_data(data)
    assert provisioning.objects(topo, {}, memo) == provisioning.objects(topo, {})
    assert made.count == 4
    changed = load_data(add_member(data))
    assert provisioning.objects(changed, {}, memo) == provisioning.objects(changed, {})
    assert made.count == 4 + 1 + 2


# --- certificate checks ----------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return make_certs(tmp_path_factory.mktemp("certs"))


def tls_topology(pem: Path) -> Any:
    return load_data(
        {
            "networks": [
                {
                    "name": "n",
                    "segmentation_id": 1,
                    "subnets": [{"name": "s", "cidr": "10.0.0.0/24"}],
                }
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
                            "default_tls_container_ref": str(pem),
                        }
                    ],
                }
            ],
        }
    )


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> tuple[Calls, Calls]:
    """(reads, openssl runs) of the certificate checks."""
    reads, forks = Calls(certificates._read), Calls(certificates._openssl)
    monkeypatch.setattr(certificates, "_read", reads)
    monkeypatch.setattr(certificates, "_openssl", forks)
    return reads, forks


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_unchanged_file_is_not_read_or_checked_again(
    tmp_path: Path, certs: Certs, counted: tuple[Calls, Calls]
) -> None:
    reads, forks = counted
    pem = tmp_path / "site.pem"
    shutil.copyfile(certs.default.bundle, pem)
    topo = tls_topology(pem)
    # Settled at once (a file older than the racy window, as files usually are).
    verdicts = certificates.Verdicts(racy_seconds=0)
    assert certificates.check(topo, verdicts) == {str(pem): digest(pem)}
    assert (reads.count, forks.count) == (1, 2)
    assert certificates.check(topo, verdicts) == {str(pem): digest(pem)}
    assert (reads.count, forks.count) == (1, 2)


def test_new_content_at_the_same_path_is_checked_again(
    tmp_path: Path, certs: Certs, counted: tuple[Calls, Calls]
) -> None:
    reads, forks = counted
    pem = tmp_path / "site.pem"
    shutil.copyfile(certs.default.bundle, pem)
    topo = tls_topology(pem)
    verdicts = certificates.Verdicts(racy_seconds=0)
    before = certificates.check(topo, verdicts)
    shutil.copyfile(certs.sni_a.bundle, pem)
    after = certificates.check(topo, verdicts)
    assert after == {str(pem): digest(pem)} and after != before
    assert (reads.count, forks.count) == (2, 4)
    # A wrong content at that path is found, and a good one again after it.
    pem.write_bytes(certs.sni_a.cert.read_bytes())
    with pytest.raises(TopologyError, match="no private key"):
        certificates.check(topo, verdicts)
    with pytest.raises(TopologyError, match="no private key"):
        certificates.check(topo, verdicts)
    shutil.copyfile(certs.default.bundle, pem)
    assert certificates.check(topo, verdicts) == before


def test_a_file_young_enough_to_change_unseen_is_hashed_again_not_checked(
    tmp_path: Path, certs: Certs, counted: tuple[Calls, Calls]
) -> None:
    reads, forks = counted
    pem = tmp_path / "site.pem"
    shutil.copyfile(certs.default.bundle, pem)
    topo = tls_topology(pem)
    verdicts = certificates.Verdicts(racy_seconds=3600)
    first = certificates.check(topo, verdicts)
    assert certificates.check(topo, verdicts) == first
    assert (reads.count, forks.count) == (2, 2)
    # Touched (new timestamps), same content: read again, not checked again.
    settled = certificates.Verdicts(racy_seconds=0)
    certificates.check(topo, settled)
    os.utime(pem, ns=(1_000_000_000, 1_000_000_000))
    assert certificates.check(topo, settled) == first
    assert (reads.count, forks.count) == (4, 4)


def test_without_verdicts_every_check_reads_and_checks(
    tmp_path: Path, certs: Certs, counted: tuple[Calls, Calls]
) -> None:
    reads, forks = counted
    pem = tmp_path / "site.pem"
    shutil.copyfile(certs.default.bundle, pem)
    topo = tls_topology(pem)
    certificates.check(topo)
    certificates.check(topo)
    assert (reads.count, forks.count) == (2, 4)


# --- the agent's parsed topologies -----------------------------------------------------


def test_a_recorded_topology_is_read_whole_once_then_row_by_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netnode.reconcile import sources

    wholes = Calls(sources.load_data)
    monkeypatch.setattr(sources, "load_data", wholes)
    host = Host(tmp_path, "netnode")
    data = yaml.safe_load(SEED.read_text())
    document = load_data(data).model_dump(mode="json", exclude_none=True)
    host.store.set_desired("seed", document)
    agent = Agent(host, log=lambda _s: None)
    topologies, problems = agent.desired()
    first = topologies["seed"]
    assert problems == [] and agent.desired()[0]["seed"] is first
    assert wholes.count == 1
    # A new generation of the same document: no row changed, nothing parsed.
    host.store.set_desired("seed", document)
    again = agent.desired()[0]["seed"]
    assert again is not first and again == first
    # A member more: the load balancer's row alone is parsed again.
    changed = load_data(add_member(data))
    host.store.set_desired("seed", changed.model_dump(mode="json", exclude_none=True))
    topologies, problems = agent.desired()
    assert problems == [] and wholes.count == 1
    assert topologies["seed"] == changed
    assert topologies["seed"].routers[0] is first.routers[0]  # an unchanged row is kept
    host.store.forget("seed")
    assert agent.desired() == ({}, [])
