"""The API server's Prometheus metrics and ``GET /metrics``, with upstream's names.

``app.build_app`` wraps the whole handler chain in ``RequestMetrics.instrument`` (so
refusals, 401 and 429, are counted too, as upstream counts its dropped requests) and
routes ``/metrics`` to ``Monitoring.handle``, which authenticates like every other path.
Exposed:

- ``apiserver_request_total{verb,dry_run,group,version,resource,subresource,scope,component,code}``
  and ``apiserver_request_duration_seconds`` (upstream's buckets; not for WATCH and
  CONNECT, whose duration is the client's choice) — labels from ``requestinfo.classify``;
- ``apiserver_longrunning_requests``: watches and streams open now;
- ``apiserver_current_inflight_requests{request_kind}``: ``readOnly`` (GET, LIST) and
  ``mutating`` requests in flight, the most since the previous scrape (upstream: in the
  last second);
- ``apiserver_storage_objects{resource}``: objects in the watch cache, counted at scrape
  time (upstream counts in etcd every minute);
- ``apiserver_watch_events_total{group,version,kind}``: events sent to watchers
  (``watch.serve`` adds to ``WATCH_EVENTS`` per write);
- ``process_*`` and ``python_*`` (``telemetry.instruments.new_registry``).

Recording a request costs a dict lookup of its series (``_Series``, one per label set)
among those of recent (method, path, query) — ``classify`` runs only for a request not
among them — and a few additions: about 2 µs on the CI machine
(``tests/unit/apiserver/test_request_metrics.py`` measures it).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from kubelite.api import errors, scheme
from kubelite.apiserver import bulk, requestinfo, watchcache
from kubelite.telemetry import http as telemetry_http
from kubelite.telemetry import instruments

Handler = Callable[[Any], Awaitable[web.StreamResponse]]
# Is (group, version, resource, subresource) served here? Unserved ones are folded into
# one series (``requestinfo.unrecognised``).
Known = Callable[[str, str, str, str], bool]

COMPONENT = "apiserver"
# Upstream's apiserver_request_duration_seconds buckets, made to check the API call
# latency SLOs (1 s for a single object, 5 s and 30 s for collections).
REQUEST_DURATION_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0,
                            4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
# Requests remembered with their series (the cache is emptied when full).
RECENT_PATHS = 4096
LONG_RUNNING_VERBS = frozenset(("WATCH", "CONNECT"))
READ_ONLY_VERBS = frozenset(("GET", "LIST"))
READ_ONLY, MUTATING = 0, 1
_REQUEST_KINDS = ("readOnly", "mutating")

# Watch events sent, by (group, version, kind) of the watched resource: ``watch.serve``
# adds each batch it writes. One count per process, like upstream's global counters.
WATCH_EVENTS: dict[tuple[str, str, str], int] = {}


class _Series:
    """The numbers of one label set: answers by status code, the durations, and the
    long-running requests open now."""

    __slots__ = ("codes", "duration", "kind", "labels", "long_running", "remembered", "running")

    def __init__(self, labels: requestinfo.RequestLabels) -> None:
        self.labels = labels
        self.codes: dict[int, int] = {}
        self.duration = instruments.Histogram(REQUEST_DURATION_BUCKETS)
        self.running = 0
        self.long_running = labels.verb in LONG_RUNNING_VERBS
        self.kind = READ_ONLY if labels.verb in READ_ONLY_VERBS else MUTATING
        # Requests folded into "other" are classified afresh each time rather than kept
        # among the recent ones: a path for a CRD not yet served must get its own series
        # once the CRD is.
        self.remembered = labels.subresource != requestinfo.OTHER


class RequestMetrics:
    """Per-request recording (``instrument``) and the request metrics' collector."""

    def __init__(self, *, known: Known) -> None:
        self.known = known
        self.series: dict[requestinfo.RequestLabels, _Series] = {}
        self.inflight = [0, 0]  # by kind: READ_ONLY, MUTATING
        self.peak = [0, 0]  # the most in flight since the previous scrape

    def _series_for(self, key: tuple[str, ...]) -> _Series:
        """The series of a request not among the recent ones: (method, path, query string,
        and for PATCH the content type)."""
        labels = requestinfo.classify(*key)
        found = self.series.get(labels)
        return found if found is not None else self._new_series(labels)

    def _new_series(self, labels: requestinfo.RequestLabels) -> _Series:
        """The series of labels seen for the first time (or of an unserved resource)."""
        if labels.resource and not self.known(labels.group, labels.version, labels.resource, labels.subresource):
            # Not remembered under the made-up labels: they would grow the dict without bound.
            labels = requestinfo.unrecognised(labels)
            found = self.series.get(labels)
            if found is not None:
                return found
        found = self.series[labels] = _Series(labels)
        return found

    def instrument(self, inner: Handler) -> Handler:
        """``inner``, recorded: the answer's code, the duration, what is in flight.
        Requests cancelled or cut off mid-answer are not counted (no code was sent)."""
        # The series of recent (method, path, query[, content type]): most requests repeat
        # one seen a moment ago (creates in one namespace, an agent's status updates, the
        # scheduler's bulk bindings), and a hit costs a fifth of a classification.
        recent: dict[tuple[str, ...], _Series] = {}
        clock = time.perf_counter
        bounds = REQUEST_DURATION_BUCKETS
        inflight, peak = self.inflight, self.peak

        async def handle(request: Any) -> web.StreamResponse:
            start = clock()
            method = request.method
            key: tuple[str, ...] = (method, request.path, request.query_string) if method != "PATCH" else \
                (method, request.path, request.query_string, request.headers.get("Content-Type", ""))
            s = recent.get(key)
            if s is None:
                s = self._series_for(key)
                if s.remembered:
                    if len(recent) >= RECENT_PATHS:
                        recent.clear()
                    recent[key] = s
            if s.long_running:
                s.running += 1
                try:
                    resp = await inner(request)
                finally:
                    s.running -= 1
                codes = s.codes
                codes[resp.status] = codes.get(resp.status, 0) + 1
                return resp
            kind = s.kind
            now_inflight = inflight[kind] = inflight[kind] + 1
            if now_inflight > peak[kind]:
                peak[kind] = now_inflight
            try:
                resp = await inner(request)
            finally:
                inflight[kind] -= 1
            elapsed = clock() - start
            codes = s.codes
            codes[resp.status] = codes.get(resp.status, 0) + 1
            # Histogram.observe, inlined: a method call is a tenth of the recording's cost
            duration = s.duration
            duration.counts[bisect.bisect_left(bounds, elapsed)] += 1
            duration.sum += elapsed
            return resp

        return handle

    def collect(self) -> Iterable[Metric]:
        all_series = list(self.series.values())
        total = CounterMetricFamily(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, "
            "scope, component, and HTTP response code.",
            labels=("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component", "code"))
        duration = HistogramMetricFamily(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, dry run value, group, version, resource, "
            "subresource, scope and component.",
            labels=("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component"))
        running: dict[tuple[str, ...], int] = {}
        for s in all_series:
            verb, dry_run, group, version, resource, subresource, scope = s.labels
            for code, count in list(s.codes.items()):
                total.add_metric((verb, dry_run, group, version, resource, subresource, scope, COMPONENT, str(code)),
                                 count)
            if s.long_running:
                key = (verb, group, version, resource, subresource, scope, COMPONENT)
                running[key] = running.get(key, 0) + s.running
                continue
            buckets, seconds = s.duration.cumulative()
            if buckets[-1][1]:
                duration.add_metric((verb, dry_run, group, version, resource, subresource, scope, COMPONENT),
                                    buckets, seconds)
        longrunning = GaugeMetricFamily(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, "
            "scope and component. Not all requests are tracked this way.",
            labels=("verb", "group", "version", "resource", "subresource", "scope", "component"))
        for gauge_labels, open_now in running.items():
            longrunning.add_metric(gauge_labels, open_now)
        current = GaugeMetricFamily(
            "apiserver_current_inflight_requests",
            "Maximal number of currently used inflight request limit of this apiserver per request kind since "
            "the previous scrape.",
            labels=("request_kind",))
        for kind, name in enumerate(_REQUEST_KINDS):
            current.add_metric((name,), self.peak[kind])
            self.peak[kind] = self.inflight[kind]
        return [total, duration, longrunning, current]


class _StorageObjects:
    """``apiserver_storage_objects``, counted in the watch cache when scraped."""

    def __init__(self, cache: watchcache.WatchCache) -> None:
        self.cache = cache

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("apiserver_storage_objects",
                                   "Number of stored objects at the time of last check split by kind.",
                                   labels=("resource",))
        for (group, plural), resource_cache in sorted(self.cache.resources.items()):
            family.add_metric((f"{plural}.{group}" if group else plural,), len(resource_cache.objects))
        return [family]


class _WatchEvents:
    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily("apiserver_watch_events_total", "Number of events sent in watch clients",
                                     labels=("group", "version", "kind"))
        for key, count in list(WATCH_EVENTS.items()):
            family.add_metric(key, count)
        return [family]


def served(the_scheme: scheme.Scheme, extra: list[scheme.ResourceInfo]) -> Known:
    """``Known`` for the router's resources: the scheme's (CRDs included, as they come and
    go), ``extra``, the router's list of those served by dedicated handlers, and the bulk
    API's (the scheduler's batched bindings)."""

    def known(group: str, version: str, resource: str, subresource: str) -> bool:
        if group == bulk.GROUP:
            return version == bulk.VERSION and resource in bulk.KINDS and not subresource
        info = the_scheme.lookup(group, version, resource)
        if info is None:
            info = next((i for i in extra if i.group == group and i.version == version and i.plural == resource),
                        None)
        return info is not None and (not subresource or subresource in info.subresources)

    return known


class Monitoring:
    """The API server's registry and its ``GET /metrics``."""

    PATH = "/metrics"

    def __init__(self, *, cache: watchcache.WatchCache, known: Known) -> None:
        self.registry = instruments.new_registry()
        self.requests = RequestMetrics(known=known)
        for collector in (self.requests, _StorageObjects(cache), _WatchEvents()):
            self.registry.register(collector)  # type: ignore[arg-type]

    async def handle(self, request: Any) -> web.StreamResponse:
        if request.path.rstrip("/") != self.PATH:
            raise errors.NotFound("the server could not find the requested resource")
        if request.method not in ("GET", "HEAD"):
            raise errors.MethodNotAllowed(f"the server does not allow the method {request.method} here")
        return telemetry_http.metrics_response(self.registry)
