#!/usr/bin/env python3
"""Documentation that is checked against the program: links, plan excerpts, runnable blocks.

The pages (README.md and docs/*.md) mark what a test holds them to:

- A fenced block whose info string is ``sh runnable`` is executed, in page order, by
  tests/functional/test_docs.py, as root, in a sandbox of its own: a private node
  (``NETNODE_NODE``), state directory (``NETNODE_STATE_DIR``) and bridges, so that a run
  collides with nothing. The page is written for a fresh host: node ``netnode``, state
  in ``/var/lib/netnode``, bridges ``br-int`` and ``br-ex``. The sandbox translates those
  names, and the ids derived from the node name, into its own before it runs a block,
  and its own back into the page's in what the block printed.
- A ``text output`` block right after a runnable block is what that block prints
  (stdout and stderr together), compared line by line after both sides are normalized
  (durations, process ids); ``…`` in the page matches anything within one line.
  ``text output unordered`` compares the lines in any order (what netnode prints in
  the order of its ids, which differ between the page's node and the sandbox's).
- ``<!-- plan-excerpt FILE OBJECT [KINDS] -->`` right before a ``sh`` block: the block
  is the part of ``netnode plan -f FILE`` (on an empty host, node ``netnode``) that
  builds OBJECT (``lb:NAME``, ``router:NAME``, ``lab:NAME`` or ``bridges``), only the
  host objects of the given kinds (``namespace,port,haproxy,iptables,bridge``).
- A ``yaml excerpt FILE`` block must be a run of consecutive lines of FILE.
- Every relative link resolves to a file inside the repository (and its #anchor to a
  heading of that file).

Usage, from the repository root:

    .venv/bin/python scripts/docs.py check      # links, excerpts (no root needed)
    .venv/bin/python scripts/docs.py update     # rewrite the plan excerpts
    .venv/bin/python scripts/docs.py run PAGE   # as root: run PAGE's blocks in a sandbox
                                                # and rewrite its output blocks

Safety (DESIGN.md, "Safety on a shared machine"): a runnable block may send traffic
(curl, wget, ping, nc, arping) only from inside a namespace of the sandbox's own
(``ip netns exec q...-<id>``); it may not run a process in the background, nor make,
apt-get or systemctl. Whatever happens, the sandbox destroys every topology recorded on
its node and removes its directory.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import itertools
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# What the pages show: a fresh host's defaults.
DOC_NODE = "netnode"
DOC_STATE = "/var/lib/netnode"
DOC_BRIDGES = ("br-int", "br-ex")

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
EXCERPT = re.compile(r"^<!-- plan-excerpt (?P<args>[^>]*?) -->$")
LINK = re.compile(
    r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)"
)
IMAGE = re.compile(r"!\[[^\]]*\]\((?P<target>[^)\s]+)\)")
INLINE_CODE = re.compile(r"`[^`]*`")
UUID_PREFIX = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{1,12})*")
NETWORK_CLIENTS = re.compile(r"\b(curl|wget|ping|nc|ncat|arping|wrk|openstack)\b")
FORBIDDEN = re.compile(r"(\bmake\b|\bapt-get\b|\bsystemctl\b|\bsudo\b|(?<![&|>])&(?![&>]))")
DURATION = re.compile(r"\b\d+\.\d+ s\b")
PID = re.compile(r"^\[(NOTICE|WARNING|ALERT)\] +\(\d+\)")
WILDCARD = "…"
OWNER = "external_ids:netnode-node"


def pages() -> list[Path]:
    """The pages whose runnable blocks and excerpts are checked."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def linked_pages() -> list[Path]:
    """The pages whose links are checked."""
    return [*pages(), REPO / "bench" / "README.md"]


# --- reading pages ---------------------------------------------------------------------


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    info: str
    text: str
    before: str = ""  # the last non-blank line before the fence
    output: Block | None = None
    end: int = 0  # of the closing fence, 1-based

    @property
    def words(self) -> list[str]:
        return self.info.split()

    @property
    def runnable(self) -> bool:
        return self.words[:2] == ["sh", "runnable"]

    @property
    def where(self) -> str:
        page = self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page
        return f"{page}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page; a runnable block gets the output block after it."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    i = 0
    last_text = ""
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                last_text = lines[i].strip()
            i += 1
            continue
        fence, start = m["fence"], i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        block = Block(page, start + 1, m["info"].strip(), "\n".join(body) + "\n", last_text)
        block.end = i + 1
        found.append(block)
        last_text = ""
        i += 1
    for a, b in itertools.pairwise(found):
        between = lines[a.end : b.line - 1]
        output = b.words[:2] == ["text", "output"]
        if a.runnable and output and not any(s.strip() for s in between):
            a.output = b
    return found


def runnable(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.runnable]


# --- links -----------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = INLINE_CODE.sub(lambda m: m[0].strip("`"), heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    in_code = False
    for line in page.read_text().splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code or not line.startswith("#"):
            continue
        base = slug(line.lstrip("#"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[tuple[int, str]]:
    """(line, target) of every link and image outside code."""
    found: list[tuple[int, str]] = []
    in_code = False
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        text = INLINE_CODE.sub("", line)
        for m in [*LINK.finditer(text), *IMAGE.finditer(text)]:
            found.append((number, m["target"].strip("<>")))
    return found


def link_problems(page: Path) -> list[str]:
    problems = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        where = f"{Block(page, number, '', '').where}: {target}"
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.is_relative_to(REPO):
            problems.append(f"{where}: leaves the repository")
        elif not dest.exists():
            problems.append(f"{where}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where}: no heading #{anchor} in {dest.relative_to(REPO)}")
    return problems


# --- plan excerpts ---------------------------------------------------------------------


def plan_text(path: Path, node: str = DOC_NODE) -> str:
    """What ``netnode plan -f path`` prints on an empty host (as without root)."""
    from netnode.cli.main import _print_plan
    from netnode.model.loading import load_file
    from netnode.reconcile import converge
    from netnode.reconcile.host import Host

    with tempfile.TemporaryDirectory(prefix="nnd-") as state:
        host = Host(state_dir=Path(state), node=node)
        try:
            the_plan = converge.preview(host, load_file(path, node), read_host=False)
        finally:
            host.close()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            _print_plan(the_plan, Path(os.path.relpath(path, REPO)), "")
    return out.getvalue()


def plan_sections(text: str) -> list[tuple[str, list[str]]]:
    """The plan as (subject, its lines) in order; the summary line is left out."""
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# Plan:"):
            continue
        if line.startswith("# "):
            sections.append((line[4:], [line]))
        elif sections:
            sections[-1][1].append(line)
    return sections


def excerpt(text: str, path: Path, what: str, kinds: str = "") -> str:
    """The part of a plan printed by ``plan_text`` that builds ``what`` (see the module
    docstring), of the given kinds of host object."""
    from netnode.model import ids
    from netnode.model.loading import load_file

    topo = load_file(path, DOC_NODE)
    kind, _, name = what.partition(":")
    if kind == "bridges":
        namespace = None
    elif kind == "lb":
        namespace = ids.lb_namespace(next(x for x in topo.load_balancers if x.name == name).uid)
    elif kind == "router":
        namespace = ids.router_namespace(next(x for x in topo.routers if x.name == name).uid)
    elif kind == "lab":
        hosts = [*topo.lab.instances, *topo.lab.clients]
        namespace = ids.lab_namespace(next(x for x in hosts if x.name == name).uid)
    else:
        raise ValueError(f"plan-excerpt: unknown object {what!r}")
    wanted = set(kinds.split(",")) if kinds else None
    # A subject belongs to a namespace when one of its lines names it anywhere in the plan.
    owners: dict[str, bool] = {}
    for subject, lines in plan_sections(text):
        mine = namespace is None and subject.startswith("bridge ")
        mine |= namespace is not None and (
            subject.endswith(f" {namespace}") or any(namespace in line for line in lines[1:])
        )
        owners[subject] = owners.get(subject, False) or mine
    out = []
    for subject, lines in plan_sections(text):
        if owners[subject] and (wanted is None or subject.split()[0] in wanted):
            out.extend(lines)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class ExcerptSpec:
    block: Block
    file: Path
    what: str
    kinds: str


def excerpt_specs(page: Path) -> list[ExcerptSpec]:
    specs = []
    for block in blocks(page):
        m = EXCERPT.match(block.before)
        if m:
            args = m["args"].split()
            if len(args) not in (2, 3):
                raise ValueError(f"{block.where}: plan-excerpt FILE OBJECT [KINDS]")
            kinds = args[2] if len(args) == 3 else ""
            specs.append(ExcerptSpec(block, REPO / args[0], args[1], kinds))
    return specs


def excerpt_problems(page: Path, plans: dict[Path, str] | None = None) -> list[str]:
    """Where a page's plan excerpts differ from ``netnode plan``; ``plans`` gives the plan
    text per file (the functional test passes one printed on a real host)."""
    problems = []
    cache = dict(plans or {})
    for spec in excerpt_specs(page):
        if spec.file not in cache:
            cache[spec.file] = plan_text(spec.file)
        want = excerpt(cache[spec.file], spec.file, spec.what, spec.kinds)
        if spec.block.text != want:
            diff = "".join(
                difflib.unified_diff(
                    spec.block.text.splitlines(True), want.splitlines(True), "page", "netnode plan"
                )
            )
            problems.append(f"{spec.block.where}: the excerpt is not what netnode plans:\n{diff}")
    return problems


def yaml_excerpt_problems(page: Path) -> list[str]:
    problems = []
    for block in blocks(page):
        if block.words[:2] != ["yaml", "excerpt"]:
            continue
        source = REPO / block.words[2]
        if not source.exists():
            problems.append(f"{block.where}: no file {block.words[2]}")
        elif block.text not in source.read_text():
            problems.append(f"{block.where}: not a run of lines of {block.words[2]}")
    return problems


def replace_blocks(page: Path, new_text: dict[int, str]) -> None:
    """Rewrite the bodies of the blocks opening at the given lines."""
    lines = page.read_text().splitlines(True)
    for block in sorted(blocks(page), key=lambda b: -b.line):
        if block.line in new_text:
            lines[block.line : block.end - 1] = new_text[block.line].splitlines(True)
    page.write_text("".join(lines))


def update_excerpts(page: Path) -> None:
    replace_blocks(
        page,
        {
            s.block.line: excerpt(plan_text(s.file), s.file, s.what, s.kinds)
            for s in excerpt_specs(page)
        },
    )


# --- runnable blocks -------------------------------------------------------------------


def safety_problems(block: Block) -> list[str]:
    """What a runnable block may not do (module docstring)."""
    problems = []
    joined = block.text.replace("\\\n", " ")
    heredoc: str | None = None
    for line in joined.splitlines():
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        m = re.search(r"<<-?'?(\w+)'?", code)
        if m:
            heredoc = m[1]
        if FORBIDDEN.search(code):
            problems.append(f"{block.where}: not in a runnable block: {line.strip()!r}")
        if NETWORK_CLIENTS.search(code):
            ns = re.match(r"\s*ip netns exec (q(?:lbaas|router|lab)-[0-9a-f-]{36}) ", code)
            if not ns:
                problems.append(
                    f"{block.where}: traffic only from inside a lab namespace "
                    f"('ip netns exec q...-<id> ...'): {line.strip()!r}"
                )
    return problems


def normalize(text: str) -> list[str]:
    lines = []
    for line in text.rstrip("\n").splitlines():
        line = DURATION.sub("N s", line.rstrip())
        line = PID.sub(lambda m: f"[{m[1]}] (pid)", line)
        lines.append(line)
    return lines


def output_matches(expected: str, actual: str, unordered: bool = False) -> bool:
    want, got = normalize(expected), normalize(actual)
    if unordered:
        want, got = sorted(want), sorted(got)
    if len(want) != len(got):
        return False
    for w, g in zip(want, got, strict=True):
        pattern = ".*".join(re.escape(part) for part in w.split(WILDCARD))
        if not re.fullmatch(pattern, g):
            return False
    return True


@dataclass
class Sandbox:
    """A private netnode for one page: its node, state directory, bridges and copy of
    the repository's examples; the page's names translated to its own and back."""

    top: Path
    node: str
    bridges: tuple[str, str]
    ids: dict[str, str] = field(default_factory=dict)  # page's id -> sandbox's

    @property
    def root(self) -> Path:
        return self.top / "repo"

    @property
    def state(self) -> Path:
        return self.top / "s"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NETNODE_")}
        env.update(
            NETNODE_NODE=self.node,
            NETNODE_STATE_DIR=str(self.state),
            PYTHONUNBUFFERED="1",
            LC_ALL="C.UTF-8",
        )
        return env

    def learn_ids(self) -> None:
        """Pair the page's ids with the sandbox's for every topology file in it."""
        for path in sorted(self.root.glob("*.yaml")) + sorted(self.root.glob("examples/*.yaml")):
            with contextlib.suppress(Exception):  # not every YAML file is a topology
                self.ids.update(id_pairs(path, DOC_NODE, self.node))

    def _swap_ids(self, text: str, table: dict[str, str]) -> str:
        by_head = {k[:8]: (k, v) for k, v in table.items()}

        def swap(m: re.Match[str]) -> str:
            token = m[0]
            hit = by_head.get(token[:8])
            if hit is None or not hit[0].startswith(token):
                return token
            return hit[1][: len(token)]

        return UUID_PREFIX.sub(swap, text)

    def to_sandbox(self, text: str) -> str:
        text = self._swap_ids(text, self.ids)
        text = text.replace(f"{DOC_STATE}/{DOC_NODE}/", f"{self.state}/{self.node}/")
        text = text.replace(DOC_STATE, str(self.state))
        for doc, mine in zip(DOC_BRIDGES, self.bridges, strict=True):
            text = re.sub(rf"\b{re.escape(doc)}\b", mine, text)
        return text

    def to_page(self, text: str) -> str:
        text = self._swap_ids(text, {v: k for k, v in self.ids.items()})
        text = text.replace(f"{self.state}/{self.node}/", f"{DOC_STATE}/{DOC_NODE}/")
        text = text.replace(str(self.state), DOC_STATE)
        text = text.replace(str(self.root) + "/", "")
        text = text.replace(self.node, DOC_NODE)
        for doc, mine in zip(DOC_BRIDGES, self.bridges, strict=True):
            text = text.replace(mine, doc)
        return text

    def run(self, block: Block, timeout: float = 120) -> str:
        """Run a block; return what it printed, in the page's names."""
        problems = safety_problems(block)
        if problems:
            raise DocError("\n".join(problems))
        self.learn_ids()
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", self.to_sandbox(block.text)],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.learn_ids()  # files the block wrote
        out = self.to_page(proc.stdout)
        self.check_bridges()
        if proc.returncode != 0:
            raise DocError(f"{block.where}: exit status {proc.returncode}:\n{out}")
        return out

    def check_bridges(self) -> None:
        """Nothing this node made may be a bridge other than the sandbox's."""
        listed = subprocess.run(
            ["ovs-vsctl", "--bare", "--columns=name", "find", "Bridge", f"{OWNER}={self.node}"],
            capture_output=True,
            text=True,
            check=True,
        )
        strangers = set(listed.stdout.split()) - set(self.bridges)
        if strangers:
            raise DocError(f"the sandbox's node made bridges not its own: {sorted(strangers)}")

    def cleanup(self) -> None:
        """Destroy every topology recorded on the sandbox's node; remove its files."""
        from netnode.model.loading import load_data
        from netnode.reconcile import converge
        from netnode.reconcile.host import Host

        try:
            if self.state.exists():
                host = Host(state_dir=self.state, node=self.node)
                try:
                    for name, record in converge.desired(host).items():
                        topo = load_data(record.topology, node=self.node, source=f"record {name}")
                        converge.destroy(host, topo)
                finally:
                    host.close()
        finally:
            shutil.rmtree(self.top, ignore_errors=True)


class DocError(Exception):
    pass


def id_pairs(path: Path, doc_node: str, node: str) -> dict[str, str]:
    """The ids a topology file gets on the page's node, paired with the sandbox node's:
    the same file loaded on both, and planned on both, differs only in its ids."""
    from netnode.model.loading import load_file

    key = (path.read_text(), doc_node, node)
    if key in _PAIRS:
        return _PAIRS[key]
    pairs: dict[str, str] = {}
    texts = [
        (load_file(path, doc_node).model_dump_json(), load_file(path, node).model_dump_json()),
        (plan_text(path, doc_node), plan_text(path, node)),
    ]
    full = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    for a, b in texts:
        for x, y in zip(full.findall(a), full.findall(b), strict=True):
            pairs.setdefault(x, y)
    _PAIRS[key] = pairs
    return pairs


_PAIRS: dict[tuple[str, str, str], dict[str, str]] = {}


@contextlib.contextmanager
def sandbox() -> Iterator[Sandbox]:
    suffix = secrets.token_hex(3)
    # Short: HAProxy's socket paths live under the state directory, and HAProxy takes
    # at most 97 bytes for one (it binds a temporary name beside it first).
    top = Path(tempfile.mkdtemp(prefix="nd"))
    box = Sandbox(top, f"nd-{suffix}", (f"nd{suffix}i", f"nd{suffix}e"))
    try:
        box.root.mkdir()
        for entry in REPO.iterdir():
            if entry.name not in ("examples", ".git"):
                (box.root / entry.name).symlink_to(entry)
        (box.root / "examples").mkdir()
        for example in sorted((REPO / "examples").iterdir()):
            text = example.read_text()
            if example.suffix == ".yaml":
                text = private_bridges(text, box.bridges)
            (box.root / "examples" / example.name).write_text(text)
        box.learn_ids()
        yield box
    finally:
        box.cleanup()


def private_bridges(text: str, bridges: tuple[str, str]) -> str:
    """A topology file on the sandbox's bridges instead of br-int and br-ex."""
    text = re.sub(r"^(\s*bridge:\s*)br-ex\s*$", rf"\g<1>{bridges[1]}", text, flags=re.M)
    if re.search(r"^integration_bridge:", text, flags=re.M):
        return re.sub(
            r"^integration_bridge:.*$", f"integration_bridge: {bridges[0]}", text, flags=re.M
        )
    return text.rstrip("\n") + f"\nintegration_bridge: {bridges[0]}\n"


def run_page(page: Path, update: bool = False) -> list[str]:
    """Run a page's runnable blocks in a sandbox, in order; return the problems (or, with
    ``update``, rewrite the output blocks that differ)."""
    problems: list[str] = []
    rewrites: dict[int, str] = {}
    with sandbox() as box:
        for block in runnable(page):
            try:
                out = box.run(block)
            except DocError as exc:
                problems.append(str(exc))
                break
            output = block.output
            if output is not None and not output_matches(
                output.text, out, unordered="unordered" in output.words
            ):
                if update:
                    rewrites[output.line] = out
                else:
                    diff = "".join(
                        difflib.unified_diff(
                            output.text.splitlines(True), out.splitlines(True), "page", "run"
                        )
                    )
                    problems.append(f"{block.where}: the output differs:\n{diff}")
    if update and rewrites:
        replace_blocks(page, rewrites)
    return problems


def static_problems() -> list[str]:
    problems = []
    for page in linked_pages():
        problems += link_problems(page)
    for page in pages():
        problems += excerpt_problems(page)
        problems += yaml_excerpt_problems(page)
        for block in runnable(page):
            problems += safety_problems(block)
    return problems


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("check", "update", "run"):
        print(__doc__.split("Usage", 1)[1], file=sys.stderr)
        return 2
    if argv[0] == "check":
        problems = static_problems()
    elif argv[0] == "update":
        for page in pages():
            update_excerpts(page)
        problems = static_problems()
    else:
        problems = []
        for name in argv[1:] or [str(p.relative_to(REPO)) for p in pages()]:
            problems += run_page((REPO / name).resolve(), update=True)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
