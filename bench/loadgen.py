"""A lean load generator: creates objects over keep-alive HTTPS connections with request
bytes encoded before the clock starts. Used by ``bench/scheduler.py``.

Why not ``kubelite.client.rest.Client``: scheduler_perf's harness is Go and costs next to
nothing, while on this benchmark's two shared cores the general-purpose Python client
(aiohttp, retries, rate limiter, a decoded answer per create) took 150–300 µs of CPU per
pod — CPU the API server and the scheduler under test did not get. Here one create is a
``write`` of prepared bytes and a read of the answer's status line and ``Content-Length``
body, nothing decoded. Each connection carries one request at a time (no pipelining), as
a client library does.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from urllib.parse import quote, urlsplit

import orjson

from kubelite.client import config


class CreateFailed(RuntimeError):
    pass


def encode_create(*, host: str, path: str, token: str | None, body: dict) -> bytes:
    """One ``POST`` of ``body`` as the bytes sent on the wire."""
    payload = orjson.dumps(body)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
            "Accept: application/json", "User-Agent: kubelite-bench-loadgen",
            f"Content-Length: {len(payload)}"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def parse_answer(buffer: bytes) -> tuple[int, bytes, int] | None:
    """``(status, body, bytes used)`` of the first whole HTTP/1.1 answer at the start of
    ``buffer``; None while it is incomplete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buffer[:head_end].lower()
    status = int(head[9:12])
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17:line_end if line_end >= 0 else len(head)])
        end = head_end + 4 + length
        return (status, buffer[head_end + 4:end], end) if len(buffer) >= end else None
    if b"\r\ntransfer-encoding:" not in head or b"chunked" not in head:
        return status, b"", head_end + 4
    body, pos = bytearray(), head_end + 4
    while True:  # chunked: size line, data, CRLF, until the empty chunk
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(buffer[pos:line_end].split(b";")[0], 16)
        pos = line_end + 2 + size + 2
        if len(buffer) < pos:
            return None
        if size == 0:
            return status, bytes(body), pos
        body += buffer[line_end + 2:pos - 2]


class _Creates(asyncio.Protocol):
    """One keep-alive connection sending request after request, one at a time: the next
    is written from ``data_received`` as soon as the answer is whole. Driven by the
    protocol's callbacks, with no coroutine, future or stream reader per create. With the
    ``StreamReader`` version, the benchmark's load process took 37–41 µs of CPU per pod;
    with this one it takes 31–35 µs (twelfth session). That CPU is taken from the server
    and scheduler under test."""

    def __init__(self, requests: Iterator[tuple[str, bytes]], on_created: Callable[[str], None] | None,
                 done: asyncio.Future[None]) -> None:
        self.requests = requests
        self.on_created = on_created
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.name = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TLS transport is not a subclass
        self._send_next()

    def _send_next(self) -> None:
        assert self.transport is not None
        following = next(self.requests, None)
        if following is None:
            self._finish(None)
            return
        self.name, data = following
        self.transport.write(data)

    def _finish(self, error: BaseException | None) -> None:
        if not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        answer = parse_answer(self.buffer)
        if answer is None:
            return
        status, body, used = answer
        self.buffer = self.buffer[used:]
        if status != 201:
            self._finish(CreateFailed(f"create {self.name}: HTTP {status}: {body[:300]!r}"))
            return
        if self.on_created is not None:
            self.on_created(self.name or created_name(body))
        self._send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.done.done():
            self.done.set_exception(CreateFailed(f"connection lost before the creates were done: {exc!r}"))


async def create_all(cfg: config.ClientConfig, requests: Iterable[tuple[str, bytes]], *, concurrency: int,
                     on_created: Callable[[str], None] | None = None) -> None:
    """Send every ``(name, request bytes)``; ``concurrency`` connections, one request in
    flight on each. Raises ``CreateFailed`` on the first answer that is not 201.
    ``on_created`` gets each object's name: the one given, or for an empty one (a
    ``generateName`` create) the one in the answer."""
    url = urlsplit(cfg.servers[0])
    ctx: ssl.SSLContext | None = cfg.ssl_context() if url.scheme == "https" else None
    it = iter(requests)
    loop = asyncio.get_running_loop()

    async def connection() -> None:
        done: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.create_connection(lambda: _Creates(it, on_created, done), url.hostname or "", url.port or 443,
                                                    ssl=ctx, server_hostname=url.hostname if ctx else None)
        try:
            await done
        finally:
            transport.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))


def created_name(body: bytes) -> str:
    """The name the server gave an object created with ``generateName``, from its answer.
    kubelite keeps the key order of what it is sent and adds ``name`` after the metadata the
    client wrote, so the name is the first ``"name":"`` after ``"generateName":"`` (the
    benchmark's metadata has no other ``name`` key); anything else is decoded."""
    at = body.find(b'"generateName":"')
    if at > 0:
        at = body.find(b'"name":"', at)
        if at > 0:
            at += 8
            return body[at:body.index(b'"', at)].decode()
    return str(orjson.loads(body)["metadata"]["name"])


def event_head(line: bytes) -> tuple[str, dict]:
    """``(type, {"metadata": {"name", "resourceVersion"}})`` of one watch event line, read
    off the bytes without decoding the object: all a probe that only notes when each object
    shows up needs. The first ``"name"`` and ``"resourceVersion"`` of an object whose
    metadata comes before its spec are the metadata's (kubelite keeps the key order of the
    objects it is sent, and the benchmark sends metadata first); any other event is decoded."""
    if line.startswith((b'{"type":"ADDED","object":', b'{"type":"MODIFIED","object":')):
        meta = line.find(b'"metadata":{')
        spec = line.find(b'"spec":')
        name_at = line.find(b'"name":"', meta)
        rv_at = line.find(b'"resourceVersion":"', meta)
        if 0 < meta and 0 < name_at < spec and 0 < rv_at < spec:
            name_at += 8
            rv_at += 19
            kind = "ADDED" if line[9] == ord("A") else "MODIFIED"
            return kind, {"metadata": {"name": line[name_at:line.index(b'"', name_at)].decode(),
                                       "resourceVersion": line[rv_at:line.index(b'"', rv_at)].decode()}}
    return _decode_event(line)


def _decode_event(line: bytes) -> tuple[str, dict]:
    event = orjson.loads(line)
    return event["type"], event["object"]


async def watch_objects(cfg: config.ClientConfig, *, path: str, resource_version: str,
                        field_selector: str = "", timeout_seconds: int = 300,
                        decode: Callable[[bytes], tuple[str, dict]] = _decode_event,
                        ) -> AsyncIterator[tuple[str, dict]]:
    """``(type, object)`` of each event of one watch on ``path``, read from a raw HTTPS
    stream: one ``decode`` (by default ``orjson.loads``) per event and nothing else, where
    the general client adds its reconnects, bookkeeping and a dict per event on top. Ends
    with the stream."""
    url = urlsplit(cfg.servers[0])
    ctx: ssl.SSLContext | None = cfg.ssl_context() if url.scheme == "https" else None
    query = f"watch=true&resourceVersion={resource_version}&timeoutSeconds={timeout_seconds}"
    if field_selector:
        query += f"&fieldSelector={quote(field_selector)}"
    token = cfg.bearer_token()
    head = f"GET {path}?{query} HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: application/json\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    reader, writer = await asyncio.open_connection(url.hostname, url.port, ssl=ctx,
                                                   server_hostname=url.hostname if ctx else None)
    try:
        writer.write((head + "\r\n").encode())
        status_head = await reader.readuntil(b"\r\n\r\n")
        if status_head[9:12] != b"200":
            raise CreateFailed(f"watch {path}: {status_head[:200]!r}")
        pending = b""
        while True:  # chunked: size line, data, CRLF; events may span chunks
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                return
            pending += (await reader.readexactly(size + 2))[:-2]
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield decode(line)
    finally:
        writer.close()
