"""The horizontal pod autoscaler controller: sets the replica count of a Deployment,
ReplicaSet, StatefulSet or ReplicationController (through its ``scale`` subresource) from
its pods' CPU or memory usage, as read from ``metrics.k8s.io`` (``kubectl top``'s source).

Started by ``controllers.manager``. Each autoscaling/v2 HorizontalPodAutoscaler is looked
at when it changes and every ``KUBELITE_HPA_SYNC_SECONDS`` (15, upstream's
``--horizontal-pod-autoscaler-sync-period``). Upstream semantics
(pkg/controller/podautoscaler/horizontal.go, replica_calculator.go):

- Resource metrics only (``Utilization`` against the pods' requests, or ``AverageValue``);
  ContainerResource the same for one container. Pods/Object/External metrics need the
  custom and external metrics APIs, which kubelite does not serve: ``ScalingActive=False``
  with ``FailedGet{Pods,Object,External}Metric``, as upstream without an adapter;
- 10 % tolerance; pods being deleted or Failed are ignored, Pending ones and (for CPU) ones
  not yet ready count as unready; pods without metrics are assumed at 100 % of their
  request on a scale-down and 0 on a scale-up, unready ones at 0 on a scale-up, and a
  change that this reverses is dropped (``calc_replicas``);
- the result is clamped to [minReplicas, maxReplicas]; without ``spec.behavior`` the
  legacy rules apply (5-minute scale-down stabilization, scale-up to at most
  max(2×current, 4)); with it, the stabilization windows over the recommendation history
  and the scale policies over the recent scale events (``Autoscaler.normalize``);
- status (current/desired replicas, currentMetrics, lastScaleTime, the conditions
  ``AbleToScale``, ``ScalingActive``, ``ScalingLimited``) and Events with upstream's words.

The recommendation and scale-event histories live in memory, as upstream's: a new leader
starts them afresh.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any

from kubelite.api import selectors
from kubelite.api.validation import pods as pod_validation
from kubelite.client import errors, informer, resources
from kubelite.controllers import base

Obj = dict[str, Any]

HPAS = resources.Resource("autoscaling", "v2", "horizontalpodautoscalers", True, "HorizontalPodAutoscaler")
POD_METRICS = resources.Resource("metrics.k8s.io", "v1beta1", "pods", True, "PodMetrics")
SCALABLE: dict[str, resources.Resource] = {
    "Deployment": resources.DEPLOYMENTS, "ReplicaSet": resources.REPLICASETS,
    "StatefulSet": resources.STATEFULSETS, "ReplicationController": resources.REPLICATIONCONTROLLERS,
}
TOLERANCE = 0.1  # upstream --horizontal-pod-autoscaler-tolerance
CPU_INITIALIZATION_PERIOD = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
INITIAL_READINESS_DELAY = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay
DOWNSCALE_STABILIZATION = 300  # --horizontal-pod-autoscaler-downscale-stabilization (seconds)


def sync_period() -> float:
    try:
        return max(0.5, float(os.environ.get("KUBELITE_HPA_SYNC_SECONDS", "15")))
    except ValueError:
        return 15.0


class MetricError(Exception):
    """A metric could not be computed; ``reason`` is the Event's and the condition's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- replica arithmetic (replica_calculator.go), pure --------------------------------


@dataclasses.dataclass
class PodSample:
    """A pod as the replica calculator sees it."""

    name: str
    phase: str = "Running"
    deleting: bool = False
    ready: bool | None = True  # the Ready condition's status; None without one
    ready_since: float | None = None  # its lastTransitionTime (epoch seconds)
    started: float | None = None  # status.startTime
    request: int | None = None  # milli-units of the resource, summed over the containers
    usage: int | None = None  # milli-units from the metrics API; None: no metrics
    sampled: float | None = None  # the metric's timestamp
    window: float = 0.0


def group_pods(pods: list[PodSample], *, cpu: bool, now: float) -> tuple[int, set[str], set[str], set[str]]:
    """(ready count, unready, missing, ignored) as upstream's groupPods."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        if pod.usage is None:
            missing.add(pod.name)
            continue
        if cpu:
            if pod.ready is None or pod.started is None or pod.ready_since is None:
                not_ready = True
            elif pod.started + CPU_INITIALIZATION_PERIOD > now:
                # still initialising: ignore a sample taken before one whole window of readiness
                not_ready = not pod.ready or (pod.sampled or now) < pod.ready_since + pod.window
            else:
                # ignore it only if it is unready and has never been ready
                not_ready = not pod.ready and pod.started + INITIAL_READINESS_DELAY > pod.ready_since
            if not_ready:
                unready.add(pod.name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def calc_replicas(pods: list[PodSample], *, current: int, cpu: bool, now: float,
                  target_utilization: int | None = None, target_average: int | None = None) -> tuple[int, int, int]:
    """Desired replicas for one Resource metric: (replicas, utilization %, average usage in
    milli-units). Exactly one target is given: a utilization (percent of the requests)
    or an average value (milli-units). Raises ``MetricError`` as upstream fails."""
    if not pods:
        raise MetricError("", "no pods returned by selector while calculating replica count")
    ready_count, unready, missing, ignored = group_pods(pods, cpu=cpu, now=now)
    usage = {p.name: p.usage for p in pods
             if p.usage is not None and p.name not in unready and p.name not in ignored}
    if not usage:
        raise MetricError("", "did not receive metrics for targeted pods (pods might be unready)")
    requests = {p.name: p.request for p in pods}

    def ratio(values: dict[str, int]) -> tuple[float, int, int]:
        total = sum(values.values())
        average = total // len(values)
        if target_utilization is None:
            return total / len(values) / (target_average or 1), 0, average
        wanted = 0
        for name in values:
            if not requests.get(name):
                raise MetricError("", f"missing request for {name}")
            wanted += requests[name] or 0
        utilization = total * 100 // wanted
        return utilization / target_utilization, utilization, average

    usage_ratio, utilization, average = ratio(usage)
    scale_up_with_unready = bool(unready) and usage_ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - usage_ratio) <= TOLERANCE:
            return current, utilization, average
        return math.ceil(usage_ratio * ready_count), utilization, average
    if missing:
        for name in missing:
            if usage_ratio < 1.0:  # a scale-down: missing pods use their whole request (or the target)
                if target_utilization is None:
                    usage[name] = target_average or 0
                else:
                    usage[name] = (requests.get(name) or 0) * max(100, target_utilization) // 100
            elif usage_ratio > 1.0:  # a scale-up: they use nothing
                usage[name] = 0
    if scale_up_with_unready:
        for name in unready:
            usage[name] = 0
    new_ratio, _, _ = ratio(usage)
    if abs(1.0 - new_ratio) <= TOLERANCE or (usage_ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < usage_ratio):
        return current, utilization, average  # the assumptions reversed the direction: no change
    wanted = math.ceil(new_ratio * len(usage))
    if (new_ratio < 1.0 and wanted > current) or (new_ratio > 1.0 and wanted < current):
        return current, utilization, average
    return wanted, utilization, average


@dataclasses.dataclass
class Recommendation:
    replicas: int
    at: float


@dataclasses.dataclass
class ScaleEvent:
    change: int
    at: float


@dataclasses.dataclass
class Limited:
    """The outcome of normalization: replicas and the two conditions it decides."""

    replicas: int
    able_reason: str
    able_message: str
    limited: bool
    limited_reason: str
    limited_message: str


_UP_STABILIZED = ("ScaleUpStabilized",
                  "recent recommendations were lower than current one, applying the lowest recent recommendation")
_DOWN_STABILIZED = ("ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest recent recommendation")
_READY = ("ReadyForNewScale", "recommended size matches current size")
_WITHIN = ("DesiredWithinRange", "the desired count is within the acceptable range")
_UP_LIMIT = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
_DOWN_LIMIT = ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")
_TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
_TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")


def _change_in_period(events: list[ScaleEvent], period: int, now: float) -> int:
    return sum(e.change for e in events if e.at > now - period)


def scale_up_limit(current: int, ups: list[ScaleEvent], downs: list[ScaleEvent], rules: Obj, now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    picks = []
    for policy in rules.get("policies") or []:
        period = int(policy.get("periodSeconds") or 0)
        start = current - _change_in_period(ups, period, now) + _change_in_period(downs, period, now)
        if policy.get("type") == "Pods":
            picks.append(start + int(policy.get("value") or 0))
        else:  # rounded up: a small percentage of few pods must still add one
            picks.append(math.ceil(start * (1 + int(policy.get("value") or 0) / 100)))
    if not picks:
        return current
    return min(picks) if select == "Min" else max(picks)


def scale_down_limit(current: int, ups: list[ScaleEvent], downs: list[ScaleEvent], rules: Obj, now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    picks = []
    for policy in rules.get("policies") or []:
        period = int(policy.get("periodSeconds") or 0)
        start = current - _change_in_period(ups, period, now) + _change_in_period(downs, period, now)
        if policy.get("type") == "Pods":
            picks.append(start - int(policy.get("value") or 0))
        else:
            picks.append(int(start * (1 - int(policy.get("value") or 0) / 100)))
    if not picks:
        return current
    return max(picks) if select == "Min" else min(picks)


class History:
    """One HPA's recommendations and scale events (upstream keeps them per key, in memory)."""

    def __init__(self) -> None:
        self.recommendations: list[Recommendation] = []
        self.ups: list[ScaleEvent] = []
        self.downs: list[ScaleEvent] = []

    def record_scale(self, change: int, *, behavior: Obj | None, now: float) -> None:
        longest = 0
        for direction in ("scaleUp", "scaleDown"):
            for policy in ((behavior or {}).get(direction) or {}).get("policies") or []:
                longest = max(longest, int(policy.get("periodSeconds") or 0))
        self.ups = [e for e in self.ups if e.at > now - longest]
        self.downs = [e for e in self.downs if e.at > now - longest]
        (self.ups if change > 0 else self.downs).append(ScaleEvent(abs(change), now))

    def _remember(self, desired: int, now: float, *, keep: float) -> None:
        self.recommendations = [r for r in self.recommendations if r.at > now - keep]
        self.recommendations.append(Recommendation(desired, now))

    def normalize(self, *, current: int, desired: int, min_replicas: int, max_replicas: int,
                  behavior: Obj | None, now: float) -> Limited:
        if behavior is None:
            return self._normalize_legacy(current=current, desired=desired, min_replicas=min_replicas,
                                          max_replicas=max_replicas, now=now)
        up, down = behavior.get("scaleUp") or {}, behavior.get("scaleDown") or {}
        up_window = int(up.get("stabilizationWindowSeconds") or 0)
        down_window = down.get("stabilizationWindowSeconds")
        down_window = DOWNSCALE_STABILIZATION if down_window is None else int(down_window)
        up_rec = down_rec = desired
        for rec in self.recommendations:
            if rec.at > now - up_window:
                up_rec = min(up_rec, rec.replicas)
            if rec.at > now - down_window:
                down_rec = max(down_rec, rec.replicas)
        stabilized = min(max(current, up_rec), down_rec)
        self._remember(desired, now, keep=max(up_window, down_window))
        able = (_UP_STABILIZED if desired >= current else _DOWN_STABILIZED) if stabilized != desired else _READY
        result, limit = stabilized, _WITHIN
        if stabilized > current:
            cap = max(scale_up_limit(current, self.ups, self.downs, up, now), current)
            allowed, why = (cap, _UP_LIMIT) if max_replicas > cap else (max_replicas, _TOO_MANY)
            if stabilized > allowed:
                result, limit = allowed, why
        elif stabilized < current:
            floor = min(scale_down_limit(current, self.ups, self.downs, down, now), current)
            allowed, why = (floor, _DOWN_LIMIT) if min_replicas < floor else (min_replicas, _TOO_FEW)
            if stabilized < allowed:
                result, limit = allowed, why
        return Limited(result, *able, result != stabilized, *limit)

    def _normalize_legacy(self, *, current: int, desired: int, min_replicas: int, max_replicas: int,
                          now: float) -> Limited:
        stabilized = desired
        for rec in self.recommendations:
            if rec.at > now - DOWNSCALE_STABILIZATION:
                stabilized = max(stabilized, rec.replicas)
        self._remember(desired, now, keep=DOWNSCALE_STABILIZATION)
        able = _DOWN_STABILIZED if stabilized != desired else _READY
        up_cap = max(2 * current, 4)
        allowed, why = (up_cap, _UP_LIMIT) if max_replicas > up_cap else (max_replicas, _TOO_MANY)
        if stabilized < min_replicas:
            result, limit = min_replicas, _TOO_FEW
        elif stabilized > allowed:
            result, limit = allowed, why
        else:
            result, limit = stabilized, _WITHIN
        return Limited(result, *able, result != stabilized, *limit)


# --- reading the cluster ----------------------------------------------------------------


def _milli(value: Any) -> int | None:
    parsed = pod_validation.parse_quantity(value)
    return None if parsed is None else math.ceil(parsed * 1000)


def milli_quantity(milli: int) -> str:
    """A milli-value as ``resource.NewMilliQuantity(v, DecimalSI).String()`` words it."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _seconds(text: Any) -> float:
    """A Go duration string as metrics-server writes a window (``"10.5s"``, ``"800ms"``)."""
    text = str(text or "")
    for unit, scale in (("ms", 0.001), ("us", 0.000001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * scale
            except ValueError:
                return 0.0
    return 0.0


def _epoch(value: Any) -> float | None:
    when = base.parse_time(value) if isinstance(value, str) else None
    return when.timestamp() if when is not None else None


def pod_samples(pods: list[Obj], metrics: list[Obj], *, resource: str, container: str | None) -> list[PodSample]:
    """The calculator's view of the target's pods and their metrics (upstream sums the
    containers' usage and requests; a pod with a container lacking the metric has none)."""
    by_name: dict[str, Obj] = {base.name_of(m): m for m in metrics}
    out: list[PodSample] = []
    for pod in pods:
        status = pod.get("status") or {}
        cond = base.get_condition(status, "Ready")
        sample = PodSample(name=base.name_of(pod), phase=status.get("phase") or "Pending",
                           deleting=base.deleting(pod),
                           ready=None if cond is None else cond.get("status") == "True",
                           ready_since=_epoch((cond or {}).get("lastTransitionTime")),
                           started=_epoch(status.get("startTime")))
        request: int | None = 0
        for c in (pod.get("spec") or {}).get("containers") or []:
            if container is not None and c.get("name") != container:
                continue
            value = _milli(((c.get("resources") or {}).get("requests") or {}).get(resource))
            request = None if value is None or request is None else request + value
        sample.request = request
        metric = by_name.get(sample.name)
        if metric is not None:
            total: int | None = 0
            for c in metric.get("containers") or []:
                if container is not None and c.get("name") != container:
                    continue
                value = _milli((c.get("usage") or {}).get(resource))
                total = None if value is None or total is None else total + value
            sample.usage = total if metric.get("containers") else None
            sample.sampled = _epoch(metric.get("timestamp"))
            sample.window = _seconds(metric.get("window"))
        out.append(sample)
    return out


# --- the controller ----------------------------------------------------------------------


_UNSERVED = {
    "Pods": ("FailedGetPodsMetric", "pods", "custom"),
    "Object": ("FailedGetObjectMetric", "object", "custom"),
    "External": ("FailedGetExternalMetric", "external", "external"),
}


class HorizontalPodAutoscalerController(base.Controller):
    name = "horizontalpodautoscaling"
    event_source = "horizontal-pod-autoscaler"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.hpas = self.informers.get(HPAS)
        self.pods = self.informers.get(resources.PODS)
        self.histories: dict[str, History] = {}
        self.hpas.add_handler(on_add=self.enqueue, on_update=self._updated, on_delete=self._forget)

    def _updated(self, old: Obj, new: Obj) -> None:
        # a spec change is acted on at once; the controller's own status writes must not
        # wake it (each carries fresh metrics, which would make a busy loop): those HPAs
        # wait for their next sync, as upstream looks at each HPA once a sync period
        if base.generation_of(old) != base.generation_of(new):
            self.enqueue(new)

    def _forget(self, hpa: Obj) -> None:
        self.histories.pop(informer.key_of(hpa), None)

    async def reconcile(self, key: str) -> float | None:
        hpa = self.hpas.get(key)
        if hpa is None:
            self.histories.pop(key, None)
            return None
        hpa = base.copy(hpa)
        hpa.setdefault("apiVersion", HPAS.api_version)
        hpa.setdefault("kind", HPAS.kind)
        try:
            await self._reconcile(key, hpa)
        except errors.Conflict:
            raise
        except errors.NotFound:
            return None
        except errors.ApiError as exc:
            self.log.warning("hpa sync failed hpa=%s error=%s", key, exc)
        return sync_period()

    async def _reconcile(self, key: str, hpa: Obj) -> None:
        spec = hpa.get("spec") or {}
        status: Obj = base.copy(hpa.get("status") or {})
        status["conditions"] = list(status.get("conditions") or [])
        ns, ref = base.ns_of(hpa), spec.get("scaleTargetRef") or {}
        kind = str(ref.get("kind") or "")
        res = SCALABLE.get(kind) or resources.by_kind(str(ref.get("apiVersion") or ""), kind)
        scale: Obj | None = None
        failure = ""
        if res is None:
            group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            failure = f'unable to determine resource for scale target reference: no matches for kind "{kind}" ' \
                      f'in group "{group}"'
        else:
            try:
                scale = await self.client.get(res, str(ref.get("name") or ""), namespace=ns, subresource="scale")
            except errors.ApiError as exc:
                failure = str(exc)
        if scale is None or res is None:
            self.recorder.event(hpa, type_="Warning", reason="FailedGetScale", message=failure)
            self._condition(status, "AbleToScale", False, "FailedGetScale",
                            f"the HPA controller was unable to get the target's current scale: {failure}")
            await self._write_status(hpa, status)
            return
        self._condition(status, "AbleToScale", True, "SucceededGetScale",
                        "the HPA controller was able to get the target's current scale")
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        status["currentReplicas"] = current  # upstream reports the scale's spec, not its status
        min_replicas, max_replicas = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 0)
        now = time.time()
        history = self.histories.get(key)
        if history is None:
            # upstream's recordInitialRecommendation: the size found counts as the first
            # recommendation, so a new HPA waits out the scale-down window before shrinking
            history = self.histories[key] = History()
            history.recommendations.append(Recommendation(current, now))
        reason, desired = "", current
        if current == 0 and min_replicas != 0:
            desired = 0
            self._condition(status, "ScalingActive", False, "ScalingDisabled",
                            "scaling is disabled since the replica count of the target is zero")
        elif current > max_replicas:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", max_replicas
        elif current < min_replicas:
            reason, desired = "Current number of replicas below Spec.MinReplicas", min_replicas
        else:
            computed = await self._metrics_replicas(hpa, status, scale, current)
            if computed is None:
                await self._write_status(hpa, status)
                return
            proposal, metric_name = computed
            limited = history.normalize(current=current, desired=proposal, min_replicas=min_replicas,
                                        max_replicas=max_replicas, behavior=spec.get("behavior"), now=now)
            self._condition(status, "AbleToScale", True, limited.able_reason, limited.able_message)
            self._condition(status, "ScalingLimited", limited.limited, limited.limited_reason,
                            limited.limited_message)
            desired = limited.replicas
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
        if desired != current:
            try:
                await self.client.update(res, {**scale, "spec": {**(scale.get("spec") or {}), "replicas": desired}},
                                         namespace=ns, subresource="scale")
            except errors.Conflict:
                raise  # the target changed since we read its scale (its controller's status write): again soon
            except errors.ApiError as exc:
                self._condition(status, "AbleToScale", False, "FailedUpdateScale",
                                f"the HPA controller was unable to update the target scale: {exc}")
                self.recorder.event(hpa, type_="Warning", reason="FailedRescale",
                                    message=f"New size: {desired}; reason: {reason}; error: {exc}")
                await self._write_status(hpa, status)
                return
            self._condition(status, "AbleToScale", True, "SucceededRescale",
                            f"the HPA controller was able to update the target scale to {desired}")
            self.recorder.event(hpa, type_="Normal", reason="SuccessfulRescale",
                                message=f"New size: {desired}; reason: {reason}")
            history.record_scale(desired - current, behavior=spec.get("behavior"), now=now)
            status["lastScaleTime"] = base.fmt_time()
            self.log.info("hpa rescaled hpa=%s/%s from=%d to=%d reason=%r", ns, base.name_of(hpa),
                          current, desired, reason)
        status["desiredReplicas"] = desired
        await self._write_status(hpa, status)

    async def _metrics_replicas(self, hpa: Obj, status: Obj, scale: Obj, current: int) -> tuple[int, str] | None:
        """The largest proposal over the metrics and its metric's name, or None when no
        metric could be computed (the ScalingActive condition says why)."""
        selector_text = str((scale.get("status") or {}).get("selector") or "")
        if not selector_text:
            self.recorder.event(hpa, type_="Warning", reason="SelectorRequired", message="selector is required")
            self._condition(status, "ScalingActive", False, "InvalidSelector",
                            "the HPA target's scale is missing a selector")
            return None
        try:
            selector = selectors.parse_label_selector(selector_text)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the user's selector
            self.recorder.event(hpa, type_="Warning", reason="InvalidSelector", message=str(exc))
            self._condition(status, "ScalingActive", False, "InvalidSelector",
                            f"couldn't convert selector into a corresponding internal selector object: {exc}")
            return None
        ns = base.ns_of(hpa)
        pods = [p for p in self.pods.list() if base.ns_of(p) == ns and selector.matches(base.labels_of(p))]
        metrics: list[Obj] | None = None
        best: tuple[int, str] | None = None
        statuses: list[Obj] = []
        failure: tuple[str, str] | None = None
        errors_seen: list[str] = []
        all_metrics = (hpa.get("spec") or {}).get("metrics") or []
        for spec in (hpa.get("spec") or {}).get("metrics") or []:
            mtype = spec.get("type")
            if mtype in _UNSERVED:
                reason, key, api = _UNSERVED[str(mtype)]
                name = ((spec.get(key) or {}).get("metric") or {}).get("name", "")
                message = (f"unable to get {'external ' if api == 'external' else ''}metric {name}: unable to fetch "
                           f"metrics from {api} metrics API: the server could not find the requested resource")
                failure = failure or (reason, f"the HPA was unable to compute the replica count: {message}")
                self.recorder.event(hpa, type_="Warning", reason=reason, message=message)
                errors_seen.append(f"failed to get {key} metric value: {message}")
                continue
            key = "containerResource" if mtype == "ContainerResource" else "resource"
            kind = "container resource" if mtype == "ContainerResource" else "resource"
            src = spec.get(key) or {}
            target = src.get("target") or {}
            resource, container = str(src.get("name") or ""), src.get("container") if key != "resource" else None
            reason = "FailedGetContainerResourceMetric" if container else "FailedGetResourceMetric"
            try:
                if metrics is None:
                    try:
                        listed = await self.client.list(POD_METRICS, namespace=ns, label_selector=selector_text)
                    except errors.ApiError as exc:
                        raise MetricError(reason, f"unable to get metrics for resource {resource}: unable to fetch "
                                                  f"metrics from resource metrics API: {exc}") from exc
                    metrics = list(listed.get("items") or [])
                if not metrics:
                    raise MetricError(reason, f"unable to get metrics for resource {resource}: no metrics returned "
                                              f"from resource metrics API")
                samples = pod_samples(pods, metrics, resource=resource, container=container)
                utilization = target.get("averageUtilization") if target.get("type") == "Utilization" else None
                average = None if utilization is not None else _milli(target.get("averageValue"))
                replicas, percent, raw = calc_replicas(samples, current=current, cpu=resource == "cpu",
                                                       now=time.time(), target_utilization=utilization,
                                                       target_average=average)
            except MetricError as exc:
                message = str(exc)
                failure = failure or (reason, f"the HPA was unable to compute the replica count: {message}")
                self.recorder.event(hpa, type_="Warning", reason=reason, message=message)
                what = "utilization" if target.get("type") == "Utilization" else "usage"
                errors_seen.append(f"failed to get {resource} {kind} metric value: "
                                   f"failed to get {resource} {what}: {message}")
                continue
            current_value: Obj = {"averageValue": milli_quantity(raw)}
            if utilization is not None:
                current_value["averageUtilization"] = percent
                name = f"{resource} {kind} utilization (percentage of request)"
            else:
                name = f"{resource} {kind}"
            source: Obj = {"name": resource, "current": current_value}
            if container:
                source["container"] = container
            statuses.append({"type": str(mtype), key: source})
            if best is None or replicas > best[0]:
                best = (replicas, name)
        status["currentMetrics"] = statuses or None
        if errors_seen:
            self.recorder.event(hpa, type_="Warning", reason="FailedComputeMetricsReplicas",
                                message=f"invalid metrics ({len(errors_seen)} invalid out of {len(all_metrics)}), "
                                        f"first error is: {errors_seen[0]}")
        if best is None:
            if failure is not None:
                self._condition(status, "ScalingActive", False, failure[0], failure[1])
            return None
        self._condition(status, "ScalingActive", True, "ValidMetricFound",
                        f"the HPA was able to successfully calculate a replica count from {best[1]}")
        return best

    @staticmethod
    def _condition(status: Obj, ctype: str, ok: bool, reason: str, message: str) -> None:
        base.set_condition(status, {"type": ctype, "status": "True" if ok else "False", "reason": reason,
                                    "message": message, "lastTransitionTime": base.fmt_time()})

    async def _write_status(self, hpa: Obj, status: Obj) -> None:
        if status.get("currentMetrics") is None:
            status.pop("currentMetrics", None)
        status["observedGeneration"] = base.generation_of(hpa)
        status.setdefault("desiredReplicas", (hpa.get("status") or {}).get("desiredReplicas", 0))
        if status == (hpa.get("status") or {}):
            return
        body = {k: v for k, v in hpa.items() if k != "status"}
        body["status"] = status
        await self.client.update(HPAS, body, namespace=base.ns_of(hpa), subresource="status")

