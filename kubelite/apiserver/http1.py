"""The API server's HTTP/1.1 front: short requests served here, the rest handed to aiohttp.

Every connection starts with ``Connection``. A request it can serve alone — GET, POST,
PUT, PATCH or DELETE over HTTP/1.1 with a ``Content-Length`` body of at most 3 MiB, a
plain path, and no log, exec, attach, port-forward or proxy — is parsed here, given to the
same handler chain as aiohttp's requests (``app.build_app``), and its ``web.Response``
written back in one piece; a watch writes its chunked stream itself (``Request.stream``,
used by ``watch.serve``). The first
request that is anything else (an upgrade, a watch, ``Expect``, a chunked body, HTTP/1.0,
``Connection: close``, a header this parser does not accept…) hands the whole connection,
with the bytes not yet consumed, to an aiohttp ``RequestHandler``, which serves it from
then on exactly as before. So this module decides nothing about HTTP edge cases: it
only recognises the common case, and everything unusual keeps aiohttp's behaviour.

Why not aiohttp alone: its request and response machinery (request object, URL, payload
stream, header preparation, writer) costs about 27 µs of the server's one event-loop thread
per request, against about 8 µs here, and a pod's creation is one request: at thousands of
creates a second this is the difference the scheduler benchmark measures (see
docs/benchmarks.md). aiohttp still owns the listening socket's slow paths, the streams and
websockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from kubelite.api import errors

log = logging.getLogger("kubelite.apiserver")

FAST_METHODS = frozenset((b"GET", b"POST", b"PUT", b"PATCH", b"DELETE"))
# Paths and queries whose answers stream or upgrade: aiohttp serves them.
_LONG_RUNNING_SUFFIXES = (b"/log", b"/exec", b"/attach", b"/portforward")
# Headers whose presence means a case this front leaves to aiohttp.
_HANDOVER_HEADERS = frozenset((b"transfer-encoding", b"upgrade", b"expect", b"connection", b"content-length"))
MAX_HEAD_BYTES = 64 * 1024
# RFC 9110 token characters: a header name is made of these only.
_TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
IDLE_SECONDS = 75.0  # aiohttp's keep-alive timeout
_EMPTY_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())

Handler = Callable[[Any], Awaitable[web.StreamResponse]]


class Request:
    """What the API's handlers use of ``web.Request``, for a request parsed here."""

    __slots__ = (
        "_body",
        "_conn",
        "_query",
        "_raw_query",
        "_state",
        "headers",
        "method",
        "path",
        "query_string",
        "streamed",
        "transport",
    )

    def __init__(self, method: str, path: str, query_string: str, raw_query: bytes, headers: CIMultiDictProxy[str],
                 body: bytes, conn: Connection) -> None:
        self._conn = conn
        self.transport = conn.transport
        self.streamed = False  # the handler wrote its answer itself (stream)
        self.method = method
        self.path = path
        self.query_string = query_string
        self._raw_query = raw_query
        self.headers = headers
        self._body = body
        self._query: MultiDictProxy[str] | None = None
        self._state: dict[str, Any] = {}

    @property
    def query(self) -> MultiDictProxy[str]:
        if self._query is None:
            self._query = MultiDictProxy(MultiDict(parse_qsl(self._raw_query.decode("ascii"), keep_blank_values=True))) \
                if self._raw_query else _EMPTY_QUERY
        return self._query

    @property
    def can_read_body(self) -> bool:
        return bool(self._body)

    async def read(self) -> bytes:
        return self._body

    def __getitem__(self, key: str) -> Any:
        return self._state[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        return self._state.get(key, default)

    def stream(self, headers: dict[str, str], *, status: int = 200) -> Stream:
        """Start a chunked answer that the handler writes piece by piece (a watch)."""
        self.streamed = True
        return Stream(self._conn, status, headers)


class Stream:
    """A chunked HTTP/1.1 answer in progress; ``write`` waits while the client is behind."""

    def __init__(self, conn: Connection, status: int, headers: dict[str, str]) -> None:
        self.conn = conn
        self.status = status  # as web.StreamResponse's (the API server's metrics read it)
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _reason(status))]
        head += [f"{key}: {value}\r\n".encode() for key, value in headers.items()
                 if key.lower() not in _SKIPPED_RESPONSE_HEADERS]
        head.append(b"Transfer-Encoding: chunked\r\nDate: %s\r\n\r\n" % conn.front.date.now())
        self._send(b"".join(head))

    def _send(self, data: bytes) -> None:
        transport = self.conn.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        transport.write(data)

    async def write(self, data: bytes) -> None:
        if data:
            self._send(b"%x\r\n%s\r\n" % (len(data), data))
            if self.conn.writable is not None:
                await self.conn.writable

    async def write_eof(self) -> None:
        self._send(b"0\r\n\r\n")


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


Parsed = tuple[str, str, str, bytes, CIMultiDictProxy[str], int, int]


def parse(buffer: bytes, max_body: int) -> Parsed | int | None:
    """One request's head from the start of ``buffer``: (method, path, decoded query
    string, raw query, headers, body start, body length); an int, the bytes still missing,
    when it is incomplete (0: unknown); None when aiohttp must serve it."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None if len(buffer) > MAX_HEAD_BYTES else 0
    lines = buffer[:end].split(b"\r\n")
    method, _, rest = lines[0].partition(b" ")
    target, _, version = rest.partition(b" ")
    if method not in FAST_METHODS or version != b"HTTP/1.1" or target[:1] != b"/" or not target.isascii():
        return None
    raw_path, _, raw_query = target.partition(b"?")
    # A path to decode or normalise, or a long-running request: aiohttp's.
    if b"%" in raw_path or b"/." in raw_path or b"#" in target or b" " in target or b"\t" in target \
            or raw_path.endswith(_LONG_RUNNING_SUFFIXES) or b"/proxy" in raw_path \
            or (b"watch=" in raw_query and method != b"GET"):
        return None
    pairs: list[tuple[str, str]] = []
    length = -1
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name.translate(None, _TOKEN_CHARS):
            return None  # not a header line this parser accepts (folded, malformed, not a token)
        value = value.strip(b" \t")
        if name.lower() in _HANDOVER_HEADERS:
            folded = name.lower()
            if folded == b"connection":
                if value.lower() != b"keep-alive":
                    return None  # close or upgrade
            elif folded != b"content-length" or length >= 0 or not value.isdigit():
                return None
            else:
                length = int(value)
                if length > max_body:
                    return None  # aiohttp answers 413 (as a Status, through app.make_handler)
        pairs.append((name.decode("ascii"), value.decode("latin-1")))
    length = max(length, 0)
    headers = CIMultiDict(pairs)
    missing = end + 4 + length - len(buffer)
    if missing > 0:
        return missing
    query = raw_query.decode("ascii")
    if "%" in query or "+" in query:
        query = unquote_plus(query)  # aiohttp's query_string is the decoded one; .query parses the raw one
    return method.decode("ascii"), raw_path.decode("ascii"), query, raw_query, CIMultiDictProxy(headers), end + 4, length


class _Date:
    """The Date header's value, formatted once a second."""

    def __init__(self) -> None:
        self.second = 0
        self.value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self.second:
            self.second = second
            self.value = formatdate(second, usegmt=True).encode("ascii")
        return self.value


_SKIPPED_RESPONSE_HEADERS = frozenset(("content-length", "date", "connection", "transfer-encoding", "server"))


def encode_response(resp: web.StreamResponse, date: bytes) -> bytes:
    """A finished ``web.Response`` as the bytes of an HTTP/1.1 answer."""
    body = resp.body if isinstance(resp, web.Response) else None
    if not isinstance(body, (bytes, bytearray)):
        if body is not None or type(resp) is not web.Response:
            raise TypeError(f"cannot serve {type(resp).__name__} with a {type(body).__name__} body on the fast path")
        body = b""
    parts = [b"HTTP/1.1 %d %s\r\n" % (resp.status, resp.reason.encode("latin-1"))]
    for key, value in resp.headers.items():
        if key.lower() not in _SKIPPED_RESPONSE_HEADERS:
            parts.append(f"{key}: {value}\r\n".encode())
    parts.append(b"Content-Length: %d\r\nDate: %s\r\n\r\n" % (len(body), date))
    parts.append(body)
    return b"".join(parts)


def _internal_error() -> bytes:
    body = orjson.dumps(errors.InternalError("an internal error occurred; the server log has the details").to_status())
    return b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" \
           b"Connection: close\r\n\r\n%s" % (len(body), body)


class Front:
    """Shared by the connections of one listening socket."""

    def __init__(self, handler: Handler, fallback: web.Server, *, max_body: int) -> None:
        self.handler = handler
        self.fallback = fallback
        self.max_body = max_body
        self.date = _Date()
        self.connections: set[Connection] = set()
        self.served = 0  # requests served here (the rest: aiohttp's)
        self.handed_over = 0  # connections given to aiohttp
        self._sweeper: asyncio.TimerHandle | None = None

    def protocol(self) -> Connection:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(IDLE_SECONDS / 3, self._sweep)
        return Connection(self)

    def _sweep(self) -> None:
        """Close connections idle past the keep-alive timeout, as aiohttp does."""
        cutoff = time.monotonic() - IDLE_SECONDS
        for conn in list(self.connections):
            if not conn.busy and conn.last_active < cutoff:
                conn.close()
        self._sweeper = asyncio.get_running_loop().call_later(IDLE_SECONDS / 3, self._sweep)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self.connections):
            conn.close()


class Connection(asyncio.Protocol):
    """One client connection while it sends requests this front serves."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False  # a request is being served: later ones wait in the buffer
        self.paused_reading = False
        self.writable: asyncio.Future[None] | None = None  # set while the transport's buffer is full
        self.last_active = time.monotonic()

    # ---- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.front.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        if not self.busy:
            self._next()
        elif not self.paused_reading and len(self.buffer) > self.front.max_body + MAX_HEAD_BYTES:
            self.paused_reading = True
            self.transport.pause_reading()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.connections.discard(self)
        self.transport = None
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    # ---- requests -----------------------------------------------------------------------

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _next(self) -> None:
        """Serve the request at the start of the buffer, if it is complete."""
        if self.transport is None or not self.buffer:
            return
        self.last_active = time.monotonic()
        parsed = parse(self.buffer, self.front.max_body)
        if parsed is None:
            self._hand_over()
            return
        if isinstance(parsed, int):
            return  # wait for the rest
        method, path, query_string, raw_query, headers, start, length = parsed
        body = self.buffer[start:start + length]
        self.buffer = self.buffer[start + length:]
        self.busy = True
        request = Request(method, path, query_string, raw_query, headers, body, self)
        asyncio.get_running_loop().create_task(self._serve(request))

    async def _serve(self, request: Request) -> None:
        front = self.front
        try:
            resp = await front.handler(request)
            data = b"" if request.streamed else encode_response(resp, front.date.now())
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except ConnectionResetError:  # the client left before its answer started (a watch, say)
            if self.transport is not None:
                self.transport.close()
            return
        except BaseException:  # app.make_handler answers refusals; this is a bug
            log.exception("fast path failed method=%s path=%s", request.method, request.path)
            if self.transport is not None:
                if not request.streamed:  # mid-stream, closing is all that is left to say
                    self.transport.write(_internal_error())
                self.transport.close()
            return
        front.served += 1
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if data:
            transport.write(data)
        if self.writable is not None:
            await self.writable
        self.busy = False
        self.last_active = time.monotonic()
        if self.paused_reading and self.transport is not None:
            self.paused_reading = False
            self.transport.resume_reading()
        if self.buffer:
            self._next()

    def _hand_over(self) -> None:
        """Give the connection, and what it sent that is not yet served, to aiohttp."""
        transport, pending = self.transport, self.buffer
        assert transport is not None
        self.front.connections.discard(self)
        self.front.handed_over += 1
        self.transport, self.buffer = None, b""
        if self.paused_reading:
            transport.resume_reading()
        handler = self.front.fallback()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if pending:
            handler.data_received(pending)
