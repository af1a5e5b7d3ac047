"""The PodSecurity admission plugin (upstream's ``pod-security-admission``, on by default
since 1.25; off with ``--disable-admission-plugins=PodSecurity``): a namespace's
``pod-security.kubernetes.io/{enforce,warn,audit}[-version]`` labels choose the Pod
Security Standards its pods are held to (``kubelite/api/podsecurity.py`` has the checks).

- Pods (``strategies/pods.py``): on create, and on updates that change a container image
  or add an ephemeral container (upstream's ``isSignificantPodUpdate``), the enforce level
  refuses with 403 ``pods "p" is forbidden: violates PodSecurity "restricted:latest": …``;
  an admitted pod that breaks the warn level gets ``would violate PodSecurity …`` as a
  ``Warning`` header.
- Pod templates of workloads (``strategies/workloads.py``): the warn level only, as
  upstream (enforce never refuses a Deployment; its pods are refused instead).
- Namespaces (``strategies/core.py``): invalid label values are refused 422 on create,
  and on update when they changed; raising the enforce level warns about existing pods
  that would be refused (at most 3,000 pods and 1 s, as upstream).

The audit mode only writes audit annotations upstream; kubelite has no audit log, so
audit labels are parsed (and validated) but do nothing. No exemptions are configured
(upstream's default AdmissionConfiguration: no exempt users, namespaces or runtime
classes, and privileged:latest for every mode of an unlabelled namespace).

Cost: a pod create in an unlabelled namespace pays a dictionary lookup and an identity
comparison (``_policy`` memoizes each namespace object's policy).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from kubelite.api import errors
from kubelite.api import podsecurity as pss
from kubelite.apiserver import admissionwarnings

Obj = dict[str, Any]

PLUGIN = "PodSecurity"
MAX_PODS_TO_CHECK = 3000  # upstream's defaultNamespaceMaxPodsToCheck
CHECK_PODS_SECONDS = 1.0  # and defaultNamespacePodCheckTimeout

_NAMESPACES = ("", "v1", "namespaces")
_UNLABELLED: tuple[pss.Policy, list[pss.LabelError]] = (pss.DEFAULT_POLICY, [])
# namespace name → (the registry, its namespaces' cache dict, the key, the namespace
# object, its policy and label errors); the registry is kept, so no other takes its place
_MEMO: dict[str, tuple[Any, dict[str, Obj], str, Obj | None, tuple[pss.Policy, list[pss.LabelError]]]] = {}
_DISABLED: weakref.WeakSet[Any] = weakref.WeakSet()


def disable(registry: Any) -> None:
    """``--disable-admission-plugins=PodSecurity`` for this registry's server."""
    _DISABLED.add(registry)


def _policy(store: Any, namespace: str) -> tuple[pss.Policy, list[pss.LabelError]]:
    """The namespace's policy, from the watch cache as it is (as upstream reads its
    informer); memoized per namespace object: a label change makes a new object."""
    memo = _MEMO.get(namespace)
    if memo is not None and memo[0] is store.registry and memo[1].get(memo[2]) is memo[3]:
        return memo[4]
    ns_store = store.registry.stores.get(_NAMESPACES)
    if ns_store is None:
        return _UNLABELLED
    objects, key = ns_store.cache.objects, ns_store.info.key(None, namespace)
    ns = objects.get(key)
    labels = (ns or {}).get("metadata", {}).get("labels")
    answer = _UNLABELLED
    if labels and any(k in labels for k in pss.LABELS) and store.registry not in _DISABLED:
        answer = pss.policy_of(labels)
    _MEMO[namespace] = (store.registry, objects, key, ns, answer)
    return answer


def _namespace_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _warn(policy: pss.Policy, meta: Obj, spec: Obj, cached: dict[pss.LevelVersion, list[pss.Result]]) -> None:
    results = cached.get(policy.warn)
    if results is None:
        results = pss.evaluate(policy.warn, meta, spec)
    if results:
        admissionwarnings.add(f'would violate PodSecurity "{policy.warn}": {pss.forbidden_detail(results)}')


def admit_pod(store: Any, pod: Obj) -> None:
    """Upstream's ``ValidatePod`` for a create: 403 past the enforce level, else warnings."""
    if store is None:
        return
    meta = pod["metadata"]  # the registry has made it a dict
    # _policy's memo inlined: this runs for every pod create
    memo = _MEMO.get(meta.get("namespace") or "")
    if memo is not None and memo[0] is store.registry and memo[1].get(memo[2]) is memo[3]:
        answer = memo[4]
    else:
        answer = _policy(store, meta.get("namespace") or "")
    if answer is _UNLABELLED:
        return  # nearly every pod: one memo lookup, one cache lookup, one comparison
    policy, errs = answer
    if not errs and policy.fully_privileged:
        return
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    results = pss.evaluate(policy.enforce, meta, spec)
    if results:
        name = str(meta.get("name") or "")
        raise errors.Forbidden(f'pods "{name}" is forbidden: violates PodSecurity "{policy.enforce}": '
                               f"{pss.forbidden_detail(results)}", name=name, kind="pods")
    _warn(policy, meta, spec, {policy.enforce: results})


def significant_pod_update(new: Obj, old: Obj) -> bool:
    """Upstream's ``isSignificantPodUpdate``: a container's image changed (or the number
    of containers), or an ephemeral container was added or changed its image. Nothing
    else a pod update may change touches what the checks look at."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    for key in ("containers", "initContainers"):
        now, before = spec.get(key) or [], old_spec.get(key) or []
        if len(now) != len(before) or any((a or {}).get("image") != (b or {}).get("image")
                                          for a, b in zip(now, before, strict=True)):
            return True
    before = {c.get("name"): c.get("image") for c in old_spec.get("ephemeralContainers") or [] if isinstance(c, dict)}
    return any(c.get("name") not in before or before[c.get("name")] != c.get("image")
               for c in spec.get("ephemeralContainers") or [] if isinstance(c, dict))


def admit_pod_update(store: Any, new: Obj, old: Obj) -> None:
    if store is None or not significant_pod_update(new, old):
        return
    admit_pod(store, new)


def _template(obj: Obj) -> Obj | None:
    """The pod template of a workload (a CronJob's is two levels down), or None."""
    if obj.get("kind") == "PodTemplate":
        template = obj.get("template")
    else:
        spec = obj.get("spec") or {}
        if obj.get("kind") == "CronJob":
            spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
        template = spec.get("template")
    return template if isinstance(template, dict) else None


def warn_template(store: Any, obj: Obj, old: Obj | None = None) -> None:
    """Upstream's ``ValidatePodController``: the warn level over a workload's pod
    template. On updates only when the template changed (upstream warns on every
    update that is not a subresource; kubelite's update hook also sees ``scale``)."""
    if store is None:
        return
    policy, errs = _policy(store, _namespace_of(obj))
    if not errs and policy.warn.level == pss.PRIVILEGED and policy.audit.level == pss.PRIVILEGED:
        return
    template = _template(obj)
    if template is None or (old is not None and template == _template(old)):
        return
    spec = template.get("spec")
    if isinstance(spec, dict):
        _warn(policy, template.get("metadata") or {}, spec, {})


def validate_namespace(store: Any, ns: Obj, old: Obj | None) -> list[errors.Cause]:
    """Upstream's ``ValidateNamespace``: the causes of a 422 for invalid label values (on
    update only if they changed), and, when the enforce level got stricter, warnings
    naming the existing pods it would refuse."""
    if store is None or store.registry in _DISABLED:
        return []
    if (ns.get("metadata") or {}).get("deletionTimestamp"):
        return []  # the finalize subresource of a namespace going away (upstream skips subresources)
    policy, errs = pss.policy_of((ns.get("metadata") or {}).get("labels"))
    if old is None:
        return _causes(errs)
    old_policy, old_errs = pss.policy_of((old.get("metadata") or {}).get("labels"))
    if errs and errs != old_errs:
        return _causes(errs)
    new_enforce, old_enforce = policy.enforce, old_policy.enforce
    if new_enforce == old_enforce or new_enforce.level == pss.PRIVILEGED:
        return []
    if new_enforce.minor == old_enforce.minor and pss.compare_levels(new_enforce.level, old_enforce.level) < 1:
        return []
    name = str((ns.get("metadata") or {}).get("name") or "")
    for warning in existing_pod_warnings(store, name, new_enforce):
        admissionwarnings.add(warning)
    return []


def _causes(errs: list[pss.LabelError]) -> list[errors.Cause]:
    return [errors.invalid_value(f"metadata.labels[{e.label}]", e.value, e.detail) for e in errs]


def existing_pod_warnings(store: Any, namespace: str, enforce: pss.LevelVersion) -> list[str]:
    """Upstream's ``EvaluatePodsInNamespace``: one line per distinct set of reasons,
    naming the first pod (by name) and how many others share it. Pods of one controller
    go after every controller's first, so the bounded count sees the most variety."""
    pods = store.registry.namespace_index("", "pods").get(namespace)
    firsts, rest, seen = [], [], set()
    for pod in pods:
        owner = next((r.get("uid") for r in (pod.get("metadata") or {}).get("ownerReferences") or ()
                      if isinstance(r, dict) and r.get("controller")), None)
        if owner is not None and owner in seen:
            rest.append(pod)
            continue
        if owner is not None:
            seen.add(owner)
        firsts.append(pod)
    ordered = firsts + rest
    total, ordered = len(ordered), ordered[:MAX_PODS_TO_CHECK]
    counts: dict[str, tuple[str, int]] = {}
    deadline = time.monotonic() + CHECK_PODS_SECONDS
    for checked, pod in enumerate(ordered, 1):
        if time.monotonic() > deadline:  # as upstream: a namespace write never waits long on this
            ordered = ordered[:checked - 1]
            break
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            continue
        results = pss.evaluate(enforce, pod.get("metadata") or {}, spec)
        if results:
            reason = pss.forbidden_reason(results)
            pod_name = str((pod.get("metadata") or {}).get("name") or "")
            first, n = counts.get(reason, (pod_name, 0))
            counts[reason] = (min(first, pod_name), n + 1)
    warnings = []
    if len(ordered) < total:
        warnings.append(f"new PodSecurity enforce level only checked against the first {len(ordered)} "
                        f"of {total} existing pods")
    if counts:
        warnings.append(f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level '
                        f'"{enforce}"')
    lines = []
    for reason, (first, n) in counts.items():
        who = first if n == 1 else f"{first} (and 1 other pod)" if n == 2 else f"{first} (and {n - 1} other pods)"
        lines.append(f"{who}: {reason}")
    return warnings + sorted(lines)
