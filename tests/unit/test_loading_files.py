"""What a topology file must be before anything is applied: named, describing something,
with no key given twice (issue 18: a truncated file applied deleted everything)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netnode.cli import main as cli
from netnode.errors import TopologyError
from netnode.model.loading import load_data, load_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def refused(tmp_path: Path, text: str, **kwargs: bool) -> list[tuple[str, str]]:
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError) as info:
        load_file(path, **kwargs)
    assert info.value.source == str(path)
    return [(p.path, p.message) for p in info.value.problems]


@pytest.mark.parametrize("text", ["", "\n\n", "# all of it was cut\n", "{}\n", "---\n"])
def test_an_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    ((path, message),) = refused(tmp_path, text)
    assert path == ""
    assert message.startswith("the file is empty.")
    assert "'netnode destroy -f FILE'" in message


@pytest.mark.parametrize("text", ["networks: []\n", "name:\nrouters: []\n"])
def test_a_file_without_a_name_is_refused(tmp_path: Path, text: str) -> None:
    ((path, message),) = refused(tmp_path, text)
    assert path == "name"
    assert "add 'name: NAME' at the top" in message


def test_a_name_and_nothing_else_is_refused_unless_destroying(tmp_path: Path) -> None:
    ((path, message),) = refused(tmp_path, "name: seed\nintegration_bridge: br-int\n")
    assert path == ""
    assert "topology 'seed' describes nothing" in message
    assert "'netnode destroy -f FILE'" in message
    topo = load_file(tmp_path / "topology.yaml", allow_empty=True)
    assert topo.name == "seed" and not topo.networks


def test_the_api_topology_may_still_be_empty_and_unnamed() -> None:
    topo = load_data({})
    assert topo.name is None and not topo.networks


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_named(example: Path) -> None:
    assert load_file(example).name


def test_a_key_given_twice_at_the_top(tmp_path: Path) -> None:
    text = "name: seed\nnetworks: []\nname: other\n"
    assert refused(tmp_path, text) == [
        (
            "line 3, column 1",
            "not valid YAML: duplicate key 'name' (first given at line 1, column 1): keep one",
        )
    ]


def test_a_key_given_twice_deep_down(tmp_path: Path) -> None:
    text = (
        "name: t\n"
        "networks:\n"
        "  - name: tenant1\n"
        "    segmentation_id: 1\n"
        "    subnets: []\n"
        "    segmentation_id: 2\n"
    )
    ((path, message),) = refused(tmp_path, text)
    assert path == "line 6, column 5"
    assert "duplicate key 'segmentation_id' (first given at line 4, column 5)" in message


def test_a_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "name: t\n"
        "networks:\n"
        "  - &tenant {name: tenant1, segmentation_id: 1}\n"
        "  - <<: *tenant\n"
        "    name: tenant2\n"
        "    segmentation_id: 2\n"
    )
    topo = load_file(path)
    assert [(n.name, n.segmentation_id) for n in topo.networks] == [
        ("tenant1", 1),
        ("tenant2", 2),
    ]


def test_the_cli_refuses_an_empty_file_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert cli.main(["validate", "-f", str(path)]) == 2
    err = capsys.readouterr().err
    assert "the file is empty" in err and "Nothing was changed on the host." in err
