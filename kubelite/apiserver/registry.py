"""The generic registry: one ``Store`` serves every resource (upstream's genericregistry.Store).

A resource is a ``ResourceInfo`` declaration plus a strategy; the store does the rest
with Kubernetes semantics: uid/creationTimestamp/generation, optimistic concurrency on
resourceVersion, generateName, finalizers and deletionTimestamp, graceful deletion,
status subresources, consistent and paged lists, watches from the watch cache.

Objects are plain dicts. What is stored is the object without its resourceVersion (the
store's revision is the resourceVersion, as with etcd). The HTTP handlers in
``kubelite.apiserver.handlers`` call ``Store`` methods; nothing else writes to storage.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from kubelite.api import (
    defaults,
    errors,
    fieldselectors,
    meta,
    omitempty,
    schema,
    scheme,
    selectors,
)
from kubelite.api.patch import deep_copy
from kubelite.apiserver import deletion, listing, managedfields, quotaadmission, requests, watchcache
from kubelite.apiserver.strategies import base
from kubelite.storage import errors as storage_errors
from kubelite.storage import interface as storage

log = logging.getLogger("kubelite.apiserver.registry")

Obj = dict[str, Any]
Mutation = Callable[[Obj], Awaitable[Obj] | Obj]

MAX_CONFLICT_RETRIES = 16
GENERATED_NAME_ATTEMPTS = 8  # upstream's maxNameGenerationCreateAttempts
ListResult = listing.ListResult  # re-exported: handlers and tests name it here


@dataclass
class DeleteResult:
    obj: Obj | None      # the object as it is now (None when it is gone)
    last: Obj            # the last state of the object
    deleted: bool        # gone from storage now (False: waiting for grace or finalizers)


def encode_stored(obj: Obj) -> bytes:
    """The bytes stored for ``obj``: the object without its resourceVersion."""
    md = obj["metadata"]
    rv = md.pop("resourceVersion", None)
    try:
        return orjson.dumps(obj)
    finally:
        if rv is not None:
            md["resourceVersion"] = rv


def _rv(obj: Obj) -> int:
    value = obj.get("metadata", {}).get("resourceVersion") or "0"
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid resourceVersion "{value}"') from None






class Registry:
    """Every store of this API server, by (group, plural); shared context for strategies."""

    def __init__(self, *, backend: storage.StorageBackend, cache: watchcache.WatchCache,
                 scheme_: scheme.Scheme) -> None:
        self.backend = backend
        self.cache = cache
        self.scheme = scheme_
        self.stores: dict[tuple[str, str, str], Store] = {}
        self._indexes: dict[tuple[str, str], watchcache.NamespaceIndex] = {}
        self.quota = quotaadmission.QuotaAdmission(self)

    def namespace_index(self, group: str, plural: str) -> watchcache.NamespaceIndex:
        """A resource's objects by namespace, for admission (``watchcache.NamespaceIndex``)."""
        index = self._indexes.get((group, plural))
        if index is None:
            index = self._indexes[(group, plural)] = watchcache.NamespaceIndex(self.cache.resource(group, plural))
        return index

    def add(self, info: scheme.ResourceInfo, strategy: base.Strategy) -> Store:
        store = Store(info=info, strategy=strategy, registry=self)
        strategy.store = store
        self.stores[(info.group, info.version, info.plural)] = store
        return store

    def remove(self, group: str, version: str, plural: str) -> None:
        self.stores.pop((group, version, plural), None)

    def get(self, group: str, version: str, plural: str) -> Store | None:
        return self.stores.get((group, version, plural))

    def by_plural(self, group: str, plural: str) -> Store | None:
        for (g, _v, p), store in self.stores.items():
            if g == group and p == plural:
                return store
        return None

    async def check_namespace_for_create(self, namespace: str, *, resource: str, group: str, name: str) -> None:
        """NamespaceLifecycle admission: the namespace must exist and not be terminating
        (``name``, of the ``resource`` created, is only for the refusal's words)."""
        ns_store = self.by_plural("", "namespaces")
        if ns_store is None:
            return
        ns = ns_store.cache.objects.get(ns_store.info.key(None, namespace))
        if ns is None:
            await self.cache.wait_fresh()
            ns = ns_store.cache.objects.get(ns_store.info.key(None, namespace))
        if ns is None:
            raise errors.not_found(resource="namespaces", group="", name=namespace)
        if ns.get("metadata", {}).get("deletionTimestamp") or ns.get("status", {}).get("phase") == "Terminating":
            raise errors.namespace_terminating(resource=resource, group=group, name=name, namespace=namespace)


class Store:
    """Kubernetes semantics for one resource over the storage backend and the watch cache."""

    def __init__(self, *, info: scheme.ResourceInfo, strategy: base.Strategy, registry: Registry) -> None:
        self.info = info
        self.strategy = strategy
        self.registry = registry
        self.backend = registry.backend
        storage_group = info.storage_group if info.storage_group is not None else info.group
        self.cache = registry.cache.resource(storage_group, info.storage_plural or info.plural)

    # --- helpers -----------------------------------------------------------------------

    def _not_found(self, name: str) -> errors.NotFound:
        return errors.not_found(resource=self.info.plural, group=self.info.group, name=name)

    def _conflict(self, name: str, why: str = errors.OBJECT_MODIFIED) -> errors.Conflict:
        return errors.conflict(resource=self.info.plural, group=self.info.group, name=name, why=why)

    def _invalid(self, name: str, causes: list[errors.Cause]) -> errors.Invalid:
        return errors.invalid(kind=self.info.kind, group=self.info.group, name=name, causes=causes)

    def predicate(self, opts: requests.ListOptions) -> Callable[[Obj], bool] | None:
        label = selectors.parse_label_selector(opts.label_selector) if opts.label_selector else None
        field = fieldselectors.parse_field_selector(opts.field_selector) if opts.field_selector else None
        if field is not None:
            fieldselectors.validate_field_selector(self.info.group, self.info.plural, field)
        if (label is None or label.empty) and (field is None or not field.requirements):
            return None
        fields_of = self.strategy.selectable_fields

        def match(obj: Obj) -> bool:
            if label is not None and not label.matches(obj.get("metadata", {}).get("labels")):
                return False
            return field is None or field.matches(fields_of(obj))

        return match

    async def _current(self, namespace: str | None, name: str, *, fresh: bool = True) -> Obj:
        if fresh:
            await self.registry.cache.wait_fresh()
        obj = self.cache.objects.get(self.info.key(namespace, name))
        if obj is None:
            raise self._not_found(name)
        return obj

    # --- reads -------------------------------------------------------------------------

    async def get(self, namespace: str | None, name: str, *, resource_version: str = "") -> Obj:
        if resource_version and resource_version != "0":
            await self.registry.cache.wait_for(int(resource_version))
            return await self._current(namespace, name, fresh=False)
        return await self._current(namespace, name, fresh=resource_version != "0")

    async def list(self, namespace: str | None, opts: requests.ListOptions) -> ListResult:
        predicate = self.predicate(opts)
        cache = self.registry.cache
        start_key = ""
        if opts.continue_token:
            token = requests.ContinueToken.decode(opts.continue_token)
            start_key = token.start_key
            if token.revision != cache.revision:
                return await self._list_from_storage(namespace, opts, predicate, token.revision, start_key)
        elif opts.resource_version_match == "Exact":
            return await self._list_from_storage(namespace, opts, predicate, int(opts.resource_version), "")
        elif opts.resource_version == "0":
            pass  # any version is fine: the cache as it is
        elif opts.resource_version:
            await cache.wait_for(int(opts.resource_version))
        else:
            await cache.wait_fresh()
        return listing.from_cache(self.cache.iter_objects(namespace, start_key=start_key), cache.revision,
                                  opts, predicate)

    async def _list_from_storage(self, namespace: str | None, opts: requests.ListOptions,
                                 predicate: Callable[[Obj], bool] | None, revision: int,
                                 start_key: str) -> ListResult:
        prefix = self.cache.ns_prefix(namespace) or self.cache.prefix
        return await listing.from_storage(self.backend, prefix, opts, predicate, revision=revision,
                                          start_key=start_key)

    async def watch(self, namespace: str | None, opts: requests.ListOptions) -> tuple[watchcache.Watcher, int]:
        """Subscribe; returns the watcher and the revision its initial state reflects.

        Selectors are checked first and refused as the request's answer (400). What goes
        wrong after that (a resourceVersion older than the cache's window: 410 Expired; one
        the cache does not reach in time for ``sendInitialEvents``: 504 Timeout) comes back
        as a watcher that holds only that error, which the stream sends as one ``ERROR``
        event: upstream's cacher answers such watches with its errWatcher, so a client sees
        HTTP 200 and the Status in the stream (lightkube, kr8s and kopf handle only that).
        """
        predicate = self.predicate(opts)
        trigger = None
        if self.cache.trigger_field is not None and opts.field_selector:
            field = fieldselectors.normalize_field_selector(self.info.group, self.info.plural,
                                                            fieldselectors.parse_field_selector(opts.field_selector))
            trigger = field.exact_value(self.cache.trigger_field)
        cache = self.registry.cache
        await cache.ready.wait()
        try:
            send_initial, since = await self._watch_start(opts)
            watcher = self.cache.subscribe(namespace=namespace, predicate=predicate, since=since,
                                           revision=cache.revision, send_initial=send_initial, trigger=trigger)
        except errors.StatusError as exc:
            return watchcache.Watcher.failed(exc), cache.revision
        return watcher, cache.revision

    async def _watch_start(self, opts: requests.ListOptions) -> tuple[bool, int]:
        """Whether a watch starts with the current state (synthetic ADDED events), and the
        revision after which it replays events otherwise."""
        cache = self.registry.cache
        rv = opts.resource_version
        if opts.send_initial_events:
            # The state sent must be at least as new as asked (upstream waits up to 3 s):
            # unset, the store's current revision; "0", any.
            if rv == "":
                await cache.wait_fresh()
            elif rv != "0":
                await cache.wait_for(int(rv))
            return True, 0
        if rv in ("", "0"):
            if rv == "":
                await cache.wait_fresh()
            if opts.send_initial_events is False:
                return False, cache.revision  # explicitly no initial state: changes from now on
            # Unset: the current state first, as synthetic ADDED events (then changes).
            return True, 0
        # A revision the cache has not reached yet is not waited for (as upstream): the
        # watch starts now and skips the events up to it.
        return False, int(rv)

    # --- create ------------------------------------------------------------------------

    def _check_identity(self, obj: Obj, namespace: str | None) -> None:
        if not isinstance(obj, dict):
            raise errors.BadRequest("the request body must be a JSON object")
        md = obj.get("metadata")
        if md is None:
            md = obj["metadata"] = {}
        if not isinstance(md, dict):
            raise errors.BadRequest("metadata must be an object")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        expected_version = self.strategy.internal_api_version
        if api_version and api_version != expected_version:
            raise errors.BadRequest(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({self.info.api_version})")
        if kind and kind != self.info.kind:
            raise errors.BadRequest(
                f"the kind in the data ({kind}) does not match the expected kind ({self.info.kind})")
        obj["apiVersion"], obj["kind"] = expected_version, self.info.kind
        if self.info.namespaced:
            body_ns = md.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise errors.BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request")
            if namespace:
                md["namespace"] = namespace
        else:
            md.pop("namespace", None)

    async def create(self, namespace: str | None, obj: Obj, opts: requests.WriteOptions) -> Obj:
        given = obj.get("metadata") if isinstance(obj, dict) else None
        generated = not (given.get("name") if isinstance(given, dict) else None)
        obj = self._prepare_create(namespace, obj)
        md = obj["metadata"]
        generated = generated and bool(md.get("generateName"))
        if self.info.namespaced:
            # admission runs before the name is generated: a refusal names the generateName (upstream)
            await self.registry.check_namespace_for_create(
                md["namespace"], resource=self.info.plural, group=self.info.group,
                name=md.get("generateName", "") if generated else md.get("name", ""))
        # Recorded before admission, as upstream: what admission adds is nobody's write.
        self._record_manager(obj, None, opts)
        await self.strategy.admit_create(obj)
        # ResourceQuota admission comes last, as upstream's: it charges what the others admitted
        charge = await self.registry.quota.admit(self.info, obj, None, dry_run=opts.dry_run)
        if opts.dry_run:
            return obj
        try:
            revision = await self._create_with_retries(obj, generated=generated)
        except Exception:
            await self.registry.quota.refund(charge)
            raise
        md["resourceVersion"] = str(revision)
        return obj

    async def _create_with_retries(self, obj: Obj, *, generated: bool) -> int:
        md = obj["metadata"]
        for attempt in range(1, GENERATED_NAME_ATTEMPTS + 1):
            key = self.info.key(md.get("namespace"), md["name"])
            try:
                revision: int = await self._write(key, obj, functools.partial(self.backend.create, key))
                return revision
            except storage_errors.KeyExists:
                # As upstream (RetryGenerateName): a generated name that is taken already is
                # generated again: with 5 random characters, among 100,000 objects of a
                # prefix one create in ~140 draws a taken name.
                if not generated or attempt == GENERATED_NAME_ATTEMPTS:
                    raise self._exists(md["name"]) from None
                md["name"] = meta.generate_name(md["generateName"])
        raise self._exists(md["name"])

    def _exists(self, name: str) -> errors.StatusError:
        return errors.already_exists(resource=self.info.plural, group=self.info.group, name=name)

    def _prepare_create(self, namespace: str | None, obj: Obj) -> Obj:
        """A create up to its admission, synchronously: identity, system fields, defaults,
        validation (raises its refusals)."""

        obj = self.strategy.to_internal(obj)
        self._check_identity(obj, namespace)
        md = obj["metadata"]
        if not md.get("name") and md.get("generateName"):
            md["name"] = meta.generate_name(md["generateName"])
        for system_field in ("uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                             "selfLink"):
            md.pop(system_field, None)
        md["creationTimestamp"] = meta.now_rfc3339()
        md["uid"] = meta.new_uid()
        if self.strategy.tracks_generation:
            md["generation"] = 1
        else:
            md.pop("generation", None)
        defaults.apply_defaults(self.info.group, self.info.kind, obj)
        self.strategy.prepare_for_create(obj)
        causes = self.strategy.validate(obj)
        if causes:
            raise self._invalid(md.get("name") or md.get("generateName") or "", causes)
        return obj

    def _record_manager(self, new: Obj, old: Obj | None, opts: requests.WriteOptions, *,
                        subresource: str = "") -> None:
        """The write's ``Update`` entry in ``metadata.managedFields`` (``managedfields``);
        an apply records its own (``apply``), the server's own writes none."""
        if opts.apply or subresource not in managedfields.RECORDED_SUBRESOURCES:
            return
        manager = managedfields.manager_name(opts.field_manager, opts.user_agent)
        if not manager:
            return
        managedfields.record(new, old, manager=manager, node=self.field_schema(), subresource=subresource,
                             has_status=self.info.has_status)

    def field_schema(self) -> schema.Node | None:
        """The schema of a whole object, for field ownership: a built-in kind's OpenAPI
        definition, a custom resource's CRD schema (``crds.CustomResourceInfo``)."""
        return schema.root(self.info.group, self.info.version, self.info.kind) or \
            getattr(self.info, "schema_node", None)

    # --- update / patch ----------------------------------------------------------------

    async def update(self, namespace: str | None, name: str, obj: Obj, opts: requests.WriteOptions, *,
                     subresource: str = "") -> tuple[Obj, bool]:
        """PUT: replace the object (or its status). Returns (object, created)."""
        obj = self.strategy.to_internal(obj)
        self._check_identity(obj, namespace)
        body_name = obj["metadata"].get("name")
        if body_name and body_name != name:
            raise errors.BadRequest(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        obj["metadata"]["name"] = name
        expected = _rv(obj)
        if not expected and not self.strategy.allow_unconditional_update:
            # Upstream's Store.Update for strategies that refuse an update without a version
            # (CustomResourceDefinitions, custom resources): a PUT must say what it replaces.
            raise self._invalid(name, [errors.invalid_value("metadata.resourceVersion", "",
                                                            "must be specified for an update")])
        try:
            # Read only to answer 404 / create-on-update before the retry loop; the cache as
            # it is will do when it has the object, a fresh read decides when it has not.
            current = self.cache.objects.get(self.info.key(namespace, name)) or \
                await self._current(namespace, name)
        except errors.NotFound:
            if self.strategy.allow_create_on_update and not subresource:
                return await self.create(namespace, obj, opts), True
            raise
        del current
        return await self._guaranteed_update(namespace, name, lambda cur: deep_copy(obj), opts,
                                             subresource=subresource, precondition=expected), False

    async def patch(self, namespace: str | None, name: str, mutate: Mutation, opts: requests.WriteOptions, *,
                    subresource: str = "", copy: Callable[[Obj], Obj] = deep_copy) -> Obj:
        """PATCH: ``mutate`` turns the current object into the new one (re-run on conflicts).
        It gets ``copy(current)``: a deep copy unless the caller knows what ``mutate`` and
        the update path change (``pods.copy_for_binding``)."""

        async def apply(cur: Obj) -> Obj:
            result = mutate(copy(cur))
            if isinstance(result, Awaitable):
                result = await result
            new = self.strategy.to_internal(result)
            self._check_identity(new, namespace)
            if new["metadata"].get("name", name) != name:
                raise errors.BadRequest("the name of the object may not be changed by a patch")
            new["metadata"]["name"] = name
            return new

        return await self._guaranteed_update(namespace, name, apply, opts, subresource=subresource,
                                             precondition=None)

    async def _guaranteed_update(self, namespace: str | None, name: str, make: Callable[[Obj], Any],
                                 opts: requests.WriteOptions, *, subresource: str,
                                 precondition: int | None) -> Obj:
        """Read-modify-write with optimistic concurrency, retried while nobody asked for a version.

        The first attempt works on the watch cache's object as it is, without waiting for
        the cache to catch up with the store (as upstream's GuaranteedUpdate starts from its
        cached object): the store's compare-and-swap on the revision refuses it if the cache
        was behind. Only a stored write is accepted from that attempt; a conflict, a no-op,
        a refusal or a missing object is decided again on a fresh read. Under a write burst
        the cache trails the store by up to a second, and a Lease renewal or a binding must
        not wait for it.
        """
        for attempt in range(MAX_CONFLICT_RETRIES):
            optimistic = attempt == 0 and not opts.dry_run
            try:
                current = await self._current(namespace, name, fresh=not optimistic)
            except errors.NotFound:
                if optimistic:
                    continue
                raise
            cur_rv = _rv(current)
            try:
                new = make(current)
                if isinstance(new, Awaitable):
                    new = await new
                # A resourceVersion in the body (PUT) or in the patch is a precondition.
                wanted = precondition if precondition is not None else _rv(new) if _rv(new) != cur_rv else 0
                if wanted and wanted != cur_rv:
                    if optimistic:
                        continue
                    raise self._conflict(name)
                result = await self._write_update(namespace, name, new, current, opts, subresource=subresource,
                                                  confirm_noop=optimistic)
            except errors.StatusError:
                if optimistic:
                    continue
                raise
            if result is not None:
                return result
            if (precondition or wanted) and not optimistic:
                raise self._conflict(name)
        raise self._conflict(name, "too many concurrent writers; try again")

    async def _write_update(self, namespace: str | None, name: str, new: Obj, current: Obj,
                            opts: requests.WriteOptions, *, subresource: str,
                            confirm_noop: bool = False) -> Obj | None:
        """Prepare, validate and store one update; None when the store moved on (retry) or,
        with ``confirm_noop``, when nothing changed against a possibly stale ``current``."""
        step, new, key, expected = self._prepare_update(namespace, name, new, current, opts,
                                                        subresource=subresource, confirm_noop=confirm_noop)
        if step == "done":
            return new
        md = new["metadata"]
        if step == "delete":
            # The last finalizer went: the object goes.
            revision = await self._conditional(name, self.backend.delete(key, expected_revision=expected))
            if revision is None:
                return None
            md["resourceVersion"] = str(revision)
            return new
        # updates that change what an object costs (a Service's type, a claim's size) are
        # charged too; the charge is taken back when the write does not happen
        charge = await self.registry.quota.admit(self.info, new, current, dry_run=False) if not subresource else None
        try:
            revision = await self._write(key, new, lambda value: self._conditional(
                name, self.backend.update(key, value, expected_revision=expected)))
        except Exception:
            await self.registry.quota.refund(charge)
            raise
        if revision is None:
            await self.registry.quota.refund(charge)
            return None
        md["resourceVersion"] = str(revision)
        return new

    def _prepare_update(self, namespace: str | None, name: str, new: Obj, current: Obj,
                        opts: requests.WriteOptions, *, subresource: str,
                        confirm_noop: bool) -> tuple[str, Any, str, int]:
        """Everything of an update before its storage write, synchronously: ``("done",
        answer, …)`` when nothing is to be written (a no-op, a dry run; the answer None
        asks for a retry on a fresh read), else ``("update" | "delete", new, key,
        expected revision)``. Raises the update's refusals."""
        old = current
        if subresource == "status":
            new = self.strategy.prepare_for_status_update(new, old)
        elif subresource in ("", "scale"):
            # Upstream defaults every object it decodes, an update's body, a patch's or an
            # apply's result too: a replace with a minimal manifest, or an apply that stopped
            # setting a defaulted field, gets the default back instead of a 422.
            defaults.apply_defaults(self.info.group, self.info.kind, new)
            self.strategy.prepare_for_update(new, old)
        # Other subresources (binding, finalize) were prepared by their handler.
        md, old_md = new["metadata"], old["metadata"]
        # System fields a client cannot change. A uid left out is the stored one; another
        # one is refused by validation (field is immutable), as upstream's BeforeUpdate: a
        # write meant for an object deleted and re-created under its name must not land.
        for system_field in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if system_field in old_md:
                md[system_field] = old_md[system_field]
            else:
                md.pop(system_field, None)
        if not md.get("uid") and "uid" in old_md:
            md["uid"] = old_md["uid"]
        elif md.get("uid") != old_md.get("uid"):  # status and other subresources included
            raise self._invalid(name, [errors.invalid_value("metadata.uid", md.get("uid"), meta.FIELD_IMMUTABLE)])
        if self.info.namespaced:
            md["namespace"] = old_md.get("namespace")
        if old_md.get("deletionTimestamp"):
            added = set(md.get("finalizers") or []) - set(old_md.get("finalizers") or [])
            if added:
                raise self._invalid(name, [errors.forbidden_field(
                    "metadata.finalizers", f"no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)}")])
        if self.strategy.tracks_generation:
            generation = old_md.get("generation") or 1
            # A binding writes storage directly upstream (BindingREST), past the strategy
            # that bumps a pod's generation on spec changes: nodeName set by the scheduler
            # leaves the generation as it was.
            changed = subresource != "binding" and self.strategy.spec_changed(new, old)
            if changed:
                changed = self._spec_changed_since_stored(new, old)
            md["generation"] = generation + 1 if changed else generation
        else:
            md.pop("generation", None)
        md["resourceVersion"] = old_md.get("resourceVersion")
        if subresource == "status":
            causes = self.strategy.validate_status_update(new, old)
        elif subresource in ("", "scale"):
            causes = self.strategy.validate_update(new, old)
        elif subresource == "binding":
            # As upstream's assignPod: the binding sets spec.nodeName and the PodScheduled
            # condition, both checked by pods.bind; the rest of the pod is as validated on
            # its way in (a full pod validation per binding was a third of a binding's cost).
            causes = []
        else:
            causes = self.strategy.validate_subresource_update(subresource, new, old)
        if causes:
            raise self._invalid(name, causes)
        # A binding always sets an empty spec.nodeName (pods.bind refuses a bound pod): never
        # a no-op, and the deep comparison of two whole pods is skipped.
        if subresource != "binding" and new == old:
            # A no-op update keeps the resourceVersion, as upstream; against a cached object
            # that may be stale, only a fresh read can say nothing changed.
            return "done", None if confirm_noop else old, "", 0
        self._record_manager(new, old, opts, subresource=subresource)
        if opts.dry_run:
            return "done", new, "", 0
        key = self.info.key(namespace, name)
        expected = _rv(old)
        if md.get("deletionTimestamp") and not self.strategy.pending_finalizers(new) \
                and not md.get("deletionGracePeriodSeconds"):
            return "delete", new, key, expected
        return "update", new, key, expected

    def _spec_changed_since_stored(self, new: Obj, old: Obj) -> bool:
        """``spec_changed`` against ``old`` as upstream decodes it: an object stored before
        kubelite dropped omitempty zero values (the handlers drop them from every write,
        ``omitempty``) may hold an ``env: []`` the new one lost, which upstream's Go structs
        cannot tell from no ``env``. Asked only once a change was seen, which is rare
        next to status writes and no-op updates."""
        plan = None if getattr(self.info, "crd_name", "") else \
            omitempty.plan_for(self.info.group, self.info.version, self.info.kind)
        if plan is None:
            return True
        settled = deep_copy(old)
        if not omitempty.normalize(settled, plan):
            return True
        return self.strategy.spec_changed(new, settled)

    async def _write(self, key: str, obj: Obj, write: Callable[[bytes], Awaitable[Any]]) -> Any:
        """Store ``obj`` under ``key`` through ``write(value)``, telling the watch cache the
        object behind the bytes so its event is not decoded again. A write that fails or
        comes back None (conflict) withdraws the hint."""
        value = encode_stored(obj)
        cache = self.registry.cache
        cache.hint(key, value, obj)
        try:
            result = await write(value)
        except BaseException:
            cache.drop_hint(key, value)
            raise
        if result is None:
            cache.drop_hint(key, value)
        return result

    async def _conditional(self, name: str, write: Awaitable[Any]) -> int | None:
        """A conditional storage write: its revision, None when the object moved on (retry)."""
        try:
            result = await write
        except storage_errors.RevisionMismatch:
            return None
        except storage_errors.KeyNotFound:
            raise self._not_found(name) from None
        return result[0] if isinstance(result, tuple) else int(result)

    # --- delete ------------------------------------------------------------------------

    async def delete(self, namespace: str | None, name: str, opts: requests.DeleteOptions) -> DeleteResult:
        self.strategy.admit_delete(name)
        for _attempt in range(MAX_CONFLICT_RETRIES):
            current = await self._current(namespace, name)
            result = await self._delete_once(namespace, name, current, opts)
            if result is not None:
                return result
        raise self._conflict(name, "too many concurrent writers; try again")

    async def _delete_once(self, namespace: str | None, name: str, current: Obj,
                           opts: requests.DeleteOptions) -> DeleteResult | None:
        outcome = deletion.plan(self.strategy, current, opts, functools.partial(self._conflict, name))
        new = outcome.new
        key = self.info.key(namespace, name)
        expected = _rv(current)
        if not outcome.delete_now:
            if opts.dry_run or new == current:
                return DeleteResult(obj=new, last=new, deleted=False)
            revision = await self._write(key, new, lambda value: self._conditional(
                name, self.backend.update(key, value, expected_revision=expected)))
            if revision is None:
                return None
            new["metadata"]["resourceVersion"] = str(revision)
            return DeleteResult(obj=new, last=new, deleted=False)
        if opts.dry_run:
            return DeleteResult(obj=None, last=current, deleted=True)
        revision = await self._conditional(name, self.backend.delete(key, expected_revision=expected))
        if revision is None:
            return None
        last = deep_copy(current)
        last["metadata"]["resourceVersion"] = str(revision)
        return DeleteResult(obj=None, last=last, deleted=True)

    async def delete_collection(self, namespace: str | None, lopts: requests.ListOptions,
                                dopts: requests.DeleteOptions) -> list[Obj]:
        listed = await self.list(namespace, requests.ListOptions(
            label_selector=lopts.label_selector, field_selector=lopts.field_selector))
        out: list[Obj] = []
        for obj in listed.items:
            md = obj["metadata"]
            try:
                result = await self.delete(md.get("namespace"), md["name"], dopts)
            except errors.NotFound:
                continue
            out.append(result.obj or result.last)
        return out

