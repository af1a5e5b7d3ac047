"""The RBAC authorizer: ClusterRoleBindings, then the RoleBindings of the request's
namespace, each granting its Role's or ClusterRole's rules to its subjects (upstream's
plugin/pkg/auth/authorizer/rbac).

Everything is read from the watch cache, never from storage: the bindings are indexed by
subject (a User's or ServiceAccount's name, a Group's name) and the index is rebuilt when
the cache's change counter of either binding resource moves; roles are looked up by key
in the cache at decision time, so an edited Role takes effect at once. A request costs a
few dictionary look-ups plus the rules of the bindings naming its user.

``app.make_handler`` calls ``authorize`` for every request not from ``system:masters``;
``reviews`` calls it and ``rules_for`` for SubjectAccessReviews and ``auth can-i``;
``escalation`` calls ``rules_for`` before a Role or binding is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubelite.apiserver.authz import Decision, UserInfo, rules
from kubelite.apiserver.authz.attributes import Attributes

if TYPE_CHECKING:
    from kubelite.api import scheme
    from kubelite.apiserver import registry, watchcache

GROUP = "rbac.authorization.k8s.io"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True, slots=True)
class Grant:
    """One subject of one binding: what it is granted and how to describe it."""

    namespace: str  # "" for a ClusterRoleBinding
    binding: str
    role_kind: str  # Role | ClusterRole
    role_name: str
    subject: str  # as upstream describes it: User "alice", ServiceAccount "default/ns"

    def source(self) -> str:
        if self.namespace:
            return (f'RoleBinding "{self.binding}/{self.namespace}" of {self.role_kind} "{self.role_name}" '
                    f"to {self.subject}")
        return f'ClusterRoleBinding "{self.binding}" of {self.role_kind} "{self.role_name}" to {self.subject}'


# subject key: ("user", name) or ("group", name); a ServiceAccount is its user name
SubjectKey = tuple[str, str]


def _subject_keys(binding: dict[str, Any], namespace: str) -> Iterator[tuple[SubjectKey, str]]:
    for subject in binding.get("subjects") or ():
        if not isinstance(subject, dict):
            continue
        kind, name = subject.get("kind"), subject.get("name") or ""
        if kind == "User":
            yield ("user", name), f'User "{name}"'
        elif kind == "Group":
            yield ("group", name), f'Group "{name}"'
        elif kind == "ServiceAccount":
            # a RoleBinding's ServiceAccount without a namespace is one of the binding's own
            sa_namespace = subject.get("namespace") or namespace
            if sa_namespace:
                yield ("user", f"{SA_PREFIX}{sa_namespace}:{name}"), f'ServiceAccount "{name}/{sa_namespace}"'


class RBAC:
    """The ``RBAC`` authorization mode over one registry's watch cache."""

    def __init__(self, reg: registry.Registry) -> None:
        self._caches: dict[str, watchcache.ResourceCache] = {}
        self._infos: dict[str, scheme.ResourceInfo] = {}
        for plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings"):
            store = reg.by_plural(GROUP, plural)
            assert store is not None, f"{plural} are not served"
            self._caches[plural] = store.cache
            self._infos[plural] = store.info
        self._seen = (-1, -1)
        self._index: dict[SubjectKey, list[Grant]] = {}

    # --- the index ---------------------------------------------------------------------------

    def _grants(self) -> dict[SubjectKey, list[Grant]]:
        seen = (self._caches["clusterrolebindings"].generation, self._caches["rolebindings"].generation)
        if seen != self._seen:
            self._index = self._build()
            self._seen = seen
        return self._index

    def _build(self) -> dict[SubjectKey, list[Grant]]:
        index: dict[SubjectKey, list[Grant]] = {}
        # cluster bindings first: upstream visits them before the namespace's
        for plural in ("clusterrolebindings", "rolebindings"):
            for binding in self._caches[plural].objects.values():
                md = binding.get("metadata") or {}
                namespace = (md.get("namespace") or "") if plural == "rolebindings" else ""
                ref = binding.get("roleRef") or {}
                for key, described in _subject_keys(binding, namespace):
                    index.setdefault(key, []).append(Grant(namespace, md.get("name") or "", ref.get("kind") or "",
                                                           ref.get("name") or "", described))
        return index

    def _matching(self, user: UserInfo, namespace: str) -> Iterator[Grant]:
        index = self._grants()
        keys: list[SubjectKey] = [("user", user.name)] + [("group", g) for g in user.groups]
        for key in keys:
            for grant in index.get(key, ()):
                if not grant.namespace or grant.namespace == namespace:
                    yield grant

    def role_rules(self, kind: str, name: str, namespace: str) -> tuple[list[dict[str, Any]], str]:
        """The rules of a binding's role, or the error upstream reports when it is missing."""
        if kind == "ClusterRole":
            role = self._caches["clusterroles"].objects.get(self._infos["clusterroles"].key(None, name))
        elif kind == "Role":
            role = self._caches["roles"].objects.get(self._infos["roles"].key(namespace, name))
        else:
            return [], f"unsupported role reference kind: {kind!r}"
        if role is None:
            return [], f'{kind.lower()}.{GROUP} "{name}" not found'
        return [r for r in role.get("rules") or () if isinstance(r, dict)], ""

    # --- decisions ---------------------------------------------------------------------------

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        errors: list[str] = []
        for grant in self._matching(user, attrs.namespace):
            held, error = self.role_rules(grant.role_kind, grant.role_name, grant.namespace)
            if error:
                errors.append(error)
            for rule in held:
                if rules.allows(attrs, rule):
                    return Decision(True, f"RBAC: allowed by {grant.source()}")
        if errors:
            return Decision(False, "RBAC: " + _aggregate(errors))
        return Decision(False)

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                   list[str]]:
        resource_rules: list[dict[str, Any]] = []
        url_rules: list[dict[str, Any]] = []
        errors: list[str] = []
        for grant in self._matching(user, namespace):
            held, error = self.role_rules(grant.role_kind, grant.role_name, grant.namespace)
            if error:
                errors.append(error)
            for rule in held:
                (url_rules if rule.get("nonResourceURLs") else resource_rules).append(rule)
        return resource_rules, url_rules, errors


def _aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate's wording: one message, or ``[a, b]``."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
