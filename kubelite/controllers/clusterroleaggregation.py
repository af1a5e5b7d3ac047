"""The ClusterRole aggregation controller: a ClusterRole with an ``aggregationRule`` has
as its rules the union of the rules of every other ClusterRole its selectors match, as
upstream's clusterrole-aggregation controller keeps them.

This is how ``admin``, ``edit`` and ``view`` grow: a ClusterRole labelled
``rbac.authorization.k8s.io/aggregate-to-view: "true"`` (a CRD's or an operator's) adds
its rules to ``view``, and through ``view``'s own label to ``edit`` and ``admin``. Rules
are gathered selector by selector, the matched roles in name order, each rule once; the
role is written only when the result differs. Any ClusterRole change re-examines every
aggregating ClusterRole (there are few). Started by ``controllers.manager``.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import selectors
from kubelite.client import resources
from kubelite.controllers import base

Obj = dict[str, Any]


class ClusterRoleAggregationController(base.Controller):
    name = "clusterrole-aggregation"
    workers = 1  # one writer: aggregated roles feed each other (view → edit → admin)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.roles = self.informers.get(resources.CLUSTERROLES)
        self.roles.add_handler(on_add=self._changed, on_update=lambda old, new: self._changed(new),
                               on_delete=self._changed)

    def _changed(self, role: Obj) -> None:
        for candidate in self.roles.list():
            if candidate.get("aggregationRule") is not None:
                self.enqueue(candidate)

    def aggregated_rules(self, role: Obj) -> list[Obj]:
        """The union of the rules of the ClusterRoles ``role``'s selectors match."""
        rules: list[Obj] = []
        name = base.meta(role).get("name")
        candidates = sorted(self.roles.list(), key=lambda r: base.meta(r).get("name") or "")
        for chosen in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or ():
            try:
                selector = selectors.from_selector_dict(chosen)
            except Exception:  # noqa: BLE001 -- validation refuses these; an old object is skipped
                continue
            for other in candidates:
                if base.meta(other).get("name") == name or not selector.matches(base.meta(other).get("labels") or {}):
                    continue
                for rule in other.get("rules") or ():
                    if rule not in rules:
                        rules.append(rule)
        return rules

    async def reconcile(self, key: str) -> float | None:
        role = self.roles.get(key)
        if role is None or role.get("aggregationRule") is None:
            return None
        rules = self.aggregated_rules(role)
        if rules == (role.get("rules") or []):
            return None
        updated = base.copy(role)
        updated["rules"] = rules
        await self.client.update(resources.CLUSTERROLES, updated, field_manager="clusterrole-aggregation-controller")
        self.log.info("aggregated rules clusterrole=%s rules=%d", key, len(rules))
        return None
