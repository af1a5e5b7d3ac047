"""kubelite.storage: the revisioned key-value store with watch that holds the cluster state.

The API server opens one with ``await storage.open_backend(url)`` and uses it only through
the ``StorageBackend`` contract (``interface.py``, etcd v3 semantics); failures are the
exceptions of ``storage.errors``. URLs:

- ``sqlite:///abs/path/state.db`` or ``sqlite://relative/path/state.db`` — the embedded
  SQLite backend (``sqlite.py``), the single-server default.
- ``etcd://host1:2379,host2:2379,host3:2379`` — an etcd v3 cluster (``etcd.py``), for HA.
  Plain HTTP/2 unless TLS is asked for: ``etcds://…`` (TLS with the system roots) or any of
  the query parameters ``ca=/path/ca.crt``, ``cert=/path/client.crt&key=/path/client.key``
  (client certificate, for ``etcd --client-cert-auth``), ``server_name=NAME`` (check the
  members' certificates against NAME instead of the host in the URL). Also
  ``timeout=SECONDS`` (one call with its retries and failovers, default 10) and
  ``request_timeout=SECONDS`` (one attempt on one member, default 3). Example:
  ``etcds://10.0.0.1:2379,10.0.0.2:2379?ca=/etc/etcd/ca.crt&cert=/etc/etcd/c.crt&key=/etc/etcd/c.key``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubelite.storage import errors
from kubelite.storage.interface import (
    Event,
    EventType,
    KeyValue,
    ListResult,
    StorageBackend,
)

if TYPE_CHECKING:
    from kubelite.storage import etcd

__all__ = ["Event", "EventType", "KeyValue", "ListResult", "StorageBackend", "errors",
           "etcd_config", "open_backend"]

_SQLITE = "sqlite://"
_ETCD = ("etcd://", "etcds://")
_SUPPORTED = ("sqlite:///abs/path/state.db, sqlite://relative/path.db, "
              "etcd://host:2379[,host:2379…][?ca=…&cert=…&key=…], etcds://…")


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
    if url.startswith(_ETCD):
        from kubelite.storage import etcd

        return await etcd.EtcdBackend.open(etcd_config(url))
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ValueError(f"unsupported storage URL {url!r} (scheme {scheme!r}); "
                     f"supported: {_SUPPORTED}")


def etcd_config(url: str) -> etcd.EtcdConfig:
    """The ``EtcdConfig`` an ``etcd://`` / ``etcds://`` URL describes (ValueError if bad)."""
    from urllib.parse import parse_qs, urlsplit

    from kubelite.storage import etcd

    parts = urlsplit(url)
    if parts.scheme not in ("etcd", "etcds") or parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"storage URL {url!r} is not etcd://host:port[,host:port…][?options]")
    endpoints = []
    for hostport in parts.netloc.split(","):
        host, _, port = hostport.rpartition(":")
        if not hostport or "@" in hostport:
            raise ValueError(f"storage URL {url!r} has an empty or unsupported endpoint")
        if not host or not port.isdigit():  # no port given: etcd's client port
            host, port = hostport, "2379"
        endpoints.append(f"{host}:{port}")
    query = {name: values[-1] for name, values in
             parse_qs(parts.query, keep_blank_values=False, strict_parsing=False).items()}
    known = {"ca", "cert", "key", "server_name", "timeout", "request_timeout"}
    unknown = set(query) - known
    if unknown:
        raise ValueError(f"storage URL {url!r}: unknown option(s) {sorted(unknown)} "
                         f"(known: {sorted(known)})")
    tls = None
    if parts.scheme == "etcds" or query.keys() & {"ca", "cert", "key", "server_name"}:
        if ("cert" in query) != ("key" in query):
            raise ValueError(f"storage URL {url!r}: give both cert= and key=, or neither")
        tls = etcd.TLSConfig(ca=query.get("ca"), cert=query.get("cert"), key=query.get("key"),
                             server_name=query.get("server_name"))
    timeouts: dict[str, float] = {}
    for name in ("timeout", "request_timeout"):
        if name in query:
            try:
                timeouts[name] = float(query[name])
            except ValueError:
                raise ValueError(f"storage URL {url!r}: {name} must be seconds") from None
            if timeouts[name] <= 0:
                raise ValueError(f"storage URL {url!r}: {name} must be positive")
    return etcd.EtcdConfig(endpoints=tuple(endpoints), tls=tls, **timeouts)
