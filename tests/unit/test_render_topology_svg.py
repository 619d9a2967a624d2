"""netnode.render.topology_svg: the seed drawn (golden file), that it is XML, what each
object carries, colours by status, tenancy-filtered topologies and names the API gave."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from netnode.model.loading import load_data, load_file
from netnode.model.topology import ApiMeta, Topology
from netnode.render.topology_svg import COLOURS, NEUTRAL, colour, draw

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "seed-topology.svg"
SVG = "{http://www.w3.org/2000/svg}"


def seed() -> Topology:
    return load_file(ROOT / "examples" / "seed.yaml")


def by_id(text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(text)
    return {e.get("data-id", ""): e for e in root.iter() if e.get("data-id")}


def test_seed_matches_golden_file() -> None:
    text = draw(seed())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_the_seed_is_xml_with_every_object_by_id() -> None:
    topo = seed()
    root = ET.fromstring(draw(topo))
    assert root.tag == f"{SVG}svg"
    found = by_id(draw(topo))
    lb = topo.load_balancers[0]
    expected = {
        *(n.uid for n in topo.networks),
        lb.uid,
        lb.listeners[0].uid,
        lb.pools[0].uid,
        *(m.uid for m in lb.pools[0].members),
        topo.routers[0].uid,
        topo.floating_ips[0].uid,
        *(i.uid for i in topo.lab.instances),
        topo.lab.clients[0].uid,
    }
    assert set(found) == expected
    assert found[lb.uid].get("class") == "loadbalancer"
    assert found[topo.floating_ips[0].uid].get("class") == "floatingip"
    text = "".join(root.itertext())
    for words in ("10.0.0.0/24", "10.255.253.0/24", "VIP 10.0.0.100", "vm1 10.0.0.81:80"):
        assert words in text
    assert "floating IP 10.255.253.100" in text and "> 10.0.0.100 (lb 01)" in text


def test_from_a_file_nothing_is_coloured() -> None:
    text = draw(seed())
    assert "data-status" not in text
    assert COLOURS["ONLINE"] not in text and COLOURS["ERROR"] not in text
    assert 'class="legend"' not in text


def test_statuses_colour_boxes_and_rows() -> None:
    topo = seed()
    lb = topo.load_balancers[0]
    vm1, vm2 = lb.pools[0].members
    statuses = {lb.uid: "DEGRADED", vm1.uid: "ERROR", vm2.uid: "ONLINE"}
    found = by_id(draw(topo, statuses))
    assert found[lb.uid].get("data-status") == "DEGRADED"
    assert found[vm1.uid].get("data-status") == "ERROR"
    assert found[vm2.uid].get("data-status") == "ONLINE"
    assert found[lb.pools[0].uid].get("data-status") is None  # not given: not guessed
    dot = found[vm1.uid].find(f"{SVG}circle")
    assert dot is not None and dot.get("fill") == COLOURS["ERROR"]
    header = [r for r in found[lb.uid].iter(f"{SVG}rect")][-1]
    assert header.get("fill") == COLOURS["DEGRADED"]


def test_colours() -> None:
    assert colour("ONLINE") == colour("ACTIVE") != colour("ERROR")
    assert colour("OFFLINE") == colour("ERROR")
    assert colour("DEGRADED") == colour("PENDING_UPDATE")
    assert colour("NO_MONITOR") != colour("ONLINE")
    assert colour(None) == NEUTRAL


def test_names_are_escaped_and_the_api_names_are_shown() -> None:
    data = {
        "name": "api",
        "networks": [
            {
                "name": "net",
                "segmentation_id": 5,
                "subnets": [{"name": "sub", "cidr": "10.1.0.0/24"}],
            },
        ],
        "load_balancers": [{"name": "lb", "vip": {"network": "net", "address": "10.1.0.5"}}],
    }
    topo = load_data(data)
    meta = ApiMeta(name='<web & "db">', project_id="alpha", created_at="2026-01-01T00:00:00")
    topo = topo.model_copy(update={"metadata": {topo.load_balancers[0].uid: meta}})
    text = draw(topo)
    ET.fromstring(text)
    assert "load balancer &lt;web &amp; &quot;db&quot;&gt;" in text


def test_several_topologies_are_drawn_once_each() -> None:
    topo = seed()
    text = draw([topo, topo])
    assert len(by_id(text)) == len(by_id(draw(topo)))
    assert text.count('class="loadbalancer"') == 1


def test_an_empty_topology_is_a_small_picture() -> None:
    root = ET.fromstring(draw(Topology(name="empty")))
    assert int(root.get("width", "0")) > 0 and int(root.get("height", "0")) > 0
