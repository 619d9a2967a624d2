"""The pages' runnable blocks, run: each page's ``sh runnable`` blocks in order, as root,
on a lab of their own (a private node, state directory and bridges; scripts/docs.py's
sandbox), their output compared with the page's; and the walk-through's ``netnode plan``
excerpts cut again from a plan made on this real host. The sandbox destroys every
topology its node recorded, whatever happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import docs

PAGES = [p for p in docs.pages() if docs.runnable(p)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(docs.REPO)))
def test_the_runnable_blocks_print_what_the_page_shows(page: Path) -> None:
    assert docs.run_page(page) == []


def test_the_plan_on_a_real_host_is_the_one_on_the_page() -> None:
    page = docs.REPO / "docs" / "seed-walkthrough.md"
    block = docs.Block(page, 0, "sh runnable", ".venv/bin/netnode plan -f examples/seed.yaml\n")
    with docs.sandbox() as box:
        printed = box.run(block)
    assert "planned from an empty host" not in printed  # it did look at the host
    assert docs.excerpt_problems(page, {docs.REPO / "examples" / "seed.yaml": printed}) == []


def test_a_page_that_disagrees_with_the_program_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```sh runnable\n.venv/bin/netnode validate -f examples/seed.yaml\n```\n\n"
        "```text output\nexamples/seed.yaml: valid (2 networks, 9 load balancers)\n```\n"
    )
    (problem,) = docs.run_page(page)
    assert "the output differs" in problem and "+examples/seed.yaml: valid" in problem
