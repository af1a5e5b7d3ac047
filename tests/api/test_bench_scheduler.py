"""The scheduler benchmark itself keeps working: its smallest run binds every pod through a
real server and scheduler process, and reports where the CPU went (``bench/scheduler.py``
with ``bench/loadgen.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lines(*args: str) -> list[dict]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "scheduler.py"), "--quick",
                          "--workload", "SchedulingBasic/5000Nodes_10000Pods", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=180, check=True)
    return [json.loads(line) for line in out.stdout.strip().splitlines()]


def _run(*args: str) -> dict:
    return _lines(*args)[-1]


def test_quick_scheduler_benchmark_binds_every_pod_and_reports_cpu() -> None:
    result = _run("--timeout", "120")
    assert result["bound"] == result["pods"] == 1000
    # as scheduler_perf: the bindings the scheduler's own informer sees, no watch of its own
    assert result["observer"] == "informer"
    # scheduler_perf's template: the server names each pod; latency needs every name the
    # creates got back to meet the same name in the watch
    assert result["names"] == "generated"
    assert result["pods_per_s"] > 0 and result["latency_p99_ms"] >= result["latency_p50_ms"] > 0
    assert set(result["cpu_us_per_pod"]) == {"server", "server_loop", "server_writer", "scheduler", "load"}
    cpu = result["cpu_us_per_pod"]
    # the writer process counts as the server; /proc counts CPU in 10 ms ticks, read at
    # slightly different moments: a few ticks over 1000 pods is 10 µs each
    assert cpu["server_loop"] + cpu["server_writer"] <= cpu["server"] + 40
    assert all(v > 0 for v in result["cpu_us_per_pod"].values())
    assert 0 < result["machine_cpu_busy"] <= 1


def test_the_harness_can_still_watch_bindings_itself() -> None:
    result = _run("--timeout", "120", "--observer", "watch")
    assert result["observer"] == "watch"
    assert result["bound"] == result["pods"] == 1000
    assert result["latency_p99_ms"] >= result["latency_p50_ms"] > 0


def test_algorithm_only_places_every_pod() -> None:
    result = _run("--algorithm")
    assert result["placed"] == result["pods"] == 1000


def test_repeated_runs_end_with_their_median_and_best() -> None:
    *runs, summary = _lines("--repeat", "2", "--timeout", "120")
    assert [r["bench"] for r in runs] == ["scheduler", "scheduler"]
    assert all(r["bound"] == 1000 for r in runs)
    rates = [r["pods_per_s"] for r in runs]
    assert summary["bench"] == "scheduler-summary" and summary["runs"] == 2
    assert summary["pods_per_s_all"] == rates
    assert summary["pods_per_s_best"] == max(rates) and summary["pods_per_s_worst"] == min(rates)
    assert summary["pods_per_s_median"] == round(sum(rates) / 2, 1)


def test_sampled_throughput_is_computed_as_scheduler_perf_does() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_scheduler", ROOT / "bench" / "scheduler.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # 1,000 bindings a second from 0.5 s to 3.5 s: the tick at 1 s only sets the base, the
    # half second after the tick at 3 s is never sampled
    steady = [0.5 + i / 1000 for i in range(3000)]
    assert [round(v) for v in bench.scheduling_throughput(steady, 0.0)] == [1000, 1000]
    # an interval with no new binding is held over: its rate is recorded for both intervals
    assert bench.scheduling_throughput([1.5, 2.2, 2.3, 4.6, 4.7, 5.01], 0.0) == [2.0, 1.0, 1.0]
    assert bench.scheduling_throughput([], 0.0) == []
