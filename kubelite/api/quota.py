"""ResourceQuota arithmetic: what an object costs, which quotas it falls under, and
whether a request fits, as upstream's quota evaluators (pkg/quota/v1/evaluator/core,
apiserver/pkg/quota/v1/generic) and its admission check (``CheckRequest`` in
apiserver/pkg/admission/plugin/resourcequota/controller.go) compute them.

Pure functions, no I/O. Two callers share them, so the charge at admission and the
recount agree: quota admission (``kubelite.apiserver.quotaadmission``, on creates and
on updates that change what an object costs) and the ResourceQuota controller
(``kubelite.controllers.resourcequota``, which recounts ``status.used`` from the stored
objects).

An ``Evaluator`` knows one resource: pods (compute resources, ``pods``, scopes),
services (``services.nodeports``, ``services.loadbalancers``), persistent volume claims
(``requests.storage``, per storage class) and, for every other resource, the object
count ``count/<resource>[.<group>]`` (with the legacy names ``configmaps``, ``secrets``,
``replicationcontrollers``, ``resourcequotas``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final

from kubelite.api import quantity

Obj = dict[str, Any]
ResourceList = quantity.ResourceList
Q = quantity.Quantity

ONE: Final = quantity.Quantity(Fraction(1))
STORAGE_CLASS_SUFFIX: Final = ".storageclass.storage.k8s.io/"
BETA_STORAGE_CLASS_ANNOTATION: Final = "volume.beta.kubernetes.io/storage-class"

# If a quota tracks one of these, every container must state it (upstream calls this a
# mistake it keeps for compatibility; no other resource is added to the list).
_REQUIRED_PER_CONTAINER: Final = frozenset({"cpu", "memory", "requests.cpu", "requests.memory",
                                            "limits.cpu", "limits.memory"})
_POD_RESOURCES: Final = frozenset({"count/pods", "cpu", "memory", "ephemeral-storage", "requests.cpu",
                                   "requests.memory", "requests.ephemeral-storage", "limits.cpu",
                                   "limits.memory", "limits.ephemeral-storage", "pods"})
_POD_PREFIXES: Final = ("hugepages-", "requests.hugepages-")
_QOS_RESOURCES: Final = ("cpu", "memory")
# the object counts quota had before count/<resource>: (group, plural) → name
_LEGACY_COUNTS: Final = {("", "configmaps"): "configmaps", ("", "secrets"): "secrets",
                         ("", "replicationcontrollers"): "replicationcontrollers",
                         ("", "resourcequotas"): "resourcequotas"}
# what quota admission never looks at (upstream's ignored resources and subresource kinds)
IGNORED: Final = frozenset({("", "events"), ("events.k8s.io", "events"), ("", "bindings"),
                            ("coordination.k8s.io", "leases")})


class Refused(Exception):
    """A request quota does not admit; the message is upstream's, without the
    ``<resource> "<name>" is forbidden:`` prefix the API server adds."""


# --- resource lists -----------------------------------------------------------------


def add(a: ResourceList, b: ResourceList) -> ResourceList:
    out = dict(a)
    for key, value in b.items():
        out[key] = out[key] + value if key in out else value
    return out


def subtract_nonnegative(a: ResourceList, b: ResourceList) -> ResourceList:
    out: ResourceList = {}
    for key, value in a.items():
        diff = value - b[key] if key in b else value
        out[key] = diff if diff.value > 0 else quantity.ZERO
    for key in b:
        out.setdefault(key, quantity.ZERO)
    return out


def mask(items: ResourceList, names: Iterable[str]) -> ResourceList:
    wanted = set(names)
    return {k: v for k, v in items.items() if k in wanted}


def remove_zeros(items: ResourceList) -> ResourceList:
    return {k: v for k, v in items.items() if v.value != 0}


def equals(a: ResourceList, b: ResourceList) -> bool:
    return a.keys() == b.keys() and all(a[k].value == b[k].value for k in a)


def exceeded(used: ResourceList, hard: ResourceList) -> list[str]:
    """The resources of ``used`` above ``hard`` (upstream's LessThanOrEqual)."""
    return sorted(k for k, limit in hard.items() if k in used and used[k].value > limit.value)


def pretty(items: ResourceList) -> str:
    """``requests.cpu=500m,requests.memory=1Gi``: sorted by name (upstream's prettyPrint)."""
    return ",".join(f"{k}={items[k]}" for k in sorted(items))


# --- pods ---------------------------------------------------------------------------


def _containers(spec: Obj, kind: str) -> list[Obj]:
    items = spec.get(kind)
    return [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []


def _resources(container: Obj, part: str) -> ResourceList:
    res = container.get("resources")
    return quantity.resource_list(res.get(part)) if isinstance(res, dict) else {}


def _max_into(target: ResourceList, other: ResourceList) -> None:
    for key, value in other.items():
        if key not in target or value.value > target[key].value:
            target[key] = value


def pod_aggregate(spec: Obj, part: str) -> ResourceList:
    """The pod's requests or limits (``part``) as the scheduler and quota count them
    (component-helpers' PodRequests/PodLimits): the sum of its containers and sidecars,
    or the largest init container's need if that is more (each init container runs
    beside the sidecars started before it), pod-level cpu and memory instead when
    given, plus the pod overhead (for limits only where a limit is set)."""
    total: ResourceList = {}
    for container in _containers(spec, "containers"):
        total = add(total, _resources(container, part))
    sidecars: ResourceList = {}
    init_peak: ResourceList = {}
    for container in _containers(spec, "initContainers"):
        need = _resources(container, part)
        if container.get("restartPolicy") == "Always":
            total = add(total, need)
            sidecars = add(sidecars, need)
            need = sidecars
        else:
            need = add(need, sidecars)
        _max_into(init_peak, need)
    _max_into(total, init_peak)
    pod_level = spec.get("resources")
    if isinstance(pod_level, dict):
        for key, value in quantity.resource_list(pod_level.get(part)).items():
            if key in ("cpu", "memory"):
                total[key] = value
    overhead = quantity.resource_list(spec.get("overhead"))
    for key, value in overhead.items():
        if part == "requests":
            total[key] = total[key] + value if key in total else value
        elif key in total:
            total[key] = total[key] + value
    return total


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """upstream podComputeUsageHelper: the quota names of a pod's (or container's) requests
    and limits; ``cpu`` and ``memory`` are the requests."""
    out: ResourceList = {"pods": ONE}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            out[name] = out[f"requests.{name}"] = requests[name]
        if name in limits:
            out[f"limits.{name}"] = limits[name]
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            out[name] = out[f"requests.{name}"] = value
        elif is_extended(name):
            out[f"requests.{name}"] = value
    return out


def is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended(name: str) -> bool:
    """An extended resource (``example.com/gpu``): quota counts it as ``requests.<name>``."""
    return not is_native(name) and not name.startswith("requests.")


def is_best_effort(spec: Obj) -> bool:
    """QoS class BestEffort: no container (nor the pod) requests or limits cpu or memory."""
    holders = _containers(spec, "containers") + _containers(spec, "initContainers")
    for container in holders:
        for part in ("requests", "limits"):
            values = _resources(container, part)
            if any(values[r].value > 0 for r in _QOS_RESOURCES if r in values):
                return False
    pod_level = spec.get("resources")
    if isinstance(pod_level, dict):
        for part in ("requests", "limits"):
            if any(q.value > 0 for r, q in quantity.resource_list(pod_level.get(part)).items() if r in _QOS_RESOURCES):
                return False
    return True


def _terminal_or_gone(pod: Obj, now: datetime.datetime | None) -> bool:
    """upstream QuotaV1Pod, negated: a finished pod, or one whose deletion grace ran out,
    is charged nothing but ``count/pods``."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return True
    md = pod.get("metadata") or {}
    deleted, grace = md.get("deletionTimestamp"), md.get("deletionGracePeriodSeconds")
    if deleted and grace is not None:
        try:
            since = datetime.datetime.fromisoformat(str(deleted).replace("Z", "+00:00"))
        except ValueError:
            return False
        current = now or datetime.datetime.now(datetime.UTC)
        return current > since + datetime.timedelta(seconds=int(grace))
    return False


def _cross_namespace_affinity(spec: Obj) -> bool:
    affinity = spec.get("affinity")
    if not isinstance(affinity, dict):
        return False
    for kind in ("podAffinity", "podAntiAffinity"):
        section = affinity.get(kind) or {}
        terms = list(section.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [w.get("podAffinityTerm") or {} for w in section.get("preferredDuringSchedulingIgnoredDuringExecution")
                  or [] if isinstance(w, dict)]
        if any(isinstance(t, dict) and (t.get("namespaces") or t.get("namespaceSelector") is not None) for t in terms):
            return True
    return False


def _selector_matches(requirement: Obj, key: str, value: str | None) -> bool:
    """A scope selector requirement against the one label ``{key: value}`` (or none)."""
    operator, values = requirement.get("operator"), requirement.get("values") or []
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    return False


# --- evaluators ---------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluator:
    """How quota measures one resource (upstream's ``quota.Evaluator``)."""

    group: str
    plural: str
    names: frozenset[str] = field(default_factory=frozenset)  # the quota names it tracks
    on_update: bool = False  # whether updates can change what an object costs

    @property
    def count_name(self) -> str:
        return object_count_name(self.group, self.plural)

    def matching_resources(self, hard: Iterable[str]) -> list[str]:
        return sorted(name for name in hard if name in self.names)

    def matches_scope(self, requirement: Obj, obj: Obj) -> bool:
        return False  # only pods have scopes

    def usage(self, obj: Obj, now: datetime.datetime | None = None) -> ResourceList:
        return {name: ONE for name in self.names}

    def constraints(self, required: list[str], obj: Obj) -> str | None:
        return None

    def matches(self, quota: Obj, obj: Obj) -> bool:
        """The quota tracks one of this resource's names and all its scopes match."""
        hard = (quota.get("status") or {}).get("hard") or {}
        if not self.matching_resources(hard):
            return False
        return all(self.matches_scope(req, obj) for req in scope_selectors(quota))


class PodEvaluator(Evaluator):
    def matching_resources(self, hard: Iterable[str]) -> list[str]:
        return sorted(name for name in hard if name in _POD_RESOURCES or name.startswith(_POD_PREFIXES)
                      or (name.startswith("requests.") and is_extended(name[len("requests."):])))

    def matches_scope(self, requirement: Obj, obj: Obj) -> bool:
        spec = obj.get("spec") or {}
        scope = requirement.get("scopeName")
        if scope in ("Terminating", "NotTerminating"):
            deadline = spec.get("activeDeadlineSeconds")
            terminating = isinstance(deadline, int) and deadline >= 0
            return terminating if scope == "Terminating" else not terminating
        if scope in ("BestEffort", "NotBestEffort"):
            return is_best_effort(spec) == (scope == "BestEffort")
        if scope == "PriorityClass":
            name = spec.get("priorityClassName") or None
            if requirement.get("operator") == "Exists":
                return name is not None
            return _selector_matches(requirement, "PriorityClass", name)
        if scope == "CrossNamespacePodAffinity":
            return _cross_namespace_affinity(spec)
        return False

    def usage(self, obj: Obj, now: datetime.datetime | None = None) -> ResourceList:
        # count/pods counts every stored pod; the rest only pods that still run
        out: ResourceList = {"count/pods": ONE}
        if _terminal_or_gone(obj, now):
            return out
        spec = obj.get("spec") or {}
        return add(out, compute_usage(pod_aggregate(spec, "requests"), pod_aggregate(spec, "limits")))

    def constraints(self, required: list[str], obj: Obj) -> str | None:
        """upstream podEvaluator.Constraints: ``must specify limits.cpu for: a,b; requests.memory
        for: b`` when a tracked cpu/memory resource is missing from some container."""
        wanted = _REQUIRED_PER_CONTAINER.intersection(required)
        if not wanted:
            return None
        spec = obj.get("spec") or {}
        missing: dict[str, set[str]] = {}
        for container in _containers(spec, "containers") + _containers(spec, "initContainers"):
            present = compute_usage(_resources(container, "requests"), _resources(container, "limits"))
            for name in wanted - present.keys():
                missing.setdefault(name, set()).add(str(container.get("name") or ""))
        if not missing:
            return None
        return "must specify " + "; ".join(f"{name} for: {','.join(sorted(missing[name]))}"
                                           for name in sorted(missing))


class ServiceEvaluator(Evaluator):
    def usage(self, obj: Obj, now: datetime.datetime | None = None) -> ResourceList:
        spec = obj.get("spec") or {}
        raw_ports = spec.get("ports")
        ports: list[Any] = raw_ports if isinstance(raw_ports, list) else []
        zero = quantity.ZERO
        out: ResourceList = {"count/services": ONE, "services": ONE, "services.loadbalancers": zero,
                             "services.nodeports": zero}
        kind = spec.get("type")
        if kind == "NodePort":
            out["services.nodeports"] = Q(Fraction(len(ports)))
        elif kind == "LoadBalancer":
            if spec.get("allocateLoadBalancerNodePorts") is False:
                # only the ports that name a node port explicitly take one
                count = sum(1 for p in ports if isinstance(p, dict) and p.get("nodePort"))
            else:
                count = len(ports)
            out["services.nodeports"] = Q(Fraction(count))
            out["services.loadbalancers"] = ONE
        return out


class ClaimEvaluator(Evaluator):
    def matching_resources(self, hard: Iterable[str]) -> list[str]:
        return sorted(name for name in hard if name in self.names or (
            STORAGE_CLASS_SUFFIX in name and name.endswith(("/persistentvolumeclaims", "/requests.storage"))))

    def usage(self, obj: Obj, now: datetime.datetime | None = None) -> ResourceList:
        out: ResourceList = {"persistentvolumeclaims": ONE, "count/persistentvolumeclaims": ONE}
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        spec = obj.get("spec") or {}
        storage_class = annotations.get(BETA_STORAGE_CLASS_ANNOTATION) or spec.get("storageClassName") or ""
        if storage_class:
            out[f"{storage_class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
        # a claim is charged what it asks for, or what was allocated if that is more (a resize)
        requested = quantity.resource_list((spec.get("resources") or {}).get("requests")).get("storage")
        allocated = quantity.resource_list((obj.get("status") or {}).get("allocatedResources")).get("storage")
        if requested is not None and allocated is not None and allocated.value > requested.value:
            requested = allocated
        if requested is not None:
            out["requests.storage"] = requested
            if storage_class:
                out[f"{storage_class}{STORAGE_CLASS_SUFFIX}requests.storage"] = requested
        return out


def object_count_name(group: str, plural: str) -> str:
    """``count/pods``, ``count/deployments.apps``."""
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def parse_count_name(name: str) -> tuple[str, str] | None:
    """``count/deployments.apps`` → (``apps``, ``deployments``); None for other names."""
    if not name.startswith("count/"):
        return None
    plural, _, group = name[len("count/"):].partition(".")
    return (group, plural) if plural else None


_POD: Final = PodEvaluator("", "pods", frozenset(_POD_RESOURCES))
_SERVICE: Final = ServiceEvaluator("", "services", frozenset({"count/services", "services", "services.nodeports",
                                                              "services.loadbalancers"}), on_update=True)
_CLAIM: Final = ClaimEvaluator("", "persistentvolumeclaims", frozenset({"persistentvolumeclaims",
                                                                        "count/persistentvolumeclaims",
                                                                        "requests.storage"}), on_update=True)
_SPECIAL: Final = {("", "pods"): _POD, ("", "services"): _SERVICE, ("", "persistentvolumeclaims"): _CLAIM}
_COUNTERS: dict[tuple[str, str], Evaluator] = {}


def evaluator_for(group: str, plural: str) -> Evaluator | None:
    """The evaluator of a resource; None for what quota never counts."""
    found = _SPECIAL.get((group, plural)) or _COUNTERS.get((group, plural))
    if found is not None:
        return found
    if (group, plural) in IGNORED:
        return None
    names = {object_count_name(group, plural)}
    legacy = _LEGACY_COUNTS.get((group, plural))
    if legacy:
        names.add(legacy)
    made = _COUNTERS[(group, plural)] = Evaluator(group, plural, frozenset(names))
    return made


def scope_selectors(quota: Obj) -> list[Obj]:
    """``spec.scopes`` as ``Exists`` requirements, then ``spec.scopeSelector``'s."""
    spec = quota.get("spec") or {}
    out: list[Obj] = [{"scopeName": s, "operator": "Exists"} for s in spec.get("scopes") or []]
    selector = spec.get("scopeSelector") or {}
    out += [r for r in selector.get("matchExpressions") or [] if isinstance(r, dict)]
    return out


# --- admission ----------------------------------------------------------------------


def hard_of(quota: Obj) -> ResourceList:
    return quantity.resource_list((quota.get("status") or {}).get("hard"))


def used_of(quota: Obj) -> ResourceList:
    return quantity.resource_list((quota.get("status") or {}).get("used"))


def check_request(quotas: list[Obj], evaluator: Evaluator, obj: Obj, old: Obj | None = None) -> list[ResourceList]:
    """The ``status.used`` each quota would have once ``obj`` is stored (``old`` is the
    stored object an update replaces); raises ``Refused`` when a quota does not admit it.
    The order of refusals is upstream's: constraints, then missing usage, then
    negative usage, then the first quota exceeded."""
    interesting: list[int] = []
    for i, quota in enumerate(quotas):
        if not evaluator.matches(quota, obj):
            continue
        name = (quota.get("metadata") or {}).get("name", "")
        restricted = evaluator.matching_resources(hard_of(quota))
        problem = evaluator.constraints(restricted, obj)
        if problem:
            raise Refused(f"failed quota: {name}: {problem}")
        used = used_of(quota)
        if any(r not in used for r in restricted):
            raise Refused(f"status unknown for quota: {name}, resources: {','.join(sorted(restricted))}")
        interesting.append(i)
    out = [used_of(q) for q in quotas]
    if not interesting:
        return out
    usage = evaluator.usage(obj)
    negative = sorted(k for k, v in usage.items() if v.value < 0)
    if negative:
        raise Refused(f"quota usage is negative for resource(s): {','.join(negative)}")
    deltas = {i: usage for i in interesting}
    if old is not None:
        delta = subtract_nonnegative(usage, evaluator.usage(old))
        for i in interesting:
            if evaluator.matches(quotas[i], old):
                deltas[i] = delta
    for i in interesting:
        delta = remove_zeros(deltas[i])
        if not delta:
            continue
        hard = hard_of(quotas[i])
        requested = mask(delta, hard)
        new_used = add(out[i], requested)
        over = exceeded(mask(new_used, requested), hard)
        if over:
            name = (quotas[i].get("metadata") or {}).get("name", "")
            raise Refused(f"exceeded quota: {name}, requested: {pretty(mask(requested, over))}, "
                          f"used: {pretty(mask(out[i], over))}, limited: {pretty(mask(hard, over))}")
        out[i] = new_used
    return out


# --- the controller's recount -------------------------------------------------------


def tracked(hard: Iterable[str], evaluators: Iterable[Evaluator]) -> dict[Evaluator, list[str]]:
    """The evaluators a quota with these hard names needs, each with its names."""
    names = list(hard)
    found: dict[Evaluator, list[str]] = {}
    for evaluator in evaluators:
        matched = evaluator.matching_resources(names)
        if matched:
            found[evaluator] = matched
    return found


def count_evaluators(hard: Iterable[str]) -> list[Evaluator]:
    """Every evaluator a quota's hard names call for: the three special ones and one per
    counted resource (``count/<resource>``, or a legacy name)."""
    out: list[Evaluator] = [_POD, _SERVICE, _CLAIM]
    legacy = {v: k for k, v in _LEGACY_COUNTS.items()}
    for name in hard:
        target = parse_count_name(name) or legacy.get(name)
        if target is None or target in _SPECIAL:
            continue
        evaluator = evaluator_for(*target)
        if evaluator is not None and evaluator not in out:
            out.append(evaluator)
    return out


def usage_of(quota: Obj, evaluator: Evaluator, names: list[str], objects: Iterable[Obj],
             now: datetime.datetime | None = None) -> ResourceList:
    """upstream CalculateUsageStats: ``names`` summed over the ``objects`` (one namespace's)
    that the quota's scopes select; each name starts at zero."""
    total: ResourceList = {name: quantity.ZERO for name in names}
    selectors = scope_selectors(quota)
    for obj in objects:
        if all(evaluator.matches_scope(req, obj) for req in selectors):
            total = add(total, evaluator.usage(obj, now))
    return mask(total, names)
