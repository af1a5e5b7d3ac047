"""Scheduler benchmark shaped like upstream scheduler_perf, against a real kubelite server.

Run: ``python bench/scheduler.py [--quick] [--workload NAME …] [--scheduler separate|in-process]
[--repeat N] [--names generated|sequential]``.
Each workload starts a fresh ``kubelite server`` (controllers off), creates simulated
nodes directly as Node objects (status written, no agent), creates the pre-placed pods
already bound (``spec.nodeName``), then creates the measured pods as fast as it can, each
from scheduler_perf's pod template (``generateName: pod-``, so the server draws a random
name for each, as for every ReplicaSet's pods; ``--names sequential`` sends pod-0, pod-1, …
instead, what the first eight sessions measured: keys in order cost the store less)
(``bench/loadgen.py``: pre-encoded requests on keep-alive connections, so the load
generator takes little of the cores the server and scheduler share) and notes when each is
bound: as scheduler_perf, through the scheduler's own pod informer (``schedobserve.py`` runs
the scheduler and reports each binding it sees over a pipe), or with ``--observer watch``
through a watch of its own. Prints one JSON line per workload::

    {"bench": "scheduler", "workload": "SchedulingBasic/5000Nodes_10000Pods", "nodes": 5000,
     "pods": 10000, "pods_per_s": …, "latency_p50_ms": …, "latency_p99_ms": …, …}

``pods_per_s`` counts from the first measured create to the last binding seen in the
watch (persisted). ``throughput_avg`` is scheduler_perf's own statistic on the same
bindings, the one its CI thresholds apply to: the average of one-second samples of the
bindings seen, the first tick and the unfinished last interval left out
(``scheduling_throughput``); ``throughput_samples`` how many samples it had. Latency is per pod, from its create returning to its binding being
seen. ``cpu_us_per_pod`` is the CPU each process (server, scheduler, load generator) used
per measured pod (the server's includes its SQLite writer process, also shown alone as
``server_writer``), and ``server_loop`` the part of the server's that its event loop thread
used (one core at most); ``machine_cpu_busy`` the share of the machine's CPU in use
meanwhile; ``machine_speed_mloops`` how fast one core ran a trivial Python loop just before
(the machine's speed drifts).
``--scheduler separate`` (default) runs the scheduler as its own process (the
server started with ``--disable-scheduler``), as kube-scheduler runs beside
kube-apiserver; ``in-process`` uses the scheduler inside ``kubelite server``.
``--quick`` divides every size by 10. ``--repeat N`` runs each workload N times, each on a
fresh server (not with ``--algorithm``), and then prints a ``scheduler-summary`` line with the median, best and worst
pods/s. ``--algorithm`` skips the API entirely and times
the scheduler's decisions alone (filter + score + assume, in one process) on the same
shapes: the ceiling the scheduler could reach with an infinitely fast API server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubelite.client import config, resources, rest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import loadgen
from tests.support import processes

# name → (nodes, pre-placed pods, measured pods, pod shape)
WORKLOADS: dict[str, tuple[int, int, int, str]] = {
    "SchedulingBasic/5000Nodes_10000Pods": (5000, 1000, 10000, "basic"),
    "SchedulingBasic/5000Nodes_50000Pods": (5000, 5000, 50000, "basic"),
    "SchedulingPodAntiAffinity/5000Nodes": (5000, 1000, 1000, "anti-affinity"),
    "SchedulingPodTopologySpreading/5000Nodes": (5000, 1000, 5000, "spread"),
}
ZONES = 10


def node_body(i: int) -> dict[str, Any]:
    name = f"sim-{i:05d}"
    alloc = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "topology.kubernetes.io/zone": f"zone-{i % ZONES}"}},
            "status": {"capacity": alloc, "allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod_body(name: str, shape: str, *, node: str = "") -> dict[str, Any]:
    """A pod as scheduler_perf's templates make it (``templates/pod-default.yaml``: port 80,
    requests equal to limits); without ``name``, ``generateName: pod-`` as there, so the
    server picks a random name, as it does for every ReplicaSet's pods."""
    labels = {"app": "bench", "color": "green"}
    resources = {"cpu": "100m", "memory": "500Mi"}
    spec: dict[str, Any] = {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9",
                                            "ports": [{"containerPort": 80}],
                                            "resources": {"requests": resources, "limits": resources}}]}
    if shape == "anti-affinity":
        labels = {"app": "anti", "color": "green"}
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    elif shape == "spread":
        labels = {"app": "spread"}
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                              "whenUnsatisfiable": "DoNotSchedule",
                                              "labelSelector": {"matchLabels": {"app": "spread"}}}]
    if node:
        spec["nodeName"] = node
    meta: dict[str, Any] = {"name": name} if name else {"generateName": "pod-"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "namespace": "default", "labels": labels},
            "spec": spec}


async def create_all(client: rest.Client, res: resources.Resource, bodies: list[dict[str, Any]], *,
                     concurrency: int, on_created: Any = None) -> None:
    it = iter(bodies)

    async def worker() -> None:
        for body in it:
            await client.create(res, body)
            if on_created is not None:
                on_created(body["metadata"]["name"], time.perf_counter())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def cpu_seconds(pid: int, *, thread: int | None = None) -> float:
    """User + system CPU a process (or one of its threads) has used so far (from /proc; 0
    where unreadable)."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread is not None else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the server's SQLite writer process)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def scheduling_throughput(bound_at: list[float], start: float, interval: float = 1.0) -> list[float]:
    """scheduler_perf's ``SchedulingThroughput`` samples (``throughputCollector`` in
    ``test/integration/scheduler_perf/util.go``), computed from the times the bindings were
    seen: a tick every ``interval`` from ``start``; the first tick with a pod scheduled only
    sets the base; an interval with no new binding is held over and its rate recorded once
    for each interval it spans; the ticks stop with the last binding, so the part after the
    last whole interval is not sampled. Its thresholds (680 and 810 pods/s for the basic
    workloads) are on the ``Average`` of these samples."""
    times = sorted(bound_at)
    samples: list[float] = []
    if not times:
        return samples
    base: int | None = None
    base_at = start
    skipped = 0
    seen = 0
    tick = start + interval
    while tick <= times[-1]:
        while seen < len(times) and times[seen] <= tick:
            seen += 1
        if seen == 0:
            pass
        elif base is None:
            base, base_at = seen, tick
        elif seen == base:
            skipped += 1
        else:
            samples += [(seen - base) / (tick - base_at)] * (skipped + 1)
            base, base_at, skipped = seen, tick, 0
        tick += interval
    return samples


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def measure(cfg: config.ClientConfig, *, workload: str, nodes: int, init: int, pods: int,
                  shape: str, concurrency: int, timeout: float, pids: dict[str, int],
                  names: str = "generated", observed_fd: int | None = None) -> dict[str, Any]:
    """``observed_fd``: the pipe on which the scheduler process reports the bindings its
    own informer sees (``schedobserve.py``); without it, a watch of the harness's own."""
    async with rest.Client(cfg, pool_size=concurrency + 16) as client:
        t0 = time.perf_counter()
        await create_all(client, resources.NODES, [node_body(i) for i in range(nodes)], concurrency=concurrency)
        t_nodes = time.perf_counter() - t0
        # Pre-placed pods land round-robin, already bound, as scheduler_perf's init pods end up.
        init_shape = shape if shape != "spread" else "basic"
        await create_all(client, resources.PODS,
                         [pod_body(f"init-{i}", init_shape, node=f"sim-{i % nodes:05d}") for i in range(init)],
                         concurrency=concurrency)
        listed = await client.list(resources.PODS, namespace="default", limit=1)
        rv = listed["metadata"]["resourceVersion"]
        created: dict[str, float] = {}
        bound: dict[str, float] = {}
        done = asyncio.Event()

        async def watch() -> None:
            # Only bound pods: each measured pod is one event here (ADDED once it matches),
            # not its creation and its binding both.
            nonlocal rv
            while not done.is_set():
                events = loadgen.watch_objects(cfg, path="/api/v1/namespaces/default/pods", resource_version=rv,
                                               field_selector="spec.nodeName!=", decode=loadgen.event_head)
                async with contextlib.aclosing(events) as stream:
                    async for kind, obj in stream:
                        md = obj["metadata"]
                        rv = md.get("resourceVersion", rv)
                        name = md["name"]
                        if kind != "DELETED" and name.startswith("pod-") and name not in bound:
                            bound[name] = time.monotonic()
                            if len(bound) >= pods:
                                done.set()
                                return

        async def read_observed(fd: int) -> None:
            # Lines "name monotonic-time" from the scheduler process (schedobserve.py).
            reader = asyncio.StreamReader(limit=1 << 20)
            transport, _ = await asyncio.get_running_loop().connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
            try:
                while not done.is_set():
                    line = await reader.readline()
                    if not line:
                        return
                    name, _, at = line.decode().partition(" ")
                    bound.setdefault(name, float(at))
                    if len(bound) >= pods:
                        done.set()
            finally:
                transport.close()

        watcher = asyncio.get_running_loop().create_task(
            watch() if observed_fd is None else read_observed(observed_fd))
        host = cfg.servers[0].split("://", 1)[1]
        path = "/api/v1/namespaces/default/pods"
        if names == "generated":  # one request, sent again and again; the answer names the pod
            request = loadgen.encode_create(host=host, path=path, token=cfg.bearer_token(), body=pod_body("", shape))
            prepared = [("", request)] * pods
        else:
            prepared = [(f"pod-{i}", loadgen.encode_create(host=host, path=path, token=cfg.bearer_token(),
                                                           body=pod_body(f"pod-{i}", shape))) for i in range(pods)]
        # The server's SQLite writer is a child process of its own: counted with the server.
        writer_pids = children(pids["server"])
        cpu0 = {role: cpu_seconds(pid) for role, pid in pids.items()}
        cpu0["server_writer"] = sum(cpu_seconds(pid) for pid in writer_pids)
        # The server's event loop thread (its main thread) alone: one core at most.
        loop0 = cpu_seconds(pids["server"], thread=pids["server"])
        ticks0 = machine_ticks()
        start = time.monotonic()
        await loadgen.create_all(cfg, prepared, concurrency=concurrency,
                                 on_created=lambda n: created.__setitem__(n, time.monotonic()))
        create_end = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
        end = max(bound.values()) if bound else time.monotonic()
        ticks1 = machine_ticks()
        # CPU each process spent per measured pod (µs): where a 2-core machine's time goes.
        cpu_us = {role: round((cpu_seconds(pid) - cpu0[role]) * 1e6 / max(1, len(bound)))
                  for role, pid in pids.items()}
        writer_us = round((sum(cpu_seconds(pid) for pid in writer_pids) - cpu0["server_writer"]) * 1e6
                          / max(1, len(bound)))
        cpu_us["server"] += writer_us
        cpu_us["server_writer"] = writer_us
        cpu_us["server_loop"] = round((cpu_seconds(pids["server"], thread=pids["server"]) - loop0) * 1e6
                                      / max(1, len(bound)))
        lat = [(bound[n] - created[n]) * 1000 for n in bound if n in created]
        sampled = scheduling_throughput(list(bound.values()), start)
        return {"bench": "scheduler", "workload": workload, "nodes": nodes, "init_pods": init, "pods": pods,
                "names": names, "bound": len(bound), "pods_per_s": round(len(bound) / (end - start), 1),
                "throughput_avg": round(statistics.fmean(sampled), 1) if sampled else None,
                "throughput_samples": len(sampled),
                "create_per_s": round(pods / (create_end - start), 1),
                "latency_p50_ms": round(percentile(lat, 0.5), 1), "latency_p99_ms": round(percentile(lat, 0.99), 1),
                "node_setup_s": round(t_nodes, 1), "duration_s": round(end - start, 2),
                "cpu_us_per_pod": cpu_us,
                "machine_cpu_busy": round((ticks1[0] - ticks0[0]) / max(1, ticks1[1] - ticks0[1]), 2)}


def machine_speed(seconds: float = 0.5) -> float:
    """Millions of turns of a trivial Python loop per second, on one core: this machine's
    speed drifts by ±20 % from one minute to the next (a shared host), so each result
    carries it, and results are compared at equal speed or in alternating runs."""
    start = time.perf_counter()
    turns = 0
    while time.perf_counter() - start < seconds:
        turns += 1
    return round(turns / seconds / 1e6, 2)


def run_workload(name: str, *, quick: bool, mode: str, concurrency: int, timeout: float,
                 names: str = "generated", observer: str = "informer") -> dict[str, Any]:
    nodes, init, pods, shape = WORKLOADS[name]
    speed = machine_speed()
    if quick:
        nodes, init, pods = nodes // 10, init // 10, pods // 10
    with tempfile.TemporaryDirectory(prefix="kubelite-sched-bench-") as tmp:
        # Without ServiceAccount admission, as upstream's scheduler_perf runs its apiserver:
        # its pods carry no token volume, and the cost measured is the scheduler's.
        extra = ["--disable-controllers", "--disable-admission-plugins=ServiceAccount"] + \
            (["--disable-scheduler"] if mode == "separate" else [])
        srv = processes.ServerProcess(data_dir=Path(tmp) / "server", extra_args=extra)
        srv.start()
        sched: subprocess.Popen[bytes] | None = None
        observed_fd: int | None = None
        report_fd: int | None = None
        try:
            if mode == "separate":
                if observer == "informer":  # bindings reported by the scheduler's own informer
                    observed_fd, report_fd = os.pipe()
                    argv = [sys.executable, str(Path(__file__).resolve().parent / "schedobserve.py"),
                            str(srv.kubeconfig), str(report_fd)]
                else:
                    code = ("import asyncio, uvloop; from kubelite.client import config; "
                            "from kubelite.scheduler import runner; uvloop.install(); "
                            f"asyncio.run(runner.run(config.load_kubeconfig({str(srv.kubeconfig)!r}), "
                            "identity='bench'))")
                    argv = [sys.executable, "-c", code]
                # The child keeps its own copy of the log's descriptor.
                with open(Path(tmp) / "scheduler.log", "wb") as log:
                    sched = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                             pass_fds=(report_fd,) if report_fd is not None else (),
                                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
                if report_fd is not None:
                    os.close(report_fd)  # the scheduler's end
            pids = {"server": srv.proc.pid if srv.proc else 0, "load": os.getpid()}
            if sched is not None:
                pids["scheduler"] = sched.pid
            cfg = config.load_kubeconfig(str(srv.kubeconfig))
            cfg.qps, cfg.burst = 0, 0  # the benchmark must not throttle itself
            result = asyncio.run(measure(cfg, workload=name, nodes=nodes, init=init, pods=pods, shape=shape,
                                         concurrency=concurrency, timeout=timeout, pids=pids, names=names,
                                         observed_fd=observed_fd))
            result["scheduler"] = mode
            result["observer"] = "informer" if observed_fd is not None else "watch"
            result["machine_speed_mloops"] = speed
            result["quick"] = quick
            return result
        finally:
            if sched is not None:
                sched.terminate()
                sched.wait(timeout=10)
            srv.stop()


def algorithm_only(name: str, *, quick: bool) -> dict[str, Any]:
    from kubelite.scheduler import cache as cache_mod
    from kubelite.scheduler import framework, plugins

    nodes, init, pods, shape = WORKLOADS[name]
    if quick:
        nodes, init, pods = nodes // 10, init // 10, pods // 10
    cache = cache_mod.NodeCache()
    for i in range(nodes):
        cache.set_node(node_body(i))
    for i in range(init):
        body = pod_body(f"init-{i}", shape if shape != "spread" else "basic", node=f"sim-{i % nodes:05d}")
        cache.add_pod(cache_mod.pod_info(body, node=body["spec"]["nodeName"]))
    fw = plugins.default_profile()
    bodies = [pod_body(f"pod-{i}", shape) for i in range(pods)]
    placed = 0
    lat: list[float] = []
    start = time.perf_counter()
    for body in bodies:
        t = time.perf_counter()
        info = cache_mod.pod_info(body, node="")
        result = fw.schedule(framework.CycleState(body, info), cache)
        if result.node:
            info.node, info.assumed = result.node, True
            cache.add_pod(info)
            placed += 1
        lat.append((time.perf_counter() - t) * 1000)
    dt = time.perf_counter() - start
    return {"bench": "scheduler-algorithm", "workload": name, "nodes": nodes, "init_pods": init, "pods": pods,
            "placed": placed, "decisions_per_s": round(pods / dt, 1),
            "decision_p50_ms": round(percentile(lat, 0.5), 3), "decision_p99_ms": round(percentile(lat, 0.99), 3),
            "quick": quick}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every size divided by 10")
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS), help="default: all")
    parser.add_argument("--scheduler", choices=("separate", "in-process"), default="separate")
    parser.add_argument("--concurrency", type=int, default=64, help="creates in flight")
    parser.add_argument("--algorithm", action="store_true", help="time decisions only, no API server")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for bindings")
    parser.add_argument("--names", choices=("generated", "sequential"), default="generated",
                        help="measured pods named by the server from generateName (scheduler_perf's template),"
                             " or pod-0, pod-1, … (what sessions 1-8 measured)")
    parser.add_argument("--observer", choices=("informer", "watch"), default="informer",
                        help="how bindings are seen: by the scheduler's own pod informer, as"
                             " scheduler_perf's throughput collector does (separate scheduler only), or by"
                             " a watch stream of the harness's own (what sessions 1-10 measured)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each workload; with more than one, a summary line follows them")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    for name in args.workload or list(WORKLOADS):
        if args.algorithm:
            print(json.dumps(algorithm_only(name, quick=args.quick)), flush=True)
            continue
        runs = []
        for _ in range(args.repeat):
            result = run_workload(name, quick=args.quick, mode=args.scheduler, concurrency=args.concurrency,
                                  timeout=args.timeout, names=args.names, observer=args.observer)
            runs.append(result)
            print(json.dumps(result), flush=True)
        if args.repeat > 1:
            print(json.dumps(summary(name, runs)), flush=True)


def summary(workload: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median and best of repeated runs: this machine's speed drifts between runs, so
    one run says little (docs/benchmarks.md)."""
    rates = [r["pods_per_s"] for r in runs]
    sampled = [r["throughput_avg"] for r in runs if r.get("throughput_avg") is not None]
    return {"bench": "scheduler-summary", "workload": workload, "runs": len(rates),
            "pods_per_s_median": round(statistics.median(rates), 1), "pods_per_s_best": max(rates),
            "pods_per_s_worst": min(rates), "pods_per_s_all": rates,
            "throughput_avg_median": round(statistics.median(sampled), 1) if sampled else None,
            "throughput_avg_all": sampled}


if __name__ == "__main__":
    main()
