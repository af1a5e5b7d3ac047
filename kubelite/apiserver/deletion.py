"""What a DELETE does to an object, before anything is written (upstream's
``BeforeDelete`` and the graceful-deletion part of ``genericregistry.Store.Delete``).

``plan`` checks the caller's preconditions and decides: delete the object now, or mark it
(``deletionTimestamp`` with the grace period, the finalizers that the propagation policy
asks for) and leave it for its finalizers and grace period. ``registry.Store`` writes the
outcome. Kept apart from the store because it is a pure decision on the object, with
rules of its own (the order of precedence of ``propagationPolicy`` and the deprecated
``orphanDependents``, a second delete that only shortens the grace period).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelite.api import errors
from kubelite.api.patch import deep_copy
from kubelite.apiserver import requests
from kubelite.apiserver.strategies import base

Obj = dict[str, Any]


@dataclass
class Plan:
    new: Obj           # the object as the delete leaves it when it is not gone at once
    delete_now: bool   # gone from storage now (False: waiting for grace or finalizers)


def plan(strategy: base.Strategy, current: Obj, opts: requests.DeleteOptions,
         conflict: Callable[[str], errors.Conflict]) -> Plan:
    """The outcome of deleting ``current``; raises ``conflict(why)`` when a precondition
    does not hold and what ``strategy.validate_delete`` raises."""
    md = current["metadata"]
    pre = opts.preconditions
    if pre.get("uid") and pre["uid"] != md.get("uid"):
        raise conflict(f"Precondition failed: UID in precondition: {pre['uid']}, "
                       f"UID in object meta: {md.get('uid')}")
    if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
        raise conflict(f"Precondition failed: ResourceVersion in precondition: "
                       f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                       f"{md.get('resourceVersion')}")
    strategy.validate_delete(current)
    new = deep_copy(current)
    nmd = new["metadata"]
    finalizers = list(nmd.get("finalizers") or [])
    policy = opts.propagation_policy
    if policy is None and opts.orphan_dependents is not None:
        policy = "Orphan" if opts.orphan_dependents else "Background"
    if policy is None and not {"orphan", "foregroundDeletion"} & set(finalizers):
        policy = strategy.default_propagation_policy  # a finalizer already there decides otherwise
    if policy == "Foreground" and "foregroundDeletion" not in finalizers and not md.get("deletionTimestamp"):
        finalizers.append("foregroundDeletion")
    if policy == "Orphan" and "orphan" not in finalizers and not md.get("deletionTimestamp"):
        finalizers.append("orphan")
    if finalizers:
        nmd["finalizers"] = finalizers
    grace = strategy.grace_period(current, opts.grace_period_seconds)
    pending = strategy.pending_finalizers(new)

    if md.get("deletionTimestamp"):
        # Already being deleted: a shorter grace period moves the deadline closer.
        remaining = md.get("deletionGracePeriodSeconds") or 0
        if grace < remaining:
            nmd["deletionGracePeriodSeconds"] = grace
            nmd["deletionTimestamp"] = rfc3339_after(grace)
        return Plan(new, delete_now=not pending and not nmd.get("deletionGracePeriodSeconds"))
    if not pending and grace <= 0:
        return Plan(new, delete_now=True)
    nmd["deletionTimestamp"] = rfc3339_after(grace)
    nmd["deletionGracePeriodSeconds"] = max(grace, 0)
    if strategy.tracks_generation:
        nmd["generation"] = (md.get("generation") or 1) + 1
    strategy.prepare_for_delete(new)
    return Plan(new, delete_now=False)


def rfc3339_after(seconds: int) -> str:
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=max(seconds, 0))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
