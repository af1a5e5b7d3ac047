"""The SQLite store's in-memory index by key (``kubelite.storage.keyindex``)."""

from __future__ import annotations

import sys
import threading

from kubelite.storage.keyindex import KeyIndex


def test_a_keys_state_at_a_revision_is_its_newest_revision_at_or_below_it_unless_deleted() -> None:
    index = KeyIndex()
    index.add("/a", 1)
    index.add("/b", 2)
    index.add("/a", 3)
    index.add("/a", 4, deleted=True)
    index.add("/a", 6)
    assert [index.newest("/a", at) for at in range(8)] == [None, 1, 1, 3, None, None, 6, 6]
    assert index.newest("/b", 1) is None and index.newest("/b", 9) == 2
    assert index.newest("/never", 9) is None
    assert index.revision == 6


def test_keys_come_in_order_within_bounds_including_keys_added_between_reads() -> None:
    index = KeyIndex()
    for rev, key in enumerate(["/p/m", "/p/c", "/q/a", "/p/x"], start=1):
        index.add(key, rev)
    assert list(index.keys("/p/", "/p0")) == ["/p/c", "/p/m", "/p/x"]
    index.add("/p/a", 5)  # after the order was merged once
    index.add("/p/n", 6)
    assert list(index.keys("/p/", "/p0")) == ["/p/a", "/p/c", "/p/m", "/p/n", "/p/x"]
    assert list(index.keys("/p/d", None)) == ["/p/m", "/p/n", "/p/x", "/q/a"]
    index.add("/p/c", 7, deleted=True)
    assert list(index.live("/p/", "/p0", 7)) == [("/p/a", 5), ("/p/m", 1), ("/p/n", 6), ("/p/x", 4)]
    assert list(index.live("/p/", "/p0", 4)) == [("/p/c", 2), ("/p/m", 1), ("/p/x", 4)]


def test_prunable_keeps_each_keys_state_at_the_compacted_revision() -> None:
    index = KeyIndex()
    index.add("/a", 1)
    index.add("/a", 2)
    index.add("/gone", 3)
    index.add("/gone", 4, deleted=True)
    index.add("/b", 5)
    index.add("/a", 6)  # above the compacted revision: kept, and so is /a's state at 5
    assert index.prunable(5) == [(1, "/a"), (3, "/gone"), (4, "/gone")]
    index.forget(index.prunable(5))
    assert len(index) == 2 and list(index.keys("", None)) == ["/a", "/b"]
    assert [index.newest("/a", at) for at in (5, 6)] == [2, 6]
    # A row that survived one compaction goes at the next once something newer is below it.
    assert index.prunable(6) == [(2, "/a")]


def test_a_forgotten_key_written_again_is_listed_once() -> None:
    index = KeyIndex()
    index.add("/k", 1)
    list(index.keys("", None))  # merged into the order
    index.add("/k", 2, deleted=True)
    index.forget(index.prunable(2))
    assert list(index.keys("", None)) == []
    index.add("/k", 3)
    assert list(index.keys("", None)) == ["/k"]
    assert index.newest("/k", 3) == 3 and index.newest("/k", 2) is None


def test_build_reads_rows_in_revision_order() -> None:
    index = KeyIndex.build([("/x", 1, 0), ("/y", 2, 0), ("/x", 3, 1)], compacted=0)
    assert list(index.live("", None, 3)) == [("/y", 2)]
    assert index.newest("/x", 2) == 1


def test_readers_see_every_key_added_before_they_started_while_writes_go_on() -> None:
    index = KeyIndex()
    for rev in range(1, 2001):
        index.add(f"/k/{rev * 7919 % 10007:05d}", rev)
    stop = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not stop.is_set():
            at = index.revision
            seen.append(sum(1 for _ in index.live("/k/", "/k0", at)) - at)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for rev in range(2001, 6001):
            index.add(f"/k/{rev * 7919 % 10007:05d}", rev)
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) == {0}  # every key written up to ``at`` is found, none twice


def test_count_is_the_keys_that_exist_now_in_the_range() -> None:
    index = KeyIndex()
    for rev, key in enumerate(["/c/a", "/c/b", "/c/c", "/c/d", "/d/a"], start=1):
        index.add(key, rev)
    index.add("/c/b", 6, deleted=True)
    assert index.count("/c/", "/c0") == 3
    assert index.count("/c/a\0", "/c0") == 2
    assert index.count("", None) == 4
    index.add("/c/b", 7)
    index.add("/c/e", 8)
    assert index.count("/c/", "/c0") == 5
    index.add("/c/e", 9, deleted=True)
    index.forget(index.prunable(9))
    assert index.count("/c/", "/c0") == 4 and list(index.keys("/c/", "/c0")) == ["/c/a", "/c/b", "/c/c", "/c/d"]


def test_counting_while_keys_are_deleted_and_made_again_does_not_fail() -> None:
    index = KeyIndex()
    for rev in range(1, 20001):
        index.add(f"/d/{rev:05d}", rev, deleted=False)
    stop = threading.Event()
    errors: list[BaseException] = []

    def count() -> None:
        while not stop.is_set():
            try:
                index.count("/d/", "/d0")
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
                return

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL back and forth as often as possible
    reader = threading.Thread(target=count)
    reader.start()
    try:
        rev = 20000
        for _ in range(3):
            for key in range(1, 20001):  # delete every key, then make each again
                rev += 1
                index.add(f"/d/{key:05d}", rev, deleted=True)
            for key in range(1, 20001):
                rev += 1
                index.add(f"/d/{key:05d}", rev)
    finally:
        stop.set()
        reader.join()
        sys.setswitchinterval(switch)
    assert errors == []
    assert index.count("/d/", "/d0") == 20000
