"""The OpenAPI document links each create to the show, update and delete of what it
made (``netnode.api.app._link_creates``): what a client does next, spelled so that a
stateful client or test can follow it. Each link names a real operation and fills
every path parameter that operation takes."""

from __future__ import annotations

import re
from typing import Any, cast

from netnode.api.app import create_app
from netnode.api.service import Service


def _document() -> dict[str, Any]:
    return create_app(cast(Service, None), None).openapi()


def test_every_create_links_to_its_objects_routes() -> None:
    document = _document()
    operations = {
        op["operationId"]: (path, method)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    creates = 0
    for path, item in document["paths"].items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        creates += 1
        links = created.get("links", {})
        targets = {operations[link["operationId"]] for link in links.values()}
        item_paths = {p for p, _ in targets}
        assert len(item_paths) == 1, (path, item_paths)
        (item_path,) = item_paths
        assert item_path.startswith(path + "/{")
        assert {m for _, m in targets} == set(document["paths"][item_path]) & {
            "get",
            "put",
            "delete",
        }
        wanted = set(re.findall(r"{(\w+)}", item_path))
        for link in links.values():
            assert set(link["parameters"]) == wanted, (path, link)
            own = item_path.rsplit("{", 1)[1].rstrip("}")
            assert re.fullmatch(r"\$response\.body#/\w+/id", link["parameters"][own])
    assert creates >= 19
