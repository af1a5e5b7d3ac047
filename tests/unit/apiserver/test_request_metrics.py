"""Every request the API server answers is recorded once, with its code and duration, at a
cost of a few microseconds; made-up resources cannot grow the series without bound."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from kubelite.api import errors
from kubelite.apiserver import monitoring
from kubelite.telemetry import instruments


class FakeRequest:
    def __init__(self, method: str, path: str, query_string: str = "", content_type: str = "") -> None:
        self.method, self.path, self.query_string = method, path, query_string
        self.headers = {"Content-Type": content_type} if content_type else {}


def known(group: str, version: str, resource: str, subresource: str) -> bool:
    return (group, version, resource) in {("", "v1", "pods"), ("", "v1", "configmaps")} and \
        subresource in ("", "log", "status")


def answering(status: int) -> Any:
    async def inner(_request: Any) -> web.StreamResponse:
        return web.Response(status=status)
    return inner


def samples(metrics: monitoring.RequestMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = instruments.new_registry()
    registry.register(metrics)  # type: ignore[arg-type]
    text = instruments.render(registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def count(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls)


async def test_each_answer_is_counted_by_code_and_timed() -> None:
    metrics = monitoring.RequestMetrics(known=known)
    created, missing = metrics.instrument(answering(201)), metrics.instrument(answering(404))
    for _ in range(3):
        await created(FakeRequest("POST", "/api/v1/namespaces/a/pods"))
    await missing(FakeRequest("GET", "/api/v1/namespaces/a/pods/gone"))
    found = samples(metrics)
    assert count(found, "apiserver_request_total", verb="POST", resource="pods", scope="resource", code="201",
                 component="apiserver") == 3
    assert count(found, "apiserver_request_total", verb="GET", code="404") == 1
    assert count(found, "apiserver_request_duration_seconds_count", verb="POST", resource="pods") == 3
    assert count(found, "apiserver_request_duration_seconds_bucket", verb="POST", le="+Inf") == 3


async def test_refusals_raised_past_the_recorder_are_not_counted_but_do_not_leak_inflight() -> None:
    metrics = monitoring.RequestMetrics(known=known)

    async def cancelled(_request: Any) -> web.StreamResponse:
        raise asyncio.CancelledError

    handle = metrics.instrument(cancelled)
    try:
        await handle(FakeRequest("GET", "/api/v1/namespaces/a/pods/x"))
    except asyncio.CancelledError:
        pass
    assert metrics.inflight == [0, 0]
    assert count(samples(metrics), "apiserver_request_total") == 0


async def test_long_running_requests_are_gauged_while_open_and_not_timed() -> None:
    metrics = monitoring.RequestMetrics(known=known)
    release = asyncio.Event()

    async def stream(_request: Any) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=200)

    handle = metrics.instrument(stream)
    watch = asyncio.ensure_future(handle(FakeRequest("GET", "/api/v1/pods", "watch=true")))
    logs = asyncio.ensure_future(handle(FakeRequest("GET", "/api/v1/namespaces/a/pods/p/log")))
    await asyncio.sleep(0)
    open_now = samples(metrics)
    assert count(open_now, "apiserver_longrunning_requests", verb="WATCH", resource="pods", scope="cluster") == 1
    assert count(open_now, "apiserver_longrunning_requests", verb="CONNECT", subresource="log") == 1
    release.set()
    await asyncio.gather(watch, logs)
    done = samples(metrics)
    assert count(done, "apiserver_longrunning_requests") == 0
    assert count(done, "apiserver_request_total", verb="WATCH", code="200") == 1
    assert count(done, "apiserver_request_duration_seconds_count", verb="WATCH") == 0


async def test_inflight_reports_the_most_since_the_previous_scrape_by_kind() -> None:
    metrics = monitoring.RequestMetrics(known=known)
    release = asyncio.Event()

    async def slow(_request: Any) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=200)

    handle = metrics.instrument(slow)
    reads = [asyncio.ensure_future(handle(FakeRequest("GET", "/api/v1/namespaces/a/pods"))) for _ in range(3)]
    write = asyncio.ensure_future(handle(FakeRequest("POST", "/api/v1/namespaces/a/configmaps")))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*reads, write)
    first = samples(metrics)
    assert count(first, "apiserver_current_inflight_requests", request_kind="readOnly") == 3
    assert count(first, "apiserver_current_inflight_requests", request_kind="mutating") == 1
    assert count(samples(metrics), "apiserver_current_inflight_requests") == 0  # nothing since


async def test_made_up_resources_share_one_series() -> None:
    metrics = monitoring.RequestMetrics(known=known)
    handle = metrics.instrument(answering(404))
    for i in range(50):
        await handle(FakeRequest("GET", f"/api/v1/namespaces/a/made-up-{i}"))
        await handle(FakeRequest("GET", f"/apis/group-{i}.example.com/v1/things"))
    found = samples(metrics)
    assert len([k for k in found if k[0] == "apiserver_request_total"]) == 1
    assert count(found, "apiserver_request_total", subresource="other", resource="", code="404") == 100


async def test_a_resource_served_later_gets_its_own_series() -> None:
    served: set[str] = set()

    def crds(group: str, version: str, resource: str, subresource: str) -> bool:
        return resource in served

    metrics = monitoring.RequestMetrics(known=crds)
    handle = metrics.instrument(answering(200))
    request = FakeRequest("GET", "/apis/example.com/v1/widgets")
    await handle(request)
    served.add("widgets")  # the CRD is established
    await handle(request)
    found = samples(metrics)
    assert count(found, "apiserver_request_total", subresource="other") == 1
    assert count(found, "apiserver_request_total", verb="LIST", group="example.com", resource="widgets") == 1


def test_served_resources_are_the_schemes_the_routers_extra_and_the_bulk_apis() -> None:
    from kubelite.api import scheme
    from kubelite.apiserver import metrics as metrics_api

    known = monitoring.served(scheme.Scheme(), list(metrics_api.RESOURCES))
    assert known("", "v1", "pods", "binding") and known("apps", "v1", "deployments", "scale")
    assert known("metrics.k8s.io", "v1beta1", "pods", "")
    assert known("bulk.kubelite.io", "v1", "bindings", "")
    assert not known("", "v1", "pods", "made-up") and not known("", "v2", "pods", "")
    assert not known("bulk.kubelite.io", "v1", "pods", "") and not known("example.com", "v1", "widgets", "")


async def test_status_errors_answered_by_the_chain_are_counted_with_their_code() -> None:
    metrics = monitoring.RequestMetrics(known=known)

    async def refuse(_request: Any) -> web.StreamResponse:  # what app.make_handler answers for a 429
        exc = errors.TooManyRequests("busy", retry_after=1)
        return web.Response(status=exc.code)

    await metrics.instrument(refuse)(FakeRequest("POST", "/api/v1/namespaces/a/configmaps"))
    assert count(samples(metrics), "apiserver_request_total", verb="POST", resource="configmaps", code="429") == 1


async def test_recording_costs_a_few_microseconds_per_request() -> None:
    """The recorder's own cost: an instrumented trivial handler against the bare one, over
    the paths the scheduler benchmark sends most (creates, status updates, gets)."""
    metrics = monitoring.RequestMetrics(known=known)
    inner = answering(201)
    handle = metrics.instrument(inner)
    requests = [FakeRequest("POST", "/api/v1/namespaces/bench/pods"),
                FakeRequest("PUT", "/api/v1/namespaces/bench/pods/p-17/status"),
                FakeRequest("GET", "/api/v1/namespaces/bench/configmaps/c-3")]
    rounds = 20_000

    async def timed(fn: Any) -> float:
        start = time.perf_counter()
        for _ in range(rounds):
            for r in requests:
                await fn(r)
        return (time.perf_counter() - start) / (rounds * len(requests))

    bare = min([await timed(inner) for _ in range(3)])
    recorded = min([await timed(handle) for _ in range(3)])
    cost_ns = (recorded - bare) * 1e9
    print(f"\nrequest recording: {cost_ns:.0f} ns per request (bare handler {bare * 1e9:.0f} ns)")
    # generous for a loaded 2-core CI machine; ~1-3 µs is the usual figure
    assert cost_ns < 15_000
