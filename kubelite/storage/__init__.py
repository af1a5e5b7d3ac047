"""kubelite.storage: the revisioned key-value store with watch that holds the cluster state.

The API server opens one with ``await storage.open_backend(url)`` and uses it only through
the ``StorageBackend`` contract (``interface.py``, etcd v3 semantics); failures are the
exceptions of ``storage.errors``. URLs:

- ``sqlite:///abs/path/state.db`` or ``sqlite://relative/path/state.db`` — the embedded
  SQLite backend (``sqlite.py``), the single-server default.
- ``etcd://…`` — planned (HA); not available yet.
"""

from __future__ import annotations

from kubelite.storage import errors
from kubelite.storage.interface import (
    Event,
    EventType,
    KeyValue,
    ListResult,
    StorageBackend,
)

__all__ = ["Event", "EventType", "KeyValue", "ListResult", "StorageBackend", "errors",
           "open_backend"]

_SQLITE = "sqlite://"


async def open_backend(url: str) -> StorageBackend:
    """Open the backend named by ``url``; ValueError for a URL no backend serves."""
    if url.startswith(_SQLITE):
        path = url[len(_SQLITE):]  # "/abs/path" from sqlite:///abs/path, "rel/path" otherwise
        if not path or path.endswith("/"):
            raise ValueError(f"storage URL {url!r} names no database file "
                             "(use sqlite:///abs/path/state.db or sqlite://relative/path.db)")
        # Imported here: the backend module imports this package's interface.
        from kubelite.storage import sqlite

        return await sqlite.SQLiteBackend.open(path)
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ValueError(f"unsupported storage URL {url!r} (scheme {scheme!r}); "
                     "supported: sqlite:///abs/path/state.db, sqlite://relative/path.db")
