"""Privilege-escalation prevention: nobody grants through RBAC what they do not hold.

As upstream's RBAC registry (pkg/registry/rbac/*/policybased): a Role or ClusterRole may
be written only with rules its writer already holds (in the object's namespace), unless
the writer may ``escalate`` roles; a binding only to a role whose rules the writer holds,
unless the writer may ``bind`` that role; an ``aggregationRule`` only by a writer who holds
everything. Members of ``system:masters`` skip the checks, as do the server's own writes
(bootstrap policy).

The writer is the request's user, which ``app.make_handler`` puts in ``REQUESTER`` (a
context variable: the strategies' hooks see no request) along with the authorizer. The
RBAC strategies (``strategies.rbac``) call ``check_role`` and ``check_binding`` on create
and update.
"""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass
from typing import Any

from kubelite.api import errors
from kubelite.apiserver.authz import Authorizer, UserInfo, rules
from kubelite.apiserver.authz.attributes import Attributes

GROUP = "rbac.authorization.k8s.io"
FULL_AUTHORITY = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                  {"nonResourceURLs": ["*"], "verbs": ["*"]}]


@dataclass(frozen=True, slots=True)
class Requester:
    user: UserInfo
    authorizer: Authorizer
    master: bool  # in system:masters: may write any policy


# The user of the request being served; None for the server's own writes.
REQUESTER: contextvars.ContextVar[Requester | None] = contextvars.ContextVar("kubelite_requester", default=None)

Obj = dict[str, Any]


def _only_gc_fields_changed(new: Obj, old: Obj | None) -> bool:
    """An update that only touches ownerReferences and finalizers (the garbage collector's)."""
    if old is None:
        return False
    strip = ("ownerReferences", "finalizers", "resourceVersion", "managedFields")

    def rest(obj: Obj) -> Obj:
        md = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in strip}
        return {**obj, "metadata": md}

    return rest(new) == rest(old)


def _may(requester: Requester, verb: str, resource: str, namespace: str, name: str) -> bool:
    attrs = Attributes(verb=verb, resource_request=True, api_group=GROUP, api_version="*", resource=resource,
                       namespace=namespace, name=name)
    return requester.authorizer.authorize(requester.user, attrs).allowed


def _confirm_no_escalation(requester: Requester, namespace: str, wanted: list[Obj], *, plural: str,
                           name: str, message: str = "") -> None:
    resource_rules, url_rules, problems = requester.authorizer.rules_for(requester.user, namespace)
    ok, missing = rules.covers(resource_rules + url_rules, wanted)
    if ok:
        return
    if not message:
        lines = sorted({rules.compact_string(r) for r in rules.compact(missing)})
        groups = "[" + " ".join(json.dumps(g) for g in requester.user.groups) + "]"
        message = (f'user "{requester.user.name}" (groups={groups}) is attempting to grant RBAC permissions '
                   f"not currently held:\n" + "\n".join(lines))
        if problems:
            message += f"; resolution errors: [{', '.join(problems)}]"
    raise errors.Forbidden(f'{plural}.{GROUP} "{name}" is forbidden: {message}', name=name, group=GROUP,
                           kind=plural)


def check_role(*, plural: str, obj: Obj, old: Obj | None = None) -> None:
    """Refuse (403) a Role or ClusterRole whose rules its writer does not hold."""
    requester = REQUESTER.get()
    if requester is None or requester.master or _only_gc_fields_changed(obj, old):
        return
    md = obj.get("metadata") or {}
    namespace, name = md.get("namespace") or "", md.get("name") or ""
    aggregation = obj.get("aggregationRule")
    if aggregation is not None and (old is None or aggregation != old.get("aggregationRule")):
        _confirm_no_escalation(requester, namespace, FULL_AUTHORITY, plural=plural, name=name,
                               message="must have cluster-admin privileges to use the aggregationRule")
    if _may(requester, "escalate", plural, namespace, name if old is not None else ""):
        return
    wanted = [r for r in obj.get("rules") or () if isinstance(r, dict)]
    _confirm_no_escalation(requester, namespace, wanted, plural=plural, name=name)


def check_binding(*, plural: str, obj: Obj, old: Obj | None = None) -> None:
    """Refuse (403) a RoleBinding or ClusterRoleBinding to a role whose rules its writer
    neither holds nor may ``bind``; 404 when the role does not exist."""
    requester = REQUESTER.get()
    if requester is None or requester.master or _only_gc_fields_changed(obj, old):
        return
    md = obj.get("metadata") or {}
    namespace, name = md.get("namespace") or "", md.get("name") or ""
    ref = obj.get("roleRef") or {}
    kind, role = ref.get("kind") or "", ref.get("name") or ""
    role_plural = "clusterroles" if kind == "ClusterRole" else "roles"
    if _may(requester, "bind", role_plural, namespace, role):
        return
    lookup = getattr(requester.authorizer, "role_rules", None)
    if lookup is None:
        return  # an authorizer without roles (AlwaysAllow) allowed bind above
    wanted, missing = lookup(kind, role, namespace)
    if missing:
        raise errors.NotFound(f'{role_plural}.{GROUP} "{role}" not found', name=role, group=GROUP, kind=role_plural)
    _confirm_no_escalation(requester, namespace, wanted, plural=plural, name=name)
