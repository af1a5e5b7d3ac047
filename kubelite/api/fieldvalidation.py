"""Field validation of request bodies: unknown fields, duplicate fields, wrong JSON types.

The API server calls these for ``fieldValidation=Strict|Warn`` (kubectl asks for Strict
by default) and to refuse values of the wrong type before they reach a strategy. The
wording follows upstream's decoder (``sigs.k8s.io/json`` through apimachinery's strict
serializer), because users paste these messages into search engines:

- each problem is ``unknown field "spec.containers[0].imagee"`` or
  ``duplicate field "metadata.name"`` — with Warn, each one is a ``Warning`` header;
- with Strict they are joined behind ``strict decoding error: `` (``strict_message``) and,
  on create/update, prefixed ``Pod in version "v1" cannot be handled as a Pod: ``
  (``cannot_handle``) in a 400 BadRequest; for patches upstream answers 422 Invalid on the
  field ``patch``;
- a wrong type reads ``json: cannot unmarshal string into Go struct field
  ContainerPort.spec.containers.ports.containerPort of type int32``; for custom resources
  it reads as the CRD schema validator's ``Invalid value: "string": spec.replicas in body
  must be of type integer: "string"``.

Paths have no leading dot, indices in brackets and map keys as path segments, as upstream.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

from kubelite.api import errors, omitempty, schema

# Upstream stops collecting strict errors after 100 (sigs.k8s.io/json saveStrictError).
MAX_STRICT_ERRORS: Final = 100

TYPE_INVALID: Final = "FieldValueTypeInvalid"

_INT_RANGES: Final = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


# --- unknown fields ---------------------------------------------------------------------


# Verdicts on top-level sections (a pod's spec) by their bytes: pods of one template repeat
# their spec byte for byte, and walking it against the schema (unknown fields, then types)
# costs 10-20 µs of each create where encoding it as a key costs 1-2. Not metadata: it
# differs in every object (name, uid), so a memo would never hit. Bounded: cleared when
# full. An entry holds its schema node, so no other node can take that node's id meanwhile.
_Verdict = tuple[schema.Node, list[str], list[errors.Cause], bool]
_SECTION_VERDICTS: dict[tuple[int, str, bytes], _Verdict] = {}
_SECTION_VERDICTS_MAX = 512
# metadata's string fields: a request's metadata is checked by hand when it is this plain
_META_STRINGS: Final = frozenset({"name", "generateName", "namespace", "uid", "resourceVersion"})


def unknown_fields(obj: Any, node: schema.Node) -> list[str]:
    """Paths of fields in ``obj`` that ``node`` does not declare (``spec.foo``)."""
    return inspect(obj, node, types=False)[1]


def inspect(obj: Any, node: schema.Node, *, types: bool = True,
            unknown: bool = True) -> tuple[errors.Cause | None, list[str], list[str]]:
    """One pass over a request body: the first value of the wrong JSON type (what
    upstream's decoder stops at; None if none or not asked), the paths of unknown fields
    (if asked), and the top-level fields that may hold a zero value ("", 0, false, null,
    [], {}) somewhere, the only ones ``omitempty.normalize`` needs to walk: a pod create's
    spec is proven free of them by the section memo, its metadata by a look at its values.
    (A plain tuple: a NamedTuple costs a create ~0.3 µs more.)"""
    out: list[str] = []
    if node.kind != "object" or not isinstance(obj, dict):
        if unknown:
            _walk_unknown(obj, node, "", out)
        found = type_errors(obj, node) if types else []
        return (found[0] if found else None), out, list(obj) if isinstance(obj, dict) else []
    first: errors.Cause | None = None
    zeros: list[str] = []
    struct = node.go_struct
    for key, sub in obj.items():
        child = node.child(key)
        if child is None:
            if unknown and not node.preserve_unknown and len(out) < MAX_STRICT_ERRORS:
                out.append(key)
            continue
        if isinstance(sub, dict) and key != "metadata":
            unknown_here, wrong, zero_free = _section_verdict(sub, child, key, struct)
            if unknown:
                out.extend(unknown_here[:MAX_STRICT_ERRORS - len(out)])
            if types and first is None and wrong:
                first = wrong[0]
            if not zero_free:
                zeros.append(key)
            continue
        plain = False
        if key == "metadata":
            plain, zero_free = _plain_metadata(sub)
            if not zero_free:
                zeros.append(key)
        elif type(sub) is str:
            if not sub:
                zeros.append(key)
        elif not _zero_free(sub):
            zeros.append(key)
        if unknown and isinstance(sub, (dict, list)):
            _walk_unknown(sub, child, key, out)
        if types and first is None and sub is not None and not plain:
            found = []
            _walk_types(sub, child, path=key, struct=struct, go_path=key, out=found)
            first = found[0] if found else None
    return first, out, zeros


def prune_unknown(value: Any, node: schema.Node) -> None:
    """Drop, in place, every field ``node`` does not declare, as upstream's decoding of a
    built-in kind into its Go struct does (the fields a Warn answer named, or Ignore did
    not). Called only when ``inspect`` found some: most bodies have none."""
    kind = node.kind
    if kind == "object" and isinstance(value, dict):
        if node.preserve_unknown:
            return
        for key in list(value):
            child = node.child(key)
            if child is None:
                del value[key]
            elif isinstance(value[key], (dict, list)):
                prune_unknown(value[key], child)
    elif kind == "map" and isinstance(value, dict):
        child = node.additional()
        if child is not None and child.kind in ("object", "map", "array"):
            for sub in value.values():
                prune_unknown(sub, child)
    elif kind == "array" and isinstance(value, list):
        items = node.items()
        if items is not None and items.kind in ("object", "map", "array"):
            for sub in value:
                prune_unknown(sub, items)


def zero_nulls(obj: dict[str, Any], node: schema.Node) -> None:
    """Top-level ``null``s as Go's decoder leaves them, in place: a struct its zero value
    (``"spec": null`` → ``{}``), anything else absent. Strategies can then rely on
    ``metadata``, ``spec`` and ``status`` being objects."""
    for key in [k for k, v in obj.items() if v is None]:
        child = node.child(key)
        if child is not None and child.kind == "object":
            obj[key] = {}
        else:
            del obj[key]


def _plain_metadata(md: Any) -> tuple[bool, bool]:
    """Whether metadata is the usual kind (strings, and labels/annotations of strings): no
    type error possible, no walk needed; and whether it is also free of zero values (no
    empty string or map, no label value "")."""
    if not isinstance(md, dict):
        return False, False
    zero_free = True
    for key, value in md.items():
        if key in _META_STRINGS:
            if type(value) is not str:
                return False, False
            zero_free = zero_free and value != ""
        elif key in ("labels", "annotations"):
            if type(value) is not dict:
                return False, False
            zero_free = zero_free and bool(value)
            for item in value.values():
                if type(item) is not str:
                    return False, False
                zero_free = zero_free and item != ""
        else:
            return False, False
    return True, zero_free


def _zero_free(value: Any) -> bool:
    """True when ``value`` holds no zero value at any depth (a top-level scalar or list)."""
    if isinstance(value, dict):
        if not value:
            return False
        for sub in value.values():
            if type(sub) is str:  # most values: no call
                if not sub:
                    return False
            elif not _zero_free(sub):
                return False
        return True
    if isinstance(value, list):
        if not value:
            return False
        for sub in value:
            if not _zero_free(sub):
                return False
        return True
    return bool(value)


def _section_verdict(section: dict[str, Any], node: schema.Node, path: str,
                     struct: str) -> tuple[list[str], list[errors.Cause], bool]:
    """Unknown fields, type errors and whether it is free of zero values, of one section."""
    try:
        text = orjson.dumps(section)
    except TypeError:  # not JSON-encodable: no memo
        text = None
    memo_key = None if text is None else (id(node), path, text)
    if memo_key is not None:
        held = _SECTION_VERDICTS.get(memo_key)
        if held is not None and held[0] is node:
            return held[1], held[2], held[3]
    unknown: list[str] = []
    _walk_unknown(section, node, path, unknown)
    wrong: list[errors.Cause] = []
    _walk_types(section, node, path=path, struct=struct, go_path=path, out=wrong)
    zero_free = text is not None and omitempty.zero_free(text)
    if memo_key is not None:
        if len(_SECTION_VERDICTS) >= _SECTION_VERDICTS_MAX:
            _SECTION_VERDICTS.clear()
        _SECTION_VERDICTS[memo_key] = (node, unknown, wrong, zero_free)
    return unknown, wrong, zero_free


def _walk_unknown(value: Any, node: schema.Node, path: str, out: list[str]) -> None:
    kind = node.kind
    if kind == "object":
        if not isinstance(value, dict):
            return
        for key, sub in value.items():
            sub_path = f"{path}.{key}" if path else key
            child = node.child(key)
            if child is None:
                if not node.preserve_unknown and len(out) < MAX_STRICT_ERRORS:
                    out.append(sub_path)
                continue
            # scalars cannot hold unknown fields: skip the call
            if isinstance(sub, (dict, list)):
                _walk_unknown(sub, child, sub_path, out)
    elif kind == "map":
        if not isinstance(value, dict):
            return
        child = node.additional()
        if child is None or child.kind not in ("object", "map", "array"):
            return
        for key, sub in value.items():
            if isinstance(sub, (dict, list)):
                _walk_unknown(sub, child, f"{path}.{key}" if path else key, out)
    elif kind == "array":
        if not isinstance(value, list):
            return
        items = node.items()
        if items is None or items.kind not in ("object", "map", "array"):
            return
        for i, sub in enumerate(value):
            if isinstance(sub, (dict, list)):
                _walk_unknown(sub, items, f"{path}[{i}]", out)


# --- duplicate fields -------------------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """A JSON object kept as its key/value pairs, duplicates included."""


def _no_duplicates(raw: bytes | str, parsed: Any) -> bool:
    """True when ``raw`` (JSON) provably has no duplicate key, judged from ``parsed``, the
    object a parser made of it (keeping one member per key), without parsing again.

    Every member of an object is written with one ``:`` outside strings; every other ``:``
    of the text is inside a string. Without ``\\u`` escapes a colon in a parsed string is a
    literal colon of the text, and orjson writes colons in strings as they are. So
    re-encoding ``parsed`` gives as many colons as ``raw`` exactly when no member was
    dropped; a duplicate drops at least its own structural colon and never adds one.
    ``False`` means "not proven": the caller then looks the slow way.
    """
    text = raw.encode() if isinstance(raw, str) else raw
    if b"\\u" in text:
        return False
    try:
        return text.count(b":") == orjson.dumps(parsed).count(b":")
    except TypeError:
        return False


def duplicate_fields(raw: bytes | str, parsed: Any = None) -> list[str]:
    """Paths of keys that appear twice in the same JSON object of ``raw``.

    With ``parsed`` (what the caller's own decoding of ``raw`` gave, not yet changed) the
    common case costs one re-encode in C (``_no_duplicates``). Otherwise it costs one
    parse with a cheap hook; only a body that has duplicates is parsed again to name their
    paths. Invalid JSON gives ``[]``: the caller's own decode reports it.
    """
    if parsed is not None and _no_duplicates(raw, parsed):
        return []
    found = False

    def detect(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        d = dict(pairs)
        if len(d) != len(pairs):
            found = True
        return d

    try:
        json.loads(raw, object_pairs_hook=detect)
    except ValueError:
        return []
    if not found:
        return []
    tree = json.loads(raw, object_pairs_hook=_Pairs)
    out: list[str] = []
    _walk_duplicates(tree, "", out)
    return out


def _walk_duplicates(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        reported: set[str] = set()
        for key, sub in value:
            sub_path = f"{path}.{key}" if path else key
            if key in seen:
                if key not in reported and len(out) < MAX_STRICT_ERRORS:
                    out.append(sub_path)
                    reported.add(key)
            else:
                seen.add(key)
            _walk_duplicates(sub, sub_path, out)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            _walk_duplicates(sub, f"{path}[{i}]", out)


# --- messages ---------------------------------------------------------------------------


def strict_errors(*, obj: Any, node: schema.Node | None, raw: bytes | str | None = None) -> list[str]:
    """Every strictness problem as upstream words it (``unknown field "spec.x"``).

    Used as-is for ``Warning`` headers (Warn) or joined by ``strict_message`` (Strict).
    """
    problems = [f"unknown field {go_quote(p)}" for p in unknown_fields(obj, node)] if node else []
    if raw is not None:
        problems.extend(f"duplicate field {go_quote(p)}" for p in duplicate_fields(raw))
    return problems[:MAX_STRICT_ERRORS]


def go_quote(text: str) -> str:
    """``text`` as Go's ``%q`` writes it, as upstream words a field path: quotes and
    backslashes escaped, control characters as escapes (a field named ``a<newline>b``
    is ``"a\\nb"``), never a raw line break in a message or a header."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def strict_message(problems: list[str]) -> str:
    """``strict decoding error: unknown field "a", duplicate field "b"``."""
    return "strict decoding error: " + ", ".join(problems)


def cannot_handle(*, kind: str, version: str, detail: str) -> str:
    """Upstream's decode failure prefix: ``Pod in version "v1" cannot be handled as a Pod: …``."""
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}'


# --- wrong JSON types -------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def type_errors(obj: Any, node: schema.Node) -> list[errors.Cause]:
    """Values whose JSON type the schema does not allow, one ``Cause`` each.

    ``null`` is accepted everywhere, as Go's decoder does (it leaves the zero value).
    Upstream stops at the first one; callers that want that take ``[0]``.
    """
    out: list[errors.Cause] = []
    _walk_types(obj, node, path="", struct=node.go_struct, go_path="", out=out)
    return out


def _walk_types(
    value: Any, node: schema.Node, *, path: str, struct: str, go_path: str, out: list[errors.Cause]
) -> None:
    if value is None:
        return
    problem = _type_problem(value, node)
    if problem is not None:
        out.append(_type_cause(value, node, problem=problem, path=path, struct=struct, go_path=go_path))
        return
    kind = node.kind
    if kind == "object":
        inner = node.go_struct or struct
        for key, sub in value.items():
            child = node.child(key)
            if child is None or sub is None:
                continue
            _walk_types(sub, child, path=f"{path}.{key}" if path else key, struct=inner,
                        go_path=f"{go_path}.{key}" if go_path else key, out=out)
    elif kind == "map":
        child = node.additional()
        if child is None:
            return
        for key, sub in value.items():
            # Go's error context names struct fields only, not map keys
            _walk_types(sub, child, path=f"{path}.{key}" if path else key, struct=struct,
                        go_path=go_path, out=out)
    elif kind == "array":
        items = node.items()
        if items is None:
            return
        for i, sub in enumerate(value):
            _walk_types(sub, items, path=f"{path}[{i}]", struct=struct, go_path=go_path, out=out)


def _type_problem(value: Any, node: schema.Node) -> str | None:
    """None if ``value`` fits ``node``, else the Go decoder's description of the value."""
    kind = node.kind
    if kind == "object" or kind == "map":
        return None if isinstance(value, dict) else _json_type(value)
    if kind == "array":
        return None if isinstance(value, list) else _json_type(value)
    if kind == "string":
        return None if isinstance(value, str) else _json_type(value)
    if kind == "boolean":
        return None if isinstance(value, bool) else _json_type(value)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _json_type(value)
        if isinstance(value, float):
            return f"number {_number_text(value)}"
        low, high = _INT_RANGES.get(node.format, _INT_RANGES["int64"])
        return None if low <= value <= high else f"number {value}"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _json_type(value)
        return None
    # any: only IntOrString and Quantity restrict their scalars
    allowed = node.scalar_types
    if allowed is None:
        return None
    if isinstance(value, str):
        return None if "string" in allowed else "string"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _json_type(value)
    if "number" in allowed:
        return None
    if isinstance(value, float):
        return f"number {_number_text(value)}"
    return None


def _number_text(value: float) -> str:
    return repr(value)


_CRD_TYPE_NAMES: Final = {"object": "object", "map": "object", "array": "array", "string": "string",
                          "integer": "integer", "number": "number", "boolean": "boolean"}


def _type_cause(
    value: Any, node: schema.Node, *, problem: str, path: str, struct: str, go_path: str
) -> errors.Cause:
    if node.from_crd:
        # custom resources are checked by the CRD schema validator, not a Go decoder
        got = _json_type(value)
        got = "boolean" if got == "bool" else got
        want = _CRD_TYPE_NAMES.get(node.kind, "string")
        message = f'Invalid value: "{got}": {path} in body must be of type {want}: "{got}"'
    elif go_path:
        message = (f"json: cannot unmarshal {problem} into Go struct field "
                   f"{struct}.{go_path} of type {node.go_type}")
    else:
        message = f"json: cannot unmarshal {problem} into Go value of type {node.go_type}"
    return errors.Cause(TYPE_INVALID, message, path)
