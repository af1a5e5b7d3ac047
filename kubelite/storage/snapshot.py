"""Snapshots of a datastore, and restoring them into any backend (SQLite ⇄ etcd migration).

``kubelite datastore snapshot`` and ``kubelite datastore restore`` (``kubelite.cli``) call
these. A snapshot is backend-neutral: a gzip'd JSON-lines file with a header line and one
line per key (key, base64 value), read at one revision so it is consistent. Restoring
writes every key into an *empty* datastore; objects keep their contents (uids, names,
timestamps), and get new resourceVersions from the target store's revision counter — the
same thing that happens when upstream restores etcd into a fresh cluster, and why clients
re-list after a restore.
"""

from __future__ import annotations

import base64
import datetime
import gzip
from dataclasses import dataclass
from pathlib import Path

import orjson

from kubelite.storage import interface

FORMAT = "kubelite-snapshot/1"
REGISTRY = "/registry/"
PAGE = 1000


class SnapshotError(Exception):
    pass


@dataclass
class SnapshotInfo:
    keys: int
    revision: int
    path: Path


async def snapshot(backend: interface.StorageBackend, path: Path) -> SnapshotInfo:
    """Write every key under ``/registry/`` at one revision to ``path`` (atomically)."""
    tmp = path.with_name(path.name + ".tmp")
    count, revision, start = 0, 0, ""
    with gzip.open(tmp, "wb") as out:
        first = await backend.list(REGISTRY, start_key=start, limit=PAGE, revision=0)
        revision = first.revision
        header = {"format": FORMAT, "revision": revision,
                  "created": datetime.datetime.now(datetime.UTC).isoformat()}
        out.write(orjson.dumps(header) + b"\n")
        page = first
        while True:
            for kv in page.items:
                out.write(orjson.dumps({"k": kv.key, "v": base64.b64encode(kv.value).decode()}) + b"\n")
                count += 1
            if not page.more or not page.items:
                break
            start = page.items[-1].key + "\x00"
            # The same revision on every page: one consistent view while writes go on.
            page = await backend.list(REGISTRY, start_key=start, limit=PAGE, revision=revision)
    tmp.replace(path)
    return SnapshotInfo(keys=count, revision=revision, path=path)


async def restore(backend: interface.StorageBackend, path: Path) -> SnapshotInfo:
    """Load a snapshot into ``backend``, which must hold no ``/registry/`` keys yet."""
    existing = await backend.list(REGISTRY, limit=1)
    if existing.items:
        raise SnapshotError("the target datastore is not empty; restore needs an empty one "
                            f"(found {existing.items[0].key})")
    count = 0
    with gzip.open(path, "rb") as src:
        header = orjson.loads(src.readline() or b"{}")
        if header.get("format") != FORMAT:
            raise SnapshotError(f"{path} is not a kubelite snapshot (format {header.get('format')!r})")
        batch: list[tuple[str, bytes]] = []
        for line in src:
            item = orjson.loads(line)
            batch.append((item["k"], base64.b64decode(item["v"])))
            if len(batch) >= PAGE:
                count += await _write(backend, batch)
                batch = []
        count += await _write(backend, batch)
    return SnapshotInfo(keys=count, revision=int(header.get("revision", 0)), path=path)


async def _write(backend: interface.StorageBackend, batch: list[tuple[str, bytes]]) -> int:
    import asyncio

    # Concurrent creates share commits (group commit on SQLite, pipelining on etcd).
    await asyncio.gather(*(backend.create(key, value) for key, value in batch))
    return len(batch)
