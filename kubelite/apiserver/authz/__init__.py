"""Authorization: who may do what, as upstream's RBAC authorizer decides it.

- ``attributes``: a request's verb, API group, resource, subresource, namespace and name,
  or its non-resource path: the ``RequestInfo`` that ``kubelite.apiserver.requestinfo``
  parses (upstream's RequestInfoFactory; the metrics read it too), and the 403;
- ``rules``: whether one PolicyRule allows a request, and whether a set of rules covers
  another (pure functions, the privilege-escalation arithmetic);
- ``rbac``: the RBAC authorizer, which reads Roles, ClusterRoles and their bindings from
  the watch cache and keeps a subject → bindings index current;
- ``escalation``: a Role or binding may only grant what its writer holds (the RBAC
  strategies call it);
- ``impersonation``: ``Impersonate-User`` / ``Impersonate-Group`` headers;
- ``policy``: the default ClusterRoles and ClusterRoleBindings created at start.

``kubelite.apiserver.app.make_handler`` calls an ``Authorizer`` on every authenticated
request, after letting members of ``system:masters`` through without looking further.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from kubelite.apiserver.authz.attributes import Attributes

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MODES = ("RBAC", "AlwaysAllow")  # --authorization-mode, by upstream's names


@dataclass(frozen=True, slots=True)
class UserInfo:
    """The user a decision is about, with every group it has (``system:authenticated``
    included when it applies: a SubjectAccessReview names the groups exactly)."""

    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""  # why it was allowed, or what went wrong while deciding


class Authorizer(Protocol):
    """An authorization mode. ``authorize`` is called for every request that is not
    from ``system:masters`` and must not do I/O: it runs on the event loop, on the hot
    path. ``rules_for`` answers ``kubectl auth can-i --list``: (resource rules,
    non-resource rules, evaluation errors) as PolicyRule dicts."""

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision: ...

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                   list[str]]: ...


class AlwaysAllow:
    """``--authorization-mode=AlwaysAllow``: every authenticated user may do everything."""

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        return Decision(True)

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                   list[str]]:
        return ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                [{"verbs": ["*"], "nonResourceURLs": ["*"]}], [])
