"""The objects every cluster has, created at start and kept: upstream's bootstrap controllers.

``ensure_cluster_objects`` runs once when the server starts: the system namespaces, the
system PriorityClasses, the default RBAC policy (``authz.policy``), the ``local-path``
default StorageClass and the ``kube-dns``
Service of ``kube-system`` (the cluster DNS address 10.43.0.10, as k3s's; the agents answer
on it, see ``kubelite.proxy``; the Service holds the address so that no other Service is
given it), each created when missing. ``SystemObjects`` then keeps what upstream's API server keeps alive while it
runs, every ``RECONCILE_EVERY`` seconds:

- the system namespaces (pkg/controlplane/controller/systemnamespaces: created again when
  missing; ``default``, ``kube-system`` and ``kube-public`` cannot be deleted at all, see
  ``strategies.core.NamespaceStrategy.admit_delete``, but ``kube-node-lease`` can);
- the ``kubernetes`` Service in ``default`` (pkg/controlplane/controller/kubernetesservice:
  created when missing, never updated: a deleted one comes back within seconds), its
  Endpoints, labelled ``endpointslice.kubernetes.io/skip-mirror: "true"``, and its
  EndpointSlice ``kubernetes`` labelled ``kubernetes.io/service-name: kubernetes`` (and no
  ``managed-by``: the EndpointSlice controller leaves Services without a selector alone),
  as pkg/controlplane/reconcilers/endpointsadapter.go writes them.

Several API servers (HA on etcd) all run this: every write is a create that tolerates
AlreadyExists or an update conditional on the resourceVersion it read, whose Conflict is
left to the next round, so they never fight. Upstream's lease reconciler lists the address
of every live API server in the Endpoints; kubelite knows its peers' addresses only from
the Endpoints themselves, so with several servers the Endpoints keep whichever server's
address got there first (and the EndpointSlice follows the Endpoints), and only a single
server (SQLite) resets them to its own address and port.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from kubelite.api import errors
from kubelite.api.patch import deep_copy
from kubelite.apiserver import registry, requests
from kubelite.apiserver.authz import controller_policy, policy, reconcile

log = logging.getLogger("kubelite.apiserver.bootstrap")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Upstream reconciles the kubernetes Service every 10 s (--endpoint-reconciler interval) and
# the system namespaces every minute; both are a few dictionary look-ups here.
RECONCILE_EVERY = 5.0
SERVICE_NAME = "kubernetes"
SERVICE_NAMESPACE = "default"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# The manager of the server's own writes, as upstream's loopback client (User-Agent
# kube-apiserver/…) is named in managedFields.
MANAGER = "kube-apiserver"

Obj = dict[str, Any]


def _options() -> requests.WriteOptions:
    return requests.WriteOptions(field_manager=MANAGER)


async def _create(store: registry.Store, namespace: str | None, obj: Obj) -> bool:
    """Create ``obj``; False when it exists already (another server, or a stale cache)."""
    try:
        await store.create(namespace, obj, _options())
    except errors.AlreadyExists:
        return False
    return True


async def ensure_cluster_objects(reg: registry.Registry) -> None:
    """System namespaces, the system PriorityClasses, the ``local-path`` default
    StorageClass and the ``kube-dns`` Service, each created when missing, and the default
    RBAC policy, created and reconciled (``reconcile_policy``); once, at start."""
    await ensure_namespaces(reg)
    # Built-in PriorityClasses (upstream's scheduling bootstrap) and the default
    # StorageClass served by the agents' local-path volumes (as k3s ships one).
    cluster_objects: list[tuple[str, str, Obj]] = [
        ("scheduling.k8s.io", "priorityclasses", {
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value,
            "description": "Used for system critical pods that must not be moved from their current node."
            if name == "system-node-critical" else "Used for system critical pods that must run in the cluster, "
                                                   "but can be moved to another node if necessary."})
        for name, value in (("system-node-critical", 2000001000), ("system-cluster-critical", 2000000000))]
    cluster_objects.append(("storage.k8s.io", "storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kubelite.io/local-path", "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"}))
    for group, plural, obj in cluster_objects:
        store = reg.by_plural(group, plural)
        if store is not None and store.cache.objects.get(store.info.key(None, obj["metadata"]["name"])) is None:
            await _create(store, None, obj)
    await reconcile_policy(reg)
    await _ensure_dns_service(reg)


# Rounds of read, then create or update, for one default RBAC object before giving up
# until the next start: each round loses only to another server's write of that object.
POLICY_ATTEMPTS = 5


async def reconcile_policy(reg: registry.Registry) -> None:
    """The default RBAC policy (upstream's bootstrappolicy and its PostStartHook): each
    default ClusterRole, ClusterRoleBinding, and Role and RoleBinding of ``kube-system``,
    created when missing and, unless annotated ``autoupdate: "false"``, given back the
    rules and subjects it lost (``authz.reconcile``). Safe with several servers starting at
    once: creates tolerate AlreadyExists, updates are compare-and-swapped on the
    resourceVersion and recomputed on conflict."""
    defaults = (
        ("clusterroles", policy.cluster_roles() + controller_policy.cluster_roles()),
        ("clusterrolebindings", policy.cluster_role_bindings() + controller_policy.cluster_role_bindings()),
        ("roles", policy.namespace_roles()),
        ("rolebindings", policy.namespace_role_bindings()),
    )
    for plural, objects in defaults:
        store = reg.by_plural(policy.RBAC_GROUP, plural)
        if store is None:
            continue
        for expected in objects:
            try:
                await _reconcile_default(store, expected)
            except errors.StatusError as exc:  # a later start tries again; the server serves meanwhile
                log.warning("default policy not reconciled kind=%s object=%s error=%s", expected["kind"],
                            _ref(expected), exc)


def _ref(obj: Obj) -> str:
    md = obj["metadata"]
    return f"{md['namespace']}/{md['name']}" if md.get("namespace") else str(md["name"])


async def _reconcile_default(store: registry.Store, expected: Obj) -> None:
    name = expected["metadata"]["name"]
    namespace = expected["metadata"].get("namespace")
    is_role = expected["kind"] in ("ClusterRole", "Role")
    fix = reconcile.role if is_role else reconcile.binding

    def mutate(current: Obj) -> Obj:
        # re-run on every conflict, against the object as the other writer left it
        if not reconcile.protected(current):
            fix(current, expected)
        return current

    for _ in range(POLICY_ATTEMPTS):
        try:
            current = await store.get(namespace, name)
        except errors.NotFound:
            if await _create(store, namespace, deep_copy(expected)):
                log.info("default policy created kind=%s object=%s", expected["kind"], _ref(expected))
                return
            continue  # another server created it first: reconcile theirs
        if reconcile.protected(current):
            return
        if not is_role and reconcile.needs_recreate(current, expected):
            # roleRef is immutable: upstream deletes the binding and creates the default
            uid = current["metadata"].get("uid", "")
            try:
                await store.delete(namespace, name, requests.DeleteOptions(preconditions={"uid": uid}))
            except (errors.NotFound, errors.Conflict):
                pass
            continue
        if not fix(deep_copy(current), expected):
            return
        try:
            await store.patch(namespace, name, mutate, _options())
        except errors.NotFound:
            continue  # deleted meanwhile: create it
        log.info("default policy reconciled kind=%s object=%s", expected["kind"], _ref(expected))
        return
    raise errors.Conflict(f"default {expected['kind']} {_ref(expected)} kept changing; left to the next start")


KUBE_DNS_IP = "10.43.0.10"


async def _ensure_dns_service(reg: registry.Registry) -> None:
    store = reg.by_plural("", "services")
    assert store is not None
    labels = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}
    ports = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
           "spec": {"clusterIP": KUBE_DNS_IP, "ports": ports}}
    try:
        await _create(store, "kube-system", svc)
    except errors.StatusError as exc:  # the address is a user Service's (made before kubelite had DNS)
        log.warning("no kube-dns service: %s", exc)


async def ensure_namespaces(reg: registry.Registry) -> list[str]:
    """Create the system namespaces that are missing; the names created."""
    store = reg.by_plural("", "namespaces")
    assert store is not None
    created = []
    for name in SYSTEM_NAMESPACES:
        if store.cache.objects.get(store.info.key(None, name)) is not None:
            continue
        if await _create(store, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}):
            created.append(name)
    return created


class SystemObjects:
    """Keeps the system namespaces and the ``kubernetes`` Service with its Endpoints and
    EndpointSlice (see the module's docstring). ``address`` and ``port``: where this server
    is reached (``--advertise-address`` and the port it listens on); ``sole_server``: no
    other API server shares the datastore (SQLite), so the Endpoints name this one only."""

    def __init__(self, reg: registry.Registry, *, address: str, port: int, sole_server: bool) -> None:
        self.registry = reg
        self.address = address
        self.port = port
        self.sole_server = sole_server

    def _store(self, group: str, plural: str) -> registry.Store:
        store = self.registry.by_plural(group, plural)
        assert store is not None
        return store

    def _cached(self, store: registry.Store, name: str) -> Obj | None:
        return store.cache.objects.get(store.info.key(SERVICE_NAMESPACE, name))

    # --- desired state -------------------------------------------------------------------

    def service(self) -> Obj:
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": SERVICE_NAME, "namespace": SERVICE_NAMESPACE,
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.port}],
                         "sessionAffinity": "None", "type": "ClusterIP", "ipFamilyPolicy": "SingleStack"}}

    def endpoint_ports(self) -> list[Obj]:
        return [{"name": "https", "port": self.port, "protocol": "TCP"}]

    def endpoints(self, current: Obj | None) -> Obj:
        """The Endpoints as they should be, from ``current`` (None: missing)."""
        new: Obj = deep_copy(current) if current is not None else {
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": SERVICE_NAME, "namespace": SERVICE_NAMESPACE}}
        new["metadata"]["labels"] = {SKIP_MIRROR: "true"}
        subsets: list[Obj] = new.get("subsets") or []
        usable = len(subsets) == 1 and subsets[0].get("addresses") and subsets[0].get("ports")
        if self.sole_server or not usable:
            new["subsets"] = [{"addresses": [{"ip": self.address}], "ports": self.endpoint_ports()}]
        return new

    @staticmethod
    def endpoint_slice(endpoints: Obj, current: Obj | None) -> Obj:
        """The EndpointSlice mirroring ``endpoints`` (upstream's endpointSliceFromEndpoints)."""
        subset: Obj = (endpoints.get("subsets") or [{}])[0]
        addresses = [a["ip"] for a in subset.get("addresses") or [] if a.get("ip")]
        v6 = bool(addresses) and all(_is_ipv6(ip) for ip in addresses)
        new: Obj = deep_copy(current) if current is not None else {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": SERVICE_NAME, "namespace": SERVICE_NAMESPACE}}
        new["metadata"]["labels"] = {SERVICE_NAME_LABEL: SERVICE_NAME}
        new["addressType"] = "IPv6" if v6 else "IPv4"
        new["endpoints"] = [{"addresses": [ip], "conditions": {"ready": True}}
                            for ip in addresses if _is_ipv6(ip) == v6]
        new["ports"] = [{"name": p.get("name", ""), "port": p.get("port"), "protocol": p.get("protocol", "TCP")}
                        for p in subset.get("ports") or []]
        return new

    # --- reconcile -------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """One round: namespaces, then the Service, its Endpoints and EndpointSlice. A
        failure of one step is logged and left to the next round."""
        for step in (self._namespaces, self._service, self._endpoints):
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except (errors.Conflict, errors.AlreadyExists, errors.NotFound):
                pass  # another server (or the namespace controller) moved first: next round
            except Exception as exc:  # noqa: BLE001 - a round must not end the loop
                log.warning("reconciling system objects failed step=%s error=%r", step.__name__, exc)

    async def _namespaces(self) -> None:
        created = await ensure_namespaces(self.registry)
        if created:
            log.info("created missing system namespaces names=%s", ",".join(created))

    async def _service(self) -> None:
        store = self._store("", "services")
        if self._cached(store, SERVICE_NAME) is not None:
            return  # as upstream: the Service is created when missing, never corrected
        if await _create(store, SERVICE_NAMESPACE, self.service()):
            log.info("created the kubernetes service namespace=%s", SERVICE_NAMESPACE)

    async def _endpoints(self) -> None:
        ep_store = self._store("", "endpoints")
        current = self._cached(ep_store, SERVICE_NAME)
        endpoints = self.endpoints(current)
        if current is None:
            if not await _create(ep_store, SERVICE_NAMESPACE, endpoints):
                return  # another server's: the slice follows them once the cache has them
        elif _endpoints_differ(endpoints, current):
            await ep_store.update(SERVICE_NAMESPACE, SERVICE_NAME, endpoints, _options())
        slice_store = self._store("discovery.k8s.io", "endpointslices")
        current_slice = self._cached(slice_store, SERVICE_NAME)
        if current_slice is not None and current_slice.get("addressType") != \
                self.endpoint_slice(endpoints, None)["addressType"]:
            # The address type is immutable: the slice goes and comes back (as upstream).
            await slice_store.delete(SERVICE_NAMESPACE, SERVICE_NAME, requests.DeleteOptions(
                preconditions={"resourceVersion": current_slice["metadata"].get("resourceVersion", "")}))
            current_slice = None
        wanted = self.endpoint_slice(endpoints, current_slice)
        if current_slice is None:
            await _create(slice_store, SERVICE_NAMESPACE, wanted)
        elif _slice_differs(wanted, current_slice):
            await slice_store.update(SERVICE_NAMESPACE, SERVICE_NAME, wanted, _options())

    async def run(self, *, every: float = RECONCILE_EVERY) -> None:
        """Reconcile every ``every`` seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            await self.reconcile()


def _endpoints_differ(wanted: Obj, current: Obj) -> bool:
    # Compared on what the reconciler sets (labels, addresses, ports), so that defaults the
    # server adds to a stored object never make every round write again.
    if (wanted["metadata"].get("labels") or {}) != (current["metadata"].get("labels") or {}):
        return True

    def shape(obj: Obj) -> list[tuple[tuple[str, ...], list[tuple[Any, Any, Any]]]]:
        return [(tuple(a.get("ip", "") for a in s.get("addresses") or []), _ports(s))
                for s in obj.get("subsets") or []]

    return shape(wanted) != shape(current)


def _slice_differs(wanted: Obj, current: Obj) -> bool:
    # Compared as upstream does: endpoints, ports and labels (defaults the server added to
    # the stored slice, such as an endpoint's conditions, count as equal when present).
    if (wanted["metadata"].get("labels") or {}) != (current["metadata"].get("labels") or {}):
        return True
    if _ports(wanted) != _ports(current):
        return True
    have = [(tuple(e.get("addresses") or []), (e.get("conditions") or {}).get("ready"))
            for e in current.get("endpoints") or []]
    want = [(tuple(e["addresses"]), True) for e in wanted["endpoints"]]
    return have != want


def _ports(obj: Obj) -> list[tuple[Any, Any, Any]]:
    return [(p.get("name", ""), p.get("port"), p.get("protocol", "TCP")) for p in obj.get("ports") or []]


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False
