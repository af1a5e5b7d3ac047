"""OpenAPI v3 documents: ``GET /openapi/v3`` (the index) and ``/openapi/v3/{path}``.

kubectl reads these for three things (see shared/reference/k8s-api-compat.md §2):

- ``--validate=strict`` (apply, create, replace): it looks for a PATCH operation tagged
  with the object's ``x-kubernetes-group-version-kind`` and checks that it lists the
  ``fieldValidation`` query parameter. Map order in Go is random, so *every* PATCH
  operation of a kind carries it.
- ``kubectl explain``: it finds the kind on a resource path, then the schema in
  ``components.schemas`` tagged with that GVK, and follows ``$ref`` inside the document.
- apply's patch type: the PATCH ``requestBody`` deliberately omits
  ``application/strategic-merge-patch+json``, so kubectl computes strategic merge patches
  from its compiled-in types (right for built-ins) and JSON merge patches for CRDs.

Schemas come from the upstream Kubernetes 1.37 definitions shipped with
``kubernetes-validate`` (JSON Schema 2020 flavour, loaded by ``kubelite.api.schema``),
converted to OpenAPI 3.0. Custom
resources bring their own schema through ``extra_schemas``.

``/openapi/v2`` (kubectl's client-side validation of ``kind: List`` files) is built from
the same definitions by ``kubelite.apiserver.openapi_v2``, which borrows this module's
helpers. The HTTP layer calls ``Documents.rendered`` (or the module
functions, which share one cache); a cache miss builds a document in ~0.1 s, so call it
from a worker thread.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import threading
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kubelite.api import schema
from kubelite.api import scheme as schememod
from kubelite.apiserver import discovery

Schema = dict[str, Any]
ExtraSchemas = Mapping[schememod.ResourceInfo, Schema]

_DEFS_PREFIX = "#/$defs/"
_REF_PREFIX = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_ALWAYS = (f"{_META}DeleteOptions", f"{_META}Status", f"{_META}WatchEvent", f"{_META}Patch",
           f"{_META}APIResourceList")

# ---------------------------------------------------------------------------- definitions


def definitions() -> dict[str, Schema]:
    """The raw upstream ``$defs`` (``io.k8s.api.core.v1.Pod`` → schema), shared: never mutate."""
    return schema.definitions()


def definition_for(group: str, version: str, kind: str) -> str | None:
    """The upstream definition name for a GVK, e.g. ("apps","v1","Deployment")."""
    return schema.definition_for(group, version, kind)


def _refs(node: Any, out: set[str]) -> set[str]:
    """Every definition name ``node`` refers to (either ref flavour)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out.add(value.rpartition("/")[2])
            else:
                _refs(value, out)
    elif isinstance(node, list):
        for item in node:
            _refs(item, out)
    return out


@functools.cache
def _direct_refs(name: str) -> frozenset[str]:
    return frozenset(_refs(definitions().get(name, {}), set()))


def _reachable(roots: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    stack = [r for r in roots if r in definitions()]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(r for r in _direct_refs(name) if r not in seen and r in definitions())
    return sorted(seen)


# ---------------------------------------------------------------------------- conversion


def _convert(node: Any) -> Any:
    """One JSON-Schema-2020 schema → OpenAPI 3.0.

    - ``type: [T, "null"]`` → ``type: T``: kubernetes-validate adds "null" to mark optional
      fields; upstream's own v3 documents say nothing (no ``nullable``) and explain prints
      ``.type`` as a string.
    - ``$ref`` into ``$defs`` → ``#/components/schemas``; a ``$ref`` with siblings
      (a description) becomes ``allOf: [{$ref}]`` because OpenAPI 3.0 ignores siblings of
      ``$ref`` — the shape upstream uses and kubectl explain understands.
    """
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _REF_PREFIX + value.removeprefix(_DEFS_PREFIX) if value.startswith(_DEFS_PREFIX) else value
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) == 1:
                out[key] = types[0]
            elif types:
                out[key] = types
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            # keys here are field names, not keywords
            out[key] = {field: _convert(sub) for field, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = _convert(value)
        else:
            out[key] = value
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


@functools.cache
def _converted(name: str) -> Schema:
    out: Schema = _convert(definitions()[name])
    if "x-kubernetes-group-version-kind" in out:
        # kubernetes-validate pins apiVersion/kind with a one-value enum; upstream doesn't,
        # and explain would print it as "ENUM: v1".
        props = out.get("properties", {})
        for field in ("apiVersion", "kind"):
            if isinstance(props.get(field), dict) and "enum" in props[field]:
                props[field] = {k: v for k, v in props[field].items() if k != "enum"}
    if name == "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
        out = {**out, "format": "int-or-string"}
    return out


# ---------------------------------------------------------------------------- custom kinds


def _custom_name(info: schememod.ResourceInfo, kind: str) -> str:
    """Upstream's component name for a CRD kind: reversed group, version, kind."""
    reversed_group = ".".join(reversed(info.group.split("."))) if info.group else "core"
    return f"{reversed_group}.{info.version}.{kind}"


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


def _custom_schemas(info: schememod.ResourceInfo, given: Schema | None) -> dict[str, Schema]:
    """Object and list schemas for a kind with no upstream definition (a CRD version)."""
    body: Schema = copy.deepcopy(given) if given else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    body.setdefault("type", "object")
    props = body.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string", "description": "APIVersion defines the versioned "
                                    "schema of this representation of an object."})
    props.setdefault("kind", {"type": "string", "description": "Kind is a string value representing "
                              "the REST resource this object represents."})
    # the server owns metadata's shape whatever the CRD says
    props["metadata"] = {"allOf": [{"$ref": f"{_REF_PREFIX}{_META}ObjectMeta"}],
                         "description": "Standard object's metadata."}
    body["x-kubernetes-group-version-kind"] = [_gvk(info.group, info.version, info.kind)]
    item_name = _custom_name(info, info.kind)
    listing: Schema = {
        "description": f"{info.list_kind} is a list of {info.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": _REF_PREFIX + item_name}},
            "metadata": {"allOf": [{"$ref": f"{_REF_PREFIX}{_META}ListMeta"}], "default": {}},
        },
        "x-kubernetes-group-version-kind": [_gvk(info.group, info.version, info.list_kind)],
    }
    return {item_name: body, _custom_name(info, info.list_kind): listing}


# ---------------------------------------------------------------------------- operations


def _q(name: str, description: str, type_: str = "string") -> Schema:
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": type_, "uniqueItems": True}}


_P = {
    "pretty": _q("pretty", "If 'true', the output is pretty printed."),
    "dryRun": _q("dryRun", "When present, modifications are not persisted. Valid value: All."),
    "fieldManager": _q("fieldManager", "Name of the actor making these changes, recorded in managedFields."),
    "fieldValidation": _q("fieldValidation", "How to treat unknown or duplicate fields in the request "
                          "body: Ignore, Warn (default) or Strict."),
    "force": _q("force", "Take ownership of conflicting fields (apply requests only).", "boolean"),
    "allowWatchBookmarks": _q("allowWatchBookmarks", "Ask for BOOKMARK watch events.", "boolean"),
    "continue": _q("continue", "Token from a previous page of this list."),
    "fieldSelector": _q("fieldSelector", "Restrict the objects returned by their fields."),
    "labelSelector": _q("labelSelector", "Restrict the objects returned by their labels."),
    "limit": _q("limit", "Maximum number of objects in one page.", "integer"),
    "resourceVersion": _q("resourceVersion", "Which version of the collection to serve or watch from."),
    "resourceVersionMatch": _q("resourceVersionMatch", "How resourceVersion applies: NotOlderThan or Exact."),
    "sendInitialEvents": _q("sendInitialEvents", "Start a watch with the current state as ADDED events.",
                            "boolean"),
    "timeoutSeconds": _q("timeoutSeconds", "Close the request after this many seconds.", "integer"),
    "watch": _q("watch", "Stream changes instead of listing.", "boolean"),
    "gracePeriodSeconds": _q("gracePeriodSeconds", "Seconds before the object is deleted.", "integer"),
    "orphanDependents": _q("orphanDependents", "Deprecated: use propagationPolicy.", "boolean"),
    "propagationPolicy": _q("propagationPolicy", "Garbage collection of dependents: Orphan, "
                            "Background or Foreground."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": _q(
        "ignoreStoreReadErrorWithClusterBreakingPotential", "Delete an object that cannot be decoded.",
        "boolean"),
}
_LIST = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
         "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
_WRITE = ("dryRun", "fieldManager", "fieldValidation")
_DELETE = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
           "orphanDependents", "propagationPolicy")
_DELETECOLLECTION = ("continue", "dryRun", "fieldSelector", "gracePeriodSeconds",
                     "ignoreStoreReadErrorWithClusterBreakingPotential", "labelSelector", "limit",
                     "orphanDependents", "propagationPolicy", "resourceVersion", "resourceVersionMatch",
                     "sendInitialEvents", "timeoutSeconds")
_CONNECT_PARAMS = {
    "exec": ("command", "container", "stderr", "stdin", "stdout", "tty"),
    "attach": ("container", "stderr", "stdin", "stdout", "tty"),
    "portforward": ("ports",),
    "log": ("container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "previous", "sinceSeconds",
            "sinceTime", "stream", "tailLines", "timestamps"),
}
_CONNECT_TYPES = {"follow": "boolean", "insecureSkipTLSVerifyBackend": "boolean", "limitBytes": "integer",
                  "previous": "boolean", "sinceSeconds": "integer", "tailLines": "integer",
                  "timestamps": "boolean", "stderr": "boolean", "stdin": "boolean", "stdout": "boolean",
                  "tty": "boolean", "ports": "integer"}
# No strategic-merge-patch here on purpose: see the module docstring.
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")


def _params(names: Iterable[str]) -> list[Schema]:
    return [_P[n] for n in names]


def _ref(name: str) -> Schema:
    return {"$ref": _REF_PREFIX + name}


def _ok(body: Schema, *codes: str, mime: str = "application/json") -> Schema:
    out = {code: {"description": {"200": "OK", "201": "Created", "202": "Accepted"}[code],
                  "content": {mime: {"schema": body}}} for code in ("200", *codes)}
    out["401"] = {"description": "Unauthorized"}
    return out


def _ident(group: str) -> str:
    """operationId fragment of a group: "" → Core, rbac.authorization.k8s.io → RbacAuthorization."""
    if not group:
        return "Core"
    parts = group.removesuffix(".k8s.io").replace("-", ".").split(".")
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


class _PathBuilder:
    """Collects ``paths`` for one group version."""

    def __init__(self, group: str, version: str) -> None:
        self.group, self.version = group, version
        self.base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        self.tag = f"{(_ident(group)[:1].lower() + _ident(group)[1:])}_{version}"
        self.paths: dict[str, Schema] = {}

    def op(self, path: str, method: str, *, verb: str, noun: str, action: str, gvk: dict[str, str] | None,
           params: Iterable[str] = (), extra_params: list[Schema] | None = None,
           responses: Schema, body: Schema | None = None, path_params: Iterable[str] = ()) -> None:
        entry = self.paths.setdefault(path, {})
        if "parameters" not in entry:
            entry["parameters"] = [*({"name": p, "in": "path", "required": True,
                                      "description": f"name of the {'path' if p == 'path' else p}",
                                      "schema": {"type": "string", "uniqueItems": True}}
                                     for p in path_params), _P["pretty"]]
        op: Schema = {
            "tags": [self.tag],
            "description": f"{verb} {noun}",
            "operationId": f"{verb}{_ident(self.group)}{self.version[:1].upper()}{self.version[1:]}{noun}",
            "responses": responses,
            "x-kubernetes-action": action,
        }
        if gvk:
            op["x-kubernetes-group-version-kind"] = gvk
        all_params = _params(params) + (extra_params or [])
        if all_params:
            op["parameters"] = all_params
        if body is not None:
            op["requestBody"] = body
        entry[method] = op


def _schema_names(info: schememod.ResourceInfo, custom: set[schememod.ResourceInfo]) -> tuple[str, str | None]:
    """Component names of a kind and its list (a definition or a custom schema)."""
    name = definition_for(info.group, info.version, info.kind)
    if name is None or info in custom:
        return _custom_name(info, info.kind), _custom_name(info, info.list_kind)
    return name, definition_for(info.group, info.version, info.list_kind)


def _resource_paths(pb: _PathBuilder, info: schememod.ResourceInfo, custom: set[schememod.ResourceInfo]) -> list[str]:
    """Add every operation of ``info`` to ``pb``; return the definition names it needs."""
    kind_name, list_name = _schema_names(info, custom)
    gvk = _gvk(info.group, info.version, info.kind)
    ns = "Namespaced" if info.namespaced else ""
    ns_params = ("namespace",) if info.namespaced else ()
    prefix = f"{pb.base}/namespaces/{{namespace}}" if info.namespaced else pb.base
    collection, item = f"{prefix}/{info.plural}", f"{prefix}/{info.plural}/{{name}}"
    verbs = set(info.verbs)
    kind_ref = _ref(kind_name)
    body = {"content": {"*/*": {"schema": kind_ref}}, "required": True}
    status_ref = _ref(f"{_META}Status")
    delete_body = {"content": {"*/*": {"schema": _ref(f"{_META}DeleteOptions")}}}
    patch_body = {"content": {t: {"schema": _ref(f"{_META}Patch")} for t in _PATCH_TYPES}, "required": True}
    needed = [kind_name]
    if "list" in verbs:
        list_ref = _ref(list_name) if list_name else {"type": "object"}
        if list_name:
            needed.append(list_name)
        pb.op(collection, "get", verb="list", noun=f"{ns}{info.kind}", action="list", gvk=gvk, params=_LIST,
              responses=_ok(list_ref), path_params=ns_params)
        if info.namespaced:
            pb.op(f"{pb.base}/{info.plural}", "get", verb="list", noun=f"{info.kind}ForAllNamespaces",
                  action="list", gvk=gvk, params=_LIST, responses=_ok(list_ref))
    if "create" in verbs:
        pb.op(collection, "post", verb="create", noun=f"{ns}{info.kind}", action="post", gvk=gvk,
              params=_WRITE, responses=_ok(kind_ref, "201", "202"), body=body, path_params=ns_params)
    if "deletecollection" in verbs:
        pb.op(collection, "delete", verb="deleteCollection", noun=f"{ns}{info.kind}", action="deletecollection",
              gvk=gvk, params=_DELETECOLLECTION, responses=_ok(status_ref), body=delete_body,
              path_params=ns_params)
    item_params = (*ns_params, "name")
    if "get" in verbs:
        pb.op(item, "get", verb="read", noun=f"{ns}{info.kind}", action="get", gvk=gvk, responses=_ok(kind_ref),
              path_params=item_params)
    if "update" in verbs:
        pb.op(item, "put", verb="replace", noun=f"{ns}{info.kind}", action="put", gvk=gvk, params=_WRITE,
              responses=_ok(kind_ref, "201"), body=body, path_params=item_params)
    if "patch" in verbs:
        pb.op(item, "patch", verb="patch", noun=f"{ns}{info.kind}", action="patch", gvk=gvk,
              params=(*_WRITE, "force"), responses=_ok(kind_ref, "201"), body=patch_body,
              path_params=item_params)
    if "delete" in verbs:
        pb.op(item, "delete", verb="delete", noun=f"{ns}{info.kind}", action="delete", gvk=gvk, params=_DELETE,
              responses=_ok(status_ref, "202"), body=delete_body, path_params=item_params)
    if "watch" in verbs:
        watch_ok = _ok(_ref(f"{_META}WatchEvent"), mime="application/json;stream=watch")
        wprefix = f"{pb.base}/watch/namespaces/{{namespace}}" if info.namespaced else f"{pb.base}/watch"
        pb.op(f"{wprefix}/{info.plural}", "get", verb="watch", noun=f"{ns}{info.kind}List", action="watchlist",
              gvk=gvk, params=_LIST, responses=watch_ok, path_params=ns_params)
        pb.op(f"{wprefix}/{info.plural}/{{name}}", "get", verb="watch", noun=f"{ns}{info.kind}", action="watch",
              gvk=gvk, params=_LIST, responses=watch_ok, path_params=item_params)
        if info.namespaced:
            pb.op(f"{pb.base}/watch/{info.plural}", "get", verb="watch", noun=f"{info.kind}ListForAllNamespaces",
                  action="watchlist", gvk=gvk, params=_LIST, responses=watch_ok)
    for sub in info.subresources:
        needed.extend(_subresource_paths(pb, info, sub, item=item, item_params=item_params, custom=custom))
    return needed


def _subresource_paths(pb: _PathBuilder, info: schememod.ResourceInfo, sub: str, *, item: str,
                       item_params: tuple[str, ...], custom: set[schememod.ResourceInfo]) -> list[str]:
    facts = discovery.subresource_facts(info, sub)
    gvk = _gvk(facts.group, facts.version, facts.kind)
    noun = f"{'Namespaced' if info.namespaced else ''}{info.kind}{sub[:1].upper()}{sub[1:]}"
    path = f"{item}/{sub}"
    if facts.kind == info.kind and (facts.group, facts.version) == (info.group, info.version):
        name = _schema_names(info, custom)[0]
    else:
        name = definition_for(facts.group, facts.version, facts.kind) or ""
    ref = _ref(name) if name else {"type": "object"}
    if sub == "log":
        pb.op(path, "get", verb="read", noun=noun, action="get", gvk=gvk, responses=_ok(
            {"type": "string"}, mime="text/plain"), path_params=item_params,
            extra_params=[_q(p, p, _CONNECT_TYPES.get(p, "string")) for p in _CONNECT_PARAMS["log"]])
        return []
    if facts.connect:
        subpaths = [(path, item_params)]
        if sub == "proxy":
            subpaths.append((f"{path}/{{path}}", (*item_params, "path")))
        methods = ("get", "post") if sub != "proxy" else ("get", "put", "post", "patch", "delete", "head", "options")
        for p, pparams in subpaths:
            for method in methods:
                pb.op(p, method, verb="connect", noun=f"{method.capitalize()}{noun}", action="connect", gvk=gvk,
                      responses=_ok({"type": "string"}, mime="*/*"), path_params=pparams,
                      extra_params=[_q(x, x, _CONNECT_TYPES.get(x, "string")) for x in _CONNECT_PARAMS.get(sub, ())])
        return []
    body = {"content": {"*/*": {"schema": ref}}, "required": True}
    verbs = set(facts.verbs)
    if "get" in verbs:
        pb.op(path, "get", verb="read", noun=noun, action="get", gvk=gvk, responses=_ok(ref), path_params=item_params)
    if "update" in verbs:
        pb.op(path, "put", verb="replace", noun=noun, action="put", gvk=gvk, params=_WRITE,
              responses=_ok(ref, "201"), body=body, path_params=item_params)
    if "patch" in verbs:
        patch_body = {"content": {t: {"schema": _ref(f"{_META}Patch")} for t in _PATCH_TYPES}, "required": True}
        pb.op(path, "patch", verb="patch", noun=noun, action="patch", gvk=gvk, params=(*_WRITE, "force"),
              responses=_ok(ref, "201"), body=patch_body, path_params=item_params)
    if "create" in verbs:
        pb.op(path, "post", verb="create", noun=noun, action="post", gvk=gvk, params=_WRITE,
              responses=_ok(ref, "201", "202"), body=body, path_params=item_params)
    return [name] if name else []


# ---------------------------------------------------------------------------- documents


def _document(paths: dict[str, Schema], schemas: dict[str, Schema]) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": discovery.GIT_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                                                "description": "Bearer Token authentication"}},
        },
        "security": [{"BearerToken": []}],
    }


def _gv_document(infos: list[schememod.ResourceInfo], group: str, version: str,
                 extra_schemas: ExtraSchemas) -> dict[str, Any]:
    pb = _PathBuilder(group, version)
    custom = {i for i in infos if i in extra_schemas or definition_for(i.group, i.version, i.kind) is None}
    pb.op(f"{pb.base}/", "get", verb="get", noun="APIResources", action="get", gvk=None,
          responses=_ok(_ref(f"{_META}APIResourceList")))
    roots: list[str] = list(_ALWAYS)
    schemas: dict[str, Schema] = {}
    for info in infos:
        roots.extend(_resource_paths(pb, info, custom))
        if info in custom:
            own = _custom_schemas(info, extra_schemas.get(info))
            schemas.update(own)
            roots.extend(_refs(own, set()))
    for name in _reachable(roots):
        schemas[name] = _converted(name)
    return _document(pb.paths, dict(sorted(schemas.items())))


def _plain_document(path: str, operation_id: str, definition: str) -> dict[str, Any]:
    paths = {path: {"get": {"tags": [operation_id], "description": f"get {operation_id}",
                            "operationId": operation_id, "responses": _ok(_ref(definition))}}}
    return _document(paths, {name: _converted(name) for name in _reachable([definition])})


_SPECIAL = {
    "api": ("/api/", "getCoreAPIVersions", f"{_META}APIVersions"),
    "apis": ("/apis/", "getAPIVersions", f"{_META}APIGroupList"),
    "version": ("/version/", "getCodeVersion", "io.k8s.apimachinery.pkg.version.Info"),
}


@dataclass(frozen=True)
class Rendered:
    """One document ready to serve: share ``document`` read-only, send ``body``."""

    document: dict[str, Any]
    body: bytes
    # Upstream's scheme: uppercase hex SHA-512 of the body. Stable across servers that
    # serve the same API, so clients' disk caches survive fail-over.
    hash: str


def _render(doc: dict[str, Any]) -> Rendered:
    body = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return Rendered(document=doc, body=body, hash=hashlib.sha512(body).hexdigest().upper())


def _fingerprint(infos: list[schememod.ResourceInfo], extra_schemas: ExtraSchemas) -> Hashable:
    # CRD schemas are small; hashing them per request is cheaper than trusting callers
    # to announce every change.
    crd = tuple(
        (info, hashlib.sha1(orjson.dumps(extra_schemas[info], option=orjson.OPT_SORT_KEYS)).hexdigest())
        for info in infos if info in extra_schemas)
    return (tuple(infos), crd)


def _path_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


class Documents:
    """The served OpenAPI v3 documents, cached per path.

    A document is rebuilt when the resources of its group version (or the CRD schemas
    given for them) change, so adding a CRD invalidates exactly its own group version.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Hashable, Rendered]] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def _get(self, key: str, fingerprint: Hashable, build: Any) -> Rendered:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == fingerprint:
                return hit[1]
            rendered = _render(build())
            self._cache[key] = (fingerprint, rendered)
            return rendered

    def rendered(self, scheme: schememod.Scheme, path: str, *,
                 extra: Iterable[schememod.ResourceInfo] = (),
                 extra_schemas: ExtraSchemas | None = None) -> Rendered | None:
        """The document at ``/openapi/v3/{path}`` ("api/v1", "apis/apps/v1", "api", "apis",
        "version"), or None if nothing is served there (404)."""
        path = path.strip("/")
        if path in _SPECIAL:
            where, op_id, definition = _SPECIAL[path]
            return self._get(path, path, lambda: _plain_document(where, op_id, definition))
        parts = path.split("/")
        if len(parts) == 2 and parts[0] == "api":
            group, version = "", parts[1]
        elif len(parts) == 3 and parts[0] == "apis":
            group, version = parts[1], parts[2]
        else:
            return None
        schemas = extra_schemas or {}
        infos = [r for r in discovery.served(scheme, extra) if r.group == group and r.version == version]
        if not infos:
            return None
        return self._get(path, _fingerprint(infos, schemas),
                         lambda: _gv_document(infos, group, version, schemas))

    def document(self, scheme: schememod.Scheme, group: str, version: str, *,
                 extra: Iterable[schememod.ResourceInfo] = (),
                 extra_schemas: ExtraSchemas | None = None) -> dict[str, Any] | None:
        rendered = self.rendered(scheme, _path_key(group, version), extra=extra, extra_schemas=extra_schemas)
        return rendered.document if rendered else None

    def index(self, scheme: schememod.Scheme, *, extra: Iterable[schememod.ResourceInfo] = (),
              extra_schemas: ExtraSchemas | None = None) -> dict[str, Any]:
        """``GET /openapi/v3``: every document with a URL that changes when it does."""
        extra = list(extra)
        resources = discovery.served(scheme, extra)
        keys = ["api", *(_path_key("", v) for v in sorted({r.version for r in resources if not r.group},
                                                             key=discovery.version_priority))]
        keys.append("apis")
        for group, versions in discovery.groups(resources):
            keys.extend(_path_key(group, v) for v in versions)
        keys.append("version")
        paths: dict[str, Any] = {}
        for key in keys:
            rendered = self.rendered(scheme, key, extra=extra, extra_schemas=extra_schemas)
            if rendered is not None:
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={rendered.hash}"}
        return {"paths": paths}


_DEFAULT = Documents()


def index(scheme: schememod.Scheme, *, extra: Iterable[schememod.ResourceInfo] = (),
          extra_schemas: ExtraSchemas | None = None) -> dict[str, Any]:
    """``GET /openapi/v3`` through the shared cache."""
    return _DEFAULT.index(scheme, extra=extra, extra_schemas=extra_schemas)


def document(scheme: schememod.Scheme, group: str, version: str, *,
             extra: Iterable[schememod.ResourceInfo] = (),
             extra_schemas: ExtraSchemas | None = None) -> dict[str, Any] | None:
    """The OpenAPI 3.0 document of one group version (shared cache; do not mutate it)."""
    return _DEFAULT.document(scheme, group, version, extra=extra, extra_schemas=extra_schemas)


def rendered(scheme: schememod.Scheme, path: str, *, extra: Iterable[schememod.ResourceInfo] = (),
             extra_schemas: ExtraSchemas | None = None) -> Rendered | None:
    """``GET /openapi/v3/{path}`` ready to send (body bytes and hash), or None for 404."""
    return _DEFAULT.rendered(scheme, path, extra=extra, extra_schemas=extra_schemas)
