"""OpenAPI v2 (Swagger 2.0): ``GET /openapi/v2``, in JSON or in gnostic's protobuf.

Who reads it:

- kubectl's client-side validation. For a ``kind: List`` (``kubectl get … -o yaml`` backups)
  kubectl's OpenAPI v3 check of the ``fieldValidation`` parameter answers "unsupported"
  (it never looks a List up), so ``--validate=strict`` (the default) validates every item
  itself against ``/openapi/v2``, fetched as protobuf (client-go's ``OpenAPISchema()``,
  ``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf``), decoded as
  gnostic's ``openapi_v2.Document`` and parsed by kube-openapi's ``util/proto``: each item is
  matched to the definition tagged with its ``x-kubernetes-group-version-kind``. That parser
  refuses the *whole* document for one schema it cannot read (two types, an array without
  one ``items``, ``$ref`` beside ``type`` or ``properties``, a dangling ``$ref``), which is
  why CRD schemas go through upstream's v2 filter (``_crd_schema``) and are dropped to a
  bare ``type: object`` when they still would not parse.
- ``kubectl apply`` of an existing object, after v3: the PATCH ``consumes`` of its kind.
  With ``application/strategic-merge-patch+json`` (built-in kinds, as upstream) kubectl
  computes the patch from these definitions' ``x-kubernetes-patch-*``; without (CRDs) it
  sends a JSON merge patch.
- Tools that read v2 as JSON (Argo CD, Terraform's kubernetes provider, older validators).

The document is derived from the same upstream definitions as the v3 ones
(``kubelite.apiserver.openapi``) and shaped as kube-apiserver's: ``definitions`` named like
``io.k8s.api.apps.v1.Deployment``; ``$ref`` keeps its siblings (``description``), which v3
had to wrap in ``allOf``; ``IntOrString`` is ``type: string, format: int-or-string``;
``Quantity`` a string; paths and operation ids as upstream's route builder makes them, with
parameters common to a path's operations lifted to the path and the shared ones moved to
``parameters`` under kube-openapi's names (``pretty-<hash>``; ``fieldValidation``,
``dryRun`` and ``name`` stay inline, as kubectl's v2 query-parameter check needs).

Serving: one document per set of served resources (CRDs change it), built on the first
request after a change, in a worker thread (~0.5 s), cached with its protobuf and gzip
forms made on first demand; ``ETag`` (uppercase hex SHA-512 of the JSON, as upstream,
shared by both forms with ``Vary: Accept``) and ``Last-Modified`` answer conditional
requests with 304.

The protobuf encoder at the bottom writes ``openapi_v2.Document``
(github.com/google/gnostic-models/openapiv2/OpenAPIv2.proto) from the JSON document by a
table of its messages: vendor extensions and ``default``/``enum``/``example`` values are
``Any`` messages whose ``yaml`` holds the value (written as JSON, which YAML reads), maps
are repeated ``Named…`` messages in key order, and the ``oneof`` wrappers
(``ParametersItem``, ``SchemaItem``, ``AdditionalPropertiesItem``…) pick their case the way
gnostic's compiler does.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import gzip
import hashlib
import json
import struct
import threading
import time
from collections.abc import Callable, Container, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiohttp import web

from kubelite.api import errors
from kubelite.api import scheme as schememod
from kubelite.api.protobuf import wire
from kubelite.apiserver import discovery, openapi

Schema = dict[str, Any]
ExtraSchemas = Mapping[schememod.ResourceInfo, Schema]

MIME_JSON: Final = "application/json"
MIME_PROTOBUF: Final = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
# What client-go sends; upstream answers it with MIME_PROTOBUF.
MIME_PROTOBUF_DEPRECATED: Final = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"

_DEFS = "#/definitions/"
_META = openapi._META
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json")
_SMP = "application/strategic-merge-patch+json"
_APPLY = "application/apply-patch+yaml"
_DISCOVERY = (f"{_META}APIVersions", f"{_META}APIGroupList", f"{_META}APIGroup", f"{_META}APIResourceList",
              "io.k8s.apimachinery.pkg.version.Info")
_OBJECT_META_DESCRIPTION = ("Standard object's metadata. More info: "
                            "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
_LIST_META_DESCRIPTION = ("Standard list metadata. More info: "
                          "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")
_API_VERSION = {"description": "APIVersion defines the versioned schema of this representation of an object. "
                "Servers should convert recognized schemas to the latest internal value, and may reject "
                "unrecognized values. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string"}
_KIND = {"description": "Kind is a string value representing the REST resource this object represents. "
         "Servers may infer this from the endpoint the client submits requests to. Cannot be updated. "
         "In CamelCase. More info: "
         "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
         "type": "string"}
# Upstream's v2 forms of the two definitions JSON Schema spells with oneOf.
_SCALARS: Final[Mapping[str, Schema]] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
                       "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you "
                       "to have, for example, a JSON field that can accept a name or number.",
        "format": "int-or-string", "type": "string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
                       "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() "
                       "accessors.",
        "type": "string"},
}

# ---------------------------------------------------------------------------- built-in definitions


def _convert(node: Any) -> Any:
    """One kubernetes-validate (JSON Schema 2020) schema node → Swagger 2.0.

    ``type: [T, "null"]`` → ``type: T`` (the "null" only marks optional fields); ``$ref`` into
    ``$defs`` → ``#/definitions/``, siblings kept; ``oneOf``/``anyOf``/``not`` do not exist in
    Swagger 2.0 and are dropped (the two definitions that use them are replaced whole);
    empty ``properties`` are left out (kubectl would take them for "no field allowed").
    """
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _DEFS + value.rpartition("/")[2]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) == 1:
                out[key] = types[0]
        elif key == "properties" and isinstance(value, dict):
            if value:  # keys here are field names, not keywords
                out[key] = {name: _convert(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            out[key] = _convert(value)
        elif key in ("oneOf", "anyOf", "not", "$defs"):
            continue
        else:
            out[key] = value
    return out


_converted_lock = threading.Lock()
_converted_cache: dict[str, Schema] = {}


def _definition(name: str) -> Schema:
    """The v2 form of one upstream definition (shared: never mutate)."""
    hit = _converted_cache.get(name)
    if hit is not None:
        return hit
    if name in _SCALARS:
        out = dict(_SCALARS[name])
    else:
        out = _convert(openapi.definitions()[name])
        if "x-kubernetes-group-version-kind" in out:
            # kubernetes-validate pins apiVersion and kind with a one-value enum; upstream doesn't
            props = out.get("properties", {})
            for key in ("apiVersion", "kind"):
                if isinstance(props.get(key), dict) and "enum" in props[key]:
                    props[key] = {k: v for k, v in props[key].items() if k != "enum"}
    with _converted_lock:
        return _converted_cache.setdefault(name, out)


# ---------------------------------------------------------------------------- custom resources

_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})
# What a structural schema node keeps in v2 (apiextensions' ToKubeOpenAPI, minus nullable
# and the junctors that ToStructuralOpenAPIV2 drops). ``default`` is pruned as
# kube-apiserver prunes it from the v2 it serves.
_STRUCTURAL_KEYS = ("description", "title", "type", "format", "maximum", "exclusiveMaximum", "minimum",
                    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
                    "multipleOf", "enum", "maxProperties", "minProperties", "required", "externalDocs",
                    "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
                    "x-kubernetes-validations")
_TRUE_EXTENSIONS = ("x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
                    "x-kubernetes-int-or-string")


# What a CRD's definition may refer to.
_CRD_REFS = frozenset({f"{_META}ObjectMeta"})


class _Unpublishable(Exception):
    """A CRD schema kubectl's v2 parser could not read: publish a bare object instead."""


def _structural(node: Any) -> Schema:
    """A CRD ``openAPIV3Schema`` node → v2, as apiextensions' ToStructuralOpenAPIV2.

    Nullable nodes lose their type, items and properties (and leave their parent's
    ``required``); ``x-kubernetes-preserve-unknown-fields`` nodes lose items and
    properties, and an object its type; an array left without items loses its type;
    ``allOf``/``anyOf``/``oneOf``/``not`` go. An embedded resource gets apiVersion, kind and
    metadata. Raises ``_Unpublishable`` for what kubectl could not parse.
    """
    if not isinstance(node, dict):
        raise _Unpublishable("not an object")
    out: Schema = {}
    for key in _STRUCTURAL_KEYS:
        value = node.get(key)
        if value is not None and value != [] and value != "":
            out[key] = value
    for key in _TRUE_EXTENSIONS:
        if node.get(key) is True:
            out[key] = True
    type_ = out.get("type")
    if type_ is not None and (not isinstance(type_, str) or type_ not in _SCALAR_TYPES | {"object", "array"}):
        raise _Unpublishable(f"type {type_!r}")
    props = node.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {name: _structural(sub) for name, sub in props.items()}
        nullable = {name for name, sub in props.items() if isinstance(sub, dict) and sub.get("nullable") is True}
        if nullable and isinstance(out.get("required"), list):
            out["required"] = [r for r in out["required"] if r not in nullable]
    elif props is not None and not isinstance(props, dict):
        raise _Unpublishable("properties is not an object")
    items = node.get("items")
    if isinstance(items, dict):
        out["items"] = _structural(items)
    elif items is not None:
        raise _Unpublishable("items is not one schema")
    extra = node.get("additionalProperties")
    if isinstance(extra, bool):
        out["additionalProperties"] = extra
    elif isinstance(extra, dict):
        out["additionalProperties"] = _structural(extra)
        if extra.get("nullable") is True:
            out.pop("required", None)
    if node.get("nullable") is True:
        for key in ("type", "items", "properties"):
            out.pop(key, None)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("items", None)
        out.pop("properties", None)
        if out.get("type") == "object":
            del out["type"]
    if out.get("type") == "array" and "items" not in out:
        del out["type"]
    if out.get("x-kubernetes-embedded-resource") and not out.get("x-kubernetes-preserve-unknown-fields"):
        props = out.setdefault("properties", {})
        props["apiVersion"] = {**_API_VERSION, "description": "apiVersion defines the versioned schema of this "
                               "representation of an object. More info: https://git.k8s.io/community/contributors/"
                               "devel/sig-architecture/api-conventions.md#resources"}
        props["kind"] = {**_KIND, "description": "kind is a string value representing the type of this object. "
                         "In CamelCase. More info: https://git.k8s.io/community/contributors/devel/"
                         "sig-architecture/api-conventions.md#types-kinds"}
        props["metadata"] = {"$ref": f"{_DEFS}{_META}ObjectMeta", "description": _OBJECT_META_DESCRIPTION}
        required = list(out.get("required") or [])
        out["required"] = required + [r for r in ("kind", "apiVersion") if r not in required]
    if out.get("required") == []:
        del out["required"]
    if out.get("type") == "object" and "properties" in out and "additionalProperties" in out:
        # kubectl reads properties and would ignore the map: upstream never publishes both
        del out["additionalProperties"]
    return out


def _custom_schemas(info: schememod.ResourceInfo, given: Schema | None) -> dict[str, Schema]:
    """v2 definitions of a kind without an upstream definition (a CRD version) and its list,
    as apiextensions' v2 builder makes them."""
    gvk = [openapi._gvk(info.group, info.version, info.kind)]
    body: Schema = {"type": "object"}
    if given is not None and not given.get("x-kubernetes-preserve-unknown-fields"):
        try:
            body = _structural(given)
        except _Unpublishable:
            body = {"type": "object"}
        else:
            # the server owns metadata's shape, and TypeMeta apiVersion and kind, whatever the CRD says
            props = body.setdefault("properties", {})
            props["metadata"] = {"$ref": f"{_DEFS}{_META}ObjectMeta", "description": _OBJECT_META_DESCRIPTION}
            props["apiVersion"] = dict(_API_VERSION)
            props["kind"] = dict(_KIND)
            body.setdefault("type", "object")
            body.pop("additionalProperties", None)
            if kubectl_parse_problem(body, _CRD_REFS) is not None:
                body = {"type": "object"}
    body["x-kubernetes-group-version-kind"] = gvk
    item_name = openapi._custom_name(info, info.kind)
    listing: Schema = {
        "description": f"{info.list_kind} is a list of {info.kind}",
        "required": ["items"],
        "properties": {
            "apiVersion": dict(_API_VERSION),
            "kind": dict(_KIND),
            "items": {"description": f"List of {info.plural}. More info: "
                                     "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                                     "api-conventions.md",
                      "type": "array", "items": {"$ref": _DEFS + item_name}},
            "metadata": {"$ref": f"{_DEFS}{_META}ListMeta", "description": _LIST_META_DESCRIPTION},
        },
        "x-kubernetes-group-version-kind": [openapi._gvk(info.group, info.version, info.list_kind)],
    }
    return {item_name: body, openapi._custom_name(info, info.list_kind): listing}


def kubectl_parse_problem(node: Any, definitions: Container[str], where: str = "") -> str | None:
    """Why kube-openapi's ``util/proto`` parser would refuse ``node`` (None if it would not).

    The rules of its ``ParseSchema``: a ``$ref`` names a definition and has neither
    ``type`` nor ``properties`` beside it; one type at most, a known one; an array has one
    ``items`` schema. Used to keep a CRD schema from breaking the whole document, and by tests.
    """
    if not isinstance(node, dict):
        return f"{where}: not a schema"
    ref = node.get("$ref")
    if isinstance(ref, str):
        if "type" in node or node.get("properties"):
            return f"{where}: $ref beside type or properties"
        if not ref.startswith(_DEFS) or ref[len(_DEFS):] not in definitions:
            return f"{where}: unknown reference {ref}"
        return None
    type_ = node.get("type")
    if isinstance(type_, list):
        return f"{where}: more than one type"
    if type_ is not None and not isinstance(type_, str):
        return f"{where}: type is not a string"
    if type_ == "array":
        if not isinstance(node.get("items"), dict):
            return f"{where}: an array needs exactly one items schema"
        return kubectl_parse_problem(node["items"], definitions, f"{where}[]")
    if type_ is not None and type_ != "object" and type_ not in _SCALAR_TYPES:
        return f"{where}: unknown type {type_!r}"
    props = node.get("properties")
    if type_ in (None, "object") and isinstance(props, dict):
        for name, sub in props.items():
            problem = kubectl_parse_problem(sub, definitions, f"{where}.{name}")
            if problem:
                return problem
        return None
    extra = node.get("additionalProperties")
    if type_ == "object" and isinstance(extra, dict):
        return kubectl_parse_problem(extra, definitions, f"{where}{{}}")
    return None


# ---------------------------------------------------------------------------- paths


def _query(name: str) -> Schema:
    """A query parameter of the v3 documents (``openapi._P``) in its v2 form."""
    p3 = openapi._P[name]
    return {"description": p3["description"], "in": "query", "name": name, **p3["schema"]}


def _typed_query(name: str) -> Schema:
    return {"description": name, "in": "query", "name": name,
            "type": openapi._CONNECT_TYPES.get(name, "string"), "uniqueItems": True}


def _path_param(name: str, kind: str) -> Schema:
    description = {"namespace": "object name and auth scope, such as for teams and projects",
                   "path": "path to the resource"}.get(name, f"name of the {kind}")
    return {"description": description, "in": "path", "name": name, "required": True, "type": "string",
            "uniqueItems": True}


def _body(ref: str, *, required: bool = True) -> Schema:
    out: Schema = {"in": "body", "name": "body", "schema": {"$ref": _DEFS + ref}}
    if required:
        out["required"] = True
    return out


def _responses(body: Schema, *codes: str) -> Schema:
    names = {"200": "OK", "201": "Created", "202": "Accepted"}
    out: Schema = {code: {"description": names[code], "schema": body} for code in ("200", *codes)}
    out["401"] = {"description": "Unauthorized"}
    return out


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


_JSON_ONLY = (MIME_JSON,)
_STREAMS = (MIME_JSON, "application/json;stream=watch")
_ANY = ("*/*",)


class _Paths:
    """Collects operations by path and method, then shapes ``paths`` as kube-openapi does."""

    def __init__(self) -> None:
        self.ops: dict[str, dict[str, Schema]] = {}

    def add(self, path: str, method: str, *, verb: str, group: str, version: str, rest: str, description: str,
            action: str | None, gvk: dict[str, str] | None, params: list[Schema], responses: Schema,
            consumes: Iterable[str], produces: Iterable[str]) -> None:
        ident, tag = openapi._ident(group), f"{openapi._ident(group)[:1].lower()}{openapi._ident(group)[1:]}"
        op: Schema = {
            "consumes": list(consumes),
            "description": description,
            "operationId": f"{verb}{ident}{version[:1].upper()}{version[1:]}{rest}",
            "parameters": [*params, _query("pretty")],
            "produces": list(produces),
            "responses": responses,
            "schemes": ["https"],
            "tags": [f"{tag}_{version}"],
        }
        if action:
            op["x-kubernetes-action"] = action
        if gvk:
            op["x-kubernetes-group-version-kind"] = gvk
        self.ops.setdefault(path, {})[method] = op

    def plain(self, path: str, operation_id: str, tag: str, description: str, definition: str) -> None:
        """A discovery or version path: one GET, no parameters."""
        self.ops.setdefault(path, {})["get"] = {
            "consumes": list(_JSON_ONLY), "description": description, "operationId": operation_id,
            "produces": list(_JSON_ONLY), "parameters": [], "responses": _responses({"$ref": _DEFS + definition}),
            "schemes": ["https"], "tags": [tag]}

    def finish(self) -> dict[str, Schema]:
        """Parameters every operation of a path has (bodies aside) move to the path, as
        kube-openapi's findCommonParameters; both lists sorted by name, then ``in``."""
        out: dict[str, Schema] = {}
        for path, methods in self.ops.items():
            counts: dict[tuple[str, str], int] = {}
            for op in methods.values():
                for p in op["parameters"]:
                    counts[(p["name"], p["in"])] = counts.get((p["name"], p["in"]), 0) + 1
            common = {key for key, n in counts.items() if n == len(methods) and key[1] != "body"}
            lifted: dict[tuple[str, str], Schema] = {}
            item: Schema = {}
            for method, op in methods.items():
                own = []
                for p in op["parameters"]:
                    key = (p["name"], p["in"])
                    if key in common:
                        lifted[key] = p
                    else:
                        own.append(p)
                op = {**op, "parameters": sorted(own, key=_param_order)}
                if not own:
                    del op["parameters"]
                item[method] = op
            if lifted:
                item["parameters"] = sorted(lifted.values(), key=_param_order)
            out[path] = item
        return out


def _param_order(p: Schema) -> tuple[str, str]:
    return (p["name"], p["in"])


def _resource_paths(paths: _Paths, info: schememod.ResourceInfo, custom: set[schememod.ResourceInfo]) -> list[str]:
    """Every operation of ``info``, as upstream's installer (or apiextensions' builder for
    CRDs) registers it; returns the definitions they refer to."""
    kind_name, list_name = openapi._schema_names(info, custom)
    group, version, kind = info.group, info.version, info.kind
    gvk = openapi._gvk(group, version, kind)
    ns = "Namespaced" if info.namespaced else ""
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    prefix = f"{base}/namespaces/{{namespace}}" if info.namespaced else base
    collection, item = f"{prefix}/{info.plural}", f"{prefix}/{info.plural}/{{name}}"
    ns_params = [_path_param("namespace", kind)] if info.namespaced else []
    item_params = [_path_param("name", kind), *ns_params]
    kind_ref = {"$ref": _DEFS + kind_name}
    status_ref = {"$ref": f"{_DEFS}{_META}Status"}
    patch_types = (*_PATCH_TYPES, *(() if info in custom else (_SMP,)), _APPLY)
    verbs = set(info.verbs)
    needed = [kind_name]

    def add(path: str, method: str, verb: str, rest: str, description: str, action: str, params: list[Schema],
            responses: Schema, consumes: tuple[str, ...] = _ANY, produces: tuple[str, ...] = _JSON_ONLY,
            op_gvk: dict[str, str] | None = gvk) -> None:
        paths.add(path, method, verb=verb, group=group, version=version, rest=rest, description=description,
                  action=action, gvk=op_gvk, params=params, responses=responses, consumes=consumes,
                  produces=produces)

    write = [_query("dryRun"), _query("fieldManager"), _query("fieldValidation")]
    if "list" in verbs:
        list_ref = {"$ref": _DEFS + list_name} if list_name else {"type": "object"}
        if list_name:
            needed.append(list_name)
        listing = [_query(p) for p in openapi._LIST]
        add(collection, "get", "list", f"{ns}{kind}", f"list or watch objects of kind {kind}", "list",
            [*ns_params, *listing], _responses(list_ref), produces=_STREAMS)
        if info.namespaced:
            add(f"{base}/{info.plural}", "get", "list", f"{kind}ForAllNamespaces",
                f"list or watch objects of kind {kind}", "list", list(listing), _responses(list_ref),
                produces=_STREAMS)
    if "create" in verbs:
        add(collection, "post", "create", f"{ns}{kind}", f"create {_article(kind)} {kind}", "post",
            [*ns_params, _body(kind_name), *write], _responses(kind_ref, "201", "202"))
    if "deletecollection" in verbs:
        add(collection, "delete", "delete", f"Collection{ns}{kind}", f"delete collection of {kind}",
            "deletecollection", [*ns_params, _body(f"{_META}DeleteOptions", required=False),
                                 *(_query(p) for p in openapi._DELETECOLLECTION)], _responses(status_ref))
    if "get" in verbs:
        add(item, "get", "read", f"{ns}{kind}", f"read the specified {kind}", "get", list(item_params),
            _responses(kind_ref))
    if "update" in verbs:
        add(item, "put", "replace", f"{ns}{kind}", f"replace the specified {kind}", "put",
            [*item_params, _body(kind_name), *write], _responses(kind_ref, "201"))
    if "patch" in verbs:
        add(item, "patch", "patch", f"{ns}{kind}", f"partially update the specified {kind}", "patch",
            [*item_params, _body(f"{_META}Patch"), *write, _query("force")], _responses(kind_ref, "201"),
            consumes=patch_types)
    if "delete" in verbs:
        add(item, "delete", "delete", f"{ns}{kind}", f"delete {_article(kind)} {kind}", "delete",
            [*item_params, _body(f"{_META}DeleteOptions", required=False),
             *(_query(p) for p in openapi._DELETE)], _responses(status_ref, "202"))
    if "watch" in verbs:
        watching = [_query(p) for p in openapi._LIST]
        event = _responses({"$ref": f"{_DEFS}{_META}WatchEvent"})
        wprefix = f"{base}/watch/namespaces/{{namespace}}" if info.namespaced else f"{base}/watch"
        add(f"{wprefix}/{info.plural}", "get", "watch", f"{ns}{kind}List",
            f"watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list "
            "operation instead.", "watchlist", [*ns_params, *watching], event, produces=_STREAMS)
        add(f"{wprefix}/{info.plural}/{{name}}", "get", "watch", f"{ns}{kind}",
            f"watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list "
            "operation instead, filtered to a single item with the 'fieldSelector' parameter.", "watch",
            [*item_params, *watching], event, produces=_STREAMS)
        if info.namespaced:
            add(f"{base}/watch/{info.plural}", "get", "watch", f"{kind}ListForAllNamespaces",
                f"watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list "
                "operation instead.", "watchlist", list(watching), event, produces=_STREAMS)
    for sub in info.subresources:
        facts = discovery.subresource_facts(info, sub)
        sub_gvk = openapi._gvk(facts.group, facts.version, facts.kind)
        title = f"{ns}{kind}{sub[:1].upper()}{sub[1:]}"
        path = f"{item}/{sub}"
        params = [_path_param("name", facts.kind if sub != "log" else kind), *ns_params]
        if sub == "log":
            add(path, "get", "read", title, f"read log of the specified {kind}", "get",
                [*params, *(_typed_query(p) for p in openapi._CONNECT_PARAMS["log"])],
                _responses({"type": "string"}), produces=("text/plain",), op_gvk=sub_gvk)
            continue
        if facts.connect:
            targets = [(path, params, "")]
            if sub == "proxy":
                targets.append((f"{path}/{{path}}", [*params, _path_param("path", kind)], "WithPath"))
            methods = ("get", "post") if sub != "proxy" else ("delete", "get", "head", "options", "patch", "post",
                                                              "put")
            for where, where_params, suffix in targets:
                for method in methods:
                    add(where, method, "connect", f"{method.capitalize()}{title}{suffix}",
                        f"connect {method.upper()} requests to {sub} of {kind}", "connect",
                        [*where_params, *(_typed_query(p) for p in openapi._CONNECT_PARAMS.get(sub, ()))],
                        _responses({"type": "string"}), produces=_ANY, op_gvk=sub_gvk)
            continue
        if (facts.kind, facts.group, facts.version) == (kind, group, version):
            name = kind_name
        else:
            name = openapi.definition_for(facts.group, facts.version, facts.kind) or ""
        ref = {"$ref": _DEFS + name} if name else {"type": "object"}
        if name:
            needed.append(name)
        body = [_body(name)] if name else []
        sub_verbs = set(facts.verbs)
        if "get" in sub_verbs:
            add(path, "get", "read", title, f"read {sub} of the specified {kind}", "get", list(params),
                _responses(ref), op_gvk=sub_gvk)
        if "update" in sub_verbs:
            add(path, "put", "replace", title, f"replace {sub} of the specified {kind}", "put",
                [*params, *body, *write], _responses(ref, "201"), op_gvk=sub_gvk)
        if "patch" in sub_verbs:
            add(path, "patch", "patch", title, f"partially update {sub} of the specified {kind}", "patch",
                [*params, _body(f"{_META}Patch"), *write, _query("force")], _responses(ref, "201"),
                consumes=patch_types, op_gvk=sub_gvk)
        if "create" in sub_verbs:
            add(path, "post", "create", title, f"create {sub} of {_article(kind)} {kind}", "post",
                [*params, *body, *write], _responses(ref, "201", "202"), op_gvk=sub_gvk)
    return needed


def _fnv1_64(data: bytes) -> bytes:
    """FNV-1 (not 1a) 64-bit, big-endian: Go's ``hash/fnv.New64``."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        h ^= byte
    return h.to_bytes(8, "big")


def _share_parameters(paths: dict[str, Schema]) -> dict[str, Schema]:
    """Move parameters to the document's ``parameters`` and refer to them, named
    ``<name>-<8 characters of hash>`` as kube-openapi's deduplicateParameters does. Kept
    inline: ``name`` (its description names the kind), ``fieldValidation`` and ``dryRun``
    (kubectl's v2 check looks for them in the PATCH operation itself) and bodies of a
    kind's own schema. Mutates ``paths``."""
    shared: dict[bytes, Schema] = {}

    def keep_inline(p: Schema) -> bool:
        if p["name"] == "name" and p["in"] in ("query", "path"):
            return True
        if p["in"] == "query" and p["name"] in ("fieldValidation", "dryRun"):
            return True
        return p["in"] == "body" and not p["schema"].get("$ref", "").startswith(f"{_DEFS}io.k8s.apimachinery")

    lists: list[list[Schema]] = []
    for item in paths.values():
        lists.extend(entry if key == "parameters" else entry.get("parameters", []) for key, entry in item.items())
    for params in lists:
        for p in params:
            if not keep_inline(p):
                shared.setdefault(orjson.dumps(p, option=orjson.OPT_SORT_KEYS), p)
    names: dict[bytes, str] = {}
    out: dict[str, Schema] = {}
    for key in sorted(shared):
        p = shared[key]
        name = f"{p['name']}-{base64.urlsafe_b64encode(_fnv1_64(key)[:6]).decode()}"
        i = 0
        while name in out:
            i += 1
            name = f"{p['name']}-{i}"
        out[name], names[key] = p, name
    for params in lists:
        for i, p in enumerate(params):
            if not keep_inline(p):
                params[i] = {"$ref": "#/parameters/" + names[orjson.dumps(p, option=orjson.OPT_SORT_KEYS)]}
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------- the document


def build(infos: Iterable[schememod.ResourceInfo], extra_schemas: ExtraSchemas | None = None) -> dict[str, Any]:
    """The Swagger 2.0 document of the served resources ``infos`` (``discovery.served``)."""
    infos = list(infos)
    schemas = extra_schemas or {}
    custom = {i for i in infos if i in schemas or openapi.definition_for(i.group, i.version, i.kind) is None}
    paths = _Paths()
    roots: list[str] = [*openapi._ALWAYS, *_DISCOVERY]
    definitions: dict[str, Schema] = {}
    paths.plain("/api/", "getCoreAPIVersions", "core", "get available API versions", f"{_META}APIVersions")
    paths.plain("/apis/", "getAPIVersions", "apis", "get available API versions", f"{_META}APIGroupList")
    paths.plain("/version/", "getCodeVersion", "version", "get the code version",
                "io.k8s.apimachinery.pkg.version.Info")
    group_versions: dict[tuple[str, str], None] = {}
    for info in infos:
        group_versions[(info.group, info.version)] = None
        roots.extend(_resource_paths(paths, info, custom))
        if info in custom:
            own = _custom_schemas(info, schemas.get(info))
            definitions.update(own)
            roots.extend(openapi._refs(own, set()))
    for group, version in group_versions:
        ident = openapi._ident(group)
        tag = f"{ident[:1].lower()}{ident[1:]}"
        where = f"/apis/{group}/{version}/" if group else f"/api/{version}/"
        paths.plain(where, f"get{ident}{version[:1].upper()}{version[1:]}APIResources", f"{tag}_{version}",
                    "get available resources", f"{_META}APIResourceList")
        if group:
            paths.plain(f"/apis/{group}/", f"get{ident}APIGroup", tag, "get information of a group",
                        f"{_META}APIGroup")
    for name in openapi._reachable(roots):
        definitions.setdefault(name, _definition(name))
    shaped = paths.finish()
    parameters = _share_parameters(shaped)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": discovery.GIT_VERSION},
        "paths": dict(sorted(shaped.items())),
        "definitions": dict(sorted(definitions.items())),
        "parameters": parameters,
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "in": "header",
                                                "name": "authorization", "type": "apiKey"}},
        "security": [{"BearerToken": []}],
    }


def _fingerprint(infos: list[schememod.ResourceInfo], extra_schemas: ExtraSchemas) -> Hashable:
    crd = tuple(
        (info, hashlib.sha1(orjson.dumps(extra_schemas[info], option=orjson.OPT_SORT_KEYS)).hexdigest())
        for info in infos if info in extra_schemas)
    return (tuple(infos), crd)


@dataclass
class Rendered:
    """The document of one set of served resources, in the forms asked for so far."""

    json: bytes
    etag: str  # upstream's: uppercase hex SHA-512 of the JSON body, for both forms
    modified: float
    _forms: dict[tuple[str, bool], bytes] = field(default_factory=dict)

    def body(self, fmt: str, gzipped: bool) -> bytes:
        """``fmt`` "json" or "protobuf"; made on first demand (call from a worker thread)."""
        key = (fmt, gzipped)
        hit = self._forms.get(key)
        if hit is not None:
            return hit
        if gzipped:
            out = gzip.compress(self.body(fmt, False), compresslevel=6, mtime=0)
        elif fmt == "json":
            out = self.json
        else:
            out = encode_document(orjson.loads(self.json))
        self._forms[key] = out
        return out


class Documents:
    """The served v2 document, cached for the last set of served resources."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: tuple[Hashable, Rendered] | None = None

    def rendered(self, infos: list[schememod.ResourceInfo], extra_schemas: ExtraSchemas | None = None) -> Rendered:
        schemas = extra_schemas or {}
        fingerprint = _fingerprint(infos, schemas)
        with self._lock:
            if self._cache is not None and self._cache[0] == fingerprint:
                return self._cache[1]
            body = orjson.dumps(build(infos, schemas), option=orjson.OPT_SORT_KEYS)
            rendered = Rendered(json=body, etag=hashlib.sha512(body).hexdigest().upper(), modified=time.time())
            self._cache = (fingerprint, rendered)
            return rendered

    def body(self, infos: list[schememod.ResourceInfo], extra_schemas: ExtraSchemas | None, fmt: str,
             gzipped: bool) -> tuple[Rendered, bytes]:
        rendered = self.rendered(infos, extra_schemas)
        with self._lock:  # one thread makes a form; the others wait for it
            return rendered, rendered.body(fmt, gzipped)


_DEFAULT = Documents()


def document(the_scheme: schememod.Scheme, *, extra: Iterable[schememod.ResourceInfo] = (),
             extra_schemas: ExtraSchemas | None = None) -> dict[str, Any]:
    """The v2 document as a fresh dict (shared cache; for tests and tools)."""
    doc: dict[str, Any] = orjson.loads(_DEFAULT.rendered(discovery.served(the_scheme, extra), extra_schemas).json)
    return doc


# ---------------------------------------------------------------------------- HTTP


def negotiate(accept: str) -> str | None:
    """"json", "protobuf" or None (406) for an ``Accept`` header, as kube-openapi's handler:
    ranges by preference (``q``, then specificity, then order), the first one that JSON or
    the protobuf form fits wins; no header means JSON."""
    clauses: list[tuple[float, int, int, str, str]] = []
    for index, raw in enumerate((accept or "*/*").split(",")):
        media, *params = (part.strip() for part in raw.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        type_, _, subtype = media.lower().partition("/")
        specificity = (type_ != "*") + (subtype not in ("*", ""))
        clauses.append((-q, -specificity, index, type_, subtype or "*"))
    for _, _, _, type_, subtype in sorted(clauses):
        if type_ not in ("application", "*"):
            continue
        if subtype in ("json", "*"):
            return "json"
        if subtype in (MIME_PROTOBUF_DEPRECATED[len("application/"):], MIME_PROTOBUF[len("application/"):]):
            return "protobuf"
    return None


def _accepts_gzip(header: str) -> bool:
    for raw in header.split(","):
        coding, *params = (part.strip() for part in raw.split(";"))
        if coding.lower() in ("gzip", "*"):
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
    return False


def _not_modified(headers: Mapping[str, str], rendered: Rendered) -> bool:
    """Go's ``http.ServeContent`` rules: If-None-Match decides when present, else If-Modified-Since."""
    match = headers.get("If-None-Match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or f'"{rendered.etag}"' in tags
    since = headers.get("If-Modified-Since")
    if since:
        try:
            when = email.utils.parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return int(rendered.modified) <= when
    return False


async def serve(request: Any, the_scheme: schememod.Scheme, *, extra: Iterable[schememod.ResourceInfo] = (),
                extra_schemas: ExtraSchemas | None = None) -> web.Response:
    """``GET /openapi/v2``: the document in the form ``Accept`` asks for (406 if none fits)."""
    headers = request.headers
    fmt = negotiate(headers.get("Accept", ""))
    if fmt is None:
        raise errors.NotAcceptable("only application/json and application/com.github.proto-openapi.spec.v2"
                                   ".v1.0+protobuf are served here")
    infos = discovery.served(the_scheme, extra)  # a snapshot, on the loop: CRDs change the scheme
    gzipped = _accepts_gzip(headers.get("Accept-Encoding", ""))
    # A build takes ~0.5 s and its protobuf or gzip form more: never on the loop.
    rendered, body = await asyncio.to_thread(_DEFAULT.body, infos, extra_schemas, fmt, gzipped)
    out = {"Etag": f'"{rendered.etag}"', "Vary": "Accept, Accept-Encoding",
           "Last-Modified": email.utils.formatdate(rendered.modified, usegmt=True)}
    if _not_modified(headers, rendered):
        return web.Response(status=304, headers=out)
    out["Content-Type"] = MIME_JSON if fmt == "json" else MIME_PROTOBUF
    if gzipped:
        out["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=out)


# ---------------------------------------------------------------------------- protobuf
#
# Field kinds: "s" string, "b" bool, "d" double, "i" int64, "S" repeated string, "a" Any,
# "A" repeated Any, a message name, "*Name" repeated message. ``_EXT`` is the field number of
# a message's ``repeated NamedAny vendor_extension`` (keys beginning "x-").

_Spec = tuple[dict[str, tuple[int, str]], int]

_PRIMITIVE_COMMON = {"type": "s", "format": "s", "collectionFormat": "s", "default": "a", "maximum": "d",
                     "exclusiveMaximum": "b", "minimum": "d", "exclusiveMinimum": "b", "maxLength": "i",
                     "minLength": "i", "pattern": "s", "maxItems": "i", "minItems": "i", "uniqueItems": "b",
                     "enum": "A", "multipleOf": "d"}


def _numbered(names: Iterable[str], kinds: Mapping[str, str], start: int = 1) -> dict[str, tuple[int, str]]:
    return {name: (number, kinds[name]) for number, name in enumerate(names, start)}


_PRIM_ORDER = ("type", "format", "items", "collectionFormat", "default", "maximum", "exclusiveMaximum", "minimum",
               "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "enum",
               "multipleOf")
_PRIM_KINDS = {**_PRIMITIVE_COMMON, "items": "PrimitivesItems", "required": "b", "in": "s", "description": "s",
               "name": "s", "allowEmptyValue": "b"}
# Query and form-data sub-schemas: required, in, description, name, allowEmptyValue, then the
# primitive fields; header and path ones lack allowEmptyValue.
_QUERY_FIELDS = _numbered(("required", "in", "description", "name", "allowEmptyValue", *_PRIM_ORDER), _PRIM_KINDS)
_PATH_FIELDS = _numbered(("required", "in", "description", "name", *_PRIM_ORDER), _PRIM_KINDS)
_OAUTH = {"type": "s", "flow": "s", "scopes": "Oauth2Scopes", "authorizationUrl": "s", "tokenUrl": "s",
          "description": "s"}

_SPECS: dict[str, _Spec] = {
    "Document": ({"swagger": (1, "s"), "info": (2, "Info"), "host": (3, "s"), "basePath": (4, "s"),
                  "schemes": (5, "S"), "consumes": (6, "S"), "produces": (7, "S"), "paths": (8, "Paths"),
                  "definitions": (9, "Definitions"), "parameters": (10, "ParameterDefinitions"),
                  "responses": (11, "ResponseDefinitions"), "security": (12, "*SecurityRequirement"),
                  "securityDefinitions": (13, "SecurityDefinitions"), "tags": (14, "*Tag"),
                  "externalDocs": (15, "ExternalDocs")}, 16),
    "Info": ({"title": (1, "s"), "version": (2, "s"), "description": (3, "s"), "termsOfService": (4, "s"),
              "contact": (5, "Contact"), "license": (6, "License")}, 7),
    "Contact": ({"name": (1, "s"), "url": (2, "s"), "email": (3, "s")}, 4),
    "License": ({"name": (1, "s"), "url": (2, "s")}, 3),
    "ExternalDocs": ({"description": (1, "s"), "url": (2, "s")}, 3),
    "Tag": ({"name": (1, "s"), "description": (2, "s"), "externalDocs": (3, "ExternalDocs")}, 4),
    "PathItem": ({"$ref": (1, "s"), "get": (2, "Operation"), "put": (3, "Operation"), "post": (4, "Operation"),
                  "delete": (5, "Operation"), "options": (6, "Operation"), "head": (7, "Operation"),
                  "patch": (8, "Operation"), "parameters": (9, "*ParametersItem")}, 10),
    "Operation": ({"tags": (1, "S"), "summary": (2, "s"), "description": (3, "s"),
                   "externalDocs": (4, "ExternalDocs"), "operationId": (5, "s"), "produces": (6, "S"),
                   "consumes": (7, "S"), "parameters": (8, "*ParametersItem"), "responses": (9, "Responses"),
                   "schemes": (10, "S"), "deprecated": (11, "b"), "security": (12, "*SecurityRequirement")}, 13),
    "BodyParameter": ({"description": (1, "s"), "name": (2, "s"), "in": (3, "s"), "required": (4, "b"),
                       "schema": (5, "Schema")}, 6),
    "QueryParameterSubSchema": (_QUERY_FIELDS, 23),
    "FormDataParameterSubSchema": (_QUERY_FIELDS, 23),
    "HeaderParameterSubSchema": (_PATH_FIELDS, 22),
    "PathParameterSubSchema": (_PATH_FIELDS, 22),
    "PrimitivesItems": (_numbered(_PRIM_ORDER, _PRIM_KINDS), 18),
    "Header": ({**_numbered(_PRIM_ORDER, _PRIM_KINDS), "description": (18, "s")}, 19),
    "Response": ({"description": (1, "s"), "schema": (2, "SchemaItem"), "headers": (3, "Headers"),
                  "examples": (4, "Examples")}, 5),
    "Schema": ({"$ref": (1, "s"), "format": (2, "s"), "title": (3, "s"), "description": (4, "s"),
                "default": (5, "a"), "multipleOf": (6, "d"), "maximum": (7, "d"), "exclusiveMaximum": (8, "b"),
                "minimum": (9, "d"), "exclusiveMinimum": (10, "b"), "maxLength": (11, "i"), "minLength": (12, "i"),
                "pattern": (13, "s"), "maxItems": (14, "i"), "minItems": (15, "i"), "uniqueItems": (16, "b"),
                "maxProperties": (17, "i"), "minProperties": (18, "i"), "required": (19, "S"), "enum": (20, "A"),
                "additionalProperties": (21, "AdditionalPropertiesItem"), "type": (22, "TypeItem"),
                "items": (23, "ItemsItem"), "allOf": (24, "*Schema"), "properties": (25, "Properties"),
                "discriminator": (26, "s"), "readOnly": (27, "b"), "xml": (28, "Xml"),
                "externalDocs": (29, "ExternalDocs"), "example": (30, "a")}, 31),
    "FileSchema": ({"format": (1, "s"), "title": (2, "s"), "description": (3, "s"), "default": (4, "a"),
                    "required": (5, "S"), "type": (6, "s"), "readOnly": (7, "b"), "externalDocs": (8, "ExternalDocs"),
                    "example": (9, "a")}, 10),
    "Xml": ({"name": (1, "s"), "namespace": (2, "s"), "prefix": (3, "s"), "attribute": (4, "b"),
             "wrapped": (5, "b")}, 6),
    "JsonReference": ({"$ref": (1, "s"), "description": (2, "s")}, 0),
    "ApiKeySecurity": ({"type": (1, "s"), "name": (2, "s"), "in": (3, "s"), "description": (4, "s")}, 5),
    "BasicAuthenticationSecurity": ({"type": (1, "s"), "description": (2, "s")}, 3),
    "Oauth2ImplicitSecurity": (_numbered(("type", "flow", "scopes", "authorizationUrl", "description"), _OAUTH), 6),
    "Oauth2PasswordSecurity": (_numbered(("type", "flow", "scopes", "tokenUrl", "description"), _OAUTH), 6),
    "Oauth2ApplicationSecurity": (_numbered(("type", "flow", "scopes", "tokenUrl", "description"), _OAUTH), 6),
    "Oauth2AccessCodeSecurity": (_numbered(("type", "flow", "scopes", "authorizationUrl", "tokenUrl", "description"),
                                           _OAUTH), 7),
}

_TAGS: dict[tuple[int, int], bytes] = {}


def _tag(number: int, wire_type: int) -> bytes:
    key = (number, wire_type)
    hit = _TAGS.get(key)
    if hit is None:
        hit = _TAGS[key] = wire.varint(number << 3 | wire_type)
    return hit


def _len(number: int, payload: bytes) -> bytes:
    return b"".join((_tag(number, wire.LEN), wire.varint(len(payload)), payload))


def _string(number: int, value: str) -> bytes:
    return _len(number, value.encode())


_YAML_MEMO: dict[str, bytes] = {}


def _any(value: Any) -> bytes:
    """An ``Any`` message: ``yaml`` (field 2) holds the value. JSON with spaces after ``:``
    and ``,`` is YAML flow style that YAML 1.1 readers (go-yaml v2, kubectl's) accept too."""
    if isinstance(value, str):
        hit = _YAML_MEMO.get(value)
        if hit is None:
            hit = _string(2, json.dumps(value, ensure_ascii=False) + "\n")
            if len(_YAML_MEMO) < 4096:
                _YAML_MEMO[value] = hit
        return hit
    return _string(2, json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n")


def _named(name: str, value_field: bytes) -> bytes:
    """A ``Named…`` message: ``name`` (1) and its value (2, already encoded as a field)."""
    return _string(1, name) + value_field if name else value_field


def _named_map(value_kind: str) -> Callable[[Any], bytes]:
    """Encoder of a map message (``Definitions``, ``Properties``…): repeated Named… at field 1."""
    def encode(value: Any) -> bytes:
        if not isinstance(value, dict):
            return b""
        return b"".join(_len(1, _named(name, _field(2, value_kind, sub))) for name, sub in sorted(value.items())
                        if sub is not None)
    return encode


def _extensions(number: int, items: list[tuple[str, Any]]) -> bytes:
    return b"".join(_len(number, _named(name, _len(2, _any(value)))) for name, value in sorted(items)
                    if value is not None)


def _paths(value: Any) -> bytes:
    exts = [(k, v) for k, v in value.items() if k.startswith("x-")]
    items = b"".join(_len(2, _named(path, _len(2, _encode("PathItem", item))))
                     for path, item in sorted(value.items()) if not path.startswith("x-") and isinstance(item, dict))
    return _extensions(1, exts) + items


def _responses_msg(value: Any) -> bytes:
    exts = [(k, v) for k, v in value.items() if k.startswith("x-")]
    codes = b"".join(_len(1, _named(code, _len(2, _reference_or(2, "Response", 1, response))))
                     for code, response in sorted(value.items())
                     if not code.startswith("x-") and isinstance(response, dict))
    return codes + _extensions(2, exts)


def _reference_or(ref_field: int, msg: str, msg_field: int, value: Schema) -> bytes:
    """A oneof of ``JsonReference`` and a message (``ResponseValue``, ``ParametersItem``)."""
    if isinstance(value.get("$ref"), str):
        return _len(ref_field, _encode("JsonReference", value))
    return _len(msg_field, _encode(msg, value))


_NON_BODY = {"header": (1, "HeaderParameterSubSchema"), "formData": (2, "FormDataParameterSubSchema"),
             "query": (3, "QueryParameterSubSchema"), "path": (4, "PathParameterSubSchema")}


def _parameter(value: Any) -> bytes:
    if value.get("in") == "body":
        return _len(1, _encode("BodyParameter", value))
    number, msg = _NON_BODY.get(value.get("in", ""), (3, "QueryParameterSubSchema"))
    return _len(2, _len(number, _encode(msg, value)))


_SECURITY = {"basic": (1, "BasicAuthenticationSecurity"), "apiKey": (2, "ApiKeySecurity")}
_OAUTH_FLOWS = {"implicit": (3, "Oauth2ImplicitSecurity"), "password": (4, "Oauth2PasswordSecurity"),
                "application": (5, "Oauth2ApplicationSecurity"), "accessCode": (6, "Oauth2AccessCodeSecurity")}


def _security_item(value: Any) -> bytes:
    found = _SECURITY.get(value.get("type", "")) or _OAUTH_FLOWS.get(value.get("flow", ""))
    if found is None:
        return b""
    return _len(found[0], _encode(found[1], value))


def _strings(number: int, value: Any) -> bytes:
    if isinstance(value, str):
        value = [value]
    return b"".join(_string(number, s) for s in value or () if isinstance(s, str))


_SPECIAL: dict[str, Callable[[Any], bytes]] = {
    "Paths": _paths,
    "Responses": _responses_msg,
    "Definitions": _named_map("Schema"),
    "Properties": _named_map("Schema"),
    "ParameterDefinitions": _named_map("Parameter"),
    "ResponseDefinitions": _named_map("Response"),
    "SecurityDefinitions": _named_map("SecurityDefinitionsItem"),
    "Headers": _named_map("Header"),
    "Examples": _named_map("a"),
    "Oauth2Scopes": _named_map("s"),
    "SecurityRequirement": _named_map("StringArray"),
    "StringArray": lambda value: _strings(1, value),
    "TypeItem": lambda value: _strings(1, value),
    "ItemsItem": lambda value: b"".join(_len(1, _encode("Schema", s))
                                        for s in (value if isinstance(value, list) else [value])
                                        if isinstance(s, dict)),
    "ParametersItem": lambda value: _reference_or(2, "Parameter", 1, value),
    "Parameter": _parameter,
    # the oneof's case is written even when its value is the default (false)
    "AdditionalPropertiesItem": lambda value: (_tag(2, wire.VARINT) + (b"\x01" if value else b"\x00")
                                               if isinstance(value, bool) else _len(1, _encode("Schema", value))),
    "SchemaItem": lambda value: (_len(2, _encode("FileSchema", value)) if value.get("type") == "file"
                                 else _len(1, _encode("Schema", value))),
    "SecurityDefinitionsItem": _security_item,
}


def _field(number: int, kind: str, value: Any) -> bytes:
    """One field of ``kind`` (see the table's legend); b"" when proto3 would not write it."""
    if value is None:
        return b""
    if kind == "s":
        return _string(number, value) if isinstance(value, str) and value else b""
    if kind == "b":
        return _tag(number, wire.VARINT) + b"\x01" if value is True else b""
    if kind == "d":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value == 0:
            return b""
        return _tag(number, wire.FIXED64) + struct.pack("<d", float(value))
    if kind == "i":
        if isinstance(value, bool) or not isinstance(value, int) or value == 0:
            return b""
        return _tag(number, wire.VARINT) + wire.varint(value & 0xFFFFFFFFFFFFFFFF)
    if kind == "S":
        return _strings(number, value)
    if kind == "a":
        return _len(number, _any(value))
    if kind == "A":
        return b"".join(_len(number, _any(v)) for v in (value if isinstance(value, list) else [value]))
    if kind[0] == "*":
        return b"".join(_len(number, _encode(kind[1:], v)) for v in (value if isinstance(value, list) else [value])
                        if v is not None)
    return _len(number, _encode(kind, value))


def _encode(msg: str, value: Any) -> bytes:
    """The payload of message ``msg`` from its JSON value."""
    special = _SPECIAL.get(msg)
    if special is not None:
        return special(value)
    if not isinstance(value, dict):
        return b""
    fields, ext = _SPECS[msg]
    parts: list[tuple[int, bytes]] = []
    exts: list[tuple[str, Any]] = []
    for key, sub in value.items():
        spec = fields.get(key)
        if spec is None:
            if ext and key.startswith("x-"):
                exts.append((key, sub))
            continue  # gnostic refuses unknown keys; nothing here writes any
        encoded = _field(spec[0], spec[1], sub)
        if encoded:
            parts.append((spec[0], encoded))
    if exts:
        parts.append((ext, _extensions(ext, exts)))
    parts.sort(key=lambda part: part[0])  # field order, as Go's proto.Marshal
    return b"".join(part[1] for part in parts)


def encode_document(doc: Mapping[str, Any]) -> bytes:
    """A Swagger 2.0 JSON document as a serialized gnostic ``openapi.v2.Document``."""
    return _encode("Document", dict(doc))


def _selfcheck_keys() -> None:  # pragma: no cover - a guard for whoever edits the tables
    for name, (fields, _) in _SPECS.items():
        numbers = [n for n, _ in fields.values()]
        assert len(numbers) == len(set(numbers)), name


_selfcheck_keys()
del _selfcheck_keys
