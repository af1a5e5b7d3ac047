"""Server-side apply (``application/apply-patch+yaml``), the first cut.

Called by ``handlers.Handlers._apply``. It creates missing objects from the applied
configuration and merges the applied configuration into existing ones with strategic
merge semantics, recording the manager in ``metadata.managedFields``. Field ownership
and conflict detection between managers are not modelled yet (see docs/compatibility.md).
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from kubelite.api import errors, schema
from kubelite.api.patch import strategic

Obj = dict[str, Any]


def _entry(manager: str, api_version: str) -> Obj:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now,
            "fieldsType": "FieldsV1", "fieldsV1": {}}


def apply_create(applied: Obj, *, manager: str, name: str) -> Obj:
    obj = copy.deepcopy(applied)
    md = obj.setdefault("metadata", {})
    if md.get("name") not in (None, name):
        raise errors.BadRequest("the name of the applied object does not match the name on the URL")
    md["name"] = name
    md["managedFields"] = [_entry(manager, obj.get("apiVersion", ""))]
    return obj


def apply_update(current: Obj, applied: Obj, *, manager: str, force: bool, node: schema.Node | None) -> Obj:
    patch = copy.deepcopy(applied)
    patch.get("metadata", {}).pop("managedFields", None)
    merged = strategic.apply(current, patch, node)
    fields = [f for f in merged.get("metadata", {}).get("managedFields") or []
              if not (f.get("manager") == manager and f.get("operation") == "Apply")]
    fields.append(_entry(manager, applied.get("apiVersion", current.get("apiVersion", ""))))
    merged["metadata"]["managedFields"] = fields
    return merged
