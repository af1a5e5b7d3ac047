"""Impersonation: ``kubectl --as=alice --as-group=devs`` (upstream's WithImpersonation filter).

A request with ``Impersonate-User`` (and optionally ``Impersonate-Group``,
``Impersonate-Uid``, ``Impersonate-Extra-<key>``) is served as that user, provided its
real user may ``impersonate`` each of them: ``users`` (or ``serviceaccounts`` in their
namespace for ``system:serviceaccount:<ns>:<name>``) and ``groups`` in the core group,
``uids`` and ``userextras/<key>`` in ``authentication.k8s.io``. Members of
``system:masters`` may impersonate anyone. The impersonated user is in
``system:authenticated``, and a ServiceAccount in its ServiceAccount groups, as upstream.

A request that asks to impersonate groups, a UID or extras without ``Impersonate-User``
is refused: 400 BadRequest ``requested [...] without impersonating a user``, whoever sends
it. Upstream's filter answers that with 500 InternalError; kubelite says 400, since the
fault is the request's (see docs/compatibility.md).

``app.make_handler`` calls ``impersonate`` when ``requested`` says a request carries any
impersonation header; for ``system:masters``, whose requests skip authorization, it looks
only for ``Impersonate-User`` and ``Impersonate-Group`` (the hot path's budget), so a
master's lone ``Impersonate-Uid`` or ``Impersonate-Extra-*`` is ignored rather than refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubelite.api import errors
from kubelite.apiserver.authz import AUTHENTICATED, UNAUTHENTICATED, Authorizer, UserInfo
from kubelite.apiserver.authz.attributes import Attributes, forbidden

USER, GROUP, UID = "Impersonate-User", "Impersonate-Group", "Impersonate-Uid"
EXTRA_PREFIX = "impersonate-extra-"
_NAMES = frozenset({USER.lower(), GROUP.lower(), UID.lower()})
SA_PREFIX = "system:serviceaccount:"


@dataclass
class Impersonated:
    name: str
    groups: list[str]  # without system:authenticated (``app.User``'s convention)
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)


def requested(headers: Any) -> bool:
    """Whether the request carries any impersonation header (user, group, UID or extra).
    One scan of the header names, for requests outside system:masters (~1 µs for a
    kubectl request's eight headers; three look-ups and a scan for the extras took 5)."""
    for key in headers:
        # most header names do not start with I: one character rules them out
        if key[0] in "Ii":
            low = key.lower()
            if low in _NAMES or low.startswith(EXTRA_PREFIX):
                return True
    return False


def impersonate(requester: UserInfo, headers: Any, authorizer: Authorizer, *, master: bool) -> Impersonated:
    """The user to serve the request as; 403 when ``requester`` may not impersonate it."""
    name = headers.get(USER, "")
    groups = list(headers.getall(GROUP, ()))
    uid = headers.get(UID, "")
    extra: dict[str, list[str]] = {}
    for key, value in headers.items():
        if key.lower().startswith(EXTRA_PREFIX):
            extra.setdefault(key[len(EXTRA_PREFIX):].lower(), []).append(value)
    if not name:
        raise errors.BadRequest(f"requested {_describe(groups, uid, extra)} without impersonating a user")
    check: Callable[[Attributes], None] = (lambda attrs: None) if master else _checker(requester, authorizer)
    if name.startswith(SA_PREFIX) and name.count(":") == 3:
        namespace, account = name[len(SA_PREFIX):].split(":", 1)
        check(_impersonate("", "serviceaccounts", account, namespace=namespace))
        if not groups:
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    else:
        check(_impersonate("", "users", name))
    for group in headers.getall(GROUP, ()):
        check(_impersonate("", "groups", group))
    if uid:
        check(_impersonate("authentication.k8s.io", "uids", uid))
    for key, values in extra.items():
        for value in values:
            check(_impersonate("authentication.k8s.io", "userextras", value, subresource=key))
    if name == "system:anonymous" or UNAUTHENTICATED in groups:
        groups = [g for g in groups if g != AUTHENTICATED]
    return Impersonated(name=name, groups=[g for g in groups if g != AUTHENTICATED], uid=uid, extra=extra)


def _impersonate(group: str, resource: str, name: str, *, namespace: str = "", subresource: str = "") -> Attributes:
    return Attributes(verb="impersonate", resource_request=True, api_group=group, resource=resource,
                      subresource=subresource, namespace=namespace, name=name)


def _checker(requester: UserInfo, authorizer: Authorizer) -> Callable[[Attributes], None]:
    def check(attrs: Attributes) -> None:
        decision = authorizer.authorize(requester, attrs)
        if not decision.allowed:
            raise forbidden(requester.name, attrs, decision.reason)
    return check


def _describe(groups: list[str], uid: str, extra: dict[str, list[str]]) -> str:
    """What was asked, as upstream prints its list of ObjectReferences (Go's %v of each
    struct: kind, namespace, name, uid, apiVersion, resourceVersion, fieldPath)."""
    parts = [f"{{Group  {g}    }}" for g in groups]
    parts += [f"{{UserExtra  {value}  authentication.k8s.io/v1  {key}}}"
              for key, values in extra.items() for value in values]
    if uid:
        parts.append(f"{{UID  {uid}  authentication.k8s.io/v1  }}")
    return "[" + " ".join(parts) + "]"
