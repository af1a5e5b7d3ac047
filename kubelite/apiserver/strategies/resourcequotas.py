"""The ResourceQuota strategy: ``status`` is a subresource, reset on create (the
ResourceQuota controller fills in ``hard`` and ``used``), validated with upstream's
rules (``kubelite.api.validation.quota``); ``spec.scopes`` cannot change.

Enforcement is not here: ``kubelite.apiserver.quotaadmission`` charges every namespaced
write against the quotas of its namespace.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors, quantity
from kubelite.api.validation import quota as quota_validation
from kubelite.apiserver.strategies import base

Obj = dict[str, Any]


class ResourceQuotaStrategy(base.Strategy):
    tracks_generation = False

    def validate(self, obj: Obj) -> list[errors.Cause]:
        return super().validate(obj) + quota_validation.validate_resource_quota_spec(obj.get("spec"))

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return super().validate_update(new, old) + quota_validation.validate_resource_quota_update(new, old)

    def validate_status_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return quota_validation.validate_resource_quota_status(new.get("status"))


def request_and_limit(obj: Obj) -> tuple[str, str]:
    """``kubectl get quota``'s REQUEST and LIMIT cells (upstream printResourceQuota): each
    ``spec.hard`` name sorted, as ``name: used/hard``; ``limits.*`` names in LIMIT."""
    status = obj.get("status") or {}
    used, hard = status.get("used") or {}, status.get("hard") or {}
    request: list[str] = []
    limit: list[str] = []
    for name in sorted((obj.get("spec") or {}).get("hard") or {}):
        cell = f"{name}: {_shown(used.get(name))}/{_shown(hard.get(name))}"
        (limit if name.split(".")[0] == "limits" and "." in name else request).append(cell)
    return ", ".join(request), ", ".join(limit)


def _shown(raw: Any) -> str:
    q = quantity.parse(raw) if raw is not None else None
    return str(q) if q is not None else "0"
