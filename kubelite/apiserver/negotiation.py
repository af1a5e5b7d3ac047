"""Output negotiation: which form of an answer the client's ``Accept`` asks for.

A client may ask for the object itself or for a ``meta.k8s.io`` conversion of it, named
by media-type parameters: ``application/json;as=Table;g=meta.k8s.io;v=v1`` (``kubectl
get``, ``tables``), ``as=PartialObjectMetadata`` (one object's metadata) and
``as=PartialObjectMetadataList`` (a list's), each in ``v1`` or ``v1beta1``. client-go's
metadata client (its metadata informers: garbage collectors, controller-runtime's
``OnlyMetadata`` watches) sends, for a list::

    application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,
    application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json

As upstream (apiserver/pkg/endpoints/handlers/negotiation/negotiate.go), the ranges are
read by preference (``q``, then the more specific first, then the client's order) and
the first one the server can produce wins: this server writes JSON only, so a protobuf
range is passed over, as is a conversion it does not know (``as=Foo``, ``v=v2``); a range
without ``as``/``g``/``v`` means the object itself. An ``Accept`` none of whose ranges fits
is 406 with upstream's message, except that one asking for protobuf or YAML alone is
answered in JSON (upstream would write those; kubelite writes JSON only, and a client that
can read nothing else fails either way).

The conversions themselves follow upstream's transformObject
(apiserver/pkg/endpoints/handlers/response.go): a ``PartialObjectMetadata`` carries the
whole ``metadata`` of the object, a list's items are ``PartialObjectMetadata`` and its
``metadata`` is the list's (``resourceVersion``, ``continue``, ``remainingItemCount``);
asking for ``PartialObjectMetadata`` of a list, or ``PartialObjectMetadataList`` of one
object, is 406. Watch events carry ``PartialObjectMetadata`` objects (``watch``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from kubelite.api import errors
from kubelite.api import scheme as schememod

Obj = dict[str, Any]

META_GROUP = "meta.k8s.io"
META_VERSIONS = ("v1", "v1beta1")
TABLE = "Table"
PARTIAL = "PartialObjectMetadata"
PARTIAL_LIST = "PartialObjectMetadataList"
CONVERSIONS = (TABLE, PARTIAL, PARTIAL_LIST)
# The ranges a JSON answer satisfies.
_JSON_RANGES = ("application/json", "application/*", "*/*", "*")
# Upstream's serializers; the last two are answered in JSON here.
_UPSTREAM_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_NOT_ACCEPTABLE = "only the following media types are accepted: " + ", ".join(_UPSTREAM_TYPES)


@dataclass(frozen=True)
class Output:
    """What to answer: ``kind`` "" is the object itself, else a ``meta.k8s.io`` conversion
    (``Table``, ``PartialObjectMetadata``, ``PartialObjectMetadataList``) in ``version``."""

    kind: str = ""
    version: str = ""

    @property
    def api_version(self) -> str:
        return f"{META_GROUP}/{self.version}"


PLAIN = Output()


def _ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    """The media ranges of an Accept header, most preferred first."""
    parsed: list[tuple[tuple[float, bool, bool, int], str, dict[str, str]]] = []
    for i, part in enumerate(accept.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        for p in pieces[1:]:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        kind, _, sub = media.partition("/")
        parsed.append(((-q, kind == "*", sub == "*", i), media, params))
    parsed.sort(key=lambda entry: entry[0])
    return [(media, params) for _key, media, params in parsed]


@functools.lru_cache(maxsize=512)  # a server sees few distinct Accept headers
def output(accept: str) -> Output:
    """The answer the ``Accept`` header asks for first among those this server can give."""
    if not accept:
        return PLAIN
    for media, params in _ranges(accept):
        if media not in _JSON_RANGES:
            continue  # protobuf, YAML…: JSON only here; a later range may fit
        if "as" not in params and "g" not in params and "v" not in params:
            return PLAIN
        if params.get("g") == META_GROUP and params.get("v") in META_VERSIONS and params.get("as") in CONVERSIONS:
            return Output(params["as"], params["v"])
        # a conversion this server does not make: the next range may fit
    if any(media in _UPSTREAM_TYPES[1:] for media, _params in _ranges(accept)):
        return PLAIN
    raise errors.NotAcceptable(_NOT_ACCEPTABLE)


# ---------------------------------------------------------------------------- conversions


def _go_type(info: schememod.ResourceInfo, *, is_list: bool) -> str:
    """How upstream's message names the object it could not convert (a Go type)."""
    if getattr(info, "crd_name", ""):
        return "*unstructured.UnstructuredList" if is_list else "*unstructured.Unstructured"
    package = info.group.split(".")[0] if info.group else "core"
    return f"*{package}.{info.list_kind if is_list else info.kind}"


def partial(metadata: Obj, version: str) -> Obj:
    """A ``PartialObjectMetadata`` with ``metadata`` (an object's, unchanged)."""
    return {"kind": PARTIAL, "apiVersion": f"{META_GROUP}/{version}", "metadata": metadata}


def object_as(out: Output, info: schememod.ResourceInfo, obj: Obj) -> Obj:
    """One object (a get's or a write's answer) in the form ``out`` asks for; Tables are
    made by ``tables``. 406 for ``PartialObjectMetadataList``, as upstream."""
    if out.kind == PARTIAL:
        return partial(obj.get("metadata") or {}, out.version)
    if out.kind == PARTIAL_LIST:
        raise errors.NotAcceptable(f"you requested {PARTIAL_LIST}, but the requested object is not a list "
                                   f"({_go_type(info, is_list=False)})")
    return obj


def list_as(out: Output, info: schememod.ResourceInfo, items: list[Obj], list_meta: Obj) -> Obj:
    """A list in the form ``out`` asks for (not Table); 406 for ``PartialObjectMetadata``."""
    if out.kind == PARTIAL_LIST:
        metadata = {k: list_meta[k] for k in ("resourceVersion", "continue", "remainingItemCount")
                    if list_meta.get(k) not in (None, "")}
        return {"kind": PARTIAL_LIST, "apiVersion": out.api_version, "metadata": metadata,
                "items": [partial(o.get("metadata") or {}, out.version) for o in items]}
    if out.kind == PARTIAL:
        raise errors.NotAcceptable(f"you requested {PARTIAL}, but the requested object is a list "
                                   f"({_go_type(info, is_list=True)})")
    return {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": list_meta, "items": items}
