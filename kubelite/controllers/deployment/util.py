"""Pure helpers of the Deployment controller: the pod-template-hash, template equality,
revision numbers, maxSurge/maxUnavailable arithmetic and the completeness predicates.

Used by the other ``deployment`` modules; no I/O here, so the unit tests cover it directly.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from kubelite.controllers import base

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
# Annotations that belong to the Deployment (or the controller) and are not copied to
# its ReplicaSets; kubectl's rollout undo keeps the same set from the Deployment.
SKIPPED_ANNOTATIONS = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
                                 MAX_REPLICAS, ROLLBACK_TO})
NO_DEADLINE = 2**31 - 1  # progressDeadlineSeconds meaning "never time out"

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # no vowels: a hash never spells a word


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def _normalize(value: Any) -> Any:
    """Drop empty values so that a template and its server-defaulted copy compare equal."""
    if isinstance(value, dict):
        out = {k: _normalize(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def strip_hash(template: Obj) -> Obj:
    t = base.copy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def template_hash(template: Obj, collision_count: int | None) -> str:
    """The pod-template-hash: FNV-32a of the template (canonical JSON), salted with the
    collision count, rendered in upstream's safe alphabet."""
    data = orjson.dumps(_normalize(strip_hash(template)), option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += int(collision_count).to_bytes(4, "little")
    digits = str(fnv32a(data))
    return "".join(_SAFE[int(c) % len(_SAFE)] for c in digits)


def templates_equal(a: Obj, b: Obj) -> bool:
    """Equal apart from the pod-template-hash label (upstream's EqualIgnoreHash)."""
    return bool(_normalize(strip_hash(a)) == _normalize(strip_hash(b)))


def revision(obj: Obj) -> int:
    try:
        return int(base.annotations_of(obj).get(REVISION) or 0)
    except ValueError:
        return 0


def max_revision(rss: list[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def replicas(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1) or 0)


def status_int(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def creation_order(rss: list[Obj]) -> list[Obj]:
    return sorted(rss, key=lambda rs: (base.meta(rs).get("creationTimestamp") or "", base.name_of(rs)))


def resolve(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString (``3`` or ``"25%"``) against ``total``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        pct = float(text[:-1]) * total / 100.0
        return math.ceil(pct) if round_up else math.floor(pct)
    return int(text)


def fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate Deployment: surge rounds up,
    unavailable down, and both zero would never progress so unavailable becomes 1."""
    strategy = (d.get("spec") or {}).get("strategy") or {}
    ru = strategy.get("rollingUpdate") or {}
    want = replicas(d)
    surge = resolve(ru.get("maxSurge", "25%"), want, round_up=True)
    unavailable = resolve(ru.get("maxUnavailable", "25%"), want, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_recreate(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate"


def max_unavailable(d: Obj) -> int:
    if is_recreate(d) or replicas(d) == 0:
        return 0
    _, unavailable = fenceposts(d)
    return min(unavailable, replicas(d))


def max_surge(d: Obj) -> int:
    if is_recreate(d):
        return 0
    surge, _ = fenceposts(d)
    return surge


def progress_deadline(d: Obj) -> int | None:
    value = (d.get("spec") or {}).get("progressDeadlineSeconds")
    if value is None:
        return 600
    return None if int(value) == NO_DEADLINE else int(value)


def complete(d: Obj, status: Obj) -> bool:
    """Every replica updated and available, and the newest generation observed."""
    want = replicas(d)
    return (int(status.get("updatedReplicas") or 0) == want
            and int(status.get("replicas") or 0) == want
            and int(status.get("availableReplicas") or 0) == want
            and int(status.get("observedGeneration") or 0) >= int(base.meta(d).get("generation") or 0))


def progressing(d: Obj, new: Obj) -> bool:
    """Something moved since the last status we wrote."""
    old = d.get("status") or {}

    def g(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)

    old_old = g(old, "replicas") - g(old, "updatedReplicas")
    new_old = g(new, "replicas") - g(new, "updatedReplicas")
    return (g(new, "updatedReplicas") > g(old, "updatedReplicas") or new_old < old_old
            or g(new, "readyReplicas") > g(old, "readyReplicas")
            or g(new, "availableReplicas") > g(old, "availableReplicas"))


def new_rs_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
    """How many replicas the new ReplicaSet may have now (upstream's NewRSNewReplicas)."""
    want = replicas(d)
    if is_recreate(d):
        return want
    current = replicas(new_rs)
    if current >= want:
        return want
    surge, _ = fenceposts(d)
    total_now = sum(replicas(rs) for rs in all_rss)
    max_total = want + surge
    if total_now >= max_total:
        return current
    return current + min(max_total - total_now, want - current)


def copy_annotations(d: Obj, rs: Obj) -> bool:
    """Copy the Deployment's own annotations (change-cause among them) onto ``rs``."""
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for k, v in base.annotations_of(d).items():
        if k in SKIPPED_ANNOTATIONS:
            continue
        if ann.get(k) != v:
            ann[k] = v
            changed = True
    return changed


def set_replica_annotations(rs: Obj, *, desired: int, maximum: int) -> bool:
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    if ann.get(DESIRED_REPLICAS) != str(desired):
        ann[DESIRED_REPLICAS] = str(desired)
        changed = True
    if ann.get(MAX_REPLICAS) != str(maximum):
        ann[MAX_REPLICAS] = str(maximum)
        changed = True
    return changed


def annotations_need_update(d: Obj, rs: Obj) -> bool:
    ann = base.annotations_of(rs)
    return (ann.get(DESIRED_REPLICAS) != str(replicas(d))
            or ann.get(MAX_REPLICAS) != str(replicas(d) + max_surge(d)))
