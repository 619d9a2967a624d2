"""The documentation against the repository and the program, without root: links resolve
inside a clone, the plan excerpts are what ``netnode plan`` prints, YAML excerpts are
the file's lines, runnable blocks keep the safety rules, and the architecture page and
its diagram list the layers the import contracts hold (scripts/docs.py has the rules)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from scripts import docs

PAGES = docs.pages()
PAGE_IDS = [str(p.relative_to(docs.REPO)) for p in PAGES]
ARCHITECTURE = docs.REPO / "docs" / "architecture.md"
DIAGRAM = docs.REPO / "docs" / "architecture.svg"


def contracts() -> list[dict]:
    with open(docs.REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]["contracts"]


def test_the_pages_are_there() -> None:
    names = {p.name for p in PAGES}
    assert {"seed.md", "seed-walkthrough.md", "architecture.md", "operations.md"} <= names


@pytest.mark.parametrize("page", docs.linked_pages(), ids=lambda p: str(p.relative_to(docs.REPO)))
def test_every_relative_link_resolves_inside_the_repository(page: Path) -> None:
    assert docs.link_problems(page) == []


def test_nothing_points_outside_the_clone() -> None:
    """The seed used to be linked beside the repository (../shared/seed/SEED.md)."""
    owned = [*docs.linked_pages(), *sorted((docs.REPO / "examples").glob("*.yaml"))]
    owned.append(docs.REPO / "bench" / "seed.sh")
    offenders = [str(p.relative_to(docs.REPO)) for p in owned if "shared/seed" in p.read_text()]
    assert offenders == []


def sources() -> list[Path]:
    """The repository's Python and shell files (this one left out: it names the old
    paths it looks for)."""
    found = [
        path
        for top in ("netnode", "bench", "scripts", "tests")
        for pattern in ("*.py", "*.sh")
        for path in (docs.REPO / top).rglob(pattern)
    ]
    return sorted(p for p in found if p != Path(__file__).resolve())


def test_the_code_cites_the_seed_inside_the_repository() -> None:
    """Comments cite the seed as docs/seed.md and a section that page has (they used to
    cite SEED.md, a file beside the clone)."""
    sections = set(
        re.findall(r"^## (§[\d.]+):", (docs.REPO / "docs" / "seed.md").read_text(), re.M)
    )
    assert {"§8.1", "§8.2"} <= sections
    outside, unknown = [], []
    for path in sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(docs.REPO)}:{number}"
            if "SEED.md" in line:
                outside.append(where)
            cited = re.findall(r"docs/seed\.md §([\d.]+)", line)
            unknown += [f"{where}: §{c}" for c in cited if f"§{c.rstrip('.')}" not in sections]
    assert outside == []
    assert unknown == []


def test_module_paths_in_netnode_docstrings_exist() -> None:
    """``reconcile/host.py``-style paths in netnode's own text name files of netnode."""
    package = docs.REPO / "netnode"
    missing = [
        f"{path.relative_to(docs.REPO)}: {name}"
        for path in sorted(package.rglob("*.py"))
        for name in re.findall(r"``([a-z_]+(?:/[a-z_]+)+\.py)``", path.read_text())
        if not (package / name).is_file()
    ]
    assert missing == []


def test_a_broken_link_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs, "REPO", tmp_path)
    (tmp_path / "b.md").write_text("# Title here\n")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](b.md) [ok](b.md#title-here) [web](https://example.org/x) `[code](nowhere.md)`\n"
        "[gone](missing.md) [out](../x.md) [anchor](b.md#nope)\n```\n[in code](nowhere.md)\n```\n"
    )
    problems = docs.link_problems(page)
    assert [p.split(": ")[1] for p in problems] == ["missing.md", "../x.md", "b.md#nope"]


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_plan_excerpts_are_what_netnode_plans(page: Path) -> None:
    assert docs.excerpt_problems(page) == []


def test_the_walkthrough_shows_all_the_seed_plans_for_its_load_balancer_and_router() -> None:
    page = docs.REPO / "docs" / "seed-walkthrough.md"
    shown = "".join(s.block.text for s in docs.excerpt_specs(page))
    plan = docs.plan_text(docs.REPO / "examples" / "seed.yaml")
    for subject, lines in docs.plan_sections(plan):
        if any(k in "".join(lines) for k in ("qlbaas-", "qrouter-")) or subject.startswith(
            "bridge"
        ):
            assert all(line in shown for line in lines), subject


def test_an_excerpt_that_disagrees_with_the_plan_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    good = docs.excerpt(
        docs.plan_text(docs.REPO / "examples" / "seed.yaml"),
        docs.REPO / "examples" / "seed.yaml",
        "lb:01",
        "namespace",
    )
    text = f"<!-- plan-excerpt examples/seed.yaml lb:01 namespace -->\n```sh\n{good}```\n"
    page.write_text(text)
    assert docs.excerpt_problems(page) == []
    page.write_text(text.replace("ip link set lo up", "ip link set lo down"))
    (problem,) = docs.excerpt_problems(page)
    assert "not what netnode plans" in problem and "+ip netns exec" in problem


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_yaml_excerpts_are_lines_of_their_file(page: Path) -> None:
    assert docs.yaml_excerpt_problems(page) == []


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_runnable_blocks_keep_the_safety_rules_and_parse(page: Path) -> None:
    for block in docs.runnable(page):
        assert docs.safety_problems(block) == []
        parsed = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
        assert parsed.returncode == 0, f"{block.where}: {parsed.stderr}"


def test_unsafe_blocks_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs, "REPO", tmp_path)
    page = tmp_path / "p.md"
    ns = "qlab-417172cd-96af-59d8-8841-9d339a7da7e3"
    page.write_text(
        "```sh runnable\n"
        f"ip netns exec {ns} curl -s http://10.255.253.100/\n"
        "curl -s http://10.0.0.100/\n"
        "sleep 100 &\n"
        "make demo\n"
        "cat > x <<'EOF'\ncurl in a here-document is text\nEOF\n"
        "```\n"
    )
    (block,) = docs.runnable(page)
    problems = docs.safety_problems(block)
    assert len(problems) == 3, problems
    assert "traffic only from inside" in problems[0]


def test_outputs_compare_modulo_durations_pids_and_wildcards() -> None:
    assert docs.output_matches(
        "Apply complete in 0.85 s: 1 created.\n", "Apply complete in 1.20 s: 1 created.\n"
    )
    assert not docs.output_matches("1 created\n", "2 created\n")
    assert docs.output_matches("[ALERT]    (17722) : bad\n", "[ALERT]    (9) : bad\n")
    assert docs.output_matches("01  … 0\n", "01  470  1792 0\n")
    assert docs.output_matches("a\nb\n", "b\na\n", unordered=True)
    assert not docs.output_matches("a\nb\n", "b\na\n")


def test_the_sandbox_translates_the_pages_names_both_ways() -> None:
    box = docs.Sandbox(Path("/tmp/ndX"), "nd-abc123", ("ndabc123i", "ndabc123e"))
    box.ids = docs.id_pairs(docs.REPO / "examples" / "seed.yaml", docs.DOC_NODE, box.node)
    command = (
        "ip netns exec qlbaas-ab32511b-ca21-5a2e-b93c-b95039076458 curl http://10.0.0.100/; "
        "cat /var/lib/netnode/netnode/haproxy/x; ovs-vsctl list-ports br-int"
    )
    mine = box.to_sandbox(command)
    assert "ab32511b" not in mine and "/var/lib/netnode" not in mine and "br-int" not in mine
    assert "/tmp/ndX/s/nd-abc123/haproxy/x" in mine and "ndabc123i" in mine
    assert box.to_page(mine) == command
    assert box.to_page("port tap" + mine.split("qlbaas-")[1][:11]) == "port tapab32511b-ca"


# --- the architecture page against the import contracts ----------------------------------


def layers() -> list[list[str]]:
    (contract,) = [c for c in contracts() if c["type"] == "layers"]
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def test_the_architecture_page_names_every_contract() -> None:
    text = ARCHITECTURE.read_text()
    for contract in contracts():
        assert f"`{contract['id']}`" in text, contract["id"]


def test_the_architecture_page_lists_the_layers_in_order() -> None:
    """The page's ``text layers`` block: one line per layer, top first, siblings joined
    by ' | ', exactly the contract's."""
    (block,) = [b for b in docs.blocks(ARCHITECTURE) if b.words == ["text", "layers"]]
    rows = [line.split("  ", 1)[0].strip() for line in block.text.splitlines() if line.strip()]
    assert [[n.strip() for n in row.split("|")] for row in rows] == layers()


def test_the_diagram_draws_the_layers_in_order() -> None:
    """Each layer is a row of boxes in docs/architecture.svg (``<g class="layer"
    data-layer="...">``), top to bottom in the contract's order."""
    svg = DIAGRAM.read_text()
    rows = re.findall(
        r'<g class="layer" data-layer="([^"]+)" transform="translate\(0,(\d+)\)"', svg
    )
    drawn = [
        [n.strip() for n in name.split("|")] for name, _ in sorted(rows, key=lambda r: int(r[1]))
    ]
    assert drawn == layers()
    for layer in layers():
        for name in layer:
            assert f">{name}<" in svg, f"no box labelled {name} in the diagram"


def test_every_package_has_a_place_in_the_readme_and_the_architecture_page() -> None:
    packages = sorted(p.parent.name for p in (docs.REPO / "netnode").glob("*/__init__.py"))
    readme = (docs.REPO / "README.md").read_text()
    page = ARCHITECTURE.read_text()
    for name in packages:
        assert f"netnode/{name}" in readme, f"README's 'How it is built' lacks netnode/{name}"
        assert f"`{name}`" in page or f"netnode/{name}" in page, name
