"""The API's errors, in the shapes OpenStack clients read: Octavia's ``faultstring``
and Neutron's ``NeutronError``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    neutron_type = "NeutronError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400
    neutron_type = "BadRequest"


class Unauthorized(ApiError):
    status = 401
    neutron_type = "NotAuthorized"


class Forbidden(ApiError):
    status = 403
    neutron_type = "PolicyNotAuthorized"


class NotFound(ApiError):
    status = 404
    neutron_type = "NotFound"

    @classmethod
    def of(cls, kind: str, object_id: str) -> NotFound:
        return cls(f"{kind} {object_id} could not be found.")


class Conflict(ApiError):
    status = 409
    neutron_type = "Conflict"


class ServiceUnavailable(ApiError):
    """The store did not answer: nothing was changed; the client may try again."""

    status = 503
    neutron_type = "ServiceUnavailable"
    retry_after = 1


def octavia_body(error: ApiError) -> dict[str, Any]:
    return {
        "faultcode": "Client" if error.status < 500 else "Server",
        "faultstring": error.message,
        "debuginfo": None,
    }


def neutron_body(error: ApiError) -> dict[str, Any]:
    return {"NeutronError": {"type": error.neutron_type, "message": error.message, "detail": ""}}
