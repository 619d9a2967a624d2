"""Listings as Octavia and Neutron define them: filters on every attribute, tag filters,
sorting, ``fields``, and pages walked by marker with ``<collection>_links``. Pure: it
takes the objects' views (plain JSON dicts) and the query's parameters.

The rules, from both services:

- **Paging.** ``limit`` (at most ``MAX_LIMIT``, which is also the page size when none is
  asked for), ``marker`` (the id of the last object seen: the page starts after it in
  the listing's order, or ends before it with ``page_reverse=True``) and
  ``page_reverse``. An unknown marker is Octavia's 400 ("Supplied pagination marker
  ... is not valid") or Neutron's 404 ("<Kind> <id> could not be found."). A page has a
  ``next`` link when objects follow it and a ``previous`` link when objects precede it;
  each link carries the query's other parameters unchanged, the limit and the new
  marker (``previous`` adds ``page_reverse=True``). Octavia always answers
  ``<collection>_links`` (maybe empty); Neutron only when there is a link.
- **Sorting.** Octavia's ``sort=key:dir,key2:dir2`` and ``sort_key``/``sort_dir``
  (comma-separated, a missing direction is ``asc``); Neutron's repeated ``sort_key``
  and ``sort_dir``, as many of one as of the other. The default keys follow the asked
  ones, ascending: ``created_at`` then ``id`` (Octavia), ``id`` (Neutron), so the order
  is total and a marker is a place in it. None sorts first. A key the objects do not
  have, or one holding a list or an object, is a 400 naming it.
- **fields** (repeated, or comma-separated): only those attributes in each object; the
  links still page by id, as both services do.
- **Filters**: every other parameter is an attribute; repeating it means any of the
  values (Neutron's OR). Booleans are read case-insensitively, integers as numbers, a
  list matches when one of its elements does, an object when one of its values does
  (or ``key=value``: Neutron's ``fixed_ips=ip_address=10.0.0.5``). ``tags``,
  ``tags-any``, ``not-tags`` and ``not-tags-any`` take comma-separated tags: all of
  them, any of them, not all of them, none of them. A route may add filters its views
  do not carry as attributes (``loadbalancer_id`` of a listener). An unknown filter is
  a 400 naming it.

What the objects are is only known from the objects: on an empty listing nothing is
checked (there is nothing to sort or filter).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal
from urllib.parse import urlencode

from netnode.api.errors import BadRequest, NotFound

MAX_LIMIT = 1000  # Octavia's pagination_max_limit default

Api = Literal["octavia", "neutron"]
Item = dict[str, Any]

PAGING = ("limit", "marker", "page_reverse")
SORTING = ("sort", "sort_key", "sort_dir")
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")
# Query parameters that page or shape a listing rather than filter it ("cascade" is a
# delete's; clients send it to no listing, but it is not an attribute either).
NOT_FILTERS = frozenset((*PAGING, *SORTING, "fields", "cascade"))
TRUE = frozenset(("true", "1", "t", "yes", "y", "on"))
FALSE = frozenset(("false", "0", "f", "no", "n", "off"))


@dataclass(frozen=True)
class Collection:
    """What a list route answers: ``name`` is the body's key (``loadbalancers``, and
    ``loadbalancers_links``), ``kind`` names one object in Neutron's 404."""

    name: str
    kind: str
    api: Api
    # Filters that are not attributes of the views: name -> the values an object has.
    derived: Mapping[str, Callable[[Item], Any]] = field(default_factory=dict)

    @property
    def default_sort(self) -> tuple[str, ...]:
        return ("created_at", "id") if self.api == "octavia" else ("id",)


def octavia(name: str, kind: str, **derived: Callable[[Item], Any]) -> Collection:
    return Collection(name, kind, "octavia", derived)


def neutron(name: str, kind: str, **derived: Callable[[Item], Any]) -> Collection:
    return Collection(name, kind, "neutron", derived)


def ids_of(key: str) -> Callable[[Item], list[str]]:
    """A derived filter: the ids in an attribute like ``loadbalancers: [{"id": ...}]``."""
    return lambda item: [ref["id"] for ref in item.get(key) or ()]


def constant(value: Any) -> Callable[[Item], Any]:
    """A derived filter every object of the listing has the same value of (the
    ``pool_id`` of a pool's members)."""
    return lambda _item: value


# --- the query --------------------------------------------------------------------------


@dataclass
class Query:
    """A list request's parameters, read and checked."""

    limit: int
    marker: str | None
    reverse: bool
    sort: list[tuple[str, bool]]  # (key, descending), the asked keys only
    fields: list[str] | None
    filters: dict[str, list[str]]
    tags: dict[str, list[str]]
    params: list[tuple[str, str]]  # as asked, for the links

    @classmethod
    def parse(
        cls,
        collection: Collection,
        params: list[tuple[str, str]],
        ignored: frozenset[str] = frozenset(),
    ) -> Query:
        """``ignored``: filters the caller may send but that change nothing for it."""
        first: dict[str, str] = {}
        many: dict[str, list[str]] = {}
        for key, value in params:
            first.setdefault(key, value)
            many.setdefault(key, []).append(value)
        fields = [f for v in many.get("fields", ()) for f in v.split(",") if f] or None
        filters: dict[str, list[str]] = {}
        tags: dict[str, list[str]] = {}
        for key, values in many.items():
            if key in TAG_FILTERS:
                tags[key] = [t for v in values for t in v.split(",") if t]
            elif key not in NOT_FILTERS and key not in ignored:
                filters[key] = values
        return cls(
            limit=_limit(collection.api, first.get("limit")),
            marker=first.get("marker") or None,
            reverse=first.get("page_reverse", "false").lower() == "true",
            sort=_sort_keys(
                collection.api,
                first.get("sort"),
                many.get("sort_key", []),
                many.get("sort_dir", []),
            ),
            fields=fields,
            filters=filters,
            tags=tags,
            params=params,
        )


def _limit(api: Api, asked: str | None) -> int:
    if asked is None or asked == "":
        return MAX_LIMIT
    try:
        limit = int(asked)
    except ValueError:
        limit = None
    if api == "octavia":
        if limit is None:
            raise BadRequest(f"Supplied pagination limit '{asked}' is not valid.")
        # Octavia: 0 or less is "no limit", here the largest page.
        return MAX_LIMIT if limit < 1 else min(limit, MAX_LIMIT)
    if limit is None or limit < 0:
        raise BadRequest(f"Limit must be an integer 0 or greater and not '{asked}'")
    return MAX_LIMIT if limit == 0 else min(limit, MAX_LIMIT)


def _sort_keys(
    api: Api, sort: str | None, keys: list[str], dirs: list[str]
) -> list[tuple[str, bool]]:
    pairs: list[tuple[str, str]] = []
    if sort:  # Octavia's sort=key:dir,key2:dir2
        for part in sort.split(","):
            key, _, direction = part.partition(":")
            pairs.append((key.strip(), direction.strip() or "asc"))
    else:
        keys = [k for v in keys for k in v.split(",") if k]
        dirs = [d for v in dirs for d in v.split(",") if d]
        if api == "neutron" and len(keys) != len(dirs):
            raise BadRequest(
                "The number of sort_keys and sort_dirs must be same "
                f"(sort_key: {keys}, sort_dir: {dirs})"
            )
        dirs += ["asc"] * (len(keys) - len(dirs))
        pairs = list(zip(keys, dirs, strict=False))
    found = []
    for key, direction in pairs:
        if direction.lower() not in ("asc", "desc"):
            raise BadRequest(
                f"Supplied sort direction '{direction}' is not valid (sort "
                f"key '{key}'): it is asc or desc."
            )
        if not key:
            raise BadRequest("Supplied sort key '' is not valid.")
        found.append((key, direction.lower() == "desc"))
    return found


# --- the listing ------------------------------------------------------------------------


class Prepared:
    """A collection's views in the default order, each encoded as JSON once, with who
    may see each: what a listing keeps while nothing it shows changed (the caller
    caches it; see ``netnode.api.snapshots``). Read by many requests at once: nothing
    changes it after it is built but the encoding, made whole on first use."""

    def __init__(
        self,
        collection: Collection,
        items: Iterable[Item],
        shared: Callable[[Item], bool] | None = None,
    ) -> None:
        """``shared``: the objects every project sees besides those whose ``shared``
        attribute is true (a shared network's subnets)."""
        self.items = _sorted(list(items), [(k, False) for k in collection.default_sort])
        self.position = {item["id"]: n for n, item in enumerate(self.items)}
        self.projects = [item.get("project_id") for item in self.items]
        self.open = [
            item.get("shared") is True or (shared is not None and shared(item))
            for item in self.items
        ]
        self._encoded: list[bytes] | None = None

    def encoded(self) -> list[bytes]:
        if self._encoded is None:
            self._encoded = [_dumps(item) for item in self.items]
        return self._encoded

    def visible(self, project: str | None) -> list[int]:
        """The objects ``project`` sees (None: every one, an admin), by position."""
        if project is None:
            return list(range(len(self.items)))
        return [
            n
            for n, (owner, everyone) in enumerate(zip(self.projects, self.open, strict=True))
            if everyone or owner == project
        ]


def page(
    collection: Collection, query: Query, prepared: Prepared, project: str | None, url: str
) -> bytes:
    """The JSON body of a list answer: the page ``query`` asks for of the objects of
    ``prepared`` that ``project`` sees (None: all), and its links (``url``: the
    request's, without its query)."""
    items = prepared.items
    sort = _full_sort(collection, query, items)
    visible = prepared.visible(project)
    selected = visible
    if query.filters or query.tags:
        selected = [n for n in visible if _matches(collection, query, items[n])]
    marker = None
    if query.marker is not None:
        marker = prepared.position.get(query.marker)
        if marker is None or not (
            project is None or prepared.open[marker] or prepared.projects[marker] == project
        ):
            raise _bad_marker(collection, query.marker)
    if query.sort:
        ordered = selected if marker is None else sorted({*selected, marker})
        ordered = _sorted_positions(items, ordered, sort)
    else:
        ordered = selected  # already in the default order
    where = None
    if marker is not None:
        if query.sort:
            found = marker in set(selected)
            where = ordered.index(marker)
            if not found:
                del ordered[where]
        else:
            where = bisect.bisect_left(ordered, marker)
            found = where < len(ordered) and ordered[where] == marker
        # The marker's place: a forward page starts after it, a reverse page ends
        # before it (a marker the filters leave out is no answer, only a place).
        start, end = (where + 1 if found else where), where
    if query.reverse:
        end = len(ordered) if where is None else end
        start = max(0, end - query.limit)
    else:
        start = 0 if where is None else start
        end = min(len(ordered), start + query.limit)
    shown = ordered[start:end]
    first = items[shown[0]]["id"] if shown else None
    last = items[shown[-1]]["id"] if shown else None
    links = _links(query, url, first, last, more_before=start > 0, more_after=end < len(ordered))
    if query.fields is None:
        encoded = prepared.encoded()
        objects = b",".join(encoded[n] for n in shown)
    else:
        objects = b",".join(_dumps(_only(items[n], query.fields)) for n in shown)
    name = collection.name.encode()
    body = b'{"' + name + b'":[' + objects + b"]"
    if links or collection.api == "octavia":
        body += b',"' + name + b'_links":' + _dumps(links)
    return body + b"}"


def _dumps(value: Any) -> bytes:
    """As Starlette's JSONResponse encodes."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _bad_marker(collection: Collection, marker: str) -> Exception:
    if collection.api == "octavia":
        return BadRequest(f"Supplied pagination marker '{marker}' is not valid.")
    return NotFound.of(collection.kind, marker)


def _full_sort(collection: Collection, query: Query, items: list[Item]) -> list[tuple[str, bool]]:
    """The asked keys (checked against the objects), then the defaults."""
    if items:
        sample = items[0]
        for key, _ in query.sort:
            if key not in sample or isinstance(sample[key], (list, dict)):
                if collection.api == "octavia":
                    raise BadRequest(f"Supplied sort key '{key}' is not valid.")
                raise BadRequest(f"['{key}'] is invalid attribute for sort_keys")
    asked = {k for k, _ in query.sort}
    return query.sort + [(k, False) for k in collection.default_sort if k not in asked]


def _sorted(items: list[Item], sort: list[tuple[str, bool]]) -> list[Item]:
    if len({desc for _, desc in sort}) == 1:  # one pass
        keys = [k for k, _ in sort]
        return sorted(items, key=lambda i: [_order(i.get(k)) for k in keys], reverse=sort[0][1])
    result = list(items)
    for key, desc in reversed(sort):  # stable sorts, last key first
        result.sort(key=partial(_keyed, key), reverse=desc)
    return result


def _keyed(key: str, item: Item) -> Any:
    return _order(item.get(key))


def _sorted_positions(
    items: list[Item], positions: list[int], sort: list[tuple[str, bool]]
) -> list[int]:
    """``positions`` (of ``items``) in the order of ``sort``."""
    order = _sorted([items[n] for n in positions], sort)
    where = {id(items[n]): n for n in positions}
    return [where[id(item)] for item in order]


def _order(value: Any) -> tuple[int, int, Any]:
    """Comparable whatever the values: None first, then numbers, then text (an
    attribute that is None on some objects and a number on others still sorts)."""
    if value is None:
        return (0, 0, "")
    if isinstance(value, (bool, int, float)):
        return (1, 0, value)
    return (1, 1, value if isinstance(value, str) else str(value))


def _only(item: Item, fields: list[str] | None) -> Item:
    if fields is None:
        return item
    return {k: v for k, v in item.items() if k in fields}


def _links(
    query: Query, url: str, first: str | None, last: str | None, more_before: bool, more_after: bool
) -> list[dict[str, str]]:
    """``first`` and ``last``: the ids the page begins and ends with (None: empty)."""
    if first is None or last is None:
        return []
    kept = [(k, v) for k, v in query.params if k not in ("marker", "page_reverse", "limit")]
    kept.insert(0, ("limit", str(query.limit)))
    links = []
    if more_after:
        links.append({"href": f"{url}?{urlencode([*kept, ('marker', last)])}", "rel": "next"})
    if more_before:
        previous = [*kept, ("marker", first), ("page_reverse", "True")]
        links.append({"href": f"{url}?{urlencode(previous)}", "rel": "previous"})
    return links


# --- filters ------------------------------------------------------------------------------


def _matches(collection: Collection, query: Query, item: Item) -> bool:
    for key, wanted in query.filters.items():
        if key in collection.derived:
            actual = collection.derived[key](item)
        elif key in item:
            actual = item[key]
        else:
            raise _unknown_filter(collection, key)
        if not any(_equal(key, actual, w) for w in wanted):
            return False
    if query.tags:
        have = set(item.get("tags") or ())
        t = query.tags
        if "tags" in t and not have.issuperset(t["tags"]):
            return False
        if "tags-any" in t and not have.intersection(t["tags-any"]):
            return False
        if "not-tags" in t and t["not-tags"] and have.issuperset(t["not-tags"]):
            return False
        if "not-tags-any" in t and have.intersection(t["not-tags-any"]):
            return False
    return True


def _unknown_filter(collection: Collection, key: str) -> BadRequest:
    if collection.api == "octavia":
        return BadRequest(
            f"One or more arguments are either duplicate or invalid: "
            f"{collection.name} have no attribute '{key}' to filter on"
        )
    return BadRequest(f"['{key}'] is invalid attribute for filtering")


def _equal(key: str, actual: Any, wanted: str) -> bool:
    if actual is None:
        return wanted == ""
    if isinstance(actual, bool):
        return actual is _boolean(key, wanted)
    if isinstance(actual, int):
        try:
            return actual == int(wanted)
        except ValueError:
            raise BadRequest(
                f"Invalid input for field/attribute {key}. Value: '{wanted}'. Not an integer"
            ) from None
    if isinstance(actual, list):
        return any(_equal(key, a, wanted) for a in actual)
    if isinstance(actual, dict):
        name, sep, value = wanted.partition("=")
        if sep and name in actual:
            return _equal(key, actual[name], value)
        return any(_equal(key, v, wanted) for v in actual.values())
    return str(actual) == wanted


def _boolean(key: str, wanted: str) -> bool:
    text = wanted.strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise BadRequest(
        f"Invalid input for field/attribute {key}. Value: '{wanted}'. Not a boolean (true or false)"
    )
