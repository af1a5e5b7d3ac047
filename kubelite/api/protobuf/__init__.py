"""Decoder for Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``).

Since client-go 1.32, typed clients (``kubectl create configmap|secret|deployment|…``,
``create token``, ``auth can-i``, ``debug``, ``autoscale``, typed deletes) POST, PUT and
DELETE bodies in protobuf. The API server calls ``is_protobuf(content_type)`` and then
``decode(body)``, which returns the same dict the client would have sent as JSON, so
everything after body decoding is shared with JSON requests.

A body is the magic ``k8s\\x00`` followed by a ``runtime.Unknown`` envelope:
``typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4``; ``raw``
is the typed message, decoded with the tables in ``kubelite.api.protobuf.messages``.

JSON shape rules (what Go's encoding/json would have produced from the same struct):
zero values and empty structs, lists and maps are dropped unless the field is a Go
pointer or has no ``omitempty`` (``replicas: 0`` and ``emptyDir: {}`` survive);
``metav1.Time`` becomes RFC 3339 seconds (``2026-11-21T21:00:00Z``), ``MicroTime`` keeps
microseconds; ``IntOrString`` becomes an int or a string; ``Quantity`` its string;
``bytes`` base64; ``FieldsV1`` the JSON it carries. Unknown field numbers are skipped, as
upstream skips fields a newer client knows about.

Errors: malformed bytes are ``errors.BadRequest`` (400) naming the field path; a
well-formed body of a kind without a table is ``errors.UnsupportedMediaType`` (415), which
tells the client to send JSON instead.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any, Final

from kubelite.api import errors
from kubelite.api.protobuf import messages, wire

MEDIA_TYPE: Final = "application/vnd.kubernetes.protobuf"
MAGIC: Final = b"k8s\x00"

_PACKABLE: Final = frozenset({"bool", "i32", "i64"})
_EXPECTED_WIRE: Final = {"bool": wire.VARINT, "i32": wire.VARINT, "i64": wire.VARINT}


class _DecodeError(Exception):
    """A problem at a field path; ``decode`` turns it into a BadRequest."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)


def is_protobuf(content_type: str) -> bool:
    """True if a Content-Type header names the Kubernetes protobuf media type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == MEDIA_TYPE


def decode(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """Decode a protobuf request body into ``(apiVersion, kind, object)``.

    ``object`` is the JSON-shaped dict with ``apiVersion`` and ``kind`` set. Raises
    ``errors.BadRequest`` for malformed input and ``errors.UnsupportedMediaType`` for a
    kind this decoder has no table for.
    """
    data = bytes(body)
    if not data.startswith(MAGIC):
        raise errors.BadRequest(
            "the protobuf request body does not start with the Kubernetes prefix 'k8s\\x00'"
        )
    try:
        api_version, kind, raw, content_type, content_encoding = _envelope(data[len(MAGIC) :])
    except (_DecodeError, wire.WireError) as exc:
        raise errors.BadRequest(f"the protobuf request body is malformed: {exc}") from None
    if not kind or not api_version:
        raise errors.BadRequest("the protobuf request body does not name its apiVersion and kind")
    if content_encoding:
        raise errors.BadRequest(
            f"the protobuf request body has unsupported contentEncoding {content_encoding!r}"
        )
    if content_type and content_type != MEDIA_TYPE:
        raise errors.BadRequest(
            f"the protobuf request body wraps unsupported contentType {content_type!r}"
        )
    msg = messages.root(api_version, kind)
    if msg is None:
        raise errors.UnsupportedMediaType(
            f'kubelite cannot decode {kind} in version "{api_version}" from protobuf; '
            "send it as application/json",
            kind=kind,
        )
    try:
        obj = _message(raw, msg, "")
    except (_DecodeError, wire.WireError) as exc:
        raise errors.BadRequest(f"the protobuf {kind} body is malformed: {exc}") from None
    except RecursionError:
        raise errors.BadRequest(f"the protobuf {kind} body is nested too deeply") from None
    assert isinstance(obj, dict)  # only list wrappers unwrap, and they are never roots
    return api_version, kind, {"apiVersion": api_version, "kind": kind, **obj}


def _envelope(data: bytes) -> tuple[str, str, bytes, str, str]:
    """Read runtime.Unknown: (apiVersion, kind, raw, contentType, contentEncoding)."""
    api_version = kind = content_type = content_encoding = ""
    raw = b""
    for number, wire_type, value in wire.iter_fields(data):
        if number == 1:
            type_meta = _len_payload(value, wire_type, "typeMeta")
            for inner, inner_type, inner_value in wire.iter_fields(type_meta):
                if inner == 1:
                    api_version = _string(inner_value, inner_type, "typeMeta.apiVersion")
                elif inner == 2:
                    kind = _string(inner_value, inner_type, "typeMeta.kind")
        elif number == 2:
            raw = _len_payload(value, wire_type, "raw")
        elif number == 3:
            content_encoding = _string(value, wire_type, "contentEncoding")
        elif number == 4:
            content_type = _string(value, wire_type, "contentType")
    return api_version, kind, raw, content_type, content_encoding


def _message(buf: bytes, msg: messages.Message, path: str) -> dict[str, Any] | list[Any]:
    """Decode one message into its JSON form (a list for wrapped slices like ExtraValue)."""
    values: dict[int, Any] = {}
    for number, wire_type, value in wire.iter_fields(buf):
        field = msg.fields.get(number)
        if field is None:
            continue  # a field this table does not know: newer client or alpha feature
        field_path = f"{path}.{field.name}" if path else field.name
        if field.shape is messages.Shape.LIST:
            items = values.setdefault(number, [])
            if wire_type == wire.LEN and field.type in _PACKABLE:
                assert isinstance(value, bytes)
                items.extend(_number(field.type, v) for v in wire.iter_packed_varints(value))
            else:
                items.append(_value(field.type, wire_type, value, f"{field_path}[{len(items)}]"))
        elif field.shape is messages.Shape.MAP:
            key, item = _map_entry(field, wire_type, value, field_path)
            values.setdefault(number, {})[key] = item
        else:
            values[number] = _value(field.type, wire_type, value, field_path)
    if msg.unwrap:
        return next(iter(values.values()), [])
    out: dict[str, Any] = {}
    for number, field in msg.fields.items():
        if number not in values:
            continue
        result = values[number]
        if field.inline:
            out.update(result)
        elif result is None or (not field.keep_zero and _is_zero(result)):
            continue
        else:
            out[field.name] = result
    return out


def _is_zero(value: Any) -> bool:
    # bool is an int, so False == 0 covers it; empty str, dict and list are falsy
    return not value and value is not None


def _map_entry(
    field: messages.Field, wire_type: int, value: wire.Value, path: str
) -> tuple[str, Any]:
    entry = _len_payload(value, wire_type, path)
    key = ""
    item: Any = None
    for number, entry_type, entry_value in wire.iter_fields(entry):
        if number == 1:
            key = _string(entry_value, entry_type, f"{path} key")
        elif number == 2:
            item = _value(field.type, entry_type, entry_value, f"{path}[{key or '?'}]")
    if item is None:
        item = _empty_value(field.type, path)
    return key, item


def _empty_value(type_name: str, path: str) -> Any:
    """The value of a map entry whose value record is absent (Go's zero value)."""
    if type_name in ("str", "bytes"):
        return ""
    if type_name == "Quantity":
        return "0"
    if type_name in _EXPECTED_WIRE:
        return _number(type_name, 0)
    return _value(type_name, wire.LEN, b"", path)


def _value(type_name: str, wire_type: int, value: wire.Value, path: str) -> Any:
    """Convert one record of a field of ``type_name`` to JSON."""
    expected = _EXPECTED_WIRE.get(type_name, wire.LEN)
    if wire_type != expected:
        raise _DecodeError(
            path,
            f"expected a {wire.WIRE_TYPE_NAMES[expected]} value, "
            f"got {wire.WIRE_TYPE_NAMES.get(wire_type, wire_type)}",
        )
    if isinstance(value, int):
        return _number(type_name, value)
    if type_name == "str":
        return _string(value, wire_type, path)
    if type_name == "bytes":
        return base64.b64encode(value).decode("ascii")
    if type_name in ("Time", "MicroTime"):
        return _time(value, path, micro=type_name == "MicroTime")
    if type_name == "IntOrString":
        return _int_or_string(value, path)
    if type_name == "Quantity":
        return _quantity(value, path)
    if type_name == "FieldsV1":
        return _fields_v1(value, path)
    return _message(value, messages.message(type_name), path)


def _number(type_name: str, value: int) -> int | bool:
    if type_name == "bool":
        return value != 0
    if type_name == "i32":
        return wire.as_int32(value)
    return wire.as_int64(value)


def _len_payload(value: wire.Value, wire_type: int, path: str) -> bytes:
    if wire_type != wire.LEN or not isinstance(value, bytes):
        raise _DecodeError(path, "expected a length-delimited value")
    return value


def _string(value: wire.Value, wire_type: int, path: str) -> str:
    payload = _len_payload(value, wire_type, path)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise _DecodeError(path, "string is not valid UTF-8") from None


def _scalars(buf: bytes, path: str, *, numbers: dict[int, str]) -> dict[int, Any]:
    """Read a small fixed message of scalars ({field number: type}); last record wins."""
    out: dict[int, Any] = {}
    for number, wire_type, value in wire.iter_fields(buf):
        if number in numbers:
            out[number] = _value(numbers[number], wire_type, value, path)
    return out


def _time(buf: bytes, path: str, *, micro: bool) -> str | None:
    # metav1.Time: an empty message is the zero time, which JSON writes as null
    if not buf:
        return None
    parts = _scalars(buf, path, numbers={1: "i64", 2: "i32"})
    seconds, nanos = parts.get(1, 0), parts.get(2, 0)
    try:
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        raise _DecodeError(path, f"timestamp {seconds} is out of range") from None
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    # Time keeps whole seconds (upstream drops nanos on purpose); MicroTime microseconds
    if micro:
        if not 0 <= nanos < 1_000_000_000:
            raise _DecodeError(path, f"nanos {nanos} is out of range")
        text += f".{nanos // 1000:06d}"
    return text + "Z"


def _int_or_string(buf: bytes, path: str) -> int | str:
    parts = _scalars(buf, path, numbers={1: "i64", 2: "i32", 3: "str"})
    if parts.get(1, 0) == 1:
        text: str = parts.get(3, "")
        return text
    number: int = parts.get(2, 0)
    return number


def _quantity(buf: bytes, path: str) -> str:
    text: str = _scalars(buf, path, numbers={1: "str"}).get(1, "")
    return text


def _fields_v1(buf: bytes, path: str) -> Any:
    raw = b""
    for number, wire_type, value in wire.iter_fields(buf):
        if number == 1:
            raw = _len_payload(value, wire_type, path)
    if not raw:
        return None  # Go marshals a FieldsV1 without Raw as null
    try:
        return json.loads(raw)
    except ValueError:
        raise _DecodeError(path, "fieldsV1 does not hold JSON") from None
