"""Server-side apply (``application/apply-patch+yaml``): field ownership per manager.

Called by ``handlers.Handlers._apply`` for ``kubectl apply --server-side``, ``kubectl
diff`` (a dry-run apply) and lightkube's ``apply``. Semantics follow upstream's
structured-merge-diff, read there and written here in small:

- the applied configuration names a *set of fields* (leaves, list items by their key,
  set members by value); it is stored per manager in ``metadata.managedFields[]`` as
  ``fieldsV1`` (``{"f:spec":{"f:replicas":{}}}``, ``k:{"name":"main"}``, ``v:"x"``, ``.``);
- the configuration is merged into the live object: objects and maps key by key, lists
  with a merge key (``x-kubernetes-list-map-keys`` or ``x-kubernetes-patch-merge-key``)
  item by item, sets by value, anything else (atomic lists and maps, scalars) replaced;
- a field the manager applied before, no longer applies and no other manager owns is
  removed from the object;
- changing the value of a field another manager owns is a conflict: 409 with one
  ``details.causes[]`` entry per field, unless ``force=true``, which takes the field over.

Plain writes record ``Update`` managers (``kubelite.apiserver.managedfields``): an apply
conflicts with them as with other appliers. What a field is at a schema node, and the
``fieldsV1`` encoding, are ``kubelite.apiserver.fieldpaths``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, Final

import orjson

from kubelite.api import errors, meta, schema
from kubelite.apiserver import fieldpaths as fp

Obj = dict[str, Any]
Path = fp.Path

# --- merging the configuration into the live object -------------------------------------


def merge(live: Any, applied: Any, node: schema.Node | None) -> Any:
    """``applied`` merged into ``live`` (neither is mutated)."""
    if isinstance(applied, dict) and isinstance(live, dict) and not fp.is_atomic(node):
        out = dict(live)
        for key, sub in applied.items():
            if sub is None:
                out.pop(key, None)
            else:
                out[key] = merge(live.get(key, fp.MISSING), sub, fp.child_node(node, key))
        return out
    if isinstance(applied, list) and isinstance(live, list):
        keys = fp.list_keys(node)
        if keys and all(fp.item_key(v, keys) for v in applied):
            out_list = list(live)
            items = fp.item_node(node)
            for item in applied:
                key = fp.item_key(item, keys)
                assert key is not None
                at = next((i for i, v in enumerate(out_list) if fp.matches(v, key)), None)
                if at is None:
                    out_list.append(merge(fp.MISSING, item, items))
                else:
                    out_list[at] = merge(out_list[at], item, items)
            return out_list
        if fp.is_set(node, applied):
            return list(live) + [v for v in applied if v not in live]
    if isinstance(applied, dict):
        return {k: merge(fp.MISSING, v, fp.child_node(node, k)) for k, v in applied.items() if v is not None}
    return copy.deepcopy(applied)


# --- managedFields ----------------------------------------------------------------------


def _entries(obj: Obj) -> list[Obj]:
    return [e for e in (obj.get("metadata") or {}).get("managedFields") or [] if isinstance(e, dict)]


def _same_manager(entry: Obj, *, manager: str, subresource: str) -> bool:
    return (entry.get("manager") == manager and entry.get("operation") == "Apply"
            and entry.get("subresource", "") == subresource)


def _entry(*, manager: str, api_version: str, paths: set[Path], subresource: str) -> Obj:
    entry: Obj = {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": meta.now_rfc3339(),
                  "fieldsType": "FieldsV1", "fieldsV1": fp.to_fields_v1(paths)}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _owned(value: Obj, node: schema.Node | None, subresource: str) -> set[Path]:
    paths = fp.field_set(value, node)
    if subresource == "":
        # the main resource ignores status; /status ignores everything else
        paths = {p for p in paths if p[:1] != ("f:status",)}
    elif subresource == "status":
        paths = {p for p in paths if p[:1] == ("f:status",)}
    return paths


def _clean(applied: Obj) -> Obj:
    patch = copy.deepcopy(applied)
    md = patch.get("metadata")
    if isinstance(md, dict):
        for key in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"):
            md.pop(key, None)
    return patch


def apply_create(applied: Obj, *, manager: str, name: str, node: schema.Node | None = None,
                 subresource: str = "") -> Obj:
    """The object to create for an apply to a missing name, owned by ``manager``."""
    obj = _clean(applied)
    md = obj.setdefault("metadata", {})
    if md.get("name") not in (None, name):
        raise errors.BadRequest("the name of the applied object does not match the name on the URL")
    md["name"] = name
    paths = _owned(obj, node, subresource)
    md["managedFields"] = [_entry(manager=manager, api_version=obj.get("apiVersion", ""), paths=paths,
                                  subresource=subresource)] if paths else []
    return obj


def apply_update(current: Obj, applied: Obj, *, manager: str, force: bool, node: schema.Node | None,
                 subresource: str = "", resource: str = "") -> Obj:
    """``current`` with ``applied`` merged in and ownership updated; 409 on conflicts."""
    patch = _clean(applied)
    new_paths = _owned(patch, node, subresource)
    entries = _entries(current)
    previous: set[Path] = set()
    others: list[tuple[Obj, set[Path]]] = []
    for entry in entries:
        if _same_manager(entry, manager=manager, subresource=subresource):
            previous |= fp.from_fields_v1(entry.get("fieldsV1"))
        else:
            others.append((entry, fp.from_fields_v1(entry.get("fieldsV1"))))

    conflicts = list(_conflicts(current, patch, new_paths, others))
    if conflicts and not force and manager == KUBECTL and _from_last_applied(current, conflicts, node):
        force = True
    if conflicts and not force:
        raise _conflict_error(conflicts, current=current, resource=resource)
    if conflicts:
        taken = {path for _, path in conflicts}
        others = [(entry, paths - taken) for entry, paths in others]

    merged = merge(current, patch, node)
    assert isinstance(merged, dict)
    still_owned = set().union(*(paths for _, paths in others)) if others else set()
    kept = new_paths | still_owned
    removed: list[Path] = []
    # shallowest first: removing a list item takes its fields with it (and removing those
    # first would change the item's key); an item or map some kept field lives in stays
    for path in sorted(previous - kept, key=len):
        if any(path[:len(r)] == r for r in removed):
            continue
        if any(p[:len(path)] == path for p in kept):
            continue
        fp.remove(merged, path)
        removed.append(path)

    fields: list[Obj] = []
    for entry, paths in others:
        if paths:
            fields.append({**entry, "fieldsV1": fp.to_fields_v1(paths)})
    if new_paths:
        api_version = str(applied.get("apiVersion") or current.get("apiVersion") or "")
        fields.append(_entry(manager=manager, api_version=api_version, paths=new_paths, subresource=subresource))
    merged.setdefault("metadata", {})["managedFields"] = fields
    if manager == KUBECTL:
        _sync_last_applied(merged, applied)
    return merged


# --- from client-side apply: upstream's lastAppliedManager and lastAppliedUpdater --------

KUBECTL: Final = "kubectl"  # kubectl's server-side apply manager
LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied(obj: Obj) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    return value if isinstance(value, str) and value else None


def _from_last_applied(current: Obj, conflicts: list[tuple[str, Path]], node: schema.Node | None) -> bool:
    """Whether every conflict of kubectl's first server-side apply is a field its earlier
    client-side applies set (their last-applied configuration names it): kubectl moves
    those fields to itself right after, so the apply goes through as if forced."""
    text = _last_applied(current)
    if text is None:
        return False
    try:
        configuration = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(configuration, dict):
        return False
    allowed = fp.field_set(configuration, node)
    return all(path in allowed for _, path in conflicts)


def _sync_last_applied(merged: Obj, applied: Obj) -> None:
    """kubectl's server-side applies keep an existing last-applied annotation current, so
    a later client-side apply still diffs against what was applied last."""
    annotations = (merged.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or not _last_applied(merged):
        return
    configuration = copy.deepcopy(applied)
    own = (configuration.get("metadata") or {}).get("annotations")
    if isinstance(own, dict):
        # As upstream's buildLastApplied: the annotation leaves the copy, its map (even
        # emptied, or the manifest's own ``{}``) stays.
        own.pop(LAST_APPLIED, None)
    annotations[LAST_APPLIED] = go_json(configuration)


_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                             "\u2029": "\\u2029"})


def go_json(obj: Obj) -> str:
    """``obj`` as Go's json.Encoder writes it (what kubectl's client-side apply and
    upstream's lastAppliedUpdater store): sorted keys, HTML characters escaped, and a
    trailing newline; so that ``kubectl diff`` sees the same text either way."""
    # The characters escaped appear only inside JSON strings, so a plain replace is exact.
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode().translate(_GO_ESCAPES) + "\n"


def _conflicts(current: Obj, applied: Obj, new_paths: set[Path],
               others: list[tuple[Obj, set[Path]]]) -> Iterator[tuple[str, Path]]:
    """(other manager, path) for each field another manager owns whose value would change."""
    for entry, paths in others:
        for path in sorted(new_paths & paths):
            if path[-1].startswith(("k:", "v:")):
                continue  # an item's existence is shared, never a conflict
            live = fp.value_at(current, path)
            if live is fp.MISSING:
                continue
            if live != fp.value_at(applied, path):
                yield _who(entry), path


def _who(entry: Obj) -> str:
    """A manager as upstream's conflicts name it: ``"kubectl"``, ``"kubectl-scale" with
    subresource "scale" using apps/v1`` (an ``Update`` manager's version matters)."""
    who = f'conflict with "{entry.get("manager", "")}"'
    if entry.get("subresource"):
        who += f' with subresource "{entry["subresource"]}"'
    if entry.get("operation") == "Update":
        who += f' using {entry.get("apiVersion", "")}'
    return who


def _conflict_error(conflicts: list[tuple[str, Path]], *, current: Obj, resource: str) -> errors.Conflict:
    causes = [errors.Cause("FieldManagerConflict", who, fp.show(path)) for who, path in conflicts]
    n = len(conflicts)
    lines = "\n".join(f"- {who}: {fp.show(path)}" for who, path in conflicts)
    if n == 1:
        message = f"Apply failed with 1 conflict: {conflicts[0][0]}: {fp.show(conflicts[0][1])}"
    else:
        message = f"Apply failed with {n} conflicts: {lines}"
    group = current.get("apiVersion", "").rpartition("/")[0]
    return errors.Conflict(message, name=(current.get("metadata") or {}).get("name", ""), group=group,
                           kind=resource, causes=causes)
