"""The ``pods/ephemeralcontainers`` subresource (upstream's EphemeralContainersREST and
``podEphemeralContainersStrategy``): a write of a whole Pod of which only
``spec.ephemeralContainers`` is kept, so ``kubectl debug`` can add a debug container to a
running pod, and nothing else about the pod changes.

``handlers.Handlers`` calls ``prepare`` inside the update or patch of the pod (the patch
applies to the pod as stored), the pod strategy ``validate`` on the result.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import defaults, errors
from kubelite.api.patch import deep_copy
from kubelite.api.validation import ephemeral
from kubelite.api.validation import pods as pod_validation

Obj = dict[str, Any]

SUBRESOURCE = "ephemeralcontainers"


def prepare(written: Obj, old: Obj) -> Obj:
    """The stored pod ``old`` with the written pod's ephemeral containers, defaulted as
    upstream defaults every container (pull policy, termination message path and
    policy). A resourceVersion in the written pod is the write's precondition."""
    merged = deep_copy(old)
    spec = merged.setdefault("spec", {})
    wanted = (written.get("spec") or {}).get("ephemeralContainers") if isinstance(written.get("spec"), dict) else None
    if wanted:
        spec["ephemeralContainers"] = deep_copy(wanted)
    else:
        spec.pop("ephemeralContainers", None)
    defaults.apply_defaults("", "Pod", merged)
    rv = (written.get("metadata") or {}).get("resourceVersion") if isinstance(written.get("metadata"), dict) else None
    if rv:
        merged["metadata"]["resourceVersion"] = rv
    return merged


def validate(new: Obj, old: Obj) -> list[errors.Cause]:
    """Upstream ``ValidatePodEphemeralContainersUpdate``: the pod with its new list is a
    valid pod, and the list only grew."""
    return pod_validation.validate_pod(new) + ephemeral.validate_update(new, old)
