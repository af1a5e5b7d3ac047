"""HTTP handlers of resource requests: decode, call the registry, encode.

``kubelite.apiserver.app`` parses the URL into a ``Target`` and calls ``handle``; this
module turns verbs and subresources into ``registry.Store`` calls, negotiates Table
output, applies field validation (Ignore/Warn/Strict) and answers with Kubernetes
objects. Watches stream from ``kubelite.apiserver.watch``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson
from aiohttp import web

from kubelite.api import (
    errors,
    fieldvalidation,
    meta,
    omitempty,
    protobuf,
    schema,
    scheme,
)
from kubelite.api.patch import deep_copy, jsonpatch, mergepatch, strategic
from kubelite.apiserver import (
    admissionwarnings,
    decoding,
    managedfields,
    negotiation,
    registry,
    requests,
    satokens,
    streams,
    tables,
)
from kubelite.apiserver.strategies import core as core_strategies
from kubelite.apiserver.strategies import ephemeralcontainers, pods

Obj = dict[str, Any]

JSON = decoding.JSON
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply-cbor",
}


@dataclass
class Target:
    """What a URL names: a resource, maybe a namespace, a name and a subresource."""

    info: scheme.ResourceInfo
    store: registry.Store
    namespace: str | None
    name: str | None
    subresource: str


def json_response(body: Any, *, status: int = 200, warnings: list[str] | None = None,
                  content_type: str = JSON) -> web.Response:
    # Headers given whole: cheaper than letting aiohttp parse a content_type argument (hot path).
    resp = web.Response(body=orjson.dumps(body), status=status, headers={"Content-Type": content_type})
    for w in warnings or []:
        resp.headers.add("Warning", warning_header(w))
    return resp


def warning_header(text: str) -> str:
    """RFC 7234 ``299 - "text"`` as upstream's NewWarningHeader: quotes and backslashes
    escaped; a line break could end the header early, so none is ever written."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return '299 - "' + quoted.replace("\r", " ").replace("\n", " ") + '"'



def media_type(request: web.Request) -> str:
    return (request.headers.get("Content-Type") or JSON).split(";")[0].strip().lower()


async def read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.RequestEntityTooLarge(
            "the request body is too large: the limit is 3 MiB (Kubernetes' limit for one object)") from None


def _refuse_type_error(info: scheme.ResourceInfo, cause: errors.Cause | None) -> None:
    if cause is not None:
        raise errors.BadRequest(fieldvalidation.cannot_handle(kind=info.kind, version=info.version,
                                                              detail=cause.message))


def check_patched_types(info: scheme.ResourceInfo, obj: Obj) -> None:
    """``validate_fields``' type check for the result of a patch: upstream decodes the
    patched object and answers 422 Invalid on the field ``patch`` when that fails. The
    object is then what its Go struct encodes to: unknown fields and omitempty zero values
    dropped (a merge patch's ``null`` for the last label leaves ``labels: {}``)."""
    node = schema.root(info.group, info.version, info.kind)
    if node is None:
        return
    cause, unknown, zeros = fieldvalidation.inspect(obj, node)
    if cause is not None:
        raise errors.invalid(kind="", group="", name="", causes=[
            errors.Cause("FieldValueInvalid", f"Invalid value: {_shown(obj)}: {cause.message}", "patch")])
    fieldvalidation.zero_nulls(obj, node)
    if unknown:  # decoding the patched object into its Go struct drops them upstream
        fieldvalidation.prune_unknown(obj, node)
    if zeros:
        drop_empty(info, obj, keys=zeros)


def drop_empty(info: scheme.ResourceInfo, obj: Obj, *, keys: list[str] | None = None) -> None:
    """Go's ``omitempty`` on a built-in object about to be written (``omitempty``): what
    upstream would store and answer. ``keys``: only these top-level fields may hold zero
    values. Custom resources and kinds without a table are left as they are."""
    plan = None if getattr(info, "crd_name", "") else omitempty.plan_for(info.group, info.version, info.kind)
    if plan is not None:
        omitempty.normalize(obj, plan, keys=keys)


def _shown(obj: Obj) -> str:
    try:
        text = orjson.dumps(obj).decode()
    except TypeError:
        return '"<not JSON>"'
    return orjson.dumps(text if len(text) <= 1024 else text[:1024] + "...").decode()


def write_options(request: web.Request) -> requests.WriteOptions:
    """A write's options from its query, and its User-Agent: the manager of its fields when
    no ``fieldManager`` is given."""
    return requests.WriteOptions.parse(request.query, request.headers.get("User-Agent", ""))


# JSON bodies of built-in kinds that ``validate_fields`` found clean: no value of the wrong
# type, no unknown or duplicate field, no zero value or top-level null to drop, so it had
# nothing to refuse, warn about or change. The verdict is a function of the bytes and the
# kind's schema, and clients send the same bytes again and again: a ReplicaSet's (or a
# load generator's) pod creates are one template, a node agent's status updates repeat.
# Looking a body up costs well under a microsecond; inspecting it, 20-30 µs for a pod.
_CLEAN: set[tuple[schema.Node, bytes]] = set()
CLEAN_ENTRIES = 1024  # the set is emptied when full: hits come from recent repeats
CLEAN_BODY_BYTES = 16 * 1024  # larger bodies are rarely sent twice


def validate_fields(info: scheme.ResourceInfo, obj: Any, raw: bytes, mode: str, *, types: bool = True,
                    whole: bool = False) -> list[str]:
    """A value of the wrong JSON type (``"replicas": "3"``) → 400, as upstream's decoder
    refuses it before anything else looks at the object, whatever fieldValidation says
    (``types``: for whole objects; a merge patch's result is judged instead, and custom
    resources by their CRD schema). Then fieldValidation: Strict → 400 on unknown or
    duplicate fields, Warn → warnings, Ignore → nothing. A ``whole`` object (a create's or
    an update's body, not a patch) of a built-in kind loses its unknown fields and its
    omitempty zero values, as upstream's decoding into its Go struct and encoding again."""
    if not isinstance(obj, dict):
        return []
    builtin = schema.root(info.group, info.version, info.kind)
    protobuf_body = raw.startswith(protobuf.MAGIC)  # protobuf never reports unknown fields
    strict = mode != "Ignore" and not protobuf_body
    # A built-in kind's unknown fields are dropped whatever the mode, as upstream's decoding
    # into its Go struct drops them (a custom resource's are pruned by its CRD schema).
    look = strict or (builtin is not None and not protobuf_body)
    types = types and builtin is not None
    # custom resources carry their CRD schema's node (kubelite.apiserver.crds)
    node = builtin or getattr(info, "schema_node", None)
    if node is None or not (look or types):
        return []
    # inspected for everything (types, unknown and duplicate fields, zeros): may be remembered
    complete = types and strict and whole and raw[:1] == b"{" and len(raw) <= CLEAN_BODY_BYTES
    if complete and (node, raw) in _CLEAN:
        return []
    wrong, unknown, zeros = fieldvalidation.inspect(obj, node, types=types, unknown=look)
    _refuse_type_error(info, wrong)
    nulls = complete and None in obj.values()
    if types:
        fieldvalidation.zero_nulls(obj, node)
    if unknown and builtin is not None and mode != "Strict":
        fieldvalidation.prune_unknown(obj, builtin)
    if whole and zeros and builtin is not None:
        drop_empty(info, obj, keys=zeros)
    if not strict:
        return []
    problems: list[str] = []
    if raw[:1] in (b"{", b"["):
        problems += [f"duplicate field {fieldvalidation.go_quote(f)}"
                     for f in fieldvalidation.duplicate_fields(raw, obj)]
    problems += [f"unknown field {fieldvalidation.go_quote(f.lstrip('.'))}" for f in unknown]
    if problems and mode == "Strict":
        raise errors.BadRequest("strict decoding error: " + ", ".join(problems))
    if complete and not (problems or zeros or nulls):
        if len(_CLEAN) >= CLEAN_ENTRIES:
            _CLEAN.clear()
        _CLEAN.add((node, raw))
    return problems


def strategic_fields(value: Any) -> Any:
    """A strategic merge patch without its ``$``-directives, for field validation."""
    if isinstance(value, dict):
        return {k: strategic_fields(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [strategic_fields(v) for v in value]
    return value


def success_status(info: scheme.ResourceInfo, obj: Obj) -> Obj:
    md = obj.get("metadata") or {}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": md.get("name", ""), "group": info.group, "kind": info.plural,
                        "uid": md.get("uid", "")}}


def _partial_only(request: web.Request) -> negotiation.Output:
    """The Accept's conversion where only PartialObjectMetadata ones apply (deletes,
    subresources): a Table is answered with the object, as before."""
    out = negotiation.output(request.headers.get("Accept", ""))
    return negotiation.PLAIN if out.kind == negotiation.TABLE else out


def _is_ephemeral(t: Target) -> bool:
    """pods/ephemeralcontainers: served as the Pod, written through its own strategy."""
    return t.subresource == ephemeralcontainers.SUBRESOURCE and t.info.plural == "pods" and not t.info.group


class Handlers:
    """Verb handlers over a ``registry.Registry``."""

    def __init__(self, reg: registry.Registry) -> None:
        self.registry = reg
        # pods/log, exec, attach, portforward: proxied to node agents (token set by server.APIServer)
        self.streams = streams.Streams(reg)
        # signs serviceaccounts/token's tokens (set by server.APIServer from the cluster's CA key)
        self.token_signer: satokens.Signer | None = None

    # --- reads -------------------------------------------------------------------------

    async def get(self, request: web.Request, t: Target) -> web.StreamResponse:
        if t.name is None:
            return await self.list(request, t)
        if t.subresource in streams.SUBRESOURCES and t.info.plural == "pods":
            return await self.streams.serve(request, t)
        rv = request.query.get("resourceVersion", "")
        obj = await t.store.get(t.namespace, t.name, resource_version=rv)
        if t.subresource == "scale":
            return json_response(negotiation.object_as(_partial_only(request), t.info, self._scale_of(t, obj)))
        if t.subresource not in ("", "status") and not _is_ephemeral(t):
            raise errors.NotFound(f"the server could not find the requested resource ({t.subresource})")
        return self._respond_object(request, t, obj)

    def _respond_object(self, request: web.Request, t: Target, obj: Obj, *, status: int = 200,
                        warnings: list[str] | None = None) -> web.Response:
        warnings = (warnings or []) + admissionwarnings.take() if request.method != "GET" else warnings
        external = t.store.strategy.to_external(obj)
        out = negotiation.output(request.headers.get("Accept", ""))
        if out.kind == negotiation.TABLE:
            if request.method != "GET":
                return json_response(external, status=status, warnings=warnings)
            table = tables.to_table(t.info, [external],
                                    list_meta={"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                    printer_columns=getattr(t.info, "printer_columns", None),
                                    include_object=request.query.get("includeObject", "Metadata"),
                                    version=out.version)
            return json_response(table)
        if out.kind:  # PartialObjectMetadata (or a 406 for PartialObjectMetadataList)
            external = negotiation.object_as(out, t.info, external)
        return json_response(external, status=status, warnings=warnings)

    async def list(self, request: web.Request, t: Target) -> web.StreamResponse:
        opts = requests.ListOptions.parse(request.query)
        if opts.watch:
            from kubelite.apiserver import watch

            return await watch.serve(request, t, opts)
        result = await t.store.list(t.namespace, opts)
        to_external = t.store.strategy.to_external
        items = [to_external(o) for o in result.items]
        if opts.omit_managed_fields:
            items = [managedfields.without(o) for o in items]
        list_meta: Obj = {"resourceVersion": result.resource_version}
        if result.continue_token:
            list_meta["continue"] = result.continue_token
        out = negotiation.output(request.headers.get("Accept", ""))
        if out.kind == negotiation.TABLE:
            return json_response(tables.to_table(t.info, items, list_meta=list_meta,
                                                 printer_columns=getattr(t.info, "printer_columns", None),
                                                 include_object=request.query.get("includeObject", "Metadata"),
                                                 version=out.version))
        return json_response(negotiation.list_as(out, t.info, items, list_meta))

    # --- writes ------------------------------------------------------------------------

    async def create(self, request: web.Request, t: Target) -> web.StreamResponse:
        if t.name is not None and t.subresource in streams.SUBRESOURCES and t.info.plural == "pods":
            return await self.streams.serve(request, t)  # some clients POST exec/attach/portforward
        if t.name is not None:
            return await self._create_subresource(request, t)
        opts = write_options(request)
        raw = await read_body(request)
        obj = decoding.decode_object(raw, media_type(request))
        if not isinstance(obj, dict):
            raise errors.BadRequest("the request body must be a single object")
        warnings = validate_fields(t.info, obj, raw, opts.field_validation, whole=True)
        created = await t.store.create(t.namespace, obj, opts)
        return self._respond_object(request, t, created, status=201, warnings=warnings)

    async def _create_subresource(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        raw = await read_body(request)
        body = decoding.decode_object(raw, media_type(request))
        if not isinstance(body, dict):
            raise errors.BadRequest("the request body must be a single object")
        opts = write_options(request)
        if t.info.plural == "pods" and t.subresource == "binding" or t.info.plural == "bindings":
            node = ((body.get("target") or {}).get("name")) or ""
            causes = pods.validate_binding(body)
            if causes:
                raise errors.invalid(kind="Binding", group="", name=t.name, causes=causes)
            name = t.name
            uid = (body.get("metadata") or {}).get("uid") or ""

            def do_bind(pod: Obj) -> Obj:
                return pods.bind(pod, node_name=node, name=name, uid=uid)

            await t.store.patch(t.namespace, t.name, do_bind, opts, subresource="binding",
                                copy=pods.copy_for_binding)
            return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                  "code": 201}, status=201)
        if t.info.plural == "pods" and t.subresource == "eviction":
            return await self._evict(t, body, dry_run=opts.dry_run)
        if t.info.plural == "serviceaccounts" and t.subresource == "token":
            return await self._token_request(t, body, raw, opts)
        raise errors.MethodNotAllowed(f"the server does not allow this method on the requested resource "
                                      f"({t.info.plural}/{t.subresource})")

    async def _token_request(self, t: Target, body: Obj, raw: bytes, opts: requests.WriteOptions) -> web.Response:
        """authentication.k8s.io/v1 TokenRequest: a token for the ServiceAccount (satokens)."""
        if t.name is None or not t.namespace:  # /api/v1/serviceaccounts/x/token names no namespace
            raise errors.NotFound("the server could not find the requested resource")
        if self.token_signer is None:
            raise errors.ServiceUnavailable("service account tokens are not configured on this server")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version and api_version != satokens.TOKEN_REQUEST.api_version or kind and kind != "TokenRequest":
            raise errors.BadRequest(f"the body must be an authentication.k8s.io/v1 TokenRequest, not "
                                    f"{api_version or '?'} {kind or '?'}")
        warnings = validate_fields(satokens.TOKEN_REQUEST, body, raw, opts.field_validation, whole=True)
        answer = await satokens.create_token(self.registry, self.token_signer, namespace=t.namespace, name=t.name,
                                             request=body)
        return json_response(answer, status=201, warnings=warnings)

    async def _evict(self, t: Target, eviction: Obj, *, dry_run: bool) -> web.Response:
        """policy/v1 Eviction: a delete that PodDisruptionBudgets may refuse (strategies/eviction.py)."""
        from kubelite.apiserver.strategies import eviction as eviction_strategy

        assert t.name is not None
        name = (eviction.get("metadata") or {}).get("name") or t.name
        if name != t.name:
            raise errors.BadRequest("name in URL does not match name in Eviction object")
        options = eviction.get("deleteOptions") or {}
        dopts = requests.DeleteOptions.parse({}, {**options, "kind": "DeleteOptions"})
        if dry_run:  # ?dryRun=All on the eviction itself, as upstream: check the budget, delete nothing
            dopts = replace(dopts, dry_run=True)
        status = await eviction_strategy.evict(t.store, namespace=t.namespace, name=t.name, options=dopts)
        return json_response(status, status=int(status["code"]))

    async def update(self, request: web.Request, t: Target) -> web.Response:
        if t.name is None:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        opts = write_options(request)
        raw = await read_body(request)
        obj = decoding.decode_object(raw, media_type(request))
        if not isinstance(obj, dict):
            raise errors.BadRequest("the request body must be a single object")
        if t.subresource == "scale":
            return await self._update_scale(t, lambda scale: obj, opts)
        if t.subresource == "finalize" and t.info.plural == "namespaces":
            strategy = t.store.strategy
            assert isinstance(strategy, core_strategies.NamespaceStrategy)

            def finalize(cur: Obj) -> Obj:
                new = strategy.prepare_for_finalize(obj, cur)
                drop_empty(t.info, new)  # the last finalizer gone: no "finalizers: []" left
                return new

            result = await t.store.patch(t.namespace, t.name, finalize, opts, subresource="finalize")
            return self._respond_object(request, t, result)
        if _is_ephemeral(t):
            warnings = validate_fields(t.info, obj, raw, opts.field_validation, whole=True)
            result = await t.store.patch(t.namespace, t.name, lambda cur: ephemeralcontainers.prepare(obj, cur), opts,
                                         subresource=t.subresource)
            return self._respond_object(request, t, result, warnings=warnings)
        if t.subresource not in ("", "status"):
            raise errors.MethodNotAllowed(f"the server does not allow this method on {t.info.plural}/{t.subresource}")
        warnings = validate_fields(t.info, obj, raw, opts.field_validation, whole=True)
        result, created = await t.store.update(t.namespace, t.name, obj, opts, subresource=t.subresource)
        return self._respond_object(request, t, result, status=201 if created else 200, warnings=warnings)

    async def patch(self, request: web.Request, t: Target) -> web.Response:
        if t.name is None:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        opts = write_options(request)
        media = media_type(request)
        kind = PATCH_TYPES.get(media)
        if kind is None or kind == "apply-cbor":
            raise errors.UnsupportedMediaType(
                f'the body of the request was in an unknown format - accepted media types include: '
                f'{", ".join(k for k, v in PATCH_TYPES.items() if v != "apply-cbor")}')
        if kind == "strategic" and getattr(t.info, "crd_name", ""):
            # custom resources have no patch strategies: upstream refuses SMP for them
            raise errors.UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        raw = await read_body(request)
        patch = decoding.decode_object(raw, JSON if kind != "apply" else "application/yaml")
        if kind == "json" and not isinstance(patch, list):
            raise errors.BadRequest("json patch must be a list of operations")
        if kind != "json" and not isinstance(patch, dict):
            raise errors.BadRequest(f"{media} must be a JSON object")
        warnings: list[str] = []
        if kind in ("merge", "strategic", "apply"):
            # SMP directives ($setElementOrder/…, $patch, $retainKeys) are not fields
            checked = strategic_fields(patch) if kind == "strategic" else patch
            # an applied configuration is a (partial) object: its types are judged here;
            # a merge patch's on the patched object (check_patched_types)
            warnings = validate_fields(t.info, checked, raw, opts.field_validation, types=kind == "apply")
        if kind == "apply":
            return await self._apply(request, t, patch, opts, warnings)

        ephemeral = _is_ephemeral(t)

        def mutate(cur: Obj) -> Obj:
            ext = t.store.strategy.to_external(cur)
            patched = self.apply_patch(t, kind, ext, patch)
            check_patched_types(t.info, patched)
            # pods/ephemeralcontainers: the patch applies to the whole pod, only its
            # ephemeral containers are kept (kubectl debug sends a strategic merge patch)
            return ephemeralcontainers.prepare(patched, cur) if ephemeral else patched

        if t.subresource == "scale":
            return await self._update_scale(t, lambda scale: self.apply_patch(t, kind, scale, patch), opts)
        if t.subresource not in ("", "status") and not ephemeral:
            raise errors.MethodNotAllowed(f"the server does not allow this method on {t.info.plural}/{t.subresource}")
        result = await t.store.patch(t.namespace, t.name, mutate, opts, subresource=t.subresource)
        return self._respond_object(request, t, result, warnings=warnings)

    def apply_patch(self, t: Target, kind: str, cur: Obj, patch: Any) -> Obj:
        if kind == "json":
            result = jsonpatch.apply(cur, patch)
        elif kind == "merge":
            result = mergepatch.apply(cur, patch)
        else:
            node = schema.root(t.info.group, t.info.version, t.info.kind)
            result = strategic.apply(cur, patch, node)
        if not isinstance(result, dict):
            raise errors.BadRequest("the patch turned the object into something that is not an object")
        return result

    async def _apply(self, request: web.Request, t: Target, patch: Obj, opts: requests.WriteOptions,
                     warnings: list[str]) -> web.Response:
        """Server-side apply: create when missing, otherwise merge the applied configuration."""
        if not opts.field_manager:
            raise errors.BadRequest("PATCH, application/apply-patch+yaml: fieldManager is required for apply requests")
        from kubelite.apiserver import apply as ssa

        assert t.name is not None
        opts = replace(opts, apply=True)
        applied_md = patch.get("metadata") if isinstance(patch.get("metadata"), dict) else {}
        uid, version = applied_md.get("uid") or "", applied_md.get("resourceVersion") or ""
        try:
            await t.store.get(t.namespace, t.name)
        except errors.NotFound:
            if t.subresource:
                raise
            if uid:  # upstream's patcher: the applied object names one that is gone
                raise errors.conflict(resource=t.info.plural, group=t.info.group, name=t.name,
                                      why=f"uid mismatch: the provided object specified uid {uid}, "
                                          "and no existing object was found") from None
            obj = ssa.apply_create(patch, manager=opts.field_manager, name=t.name, node=t.store.field_schema())
            drop_empty(t.info, obj)
            created = await t.store.create(t.namespace, obj, opts)
            return self._respond_object(request, t, created, status=201, warnings=warnings)
        node = t.store.field_schema()  # a custom resource's lists merge by its CRD's keys too

        def mutate(cur: Obj) -> Obj:
            cur_md = cur["metadata"]
            if uid and uid != cur_md.get("uid"):
                raise t.store._invalid(t.name or "", [errors.invalid_value("metadata.uid", uid, meta.FIELD_IMMUTABLE)])
            if version and version != cur_md.get("resourceVersion"):  # a precondition, as in any write
                raise t.store._conflict(t.name or "")
            applied = ssa.apply_update(cur, patch, manager=opts.field_manager, force=opts.force, node=node,
                                       subresource=t.subresource, resource=t.info.plural)
            drop_empty(t.info, applied)
            return ephemeralcontainers.prepare(applied, cur) if _is_ephemeral(t) else applied

        result = await t.store.patch(t.namespace, t.name, mutate, opts, subresource=t.subresource)
        return self._respond_object(request, t, result, warnings=warnings)

    # --- scale -------------------------------------------------------------------------

    def _scale_of(self, t: Target, obj: Obj) -> Obj:
        custom = getattr(t.store.strategy, "scale_of", None)  # CRDs name their own replica paths
        if custom is not None:
            return custom(obj)  # type: ignore[no-any-return]
        md = obj["metadata"]
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": md["name"], "namespace": md.get("namespace"), "uid": md.get("uid"),
                         "resourceVersion": md.get("resourceVersion"),
                         "creationTimestamp": md.get("creationTimestamp")},
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": status.get("replicas", 0),
                       "selector": t.store.strategy.scale_selector(obj)},
        }

    async def _update_scale(self, t: Target, make_scale: Any, opts: requests.WriteOptions) -> web.Response:
        assert t.name is not None
        scales: list[Obj] = []

        def mutate(cur: Obj) -> Obj:
            scale = make_scale(self._scale_of(t, cur))
            if not isinstance(scale, dict):
                raise errors.BadRequest("the body must be a Scale object")
            # ScaleSpec.replicas is omitempty: a Go client scaling to zero sends "spec": {}
            replicas = (scale.get("spec") or {}).get("replicas")
            if replicas is None:
                replicas = 0
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid(kind="Scale", group="autoscaling", name=t.name or "", causes=[
                    errors.invalid_value("spec.replicas", replicas, "must be greater than or equal to 0")])
            new = deep_copy(cur)
            set_replicas = getattr(t.store.strategy, "set_scale_replicas", None)
            if set_replicas is not None:
                set_replicas(new, replicas)
            else:
                new.setdefault("spec", {})["replicas"] = replicas
            rv = (scale.get("metadata") or {}).get("resourceVersion")
            if rv:
                new["metadata"]["resourceVersion"] = rv
            scales.append(scale)
            return new

        result = await t.store.patch(t.namespace, t.name, mutate, opts, subresource="scale")
        return json_response(self._scale_of(t, result))

    # --- delete ------------------------------------------------------------------------

    async def delete(self, request: web.Request, t: Target) -> web.Response:
        if t.name is None and "deletecollection" not in t.info.verbs:
            # Namespaces go one at a time, as upstream (no deletecollection verb).
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        raw = await request.read() if request.can_read_body else b""
        body = decoding.decode_object(raw, media_type(request)) if raw.strip() else None
        if body is not None and not isinstance(body, dict):
            raise errors.BadRequest("the DELETE body must be a DeleteOptions object")
        dopts = requests.DeleteOptions.parse(request.query, body)
        if t.name is None:
            lopts = requests.ListOptions.parse(request.query)
            items = await t.store.delete_collection(t.namespace, lopts, dopts)
            to_external = t.store.strategy.to_external
            out = _partial_only(request)
            return json_response(negotiation.list_as(out, t.info, [to_external(o) for o in items], {}))
        if t.subresource:
            raise errors.MethodNotAllowed(f"the server does not allow this method on {t.info.plural}/{t.subresource}")
        result = await t.store.delete(t.namespace, t.name, dopts)
        status = 200
        if not result.deleted and dopts.orphan_dependents is False:
            status = 202
        deleted = result.obj
        if deleted is None and t.store.strategy.return_deleted_object:
            deleted = result.last
        if deleted is None:
            return json_response(success_status(t.info, result.last), status=status)  # a Status is never converted
        return json_response(negotiation.object_as(_partial_only(request), t.info,
                                                   t.store.strategy.to_external(deleted)), status=status)
