"""API server benchmark: creates/s, write and read latency, list time, watch delivery.

Starts a real ``kubelite server`` process (SQLite datastore, controllers and scheduler
off so only the API path is measured) and drives it over HTTPS from this process with
aiohttp, the way clients do. Prints one JSON line per result; ``--markdown FILE`` also
writes a table for docs/benchmarks.md.

    .venv/bin/python bench/api.py [--pods 5000] [--list-pods 10000] [--watchers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support import processes  # noqa: E402

TARGETS = {"creates_per_s": 3000, "write_p99_ms": 50, "watch_p99_ms": 100}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "kubelite-test/busybox:1.0",
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


class Api:
    def __init__(self, kubeconfig: Path, *, connections: int) -> None:
        cfg = yaml.safe_load(kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.url = cluster["server"]
        ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx, limit=connections),
            headers={"Authorization": f"Bearer {cfg['users'][0]['user']['token']}"})

    async def close(self) -> None:
        await self.session.close()


async def bench_creates(api: Api, *, namespace: str, count: int, concurrency: int, prefix: str) -> dict[str, Any]:
    latencies: list[float] = []
    names = iter(range(count))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for i in names:
            start = time.perf_counter()
            async with api.session.post(f"{api.url}/api/v1/namespaces/{namespace}/pods", json=pod(f"{prefix}-{i}")) as r:
                await r.read()
                if r.status != 201:
                    errors += 1
            latencies.append(time.perf_counter() - start)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {"bench": "pod_creates", "clients": concurrency, "pods": count, "seconds": round(elapsed, 2),
            "creates_per_s": round(count / elapsed), "write_p50_ms": round(pct(latencies, 0.5) * 1000, 1),
            "write_p99_ms": round(pct(latencies, 0.99) * 1000, 1), "errors": errors}


async def bench_reads(api: Api, *, namespace: str, names: list[str], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    it = iter(names)

    async def worker() -> None:
        for name in it:
            start = time.perf_counter()
            async with api.session.get(f"{api.url}/api/v1/namespaces/{namespace}/pods/{name}") as r:
                await r.read()
            latencies.append(time.perf_counter() - start)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {"bench": "pod_reads", "clients": concurrency, "reads": len(names),
            "reads_per_s": round(len(names) / elapsed), "read_p50_ms": round(pct(latencies, 0.5) * 1000, 1),
            "read_p99_ms": round(pct(latencies, 0.99) * 1000, 1)}


async def bench_list(api: Api, *, namespace: str, expected: int) -> dict[str, Any]:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        async with api.session.get(f"{api.url}/api/v1/namespaces/{namespace}/pods") as r:
            body = await r.read()
        times.append(time.perf_counter() - t0)
    items = len(json.loads(body)["items"])
    return {"bench": "list_pods", "pods": items, "expected": expected, "best_ms": round(min(times) * 1000),
            "median_ms": round(statistics.median(times) * 1000), "bytes": len(body)}


async def bench_watch(api: Api, *, namespace: str, watchers: int, updates: int) -> dict[str, Any]:
    """Each update stamps the time it was sent into an annotation; each watcher measures arrival."""
    delays: list[float] = []
    ready = 0
    done = asyncio.Event()
    seen_counts = [0] * watchers
    name = "watched"
    async with api.session.post(f"{api.url}/api/v1/namespaces/{namespace}/configmaps",
                                json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}) as r:
        rv = (await r.json())["metadata"]["resourceVersion"]

    async def watcher(i: int) -> None:
        nonlocal ready
        params = {"watch": "1", "resourceVersion": rv, "fieldSelector": f"metadata.name={name}", "timeoutSeconds": "120"}
        async with api.session.get(f"{api.url}/api/v1/namespaces/{namespace}/configmaps", params=params,
                                   timeout=aiohttp.ClientTimeout(total=180)) as resp:
            ready += 1
            async for line in resp.content:
                now = time.time()
                ev = json.loads(line)
                sent = (ev["object"]["metadata"].get("annotations") or {}).get("sent")
                if sent:
                    delays.append(now - float(sent))
                    seen_counts[i] += 1
                    if seen_counts[i] >= updates:
                        return

    tasks = [asyncio.ensure_future(watcher(i)) for i in range(watchers)]
    deadline = time.monotonic() + 30
    while ready < watchers and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for _ in range(updates):
        patch = {"metadata": {"annotations": {"sent": repr(time.time())}}}
        async with api.session.patch(f"{api.url}/api/v1/namespaces/{namespace}/configmaps/{name}", json=patch,
                                     headers={"Content-Type": "application/merge-patch+json"}) as r:
            await r.read()
        await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    done.set()
    return {"bench": "watch_delivery", "watchers": watchers, "updates": updates, "events": len(delays),
            "p50_ms": round(pct(delays, 0.5) * 1000, 1), "p99_ms": round(pct(delays, 0.99) * 1000, 1)}


async def create_namespace(api: Api, name: str) -> None:
    async with api.session.post(f"{api.url}/api/v1/namespaces",
                                json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}) as r:
        await r.read()


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    data_dir = Path(tempfile.mkdtemp(prefix="kubelite-bench-api-"))
    srv = processes.ServerProcess(data_dir=data_dir, extra_args=["--disable-controllers", "--disable-scheduler",
                                                                 "--max-requests-inflight", "2000"]).start()
    results = []
    api = Api(srv.kubeconfig, connections=max(args.clients, args.watchers) + 8)
    try:
        await create_namespace(api, "bench")
        await create_namespace(api, "bench-list")
        await bench_creates(api, namespace="bench", count=500, concurrency=args.clients, prefix="warm")
        results.append(await bench_creates(api, namespace="bench", count=args.pods, concurrency=args.clients, prefix="p"))
        results.append(await bench_reads(api, namespace="bench", names=[f"p-{i}" for i in range(args.pods)],
                                         concurrency=args.clients))
        await bench_creates(api, namespace="bench-list", count=args.list_pods, concurrency=args.clients, prefix="l")
        results.append(await bench_list(api, namespace="bench-list", expected=args.list_pods))
        results.append(await bench_watch(api, namespace="bench", watchers=args.watchers, updates=args.updates))
    finally:
        await api.close()
        srv.stop()
    return results


def markdown(results: list[dict[str, Any]]) -> str:
    by = {r["bench"]: r for r in results}
    c, rd, ls, w = by["pod_creates"], by["pod_reads"], by["list_pods"], by["watch_delivery"]
    rows = [
        ("Pod creates/s, 32 clients", f"{c['creates_per_s']}", "≥ 3,000"),
        ("Write latency p50 / p99", f"{c['write_p50_ms']} / {c['write_p99_ms']} ms", "p99 ≤ 50 ms"),
        ("Read latency p50 / p99", f"{rd['read_p50_ms']} / {rd['read_p99_ms']} ms", ""),
        (f"List {ls['pods']} pods", f"{ls['best_ms']} ms (median {ls['median_ms']} ms)", ""),
        (f"Watch delivery p50 / p99, {w['watchers']} watchers", f"{w['p50_ms']} / {w['p99_ms']} ms", "p99 ≤ 100 ms"),
    ]
    out = ["| measure | kubelite | target |", "|---|---|---|"]
    out += [f"| {a} | {b} | {t} |" for a, b, t in rows]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--list-pods", type=int, default=10000)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(run(args))
    for r in results:
        print(json.dumps(r), flush=True)
    if args.markdown:
        args.markdown.write_text(markdown(results))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
