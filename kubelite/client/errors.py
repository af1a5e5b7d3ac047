"""Errors the Kubernetes client raises: one hierarchy for every failed request.

``kubelite.client.rest`` turns a non-2xx answer (normally a ``Status`` body) and a watch
``ERROR`` event into one of these; controllers, the scheduler and the agent catch them by
class (``except errors.NotFound``) instead of comparing codes. The class is chosen by the
Status ``reason`` first (two 409s mean different things: ``AlreadyExists`` vs
``Conflict``), then by the HTTP code, as client-go's ``apierrors.ReasonForError`` does::

    ApiError                          (any failed request; .code .reason .message .status)
    ├── BadRequest                    (400)
    ├── Unauthorized                  (401)
    ├── Forbidden                     (403)
    ├── NotFound                      (404)
    ├── MethodNotAllowed              (405)
    ├── AlreadyExists                 (409 reason AlreadyExists: create of an existing name)
    ├── Conflict                      (409 reason Conflict: stale resourceVersion)
    ├── Gone                          (410: resourceVersion or continue token too old)
    │   └── Expired                   (410 reason Expired)
    ├── Invalid                       (422, .causes lists the bad fields)
    ├── TooManyRequests               (429, .retry_after seconds)
    ├── ServerError                   (5xx and anything else unexpected)
    │   ├── ServiceUnavailable        (503)
    │   └── ServerTimeout             (504, or reason Timeout / ServerTimeout)
    └── ConnectionFailed              (code 0: no server answered; nothing was decided)

``has_status_cause`` reads a refusal's ``details.causes`` as client-go's
``HasStatusCause``; ``NAMESPACE_TERMINATING`` is the cause of a create refused because its
namespace is being deleted, which controllers neither report nor treat as their failure.

``ConnectionFailed`` is an ``ApiError`` so that ``except errors.ApiError`` covers every way
a call can fail; its code is 0 because no server produced an answer.
"""

from __future__ import annotations

from typing import Any

# The cause type of a create refused in a namespace being deleted (v1.NamespaceTerminatingCause;
# the client speaks the wire protocol and does not import the server's api package).
NAMESPACE_TERMINATING = "NamespaceTerminating"


class ApiError(Exception):
    """A request the API refused (or could not get an answer to).

    ``status`` is the decoded ``Status`` object (or a synthesized one when the server did
    not send a Status body), so callers can read ``details`` when they need them.
    """

    code: int = 500
    default_reason: str = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        reason: str | None = None,
        status: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.reason = reason or self.default_reason
        self.status: dict[str, Any] = status if status is not None else {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": self.reason, "code": self.code,
        }
        self.retry_after = retry_after

    @property
    def details(self) -> dict[str, Any]:
        details = self.status.get("details")
        return details if isinstance(details, dict) else {}

    @property
    def causes(self) -> list[dict[str, Any]]:
        causes = self.details.get("causes")
        return causes if isinstance(causes, list) else []

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, reason={self.reason!r}, message={self.message!r})"


class BadRequest(ApiError):
    code, default_reason = 400, "BadRequest"


class Unauthorized(ApiError):
    code, default_reason = 401, "Unauthorized"


class Forbidden(ApiError):
    code, default_reason = 403, "Forbidden"


class NotFound(ApiError):
    code, default_reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    code, default_reason = 405, "MethodNotAllowed"


class AlreadyExists(ApiError):
    code, default_reason = 409, "AlreadyExists"


class Conflict(ApiError):
    code, default_reason = 409, "Conflict"


class Gone(ApiError):
    code, default_reason = 410, "Gone"


class Expired(Gone):
    code, default_reason = 410, "Expired"


class Invalid(ApiError):
    code, default_reason = 422, "Invalid"


class TooManyRequests(ApiError):
    code, default_reason = 429, "TooManyRequests"


class ServerError(ApiError):
    code, default_reason = 500, "InternalError"


class ServiceUnavailable(ServerError):
    code, default_reason = 503, "ServiceUnavailable"


class ServerTimeout(ServerError):
    code, default_reason = 504, "Timeout"


class ConnectionFailed(ApiError):
    code, default_reason = 0, "ConnectionFailed"


# The reason decides first: it is what upstream clients test (IsAlreadyExists, IsConflict).
_BY_REASON: dict[str, type[ApiError]] = {
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "MethodNotAllowed": MethodNotAllowed,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Gone": Gone,
    "Expired": Expired,
    "Invalid": Invalid,
    "TooManyRequests": TooManyRequests,
    "ServiceUnavailable": ServiceUnavailable,
    "Timeout": ServerTimeout,
    "ServerTimeout": ServerTimeout,
    "InternalError": ServerError,
}

_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
    405: MethodNotAllowed, 409: Conflict, 410: Gone, 422: Invalid, 429: TooManyRequests,
    503: ServiceUnavailable, 504: ServerTimeout,
}


def from_status(
    code: int, body: Any, *, retry_after: float | None = None, fallback_message: str = ""
) -> ApiError:
    """Map an HTTP code and a decoded body (a ``Status`` dict, or anything else) to an error.

    ``code`` wins over ``status.code`` when the body has none (watch ERROR events carry the
    code only inside the Status). A body that is not a Status (an HTML page from a proxy)
    still yields the right class by code, with the text as message.
    """
    status: dict[str, Any] | None = body if isinstance(body, dict) and body.get("kind") == "Status" else None
    if status is not None:
        code = int(status.get("code") or code)
        reason = str(status.get("reason") or "")
        message = str(status.get("message") or fallback_message or reason)
        details = status.get("details")
        if retry_after is None and isinstance(details, dict) and details.get("retryAfterSeconds"):
            retry_after = float(details["retryAfterSeconds"])
    else:
        reason = ""
        message = fallback_message or (body if isinstance(body, str) else "") or f"HTTP {code}"
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if code >= 500 or code == 0 else ApiError
    # A reason the server sent unchanged is kept; otherwise the class names it.
    return cls(message, code=code, reason=reason or None, status=status, retry_after=retry_after)


def has_status_cause(exc: BaseException, cause: str) -> bool:
    """Whether ``exc`` is an API refusal whose Status lists a cause of type ``cause``."""
    return isinstance(exc, ApiError) and any(isinstance(c, dict) and c.get("reason") == cause
                                             for c in exc.causes)


def namespace_terminating(exc: BaseException) -> bool:
    """Whether ``exc`` refused a create because its namespace is being deleted: every
    further create there fails alike, so controllers record no Event for it."""
    return has_status_cause(exc, NAMESPACE_TERMINATING)
