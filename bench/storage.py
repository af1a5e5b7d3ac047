"""Storage benchmark: creates per second at several numbers of concurrent writers.

Run: ``python bench/storage.py [--seconds 2] [--value-size 1024]``. Prints one JSON line per
result, e.g. ``{"bench": "storage", "backend": "sqlite", "op": "create", "writers": 32, …}``.
Each run uses a fresh database in a temporary directory; the whole script takes < 20 s.
The etcd backend joins here once it exists.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

from kubelite import storage

WRITERS = (1, 32, 256)


async def creates_per_second(url: str, *, writers: int, seconds: float,
                             value_size: int) -> dict[str, object]:
    backend = await storage.open_backend(url)
    value = b"x" * value_size
    counter = itertools.count()
    deadline = time.perf_counter() + seconds
    done = 0

    async def writer(worker: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await backend.create(f"/registry/bench/{worker}/{next(counter)}", value)
            done += 1

    try:
        started = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(writers)))
        elapsed = time.perf_counter() - started
        result: dict[str, object] = {
            "bench": "storage", "backend": url.split(":", 1)[0], "op": "create",
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
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each run")
    parser.add_argument("--value-size", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubelite-bench-") as tmp:
        for writers in WRITERS:
            url = f"sqlite://{Path(tmp) / f'w{writers}' / 'state.db'}"
            result = await creates_per_second(url, writers=writers, seconds=args.seconds,
                                              value_size=args.value_size)
            result["loop"] = type(asyncio.get_running_loop()).__module__.split(".")[0]
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    try:
        import uvloop  # the server runs on uvloop when installed; measure what it runs
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    sys.exit(0)
