"""SPDY/3.1 tunnelled in WebSocket: the server side of ``kubectl port-forward``.

kubectl (client-go ``tools/portforward``, 1.30+) opens a WebSocket with the subprotocol
``SPDY/3.1+portforward.k8s.io`` and then speaks plain SPDY/3.1 through it: the binary
messages are one byte stream (a frame may span messages, a message may hold several
frames). ``kubelite.apiserver.streams`` accepts the upgrade and hands the socket to
``TunnelSession``, which terminates SPDY here and forwards each connection through the node
agent's ``/portForward`` WebSocket.

Per local connection kubectl opens two streams carrying the headers ``streamtype``
(``error`` then ``data``), ``port`` and ``requestid``; it waits for a SYN_REPLY on each,
half-closes the error stream at once and reads it to the end after the data stream is done.
Anything written on the error stream makes kubectl drop the whole session, so it carries
only real failures.

The framing (learned from the SPDY/3 draft, golang.org/x/net/spdy and moby/spdystream):

- control frame: ``1 | version(15)=3 | type(16)``, ``flags(8) | length(24)``, payload;
- data frame: ``0 | stream-id(31)``, ``flags(8) | length(24)``, data (flag 0x01 = FIN);
- header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are ``count(32)`` then per pair
  ``len(32) name len(32) value`` (several values joined by NUL), compressed with *one*
  zlib stream per direction for the whole connection, primed with the SPDY/3 dictionary
  and sync-flushed after each block — so frames must be compressed in the order they
  are sent.

Flow control (WINDOW_UPDATE) is ignored in both directions, as spdystream does.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from kubelite.aio import tasks

log = logging.getLogger("kubelite.apiserver.streams")

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
VERSION = 3
MAX_DATA = 0xFFFFFF
FLAG_FIN = 0x01

# The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1): these words, each
# behind a 4-byte big-endian length, then a run of common header values. Its Adler-32 is
# the dictionary id that zlib checks (0xe3c6a7c2, asserted by the tests).
_DICT_WORDS = (
    *"options head post put delete trace accept accept-charset accept-encoding accept-language "  # noqa: SIM905
     "accept-ranges age allow authorization cache-control connection content-base content-encoding "
     "content-language content-length content-location content-md5 content-range content-type date etag "
     "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
     "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
     "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
     "method get status".split(),
    "200 OK",
    *"version HTTP/1.1 url public set-cookie keep-alive origin".split(),  # noqa: SIM905
)
_DICT_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    words = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICT_WORDS)
    return words + _DICT_TAIL.encode()


DICTIONARY = _dictionary()


class FrameType(enum.IntEnum):
    SYN_STREAM = 1  # opens a stream; carries headers
    SYN_REPLY = 2  # accepts a stream; the client's CreateStream waits for it
    RST_STREAM = 3  # aborts a stream
    SETTINGS = 4
    PING = 6  # echoed back unchanged
    GOAWAY = 7  # the peer is closing the session
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(enum.IntEnum):
    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    CANCEL = 5
    INTERNAL_ERROR = 6


Headers = dict[str, list[str]]


@dataclass
class ControlFrame:
    type: int
    flags: int
    payload: bytes


@dataclass
class DataFrame:
    stream_id: int
    flags: int
    data: bytes


Frame = ControlFrame | DataFrame


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3."""


def encode_header_block(headers: Headers) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        key, value = name.lower().encode(), "\x00".join(values).encode()
        out.append(struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value)
    return b"".join(out)


def decode_header_block(raw: bytes) -> Headers:
    try:
        (count,) = struct.unpack_from(">I", raw, 0)
        pos = 4
        headers: Headers = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4: pos + 4 + n].decode().lower()
            pos += 4 + n
            (n,) = struct.unpack_from(">I", raw, pos)
            value = raw[pos + 4: pos + 4 + n].decode()
            pos += 4 + n
            headers.setdefault(name, []).extend(value.split("\x00"))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed header block: {exc}") from None
    return headers


class FrameReader:
    """Bytes in (any split), frames out; owns the inbound header decompressor."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, second = struct.unpack_from(">II", self._buf, 0)
            length = second & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            body = bytes(self._buf[8: 8 + length])
            del self._buf[: 8 + length]
            if first & 0x80000000:
                version = (first >> 16) & 0x7FFF
                if version != VERSION:
                    raise ProtocolError(f"unsupported SPDY version {version}")
                frames.append(ControlFrame(type=first & 0xFFFF, flags=second >> 24, payload=body))
            else:
                frames.append(DataFrame(stream_id=first & 0x7FFFFFFF, flags=second >> 24, data=body))
        return frames

    def headers(self, block: bytes) -> Headers:
        """Inflate one header block; must be called for every block, in arrival order."""
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as exc:
            raise ProtocolError(f"header block does not inflate: {exc}") from None
        return decode_header_block(raw)


class FrameWriter:
    """Frames out as bytes; owns the outbound header compressor (so: one writer, in order)."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8,
                                         zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY)

    @staticmethod
    def control(ftype: FrameType, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) + payload

    def _block(self, headers: Headers) -> bytes:
        raw = encode_header_block(headers)
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, stream_id: int, headers: Headers, *, fin: bool = False) -> bytes:
        payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + self._block(headers)
        return self.control(FrameType.SYN_STREAM, FLAG_FIN if fin else 0, payload)

    def syn_reply(self, stream_id: int, headers: Headers | None = None, *, fin: bool = False) -> bytes:
        payload = struct.pack(">I", stream_id) + self._block(headers or {})
        return self.control(FrameType.SYN_REPLY, FLAG_FIN if fin else 0, payload)

    def rst_stream(self, stream_id: int, status: RstStatus) -> bytes:
        return self.control(FrameType.RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        return self.control(FrameType.PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_stream_id: int, status: int = 0) -> bytes:
        return self.control(FrameType.GOAWAY, 0, struct.pack(">II", last_stream_id, status))

    @staticmethod
    def data(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
        out = []
        # a DATA frame's length has 24 bits: split bigger writes
        for start in range(0, max(len(data), 1), MAX_DATA):
            chunk = data[start: start + MAX_DATA]
            last = start + MAX_DATA >= len(data)
            flags = FLAG_FIN if fin and last else 0
            out.append(struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(chunk)) + chunk)
        return b"".join(out)


# --- the port-forward session ------------------------------------------------------------

Connect = Callable[[int], Awaitable[aiohttp.ClientWebSocketResponse]]


@dataclass
class _Pair:
    """One forwarded connection: kubectl's error and data streams with one requestID."""

    request_id: str
    port: int
    data_id: int = 0
    error_id: int = 0
    outbox: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    agent: aiohttp.ClientWebSocketResponse | None = None
    data_done: bool = False  # FIN or RST sent on the data stream
    error_done: bool = False
    reset: bool = False  # the client reset the data stream: drop what the pod still sends
    started: bool = False


class TunnelSession:
    """Serve one ``SPDY/3.1+portforward.k8s.io`` WebSocket until the client goes.

    ``connect(port)`` opens a channel WebSocket to the pod's port (the agent's
    ``/portForward``, the Python client's framing); each forwarded connection gets its own.
    """

    def __init__(self, ws: web.WebSocketResponse, *, connect: Connect, name: str) -> None:
        self.ws = ws
        self.connect = connect
        self.name = name
        self.reader = FrameReader()
        self.writer = FrameWriter()
        self._wlock = asyncio.Lock()
        self._pairs: dict[str, _Pair] = {}
        self._by_stream: dict[int, _Pair] = {}
        self._last_stream = 0
        self.tasks = tasks.TaskGroup(f"portforward/{name}")

    async def _send(self, make: Callable[[], bytes]) -> None:
        # compress and send under one lock: the peer inflates header blocks in arrival order
        async with self._wlock:
            if self.ws.closed:
                return
            try:
                await self.ws.send_bytes(make())
            except (ConnectionResetError, aiohttp.ClientConnectionError, RuntimeError):
                pass

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    continue
                for frame in self.reader.feed(msg.data):
                    if not await self._handle(frame):
                        return
        except ProtocolError as exc:
            log.warning("port-forward protocol error pod=%s error=%s", self.name, exc)
            await self._send(functools.partial(self.writer.goaway, self._last_stream, 1))
        finally:
            for pair in list(self._pairs.values()):
                await self._close_agent(pair)
            await self.tasks.close(timeout=2.0)
            if not self.ws.closed:
                await self.ws.close()

    async def _handle(self, frame: Frame) -> bool:
        """One frame from kubectl; False once the session is over."""
        if isinstance(frame, DataFrame):
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data_id and frame.data and not pair.reset:
                pair.outbox.put_nowait(frame.data)
            # a FIN from kubectl is its half-close; the pod's side ends the connection
            return True
        ftype = frame.type
        if ftype == FrameType.SYN_STREAM:
            await self._syn_stream(frame)
        elif ftype in (FrameType.SYN_REPLY, FrameType.HEADERS):
            self.reader.headers(frame.payload[4:])  # keep the shared inflater in step
        elif ftype == FrameType.RST_STREAM:
            (stream_id,) = struct.unpack_from(">I", frame.payload, 0)
            pair = self._by_stream.get(stream_id & 0x7FFFFFFF)
            if pair is not None:
                if stream_id & 0x7FFFFFFF == pair.data_id:
                    pair.data_done = pair.reset = True
                else:
                    pair.error_done = True
                await self._close_agent(pair)
        elif ftype == FrameType.PING:
            # we never ping, so every ping is the client's: echo it
            await self._send(functools.partial(self.writer.control, FrameType.PING, 0, frame.payload))
        elif ftype == FrameType.GOAWAY:
            return False
        # SETTINGS and WINDOW_UPDATE: nothing to do (no flow control, as spdystream)
        return True

    async def _syn_stream(self, frame: ControlFrame) -> None:
        stream_id, _assoc = struct.unpack_from(">II", frame.payload, 0)
        stream_id &= 0x7FFFFFFF
        headers = self.reader.headers(frame.payload[10:])
        self._last_stream = max(self._last_stream, stream_id)
        kind = (headers.get("streamtype") or [""])[0]
        port_text = (headers.get("port") or [""])[0]
        request_id = (headers.get("requestid") or [""])[0] or f"stream-{stream_id}"
        if kind not in ("data", "error") or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            await self._send(functools.partial(self.writer.rst_stream, stream_id, RstStatus.PROTOCOL_ERROR))
            return
        await self._send(functools.partial(self.writer.syn_reply, stream_id))
        pair = self._pairs.get(request_id)
        if pair is None:
            pair = self._pairs[request_id] = _Pair(request_id=request_id, port=int(port_text))
        self._by_stream[stream_id] = pair
        if kind == "error":
            pair.error_id = stream_id
        else:
            pair.data_id = stream_id
            if not pair.started:
                pair.started = True
                self.tasks.spawn(self._forward(pair), name=f"{pair.port}/{request_id}")

    async def _forward(self, pair: _Pair) -> None:
        """Carry one connection: kubectl's data stream ⇄ the agent's channels 0 (data) and 1 (error)."""
        try:
            agent = await self.connect(pair.port)
        except Exception as exc:  # noqa: BLE001 - reported to kubectl on the error stream
            await self._finish(pair, error=f"error forwarding port {pair.port} to pod {self.name}: {exc}")
            return
        pair.agent = agent
        if pair.reset:
            await agent.close()
        writer = self.tasks.spawn(self._to_agent(pair, agent), name=f"{pair.port}/{pair.request_id}/in")
        error = ""
        prefixed = {0: False, 1: False}
        try:
            async for msg in agent:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                channel, payload = msg.data[0], bytes(msg.data[1:])
                if channel in prefixed and not prefixed[channel]:
                    # each channel opens with the port number (2 bytes, little-endian)
                    prefixed[channel] = True
                    payload = payload[2:]
                if not payload:
                    continue
                if channel == 0 and not pair.reset:
                    await self._send(functools.partial(self.writer.data, pair.data_id, payload))
                elif channel == 1:
                    error += payload.decode(errors="replace")
                    break
        except (aiohttp.ClientError, ConnectionResetError):
            pass
        finally:
            writer.cancel()
            await agent.close()
        await self._finish(pair, error=error)

    async def _to_agent(self, pair: _Pair, agent: aiohttp.ClientWebSocketResponse) -> None:
        while (data := await pair.outbox.get()) is not None:
            try:
                await agent.send_bytes(b"\x00" + data)
            except (ConnectionResetError, aiohttp.ClientError, RuntimeError):
                return

    async def _finish(self, pair: _Pair, *, error: str) -> None:
        """The pod's side is done: FIN the data stream, report ``error`` (if any), FIN the error stream."""
        if pair.data_id and not pair.data_done:
            pair.data_done = True
            await self._send(functools.partial(self.writer.data, pair.data_id, b"", fin=True))
        if pair.error_id and not pair.error_done:
            pair.error_done = True
            await self._send(functools.partial(self.writer.data, pair.error_id, error.encode(), fin=True))
        elif error:
            log.warning("port-forward failed pod=%s port=%d error=%s", self.name, pair.port, error)
        self._pairs.pop(pair.request_id, None)
        for sid in (pair.data_id, pair.error_id):
            self._by_stream.pop(sid, None)

    async def _close_agent(self, pair: _Pair) -> None:
        pair.outbox.put_nowait(None)
        if pair.agent is not None and not pair.agent.closed:
            await pair.agent.close()
