"""JSON merge patch (RFC 7386), as ``application/merge-patch+json`` PATCH requests use it.

Called by the API server's PATCH handler (kopf, kr8s, ``kubectl scale`` and the Python
``CustomObjectsApi`` send merge patches) and by tests and kubectl-like flows that need a
patch between two objects (``create``).

Objects merge key by key, ``null`` deletes a key, anything else (arrays included)
replaces. Like upstream (evanphx/json-patch ``MergePatch``), nulls inside newly added
values are pruned, also inside objects within arrays.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors
from kubelite.api.patch import json_equal


def check_document(patch: Any) -> dict[str, Any]:
    """The patch document a PATCH request may carry: an object (upstream: 400 otherwise)."""
    if not isinstance(patch, dict):
        raise errors.BadRequest("Invalid JSON Patch")
    return patch


def apply(original: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(original, patch); inputs are not mutated."""
    if not isinstance(patch, dict):
        return _pruned(patch)
    result = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = apply(result.get(key), value)
        else:
            result[key] = _pruned(value)
    return result


def _pruned(value: Any) -> Any:
    """``value`` without null members in its objects (copies only what holds a null)."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value] if any(isinstance(v, (dict, list)) for v in value) else value
    return value


def create(original: Any, modified: Any) -> Any:
    """A merge patch that turns ``original`` into ``modified`` (``{}`` if they are equal)."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        return modified
    patch: dict[str, Any] = {}
    for key in original:
        if key not in modified:
            patch[key] = None
    for key, new in modified.items():
        if key not in original:
            patch[key] = new
            continue
        old = original[key]
        if isinstance(old, dict) and isinstance(new, dict):
            sub = create(old, new)
            if sub:
                patch[key] = sub
        elif not json_equal(old, new):
            patch[key] = new
    return patch
