"""Strategic merge patch, as ``application/strategic-merge-patch+json`` PATCH requests use it.

Called by the API server's PATCH handler for built-in kinds: ``kubectl apply`` (its
three-way patch), ``kubectl patch``/``label``/``annotate``/``rollout restart``, lightkube's
default patch and the Python client's dict patches.

Semantics follow apimachinery's ``strategicpatch`` (read there, written here):

- objects merge key by key; ``null`` deletes a key;
- a list whose field says ``x-kubernetes-patch-strategy: merge`` merges: lists of objects
  by the field's merge key (containers and env by ``name``, ports by ``containerPort``),
  lists of scalars as sets (finalizers); other lists are replaced;
- directives: ``$patch: replace|delete`` on an object, ``$patch: delete|replace`` items
  in a merging list, ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>``
  (the order of the merged list: listed items in that order, the others interleaved
  where they stood, exactly as upstream) and ``$retainKeys`` (drop keys not listed);
- merged lists are ordered like upstream: items named by the patch in patch order,
  items only on the server kept in their order; a new item goes before the server-only
  items that follow it — which is why ``kubectl patch`` puts a new env var first.

With no schema node (an unknown type) lists are replaced, as in a JSON merge patch.
Malformed patches raise ``errors.BadRequest`` (upstream answers some of them with 500;
a user must never see that for bad input). Inputs are never mutated; see
``kubelite.api.patch`` on shared sub-trees.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from kubelite.api import errors, schema

DIRECTIVE: Final = "$patch"
RETAIN_KEYS: Final = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST: Final = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER: Final = "$setElementOrder"

_DROP: Final = object()  # "leave this key out"

Node = schema.Node


def apply(original: dict[str, Any], patch: dict[str, Any], node: Node | None) -> dict[str, Any]:
    """Apply strategic merge ``patch`` to ``original`` (an object of the type ``node`` describes)."""
    if not isinstance(patch, dict):
        raise errors.BadRequest("invalid JSON document")
    if not isinstance(original, dict):
        raise errors.BadRequest("invalid JSON document")
    return _merge_map(original, patch, node)


# --- helpers ----------------------------------------------------------------------------


def _show(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return repr(value)


def _key(value: Any) -> Any:
    """A hashable identity for a merge-key value or a scalar list item.

    Upstream compares with Go's ``==`` on decoded values, so ``1`` (int64), ``1.0``
    (float64) and ``true`` are all different; Python would conflate them.
    """
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int):
        return ("i", value)
    if isinstance(value, float):
        return ("f", value)
    if isinstance(value, str) or value is None:
        return value
    return ("j", _show(value))


def _strategies(node: Node | None) -> frozenset[str]:
    return node.patch_strategies if node is not None else frozenset()


def _child(node: Node | None, field: str) -> Node | None:
    return node.child(field) if node is not None else None


def _items(node: Node | None) -> Node | None:
    return node.items() if node is not None else None


def _suffix(key: str, prefix: str, error: str) -> str:
    """``$setElementOrder/containers`` -> ``containers``; upstream's error otherwise."""
    head, sep, tail = key.partition("/")
    if not sep or head != prefix:
        raise errors.BadRequest(error)
    return tail


def _is_directive_key(key: str) -> bool:
    return key == RETAIN_KEYS or key.startswith((SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST))


def _fresh(value: Any, node: Node | None) -> Any:
    """A patch value landing where the original has nothing: directives and null members
    removed; an object carrying ``$patch`` is dropped entirely, as upstream does."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return _DROP
        out: dict[str, Any] = {}
        for key, sub in value.items():
            if sub is None or _is_directive_key(key):
                continue
            cleaned = _fresh(sub, _child(node, key))
            if cleaned is not _DROP:
                out[key] = cleaned
        return out
    if isinstance(value, list):
        if not any(isinstance(v, (dict, list)) for v in value):
            return value
        items = _items(node)
        return [c for c in (_fresh(v, items) for v in value) if c is not _DROP]
    return value


# --- objects ----------------------------------------------------------------------------


def _merge_map(original: dict[str, Any], patch: dict[str, Any], node: Node | None) -> dict[str, Any]:
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == "replace":
            rest = {k: v for k, v in patch.items() if k != DIRECTIVE}
            return _fresh(rest, node)  # type: ignore[no-any-return]
        if directive == "delete":
            return {}
        raise errors.BadRequest(f"unknown patch type: {directive} in map: {_show(patch)}")

    result = dict(original)

    if RETAIN_KEYS in patch:
        _retain_keys(result, patch)

    consumed: set[str] = set()
    for key, order in patch.items():
        if key.startswith(SET_ELEMENT_ORDER):
            field = _suffix(key, SET_ELEMENT_ORDER, "invalid patch format of setElementOrder list")
            _set_element_order(result, patch, field=field, order=order, node=_child(node, field))
            consumed.add(field)

    for key, value in patch.items():
        if key == RETAIN_KEYS or key.startswith(SET_ELEMENT_ORDER):
            continue
        delete_list = False
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            key = _suffix(key, DELETE_FROM_PRIMITIVE_LIST, "invalid patch format of primitive list")
            delete_list = True
        elif key in consumed:
            continue
        if value is None:
            if not delete_list:
                result.pop(key, None)
            continue
        if key not in result:
            if not delete_list:
                cleaned = _fresh(value, _child(node, key))
                if cleaned is not _DROP:
                    result[key] = cleaned
            continue
        current = result[key]
        child = _child(node, key)
        if isinstance(current, dict) and isinstance(value, dict):
            if "replace" in _strategies(child):
                cleaned = _fresh(value, child)
                result[key] = {} if cleaned is _DROP else cleaned
            else:
                result[key] = _merge_map(current, value, child)
        elif isinstance(current, list) and isinstance(value, list):
            if delete_list or "merge" in _strategies(child):
                result[key] = _merge_list(current, value, child, delete_list=delete_list)
            else:
                result[key] = _fresh(value, child)
        elif not delete_list:
            cleaned = _fresh(value, child)
            if cleaned is _DROP:
                del result[key]
            else:
                result[key] = cleaned
    return result


def _retain_keys(result: dict[str, Any], patch: dict[str, Any]) -> None:
    """Drop the keys of ``result`` that ``$retainKeys`` does not list (in place)."""
    keep = patch[RETAIN_KEYS]
    if not isinstance(keep, list):
        raise errors.BadRequest("invalid patch format of retainKeys")
    listed = {_key(k) for k in keep}
    for key, value in patch.items():
        if value is None or _is_directive_key(key):
            continue
        if key not in listed:
            raise errors.BadRequest("invalid patch format of retainKeys")
    for key in [k for k in result if k not in listed]:
        del result[key]


# --- lists ------------------------------------------------------------------------------


def _element_kind(*lists: list[Any]) -> type | None:
    """The one JSON type of every element (``dict`` or a scalar type), None if all empty."""
    seen: type | None = None
    for lst in lists:
        for item in lst:
            t = type(item)
            if seen is None:
                if t is list:
                    raise errors.BadRequest("lists of lists are not supported")
                seen = t
            elif t is not seen:
                raise errors.BadRequest(f"list element types are not identical: {_show(list(lists))}")
    return seen


def _merge_value_of(item: Any, merge_key: str) -> Any:
    if not isinstance(item, dict):
        raise errors.BadRequest(f"expected a map, but received a {type(item).__name__}")
    if merge_key not in item:
        raise errors.BadRequest(f"map: {_show(item)} does not contain declared merge key: {merge_key}")
    return item[merge_key]


def _identity(item: Any, merge_key: str | None) -> Any:
    return _key(_merge_value_of(item, merge_key) if merge_key else item)


def _merge_list(
    original: list[Any], patch: list[Any], node: Node | None, *, delete_list: bool,
    view: list[Any] | None = None,
) -> list[Any]:
    """Merge two lists of a field with the merge strategy.

    ``view``, when given, is a copy of ``original`` that this function updates the way
    upstream's in-place Go slice operations overwrite the original's backing array;
    ``$setElementOrder`` reads the server order from it (see ``_GoSliceView``).
    """
    if not original and not patch:
        return original
    element = _element_kind(original, patch)
    merge_key = node.patch_merge_key if node is not None else None

    if element is not dict:
        if delete_list:
            drop = {_key(v) for v in patch}
            return [v for v in original if _key(v) not in drop]
        merged = _dedupe(original + patch)
        merge_key = None
        patch_items = patch
    else:
        if not merge_key:
            raise errors.BadRequest("cannot merge lists without merge key")
        items = _items(node)
        tracker = _GoSliceView(view, merge_key) if view is not None else None
        original, patch_items = _special_elements(original, patch, merge_key, tracker)
        merged = list(original)
        position: dict[Any, int] = {}
        for i, item in enumerate(merged):
            position.setdefault(_identity(item, merge_key), i)
        for item in patch_items:
            ident = _identity(item, merge_key)
            at = position.get(ident)
            if at is None:
                cleaned = _fresh(item, items)
                if cleaned is not _DROP:
                    position[ident] = len(merged)
                    merged.append(cleaned)
                    if tracker is not None:
                        tracker.append(cleaned)
            else:
                merged[at] = _merge_map(merged[at], item, items)
    return _order(merged, patch_order=patch_items, server_order=original, merge_key=merge_key)


def _dedupe(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in values:
        k = _key(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


class _GoSliceView:
    """What upstream's caller still sees of a list that ``mergeSlice`` edited in place.

    Upstream deletes list items with ``append(s[:k], s[k+1:]...)`` and appends new ones
    into the same backing array, so the caller's slice header (its old length) then
    reads shifted and overwritten items. ``$setElementOrder`` orders server-only items
    by that view, and the upstream tests' expected orders depend on it.
    """

    __slots__ = ("items", "length", "merge_key")

    def __init__(self, items: list[Any], merge_key: str) -> None:
        self.items = items
        self.length = len(items)
        self.merge_key = merge_key

    def delete(self, ident: Any) -> None:
        items = self.items
        while True:
            at = next((k for k in range(self.length)
                       if _identity(items[k], self.merge_key) == ident), None)
            if at is None:
                return
            # shift left; the last slot keeps its stale item, as Go leaves it
            items[at:self.length - 1] = items[at + 1:self.length]
            self.length -= 1

    def append(self, item: Any) -> None:
        if self.length < len(self.items):
            self.items[self.length] = item
        self.length += 1


def _special_elements(
    original: list[Any], patch: list[Any], merge_key: str, tracker: _GoSliceView | None = None
) -> tuple[list[Any], list[Any]]:
    """Apply ``$patch`` items of a merging list: returns (original, plain patch items)."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            gone = _key(_merge_value_of(item, merge_key))
            original = [o for o in original if _identity(o, merge_key) != gone]
            if tracker is not None:
                tracker.delete(gone)
        elif directive == "replace":
            replace = True  # keep scanning: the other directives are pruned
        elif directive == "merge":
            raise errors.BadRequest("merging lists cannot yet be specified in the patch")
        else:
            raise errors.BadRequest(f"unknown patch type: {directive} in map: {_show(item)}")
    if replace:
        return [c for c in (_fresh(i, None) for i in plain) if c is not _DROP], []
    return original, plain


def _order(merged: list[Any], *, patch_order: list[Any], server_order: list[Any],
           merge_key: str | None) -> list[Any]:
    """Upstream's ordering of a merged list (``normalizeElementOrder``)."""
    wanted: dict[Any, int] = {}
    for i, item in enumerate(patch_order):
        wanted.setdefault(_identity(item, merge_key), i)
    patch_items: list[Any] = []
    server_only: list[Any] = []
    for item in merged:
        (patch_items if _identity(item, merge_key) in wanted else server_only).append(item)
    patch_items.sort(key=lambda it: wanted[_identity(it, merge_key)])
    if not server_only:
        return patch_items
    server_pos: dict[Any, int] = {}
    for i, item in enumerate(server_order):
        server_pos.setdefault(_identity(item, merge_key), i)
    end = len(server_order)
    server_only.sort(key=lambda it: server_pos.get(_identity(it, merge_key), end))

    # Interleave: a server-only item goes first only if it stood before the next patch
    # item on the server; anything unknown to the server yields to the patch item.
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(patch_items):
        left = server_pos.get(_identity(server_only[i], merge_key))
        right = server_pos.get(_identity(patch_items[j], merge_key))
        if left is not None and right is not None and left < right:
            out.append(server_only[i])
            i += 1
        else:
            out.append(patch_items[j])
            j += 1
    out.extend(server_only[i:])
    out.extend(patch_items[j:])
    return out


def _set_element_order(
    result: dict[str, Any], patch: dict[str, Any], *, field: str, order: Any, node: Node | None
) -> None:
    """Merge ``patch[field]`` into ``result[field]`` and order it by ``order`` (in place)."""
    if not isinstance(order, list):
        raise errors.BadRequest("invalid patch format of setElementOrder list")
    has_original = field in result and result[field] is not None
    has_patch = field in patch and patch[field] is not None
    original = result.get(field) if has_original else []
    patch_list = patch.get(field) if has_patch else []
    if not isinstance(original, list) or not isinstance(patch_list, list):
        raise errors.BadRequest("invalid patch format of setElementOrder list")
    merge_key = node.patch_merge_key if node is not None else None
    _check_order(patch_list, order, merge_key)

    server_order = original
    if has_original and not has_patch:
        merged = original
    elif has_patch and not has_original:
        merged = _fresh(patch_list, node)
    elif has_patch and has_original:
        if "merge" in _strategies(node):
            view = list(original)
            merged = _merge_list(original, patch_list, node, delete_list=False, view=view)
            server_order = view
        else:
            merged = _fresh(patch_list, node)
    else:
        return
    if not merged:
        result[field] = merged
        return
    if merge_key:
        for item in order:
            _merge_value_of(item, merge_key)
        for item in merged:
            _merge_value_of(item, merge_key)
    result[field] = _order(merged, patch_order=order, server_order=server_order, merge_key=merge_key)


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    """The patch list must follow ``order`` (deletions aside), as upstream checks."""
    if not patch_list or not order:
        return
    items = [p for p in patch_list
             if not (merge_key and isinstance(p, dict) and p.get(DIRECTIVE) == "delete")]
    i = j = 0
    while i < len(items) and j < len(order):
        item = items[i]
        if isinstance(item, dict) and DIRECTIVE in item:
            i += 1
            continue
        if merge_key:
            same = _key(_merge_value_of(item, merge_key)) == _key(_merge_value_of(order[j], merge_key))
        else:
            same = _key(item) == _key(order[j])
        if same:
            i += 1
        j += 1
    if i < len(items):
        raise errors.BadRequest(
            f"The order in patch list:\n{_show(patch_list)}\n doesn't match "
            f"{SET_ELEMENT_ORDER} list:\n{_show(order)}\n")
