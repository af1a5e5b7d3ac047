"""``Update`` managers in ``metadata.managedFields``: who last set each field by a plain write.

Every create, update and non-apply patch (``kubectl create``, ``edit``, ``scale``, ``label``,
client-side ``apply``, a controller's write, a kubelet's status update) records the fields it
added or changed under its manager: the request's ``fieldManager``, else its User-Agent up to
the first ``/``, as upstream's ``managerOrUserAgent``. Semantics follow upstream's
structured-merge-diff ``Updater.Update`` and the field manager around it, read there and
written here in small:

- the request is compared with the object it replaces (a create with the zero object):
  fields *added* or *modified* join the writer's ``Update`` entry (one per manager, API
  version and subresource) and leave every other entry, ``Apply`` ones included: the writer
  took them over, so a later apply conflicts with it (``kubelite.apiserver.apply``);
- fields *removed* leave every entry;
- an entry left with no field is dropped; the writer's entry gets the time of the write
  only when it gained fields;
- entries are sorted as upstream encodes them (operation, time, manager, version,
  subresource), and past ten ``Update`` entries the oldest merge into ``ancient-changes``;
- a body carrying ``managedFields`` replaces them (``[{}]`` clears them all); a body
  without, or with ones that do not decode, keeps the live ones.

What a field *is* comes from ``fieldpaths``, shared with server-side apply: map keys, list
items by their merge keys, set members by value, atomic values whole.

The zero object of a create is Go's: its non-pointer structs exist, so they carry no ``.``
of their own. The schema does not say which structs are pointers; this module takes a
non-empty struct to be one that exists in the zero value and an empty one (``{}``,
typically an optional pointer defaulted empty, like ``securityContext``) to be added, which
matches upstream on the common kinds.

The wire format (``fieldsV1``) is a tree: ``{"f:spec": {"f:replicas": {}}}``, ``"."``
marking a node that is a member and has children. Entries are changed by copying the
nodes along each changed path and sharing the rest, so a create's spec tree can be
memoized per spec (every pod of a ReplicaSet has the same one) and shared by its objects.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import orjson

from kubelite.api import meta, schema
from kubelite.apiserver import fieldpaths as fp

Obj = dict[str, Any]
Path = fp.Path

MAX_UPDATE_MANAGERS: Final = 10  # upstream's DefaultMaxUpdateManagers
ANCIENT_MANAGER: Final = "ancient-changes"
FIELD_MANAGER_MAX_LENGTH: Final = 128

# Never owned (upstream's stripmeta): identity and what the server keeps.
_IGNORED_ROOT: Final = frozenset({"apiVersion", "kind"})
_IGNORED_METADATA: Final = frozenset({
    "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
})
_MISSING: Final = fp.MISSING


def without(obj: Obj) -> Obj:
    """``obj`` as lists and watches with ``omitManagedFields`` serve it: a shallow copy
    without ``metadata.managedFields`` (``obj`` itself when it has none). For kubelite's own
    components, which drop them on arrival as upstream's informers do; sparing the server
    their encoding and the component their decoding (about half of a pod's bytes)."""
    md = obj.get("metadata")
    if not isinstance(md, dict) or "managedFields" not in md:
        return obj
    return {**obj, "metadata": {k: v for k, v in md.items() if k != "managedFields"}}
_ZERO: Final = object()  # Go's zero value of the type at hand (a create's "old" object)

# Subresources whose writes are recorded; a binding and the server's own writes are not,
# as upstream (BindingREST writes storage directly).
RECORDED_SUBRESOURCES: Final = frozenset({"", "status", "scale", "ephemeralcontainers"})


def manager_name(field_manager: str, user_agent: str) -> str:
    """``fieldManager``, else the User-Agent up to its first ``/``: printable, at most
    128 bytes (upstream's prefixFromUserAgent)."""
    return field_manager or _agent_prefix(user_agent)


@functools.lru_cache(maxsize=256)  # a server sees few distinct User-Agents
def _agent_prefix(user_agent: str) -> str:
    out: list[str] = []
    size = 0
    for ch in user_agent.split("/", 1)[0]:
        if not ch.isprintable():  # as Go's unicode.IsPrint: of the spaces, only ' '
            continue
        size += len(ch.encode())
        if size > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(ch)
    return "".join(out)


# --- comparing two objects --------------------------------------------------------------


class _Diff:
    """Paths added or modified (``changed``) and removed (whole subtrees) between two values."""

    __slots__ = ("changed", "removed")

    def __init__(self) -> None:
        self.changed: list[Path] = []
        self.removed: list[Path] = []


def _value(obj: Any, key: str) -> Any:
    value = obj.get(key, _MISSING)
    return _MISSING if value is None else value


def _compare(old: Any, new: Any, node: schema.Node | None, path: Path, out: _Diff) -> None:
    """Upstream's compareWalker in small: ``old`` may be ``_MISSING`` (added) or ``_ZERO``
    (a create), ``new`` may be ``_MISSING`` (removed)."""
    if new is _MISSING:
        if old is not _MISSING and old is not _ZERO:
            out.removed.append(path)
        return
    if old is _ZERO:
        if isinstance(new, dict) and new and node is not None and node.kind == "object" \
                and node.map_type != "atomic":
            for key, sub in new.items():
                if sub is None:
                    continue
                child, at = node.child(key), path + (f"f:{key}",)
                if key in node.required and isinstance(sub, (list, dict)) and sub \
                        and not (isinstance(sub, dict) and child is not None and child.kind == "object"):
                    # a required list or map is in Go's zero value (null, not omitted):
                    # its items are added, the field itself is not
                    _added(sub, child, at, out.changed, own=False)
                else:
                    _compare(_ZERO, sub, child, at, out)
            return
        old = _MISSING
    if old is _MISSING:
        _added(new, node, path, out.changed)
        return
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict) and not fp.is_atomic(node):
        for key in old.keys() | new.keys():
            o, n = _value(old, key), _value(new, key)
            if o is not n and o != n:
                _compare(o, n, fp.child_node(node, key), path + (f"f:{key}",), out)
        return
    if isinstance(old, list) and isinstance(new, list):
        keys = fp.list_keys(node)
        if keys and all(fp.item_key(v, keys) for v in old) and all(fp.item_key(v, keys) for v in new):
            before = {fp.encode(fp.item_key(v, keys)): v for v in old}
            after = {fp.encode(fp.item_key(v, keys)): v for v in new}
            items = fp.item_node(node)
            for key in before.keys() | after.keys():
                o, n = before.get(key, _MISSING), after.get(key, _MISSING)
                if o is not n and o != n:
                    _compare(o, n, items, path + (f"k:{key}",), out)
            return
        if fp.is_set(node, old) and fp.is_set(node, new):
            before_set, after_set = {fp.encode(v) for v in old}, {fp.encode(v) for v in new}
            out.changed.extend(path + (f"v:{v}",) for v in after_set - before_set)
            out.removed.extend(path + (f"v:{v}",) for v in before_set - after_set)
            return
    out.changed.append(path)  # a scalar, an atomic value, or a change of type


def _added(value: Any, node: schema.Node | None, path: Path, out: list[Path], *, own: bool = True) -> None:
    """``path`` (unless not ``own``) and every field under it: a value where there was none."""
    if own:
        out.append(path)
    if isinstance(value, dict) and value and not fp.is_atomic(node):
        for key, sub in value.items():
            if sub is not None:
                _added(sub, fp.child_node(node, key), path + (f"f:{key}",), out)
    elif isinstance(value, list) and value:
        keys = fp.list_keys(node)
        if keys and all(fp.item_key(v, keys) for v in value):
            items = fp.item_node(node)
            for item in value:
                _added(item, items, path + (f"k:{fp.encode(fp.item_key(item, keys))}",), out)
        elif fp.is_set(node, value):
            out.extend(path + (f"v:{fp.encode(v)}",) for v in value)


def diff(old: Obj | None, new: Obj, node: schema.Node | None, *, subresource: str = "",
         has_status: bool = True) -> _Diff:
    """The owned fields a write changes: ``old`` None for a create."""
    out = _Diff()
    for key in _sections(old, new, subresource=subresource, has_status=has_status):
        o = _ZERO if old is None else _value(old, key)
        n = _value(new, key)
        if o is n or o == n:
            continue
        child = fp.child_node(node, key)
        if key == "metadata" and isinstance(n, dict) and (o is _ZERO or isinstance(o, dict)):
            _compare_metadata(o, n, child, out)
        else:
            _compare(o, n, child, (f"f:{key}",), out)
    return out


def _sections(old: Obj | None, new: Obj, *, subresource: str, has_status: bool) -> list[str]:
    """The top-level keys a write may own. The main resource of a kind with a status
    subresource never owns status, its status subresource owns only status (upstream's
    reset fields)."""
    keys = new.keys() if old is None else old.keys() | new.keys()
    status_only = subresource == "status"
    return [k for k in keys
            if k not in _IGNORED_ROOT and not (has_status and (k == "status") != status_only)]


def _compare_metadata(old: Any, new: Obj, node: schema.Node | None, out: _Diff) -> None:
    for key in new.keys() | (old.keys() if isinstance(old, dict) else ()):
        if key in _IGNORED_METADATA:
            continue
        o = old if old is _ZERO else _value(old, key)
        n = _value(new, key)
        if o is not n and o != n:
            _compare(o, n, fp.child_node(node, key), ("f:metadata", f"f:{key}"), out)


_memo: dict[tuple[Any, ...], Obj] = {}  # shape → tree
_MEMO_LIMIT: Final = 4096


def _shape(new: Obj, node: schema.Node | None, *, subresource: str, has_status: bool) -> tuple[Any, ...] | None:
    """What a create's ``fieldsV1`` depends on: the fields it sets, and each section's
    bytes where they decide its field paths. Every object of a template (a ReplicaSet's
    pods, a benchmark's) and every Event has one of a few shapes. None when the object
    cannot be encoded (integers past 64 bits)."""
    status_only = subresource == "status"
    shape: list[Any] = [node, subresource]  # the node itself: a freed one's id may come back
    try:
        for key, value in new.items():
            if value is None or key in _IGNORED_ROOT or has_status and (key == "status") != status_only:
                continue
            if not isinstance(value, (dict, list)):
                shape.append(key)  # a scalar: the field itself, whatever its value
            elif key == "metadata":
                shape.append((key, orjson.dumps(
                    {k: v for k, v in value.items() if k not in _IGNORED_METADATA} if isinstance(value, dict)
                    else value)))
            else:
                shape.append((key, _section_shape(value, fp.child_node(node, key))))
    except (TypeError, orjson.JSONEncodeError):
        return None
    return tuple(shape)


def _created_tree(new: Obj, node: schema.Node | None, shape: tuple[Any, ...] | None, *, subresource: str,
                  has_status: bool) -> Obj:
    """The ``fieldsV1`` of a create, remembered by its shape: trees are never changed in
    place, so objects share them."""
    tree = _memo.get(shape) if shape is not None else None
    if tree is None:
        tree = _tree_of(new, node, subresource=subresource, has_status=has_status)
        if shape is not None:
            if len(_memo) >= _MEMO_LIMIT:
                _memo.clear()
            _memo[shape] = tree
    return tree


def _section_shape(value: Any, node: schema.Node | None) -> Any:
    if fp.is_atomic(node):
        return 0  # owned whole (an Event's involvedObject)
    if isinstance(value, dict) and node is not None and node.kind == "object" \
            and not any(isinstance(v, (dict, list)) for v in value.values()):
        return tuple(k for k, v in value.items() if v is not None)  # a flat struct: its fields
    return orjson.dumps(value)


def _tree_of(new: Obj, node: schema.Node | None, *, subresource: str, has_status: bool) -> Obj:
    changed = _Diff()
    for key in _sections(None, new, subresource=subresource, has_status=has_status):
        value = _value(new, key)
        if value is _MISSING:
            continue
        child = fp.child_node(node, key)
        if key == "metadata" and isinstance(value, dict):
            _compare_metadata(_ZERO, value, child, changed)
        else:
            _compare(_ZERO, value, child, (f"f:{key}",), changed)
    return _build(changed.changed)


# --- fieldsV1 trees, changed by copying the path ---------------------------------------


def _without(tree: Obj, path: Path, *, subtree: bool) -> Obj:
    """``tree`` less the member ``path`` (and, with ``subtree``, everything under it);
    ``tree`` itself when it did not hold it."""
    head = path[0]
    child = tree.get(head)
    if not isinstance(child, dict):
        return tree
    if len(path) == 1:
        if subtree or not child or child.keys() == {"."}:
            out = dict(tree)
            del out[head]
            return out
        if "." not in child:
            return tree
        smaller = dict(child)
        del smaller["."]
        return {**tree, head: smaller}
    smaller = _without(child, path[1:], subtree=subtree)
    if smaller is child:
        return tree
    out = dict(tree)
    if smaller.keys() - {"."}:
        out[head] = smaller
    elif "." in child or not child:
        out[head] = {}  # the node itself stays a member, now without children
    else:
        del out[head]
    return out


def _with(tree: Obj, path: Path) -> Obj:
    """``tree`` with the member ``path``; ``tree`` itself when it held it already."""
    head = path[0]
    child = tree.get(head)
    if len(path) == 1:
        if child is None or not isinstance(child, dict):
            return {**tree, head: {}}
        if child and "." not in child:
            return {**tree, head: {**child, ".": {}}}
        return tree
    if not isinstance(child, dict):
        base: Obj = {}
    elif not child and head in tree:
        base = {".": {}}  # a member leaf gains children
    else:
        base = child
    bigger = _with(base, path[1:])
    if bigger is child:
        return tree
    return {**tree, head: bigger}


def _build(paths: Any) -> Obj:
    """A fresh tree of ``paths``, its keys in upstream's order (``.``, fields, keys, values)."""
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for element in path[:-1]:
            child = node.get(element)
            if child is None:
                child = node[element] = {}
            elif not child:
                child["."] = {}
            node = child
        last = node.get(path[-1])
        if last is None:
            node[path[-1]] = {}
        elif last and "." not in last:
            last["."] = {}
    return tree


# --- recording a write ------------------------------------------------------------------


def _valid(entries: Any) -> bool:
    """Whether a request's entries decode as upstream's DecodeManagedFields would have them
    (else the live ones are kept, as there)."""
    return isinstance(entries, list) and bool(entries) and all(
        isinstance(e, dict) and isinstance(e.get("manager", ""), str)
        and e.get("operation") in ("Apply", "Update") and e.get("fieldsType") == "FieldsV1"
        and isinstance(e.get("fieldsV1", {}), dict)
        for e in entries)


def _is_reset(entries: Any) -> bool:
    return isinstance(entries, list) and len(entries) == 1 and entries[0] == {}


def _same(entry: Obj, *, manager: str, api_version: str, subresource: str) -> bool:
    return (entry.get("manager") == manager and entry.get("operation") == "Update"
            and entry.get("apiVersion") == api_version and entry.get("subresource", "") == subresource)


def record(new: Obj, old: Obj | None, *, manager: str, node: schema.Node | None, subresource: str = "",
           has_status: bool = True) -> None:
    """Record the write of ``new`` over ``old`` (None: a create) by ``manager`` in
    ``new.metadata.managedFields``."""
    md = new.setdefault("metadata", {})
    given = md.get("managedFields")
    if _is_reset(given):
        md.pop("managedFields", None)
        return
    if _valid(given):
        entries: list[Obj] = list(given)
    else:
        entries = list(((old or {}).get("metadata") or {}).get("managedFields") or [])
    if old is None and not entries:
        md["managedFields"] = _created_entries(new, node, manager=manager, subresource=subresource,
                                               has_status=has_status)
        if not md["managedFields"]:
            del md["managedFields"]
        return
    change = diff(old, new, node, subresource=subresource, has_status=has_status)
    if not change.changed and not change.removed:
        _store(md, entries)
        return
    api_version = str(new.get("apiVersion") or "")
    own: Obj | None = None
    kept: list[Obj] = []
    for entry in entries:
        if own is None and _same(entry, manager=manager, api_version=api_version, subresource=subresource):
            own = entry
            continue
        tree = entry.get("fieldsV1") or {}
        smaller = tree
        for path in change.removed:
            smaller = _without(smaller, path, subtree=True)
        for path in change.changed:
            smaller = _without(smaller, path, subtree=False)
        if smaller is tree:
            kept.append(entry)
        elif smaller:
            kept.append({**entry, "fieldsV1": smaller})
    mine = (own or {}).get("fieldsV1") or {}
    for path in change.removed:
        mine = _without(mine, path, subtree=True)
    if change.changed:
        if mine:
            for path in change.changed:
                mine = _with(mine, path)
        else:
            mine = _build(change.changed)
    if mine:
        entry = _entry(manager, api_version, mine, subresource)
        if not change.changed and own is not None and own.get("time"):
            entry["time"] = own["time"]  # the time of a manager's last change, not of a removal
        kept.append(entry)
    _store(md, _capped(kept))


_entries_memo: dict[tuple[Any, ...], tuple[str, list[Obj]]] = {}


def _created_entries(new: Obj, node: schema.Node | None, *, manager: str, subresource: str,
                     has_status: bool) -> list[Obj]:
    """A create's ``managedFields``: one entry, the same list for every create of one
    shape by one manager within a second (the entry's time), shared as the trees are."""
    shape = _shape(new, node, subresource=subresource, has_status=has_status)
    api_version = str(new.get("apiVersion") or "")
    now = meta.now_rfc3339()
    key = (manager, api_version, shape) if shape is not None else None
    if key is not None:
        found = _entries_memo.get(key)
        if found is not None and found[0] == now:
            return found[1]
    tree = _created_tree(new, node, shape, subresource=subresource, has_status=has_status)
    entries = [_entry(manager, api_version, tree, subresource)] if tree else []
    if key is not None:
        if len(_entries_memo) >= _MEMO_LIMIT:
            _entries_memo.clear()
        _entries_memo[key] = (now, entries)
    return entries


def _entry(manager: str, api_version: str, tree: Obj, subresource: str) -> Obj:
    entry: Obj = {"manager": manager, "operation": "Update", "apiVersion": api_version,
                  "time": meta.now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": tree}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _store(md: Obj, entries: list[Obj]) -> None:
    if entries:
        md["managedFields"] = sorted(entries, key=_order) if len(entries) > 1 else entries
    else:
        md.pop("managedFields", None)


def _order(entry: Obj) -> tuple[str, str, str, str, str]:
    """Upstream's encoding order: operation, time (to the second), manager, version, subresource."""
    return (str(entry.get("operation", "")), str(entry.get("time") or ""), str(entry.get("manager", "")),
            str(entry.get("apiVersion", "")), str(entry.get("subresource", "")))


def _capped(entries: list[Obj]) -> list[Obj]:
    """At most ten ``Update`` entries: the oldest merge into ``ancient-changes`` (upstream's
    capManagersManager)."""
    updates = [e for e in entries if e.get("operation") == "Update" and e.get("manager") != ANCIENT_MANAGER]
    if len(updates) + any(e.get("manager") == ANCIENT_MANAGER for e in entries) <= MAX_UPDATE_MANAGERS:
        return entries
    updates.sort(key=lambda e: str(e.get("time") or ""))
    ancient = [e for e in entries if e.get("manager") == ANCIENT_MANAGER]
    keep = MAX_UPDATE_MANAGERS - 1
    merged_away = updates[:len(updates) - keep]
    tree: Obj = (ancient[0].get("fieldsV1") or {}) if ancient else {}
    for entry in merged_away:
        for path in fp.from_fields_v1(entry.get("fieldsV1")):
            tree = _with(tree, path)
    gone = {id(e) for e in merged_away} | {id(e) for e in ancient}
    out = [e for e in entries if id(e) not in gone]
    newest = merged_away[-1] if merged_away else ancient[0]
    # the time of the newest change merged in, as upstream (not of this write)
    out.append({"manager": ANCIENT_MANAGER, "operation": "Update", "apiVersion": newest.get("apiVersion", ""),
                "time": newest.get("time") or meta.now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": tree})
    return out
