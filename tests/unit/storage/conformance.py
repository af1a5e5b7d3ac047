"""The storage conformance suite: what every ``StorageBackend`` must do (etcd v3 semantics).

Backend test modules subclass ``StorageConformance`` and provide one fixture::

    class TestSQLite(StorageConformance):
        @pytest.fixture
        def open_store(self, tmp_path):          # each call: a new backend on the SAME data
            return lambda: SQLiteBackend.open(str(tmp_path / "state.db"))

They may override ``root`` (the key prefix every test writes under) to share one store
between tests. Tests never assume an empty store: revisions are compared with the ones
the test itself saw, so a shared etcd works too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kubelite.storage import errors
from kubelite.storage.interface import Event, EventType, KeyValue, StorageBackend

OpenStore = Callable[[], Awaitable[StorageBackend]]
DEADLINE = 5.0


async def next_events(watch: AsyncIterator[list[Event]], count: int, *,
                      timeout: float = DEADLINE) -> list[Event]:
    """Exactly ``count`` events from ``watch`` (fails if more arrive in the last batch)."""
    got: list[Event] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            batch = await anext(watch)
            assert batch, "a watch batch is never empty"
            got.extend(batch)
    assert len(got) == count, [(e.type, e.kv.key, e.revision) for e in got]
    return got


async def no_more_events(watch: AsyncIterator[list[Event]], *, wait: float = 0.2) -> None:
    """Assert nothing else arrives (a bounded wait for an absence, not a sleep for state)."""
    try:
        async with asyncio.timeout(wait):
            batch = await anext(watch)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected events: {[(e.type, e.kv.key, e.revision) for e in batch]}")


async def close_watch(watch: AsyncIterator[list[Event]]) -> None:
    aclose = getattr(watch, "aclose", None)
    if aclose is not None:
        await aclose()


class StorageConformance:
    """Subclass it and provide ``open_store``; every ``test_*`` then runs on that backend."""

    @pytest.fixture
    def root(self) -> str:
        return "/conformance/"

    @pytest.fixture
    async def backend(self, open_store: OpenStore) -> AsyncIterator[StorageBackend]:
        store = await open_store()
        yield store
        await store.close()

    # ---- create / get / update / delete ---------------------------------------------------

    async def test_create_then_get(self, backend: StorageBackend, root: str) -> None:
        rev = await backend.create(f"{root}a", b"one")
        assert await backend.get(f"{root}a") == KeyValue(f"{root}a", b"one", rev, rev)
        assert await backend.get(f"{root}missing") is None

    async def test_create_of_existing_key_fails_and_keeps_value(self, backend: StorageBackend,
                                                                root: str) -> None:
        rev = await backend.create(f"{root}a", b"one")
        with pytest.raises(errors.KeyExists) as info:
            await backend.create(f"{root}a", b"two")
        assert info.value.key == f"{root}a"
        assert await backend.get(f"{root}a") == KeyValue(f"{root}a", b"one", rev, rev)
        assert await backend.current_revision() == rev  # a failed write takes no revision

    async def test_update_with_expected_revision(self, backend: StorageBackend,
                                                 root: str) -> None:
        created = await backend.create(f"{root}a", b"one")
        updated = await backend.update(f"{root}a", b"two", expected_revision=created)
        assert updated > created
        assert await backend.get(f"{root}a") == KeyValue(f"{root}a", b"two", created, updated)

    async def test_stale_update_fails_with_revision_mismatch(self, backend: StorageBackend,
                                                             root: str) -> None:
        created = await backend.create(f"{root}a", b"one")
        updated = await backend.update(f"{root}a", b"two", expected_revision=created)
        with pytest.raises(errors.RevisionMismatch) as info:
            await backend.update(f"{root}a", b"three", expected_revision=created)
        assert (info.value.expected, info.value.actual) == (created, updated)
        with pytest.raises(errors.RevisionMismatch):
            await backend.delete(f"{root}a", expected_revision=created)
        assert (await backend.get(f"{root}a")) == KeyValue(f"{root}a", b"two", created, updated)

    async def test_update_or_delete_of_missing_key_fails(self, backend: StorageBackend,
                                                         root: str) -> None:
        with pytest.raises(errors.KeyNotFound):
            await backend.update(f"{root}nope", b"x", expected_revision=0)
        with pytest.raises(errors.KeyNotFound):
            await backend.update(f"{root}nope", b"x", expected_revision=5)
        with pytest.raises(errors.KeyNotFound):
            await backend.delete(f"{root}nope")
        assert await backend.get(f"{root}nope") is None

    async def test_unconditional_update(self, backend: StorageBackend, root: str) -> None:
        created = await backend.create(f"{root}a", b"one")
        await backend.update(f"{root}a", b"two", expected_revision=0)
        third = await backend.update(f"{root}a", b"three", expected_revision=0)
        assert await backend.get(f"{root}a") == KeyValue(f"{root}a", b"three", created, third)

    async def test_delete_returns_last_value_and_key_can_be_recreated(
            self, backend: StorageBackend, root: str) -> None:
        created = await backend.create(f"{root}a", b"one")
        updated = await backend.update(f"{root}a", b"two", expected_revision=created)
        deleted, last = await backend.delete(f"{root}a", expected_revision=updated)
        assert deleted > updated
        assert last == KeyValue(f"{root}a", b"two", created, updated)
        assert await backend.get(f"{root}a") is None
        again = await backend.create(f"{root}a", b"new")
        assert await backend.get(f"{root}a") == KeyValue(f"{root}a", b"new", again, again)

    async def test_revisions_strictly_increase(self, backend: StorageBackend, root: str) -> None:
        before = await backend.current_revision()
        revs = [await backend.create(f"{root}k{i}", b"v") for i in range(5)]
        revs.append(await backend.update(f"{root}k0", b"w", expected_revision=revs[0]))
        revs.append((await backend.delete(f"{root}k1"))[0])
        assert all(a < b for a, b in zip([before, *revs], revs))
        assert await backend.current_revision() == revs[-1]
        kv = await backend.get(f"{root}k0")
        assert kv is not None and (kv.create_revision, kv.mod_revision) == (revs[0], revs[5])

    # ---- list -----------------------------------------------------------------------------

    async def test_list_is_in_key_order_and_prefix_is_exact(self, backend: StorageBackend,
                                                            root: str) -> None:
        for key in ("a/z", "ab/x", "a/b", "a/a/deep", "a", "b/c"):
            await backend.create(f"{root}{key}", key.encode())
        result = await backend.list(f"{root}a/")
        assert [kv.key for kv in result.items] == [f"{root}a/a/deep", f"{root}a/b", f"{root}a/z"]
        assert [kv.value for kv in result.items] == [b"a/a/deep", b"a/b", b"a/z"]
        assert result.revision == await backend.current_revision()
        assert not result.more
        assert (await backend.list(f"{root}zzz/")).items == []

    async def test_list_at_an_old_revision(self, backend: StorageBackend, root: str) -> None:
        r1 = await backend.create(f"{root}p/1", b"one")
        r2 = await backend.create(f"{root}p/2", b"two")
        await backend.update(f"{root}p/1", b"ONE", expected_revision=r1)
        await backend.delete(f"{root}p/2")
        await backend.create(f"{root}p/3", b"three")
        old = await backend.list(f"{root}p/", revision=r2)
        assert old.revision == r2
        assert old.items == [KeyValue(f"{root}p/1", b"one", r1, r1),
                             KeyValue(f"{root}p/2", b"two", r2, r2)]
        now = await backend.list(f"{root}p/")
        assert [(kv.key, kv.value) for kv in now.items] == [(f"{root}p/1", b"ONE"),
                                                           (f"{root}p/3", b"three")]

    async def test_paging_at_a_fixed_revision_is_consistent_while_writes_happen(
            self, backend: StorageBackend, root: str) -> None:
        keys = [f"{root}page/{i:02d}" for i in range(10)]
        for key in keys:
            await backend.create(key, key.encode())
        first = await backend.list(f"{root}page/", limit=3)
        assert [kv.key for kv in first.items] == keys[:3]
        assert first.more and first.count == 7
        seen = list(first.items)
        # Writes between pages must not show up in, or vanish from, the paged view.
        await backend.delete(keys[5])
        await backend.update(keys[7], b"changed", expected_revision=0)
        await backend.create(f"{root}page/04a", b"new")
        page = first
        while page.more:
            page = await backend.list(f"{root}page/", start_key=seen[-1].key + "\x00", limit=3,
                                      revision=first.revision)
            assert page.revision == first.revision
            seen.extend(page.items)
        assert [kv.key for kv in seen] == keys
        assert [kv.value for kv in seen] == [k.encode() for k in keys]
        assert page.count == 0
        latest = await backend.list(f"{root}page/", start_key=keys[4], limit=2)
        assert [kv.key for kv in latest.items] == [keys[4], f"{root}page/04a"]
        assert latest.more and latest.count == 4  # 06, 07, 08, 09 are left

    async def test_a_limit_that_fits_exactly_says_no_more(self, backend: StorageBackend,
                                                          root: str) -> None:
        for i in range(3):
            await backend.create(f"{root}fit/{i}", b"v")
        page = await backend.list(f"{root}fit/", limit=3)
        assert len(page.items) == 3 and not page.more and page.count == 0
        page = await backend.list(f"{root}fit/", limit=2)
        assert len(page.items) == 2 and page.more and page.count == 1

    async def test_get_at_an_old_revision(self, backend: StorageBackend, root: str) -> None:
        before = await backend.create(f"{root}other", b"x")
        r1 = await backend.create(f"{root}a", b"one")
        r2 = await backend.update(f"{root}a", b"two", expected_revision=r1)
        r3, _ = await backend.delete(f"{root}a")
        assert await backend.get(f"{root}a", revision=before) is None
        assert await backend.get(f"{root}a", revision=r1) == KeyValue(f"{root}a", b"one", r1, r1)
        assert await backend.get(f"{root}a", revision=r2) == KeyValue(f"{root}a", b"two", r1, r2)
        assert await backend.get(f"{root}a", revision=r3) is None

    async def test_reads_beyond_the_newest_revision_fail(self, backend: StorageBackend,
                                                         root: str) -> None:
        rev = await backend.create(f"{root}a", b"one")
        with pytest.raises(errors.FutureRevision) as info:
            await backend.get(f"{root}a", revision=rev + 100)
        assert info.value.requested == rev + 100
        with pytest.raises(errors.FutureRevision):
            await backend.list(root, revision=rev + 100)

    # ---- watch ----------------------------------------------------------------------------

    async def test_watch_replays_history_then_streams_live_changes(
            self, backend: StorageBackend, root: str) -> None:
        r1 = await backend.create(f"{root}w/a", b"1")
        r2 = await backend.update(f"{root}w/a", b"2", expected_revision=r1)
        r3 = await backend.create(f"{root}w/b", b"b")
        watch = backend.watch(f"{root}w/", start_revision=r2)
        try:
            replayed = await next_events(watch, 2)
            assert [(e.type, e.kv.key, e.revision) for e in replayed] == [
                (EventType.PUT, f"{root}w/a", r2), (EventType.PUT, f"{root}w/b", r3)]
            assert replayed[0].prev == KeyValue(f"{root}w/a", b"1", r1, r1)
            assert replayed[0].kv == KeyValue(f"{root}w/a", b"2", r1, r2)
            assert replayed[1].created and replayed[1].prev is None
            r4, _ = await backend.delete(f"{root}w/a")
            (deleted,) = await next_events(watch, 1)
            assert deleted.type is EventType.DELETE and deleted.revision == r4
            assert deleted.kv == KeyValue(f"{root}w/a", b"2", r1, r4)
            assert deleted.prev == KeyValue(f"{root}w/a", b"2", r1, r2)
            await no_more_events(watch)
        finally:
            await close_watch(watch)

    async def test_watch_started_during_writes_has_no_gap_and_no_repeat(
            self, backend: StorageBackend, root: str) -> None:
        start = await backend.create(f"{root}race/0", b"0")
        total = 300

        async def write() -> list[int]:
            return [await backend.create(f"{root}race/{i}", b"x") for i in range(1, total)]

        async def watch_while_writing() -> list[Event]:
            await asyncio.sleep(0)  # let the writer get ahead so replay and live overlap
            watch = backend.watch(f"{root}race/", start_revision=start)
            try:
                return await next_events(watch, total)
            finally:
                await close_watch(watch)

        written, events = await asyncio.gather(write(), watch_while_writing())
        assert [e.revision for e in events] == [start, *written]
        assert [e.kv.key for e in events] == [f"{root}race/{i}" for i in range(total)]

    async def test_watch_sees_only_its_prefix(self, backend: StorageBackend, root: str) -> None:
        watch = backend.watch(f"{root}a/")
        try:
            await backend.create(f"{root}ab/x", b"no")
            await backend.create(f"{root}b/x", b"no")
            rev = await backend.create(f"{root}a/x", b"yes")
            (event,) = await next_events(watch, 1)
            assert (event.kv.key, event.revision) == (f"{root}a/x", rev)
            await no_more_events(watch)
        finally:
            await close_watch(watch)

    async def test_watch_from_zero_sees_only_new_changes(self, backend: StorageBackend,
                                                         root: str) -> None:
        old = await backend.create(f"{root}z/old", b"old")
        watch = backend.watch(f"{root}z/", start_revision=0)
        try:
            await backend.update(f"{root}z/old", b"new", expected_revision=old)
            (event,) = await next_events(watch, 1)
            assert event.kv.value == b"new" and event.prev is not None
            assert event.prev.value == b"old"
            await no_more_events(watch)
        finally:
            await close_watch(watch)

    async def test_watch_from_a_future_revision_waits_for_it(self, backend: StorageBackend,
                                                             root: str) -> None:
        rev = await backend.create(f"{root}f/a", b"1")
        watch = backend.watch(f"{root}f/", start_revision=rev + 2)
        try:
            await backend.create(f"{root}f/b", b"2")
            third = await backend.create(f"{root}f/c", b"3")
            (event,) = await next_events(watch, 1)
            assert event.revision == third
        finally:
            await close_watch(watch)

    # ---- compaction -----------------------------------------------------------------------

    async def test_compaction_forgets_history_but_keeps_newest_values(
            self, backend: StorageBackend, root: str) -> None:
        r1 = await backend.create(f"{root}c/a", b"1")
        r2 = await backend.update(f"{root}c/a", b"2", expected_revision=r1)
        await backend.create(f"{root}c/gone", b"x")
        r4, _ = await backend.delete(f"{root}c/gone")
        r5 = await backend.create(f"{root}c/b", b"b")
        await backend.compact(r4)
        assert await backend.compacted_revision() == r4
        with pytest.raises(errors.Compacted) as info:
            await backend.get(f"{root}c/a", revision=r2)
        assert (info.value.requested, info.value.compacted) == (r2, r4)
        with pytest.raises(errors.Compacted):
            await backend.list(f"{root}c/", revision=r1)
        with pytest.raises(errors.Compacted):
            async with asyncio.timeout(DEADLINE):
                async for _ in backend.watch(f"{root}c/", start_revision=r4):
                    pass
        # As etcd: the state *at* the compacted revision stays readable.
        at = await backend.list(f"{root}c/", revision=r4)
        assert at.items == [KeyValue(f"{root}c/a", b"2", r1, r2)]
        assert await backend.get(f"{root}c/gone", revision=r4) is None
        now = await backend.list(f"{root}c/")
        assert now.items == [KeyValue(f"{root}c/a", b"2", r1, r2),
                             KeyValue(f"{root}c/b", b"b", r5, r5)]
        # A watch just above the compacted revision still replays, prev values included.
        r6 = await backend.update(f"{root}c/a", b"3", expected_revision=r2)
        watch = backend.watch(f"{root}c/", start_revision=r4 + 1)
        try:
            events = await next_events(watch, 2)
            assert [e.revision for e in events] == [r5, r6]
            assert events[1].prev == KeyValue(f"{root}c/a", b"2", r1, r2)
        finally:
            await close_watch(watch)
        await backend.compact(r4)  # compacting again is harmless (etcd's ErrCompacted is not)
        assert await backend.compacted_revision() == r4

    async def test_compaction_beyond_the_newest_revision_fails(self, backend: StorageBackend,
                                                               root: str) -> None:
        rev = await backend.create(f"{root}a", b"1")
        with pytest.raises(errors.FutureRevision):
            await backend.compact(rev + 100)

    # ---- concurrency ----------------------------------------------------------------------

    async def test_concurrent_creates_of_one_key_have_one_winner(self, backend: StorageBackend,
                                                                 root: str) -> None:
        results = await asyncio.gather(
            *(backend.create(f"{root}one", str(i).encode()) for i in range(50)),
            return_exceptions=True)
        winners = [(i, r) for i, r in enumerate(results) if isinstance(r, int)]
        assert len(winners) == 1
        assert all(isinstance(r, errors.KeyExists) for r in results if not isinstance(r, int))
        index, rev = winners[0]
        assert await backend.get(f"{root}one") == KeyValue(f"{root}one", str(index).encode(),
                                                           rev, rev)

    async def test_concurrent_writes_of_many_keys_are_all_stored(self, backend: StorageBackend,
                                                                 root: str) -> None:
        count = 500
        revs = await asyncio.gather(
            *(backend.create(f"{root}many/{i:04d}", b"v" * 1024) for i in range(count)))
        assert len(set(revs)) == count
        listed = await backend.list(f"{root}many/")
        assert [kv.key for kv in listed.items] == [f"{root}many/{i:04d}" for i in range(count)]
        assert sorted(kv.mod_revision for kv in listed.items) == sorted(revs)

    # ---- lifecycle ------------------------------------------------------------------------

    async def test_reopen_keeps_data_and_revision(self, open_store: OpenStore,
                                                  root: str) -> None:
        store = await open_store()
        created = await store.create(f"{root}keep", b"me")
        r_tmp = await store.create(f"{root}tmp", b"t")
        r_del, _ = await store.delete(f"{root}tmp")  # the newest write is a deletion
        await store.close()
        await store.close()  # idempotent
        with pytest.raises(errors.Unavailable):
            await store.create(f"{root}late", b"x")
        store = await open_store()
        try:
            assert await store.get(f"{root}keep") == KeyValue(f"{root}keep", b"me", created,
                                                               created)
            assert await store.current_revision() >= r_del
            assert await store.get(f"{root}tmp", revision=r_tmp) == KeyValue(
                f"{root}tmp", b"t", r_tmp, r_tmp)
            assert await store.create(f"{root}next", b"n") > r_del
        finally:
            await store.close()
