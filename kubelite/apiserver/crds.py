"""CustomResourceDefinitions (apiextensions.k8s.io/v1) and the custom resources they define.

Three parts, all created by ``kubelite.apiserver.server.APIServer`` at startup:

- ``CRD_INFO`` + ``CRDStrategy``: the CRD resource itself in the generic registry. The
  strategy validates a CRD (names, group, versions with one storage version, scope,
  schemas), applies its defaults, and plays upstream's naming/establishing controllers:
  ``status.acceptedNames`` and the ``NamesAccepted``/``Established`` conditions are set
  on every write, so a CRD is Established as soon as it is stored.
- ``CustomResourceStrategy``: one per served version of a CRD. It prunes unknown fields,
  applies schema defaults and validates against ``openAPIV3Schema`` (``kubelite.api.crdschema``),
  bumps generation on non-metadata changes, and provides the scale subresource's
  paths to the HTTP handlers (``scale_of`` / ``set_scale_replicas``).
- ``CRDManager``: follows the watch cache's CRD events (``ResourceCache.listeners``) and
  registers/unregisters each served version in the live ``Scheme`` and ``Registry`` at
  once, so discovery, OpenAPI (``openapi_schemas``) and routing see it on the next request.
  Deleting a CRD deletes its custom objects first (upstream's
  ``customresourcecleanup.apiextensions.k8s.io`` finalizer), then the CRD goes.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from kubelite.aio import tasks
from kubelite.api import celrules, crdschema, errors, meta, scheme
from kubelite.apiserver import registry, requests, watchcache
from kubelite.apiserver.strategies import base

log = logging.getLogger("kubelite.apiserver.crds")

Obj = dict[str, Any]

GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

CRD_INFO = scheme.ResourceInfo(
    group=GROUP, version="v1", kind="CustomResourceDefinition", plural="customresourcedefinitions",
    singular="customresourcedefinition", namespaced=False, short_names=("crd", "crds"),
    categories=("api-extensions",), subresources=("status",))

# When a CRD lists no additionalPrinterColumns, its resources print an Age column (upstream).
DEFAULT_PRINTER_COLUMNS: tuple[Obj, ...] = (
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},)

# (crd, version, rule) of the validation rules celpy could not run, logged once each.
_SKIPPED_RULES_LOGGED: set[tuple[str, str, str]] = set()




@dataclass(frozen=True)
class CustomResourceInfo(scheme.ResourceInfo):
    """A served version of a CRD: the scheme's facts plus what the CRD says about it.

    The extra fields don't take part in equality: a resource is the same resource when
    its schema changes (the OpenAPI cache keys schemas separately).
    """

    crd_name: str = ""
    storage_version: str = ""
    openapi_schema: Obj | None = field(default=None, compare=False, hash=False, repr=False)
    schema_node: Any = field(default=None, compare=False, hash=False, repr=False)
    printer_columns: tuple[Obj, ...] | None = field(default=None, compare=False, hash=False, repr=False)
    scale: Obj | None = field(default=None, compare=False, hash=False, repr=False)


# --- the CRD resource --------------------------------------------------------------------


def _storage_version(crd: Obj) -> str:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("storage"):
            return str(v.get("name") or "")
    return ""


def _apply_crd_defaults(crd: Obj) -> None:
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str) and names["kind"]:
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", f"{names['kind']}List")
    conversion = spec.setdefault("conversion", {"strategy": "None"})
    if isinstance(conversion, dict):
        conversion.setdefault("strategy", "None")
    for v in spec.get("versions") or []:
        if isinstance(v, dict):
            v.setdefault("served", True)
            v.setdefault("storage", False)


def _condition(type_: str, status: str, reason: str, message: str, old: list[Obj]) -> Obj:
    for c in old:
        if c.get("type") == type_ and c.get("status") == status:
            since = c.get("lastTransitionTime") or meta.now_rfc3339()
            break
    else:
        since = meta.now_rfc3339()
    return {"type": type_, "status": status, "lastTransitionTime": since, "reason": reason, "message": message}


def _crd_status(crd: Obj, old_status: Obj | None) -> Obj:
    """What upstream's naming and establishing controllers would write, at once."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    old_status = old_status or {}
    old_conditions = [c for c in old_status.get("conditions") or [] if isinstance(c, dict)]
    accepted = {k: copy.deepcopy(names[k]) for k in ("plural", "singular", "shortNames", "kind", "listKind",
                                                     "categories") if k in names}
    conditions = [
        _condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", old_conditions),
        _condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted",
                   old_conditions),
    ]
    if (crd.get("metadata") or {}).get("deletionTimestamp"):
        conditions.append(_condition("Terminating", "True", "InstanceDeletionInProgress",
                                     "CustomResourceDefinition marked for deletion; deleting instances",
                                     old_conditions))
    stored = list(old_status.get("storedVersions") or [])
    storage = _storage_version(crd)
    if storage and storage not in stored:
        stored.append(storage)
    return {"conditions": conditions, "acceptedNames": accepted, "storedVersions": stored}


def validate_crd(crd: Obj, old: Obj | None = None) -> list[errors.Cause]:
    """Upstream's CRD validation, the parts a user meets."""
    out: list[errors.Cause] = []
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [meta.required("spec")]
    group = spec.get("group")
    if not group:
        out.append(meta.required("spec.group"))
    elif not isinstance(group, str) or "." not in group:
        out.append(meta.invalid("spec.group", group, "should be a domain with at least one dot"))
    else:
        out += [meta.invalid("spec.group", group, m) for m in meta.is_dns1123_subdomain(group)]
    names = spec.get("names")
    if not isinstance(names, dict):
        out.append(meta.required("spec.names"))
        names = {}
    for key in ("plural", "singular", "kind", "listKind"):
        value = names.get(key)
        if not value:
            out.append(meta.required(f"spec.names.{key}"))
        elif not isinstance(value, str):
            out.append(meta.invalid(f"spec.names.{key}", value, "must be a string"))
        else:
            checked = value.lower() if key in ("kind", "listKind") else value
            out += [meta.invalid(f"spec.names.{key}", value, m) for m in meta.is_dns1035_label(checked)]
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        out.append(meta.invalid("spec.names.listKind", names["listKind"], "kind and listKind may not be the same"))
    for i, short in enumerate(names.get("shortNames") or []):
        if not isinstance(short, str) or meta.is_dns1035_label(short):
            out.append(meta.invalid(f"spec.names.shortNames[{i}]", short, "must be a DNS-1035 label"))
    name = (crd.get("metadata") or {}).get("name")
    if group and names.get("plural") and name != f"{names['plural']}.{group}":
        out.append(meta.invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"))
    scope = spec.get("scope")
    if not scope:
        out.append(meta.required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        out.append(meta.not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    out += _validate_versions(spec.get("versions"))
    if old is not None:
        old_spec = old.get("spec") or {}
        for key in ("group", "scope"):
            if old_spec.get(key) != spec.get(key):
                out.append(meta.invalid(f"spec.{key}", spec.get(key), meta.FIELD_IMMUTABLE))
    return out


def _validate_versions(versions: Any) -> list[errors.Cause]:
    out: list[errors.Cause] = []
    if not isinstance(versions, list) or not versions:
        return [meta.required("spec.versions", "must have exactly one version marked as storage version")]
    seen: set[str] = set()
    storage = 0
    for i, v in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(v, dict):
            out.append(meta.invalid(path, v, "must be an object"))
            continue
        vname = v.get("name")
        if not vname:
            out.append(meta.required(f"{path}.name"))
        elif not isinstance(vname, str) or meta.is_dns1035_label(vname):
            out.append(meta.invalid(f"{path}.name", vname, "must be a DNS-1035 label"))
        elif vname in seen:
            out.append(meta.duplicate(f"{path}.name", vname))
        else:
            seen.add(vname)
        if v.get("storage"):
            storage += 1
        schema_doc = (v.get("schema") or {}).get("openAPIV3Schema") if isinstance(v.get("schema"), dict) else None
        if schema_doc is None:
            out.append(meta.required(f"{path}.schema.openAPIV3Schema", "schemas are required"))
        else:
            out += crdschema.structural_problems(schema_doc, f"{path}.schema.openAPIV3Schema")
            out += celrules.crd_problems(schema_doc, f"{path}.schema.openAPIV3Schema")
        subs = v.get("subresources") or {}
        scale = subs.get("scale") if isinstance(subs, dict) else None
        if isinstance(scale, dict):
            for key in ("specReplicasPath", "statusReplicasPath"):
                if not scale.get(key):
                    out.append(meta.required(f"{path}.subresources.scale.{key}"))
                elif not str(scale[key]).startswith("."):
                    out.append(meta.invalid(f"{path}.subresources.scale.{key}", scale[key],
                                            "should be a json path under .spec or .status"))
        for j, col in enumerate(v.get("additionalPrinterColumns") or []):
            cpath = f"{path}.additionalPrinterColumns[{j}]"
            if not isinstance(col, dict):
                continue
            for key in ("name", "type", "jsonPath"):
                if not col.get(key):
                    out.append(meta.required(f"{cpath}.{key}"))
            if col.get("type") and col["type"] not in ("integer", "number", "string", "boolean", "date"):
                out.append(meta.not_supported(f"{cpath}.type", col["type"],
                                              ["boolean", "date", "integer", "number", "string"]))
    if storage != 1:
        out.append(meta.invalid("spec.versions", versions, "must have exactly one version marked as storage version"))
    return out


class CRDStrategy(base.Strategy):
    """The CRD resource: defaults, validation, and the status the controllers would set."""

    allow_unconditional_update = False  # as upstream's

    def prepare_for_create(self, obj: Obj) -> None:
        _apply_crd_defaults(obj)
        md = obj.setdefault("metadata", {})
        finalizers = list(md.get("finalizers") or [])
        if CLEANUP_FINALIZER not in finalizers:
            md["finalizers"] = finalizers + [CLEANUP_FINALIZER]
        super().prepare_for_create(obj)

    def initial_status(self, obj: Obj) -> Obj | None:
        return _crd_status(obj, None)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        _apply_crd_defaults(new)
        super().prepare_for_update(new, old)
        new["status"] = _crd_status(new, old.get("status"))

    def prepare_for_delete(self, obj: Obj) -> None:
        obj["status"] = _crd_status(obj, obj.get("status"))

    def validate(self, obj: Obj) -> list[errors.Cause]:
        return super().validate(obj) + validate_crd(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return super().validate_update(new, old) + validate_crd(new, old) + _stored_versions_causes(new)

    def validate_status_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        causes = super().validate_status_update(new, old) + _stored_versions_causes(new)
        stored = (new.get("status") or {}).get("storedVersions") or []
        storage = _storage_version(new)
        if not stored:
            causes.append(errors.invalid_value("status.storedVersions", stored,
                                               "must have at least one stored version"))
        elif storage and storage not in stored:
            causes.append(errors.invalid_value("status.storedVersions", stored,
                                               f"must have the storage version {storage}"))
        return causes


def _stored_versions_causes(crd: Obj) -> list[errors.Cause]:
    """Upstream's ValidateCustomResourceDefinitionStoredVersions: a version objects may
    still be stored in cannot leave spec.versions (drop it from status.storedVersions
    first, once every object is migrated)."""
    served = {v.get("name") for v in (crd.get("spec") or {}).get("versions") or [] if isinstance(v, dict)}
    stored = (crd.get("status") or {}).get("storedVersions") or []
    return [errors.invalid_value(f"status.storedVersions[{i}]", v, "must appear in spec.versions")
            for i, v in enumerate(stored) if v not in served]


# --- custom resources ---------------------------------------------------------------------


def _get_path(obj: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _set_path(obj: Obj, path: str, value: Any) -> None:
    parts = [p for p in path.split(".") if p]
    for part in parts[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = obj[part] = {}
        obj = nxt
    if parts:
        obj[parts[-1]] = value


class CustomResourceStrategy(base.Strategy):
    """One served version of a CRD in the generic registry."""

    info: CustomResourceInfo
    allow_unconditional_update = False  # as upstream's: a PUT names the version it replaces

    def __init__(self, info: CustomResourceInfo, *, manager: CRDManager | None = None) -> None:
        super().__init__(info)
        self.manager = manager
        self.schema = info.openapi_schema
        self.printer_columns = info.printer_columns

    # --- versions: stored in the storage version, served in this one ("None" conversion)

    @property
    def internal_api_version(self) -> str:
        return f"{self.info.group}/{self.info.storage_version or self.info.version}"

    def to_external(self, obj: Obj) -> Obj:
        if obj.get("apiVersion") == self.info.api_version:
            return obj
        out = dict(obj)
        out["apiVersion"] = self.info.api_version
        return out

    def to_internal(self, obj: Obj) -> Obj:
        if isinstance(obj, dict) and obj.get("apiVersion") == self.info.api_version:
            obj["apiVersion"] = self.internal_api_version
        return obj

    # --- writes

    def _shape(self, obj: Obj) -> None:
        crdschema.prune(obj, self.schema)
        crdschema.apply_defaults(obj, self.schema)

    def prepare_for_create(self, obj: Obj) -> None:
        self._shape(obj)
        super().prepare_for_create(obj)

    def initial_status(self, obj: Obj) -> Obj | None:
        return None  # the status subresource is the only way to set status

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        self._shape(new)
        super().prepare_for_update(new, old)

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        merged = super().prepare_for_status_update(new, old)
        self._shape(merged)
        return merged

    def spec_changed(self, new: Obj, old: Obj) -> bool:
        skip = {"apiVersion", "kind", "metadata"} | ({"status"} if self.info.has_status else set())
        return any(new.get(k) != old.get(k) for k in (set(new) | set(old)) - skip)

    async def admit_create(self, obj: Obj) -> None:
        if self.manager is not None and self.manager.is_terminating(self.info.crd_name):
            raise errors.MethodNotAllowed(
                "create not allowed while custom resource definition is terminating")

    # --- validation

    def _schema_causes(self, obj: Obj) -> list[errors.Cause]:
        return crdschema.validate(obj, self.schema)

    @functools.cached_property
    def _rules(self) -> celrules.Validator:
        # built on the first write, not when the CRD is synced: a CRD is re-synced on every
        # write of it (status included); the rules' parses are cached per text anyway
        return celrules.Validator(self.schema)

    def _rule_causes(self, new: Obj, old: Obj | None, causes: list[errors.Cause]) -> list[errors.Cause]:
        """The CRD's x-kubernetes-validations, unless the object already fails in a way that
        makes them meaningless (upstream's hasBlockingErr)."""
        if self._rules.root is None:
            return causes
        if any(c.reason in celrules.BLOCKING_REASONS for c in causes):
            return causes + [celrules.BLOCKED]
        return causes + self._rules.validate(new, old, skipped=self._log_skipped)

    def _log_skipped(self, rule: str, why: str) -> None:
        key = (self.info.crd_name, self.info.version, rule)
        if key not in _SKIPPED_RULES_LOGGED:
            _SKIPPED_RULES_LOGGED.add(key)
            log.warning("validation rule not evaluated crd=%s version=%s rule=%r why=%r",
                        self.info.crd_name, self.info.version, rule, why)

    def validate(self, obj: Obj) -> list[errors.Cause]:
        causes = meta.validate_object_meta(obj.get("metadata") or {}, namespaced=self.info.namespaced,
                                           name_rule=self.name_rule)
        return self._rule_causes(obj, None, causes + self._schema_causes(obj))

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        causes = meta.validate_object_meta(new.get("metadata") or {}, namespaced=self.info.namespaced,
                                           name_rule=self.name_rule)
        causes += meta.validate_meta_update(new.get("metadata") or {}, old.get("metadata") or {})
        return self._rule_causes(new, old, causes + self._schema_causes(new))

    def validate_status_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        causes = meta.validate_meta_update(new.get("metadata") or {}, old.get("metadata") or {})
        return self._rule_causes(new, old, causes + self._schema_causes(new))

    # --- scale subresource (handlers call these instead of assuming spec.replicas)

    def scale_of(self, obj: Obj) -> Obj:
        """The ``autoscaling/v1`` Scale of ``obj`` through the CRD's replica paths."""
        paths = self.info.scale or {}
        md = obj.get("metadata") or {}
        spec_replicas = _get_path(obj, paths.get("specReplicasPath", ".spec.replicas"))
        status_replicas = _get_path(obj, paths.get("statusReplicasPath", ".status.replicas"))
        status: Obj = {"replicas": status_replicas if isinstance(status_replicas, int) else 0}
        selector_path = paths.get("labelSelectorPath")
        if selector_path:
            selector = _get_path(obj, selector_path)
            if isinstance(selector, str) and selector:
                status["selector"] = selector
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if md.get(k) is not None},
            "spec": {"replicas": spec_replicas if isinstance(spec_replicas, int) else 0},
            "status": status,
        }

    def set_scale_replicas(self, obj: Obj, replicas: int) -> None:
        _set_path(obj, (self.info.scale or {}).get("specReplicasPath", ".spec.replicas"), replicas)


def infos_for(crd: Obj, *, include_unserved: bool = False) -> list[CustomResourceInfo]:
    """The served versions of a CRD as scheme entries (empty for a CRD that can't be served)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, kind, plural = spec.get("group"), names.get("kind"), names.get("plural")
    if not (group and kind and plural):
        return []
    storage = _storage_version(crd)
    out: list[CustomResourceInfo] = []
    for v in spec.get("versions") or []:
        if not isinstance(v, dict) or not v.get("name") or (v.get("served") is False and not include_unserved):
            continue
        subs = v.get("subresources") or {}
        sch = (v.get("schema") or {}).get("openAPIV3Schema")
        columns = v.get("additionalPrinterColumns") or list(DEFAULT_PRINTER_COLUMNS)
        out.append(CustomResourceInfo(
            group=group, version=v["name"], kind=kind, plural=plural,
            singular=names.get("singular") or kind.lower(), namespaced=spec.get("scope") != "Cluster",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=tuple(s for s in ("status", "scale") if s in subs),
            crd_name=(crd.get("metadata") or {}).get("name", ""), storage_version=storage or v["name"],
            openapi_schema=sch, schema_node=crdschema.node(sch), printer_columns=tuple(columns),
            scale=subs.get("scale") if isinstance(subs.get("scale"), dict) else None))
    return out


# --- the manager ----------------------------------------------------------------------------


class CRDManager:
    """Keeps the live scheme and registry in step with the stored CRDs."""

    def __init__(self, *, reg: registry.Registry, the_scheme: scheme.Scheme) -> None:
        self.registry = reg
        self.scheme = the_scheme
        self.served: dict[str, list[CustomResourceInfo]] = {}
        # The OpenAPI generator reads this (``Router.extra_schemas``): info → openAPIV3Schema.
        self.openapi_schemas: dict[scheme.ResourceInfo, Obj] = {}
        self.tasks = tasks.TaskGroup("crds")
        self._terminating: set[str] = set()
        self._cleaning: set[str] = set()
        self._cache: watchcache.ResourceCache | None = None

    def start(self) -> None:
        """Serve the CRD resource, restore every stored CRD, and follow changes."""
        self.scheme.add(CRD_INFO)
        self.registry.add(CRD_INFO, CRDStrategy(CRD_INFO))
        cache = self._cache = self.registry.cache.resource(GROUP, CRD_INFO.plural)
        cache.listeners.append(self.on_event)
        for obj in list(cache.objects.values()):
            self._sync(obj)

    async def close(self) -> None:
        if self._cache is not None and self.on_event in self._cache.listeners:
            self._cache.listeners.remove(self.on_event)
        await self.tasks.close()

    def is_terminating(self, crd_name: str) -> bool:
        return crd_name in self._terminating

    def on_event(self, event: watchcache.WatchEvent) -> None:
        """A CRD changed in the store (called synchronously by the watch cache)."""
        if event.type == "DELETED":
            name = (event.obj.get("metadata") or {}).get("name", "")
            self._unserve(name)
            self._terminating.discard(name)
            return
        self._sync(event.obj)

    def _sync(self, crd: Obj) -> None:
        md = crd.get("metadata") or {}
        name = md.get("name", "")
        new = infos_for(crd)
        keep = {(i.group, i.version, i.plural) for i in new}
        for old in self.served.get(name, []):
            if (old.group, old.version, old.plural) not in keep:
                self._remove(old)
        for info in new:
            self.scheme.add(info)
            self.registry.add(info, CustomResourceStrategy(info, manager=self))
            self.openapi_schemas.pop(info, None)  # equal keys: drop the old schema first
            self.openapi_schemas[info] = info.openapi_schema or {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}
        self.served[name] = new
        log.info("serving custom resource crd=%s versions=%s", name, [i.version for i in new])
        if md.get("deletionTimestamp"):
            self._terminating.add(name)
            every = infos_for(crd, include_unserved=True)
            if name not in self._cleaning and every:
                self._cleaning.add(name)
                self.tasks.spawn(self._cleanup(name, every), name=f"cleanup/{name}")

    def _remove(self, info: CustomResourceInfo) -> None:
        self.scheme.remove(info.group, info.version, info.plural)
        self.registry.remove(info.group, info.version, info.plural)
        self.openapi_schemas.pop(info, None)

    def _unserve(self, name: str) -> None:
        for info in self.served.pop(name, []):
            self._remove(info)
        log.info("stopped serving custom resource crd=%s", name)

    async def _cleanup(self, name: str, infos: list[CustomResourceInfo]) -> None:
        """Delete every instance of a terminating CRD, then release its finalizer."""
        try:
            storage = next((i for i in infos if i.version == i.storage_version), infos[0])
            store = self.registry.get(storage.group, storage.version, storage.plural)
            if store is None:  # no served version: reach the objects through an unlisted store
                store = registry.Store(info=storage, strategy=CustomResourceStrategy(storage), registry=self.registry)
            asked: set[str] = set()
            delay = 0.05
            while store.cache.objects:
                for obj in list(store.cache.objects.values()):
                    md = obj.get("metadata") or {}
                    uid = md.get("uid", "")
                    if uid in asked:
                        continue
                    asked.add(uid)
                    try:
                        await store.delete(md.get("namespace"), md["name"], requests.DeleteOptions())
                    except errors.NotFound:
                        pass
                # Instances with finalizers go when their owners release them.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
            crd_store = self.registry.get(GROUP, "v1", CRD_INFO.plural)
            assert crd_store is not None

            def release(cur: Obj) -> Obj:
                md = cur["metadata"]
                md["finalizers"] = [f for f in md.get("finalizers") or [] if f != CLEANUP_FINALIZER]
                return cur

            try:
                await crd_store.patch(None, name, release, requests.WriteOptions())
            except errors.NotFound:
                pass
        finally:
            self._cleaning.discard(name)
