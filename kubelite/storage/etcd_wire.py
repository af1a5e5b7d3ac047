"""The wire side of the etcd backend: configuration, one gRPC channel to one member, and
the translation of etcd's messages and error words into the storage contract's terms.

Only ``etcd.py`` uses it: ``EtcdBackend`` opens a ``Connection`` per endpoint it fails
over to, sends every request with ``METADATA``, sorts failures by the words in
``COMPACTED``/``FUTURE``/``NOT_PROPOSED``/``NOT_SENT``, and turns etcd's ``KeyValue`` and
``Event`` messages into ours with ``key_value`` and ``event``. ``EtcdConfig`` and
``TLSConfig`` are re-exported by ``etcd.py``, where ``kubelite.storage.etcd_config`` and
the tests take them from. Nothing here keeps state between calls or decides what to retry:
that policy is the backend's.

We use aetcd's generated gRPC stubs (``aetcd.rpc``) on our own channels rather than
``aetcd.Client``: the client opens plaintext channels only (no TLS), talks to one endpoint,
and hands watch events over one at a time, which loses the batch boundaries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc  # type: ignore[import-untyped]
from aetcd import rpc  # type: ignore[import-untyped]

from kubelite.storage.interface import Event, EventType, KeyValue

# Every request asks etcd to refuse at once when the member has no leader (etcd's
# "hasleader" metadata, clientv3.WithRequireLeader): such a refusal was never proposed, so a
# write is safe to retry elsewhere, and a watch on a member cut off from the quorum ends
# instead of going silent.
METADATA = (("hasleader", "true"),)
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),   # a full list can exceed gRPC's 4 MiB default
    ("grpc.max_send_message_length", -1),
    ("grpc.keepalive_time_ms", 10_000),        # find a frozen member under an idle watch;
    ("grpc.keepalive_timeout_ms", 5_000),      # etcd allows pings every 5 s by default
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]
PROBE_KEY = b"\x00kubelite/probe"  # a key nobody writes; ranges on it are cheap

# etcd error descriptions (server/etcdserver/api/v3rpc/rpctypes) we act on.
COMPACTED = "required revision has been compacted"
FUTURE = "required revision is a future revision"
# Refused before being proposed: never committed, safe to retry anywhere.
NOT_PROPOSED = ("etcdserver: no leader", "etcdserver: too many requests",
                "etcdserver: unhealthy cluster", "etcdserver: not capable",
                "raft proposal dropped")
# gRPC's words for an RPC that found no connection (so it was never sent).
NOT_SENT = ("failed to connect to all addresses", "connection refused",
            "connections to all backends failing", "dns resolution failed",
            "name resolution failure")


@dataclass(frozen=True)
class TLSConfig:
    """Files for TLS to etcd; ``ca`` None means the system roots."""

    ca: str | None = None
    cert: str | None = None   # client certificate (etcd --client-cert-auth)
    key: str | None = None
    server_name: str | None = None  # verify the members' certificates against this name

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()

        if (self.cert is None) != (self.key is None):
            raise ValueError("etcd TLS: give both a client certificate and its key, or neither")
        return grpc.ssl_channel_credentials(root_certificates=read(self.ca),
                                            private_key=read(self.key),
                                            certificate_chain=read(self.cert))


@dataclass(frozen=True)
class EtcdConfig:
    endpoints: tuple[str, ...]        # "host:port"
    tls: TLSConfig | None = None
    timeout: float = 10.0             # one call, retries and failovers included
    request_timeout: float = 3.0      # one attempt on one endpoint (a read retry: doubled)
    connect_timeout: float = 1.0      # waiting for a connection before sending a write


class Connection:
    """One gRPC channel to one endpoint and the stubs on it."""

    def __init__(self, endpoint: str, config: EtcdConfig) -> None:
        self.endpoint = endpoint
        options: list[tuple[str, Any]] = list(_CHANNEL_OPTIONS)
        if config.tls is not None:
            if config.tls.server_name:
                options.append(("grpc.ssl_target_name_override", config.tls.server_name))
            self.channel = grpc.aio.secure_channel(endpoint, config.tls.credentials(),
                                                   options=options)
        else:
            self.channel = grpc.aio.insecure_channel(endpoint, options=options)
        self.kv = rpc.KVStub(self.channel)
        self.watch = rpc.WatchStub(self.channel)

    async def wait_connected(self, timeout: float) -> bool:
        """Whether the channel is connected, or connects within ``timeout``; False at once
        when connecting failed (refused, TLS handshake), so failover does not wait."""
        try:
            async with asyncio.timeout(timeout):
                state = self.channel.get_state(try_to_connect=True)
                while state is not grpc.ChannelConnectivity.READY:
                    if state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                                 grpc.ChannelConnectivity.SHUTDOWN):
                        return False
                    await self.channel.wait_for_state_change(state)
                    state = self.channel.get_state(try_to_connect=True)
        except TimeoutError:
            return False
        except Exception:  # noqa: BLE001 -- gRPC's UsageError: another caller closed it (failover)
            return False
        return True


def encode_key(key: str) -> bytes:
    return key.encode()


def prefix_range(prefix: str) -> tuple[bytes, bytes]:
    """etcd's [key, range_end) for every key starting with ``prefix`` (b"\\0" = no end)."""
    start = prefix.encode()
    if not start:
        return b"\x00", b"\x00"   # etcd: key "\0" with range_end "\0" is every key
    end = bytearray(start)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return start, b"\x00"
    end[-1] += 1
    return start, bytes(end)


def key_value(kv: Any) -> KeyValue:
    return KeyValue(kv.key.decode(), bytes(kv.value), kv.create_revision, kv.mod_revision)


def details(exc: grpc.aio.AioRpcError) -> str:
    return exc.details() or ""


def event(ev: Any) -> Event:
    kv = ev.kv
    revision = int(kv.mod_revision)
    prev = key_value(ev.prev_kv) if ev.HasField("prev_kv") else None
    if ev.type == rpc.Event.DELETE:
        # etcd's delete event carries only the key; the contract wants the last value.
        last = prev or KeyValue(kv.key.decode(), b"", 0, 0)
        return Event(EventType.DELETE, KeyValue(last.key, last.value, last.create_revision,
                                                revision), prev, revision)
    if kv.version == 1:
        prev = None  # a create, whatever etcd found for an older generation of the key
    return Event(EventType.PUT, key_value(kv), prev, revision)
