"""Pure helpers that read Pod and Node objects the way the scheduler needs them.

Resource requests (with init containers, sidecars and overhead), quantities, tolerations
against taints, node-selector terms and label selectors. No I/O and no NumPy: the cache
(``cache.py``) and the plugins (``plugins/*.py``) call these once per object and keep
the results.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from kubelite.api import selectors
from kubelite.api.validation import pods as pod_validation

Obj = dict[str, Any]

CPU, MEMORY, PODS, EPHEMERAL = "cpu", "memory", "pods", "ephemeral-storage"
# Scoring pretends a container without requests asks for this much, so that best-effort
# pods still spread (upstream's DefaultMilliCPURequest / DefaultMemoryRequest).
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024

UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"


@functools.lru_cache(maxsize=65536)
def quantity(raw: str | float, milli: bool = False) -> int:
    """A quantity as an int: milli-units for cpu (rounded up, as upstream MilliValue),
    whole units (rounded up) for everything else; 0 when unparseable."""
    value = pod_validation.parse_quantity(raw)
    if value is None:
        return 0
    if milli:
        value *= 1000
    return int(-(-value.numerator // value.denominator))


def _container_requests(container: Mapping[str, Any]) -> dict[str, int]:
    res = container.get("resources")
    if not res:
        return {}
    # Defaulting copies limits into missing requests; honour that even if a client
    # bypassed defaulting, so a limits-only pod is not treated as free.
    limits, requests = res.get("limits"), res.get("requests")
    merged = {**limits, **requests} if limits and requests else (requests or limits or {})
    return {name: quantity(raw, name == CPU) for name, raw in merged.items()}


def _add(into: dict[str, int], more: Mapping[str, int]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0) + v


def _max(into: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        if v > into.get(k, 0):
            into[k] = v


def pod_resources(spec: Mapping[str, Any]) -> tuple[dict[str, int], tuple[int, int]]:
    """``pod_requests`` and ``pod_nonzero_requests`` together, each container read once
    (the scheduler needs both for every pod, and computes them once per pod)."""
    apps: dict[str, int] = {}
    cpu = mem = 0
    for c in spec.get("containers") or []:
        req = _container_requests(c)
        _add(apps, req)
        cpu += req.get(CPU) or DEFAULT_MILLI_CPU
        mem += req.get(MEMORY) or DEFAULT_MEMORY
    return _whole_pod(apps, (cpu, mem), spec)


def pod_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """What the pod reserves on its node, as upstream ``resource.PodRequests``:
    max(app containers + sidecars, the largest init step) + overhead."""
    return pod_resources(spec)[0]


def _whole_pod(apps: dict[str, int], nonzero: tuple[int, int],
               spec: Mapping[str, Any]) -> tuple[dict[str, int], tuple[int, int]]:
    """The app containers' sum ``apps`` (changed in place) and their non-zero (cpu, memory)
    with sidecars, init containers and overhead accounted, zeros dropped from ``apps``.
    Upstream ``resource.PodRequests``, without and with NonMissingContainerRequests: the
    non-zero pair counts every container (init and sidecar ones too) that requests no
    cpu or memory as the defaults, before taking the maximum with the init steps."""
    inits = spec.get("initContainers")
    overhead = spec.get("overhead")
    if not inits and not overhead:  # the usual pod: app containers only
        return {k: v for k, v in apps.items() if v}, nonzero
    cpu, mem = nonzero
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    side_cpu = side_mem = peak_cpu = peak_mem = 0
    for c in inits or ():
        req = _container_requests(c)
        step = dict(sidecars)
        _add(step, req)
        # An init container runs beside the sidecars started before it.
        _max(init_peak, step)
        c_cpu, c_mem = req.get(CPU) or DEFAULT_MILLI_CPU, req.get(MEMORY) or DEFAULT_MEMORY
        peak_cpu, peak_mem = max(peak_cpu, side_cpu + c_cpu), max(peak_mem, side_mem + c_mem)
        if c.get("restartPolicy") == "Always":
            _add(sidecars, req)
            side_cpu += c_cpu
            side_mem += c_mem
    _add(apps, sidecars)
    _max(apps, init_peak)
    cpu, mem = max(cpu + side_cpu, peak_cpu), max(mem + side_mem, peak_mem)
    if overhead:
        extra = {k: quantity(v, k == CPU) for k, v in overhead.items()}
        _add(apps, extra)
        cpu += extra.get(CPU, 0)
        mem += extra.get(MEMORY, 0)
    return {k: v for k, v in apps.items() if v}, (cpu, mem)


def pod_nonzero_requests(spec: Mapping[str, Any]) -> tuple[int, int]:
    """(milli-cpu, memory) for scoring (upstream's NodeInfo.NonZeroRequested and
    NodeResourcesFit's pod request): ``pod_requests`` for cpu and memory with each
    container's missing (or zero) request counted as the default."""
    return pod_resources(spec)[1]


def node_allocatable(node: Obj) -> dict[str, int]:
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    return {name: quantity(raw, name == CPU) for name, raw in alloc.items()}


def node_taints(node: Obj) -> list[Obj]:
    """The node's ``spec.taints``, as upstream TaintToleration reads them. Readiness adds
    nothing here: an unready node is tainted for real (``node.kubernetes.io/not-ready``
    or ``unreachable``) by the node lifecycle controller (``controllers/nodelifecycle.py``)."""
    return list((node.get("spec") or {}).get("taints") or [])


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Upstream ``Toleration.ToleratesTaint``: empty key with Exists tolerates everything."""
    for tol in tolerations:
        effect = tol.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = tol.get("key") or ""
        op = tol.get("operator") or "Equal"
        if key and key != taint.get("key"):
            continue
        if op == "Exists":
            return True
        if op == "Equal" and key and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def taint_text(taint: Mapping[str, Any]) -> str:
    return f"{{{taint.get('key', '')}: {taint.get('value') or ''}}}"


# --- selectors --------------------------------------------------------------------------

_SELECTORS: dict[bytes, selectors.LabelSelector] = {}


def label_selector(sel: Mapping[str, Any] | None) -> selectors.LabelSelector:
    """metav1.LabelSelector → matcher (None matches nothing, {} everything); invalid → nothing.
    Memoised: replicas share selectors, and compiling one validates every term."""
    key = orjson.dumps(sel, option=orjson.OPT_SORT_KEYS)
    found = _SELECTORS.get(key)
    if found is not None:
        return found
    try:
        found = selectors.from_selector_dict(dict(sel) if sel is not None else None)
    except Exception:  # noqa: BLE001 - the API validated it; a bad one simply matches nothing
        found = selectors.LabelSelector.match_nothing()
    if len(_SELECTORS) > 4096:
        _SELECTORS.clear()
    _SELECTORS[key] = found
    return found


def _match_expression(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op = expr.get("key") or "", expr.get("operator") or ""
    values = expr.get("values") or []
    have = labels.get(key)
    if op == "In":
        return have is not None and have in values
    if op == "NotIn":
        return have is None or have not in values
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt"):
        try:
            a, b = int(have or ""), int(values[0])
        except (ValueError, IndexError):
            return False
        return a > b if op == "Gt" else a < b
    return False


def node_selector_term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """One NodeSelectorTerm: every expression and field (metadata.name) must hold;
    a term with neither matches nothing, as upstream."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    for e in exprs:
        if not _match_expression(e, labels):
            return False
    for f in fields:
        if f.get("key") != "metadata.name" or not _match_expression({**f, "key": "n"}, {"n": name}):
            return False
    return True


def required_node_affinity_matches(spec: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """nodeSelector AND (any of the required node-affinity terms)."""
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(node_selector_term_matches(t, labels, name) for t in required.get("nodeSelectorTerms") or [])


def priority_of(pod: Obj) -> int:
    return int((pod.get("spec") or {}).get("priority") or 0)


def host_ports(spec: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) wanted by the pod's containers; 0.0.0.0 means any IP."""
    out: list[tuple[str, str, int]] = []
    inits = spec.get("initContainers")
    for c in (spec.get("containers") or []) + (list(inits) if inits else []):
        for p in c.get("ports") or []:
            port = int(p.get("hostPort") or 0)
            if port > 0:
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", port))
    return out


def ports_conflict(want: tuple[str, str, int], have: tuple[str, str, int]) -> bool:
    ip1, proto1, port1 = want
    ip2, proto2, port2 = have
    if port1 != port2 or proto1 != proto2:
        return False
    return ip1 == ip2 or ip1 == "0.0.0.0" or ip2 == "0.0.0.0"


def normalize_image(name: str) -> str:
    """Image names as nodes report them compare equal: drop docker.io/library, add :latest."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    last = name.rsplit("/", 1)[-1]
    if "@" not in name and ":" not in last:
        name += ":latest"
    return name


class AffinityTerm:
    """A compiled PodAffinityTerm: which pods (selector, namespaces) in which domains
    (topologyKey). ``signature`` identifies equal terms so the cache can share counters."""

    __slots__ = ("namespaces", "ns_selector", "selector", "signature", "topology_key", "weight")

    def __init__(self, term: Mapping[str, Any], *, owner_namespace: str, weight: int = 0) -> None:
        self.selector = label_selector(term.get("labelSelector"))
        self.topology_key = str(term.get("topologyKey") or "")
        names = term.get("namespaces") or []
        ns_sel = term.get("namespaceSelector")
        # Upstream: no namespaces and no namespaceSelector means the owner's namespace;
        # an empty namespaceSelector means every namespace.
        self.ns_selector = label_selector(ns_sel) if ns_sel is not None else None
        if self.ns_selector is not None and self.ns_selector.empty:
            self.namespaces: frozenset[str] | None = None
        else:
            self.namespaces = frozenset(names) if names or ns_sel is not None else frozenset({owner_namespace})
        self.weight = weight
        self.signature = (str(self.selector), self.selector.nothing, self.topology_key,
                          tuple(sorted(self.namespaces)) if self.namespaces is not None else None,
                          str(self.ns_selector) if self.ns_selector is not None and not self.ns_selector.empty
                          else None)

    def matches_namespace(self, namespace: str, ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
        if self.namespaces is None or namespace in self.namespaces:
            return True
        if self.ns_selector is not None and not self.ns_selector.empty:
            return self.ns_selector.matches(dict(ns_labels.get(namespace) or {}))
        return False

    def matches(self, namespace: str, labels: Mapping[str, str],
                ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
        return self.matches_namespace(namespace, ns_labels) and self.selector.matches(dict(labels))


def affinity_terms(pod: Obj, kind: str, required: bool) -> list[AffinityTerm]:
    """The pod's podAffinity or podAntiAffinity terms (kind), required or preferred."""
    spec = pod.get("spec") or {}
    affinity = spec.get("affinity")
    if not affinity:
        return []  # the usual pod: nothing to compile
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    block = affinity.get(kind) or {}
    if required:
        return [AffinityTerm(t, owner_namespace=ns)
                for t in block.get("requiredDuringSchedulingIgnoredDuringExecution") or []]
    return [AffinityTerm(w.get("podAffinityTerm") or {}, owner_namespace=ns, weight=int(w.get("weight") or 0))
            for w in block.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
