"""Request bodies into Python values: JSON, YAML and kubectl's protobuf, with the limits
that keep a hostile body from costing more than a 400.

Called by ``handlers.py`` (every write), ``bulk.py`` and ``reviews.py``. What is refused:
an empty or malformed body (400), an unknown media type (415), nesting deeper than
``MAX_DEPTH`` (400: no Kubernetes object comes near it, the stored JSON encoder stops at
255 levels, and the recursive code after this, copies, patches and validation, must never
meet Python's recursion limit), and YAML that JSON cannot carry (binary, sets, integers
beyond 64 bits, NaN) or that expands past ``MAX_YAML_NODES`` through aliases.

YAML's depth is measured on libyaml's event stream before anything is composed: libyaml's
C composer recurses without a bound, and a 100 KB body nesting 50,000 deep (brackets, or
``? `` keys) crashed the process.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import orjson
import yaml

from kubelite.api import errors, protobuf

JSON = "application/json"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
MAX_DEPTH = 100
# Nodes a YAML document may expand to through its aliases (``&a``/``*a``): a few lines of
# nested aliases otherwise expand to billions.
MAX_YAML_NODES = 1_000_000


def decode_object(raw: bytes, media: str) -> Any:
    """A JSON or YAML request body as a Python value; 400 (never 500) when malformed."""
    if not raw.strip():
        raise errors.BadRequest("the request body is empty; send the object as JSON or YAML")
    if protobuf.is_protobuf(media):
        value = protobuf.decode(raw)[2]
    elif media in YAML_TYPES or media.endswith("+yaml"):
        value = _load_yaml(raw)
    else:
        if media not in (JSON, "*/*", "") and not media.endswith("+json"):
            raise errors.UnsupportedMediaType(
                f'the body of the request was in an unknown format - accepted media types include: '
                f'application/json, application/yaml (got "{media}")')
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if "recursion" in str(exc).lower():
                raise _too_deep() from None
            raise errors.BadRequest(f"the request body is not valid JSON: {exc}") from None
    # Every level opens with a bracket, so fewer brackets than the limit prove the depth
    # (two C-speed counts); only a body with many is measured.
    if raw.count(b"{") + raw.count(b"[") >= MAX_DEPTH and _deeper_than_limit(value):
        raise _too_deep()
    return value


# orjson encodes at most this many nested containers: wrapped in (ORJSON_DEPTH - MAX_DEPTH)
# lists, a value encodes exactly when it nests MAX_DEPTH deep or less. One encode in C is
# ~20 times cheaper than walking a big body (a bulk request of 500 Events) in Python.
ORJSON_DEPTH = 254


def _deeper_than_limit(value: Any) -> bool:
    probe = value
    for _ in range(ORJSON_DEPTH - MAX_DEPTH):
        probe = [probe]
    try:
        orjson.dumps(probe)
    except TypeError as exc:
        if "Recursion limit" in str(exc):
            return True
        return _depth(value, MAX_DEPTH + 1) > MAX_DEPTH  # not JSON (YAML's own types): walk it
    return False


def _load_yaml(raw: bytes) -> Any:
    fast = getattr(yaml, "CSafeLoader", None)
    loader = fast or yaml.SafeLoader
    try:
        _check_yaml_depth(raw, loader)
        loaded = yaml.load(raw, Loader=loader)
    except yaml.YAMLError as exc:
        raise errors.BadRequest(f"the request body is not valid YAML: {exc}") from None
    except RecursionError:
        raise _too_deep() from None
    return _as_json(loaded, 0, [MAX_YAML_NODES])


def _check_yaml_depth(raw: bytes, loader: Any) -> None:
    """400 when the document nests deeper than ``MAX_DEPTH``, judged from the parser's
    events (libyaml's parser keeps its own stack; only composing recurses)."""
    depth = 0
    for event in yaml.parse(raw, Loader=loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep()
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _too_deep() -> errors.BadRequest:
    return errors.BadRequest(f"the request body nests objects or lists more than {MAX_DEPTH} levels deep")


def _depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests, counted up to ``limit`` (iterative: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest >= limit:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _as_json(value: Any, depth: int, budget: list[int]) -> Any:
    """A YAML document as JSON would carry it, as upstream converts YAML to JSON before
    decoding: keys become strings (``1: a`` → ``"1"``), timestamps their text; what JSON
    cannot hold (binary, sets, integers beyond 64 bits, NaN) is a 400."""
    if depth > MAX_DEPTH:
        raise _too_deep()
    budget[0] -= 1
    if budget[0] < 0:
        raise errors.BadRequest(f"the request body expands to more than {MAX_YAML_NODES} values through "
                                "YAML aliases")
    if isinstance(value, dict):
        return {_yaml_key(k): _as_json(v, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v, depth + 1, budget) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise errors.BadRequest(f"the request body has an integer out of range: {value}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise errors.BadRequest(f"the request body has a number JSON cannot carry: {value}")
        return value
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat().replace("+00:00", "Z")
    raise errors.BadRequest(f"the request body has a YAML value JSON cannot carry ({type(value).__name__})")


def _yaml_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (int, float)):
        return str(key)
    raise errors.BadRequest(f"the request body has a YAML key JSON cannot carry ({type(key).__name__})")
