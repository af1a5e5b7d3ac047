"""The SQLite store against a model of etcd's semantics, on random histories (hypothesis).

Its index by key lives in memory (``storage/keyindex.py``) and compaction prunes from it,
so every read at every kept revision is checked against a plain record of each key's
writes: get, paged lists with ``remainingItemCount``, watches replayed from a kept
revision, and the same after reopening.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubelite.storage import errors
from kubelite.storage import sqlite as sqlite_backend

KEYS = ["/m/a", "/m/b", "/m/c", "/m/d", "/n/a"]

# (op, key index, compact target as a fraction of the history)
ops = st.lists(st.tuples(st.sampled_from(["put", "put", "delete", "compact"]),
                         st.integers(0, len(KEYS) - 1), st.floats(0, 1)),
               min_size=1, max_size=40)


class Model:
    """Each key's writes: (revision, value or None for a deletion)."""

    def __init__(self) -> None:
        self.writes: dict[str, list[tuple[int, bytes | None]]] = {k: [] for k in KEYS}
        self.revision = 0
        self.compacted = 0

    def state(self, key: str, at: int) -> tuple[bytes, int] | None:
        found = [(rev, value) for rev, value in self.writes[key] if rev <= at]
        if not found or found[-1][1] is None:
            return None
        return found[-1][1], found[-1][0]  # type: ignore[return-value]

    def live(self, prefix: str, at: int) -> list[tuple[str, bytes, int]]:
        return [(k, *s) for k in sorted(KEYS) if k.startswith(prefix) and (s := self.state(k, at))]


async def _play(path: str, history: list[tuple[str, int, float]]) -> None:
    model = Model()
    store = await sqlite_backend.SQLiteBackend.open(path)
    try:
        for step, (op, k, fraction) in enumerate(history):
            key = KEYS[k]
            current = model.state(key, model.revision)
            if op == "put":
                value = f"{key}@{step}".encode()
                if current is None:
                    rev = await store.create(key, value)
                else:
                    rev = await store.update(key, value, expected_revision=current[1])
                model.writes[key].append((rev, value))
            elif op == "delete":
                if current is None:
                    with pytest.raises(errors.KeyNotFound):
                        await store.delete(key)
                    continue
                rev, _ = await store.delete(key, expected_revision=current[1])
                model.writes[key].append((rev, None))
            else:
                target = model.compacted + int((model.revision - model.compacted) * fraction)
                if target > model.compacted:
                    await store.compact(target)
                    model.compacted = target
                continue
            assert rev == model.revision + 1
            model.revision = rev
            await _check(store, model)
        await store.close()
        store = await sqlite_backend.SQLiteBackend.open(path)
        await _check(store, model)
    finally:
        await store.close()


async def _check(store: sqlite_backend.SQLiteBackend, model: Model) -> None:
    for at in range(max(1, model.compacted), model.revision + 1):
        for key in KEYS:
            kv = await store.get(key, revision=at)
            state = model.state(key, at)
            assert (None if kv is None else (kv.value, kv.mod_revision)) == state, (key, at)
        for prefix in ("/m/", "/"):
            expected = model.live(prefix, at)
            got = await store.list(prefix, revision=at)
            assert [(kv.key, kv.value, kv.mod_revision) for kv in got.items] == expected, (prefix, at)
    # Paging at the newest revision, with the count of what is left.
    expected = model.live("/", model.revision)
    page = await store.list("/", limit=2)
    assert [kv.key for kv in page.items] == [k for k, *_ in expected[:2]]
    assert page.more == (len(expected) > 2)
    if page.more:
        assert page.count == len(expected) - 2
    if model.compacted > 1:
        with pytest.raises(errors.Compacted):
            await store.get(KEYS[0], revision=model.compacted - 1)
    await _check_replays(store, model)


async def _check_replays(store: sqlite_backend.SQLiteBackend, model: Model) -> None:
    """A watch from any kept revision replays exactly the writes since, in order: a
    deletion carries the key's last value."""
    writes = sorted((rev, key, value) for key in KEYS for rev, value in model.writes[key])
    for start in sorted({max(1, model.compacted + 1), model.revision, (model.compacted + model.revision) // 2 + 1}):
        if start > model.revision or start <= model.compacted:
            continue
        for prefix in ("/m/", "/"):
            expected = []
            for rev, key, value in writes:
                if rev >= start and key.startswith(prefix):
                    last = model.state(key, rev - 1)
                    expected.append(("DELETE", key, last[0] if last else None, rev) if value is None
                                    else ("PUT", key, value, rev))
            seen: list[tuple[str, str, bytes | None, int]] = []
            if expected:
                watch = store.watch(prefix, start_revision=start)
                try:
                    async with asyncio.timeout(10):
                        async for batch in watch:
                            seen += [(ev.type.value, ev.kv.key, ev.kv.value, ev.revision) for ev in batch]
                            if seen and seen[-1][3] >= expected[-1][3]:
                                break
                finally:
                    await watch.aclose()
            assert seen == expected, (prefix, start)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_every_read_at_every_kept_revision_matches_the_model(history: list[tuple[str, int, float]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_play(str(Path(tmp) / "model.db"), history))
