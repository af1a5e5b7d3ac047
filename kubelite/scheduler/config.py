"""The scheduler's configuration file: upstream's ``KubeSchedulerConfiguration``
(``kubescheduler.config.k8s.io/v1``), the file ``kube-scheduler --config`` reads.

Called by ``kubelite/cli/main.py`` (``kubelite scheduler --config FILE``, and ``kubelite
server|up --scheduler-config FILE``, which checks the file before starting anything) and by
``runner.py``, which builds each term's profiles from it (``SchedulerConfig.profiles``).

What a file can say, as upstream reads it:

- ``profiles[]``: one per ``schedulerName`` (pods name theirs in ``spec.schedulerName``).
  ``plugins.<point>.disabled`` removes plugins from an extension point (``"*"``: every
  default one), ``plugins.<point>.enabled`` adds them back or, for ``score``, sets their
  ``weight``; ``multiPoint`` does either at every point a plugin implements. A default
  plugin enabled again keeps its place in the default order, as upstream merges them.
- ``pluginConfig[]``: ``NodeResourcesFit`` (``scoringStrategy``: LeastAllocated,
  MostAllocated or RequestedToCapacityRatio, its ``resources`` and ``shape``),
  ``InterPodAffinity`` (``hardPodAffinityWeight``), ``PodTopologySpread``
  (``defaultingType: System``, or ``List`` with no ``defaultConstraints``) and
  ``DefaultPreemption`` (``minCandidateNodesPercentage``, ``minCandidateNodesAbsolute``:
  how many candidate nodes preemption looks for before choosing).
- ``podInitialBackoffSeconds``, ``podMaxBackoffSeconds``, and the Lease
  ``leaderElection.resourceName``/``resourceNamespace``.
- ``percentageOfNodesToScore`` and ``parallelism`` are accepted and change nothing:
  every node is filtered and scored (framework.py).

Anything else is refused with the path of the field, as upstream's strict decoding
refuses an unknown field: a setting that would be ignored silently is worse than none.
Why not a library: there is no Python model of this API; the file is small.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubelite.client import rest
from kubelite.scheduler import framework, plugins

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER = "default-scheduler"

# Extension point names in the file → the method a plugin implements for it.
POINTS: dict[str, str] = {
    "preFilter": "pre_filter", "filter": "filter", "postFilter": "post_filter", "preScore": "pre_score",
    "score": "score", "reserve": "reserve", "permit": "permit", "preBind": "pre_bind", "bind": "bind",
}
# Points upstream has and kubelite's framework does not expose as plugins: the queue's
# order is PrioritySort's and gated pods wait in the queue (SchedulingGates).
BUILT_IN_POINTS: dict[str, frozenset[str]] = {
    "queueSort": frozenset({"PrioritySort"}), "preEnqueue": frozenset({"SchedulingGates"}),
}
# Upstream in-tree plugins kubelite has no counterpart of (volume limits and zones of
# cloud disks, dynamic resources): disabling one is a no-op, enabling one an error.
UPSTREAM_ONLY = frozenset({
    "NodeVolumeLimits", "EBSLimits", "GCEPDLimits", "AzureDiskLimits", "CinderLimits", "VolumeRestrictions",
    "VolumeZone", "DynamicResources", "NodeDeclaredFeatures",
})
MAX_WEIGHT = 100  # upstream refuses score weights outside 1..100


class ConfigError(ValueError):
    """The file cannot be used; the message names the field."""


# Plugin name → (factory from its args, the keys its args may have). Default order.
Factory = Callable[[dict[str, Any], rest.Client | None], Any]


def _fit(args: dict[str, Any], _client: rest.Client | None) -> Any:
    strategy = args.get("scoringStrategy") or {}
    _only(strategy, {"type", "resources", "requestedToCapacityRatio"}, "NodeResourcesFit.args.scoringStrategy")
    kind = strategy.get("type") or "LeastAllocated"
    if kind not in ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"):
        raise ConfigError(f"NodeResourcesFit.args.scoringStrategy.type: Unsupported value: {kind!r}: supported "
                          "values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\"")
    kwargs: dict[str, Any] = {"strategy": kind}
    if "resources" in strategy:
        kwargs["resources"] = [(_text(r, "name", "NodeResourcesFit.args.scoringStrategy.resources"),
                                _weight(r.get("weight", 1), "NodeResourcesFit.args.scoringStrategy.resources"))
                               for r in _list(strategy["resources"], "NodeResourcesFit.args.scoringStrategy.resources")]
        if not kwargs["resources"]:
            raise ConfigError("NodeResourcesFit.args.scoringStrategy.resources: Required value: at least one resource")
    ratio = strategy.get("requestedToCapacityRatio")
    if ratio is not None:
        if kind != "RequestedToCapacityRatio":
            raise ConfigError("NodeResourcesFit.args.scoringStrategy.requestedToCapacityRatio: Forbidden: only "
                              "with type RequestedToCapacityRatio")
        _only(ratio, {"shape"}, "NodeResourcesFit.args.scoringStrategy.requestedToCapacityRatio")
        kwargs["shape"] = _shape(ratio.get("shape"))
    elif kind == "RequestedToCapacityRatio":
        raise ConfigError("NodeResourcesFit.args.scoringStrategy.requestedToCapacityRatio: Required value: "
                          "the shape of a RequestedToCapacityRatio strategy")
    return plugins.resources.NodeResourcesFit(**kwargs)


def _shape(points: Any) -> list[tuple[float, float]]:
    where = "NodeResourcesFit.args.scoringStrategy.requestedToCapacityRatio.shape"
    out: list[tuple[float, float]] = []
    for i, p in enumerate(_list(points, where)):
        if not isinstance(p, dict):
            raise ConfigError(f"{where}[{i}]: Invalid value: must be an object with utilization and score")
        _only(p, {"utilization", "score"}, f"{where}[{i}]")
        u, s = p.get("utilization"), p.get("score")
        if not isinstance(u, int) or isinstance(u, bool) or not 0 <= u <= 100:
            raise ConfigError(f"{where}[{i}].utilization: Invalid value: {u!r}: must be an integer in 0..100")
        if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= 10:
            raise ConfigError(f"{where}[{i}].score: Invalid value: {s!r}: must be an integer in 0..10")
        if out and u <= out[-1][0]:
            raise ConfigError(f"{where}[{i}].utilization: Invalid value: {u}: utilization values must be "
                              "sorted in increasing order")
        out.append((float(u), float(s)))
    if not out:
        raise ConfigError(f"{where}: Required value: at least one point")
    return out


def _interpod(args: dict[str, Any], _client: rest.Client | None) -> Any:
    weight = args.get("hardPodAffinityWeight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise ConfigError(f"InterPodAffinity.args.hardPodAffinityWeight: Invalid value: {weight!r}: "
                          "not in valid range [0-100]")
    return plugins.interpod.InterPodAffinity(hard_pod_affinity_weight=weight)


def _spread(args: dict[str, Any], _client: rest.Client | None) -> Any:
    defaulting = args.get("defaultingType") or "System"
    constraints = args.get("defaultConstraints") or []
    if defaulting not in ("System", "List"):
        raise ConfigError(f"PodTopologySpread.args.defaultingType: Unsupported value: {defaulting!r}: "
                          "supported values: \"System\", \"List\"")
    if defaulting == "System" and constraints:
        raise ConfigError("PodTopologySpread.args.defaultConstraints: Invalid value: when .defaultingType is "
                          "\"System\", .defaultConstraints must be empty")
    if constraints:
        raise ConfigError("PodTopologySpread.args.defaultConstraints: Unsupported value: kubelite applies "
                          "the System defaults or none (defaultingType: List with no constraints)")
    return plugins.topologyspread.PodTopologySpread(default_constraints=defaulting == "System")


def _preemption(args: dict[str, Any], _client: rest.Client | None) -> Any:
    """Upstream's ValidateDefaultPreemptionArgs: a percentage of 0-100, a count of at least
    0, not both zero."""
    percent = args.get("minCandidateNodesPercentage", plugins.preemption.CANDIDATE_PERCENT)
    absolute = args.get("minCandidateNodesAbsolute", plugins.preemption.MIN_CANDIDATES)
    path = "DefaultPreemption.args"
    if not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100:
        raise ConfigError(f"{path}.minCandidateNodesPercentage: Invalid value: {percent!r}: "
                          "not in valid range [0, 100]")
    if not isinstance(absolute, int) or isinstance(absolute, bool) or absolute < 0:
        raise ConfigError(f"{path}.minCandidateNodesAbsolute: Invalid value: {absolute!r}: "
                          "not in valid range [0, inf)")
    if percent == 0 and absolute == 0:
        raise ConfigError(f"{path}.minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same "
                          "time as minCandidateNodesAbsolute")
    return plugins.preemption.DefaultPreemption(min_candidate_percent=percent, min_candidates=absolute)


def _plain(cls: Callable[[], Any]) -> Factory:
    return lambda _args, _client: cls()


def _binder(_args: dict[str, Any], client: rest.Client | None) -> Any:
    return plugins.binder.DefaultBinder(client) if client is not None else None


PLUGINS: dict[str, tuple[Factory, frozenset[str]]] = {
    "NodeUnschedulable": (_plain(plugins.nodename.NodeUnschedulable), frozenset()),
    "NodeName": (_plain(plugins.nodename.NodeName), frozenset()),
    "TaintToleration": (_plain(plugins.taints.TaintToleration), frozenset()),
    "NodeAffinity": (_plain(plugins.nodeaffinity.NodeAffinity), frozenset()),
    "NodePorts": (_plain(plugins.ports.NodePorts), frozenset()),
    "NodeResourcesFit": (_fit, frozenset({"scoringStrategy"})),
    "VolumeBinding": (lambda _args, client: plugins.volumebinding.VolumeBinding(client), frozenset()),
    "PodTopologySpread": (_spread, frozenset({"defaultingType", "defaultConstraints"})),
    "InterPodAffinity": (_interpod, frozenset({"hardPodAffinityWeight"})),
    "NodeResourcesBalancedAllocation": (_plain(plugins.resources.BalancedAllocation), frozenset()),
    "ImageLocality": (_plain(plugins.imagelocality.ImageLocality), frozenset()),
    "DefaultPreemption": (_preemption, frozenset({"minCandidateNodesPercentage", "minCandidateNodesAbsolute"})),
    "DefaultBinder": (_binder, frozenset()),
}


@dataclass
class ProfileSpec:
    """One profile as the file gives it, checked; ``build`` makes its ``Framework``."""

    name: str
    args: dict[str, dict[str, Any]] = field(default_factory=dict)  # plugin → its pluginConfig args
    points: dict[str, list[str]] = field(default_factory=dict)  # point → plugins enabled there, in order
    weights: dict[str, int] = field(default_factory=dict)  # plugin → score weight given in the file

    def build(self, client: rest.Client | None) -> framework.Framework:
        instances: dict[str, Any] = {}
        for name in PLUGINS:
            if any(name in names for names in self.points.values()):
                plugin = PLUGINS[name][0](self.args.get(name, {}), client)
                if plugin is None:
                    continue  # the binder without a client: a decision-only framework
                if name in self.weights:
                    plugin.weight = self.weights[name]
                instances[name] = plugin
        disabled = {point: {n for n, p in instances.items() if hasattr(p, method) and n not in self.points[point]}
                    for point, method in POINTS.items()}
        return framework.Framework(self.name, list(instances.values()), disabled=disabled)


@dataclass
class SchedulerConfig:
    profiles: list[ProfileSpec]
    initial_backoff: float = 1.0
    max_backoff: float = 10.0
    lease_name: str = "kube-scheduler"
    lease_namespace: str = "kube-system"

    def frameworks(self, client: rest.Client | None) -> dict[str, framework.Framework]:
        return {p.name: p.build(client) for p in self.profiles}


def default() -> SchedulerConfig:
    return parse({"apiVersion": API_VERSION, "kind": KIND})


def load(path: str | Path) -> SchedulerConfig:
    """Read and check the file at ``path``; ``ConfigError`` says what is wrong, and where."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"scheduler configuration {path}: {exc.strerror or exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"scheduler configuration {path}: not YAML: {exc}") from exc
    try:
        return parse(doc)
    except ConfigError as exc:
        raise ConfigError(f"scheduler configuration {path}: {exc}") from exc


def parse(doc: Any) -> SchedulerConfig:
    if not isinstance(doc, dict):
        raise ConfigError("must be a KubeSchedulerConfiguration object")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise ConfigError(f"apiVersion/kind: must be {API_VERSION} {KIND}, not "
                          f"{doc.get('apiVersion')!r} {doc.get('kind')!r}")
    _only(doc, {"apiVersion", "kind", "profiles", "podInitialBackoffSeconds", "podMaxBackoffSeconds",
                "leaderElection", "percentageOfNodesToScore", "parallelism"}, "")
    cfg = SchedulerConfig(profiles=[])
    initial = _seconds(doc.get("podInitialBackoffSeconds", 1), "podInitialBackoffSeconds")
    most = _seconds(doc.get("podMaxBackoffSeconds", 10), "podMaxBackoffSeconds")
    if most < initial:
        raise ConfigError(f"podMaxBackoffSeconds: Invalid value: {most:g}: must be greater than or equal to "
                          "podInitialBackoffSeconds")
    cfg.initial_backoff, cfg.max_backoff = initial, most
    percentage = doc.get("percentageOfNodesToScore")
    if percentage is not None and (not isinstance(percentage, int) or not 0 <= percentage <= 100):
        raise ConfigError(f"percentageOfNodesToScore: Invalid value: {percentage!r}: not in valid range [0-100]")
    election = doc.get("leaderElection") or {}
    _only(election, {"leaderElect", "resourceName", "resourceNamespace", "resourceLock", "leaseDuration",
                     "renewDeadline", "retryPeriod"}, "leaderElection")
    if election.get("leaderElect") is False:
        raise ConfigError("leaderElection.leaderElect: Unsupported value: false: kubelite's scheduler always "
                          "campaigns for its Lease (one scheduler acts at a time)")
    if election.get("resourceLock", "leases") != "leases":
        raise ConfigError(f"leaderElection.resourceLock: Unsupported value: {election['resourceLock']!r}: "
                          "supported values: \"leases\"")
    cfg.lease_name = _text(election, "resourceName", "leaderElection", default=cfg.lease_name)
    cfg.lease_namespace = _text(election, "resourceNamespace", "leaderElection", default=cfg.lease_namespace)
    profiles = doc.get("profiles")
    if profiles is None:
        profiles = [{}]
    for i, raw in enumerate(_list(profiles, "profiles")):
        spec = _profile(raw, f"profiles[{i}]")
        if any(p.name == spec.name for p in cfg.profiles):
            raise ConfigError(f"profiles[{i}].schedulerName: Duplicate value: {spec.name!r}")
        cfg.profiles.append(spec)
    if not cfg.profiles:
        raise ConfigError("profiles: Required value: at least one profile")
    return cfg


def _profile(raw: Any, where: str) -> ProfileSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: Invalid value: must be an object")
    _only(raw, {"schedulerName", "plugins", "pluginConfig", "percentageOfNodesToScore"}, where)
    spec = ProfileSpec(name=_text(raw, "schedulerName", where, default=DEFAULT_SCHEDULER))
    # Every default plugin starts enabled at every point it implements.
    implements = {name: _points_of(name) for name in PLUGINS}
    spec.points = {point: [n for n in PLUGINS if point in implements[n]] for point in POINTS}
    sets = raw.get("plugins") or {}
    if not isinstance(sets, dict):
        raise ConfigError(f"{where}.plugins: Invalid value: must be an object")
    _only(sets, set(POINTS) | set(BUILT_IN_POINTS) | {"multiPoint"}, f"{where}.plugins")
    for point in ("multiPoint", *POINTS, *BUILT_IN_POINTS):
        if point in sets:
            _plugin_set(spec, implements, point, sets[point], f"{where}.plugins.{point}")
    if not spec.points["bind"]:
        raise ConfigError(f"{where}.plugins.bind: Required value: at least one bind plugin is needed for "
                          f"profile with scheduler name {spec.name!r}")
    for i, entry in enumerate(_list(raw.get("pluginConfig") or [], f"{where}.pluginConfig")):
        here = f"{where}.pluginConfig[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{here}: Invalid value: must be an object with name and args")
        _only(entry, {"name", "args"}, here)
        name = _text(entry, "name", here)
        if name not in PLUGINS:
            raise ConfigError(f"{here}.name: Invalid value: {name!r}: no such plugin in kubelite")
        if name in spec.args:
            raise ConfigError(f"{here}.name: Duplicate value: {name!r}")
        args = entry.get("args") or {}
        if not isinstance(args, dict):
            raise ConfigError(f"{here}.args: Invalid value: must be an object")
        _only({k: v for k, v in args.items() if k not in ("apiVersion", "kind")}, set(PLUGINS[name][1]),
              f"{here}.args")
        spec.args[name] = args
    # Build once now, so that bad args fail here, when the file is read.
    for name, args in spec.args.items():
        PLUGINS[name][0](args, None)
    return spec


def _points_of(name: str) -> set[str]:
    plugin = PLUGINS[name][0]({}, None)
    if plugin is None:  # the binder, built only with a client
        return {"bind"}
    return {point for point, method in POINTS.items() if hasattr(plugin, method)}


def _plugin_set(spec: ProfileSpec, implements: Mapping[str, set[str]], point: str, raw: Any, where: str) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: Invalid value: must be an object with enabled and disabled lists")
    _only(raw, {"enabled", "disabled"}, where)
    targets = [p for p in POINTS if point == "multiPoint" or p == point]
    for i, item in enumerate(_list(raw.get("disabled") or [], f"{where}.disabled")):
        name = _text(item, "name", f"{where}.disabled[{i}]")
        if point in BUILT_IN_POINTS or name in UPSTREAM_ONLY:
            continue  # nothing of kubelite's to turn off
        if name != "*" and name not in PLUGINS:
            raise ConfigError(f"{where}.disabled[{i}].name: Invalid value: {name!r}: no such plugin")
        for target in targets:
            spec.points[target] = [n for n in spec.points[target] if name not in ("*", n)]
    for i, item in enumerate(_list(raw.get("enabled") or [], f"{where}.enabled")):
        here = f"{where}.enabled[{i}]"
        name = _text(item, "name", here)
        _only(item, {"name", "weight"}, here)
        if point in BUILT_IN_POINTS:
            if name not in BUILT_IN_POINTS[point]:
                raise ConfigError(f"{here}.name: Unsupported value: {name!r}: kubelite's {point} is "
                                  f"{', '.join(sorted(BUILT_IN_POINTS[point]))}")
            continue
        if name not in PLUGINS:
            raise ConfigError(f"{here}.name: Invalid value: {name!r}: no such plugin"
                              + (" in kubelite" if name in UPSTREAM_ONLY else ""))
        wanted = [t for t in targets if t in implements[name]]
        if not wanted:
            raise ConfigError(f"{here}.name: Invalid value: {name!r}: the plugin does not extend {point}")
        if "weight" in item:
            if point not in ("score", "multiPoint"):
                raise ConfigError(f"{here}.weight: Forbidden: only score plugins have a weight")
            spec.weights[name] = _weight(item["weight"], here)
        for target in wanted:
            if name not in spec.points[target]:
                order = list(PLUGINS)
                spec.points[target].append(name)
                spec.points[target].sort(key=order.index)


# --- small checks ------------------------------------------------------------------------


def _only(obj: Any, allowed: set[str] | frozenset[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where or 'the configuration'}: Invalid value: must be an object")
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        path = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f'unknown field "{path}"' + ("" if not allowed else
                                                         f" (known here: {', '.join(sorted(allowed))})"))


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: Invalid value: must be a list")
    return value


def _text(obj: Any, key: str, where: str, *, default: str | None = None) -> str:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: Invalid value: must be an object")
    value = obj.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key}: Required value: a non-empty string")
    return value


def _weight(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_WEIGHT:
        raise ConfigError(f"{where}.weight: Invalid value: {value!r}: must be an integer in 1..{MAX_WEIGHT}")
    return value


def _seconds(value: Any, where: str) -> float:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{where}: Invalid value: {value!r}: must be greater than 0")
    return float(value)
