"""Storage benchmark: creates per second at several numbers of concurrent writers.

Run: ``python bench/storage.py [--backend sqlite|etcd] [--seconds 2] [--value-size 1024]``.
Prints one JSON line per result, e.g.
``{"bench": "storage", "backend": "sqlite", "op": "create", "writers": 32, …}``.
SQLite: each run uses a fresh database in a temporary directory. etcd: ``--etcd-url
etcd://…`` benchmarks that cluster (keys under a fresh ``/registry/bench-<uid>/``); without
it the script starts a local cluster of ``--etcd-members`` members (default 1; etcd's
default settings, data in a temporary directory) and stops it afterwards. Each backend
takes < 20 s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kubelite import storage

WRITERS = (1, 32, 256)


async def creates_per_second(url: str, *, writers: int, seconds: float, value_size: int,
                             root: str = "/registry/bench/") -> dict[str, object]:
    backend = await storage.open_backend(url)
    value = b"x" * value_size
    counter = itertools.count()
    deadline = time.perf_counter() + seconds
    done = 0

    async def writer(worker: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await backend.create(f"{root}{worker}/{next(counter)}", value)
            done += 1

    try:
        started = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(writers)))
        elapsed = time.perf_counter() - started
        result: dict[str, object] = {
            "bench": "storage", "backend": url.split(":", 1)[0].rstrip("s"), "op": "create",
            "writers": writers, "value_bytes": value_size, "ops": done,
            "seconds": round(elapsed, 3), "ops_per_s": round(done / elapsed),
        }
        stats = getattr(backend, "stats", None)
        if stats is not None:  # SQLite: how well group commit batched
            result["transactions"] = stats.transactions
            result["ops_per_transaction"] = round(stats.ops / max(1, stats.transactions), 1)
    finally:
        await backend.close()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "etcd"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each run")
    parser.add_argument("--value-size", type=int, default=1024)
    parser.add_argument("--etcd-url", default="", help="an existing cluster (etcd://h:p,…)")
    parser.add_argument("--etcd-members", type=int, default=1,
                        help="members of the local cluster started when --etcd-url is not given")
    args = parser.parse_args()
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    with tempfile.TemporaryDirectory(prefix="kubelite-bench-") as tmp:
        cluster = None
        if args.backend == "etcd" and not args.etcd_url:
            from tests.support import etcd

            cluster = etcd.EtcdCluster(Path(tmp) / "etcd", members=args.etcd_members)
            await asyncio.to_thread(cluster.start)
        try:
            for writers in WRITERS:
                extra: dict[str, object] = {}
                if args.backend == "sqlite":
                    url = f"sqlite://{Path(tmp) / f'w{writers}' / 'state.db'}"
                    root = "/registry/bench/"
                else:
                    url = args.etcd_url or (cluster.url if cluster else "")
                    root = f"/registry/bench-{uuid.uuid4().hex[:8]}/"
                    extra["etcd_members"] = (len(cluster.nodes) if cluster
                                             else len(storage.etcd_config(url).endpoints))
                result = await creates_per_second(url, writers=writers, seconds=args.seconds,
                                                  value_size=args.value_size, root=root)
                result.update(extra)
                result["loop"] = loop
                print(json.dumps(result), flush=True)
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    try:
        import uvloop  # the server runs on uvloop when installed; measure what it runs
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    sys.exit(0)
