"""JSON patch (RFC 6902), as ``application/json-patch+json`` PATCH requests use it.

Called by the API server's PATCH handler: ``kubectl rollout undo`` replaces
``/spec/template``, kopf guards its writes with ``test /metadata/resourceVersion``, the
Python client sends a list body as a JSON patch.

Errors follow upstream (apiserver ``handlers/patch.go`` over evanphx/json-patch v4):

- a document that is not a list of operation objects -> 400 BadRequest; so is an
  unknown ``op`` (upstream finds that only while applying and answers 422
  ``Unexpected kind: x``; we refuse the malformed document before touching the object);
- more than 10000 operations -> 413;
- an operation that does not apply (missing path, failed ``test``) -> 422 Invalid with
  upstream's generic message ``the server rejected our request due to an error in our
  request``; ``PatchFailed.detail`` keeps the precise reason (``testing value
  /metadata/resourceVersion failed: test failed``) for logs and tests.

Two upstream leniencies are kept because clients may lean on them: ``replace`` of a
missing object member adds it, and ``test`` of a missing member against ``null`` passes.
Negative array indices count from the end, as upstream allows.
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.api import errors
from kubelite.api.patch import deep_copy, json_equal

MAX_OPERATIONS: Final = 10000
REJECTED: Final = "the server rejected our request due to an error in our request"
OPERATIONS: Final = frozenset({"add", "remove", "replace", "move", "copy", "test"})

_MISSING: Final[Any] = object()  # "no such value" (None is a JSON value)


class PatchFailed(errors.Invalid):
    """An operation did not apply (422, upstream's generic message; ``detail`` says why)."""

    def __init__(self, detail: str) -> None:
        super().__init__(REJECTED)
        self.detail = detail

    def __str__(self) -> str:
        return f"{REJECTED}: {self.detail}"


def check_operations(ops: Any) -> list[dict[str, Any]]:
    """Refuse a malformed patch document before touching the object."""
    if not isinstance(ops, list):
        raise errors.BadRequest(
            f"json: cannot unmarshal {_json_type(ops)} into Go value of type jsonpatch.Patch")
    if len(ops) > MAX_OPERATIONS:
        raise errors.RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {len(ops)}")
    for op in ops:
        if not isinstance(op, dict):
            raise errors.BadRequest(
                f"json: cannot unmarshal {_json_type(op)} into Go value of type jsonpatch.Operation")
        kind = op.get("op")
        if kind not in OPERATIONS:
            raise errors.BadRequest(f"Unexpected kind: {kind if isinstance(kind, str) else 'unknown'}")
    return ops


def apply(doc: Any, ops: Any) -> Any:
    """Apply the operations in order to a copy of ``doc``; all or nothing."""
    operations = check_operations(ops)
    # one copy up front lets every operation work in place
    current = deep_copy(doc)
    for op in operations:
        current = _APPLY[op["op"]](current, op)
    return current


# --- JSON pointers ----------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def _pointer(op: dict[str, Any], name: str, verb: str) -> str:
    value = op.get(name, _MISSING)
    if value is _MISSING or value is None:
        missing = "operation missing path field" if name == "path" else "operation, missing from field"
        raise PatchFailed(f"{verb} operation failed to decode {name}: {missing}: missing value")
    if not isinstance(value, str):
        raise PatchFailed(
            f"{verb} operation failed to decode {name}: json: cannot unmarshal "
            f"{_json_type(value)} into Go value of type string")
    return value


def _tokens(pointer: str) -> list[str] | None:
    """RFC 6901 reference tokens, or None if ``pointer`` is not a pointer."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        return None
    # ~1 before ~0, so that "~01" reads as "~1" and not "/"
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _index(token: str, size: int, *, for_insert: bool = False) -> int | None:
    """An array index in range (``size`` inclusive when inserting), or None."""
    if not token or not (token.isdigit() or (token[0] == "-" and token[1:].isdigit())):
        return None
    if token[0] == "0" and len(token) > 1:
        return None
    idx = int(token)
    limit = size + 1 if for_insert else size
    if idx < 0:
        idx += limit
    return idx if 0 <= idx < limit else None


def _parent(doc: Any, tokens: list[str]) -> Any:
    """The container that holds the last token, or ``_MISSING``."""
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
        elif isinstance(node, list):
            idx = _index(token, len(node))
            node = node[idx] if idx is not None else _MISSING
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node if isinstance(node, (dict, list)) else _MISSING


def _get(doc: Any, pointer: str) -> Any:
    tokens = _tokens(pointer)
    if tokens is None:
        return _MISSING
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    if parent is _MISSING:
        return _MISSING
    key = tokens[-1]
    if isinstance(parent, dict):
        return parent.get(key, _MISSING)
    idx = _index(key, len(parent))
    return parent[idx] if idx is not None else _MISSING


def _value(op: dict[str, Any], verb: str) -> Any:
    if "value" not in op:
        raise PatchFailed(f"{verb} operation, missing value field: missing value")
    return op["value"]


def _insert(doc: Any, pointer: str, value: Any, verb: str) -> Any:
    """RFC 6902 "add" of ``value`` at ``pointer``; returns the (possibly new) document."""
    tokens = _tokens(pointer)
    if tokens == []:
        return value
    parent = _parent(doc, tokens) if tokens is not None else _MISSING
    if parent is _MISSING:
        raise PatchFailed(f'{verb} operation does not apply: doc is missing path: "{pointer}": missing value')
    key = tokens[-1]  # type: ignore[index]
    if isinstance(parent, dict):
        parent[key] = value
        return doc
    if key == "-":
        parent.append(value)
        return doc
    idx = _index(key, len(parent), for_insert=True)
    if idx is None:
        raise PatchFailed(f"error in {verb} for path: '{pointer}': Unable to access invalid index: {key}: "
                          "invalid index referenced")
    parent.insert(idx, value)
    return doc


def _remove_at(doc: Any, pointer: str, verb: str) -> Any:
    """Remove and return the value at ``pointer``."""
    tokens = _tokens(pointer)
    parent = _parent(doc, tokens) if tokens else _MISSING
    if parent is _MISSING:
        raise PatchFailed(f'{verb} operation does not apply: doc is missing path: "{pointer}": missing value')
    key = tokens[-1]  # type: ignore[index]
    if isinstance(parent, dict):
        if key not in parent:
            raise PatchFailed(f"error in {verb} for path: '{pointer}': Unable to remove nonexistent key: "
                              f"{key}: missing value")
        return parent.pop(key)
    idx = _index(key, len(parent))
    if idx is None:
        raise PatchFailed(f"error in {verb} for path: '{pointer}': Unable to access invalid index: {key}: "
                          "invalid index referenced")
    return parent.pop(idx)


# --- operations -------------------------------------------------------------------------


def _op_add(doc: Any, op: dict[str, Any]) -> Any:
    return _insert(doc, _pointer(op, "path", "add"), deep_copy(_value(op, "add")), "add")


def _op_remove(doc: Any, op: dict[str, Any]) -> Any:
    _remove_at(doc, _pointer(op, "path", "remove"), "remove")
    return doc


def _op_replace(doc: Any, op: dict[str, Any]) -> Any:
    path = _pointer(op, "path", "replace")
    value = deep_copy(_value(op, "replace"))
    tokens = _tokens(path)
    if tokens == []:
        return value
    parent = _parent(doc, tokens) if tokens is not None else _MISSING
    if parent is _MISSING:
        raise PatchFailed(f"replace operation does not apply: doc is missing path: {path}: missing value")
    key = tokens[-1]  # type: ignore[index]
    if isinstance(parent, dict):
        parent[key] = value  # upstream adds a missing member instead of failing
        return doc
    idx = _index(key, len(parent))
    if idx is None:
        raise PatchFailed(f"replace operation does not apply: doc is missing key: {path}: missing value")
    parent[idx] = value
    return doc


def _op_move(doc: Any, op: dict[str, Any]) -> Any:
    source = _pointer(op, "from", "move")
    path = _pointer(op, "path", "move")
    if source == path:
        if _get(doc, source) is _MISSING:
            raise PatchFailed(f"move operation does not apply: doc is missing from path: {source}: missing value")
        return doc
    if path.startswith(source + "/"):
        raise PatchFailed(f"move operation does not apply: {path} is inside {source}")
    value = _remove_at(doc, source, "move")
    return _insert(doc, path, value, "move")


def _op_copy(doc: Any, op: dict[str, Any]) -> Any:
    source = _pointer(op, "from", "copy")
    path = _pointer(op, "path", "copy")
    value = _get(doc, source)
    if value is _MISSING:
        raise PatchFailed(f"copy operation does not apply: doc is missing from path: {source}: missing value")
    return _insert(doc, path, deep_copy(value), "copy")


def _op_test(doc: Any, op: dict[str, Any]) -> Any:
    path = _pointer(op, "path", "test")
    expected = op.get("value")
    tokens = _tokens(path)
    if tokens is None or (tokens and _parent(doc, tokens) is _MISSING):
        raise PatchFailed(f"test operation does not apply: is missing path: {path}: missing value")
    actual = _get(doc, path)
    if actual is _MISSING:
        parent = _parent(doc, tokens)
        if isinstance(parent, list):
            raise PatchFailed(f"error in test for path: '{path}': Unable to access invalid index: "
                              f"{tokens[-1]}: invalid index referenced")
        # upstream treats a missing member as null
        actual = None
    if not json_equal(actual, expected):
        raise PatchFailed(f"testing value {path} failed: test failed")
    return doc


_APPLY: Final = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}
