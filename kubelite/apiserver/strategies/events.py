"""Events: core/v1 and events.k8s.io/v1 are one store in two shapes.

Objects are stored in the core/v1 shape (``involvedObject``, ``message``, …); requests
to events.k8s.io/v1 are converted on the way in and out, field for field as upstream's
conversion (``regarding`` ↔ ``involvedObject``, ``note`` ↔ ``message``, ``deprecated*``).
"""

from __future__ import annotations

from typing import Any

from kubelite.apiserver.strategies import base

Obj = dict[str, Any]

# events.k8s.io/v1 field ↔ core/v1 field
_RENAMES = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)
_SAME = ("metadata", "eventTime", "series", "action", "reason", "related", "reportingInstance", "type")


class CoreEventStrategy(base.Strategy):
    tracks_generation = False
    allow_create_on_update = False


class EventsV1Strategy(CoreEventStrategy):
    def to_external(self, obj: Obj) -> Obj:
        out: Obj = {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
        for key in _SAME:
            if key in obj:
                out[key] = obj[key]
        for new, old in _RENAMES:
            if old in obj:
                out[new] = obj[old]
        return out

    @property
    def internal_api_version(self) -> str:
        return "v1"

    def to_internal(self, obj: Obj) -> Obj:
        if not isinstance(obj, dict) or obj.get("apiVersion") not in (None, "", "events.k8s.io/v1"):
            return obj  # the identity check answers with a readable 400
        out: Obj = {"apiVersion": "v1", "kind": "Event"}
        if obj.get("kind") not in (None, "", "Event"):
            out["kind"] = obj["kind"]
        for key in _SAME:
            if key in obj:
                out[key] = obj[key]
        for new, old in _RENAMES:
            if new in obj:
                out[old] = obj[new]
        return out
