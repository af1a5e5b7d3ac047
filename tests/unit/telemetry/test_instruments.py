"""kubelite's lock-free instruments expose what prometheus_client's own would: cumulative
histogram buckets with le bounds, counters with _total, and the process collectors."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from kubelite.telemetry import http as telemetry_http
from kubelite.telemetry import instruments


def exposition(*collectors: object) -> dict[str, object]:
    registry = instruments.new_registry()
    for c in collectors:
        registry.register(c)  # type: ignore[arg-type]
    text = instruments.render(registry).decode()
    return {s.name + str(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_histogram_buckets_are_cumulative_with_value_on_a_bound_in_that_bucket() -> None:
    h = instruments.HistogramVec("x_seconds", "help", ("op",), buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(("get",), v)
    found = exposition(h)
    assert found["x_seconds_bucket[('le', '0.1'), ('op', 'get')]"] == 2
    assert found["x_seconds_bucket[('le', '1.0'), ('op', 'get')]"] == 3
    assert found["x_seconds_bucket[('le', '+Inf'), ('op', 'get')]"] == 4
    assert found["x_seconds_count[('op', 'get')]"] == 4
    assert abs(found["x_seconds_sum[('op', 'get')]"] - 3.65) < 1e-9  # type: ignore[operator]


def test_counters_gauges_and_runtime_collectors() -> None:
    c = instruments.CounterVec("things_total", "help", ("kind",))
    c.inc(("a",))
    c.inc(("a",), 2)
    g = instruments.GaugeVec("level", "help", ("queue",), source=lambda: {("active",): 7})
    found = exposition(c, g)
    assert found["things_total[('kind', 'a')]"] == 3
    assert found["level[('queue', 'active')]"] == 7
    assert found["process_resident_memory_bytes[]"] > 0  # type: ignore[operator]
    assert any(k.startswith("python_gc_collections_total") for k in found)


def test_exponential_buckets_match_prometheus() -> None:
    assert instruments.exponential_buckets(0.001, 2, 4) == (0.001, 0.002, 0.004, 0.008)


def test_metrics_addresses() -> None:
    assert telemetry_http.parse_address("127.0.0.1:10259") == ("127.0.0.1", 10259)
    assert telemetry_http.parse_address("[::1]:9000") == ("::1", 9000)
    assert telemetry_http.parse_address("") is None
    assert telemetry_http.parse_address("127.0.0.1:0") is None
    for bad in ("10259", "host:port", "h:70000"):
        try:
            telemetry_http.parse_address(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
