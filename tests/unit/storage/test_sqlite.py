"""The SQLite backend: the conformance suite, plus what only SQLite has (PRAGMAs, group
commit, slow watchers, compaction's pruning, URL parsing in ``open_backend``)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from kubelite import storage
from kubelite.storage import errors, sqlite_reads, sqlite_writer
from kubelite.storage import sqlite as sqlite_backend

from .conformance import OpenStore, StorageConformance, close_watch, next_events


class TestSQLite(StorageConformance):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> OpenStore:
        path = str(tmp_path / "state.db")

        async def open_store() -> storage.StorageBackend:
            return await sqlite_backend.SQLiteBackend.open(path)

        return open_store


Opener = Callable[..., Awaitable[sqlite_backend.SQLiteBackend]]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[sqlite_backend.SQLiteBackend]:
    backend = await sqlite_backend.SQLiteBackend.open(str(tmp_path / "state.db"))
    yield backend
    await backend.close()


async def test_writes_are_durable_wal_with_full_sync(store: sqlite_backend.SQLiteBackend) -> None:
    assert await store.pragma("journal_mode") == "wal"
    assert await store.pragma("synchronous") == 2  # FULL: fsync at every commit
    # Checkpoints far apart: a page written again and again is copied back once.
    assert await store.pragma("wal_autocheckpoint") == 20_000


async def test_group_commit_shares_transactions_between_concurrent_writes(
        store: sqlite_backend.SQLiteBackend) -> None:
    before = store.stats.transactions
    count = 1000
    await asyncio.gather(*(store.create(f"/g/{i}", b"x" * 1024) for i in range(count)))
    transactions = store.stats.transactions - before
    assert transactions <= count // 10, f"{count} writes took {transactions} transactions"
    assert store.stats.largest_batch > 1
    assert len((await store.list("/g/")).items) == count


async def test_a_second_batch_is_sent_while_the_first_commits_and_answers_keep_their_order(
        store: sqlite_backend.SQLiteBackend) -> None:
    watch = store.watch("/p/", start_revision=await store.current_revision() + 1)
    first = [store.start_create(f"/p/a{i}", b"v") for i in range(200)]
    await asyncio.sleep(0)  # the first batch goes to the writer at the end of this turn
    second = [store.start_create(f"/p/b{i}", b"v") for i in range(200)]
    second.append(store.start_create("/p/a0", b"w"))  # a conflict with the first batch, in the second
    await asyncio.sleep(0)
    assert len(store._inflight) == 2  # not held back until the first one is answered
    revisions = await asyncio.gather(*first, *second[:-1])
    with pytest.raises(errors.KeyExists):
        await second[-1]
    assert revisions == sorted(revisions) and len(set(revisions)) == 400
    seen: list[str] = []
    while len(seen) < 400:
        seen += [event.kv.key for event in await anext(watch)]
    assert seen == [f"/p/a{i}" for i in range(200)] + [f"/p/b{i}" for i in range(200)]
    await close_watch(watch)


async def test_a_conflicting_op_fails_alone_in_its_batch(
        store: sqlite_backend.SQLiteBackend) -> None:
    await store.create("/c/taken", b"old")
    results = await asyncio.gather(
        *(store.create(f"/c/{i}", b"v") for i in range(20)),
        store.create("/c/taken", b"new"),
        store.update("/c/missing", b"v", expected_revision=0),
        *(store.create(f"/c/{i}b", b"v") for i in range(20)),
        return_exceptions=True)
    assert isinstance(results[20], errors.KeyExists)
    assert isinstance(results[21], errors.KeyNotFound)
    assert all(isinstance(r, int) for r in results[:20] + results[22:])
    assert len((await store.list("/c/")).items) == 41


async def test_a_slow_watcher_is_ended_without_holding_up_writers(tmp_path: Path) -> None:
    store = await sqlite_backend.SQLiteBackend.open(str(tmp_path / "s.db"), watch_queue_limit=50)
    try:
        slow = store.watch("/s/")
        fast = store.watch("/s/")
        revs = []
        for i in range(100):  # nobody reads `slow` meanwhile; writes must still go through
            revs.append(await store.create(f"/s/{i}", b"v"))
            if i % 10 == 9:
                assert len(await next_events(fast, 10)) == 10
        with pytest.raises(sqlite_backend.WatchOverflow) as info:
            await anext(slow)
        assert isinstance(info.value, errors.Compacted)  # the API server answers 410: relist
        assert info.value.requested == revs[0]
        await close_watch(fast)
    finally:
        await store.close()


async def test_close_ends_open_watches(store: sqlite_backend.SQLiteBackend) -> None:
    watch = store.watch("/x/")
    waiter = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0)
    await store.close()
    with pytest.raises(errors.Unavailable):
        async with asyncio.timeout(5):
            await waiter
    with pytest.raises(errors.Unavailable):
        await store.get("/x/a")


async def test_a_watcher_that_stops_reading_is_unsubscribed(
        store: sqlite_backend.SQLiteBackend) -> None:
    watch = store.watch("/u/")
    await store.create("/u/a", b"1")
    await next_events(watch, 1)
    del watch  # dropped without aclose(), as a `break` out of `async for` does
    async with asyncio.timeout(5):
        while store._subs:
            await asyncio.sleep(0)


def _log_rows(path: Path) -> list[tuple[str, bytes]]:
    """(key, value) of every row the store's log holds, oldest first."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT key, value FROM log ORDER BY revision").fetchall()


async def test_compaction_prunes_superseded_history(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    store = await sqlite_backend.SQLiteBackend.open(str(path))
    try:
        rev = await store.create("/p/a", b"0")
        for i in range(1, 50):
            rev = await store.update("/p/a", str(i).encode(), expected_revision=rev)
        await store.create("/p/gone", b"x")
        await store.delete("/p/gone")
        last = await store.create("/p/b", b"b")
        await store.compact(last)
    finally:
        await store.close()
    assert _log_rows(path) == [("/p/a", b"49"), ("/p/b", b"b")]


async def test_revision_survives_compaction_of_a_trailing_delete(tmp_path: Path) -> None:
    path = str(tmp_path / "r.db")
    store = await sqlite_backend.SQLiteBackend.open(path)
    await store.create("/r/a", b"1")
    deleted, _ = await store.delete("/r/a")
    await store.compact(deleted)
    await store.close()
    store = await sqlite_backend.SQLiteBackend.open(path)
    try:
        assert await store.current_revision() == deleted
        assert await store.compacted_revision() == deleted
        assert await store.create("/r/a", b"2") == deleted + 1
    finally:
        await store.close()


async def test_a_store_made_with_the_kv_table_opens_without_it_and_reads_the_same(tmp_path: Path) -> None:
    """Stores of the first eight sessions also kept ``kv`` (key → newest revision), and
    those up to the tenth indexes by key on ``log``; all of it is now derived from ``log``
    and kept in memory: opening such a store drops them and every read answers as before."""
    path = tmp_path / "old.db"
    store = await sqlite_backend.SQLiteBackend.open(str(path))
    try:
        rev = await store.create("/o/a", b"1")
        await store.update("/o/a", b"2", expected_revision=rev)
        await store.create("/o/gone", b"x")
        await store.delete("/o/gone")
        await store.create("/o/b", b"b")
        before = await store.list("/o/")
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:  # what such a store held besides the log
        conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, create_revision INTEGER NOT NULL,"
                     " mod_revision INTEGER NOT NULL) WITHOUT ROWID")
        conn.execute("INSERT INTO kv VALUES ('/o/a', 1, 2), ('/o/b', 5, 5)")
        conn.execute("CREATE INDEX log_key_revision ON log (key, revision)")
        conn.execute("CREATE INDEX log_tombstones ON log (key) WHERE deleted = 1")
    store = await sqlite_backend.SQLiteBackend.open(str(path))
    try:
        after = await store.list("/o/")
        assert [(kv.key, kv.value, kv.create_revision, kv.mod_revision) for kv in after.items] == \
            [(kv.key, kv.value, kv.create_revision, kv.mod_revision) for kv in before.items] == \
            [("/o/a", b"2", 1, 2), ("/o/b", b"b", 5, 5)]
        assert await store.get("/o/gone") is None
        assert await store.create("/o/gone", b"again") == 6  # a deleted key can be made again
        with pytest.raises(errors.KeyExists):
            await store.create("/o/gone", b"twice")
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexes = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
                   if not name.startswith("sqlite_autoindex")]
    assert tables == {"log", "meta"}
    assert indexes == []  # a write appends to the log and touches no page by key


async def test_compaction_also_prunes_what_an_earlier_compaction_kept(tmp_path: Path) -> None:
    """A row that was a key's state at one compacted revision goes at a later compaction
    once a newer row of the key lies below that one (it used to be kept for good)."""
    path = tmp_path / "again.db"
    store = await sqlite_backend.SQLiteBackend.open(str(path))
    try:
        first = await store.create("/g/a", b"1")
        await store.create("/g/b", b"b")
        await store.compact(first + 1)
        second = await store.update("/g/a", b"2", expected_revision=first)
        await store.compact(second)
        assert (await store.get("/g/a")).value == b"2"  # type: ignore[union-attr]
        assert [kv.key for kv in (await store.list("/g/")).items] == ["/g/a", "/g/b"]
    finally:
        await store.close()
    assert _log_rows(path) == [("/g/b", b"b"), ("/g/a", b"2")]


async def test_reads_after_reopening_answer_from_the_rebuilt_index(tmp_path: Path) -> None:
    path = str(tmp_path / "i.db")
    store = await sqlite_backend.SQLiteBackend.open(path)
    try:
        revs = [await store.create(f"/i/{name}", name.encode()) for name in ("q", "c", "x", "a")]
        await store.update("/i/c", b"c2", expected_revision=revs[1])
        await store.delete("/i/x")
        before = await store.list("/i/", limit=2)
    finally:
        await store.close()
    store = await sqlite_backend.SQLiteBackend.open(path)
    try:
        after = await store.list("/i/", limit=2)
        assert [(kv.key, kv.value) for kv in after.items] == [(kv.key, kv.value) for kv in before.items] == \
            [("/i/a", b"a"), ("/i/c", b"c2")]
        assert after.more and after.count == 1
        old = await store.list("/i/", revision=revs[3])
        assert [(kv.key, kv.value) for kv in old.items] == [("/i/a", b"a"), ("/i/c", b"c"), ("/i/q", b"q"), ("/i/x", b"x")]
        assert await store.get("/i/x") is None
        assert (await store.get("/i/x", revision=revs[2])).value == b"x"  # type: ignore[union-attr]
        with pytest.raises(errors.KeyExists):
            await store.create("/i/q", b"again")
        with pytest.raises(errors.RevisionMismatch):
            await store.update("/i/c", b"c3", expected_revision=revs[1])
    finally:
        await store.close()


@pytest.mark.parametrize("key, end", [("/a/", "/a0"), ("", None), ("a\U0010ffff", "b"),
                                      ("\ud7ff", "\ue000")])
def test_prefix_end(key: str, end: str | None) -> None:
    assert sqlite_reads.prefix_end(key) == end


async def test_open_backend_reads_sqlite_urls(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = await storage.open_backend(f"sqlite://{tmp_path}/abs/state.db")
    await absolute.close()
    assert (tmp_path / "abs" / "state.db").exists()
    monkeypatch.chdir(tmp_path)
    relative = await storage.open_backend("sqlite://rel/state.db")
    await relative.close()
    assert (tmp_path / "rel" / "state.db").exists()


@pytest.mark.parametrize("url", ["mysql://127.0.0.1:3306", "postgres://x", "state.db",
                                 "sqlite://"])
async def test_open_backend_rejects_unknown_urls(url: str) -> None:
    with pytest.raises(ValueError, match="storage URL"):
        await storage.open_backend(url)


async def test_the_empty_prefix_covers_every_key(store: sqlite_backend.SQLiteBackend) -> None:
    keys = ["", "/a", "\U0010ffff", "z\U0010ffff"]
    revs = [await store.create(key, key.encode()) for key in keys]
    await store.update("/a", b"new", expected_revision=revs[1])
    assert [kv.key for kv in (await store.list("")).items] == sorted(keys)
    assert [kv.key for kv in (await store.list("", revision=revs[-1])).items] == sorted(keys)
    assert [kv.key for kv in (await store.list("z")).items] == ["z\U0010ffff"]
    watch = store.watch("", start_revision=revs[0])
    try:
        events = await next_events(watch, 5)
        assert [e.kv.key for e in events] == [*keys, "/a"]
    finally:
        await close_watch(watch)


async def test_writes_fail_unavailable_not_hang_when_the_writer_process_dies(tmp_path: Path) -> None:
    backend = await sqlite_backend.SQLiteBackend.open(str(tmp_path / "state.db"))
    try:
        await backend.create("/w/before", b"kept")
        backend._wproc.kill()
        with pytest.raises(errors.Unavailable):
            await asyncio.wait_for(backend.create("/w/after", b"lost"), 10)
        with pytest.raises(errors.Unavailable):  # and every later write, at once
            await asyncio.wait_for(backend.update("/w/before", b"v2", expected_revision=0), 10)
        # the owner learns the store is gone for good (the API server then exits)
        assert "writer process stopped" in await asyncio.wait_for(backend.stopped(), 10)
    finally:
        await asyncio.wait_for(backend.close(), 15)


async def test_stopped_does_not_return_for_a_healthy_store_or_an_orderly_close(tmp_path: Path) -> None:
    backend = await sqlite_backend.SQLiteBackend.open(str(tmp_path / "state.db"))
    stopped = asyncio.ensure_future(backend.stopped())
    await backend.create("/s/a", b"x")
    await asyncio.sleep(0.2)
    assert not stopped.done()
    await backend.close()
    await asyncio.sleep(0.2)
    assert not stopped.done()
    stopped.cancel()


async def test_the_writer_process_ends_with_the_store_and_commits_what_was_queued(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    backend = await sqlite_backend.SQLiteBackend.open(path)
    proc = backend._wproc
    writes = [asyncio.ensure_future(backend.create(f"/q/{i}", b"x")) for i in range(200)]
    await asyncio.sleep(0)
    await backend.close()
    assert all(w.done() and not w.exception() for w in writes)
    assert proc.poll() == 0
    reopened = await sqlite_backend.SQLiteBackend.open(path)
    try:
        assert len((await reopened.list("/q/")).items) == 200
    finally:
        await reopened.close()


async def test_a_store_that_cannot_be_opened_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(errors.Unavailable, match="cannot open"):
        await sqlite_backend.SQLiteBackend.open(str(blocker / "state.db"))


def test_a_failed_batch_leaves_the_writers_key_map_as_it_was(tmp_path: Path) -> None:
    """The writer checks creates and updates against its in-memory map of each key's newest
    row: a batch whose transaction fails must take its changes to the map back too."""
    conn, meta = sqlite_writer.open_store(str(tmp_path / "w.db"))
    try:
        writer = sqlite_writer.Writer(conn, meta)
        assert writer.run_batch([("create", "/w/a", b"1", 0)])[0] == "done"
        failed = writer.run_batch([("update", "/w/a", b"2", 1), ("create", "/w/b", b"b", 0),
                                   ("no such op", "", b"", 0)])
        assert failed[0] == "failed"
        done = writer.run_batch([("create", "/w/b", b"b", 0), ("update", "/w/a", b"2", 1)])
        assert done[0] == "done" and done[1] == [("ok", 2), ("ok", 3, b"1", 1, 1)]
    finally:
        conn.close()
