"""Octavia's flavor profiles (``/flavorprofiles``, admin only) and flavors
(``/flavors``: every project reads them, an admin writes them).

A profile's ``flavor_data`` is a JSON object (sent as a string, as Octavia has it) of
what netnode's provider knows: ``loadbalancer_topology`` (``SINGLE`` or
``ACTIVE_STANDBY``) and ``failover_profile`` (``default`` or ``fast``: how fast the
standby takes over). A load balancer made with a flavor (``flavor_id``) gets them; an
unknown key or value is refused when the profile is written, naming it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc
from netnode.api.errors import BadRequest, Conflict, Forbidden, NotFound
from netnode.api.listing import Prepared, Query, octavia, page
from netnode.api.octavia.providers import PROVIDERS
from netnode.api.service import Service, new_id
from netnode.store.flavors import FlavorStore

router = APIRouter()

PROFILES = octavia("flavorprofiles", "Flavor profile")
FLAVORS = octavia("flavors", "Flavor")
# What flavor_data may say, and the values each key takes.
FLAVOR_DATA = {
    "loadbalancer_topology": ("SINGLE", "ACTIVE_STANDBY"),
    "failover_profile": ("default", "fast"),
}


class ProfileFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=255)
    provider_name: str | None = None
    flavor_data: str | None = None


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flavorprofile: ProfileFields


class FlavorFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    enabled: bool | None = None
    flavor_profile_id: str | None = None


class FlavorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flavor: FlavorFields


class ProfileOut(BaseModel):
    id: str
    name: str
    provider_name: str
    flavor_data: str


class FlavorOut(BaseModel):
    id: str
    name: str
    description: str
    enabled: bool
    flavor_profile_id: str


PROFILE_OUT = s.wrap_out("flavorprofile", ProfileOut)
FLAVOR_OUT = s.wrap_out("flavor", FlavorOut)


def flavor_data(text: str) -> dict[str, str]:
    """``flavor_data`` read and checked; BadRequest naming what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadRequest(
            f"Invalid input for field/attribute flavor_data: not JSON ({exc})"
        ) from None
    if not isinstance(data, dict):
        raise BadRequest("Invalid input for field/attribute flavor_data: not a JSON object")
    for key, value in data.items():
        if key not in FLAVOR_DATA:
            known = ", ".join(FLAVOR_DATA)
            raise BadRequest(
                f"Invalid input for field/attribute flavor_data: unknown key {key!r} "
                f"(netnode's provider knows {known})"
            )
        if value not in FLAVOR_DATA[key]:
            raise BadRequest(
                f"Invalid input for field/attribute flavor_data: {key} must be one of "
                f"{', '.join(FLAVOR_DATA[key])}, not {value!r}"
            )
    return data


def _admin(ctx: Context, what: str) -> None:
    if not ctx.is_admin:
        raise Forbidden(f"only an admin may {what}")


def _store(svc: Service) -> FlavorStore:
    return FlavorStore(svc.store.engine)


def _listing(request: Request, collection: Any, items: list[dict[str, Any]]) -> Response:
    query = Query.parse(collection, request.query_params.multi_items(), ignored=frozenset())
    body = page(
        collection, query, Prepared(collection, items), None, str(request.url.replace(query=""))
    )
    return Response(body, media_type="application/json")


# --- profiles ---------------------------------------------------------------------------


@router.get("/flavorprofiles")
def list_profiles(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    _admin(ctx, "list flavor profiles")
    return _listing(request, PROFILES, _store(svc).profiles())


@router.post("/flavorprofiles", status_code=201, response_model=PROFILE_OUT)
def create_profile(body: ProfileBody, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    _admin(ctx, "create flavor profiles")
    fields = body.flavorprofile
    for name in ("name", "provider_name", "flavor_data"):
        if getattr(fields, name) is None:
            raise BadRequest(f"Invalid input for field/attribute {name}: missing")
    _check_provider(fields.provider_name)
    assert fields.flavor_data is not None
    flavor_data(fields.flavor_data)
    profile = {"id": new_id(), **fields.model_dump()}
    _store(svc).put_profile(profile)
    return {"flavorprofile": profile}


def _check_provider(name: str | None) -> None:
    if name is not None and name not in PROVIDERS:
        raise BadRequest(
            f"Invalid input for field/attribute provider_name: {name!r} is not a provider "
            f"here ({', '.join(PROVIDERS)})"
        )


def _profile(svc: Service, profile_id: str) -> dict[str, Any]:
    found = _store(svc).profile(profile_id)
    if found is None:
        raise NotFound.of("Flavor profile", profile_id)
    return found


@router.get("/flavorprofiles/{profile_id}", response_model=PROFILE_OUT)
def show_profile(profile_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    _admin(ctx, "see flavor profiles")
    return {"flavorprofile": _profile(svc, profile_id)}


@router.put("/flavorprofiles/{profile_id}", response_model=PROFILE_OUT)
def update_profile(
    profile_id: str, body: ProfileBody, svc: Service = Svc, ctx: Context = Ctx
) -> Any:
    _admin(ctx, "change flavor profiles")
    profile = _profile(svc, profile_id)
    fields = body.flavorprofile.model_dump(exclude_none=True)
    _check_provider(fields.get("provider_name"))
    if "flavor_data" in fields:
        flavor_data(fields["flavor_data"])
    profile.update(fields)
    _store(svc).put_profile(profile)
    return {"flavorprofile": profile}


@router.delete("/flavorprofiles/{profile_id}", status_code=204)
def delete_profile(profile_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    _admin(ctx, "delete flavor profiles")
    _profile(svc, profile_id)
    if not _store(svc).delete_profile(profile_id):
        raise Conflict(f"Flavor profile {profile_id} is in use by a flavor: delete that first")
    return Response(status_code=204)


# --- flavors ------------------------------------------------------------------------


@router.get("/flavors")
def list_flavors(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    return _listing(request, FLAVORS, [_flavor_view(f) for f in _store(svc).flavors()])


def _flavor_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "enabled": row["enabled"],
        "flavor_profile_id": row["flavor_profile_id"],
    }


def _flavor(svc: Service, flavor_id: str) -> dict[str, Any]:
    found = _store(svc).flavor(flavor_id)
    if found is None:
        raise NotFound.of("Flavor", flavor_id)
    return found


@router.post("/flavors", status_code=201, response_model=FLAVOR_OUT)
def create_flavor(body: FlavorBody, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    _admin(ctx, "create flavors")
    fields = body.flavor
    if fields.name is None or fields.flavor_profile_id is None:
        missing = "name" if fields.name is None else "flavor_profile_id"
        raise BadRequest(f"Invalid input for field/attribute {missing}: missing")
    if _store(svc).profile(fields.flavor_profile_id) is None:
        raise BadRequest(
            f"Invalid input for field/attribute flavor_profile_id: no flavor profile "
            f"{fields.flavor_profile_id}"
        )
    flavor = {
        "id": new_id(),
        "name": fields.name,
        "description": fields.description or "",
        "enabled": True if fields.enabled is None else fields.enabled,
        "flavor_profile_id": fields.flavor_profile_id,
    }
    _store(svc).put_flavor(flavor)
    return {"flavor": _flavor_view(flavor)}


@router.get("/flavors/{flavor_id}", response_model=FLAVOR_OUT)
def show_flavor(flavor_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    return {"flavor": _flavor_view(_flavor(svc, flavor_id))}


@router.put("/flavors/{flavor_id}", response_model=FLAVOR_OUT)
def update_flavor(flavor_id: str, body: FlavorBody, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    _admin(ctx, "change flavors")
    flavor = _flavor(svc, flavor_id)
    fields = body.flavor.model_dump(exclude_none=True)
    if "flavor_profile_id" in fields:
        raise BadRequest(
            "Invalid input for field/attribute flavor_profile_id: a flavor's profile "
            "does not change (load balancers were made with it); make another flavor"
        )
    flavor.update(fields)
    _store(svc).put_flavor(flavor)
    return {"flavor": _flavor_view(flavor)}


@router.delete("/flavors/{flavor_id}", status_code=204)
def delete_flavor(flavor_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    _admin(ctx, "delete flavors")
    _flavor(svc, flavor_id)
    _store(svc).delete_flavor(flavor_id)
    return Response(status_code=204)


def choices(svc: Service, flavor_id: str) -> dict[str, str]:
    """What a load balancer made with ``flavor_id`` gets (its profile's flavor_data);
    BadRequest when there is no such flavor or it is disabled."""
    found = _store(svc).flavor(flavor_id)
    if found is None or not found["enabled"]:
        state = "no such flavor" if found is None else "the flavor is disabled"
        raise BadRequest(
            f"Invalid input for field/attribute flavor_id. Value: '{flavor_id}'. {state}"
        )
    profile = _store(svc).profile(found["flavor_profile_id"])
    return {} if profile is None else flavor_data(profile["flavor_data"])
