"""Kubernetes ``Status`` errors: the one exception hierarchy of the API layer.

Every refusal a client can see is one of these, raised anywhere below the HTTP layer and
turned into a ``Status`` body by ``kubelite.apiserver`` (code, reason and message as
upstream's ``apimachinery/pkg/api/errors``). A user never sees a Python traceback::

    StatusError                       (500 InternalError)
    ├── BadRequest                    (400 BadRequest)
    ├── Unauthorized                  (401 Unauthorized)
    ├── Forbidden                     (403 Forbidden)
    ├── NotFound                      (404 NotFound)
    ├── MethodNotAllowed              (405 MethodNotAllowed)
    ├── NotAcceptable                 (406 NotAcceptable)
    ├── AlreadyExists                 (409 AlreadyExists)
    ├── Conflict                      (409 Conflict)
    ├── Gone                          (410 Gone)
    ├── Expired                       (410 Expired)
    ├── RequestEntityTooLarge         (413 RequestEntityTooLarge)
    ├── UnsupportedMediaType          (415 UnsupportedMediaType)
    ├── Invalid                       (422 Invalid, with field causes)
    ├── TooManyRequests               (429 TooManyRequests, Retry-After)
    ├── InternalError                 (500 InternalError)
    ├── ServiceUnavailable            (503 ServiceUnavailable)
    └── Timeout                       (504 Timeout)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One ``details.causes[]`` entry: what is wrong with which field."""

    reason: str  # e.g. FieldValueInvalid, FieldValueRequired, FieldValueNotSupported
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"reason": self.reason, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class StatusError(Exception):
    """An API error that becomes a ``Status`` object with ``code`` and ``reason``."""

    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        name: str = "",
        group: str = "",
        kind: str = "",
        causes: list[Cause] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes or []
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status


class BadRequest(StatusError):
    code, reason = 400, "BadRequest"


class Unauthorized(StatusError):
    code, reason = 401, "Unauthorized"


class Forbidden(StatusError):
    code, reason = 403, "Forbidden"


class NotFound(StatusError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(StatusError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(StatusError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(StatusError):
    code, reason = 409, "AlreadyExists"


class Conflict(StatusError):
    code, reason = 409, "Conflict"


class Gone(StatusError):
    code, reason = 410, "Gone"


class Expired(StatusError):
    code, reason = 410, "Expired"


class RequestEntityTooLarge(StatusError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(StatusError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(StatusError):
    code, reason = 422, "Invalid"


class TooManyRequests(StatusError):
    code, reason = 429, "TooManyRequests"


class InternalError(StatusError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(StatusError):
    code, reason = 503, "ServiceUnavailable"


class Timeout(StatusError):
    code, reason = 504, "Timeout"


# --- constructors with upstream's wording -------------------------------------------


def qualified(resource: str, group: str) -> str:
    """``pods`` or ``deployments.apps``: how upstream names a resource in messages."""
    return f"{resource}.{group}" if group else resource


# The StatusCause type of a create refused because its namespace is being deleted
# (upstream's v1.NamespaceTerminatingCause): controllers read it to stay quiet.
NAMESPACE_TERMINATING = "NamespaceTerminating"


def namespace_terminating(*, resource: str, group: str, name: str, namespace: str) -> Forbidden:
    """NamespaceLifecycle's 403 for a create in a terminating namespace, as upstream's
    admission.NewForbidden words it (``pods "x" is forbidden: ...``; ``name`` is the
    ``generateName`` when the name is still to be generated), with the
    NamespaceTerminating cause."""
    why = f"unable to create new content in namespace {namespace} because it is being terminated"
    subject = f'{qualified(resource, group)} "{name}"' if name else qualified(resource, group)
    return Forbidden(f"{subject} is forbidden: {why}", name=name, group=group, kind=resource,
                     causes=[Cause(NAMESPACE_TERMINATING, f"namespace {namespace} is being terminated",
                                   "metadata.namespace")])


def not_found(*, resource: str, group: str, name: str, kind: str = "") -> NotFound:
    return NotFound(
        f'{qualified(resource, group)} "{name}" not found',
        name=name, group=group, kind=resource,
    )


def already_exists(*, resource: str, group: str, name: str) -> AlreadyExists:
    return AlreadyExists(
        f'{qualified(resource, group)} "{name}" already exists',
        name=name, group=group, kind=resource,
    )


def conflict(*, resource: str, group: str, name: str, why: str) -> Conflict:
    return Conflict(
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        name=name, group=group, kind=resource,
    )


OBJECT_MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(*, kind: str, group: str, name: str, causes: list[Cause]) -> Invalid:
    """422 with upstream's message: ``Pod "x" is invalid: [spec.containers: Required value, …]``."""
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return Invalid(f'{kind}.{group} "{name}" is invalid: {joined}' if group
                   else f'{kind} "{name}" is invalid: {joined}',
                   name=name, group=group, kind=kind, causes=causes)


def required(field: str) -> Cause:
    return Cause("FieldValueRequired", "Required value", field)


def invalid_value(field: str, value: Any, detail: str) -> Cause:
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {detail}", field)


def not_supported(field: str, value: Any, allowed: list[str]) -> Cause:
    quoted = ", ".join(f'"{a}"' for a in allowed)
    return Cause("FieldValueNotSupported",
                 f'Unsupported value: "{value}": supported values: {quoted}', field)


def forbidden_field(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def duplicate(field: str, value: Any) -> Cause:
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    return Cause("FieldValueDuplicate", f"Duplicate value: {shown}", field)
