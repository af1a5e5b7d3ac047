"""Server-side printing: ``meta.k8s.io/v1`` ``Table`` answers for ``kubectl get``.

kubectl asks for a Table on every ``get`` (``Accept: application/json;as=Table;v=v1;
g=meta.k8s.io, …``) and prints the server's columns; ``-o wide`` adds the columns with
``priority > 0``, so rows always carry every cell (upstream prints server-side with
Wide on, too). The HTTP layer calls ``wants_table`` on the Accept header, then
``to_table`` for lists and single objects and ``table_event`` for each event of
``get -w``.

Per-kind columns live in ``kubelite.apiserver.printers``; kinds without one get
upstream's default Name / Created At table, and custom resources their
``additionalPrinterColumns`` (simple JSONPath, evaluated here).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kubelite.api import errors
from kubelite.api import scheme as schememod
from kubelite.apiserver import (
    humanize,
    negotiation,
    printers,
    printers_rbac,  # noqa: F401 -- registers the RBAC bindings' columns
)

TABLE_GROUP = negotiation.META_GROUP
INCLUDE_OBJECT = ("None", "Metadata", "Object")

Obj = printers.Obj
Cells = printers.Cells
Conditions = printers.Conditions

# re-exported: callers format ages the way kubectl does
human_duration = humanize.human_duration
pod_status = humanize.pod_status

DEFAULT_COLUMNS: list[dict[str, Any]] = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name of the object.", "priority": 0},
    {"name": "Created At", "type": "date", "format": "",
     "description": "When the object was created (RFC 3339, UTC).", "priority": 0},
]


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


# ---------------------------------------------------------------------------- negotiation


def table_version(accept: str) -> str | None:
    """The Table version ("v1" or "v1beta1") the client asks for first, or None.

    Media ranges are read by the client's preference (``negotiation.output``): a plain
    ``application/json`` before any Table range means the client wants the object itself.
    """
    out = negotiation.output(accept or "")
    return out.version if out.kind == negotiation.TABLE else None


def wants_table(accept: str) -> bool:
    """True if the Accept header asks for a ``meta.k8s.io`` Table (v1 or v1beta1)."""
    return table_version(accept) is not None


def default_cells(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    """Upstream's default table: the name and the creation time as RFC 3339."""
    return [_meta(obj).get("name", ""), _meta(obj).get("creationTimestamp", "")], None


# ---------------------------------------------------------------------------- custom columns

_SEGMENT = re.compile(r"""\.((?:\\.|[^.\[\\])+)|\[\s*(\*|-?\d+|'[^']*'|"[^"]*"|\?\(.*?\))\s*\]""")
_FILTER = re.compile(r"""\?\(\s*@((?:\.[\w\-/\\.]+?)*)\s*(?:(==|!=|<|>)\s*(?:'([^']*)'|"([^"]*)"|([^)\s]+)))?\s*\)""")


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Values at a simple kubectl JSONPath (``.spec.x``, ``.a[0]``, ``.a[*].b``,
    ``.status.conditions[?(@.type=="Ready")].status``), as CRD printer columns use."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    values = [obj]
    for m in _SEGMENT.finditer(path):
        field, bracket = m.group(1), m.group(2)
        nxt: list[Any] = []
        for v in values:
            if field is not None:
                key = field.replace("\\.", ".")
                if isinstance(v, dict) and key in v:
                    nxt.append(v[key])
            elif bracket == "*":
                nxt.extend(v if isinstance(v, list) else v.values() if isinstance(v, dict) else [])
            elif bracket[0] in "'\"":
                if isinstance(v, dict) and bracket[1:-1] in v:
                    nxt.append(v[bracket[1:-1]])
            elif bracket.startswith("?"):
                nxt.extend(item for item in (v if isinstance(v, list) else []) if _matches(item, bracket))
            elif isinstance(v, list) and -len(v) <= int(bracket) < len(v):
                nxt.append(v[int(bracket)])
        values = nxt
    return values


def _matches(item: Any, expr: str) -> bool:
    m = _FILTER.fullmatch(expr)
    if not m:
        return False
    found = jsonpath(item, m.group(1) or "")
    if not found:
        return False
    if m.group(2) is None:
        return True
    want = next(g for g in (m.group(3), m.group(4), m.group(5)) if g is not None)
    have = found[0]
    have_text = json.dumps(have) if not isinstance(have, str) else have
    if m.group(2) == "==":
        return have_text == want
    if m.group(2) == "!=":
        return have_text != want
    try:
        return float(have) < float(want) if m.group(2) == "<" else float(have) > float(want)
    except (TypeError, ValueError):
        return False


def _cell(type_: str, value: Any, now: datetime) -> Any:
    """A printer-column cell as the apiextensions table convertor types it."""
    if type_ == "string":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if type_ == "integer":
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if type_ == "number":
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if type_ == "boolean":
        return value if isinstance(value, bool) else None
    if type_ == "date":
        return humanize.since(value, now) if humanize.parse_time(value) else None
    return value


def custom_cells(columns: Sequence[dict[str, Any]]) -> Cells:
    """Cells for a CRD's ``additionalPrinterColumns`` (after the Name column)."""
    def cells(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
        row: list[Any] = [_meta(obj).get("name", "")]
        for column in columns:
            found = jsonpath(obj, column.get("jsonPath", ""))
            row.append(_cell(column.get("type", "string"), found[0], now) if found else None)
        return row, None
    return cells


# ---------------------------------------------------------------------------- tables


def _columns(info: schememod.ResourceInfo,
             printer_columns: Sequence[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], Cells]:
    if printer_columns is not None:
        defs = [DEFAULT_COLUMNS[0]] + [
            {"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
             "description": c.get("description", ""), "priority": int(c.get("priority", 0))}
            for c in printer_columns]
        return defs, custom_cells(printer_columns)
    known = printers.PRINTERS.get((info.group, info.kind))
    if known is None:
        return DEFAULT_COLUMNS, default_cells
    columns, cells = known
    return [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": d, "priority": p}
            for n, t, p, d in columns], cells


def to_table(info: schememod.ResourceInfo, objects: list[Obj], *, list_meta: Obj,
             include_object: str = "Metadata", now: datetime | None = None,
             printer_columns: Sequence[dict[str, Any]] | None = None,
             version: str = "v1", column_definitions: bool = True) -> Obj:
    """A ``Table`` with one row per object (a single GET passes one object).

    ``include_object`` is the ``includeObject`` query parameter: "Metadata" (the default:
    a ``PartialObjectMetadata``, which kubectl needs for ``-A`` and ``--show-labels``),
    "Object" (``--sort-by``) or "None"; anything else is a 400. ``printer_columns`` are a
    CRD version's ``additionalPrinterColumns``; ``now`` pins the clock for Age columns.
    """
    include_object = include_object or "Metadata"
    if include_object not in INCLUDE_OBJECT:
        raise errors.BadRequest(f"unrecognized includeObject value: {include_object!r}")
    now = now or datetime.now(UTC)
    columns, cells = _columns(info, printer_columns)
    api_version = f"{TABLE_GROUP}/{version}"
    rows: list[Obj] = []
    for obj in objects:
        values, conditions = cells(obj, now)
        row: Obj = {"cells": values}
        if conditions:
            row["conditions"] = conditions
        if include_object == "Object":
            row["object"] = obj
        elif include_object == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": api_version,
                             "metadata": _meta(obj)}
        rows.append(row)
    metadata = {k: list_meta[k] for k in ("resourceVersion", "continue", "remainingItemCount")
                if list_meta.get(k) not in (None, "")}
    return {"kind": "Table", "apiVersion": api_version, "metadata": metadata,
            # on watch events after the first, kubectl reuses the last columns it saw
            "columnDefinitions": columns if column_definitions else [], "rows": rows}


def table_event(info: schememod.ResourceInfo, event_type: str, obj: Obj, *, first: bool,
                include_object: str = "Metadata", now: datetime | None = None,
                printer_columns: Sequence[dict[str, Any]] | None = None, version: str = "v1") -> Obj:
    """A watch event whose object is a one-row Table (``kubectl get -w``).

    Column definitions ride only on the ``first`` event. A BOOKMARK becomes an empty Table
    with the bookmark's resourceVersion and annotations. ERROR events keep their
    ``Status`` and must not come here.
    """
    metadata = _meta(obj)
    objects = [] if event_type == "BOOKMARK" else [obj]
    table = to_table(info, objects, list_meta={"resourceVersion": metadata.get("resourceVersion", "")},
                     include_object=include_object, now=now, printer_columns=printer_columns,
                     version=version, column_definitions=first)
    if event_type == "BOOKMARK" and metadata.get("annotations"):
        table["metadata"]["annotations"] = metadata["annotations"]
    return {"type": event_type, "object": table}
