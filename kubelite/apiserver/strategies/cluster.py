"""Strategies of the cluster-support kinds, and the admission rules that read them.

- EndpointSlice (discovery.k8s.io/v1): no spec/status split; generation follows changes.
- StorageClass (storage.k8s.io/v1) and PriorityClass (scheduling.k8s.io/v1):
  cluster-scoped, no generation; at most one PriorityClass may be the ``globalDefault``
  (upstream's Priority admission plugin refuses a second one with 403).
- PodDisruptionBudget (policy/v1): status subresource whose counters are always
  serialized (Go has no ``omitempty`` on them and typed clients require them).

Admission helpers called by other strategies, as upstream's admission plugins:
``admit_pod_priority`` (plugin/pkg/admission/priority, by ``pods.PodStrategy``) and
``admit_default_storage_class`` (plugin/pkg/admission/storage/storageclass/setdefault,
by ``core.PersistentVolumeClaimStrategy``). They read sibling resources through the
registry's stores (``Store.list``), never storage directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api import errors
from kubelite.api.validation import cluster as cluster_validation
from kubelite.apiserver import requests
from kubelite.apiserver.strategies import base

if TYPE_CHECKING:
    from kubelite.apiserver import registry

Obj = dict[str, Any]

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
DEFAULT_CLASS_BETA_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
PVC_BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"

# PodDisruptionBudgetStatus fields without omitempty upstream
_PDB_STATUS_COUNTERS = ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods")


class EndpointSliceStrategy(base.Strategy):
    """EndpointSlices: the whole object is desired state, so any change bumps generation."""


class StorageClassStrategy(base.Strategy):
    tracks_generation = False
    return_deleted_object = True  # as upstream: the typed clients decode a StorageClass


class PriorityClassStrategy(base.Strategy):
    tracks_generation = False

    async def admit_create(self, obj: Obj) -> None:
        if obj.get("globalDefault"):
            self._only_one_default(obj, await cached_list(self.store, None), creating=True)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        causes = super().validate_update(new, old)
        if new.get("globalDefault") and not causes and self.store is not None:
            # updates are synchronous here; the cache is fresh: the update path just waited on it
            others = [o for _k, o in self.store.cache.iter_objects(None)]
            self._only_one_default(new, others, creating=False)
        return causes

    def validate_delete(self, obj: Obj) -> None:
        name = obj["metadata"].get("name") or ""
        if name in cluster_validation.SYSTEM_PRIORITY_CLASSES:  # bootstrapped by the server
            raise errors.Forbidden(f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: this is a system '
                                   f"priority class and cannot be deleted",
                                   name=name, group="scheduling.k8s.io", kind="priorityclasses")

    def _only_one_default(self, obj: Obj, classes: list[Obj], *, creating: bool) -> None:
        name = obj["metadata"].get("name") or ""
        current = default_priority_class(classes)
        if current is not None and (creating or current["metadata"]["name"] != name):
            raise errors.Forbidden(
                f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: PriorityClass '
                f'{current["metadata"]["name"]} is already marked as default. Only one default can exist',
                name=name, group="scheduling.k8s.io", kind="priorityclasses")


class PodDisruptionBudgetStrategy(base.Strategy):
    def complete_status(self, status: Obj) -> Obj:
        for key in _PDB_STATUS_COUNTERS:
            status.setdefault(key, 0)
        return status

    def validate_status_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return cluster_validation.validate_pod_disruption_budget_status(new)


# --- admission ---------------------------------------------------------------------------


async def cached_list(store: registry.Store | None, namespace: str | None) -> list[Obj]:
    # The watch cache as it is, as upstream's admission plugins read their informers: a
    # consistent read would make every pod create wait for the cache to catch up with
    # every write before it (a 15-25% loss of creates/s under 32 concurrent clients).
    if store is None:
        return []
    if namespace is None:  # every object of a cluster-scoped kind: the cache's own map
        return list(store.cache.objects.values())
    return (await store.list(namespace, requests.ListOptions(resource_version="0"))).items


def sibling(store: registry.Store | None, group: str, plural: str) -> registry.Store | None:
    return None if store is None else store.registry.by_plural(group, plural)


def default_priority_class(classes: list[Obj]) -> Obj | None:
    """The globalDefault class; with several (a race upstream allows too), the lowest value."""
    defaults = [c for c in classes if c.get("globalDefault")]
    if not defaults:
        return None
    return min(defaults, key=lambda c: (int(c.get("value") or 0), c["metadata"].get("name") or ""))


def _pod_forbidden(pod: Obj, why: str) -> errors.Forbidden:
    name = (pod.get("metadata") or {}).get("name") or ""
    return errors.Forbidden(f'pods "{name}" is forbidden: {why}' if name else f"pods is forbidden: {why}",
                            name=name, kind="pods")


async def admit_pod_priority(store: registry.Store | None, pod: Obj) -> None:
    """Resolve ``spec.priorityClassName`` into ``spec.priority`` and ``spec.preemptionPolicy``.

    Called on pod create only (both fields are immutable afterwards; an update that leaves
    them out keeps them, ``pods.PodStrategy.prepare_for_update``). Defaulting does not set
    them, as upstream's: what the pod carries here is what its client sent, so an explicit
    ``priority: 0`` under a globalDefault class of another value is refused as upstream's.
    """
    spec = pod.setdefault("spec", {})
    class_name = spec.get("priorityClassName") or ""
    classes_store = sibling(store, "scheduling.k8s.io", "priorityclasses")
    given_priority, given_policy = spec.get("priority"), spec.get("preemptionPolicy")
    if not class_name:
        default = default_priority_class(await cached_list(classes_store, None))
        if default is None:
            priority, policy = 0, PREEMPT_LOWER_PRIORITY
        else:
            spec["priorityClassName"] = default["metadata"]["name"]
            priority, policy = int(default.get("value") or 0), default.get("preemptionPolicy") or PREEMPT_LOWER_PRIORITY
    else:
        found = None
        if classes_store is not None:
            try:
                found = await classes_store.get(None, class_name, resource_version="0")
            except errors.NotFound:
                found = None
        if found is not None:
            priority, policy = int(found.get("value") or 0), found.get("preemptionPolicy") or PREEMPT_LOWER_PRIORITY
        elif class_name in cluster_validation.SYSTEM_PRIORITY_CLASSES:
            # the built-in classes exist on every cluster (bootstrap); never refuse them
            priority, policy = cluster_validation.SYSTEM_PRIORITY_CLASSES[class_name], PREEMPT_LOWER_PRIORITY
        else:
            raise _pod_forbidden(pod, f"no PriorityClass with name {class_name} was found")
    if given_priority is not None and given_priority != priority:
        raise _pod_forbidden(pod, f"the integer value of priority ({given_priority}) must not be provided in pod "
                                  f"spec; priority admission controller computed {priority} from the given "
                                  f"PriorityClass name")
    if given_policy is not None and given_policy != policy:
        raise _pod_forbidden(pod, f"the string value of PreemptionPolicy ({given_policy}) must not be provided in "
                                  f"pod spec; priority admission controller computed {policy} from the given "
                                  f"PriorityClass name")
    spec["priority"] = priority
    spec["preemptionPolicy"] = policy


def is_default_storage_class(sc: Obj) -> bool:
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    return (annotations.get(DEFAULT_CLASS_ANNOTATION) == "true"
            or annotations.get(DEFAULT_CLASS_BETA_ANNOTATION) == "true")


def newest(objects: list[Obj]) -> Obj | None:
    """The newest of ``objects``, the first by name among equally new ones (how upstream's
    admission picks among several default classes); None for none."""
    if not objects:
        return None
    # RFC 3339 UTC timestamps of one format sort as text
    by_name = sorted(objects, key=lambda c: c["metadata"].get("name") or "")
    return max(by_name, key=lambda c: c["metadata"].get("creationTimestamp") or "")


def default_storage_class(classes: list[Obj]) -> Obj | None:
    """The default class; with several, the newest (then by name), as upstream since 1.26."""
    return newest([c for c in classes if is_default_storage_class(c)])


async def admit_default_storage_class(store: registry.Store | None, pvc: Obj) -> None:
    """A claim that names no class (field absent, no beta annotation) gets the default class."""
    spec = pvc.get("spec")
    if not isinstance(spec, dict) or spec.get("storageClassName") is not None:
        return
    if PVC_BETA_CLASS_ANNOTATION in ((pvc.get("metadata") or {}).get("annotations") or {}):
        return
    default = default_storage_class(await cached_list(sibling(store, "storage.k8s.io", "storageclasses"), None))
    if default is not None:
        spec["storageClassName"] = default["metadata"]["name"]
