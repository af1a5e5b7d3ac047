"""LimitRanges: the strategy of the kind and upstream's ``LimitRanger`` admission of pods
and PersistentVolumeClaims.

- ``PodStrategy.prepare_for_create`` calls ``default_pod`` first, before the pod's QoS
  class is decided and before validation, as upstream's mutating admission runs ahead of
  them: containers without a request or limit get the namespace's defaults
  (``kubelite.api.limitranges.apply_defaults``), so a default that contradicts the
  container's own values is refused by pod validation (422), as upstream.
- ``PodStrategy.admit_create`` and ``PersistentVolumeClaimStrategy.admit_create`` call
  ``validate_pod`` / ``validate_claim``: minimum, maximum and limit/request ratio of
  each LimitRange, refused with upstream's 403 ``pods "x" is forbidden: minimum cpu usage
  per Container is 100m, but request is 50m``. Pod updates are not checked (their
  resources cannot change), as upstream.

The LimitRanges of a namespace come from ``watchcache.NamespaceIndex``: a pod create in
a namespace without any pays one dictionary lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api import errors, limitranges
from kubelite.api.validation import quota as quota_validation
from kubelite.apiserver.strategies import base

if TYPE_CHECKING:
    from kubelite.apiserver import registry

Obj = dict[str, Any]


class LimitRangeStrategy(base.Strategy):
    tracks_generation = False

    def validate(self, obj: Obj) -> list[errors.Cause]:
        return super().validate(obj) + quota_validation.validate_limit_range(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return super().validate_update(new, old) + quota_validation.validate_limit_range(new)


def _ranges(store: registry.Store | None, obj: Obj) -> list[Obj]:
    """The LimitRanges of ``obj``'s namespace, from the watch cache as it is."""
    namespace = (obj.get("metadata") or {}).get("namespace")
    if store is None or not namespace:
        return []
    return store.registry.namespace_index("", "limitranges").get(namespace)


def default_pod(store: registry.Store | None, pod: Obj) -> None:
    for limit_range in _ranges(store, pod):
        limitranges.apply_defaults(pod, limit_range)


def _forbidden(resource: str, obj: Obj, problems: list[str]) -> errors.Forbidden:
    name = (obj.get("metadata") or {}).get("name") or ""
    return errors.Forbidden(f'{resource} "{name}" is forbidden: {limitranges.aggregate(problems)}',
                            name=name, kind=resource)


def validate_pod(store: registry.Store | None, pod: Obj) -> None:
    # each LimitRange refuses on its own, the first one that does wins (upstream's order)
    for limit_range in _ranges(store, pod):
        problems = limitranges.validate_pod(pod, limit_range)
        if problems:
            raise _forbidden("pods", pod, problems)


def validate_claim(store: registry.Store | None, claim: Obj) -> None:
    for limit_range in _ranges(store, claim):
        problems = limitranges.validate_claim(claim, limit_range)
        if problems:
            raise _forbidden("persistentvolumeclaims", claim, problems)
