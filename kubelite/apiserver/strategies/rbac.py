"""Strategies of rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

Names are path segments (upstream's ValidateRBACName), no generation is tracked, and
every create and update goes through the privilege-escalation check of
``authz.escalation`` (upstream's policybased storage): a Role's rules, a binding's role
and a ClusterRole's ``aggregationRule`` must be within what the writer already holds.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors
from kubelite.apiserver.authz import escalation
from kubelite.apiserver.strategies import base

Obj = dict[str, Any]


class _RBACStrategy(base.Strategy):
    name_rule = "path"
    tracks_generation = False


class RoleStrategy(_RBACStrategy):
    async def admit_create(self, obj: Obj) -> None:
        escalation.check_role(plural=self.info.plural, obj=obj)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        causes = super().validate_update(new, old)
        if not causes:
            escalation.check_role(plural=self.info.plural, obj=new, old=old)
        return causes


class BindingStrategy(_RBACStrategy):
    async def admit_create(self, obj: Obj) -> None:
        escalation.check_binding(plural=self.info.plural, obj=obj)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        causes = super().validate_update(new, old)
        if not causes:
            escalation.check_binding(plural=self.info.plural, obj=new, old=old)
        return causes
