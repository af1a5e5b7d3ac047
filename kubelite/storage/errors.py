"""Storage errors, shared by every backend::

    StorageError
    ├── KeyExists          create of a key that exists
    ├── KeyNotFound        update/delete of a key that does not exist
    ├── RevisionMismatch   conditional write whose expected revision is not the key's
    ├── Compacted          read or watch at a revision that compaction removed
    ├── FutureRevision     read at a revision that has not happened yet
    └── Unavailable        the backend cannot serve (closed, quorum lost, …)

The API server maps them to Kubernetes errors (AlreadyExists, NotFound, Conflict, 410
Expired, 504/503); no other layer sees them.
"""

from __future__ import annotations


class StorageError(Exception):
    pass


class KeyExists(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class KeyNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class RevisionMismatch(StorageError):
    def __init__(self, key: str, *, expected: int, actual: int) -> None:
        super().__init__(f"revision mismatch on {key}: expected {expected}, found {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual


class Compacted(StorageError):
    def __init__(self, *, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} is compacted (compacted revision {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevision(StorageError):
    def __init__(self, *, requested: int, current: int) -> None:
        super().__init__(f"revision {requested} is newer than the current revision {current}")
        self.requested = requested
        self.current = current


class Unavailable(StorageError):
    pass
