"""The pods/eviction subresource: a pod delete that PodDisruptionBudgets may refuse.

``kubelite.apiserver.handlers`` calls ``evict`` for ``POST .../pods/{name}/eviction``
(kubectl drain, the Python client's ``create_namespaced_pod_eviction``). The decision
follows upstream ``pkg/registry/core/pod/storage/eviction.go``:

1. a pod that is Pending, finished, or already being deleted disrupts nobody: delete it;
2. otherwise find the PDBs of its namespace whose selector matches it (an empty or
   missing selector matches nothing); more than one is refused with a 500 Status;
3. an unready pod goes without spending budget when the PDB says ``AlwaysAllow`` or the
   budget is already met (``IfHealthyBudget``, the default);
4. otherwise the PDB's ``status.disruptionsAllowed`` is decremented with an optimistic
   write (the pod recorded in ``status.disruptedPods``) before the pod is deleted; a
   budget of 0, or a PDB the disruption controller has not yet observed, answers 429.

Every pod that goes first gets the ``DisruptionTarget`` condition (reason
``EvictionByEvictionAPI``) through its status, as upstream's addConditionAndDeletePod
does: a Job's podFailurePolicy tells an eviction from a failure by it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from kubelite.api import errors, meta, selectors
from kubelite.apiserver import requests

if TYPE_CHECKING:
    from kubelite.apiserver import registry

Obj = dict[str, Any]

MAX_DISRUPTED_PODS = 2000
RETRIES = 20
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
MORE_THAN_ONE = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."


def _success() -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}




def _can_ignore_pdb(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def _is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _too_many(why: str, *, retry_after: int | None) -> errors.TooManyRequests:
    return errors.TooManyRequests(VIOLATION, causes=[errors.Cause("DisruptionBudget", why)],
                                  retry_after=retry_after)


def _not_processed(pdb_name: str) -> errors.TooManyRequests:
    return _too_many(f"The disruption budget {pdb_name} is still being processed by the server.", retry_after=10)


def _pdb_forbidden(name: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(f'poddisruptionbudget.policy "{name}" is forbidden: {why}', name=name,
                            group="policy", kind="poddisruptionbudget")


def matching_pdbs(pdbs: list[Obj], pod: Obj) -> list[Obj]:
    """The PDBs whose selector matches the pod's labels; invalid or empty selectors match nothing."""
    labels = pod["metadata"].get("labels") or {}
    out = []
    for pdb in pdbs:
        try:
            selector = selectors.from_selector_dict((pdb.get("spec") or {}).get("selector"))
        except errors.StatusError:
            continue
        if not selector.empty and selector.matches(labels):
            out.append(pdb)
    return out


DISRUPTION_TARGET = {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                     "message": "Eviction API: evicting"}


async def _mark_and_delete(pods: registry.Store, *, namespace: str | None, name: str,
                           options: requests.DeleteOptions) -> None:
    """The pod gets ``DisruptionTarget`` (checked against the delete's preconditions),
    then goes; a resourceVersion precondition moves on to the version the mark wrote."""
    if not options.dry_run:
        uid, rv = options.preconditions.get("uid"), options.preconditions.get("resourceVersion")

        def mark(pod: Obj) -> Obj:
            md = pod["metadata"]
            if uid and md.get("uid") != uid:
                raise errors.conflict(resource="pods", group="", name=name, why=(
                    f"the UID in the precondition ({uid}) does not match the UID in record ({md.get('uid')}). "
                    "The object might have been deleted and then recreated"))
            if rv and md.get("resourceVersion") != rv:
                raise errors.conflict(resource="pods", group="", name=name, why=(
                    f"the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in "
                    f"record ({md.get('resourceVersion')}). The object might have been modified"))
            status = pod.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
            old = next((c for c in conditions if c.get("type") == "DisruptionTarget"), None)
            since = old.get("lastTransitionTime") if old and old.get("status") == "True" else None
            status["conditions"] = [c for c in conditions if c is not old] + [
                {**DISRUPTION_TARGET, "lastTransitionTime": since or meta.now_rfc3339(),
                 "observedGeneration": int(md.get("generation") or 0)}]
            return pod

        marked = await pods.patch(namespace, name, mark, requests.WriteOptions(), subresource="status")
        if rv:
            options = _with_rv(options, marked["metadata"]["resourceVersion"])
    await pods.delete(namespace, name, options)


def _with_rv(options: requests.DeleteOptions, rv: str) -> requests.DeleteOptions:
    return dataclasses.replace(options, preconditions={**options.preconditions, "resourceVersion": rv})


def _set_disruption_condition(status: Obj, observed_generation: int) -> None:
    """pdbhelper.UpdateDisruptionAllowedCondition: DisruptionAllowed follows the counter."""
    allowed = int(status.get("disruptionsAllowed") or 0) > 0
    wanted = {"type": "DisruptionAllowed", "status": "True" if allowed else "False",
              "reason": "SufficientPods" if allowed else "InsufficientPods", "message": "",
              "observedGeneration": observed_generation}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    old = next((c for c in conditions if c.get("type") == "DisruptionAllowed"), None)
    wanted["lastTransitionTime"] = (old.get("lastTransitionTime") if old and old.get("status") == wanted["status"]
                                    else meta.now_rfc3339()) or meta.now_rfc3339()
    status["conditions"] = [c for c in conditions if c.get("type") != "DisruptionAllowed"] + [wanted]


async def _check_and_decrement(pdbs: registry.Store, pdb: Obj, *, pod_name: str, dry_run: bool) -> bool:
    """Spend one disruption of ``pdb``; False when the PDB moved on (re-read and retry)."""
    md, status = pdb["metadata"], dict(pdb.get("status") or {})
    if int(status.get("observedGeneration") or 0) < int(md.get("generation") or 0):
        raise _not_processed(md["name"])
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise _pdb_forbidden(md["name"], "pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
        raise _pdb_forbidden(md["name"], "DisruptedPods map too big - too many evictions not confirmed by PDB "
                                         "controller")
    if allowed == 0:
        raise _too_many(f"The disruption budget {md['name']} needs {int(status.get('desiredHealthy') or 0)} "
                        f"healthy pods and has {int(status.get('currentHealthy') or 0)} currently",
                        retry_after=None)
    status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        _set_disruption_condition(status, int(status.get("observedGeneration") or 0))
    if dry_run:
        return True
    # the PDB controller drops pods it sees gone, or after a timeout if the delete never happens
    status["disruptedPods"] = {**(status.get("disruptedPods") or {}), pod_name: meta.now_rfc3339()}
    new = {**pdb, "status": status}
    try:
        await pdbs.update(md.get("namespace"), md["name"], new, requests.WriteOptions(), subresource="status")
    except errors.Conflict:
        return False
    return True


async def evict(pods: registry.Store, *, namespace: str | None, name: str,
                options: requests.DeleteOptions) -> Obj:
    """Evict pod ``namespace/name``: the Status to answer (201 Success, or 500 for several
    PDBs, as upstream); refusals are raised as ``errors.StatusError`` (429, 403, 404, 409)."""
    rv_given = bool(options.preconditions.get("resourceVersion"))
    pod: Obj = {}
    for _attempt in range(RETRIES):
        pod = await pods.get(namespace, name)
        if not _can_ignore_pdb(pod):
            break
        opts = options
        terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") \
            or pod["metadata"].get("deletionTimestamp")
        if not terminal and not rv_given:
            # a Pending pod may turn Ready meanwhile: delete only the version we judged
            opts = _with_rv(options, pod["metadata"]["resourceVersion"])
        try:
            await _mark_and_delete(pods, namespace=namespace, name=name, options=opts)
        except errors.Conflict:
            if rv_given:
                raise
            continue
        return _success()
    else:
        raise errors.conflict(resource="pods", group="", name=name, why="too many concurrent writers; try again")

    pdb_store = pods.registry.by_plural("policy", "poddisruptionbudgets")
    listed = (await pdb_store.list(namespace, requests.ListOptions())).items if pdb_store is not None else []
    matched = matching_pdbs(listed, pod)
    if len(matched) > 1:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": MORE_THAN_ONE, "code": 500}
    pin_version = False
    pdb_name = ""
    if matched:
        assert pdb_store is not None
        pdb = matched[0]
        pdb_name = pdb["metadata"]["name"]
        spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
        desired = int(status.get("desiredHealthy") or 0)
        if not _is_ready(pod) and spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
            pin_version = True  # an unready pod does not count as healthy: no budget spent
        elif not _is_ready(pod) and int(status.get("currentHealthy") or 0) >= desired > 0:
            pin_version = True
        else:
            for _attempt in range(RETRIES):
                if await _check_and_decrement(pdb_store, pdb, pod_name=name, dry_run=options.dry_run):
                    break
                pdb = await pdb_store.get(namespace, pdb_name)
            else:
                raise errors.Timeout(f'couldn\'t update PodDisruptionBudget "{pdb_name}" due to conflicts',
                                     retry_after=10)
    opts = _with_rv(options, pod["metadata"]["resourceVersion"]) if pin_version and not rv_given else options
    try:
        await _mark_and_delete(pods, namespace=namespace, name=name, options=opts)
    except errors.Conflict:
        if pin_version and not rv_given:
            # the pod changed since we judged it (it may have become ready): let the client retry
            raise _not_processed(pdb_name) from None
        raise
    return _success()
