"""The storage contract: a revisioned key-value store with watch, shaped like etcd v3.

Only ``kubelite.apiserver`` talks to it. Every backend (``sqlite`` embedded, ``etcd`` for
HA) implements ``StorageBackend`` and passes the one conformance suite in
``tests/unit/storage/conformance.py``.

The contract, as etcd's:

- There is one revision counter for the whole store. Every successful write (create,
  update, delete) gets a new revision, strictly greater than every earlier one; that
  revision is the object's ``resourceVersion``.
- A key's ``create_revision`` is the revision that created it; ``mod_revision`` the one
  that last wrote it.
- ``list`` and ``get`` at ``revision=0`` read the newest state; at ``revision=R`` they read
  the state as it was right after R was written (``Compacted`` if R was compacted away,
  ``FutureRevision`` if R is beyond the newest revision).
- ``watch(prefix, start_revision=R)`` yields every change with revision ≥ R in revision
  order, in batches; a batch never splits one revision. ``Compacted`` is raised at once
  when R is at or below the compacted revision (and R > 0). ``start_revision=0`` means
  "changes after now".
- Writes that return have been made durable (fsync on SQLite, quorum on etcd).
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, 3×
# slower, and the SQLite backend builds two or three of these per write on the API
# server's event loop. Treat them as immutable all the same; they stay hashable.
@dataclass(slots=True, unsafe_hash=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventType(enum.Enum):
    PUT = "PUT"        # created or updated; ``prev`` is None on create
    DELETE = "DELETE"  # ``kv.value`` is the last value before deletion


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see KeyValue
class Event:
    type: EventType
    kv: KeyValue  # for DELETE: key, last value, its create_revision, mod_revision = the delete's revision
    prev: KeyValue | None
    revision: int

    @property
    def created(self) -> bool:
        return self.type is EventType.PUT and self.prev is None


@dataclass(frozen=True, slots=True)
class ListResult:
    items: builtins.list[KeyValue]  # in key order
    revision: int          # the revision the list was read at
    more: bool             # True when ``limit`` cut the list short
    count: int = 0         # keys left after the last returned one (0 when unknown / none)


class StorageBackend(Protocol):
    """Contract for a storage backend. All methods are coroutines safe to call concurrently."""

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        """The key's value at ``revision`` (0 = newest), or None when it does not exist."""

    async def list(self, prefix: str, *, start_key: str = "", limit: int = 0,
                   revision: int = 0) -> ListResult:
        """Keys under ``prefix`` that are ≥ ``start_key`` (when given), in key order.

        ``limit`` 0 means no limit. ``revision`` 0 reads the newest state and reports the
        revision it read at; paging calls pass that revision back to get a consistent view.
        """

    async def create(self, key: str, value: bytes) -> int:
        """Create ``key``; returns the new revision. Raises ``KeyExists``."""

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        """Replace ``key`` if its mod_revision is ``expected_revision`` (0 = unconditionally).

        Returns the new revision. Raises ``KeyNotFound`` or ``RevisionMismatch``.
        """

    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        """Delete ``key`` (conditionally as ``update``); returns (revision, last value)."""

    def watch(self, prefix: str, *, start_revision: int = 0) -> AsyncIterator[builtins.list[Event]]:
        """Changes under ``prefix`` from ``start_revision`` on, batched, until cancelled."""

    async def current_revision(self) -> int:
        """The newest revision (0 in an empty store)."""

    async def compacted_revision(self) -> int:
        """The newest compacted revision (0 before any compaction)."""

    async def compact(self, revision: int) -> None:
        """Forget history at and below ``revision`` (the newest value of each key stays)."""

    async def close(self) -> None:
        """Stop background work and release files/connections; idempotent."""

    async def stopped(self) -> str:
        """Returns, with the reason, only when the store can no longer serve at all and
        only a restart of its process can help (SQLite: its writer process died); a store
        that reconnects by itself (etcd) never returns."""
