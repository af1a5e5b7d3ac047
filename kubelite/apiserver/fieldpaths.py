"""Field paths of server-side apply and managedFields: what a field *is* at a schema node.

Shared by ``apply`` (an applied configuration's fields, merging, conflicts) and
``managedfields`` (the fields a plain write changes). A field path is a tuple of
``fieldsV1`` elements: ``f:<name>`` for a struct field or map key, ``k:<json>`` for an item
of an associative list by its keys, ``v:<json>`` for a member of a set. How values at a
schema node are owned follows upstream's structured-merge-diff: structs and maps key by
key, lists with merge keys (``x-kubernetes-list-map-keys`` or
``x-kubernetes-patch-merge-key``) item by item, sets by value, anything else (atomic lists
and maps, scalars) whole.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from kubelite.api import schema

Obj = dict[str, Any]
# One field path: a tuple of fieldsV1 path elements ("f:spec", 'k:{"name":"main"}', 'v:"x"').
Path = tuple[str, ...]

# Fields nobody owns: identity and server-managed metadata (upstream strips them too).
IGNORED: Final = frozenset({
    ("f:apiVersion",), ("f:kind",), ("f:metadata", "f:name"), ("f:metadata", "f:namespace"),
    ("f:metadata", "f:uid"), ("f:metadata", "f:resourceVersion"), ("f:metadata", "f:generation"),
    ("f:metadata", "f:creationTimestamp"), ("f:metadata", "f:managedFields"),
    ("f:metadata", "f:deletionTimestamp"), ("f:metadata", "f:deletionGracePeriodSeconds"),
    ("f:metadata", "f:selfLink"),
})

MISSING: Final = object()  # no value at a path


def encode(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


# --- the shape of a field: how values at a schema node merge and are owned --------------


def child_node(node: schema.Node | None, key: str) -> schema.Node | None:
    return node.child(key) if node is not None else None


def item_node(node: schema.Node | None) -> schema.Node | None:
    return node.items() if node is not None else None


def is_atomic(node: schema.Node | None) -> bool:
    return node is not None and (node.kind == "any" or node.map_type == "atomic")


def list_keys(node: schema.Node | None) -> tuple[str, ...]:
    """The keys that identify items of an associative list; ``()`` if it is not one."""
    if node is None:
        return ()
    if node.list_type == "map" and node.list_map_keys:
        return node.list_map_keys
    if "merge" in node.patch_strategies and node.patch_merge_key:
        return (node.patch_merge_key,)
    return ()


def is_set(node: schema.Node | None, value: list[Any]) -> bool:
    if node is None:
        return False
    if node.list_type == "set":
        return True
    return ("merge" in node.patch_strategies and not node.patch_merge_key
            and all(not isinstance(v, (dict, list)) for v in value))


# Key fields upstream defaults before it keys a list item (their OpenAPI ``default``, which
# the definitions kubelite serves do not carry): a port without ``protocol`` is the TCP port,
# whether applied or stored (``containers[].ports``, ``spec.ports`` of a Service).
KEY_DEFAULTS: Final = {"protocol": "TCP"}


def item_key(item: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The identity of a list item: its values of the list's keys, defaulted as upstream."""
    if not isinstance(item, dict):
        return None
    found = {k: item[k] if k in item else KEY_DEFAULTS[k] for k in keys if k in item or k in KEY_DEFAULTS}
    return found if len(found) > sum(k not in item for k in found) else None


def matches(item: Any, key: dict[str, Any]) -> bool:
    return isinstance(item, dict) and all(item.get(k, KEY_DEFAULTS.get(k)) == v for k, v in key.items())


# --- the set of fields a configuration names --------------------------------------------


def field_set(value: Any, node: schema.Node | None) -> set[Path]:
    """Every field path ``value`` (an applied configuration) specifies."""
    out: set[Path] = set()
    _collect(value, node, (), out)
    return {p for p in out if not any(p[:len(i)] == i for i in IGNORED)}


def _collect(value: Any, node: schema.Node | None, path: Path, out: set[Path]) -> None:
    if isinstance(value, dict) and value and not is_atomic(node):
        for key, sub in value.items():
            if sub is None:
                continue
            _collect(sub, child_node(node, key), path + (f"f:{key}",), out)
        return
    if isinstance(value, list) and value:
        keys = list_keys(node)
        if keys and all(item_key(v, keys) for v in value):
            items = item_node(node)
            for item in value:
                ipath = path + (f"k:{encode(item_key(item, keys))}",)
                out.add(ipath)
                _collect_item(item, items, ipath, out)
            return
        if is_set(node, value):
            out.update(path + (f"v:{encode(v)}",) for v in value)
            return
    if path:
        out.add(path)


def _collect_item(item: Obj, node: schema.Node | None, path: Path, out: set[Path]) -> None:
    for key, sub in item.items():
        if sub is not None:
            _collect(sub, child_node(node, key), path + (f"f:{key}",), out)


# --- fieldsV1 <-> path sets -------------------------------------------------------------


def to_fields_v1(paths: set[Path]) -> Obj:
    """A path set as the ``fieldsV1`` tree upstream stores (``"."`` marks an item itself)."""
    tree: Obj = {}
    members: set[Path] = set()
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
        members.add(path)
    for path in members:
        node = tree
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return tree


def from_fields_v1(tree: Any) -> set[Path]:
    out: set[Path] = set()

    def walk(node: Any, path: Path) -> None:
        if not isinstance(node, dict) or not node:
            if path:
                out.add(path)
            return
        for key, sub in node.items():
            if key == ".":
                out.add(path)
            else:
                walk(sub, path + (key,))

    walk(tree, ())
    return out


# --- reading and removing by path -------------------------------------------------------


def step(value: Any, element: str) -> Any:
    kind, _, rest = element.partition(":")
    if kind == "f":
        return value.get(rest, MISSING) if isinstance(value, dict) else MISSING
    if kind == "k" and isinstance(value, list):
        key = orjson.loads(rest)
        return next((v for v in value if matches(v, key)), MISSING)
    if kind == "v" and isinstance(value, list):
        member = orjson.loads(rest)
        return member if member in value else MISSING
    return MISSING


def value_at(obj: Any, path: Path) -> Any:
    for element in path:
        obj = step(obj, element)
        if obj is MISSING:
            break
    return obj


def remove(obj: Any, path: Path) -> None:
    parent = value_at(obj, path[:-1])
    if parent is MISSING:
        return
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "k" and isinstance(parent, list):
        key = orjson.loads(rest)
        parent[:] = [v for v in parent if not matches(v, key)]
    elif kind == "v" and isinstance(parent, list):
        member = orjson.loads(rest)
        parent[:] = [v for v in parent if v != member]


def show(path: Path) -> str:
    """A path as upstream prints it in conflicts: ``.spec.containers[name="main"].image``."""
    out = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            out += f".{rest}"
        elif kind == "k":
            out += "[" + ",".join(f"{k}={encode(v)}" for k, v in orjson.loads(rest).items()) + "]"
        else:
            out += f"[={rest}]"
    return out
