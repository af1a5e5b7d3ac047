"""Table columns of RoleBindings and ClusterRoleBindings, as upstream's printers show them.

``NAME ROLE AGE``, and with ``-o wide`` the ``USERS``, ``GROUPS`` and ``SERVICEACCOUNTS``
the binding names (``namespace/name`` for a ServiceAccount). Roles and ClusterRoles keep
the default ``NAME CREATED AT`` table, as upstream. Registered into ``printers.PRINTERS``
on import (``tables`` imports this module).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubelite.apiserver import humanize, printers

Obj = dict[str, Any]

_BINDING_COLUMNS: tuple[printers.Column, ...] = (
    printers._NAME,
    ("Role", "string", 0, "RoleRef references a Role in the current namespace or a ClusterRole in the global "
                          "namespace."),
    printers._AGE,
    ("Users", "string", 1, "Users in the roleBinding"),
    ("Groups", "string", 1, "Groups in the roleBinding"),
    ("ServiceAccounts", "string", 1, "ServiceAccounts in the roleBinding"),
)


def _binding(obj: Obj, now: datetime) -> tuple[list[Any], printers.Conditions]:
    ref = obj.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for subject in obj.get("subjects") or ():
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{name}")
    return [humanize.meta(obj).get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}",
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now),
            ", ".join(users), ", ".join(groups), ", ".join(accounts)], None


printers._printer("rbac.authorization.k8s.io", "RoleBinding", *_BINDING_COLUMNS)(_binding)
printers._printer("rbac.authorization.k8s.io", "ClusterRoleBinding", *_BINDING_COLUMNS)(_binding)
