"""Protocol-buffers wire format reader: the bytes-level half of the protobuf body decoder.

``kubelite.api.protobuf`` walks a message with ``iter_fields`` and turns each raw value into
JSON with the conversion helpers below, guided by the field tables in
``kubelite.api.protobuf.messages``. Nothing here knows about Kubernetes.

The format (https://protobuf.dev/programming-guides/encoding/): a message is a sequence of
``key value`` records, ``key = field_number << 3 | wire_type``, every integer a base-128
varint. Errors are ``WireError`` (a ``ValueError``) carrying a short reason; the caller adds
the object path and turns it into a 400 BadRequest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

VARINT: Final = 0
FIXED64: Final = 1
LEN: Final = 2
START_GROUP: Final = 3
END_GROUP: Final = 4
FIXED32: Final = 5

WIRE_TYPE_NAMES: Final = {
    VARINT: "varint",
    FIXED64: "fixed64",
    LEN: "length-delimited",
    START_GROUP: "start-group",
    END_GROUP: "end-group",
    FIXED32: "fixed32",
}

_MAX_FIELD_NUMBER: Final = (1 << 29) - 1
# Groups are a proto2 relic no Kubernetes type uses; the bound only stops a hostile body
# from recursing through nested groups.
_MAX_GROUP_DEPTH: Final = 32

Value = int | bytes


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def varint(value: int) -> bytes:
    """``value`` (unsigned) as a varint: the one writer the readers' users need (the node
    agent's gRPC health probe writes its one-field request with it)."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read one varint at ``pos``; return (unsigned value, position after it)."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        # a varint is at most 10 bytes (64 bits); Go's decoder calls longer ones overflow
        if shift >= 70:
            raise WireError("varint overflows 64 bits")
    return result & 0xFFFFFFFFFFFFFFFF, pos


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, Value]]:
    """Yield ``(field_number, wire_type, value)`` for each record of one message.

    ``value`` is the unsigned integer for varint/fixed32/fixed64 records and the payload
    bytes for length-delimited ones. Groups are skipped whole (no Kubernetes type has one).
    """
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number < 1 or number > _MAX_FIELD_NUMBER:
            raise WireError(f"invalid field number {number}")
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos)
            yield number, wire_type, value
        elif wire_type == LEN:
            length, pos = read_varint(buf, pos)
            if length > end - pos:
                raise WireError(f"field {number}: length {length} runs past the end of the data")
            yield number, wire_type, buf[pos : pos + length]
            pos += length
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise WireError(f"field {number}: truncated fixed64")
            yield number, wire_type, int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise WireError(f"field {number}: truncated fixed32")
            yield number, wire_type, int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        elif wire_type == START_GROUP:
            pos = _skip_group(buf, pos, number, depth=1)
        elif wire_type == END_GROUP:
            raise WireError(f"field {number}: end-group without a start")
        else:
            raise WireError(f"field {number}: unknown wire type {wire_type}")


def _skip_group(buf: bytes, pos: int, number: int, *, depth: int) -> int:
    """Skip a group's records up to its matching end-group key; return the position after."""
    if depth > _MAX_GROUP_DEPTH:
        raise WireError("groups nested too deeply")
    end = len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        inner, wire_type = key >> 3, key & 7
        if wire_type == END_GROUP:
            if inner != number:
                raise WireError(f"group {number} closed by end-group {inner}")
            return pos
        if wire_type == VARINT:
            _, pos = read_varint(buf, pos)
        elif wire_type == LEN:
            length, pos = read_varint(buf, pos)
            pos += length
        elif wire_type == FIXED64:
            pos += 8
        elif wire_type == FIXED32:
            pos += 4
        elif wire_type == START_GROUP:
            pos = _skip_group(buf, pos, inner, depth=depth + 1)
        else:
            raise WireError(f"field {inner}: unknown wire type {wire_type}")
    raise WireError(f"group {number} is not closed")


def iter_packed_varints(buf: bytes) -> Iterator[int]:
    """Yield the varints of a packed repeated field's payload."""
    pos = 0
    while pos < len(buf):
        value, pos = read_varint(buf, pos)
        yield value


def as_int32(value: int) -> int:
    """Go's int32 conversion: keep the low 32 bits, two's complement."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def as_int64(value: int) -> int:
    """Two's complement of a 64-bit varint (negative numbers use all 10 bytes)."""
    return value - (1 << 64) if value >= 1 << 63 else value
