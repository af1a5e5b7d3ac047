"""The EndpointSlice controller: discovery.k8s.io/v1 EndpointSlices for every Service with a
selector, the sibling of ``controllers.endpoints`` (which writes the older core/v1
Endpoints from the same pods).

Started by ``controllers.manager``. Upstream semantics (pkg/controller/endpointslice):

- slices carry the labels ``kubernetes.io/service-name`` and
  ``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`` (plus the
  Service's own labels, and ``service.kubernetes.io/headless`` for headless Services), a
  controller ownerReference to the Service, ``generateName: <svc>-`` and addressType IPv4;
- one endpoint per pod with an IPv4 address: ``addresses [podIP]``, conditions
  ``ready`` / ``serving`` / ``terminating`` (terminating pods stay, ``ready: false``),
  ``nodeName``, ``zone`` (the node's ``topology.kubernetes.io/zone``), ``targetRef`` and,
  for pods of the Service's subdomain, ``hostname``;
- Service ports are resolved per pod (a named ``targetPort`` is looked up in the pod's
  container ports; a pod missing it just lacks that port), so pods serving the same
  port set share slices; at most 100 endpoints per slice;
- a Service with no endpoints keeps one empty placeholder slice.

Writes are minimal: endpoints stay in the slice that holds them, only slices whose content
changed are updated, new endpoints fill the free room of slices already being written
before other slices are touched, and surplus slices are deleted. Because the informer
may lag our own writes, each Service remembers the slices it just wrote and waits for the
cache to catch up before computing again (upstream's EndpointSliceTracker), or it would
create the same slice twice. Services without a selector are left alone.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from kubelite.api import selectors
from kubelite.client import errors, informer, resources
from kubelite.controllers import base, endpoints

Obj = dict[str, Any]

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
HEADLESS = "service.kubernetes.io/headless"
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"
ZONE = "topology.kubernetes.io/zone"
MAX_ENDPOINTS = 100  # upstream's --max-endpoints-per-slice default
TRACK_TTL = 5.0  # seconds we wait for the cache to show our own writes before trusting it anyway

PortKey = str  # canonical JSON of a slice's ports list


class EndpointSliceController(base.Controller):
    name = "endpointslice"
    event_source = "endpoint-slice-controller"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.services = self.informers.get(resources.SERVICES)
        self.pods = self.informers.get(resources.PODS)
        self.nodes = self.informers.get(resources.NODES)
        self.slices = self.informers.get(resources.ENDPOINTSLICES)
        # service key → {slice name: resourceVersion we wrote, or None for a deletion}
        self._written: dict[str, tuple[float, dict[str, str | None]]] = {}
        self.services.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                  on_delete=self.enqueue)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                              on_delete=self._pod_changed)
        self.slices.add_handler(on_add=self._slice_changed, on_update=lambda o, n: self._slice_changed(n),
                                on_delete=self._slice_changed)
        self.nodes.add_handler(on_update=self._node_updated)

    # --- event handlers ---------------------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        for svc in endpoints.services_selecting(self.services, pod):
            self.enqueue(svc)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if base.meta(old).get("resourceVersion") == base.meta(new).get("resourceVersion"):
            return
        if base.labels_of(old) != base.labels_of(new):
            self._pod_changed(old)
        self._pod_changed(new)

    def _slice_changed(self, sl: Obj) -> None:
        # Someone else edited or deleted one of our slices: put it right.
        labels = base.labels_of(sl)
        if labels.get(MANAGED_BY) == CONTROLLER_NAME and labels.get(SERVICE_NAME):
            self.queue.add(f"{base.ns_of(sl)}/{labels[SERVICE_NAME]}")

    def _node_updated(self, old: Obj, new: Obj) -> None:
        # Only a zone change matters, and it is rare: every Service with pods there looks.
        if base.labels_of(old).get(ZONE) == base.labels_of(new).get(ZONE):
            return
        for pod in self.pods.by_index("node", base.name_of(new)):
            self._pod_changed(pod)

    # --- reconcile --------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, name = informer.split_key(key)
        ns = namespace or ""
        if not self._cache_caught_up(key):
            return 0.05
        svc = self.services.get(key)
        ours = [s for s in self.slices.by_index("namespace", ns)
                if base.labels_of(s).get(SERVICE_NAME) == name
                and base.labels_of(s).get(MANAGED_BY) == CONTROLLER_NAME]
        if svc is None:
            # The garbage collector would delete them too (they are owned); sooner is better
            # for clients that would otherwise route to a Service that no longer exists.
            self._written.pop(key, None)
            for sl in ours:
                await self._delete(key, sl)
            return None
        spec = svc.get("spec") or {}
        if not spec.get("selector") or base.deleting(svc):
            return None
        # Slices owned by an older Service of the same name are not ours to reuse.
        uid = base.uid_of(svc)
        stale = [s for s in ours if (base.controller_ref(s) or {}).get("uid") != uid]
        for sl in stale:
            await self._delete(key, sl)
        ours = [s for s in ours if s not in stale]
        desired = self._desired(svc)
        await self._sync(svc, key, ours, desired)
        return None

    def _cache_caught_up(self, key: str) -> bool:
        entry = self._written.get(key)
        if entry is None:
            return True
        at, expected = entry
        if time.monotonic() - at > TRACK_TTL:
            self._written.pop(key, None)  # a lost event must not wedge the Service
            return True
        namespace, _ = informer.split_key(key)
        for slice_name, rv in expected.items():
            cached = self.slices.get(f"{namespace}/{slice_name}")
            if rv is None:
                if cached is not None:
                    return False
            elif cached is None or _rv_int(cached) < _rv_int_str(rv):
                return False
        self._written.pop(key, None)
        return True

    def _desired(self, svc: Obj) -> dict[PortKey, dict[str, Obj]]:
        """Endpoints the Service should have, grouped by the ports they serve; each group
        maps pod uid → endpoint."""
        spec = svc.get("spec") or {}
        namespace = base.ns_of(svc)
        match = selectors.from_selector_dict({"matchLabels": spec["selector"]})
        publish = bool(spec.get("publishNotReadyAddresses"))
        groups: dict[PortKey, dict[str, Obj]] = {}
        for pod in self.pods.by_index("namespace", namespace):
            if not match.matches(base.labels_of(pod)) or not _in_endpoints(pod):
                continue
            ip = _ipv4(pod)
            if ip is None:
                continue
            ports = _pod_ports(spec.get("ports") or [], pod)
            ep = self._endpoint(pod, ip=ip, svc_name=base.name_of(svc), publish=publish)
            groups.setdefault(_port_key(ports), {})[base.uid_of(pod)] = ep
        return groups

    def _endpoint(self, pod: Obj, *, ip: str, svc_name: str, publish: bool) -> Obj:
        pspec = pod.get("spec") or {}
        serving = publish or base.pod_ready(pod)
        terminating = base.deleting(pod)
        ep: Obj = {"addresses": [ip],
                   "conditions": {"ready": publish or (serving and not terminating),
                                  "serving": serving, "terminating": terminating}}
        if pspec.get("hostname") and pspec.get("subdomain") == svc_name:
            ep["hostname"] = pspec["hostname"]
        node_name = pspec.get("nodeName")
        if node_name:
            ep["nodeName"] = node_name
            node = self.nodes.get(node_name)
            zone = base.labels_of(node).get(ZONE) if node is not None else None
            if zone:
                ep["zone"] = zone
        ep["targetRef"] = {"kind": "Pod", "namespace": base.ns_of(pod), "name": base.name_of(pod),
                           "uid": base.uid_of(pod)}
        return ep

    async def _sync(self, svc: Obj, key: str, existing: list[Obj],
                    desired: dict[PortKey, dict[str, Obj]]) -> None:
        by_ports: dict[PortKey, list[Obj]] = {}
        for sl in existing:
            by_ports.setdefault(_port_key(sl.get("ports") or []), []).append(sl)
        writes: list[tuple[Obj | None, PortKey, list[Obj]]] = []  # (old slice or None, ports, endpoints)
        deletes: list[Obj] = []
        for pk, want in desired.items():
            w, d = _plan_group(by_ports.get(pk, []), pk, want)
            writes += w
            deletes += d
        for pk, slices in by_ports.items():
            if pk not in desired:
                deletes += slices
        if not desired:
            # No endpoints at all: one empty placeholder slice stays, as upstream.
            placeholder_key = _port_key([])
            keep = next((s for s in deletes if _port_key(s.get("ports") or []) == placeholder_key
                         and not s.get("endpoints")), None)
            if keep is not None:
                deletes.remove(keep)
                writes.append((keep, placeholder_key, []))
            elif deletes:
                writes.append((deletes.pop(0), placeholder_key, []))
            else:
                writes.append((None, placeholder_key, []))
        labels = _labels_for(svc)
        owner = base.owner_reference(svc, kind="Service", api_version="v1")
        for old, pk, eps in writes:
            if old is not None and not _slice_differs(old, pk=pk, endpoints=eps, labels=labels, owner=owner):
                continue
            await self._write(svc, key, old=old, ports=orjson.loads(pk), endpoints=eps,
                              labels=labels, owner=owner)
        for sl in deletes:
            await self._delete(key, sl)

    def _track(self, key: str, slice_name: str, rv: str | None) -> None:
        entry = self._written.get(key)
        expected = entry[1] if entry is not None else {}
        expected[slice_name] = rv
        self._written[key] = (time.monotonic(), expected)

    async def _write(self, svc: Obj, key: str, *, old: Obj | None, ports: list[Obj], endpoints: list[Obj],
                     labels: dict[str, str], owner: Obj) -> None:
        namespace = base.ns_of(svc)
        md: Obj = {"namespace": namespace, "labels": labels, "ownerReferences": [owner],
                   "annotations": {TRIGGER: base.fmt_time()}}
        body: Obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": md,
                     "addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        if old is None:
            # generateName is <svc>- trimmed so that the generated name fits 63 characters.
            md["generateName"] = f"{base.name_of(svc)[:57]}-"
            try:
                created = await self.client.create(resources.ENDPOINTSLICES, body, namespace=namespace)
            except errors.Forbidden as exc:
                if errors.namespace_terminating(exc):
                    return  # every create there fails alike: dropped, as upstream drops it
                raise
            self._track(key, base.name_of(created), str(base.meta(created).get("resourceVersion") or ""))
            return
        # Keep what others put in the metadata (generateName, finalizers, annotations).
        kept = base.copy(base.meta(old))
        kept["annotations"] = {**(kept.get("annotations") or {}), TRIGGER: md["annotations"][TRIGGER]}
        kept.update(labels=labels, ownerReferences=[owner])
        body["metadata"] = kept
        updated = await self.client.update(resources.ENDPOINTSLICES, body, namespace=namespace)
        self._track(key, base.name_of(updated), str(base.meta(updated).get("resourceVersion") or ""))

    async def _delete(self, key: str, sl: Obj) -> None:
        try:
            await self.client.delete(resources.ENDPOINTSLICES, base.name_of(sl), namespace=base.ns_of(sl))
        except errors.NotFound:
            pass
        self._track(key, base.name_of(sl), None)


# --- planning (pure) ---------------------------------------------------------------------


def _plan_group(slices: list[Obj], pk: PortKey, want: dict[str, Obj]
                ) -> tuple[list[tuple[Obj | None, PortKey, list[Obj]]], list[Obj]]:
    """How to lay ``want`` (pod uid → endpoint) over the existing slices of one port set:
    returns the slices to write (old slice or None for new, endpoints) and those to delete.
    Endpoints stay where they are; new ones go first into slices that are written anyway."""
    placed: set[str] = set()
    plans: list[tuple[Obj, list[Obj], bool]] = []  # (slice, endpoints, changed)
    for sl in slices:
        eps: list[Obj] = []
        changed = False
        for ep in sl.get("endpoints") or []:
            uid = ((ep.get("targetRef") or {}).get("uid")) or ""
            if uid in want and uid not in placed and len(eps) < MAX_ENDPOINTS:
                placed.add(uid)
                if _ep_view(ep) != want[uid]:
                    changed = True
                eps.append(want[uid])
            else:
                changed = True
        plans.append((sl, eps, changed))
    pending = [ep for uid, ep in want.items() if uid not in placed]
    # Fill the room of slices already being rewritten first, then of untouched ones.
    for prefer_changed in (True, False):
        for i, (sl, eps, changed) in enumerate(plans):
            if not pending:
                break
            if changed != prefer_changed or len(eps) >= MAX_ENDPOINTS:
                continue
            room = MAX_ENDPOINTS - len(eps)
            eps = eps + pending[:room]
            pending = pending[room:]
            plans[i] = (sl, eps, True)
    writes: list[tuple[Obj | None, PortKey, list[Obj]]] = []
    deletes: list[Obj] = []
    for sl, eps, _changed in plans:
        if not eps:
            deletes.append(sl)
        else:
            # Unchanged endpoints too: the caller compares labels and owner before writing.
            writes.append((sl, pk, eps))
    while pending:
        writes.append((None, pk, pending[:MAX_ENDPOINTS]))
        pending = pending[MAX_ENDPOINTS:]
    return writes, deletes


def _slice_differs(old: Obj, *, pk: PortKey, endpoints: list[Obj], labels: dict[str, str], owner: Obj) -> bool:
    if _port_key(old.get("ports") or []) != pk or old.get("addressType") != "IPv4":
        return True
    if [_ep_view(e) for e in old.get("endpoints") or []] != endpoints:
        return True
    if base.labels_of(old) != labels:
        return True
    ref = base.controller_ref(old) or {}
    return bool(ref.get("uid") != owner["uid"])


def _ep_view(ep: Obj) -> Obj:
    """An endpoint as this controller writes it (fields the server may add are dropped)."""
    cond = ep.get("conditions") or {}
    out: Obj = {"addresses": list(ep.get("addresses") or []),
                "conditions": {"ready": bool(cond.get("ready")), "serving": bool(cond.get("serving")),
                               "terminating": bool(cond.get("terminating"))}}
    for field in ("hostname", "nodeName", "zone"):
        if ep.get(field):
            out[field] = ep[field]
    ref = ep.get("targetRef") or {}
    if ref:
        out["targetRef"] = {k: ref.get(k) for k in ("kind", "namespace", "name", "uid")}
    return out


def _labels_for(svc: Obj) -> dict[str, str]:
    labels = dict(base.labels_of(svc))
    labels[SERVICE_NAME] = base.name_of(svc)
    labels[MANAGED_BY] = CONTROLLER_NAME
    if (svc.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS] = ""
    return labels


def _in_endpoints(pod: Obj) -> bool:
    """Upstream's ShouldPodBeInEndpoints with terminating pods included."""
    status = pod.get("status") or {}
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    phase = status.get("phase")
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def _ipv4(pod: Obj) -> str | None:
    status = pod.get("status") or {}
    candidates = [status.get("podIP")] + [p.get("ip") for p in status.get("podIPs") or []]
    for ip in candidates:
        if ip and ":" not in ip:
            return str(ip)
    return None


def _pod_ports(svc_ports: list[Obj], pod: Obj) -> list[Obj]:
    """The Service's ports as ``pod`` serves them, in the Service's order; a named target
    port the pod does not have is left out (upstream logs and skips it)."""
    out: list[Obj] = []
    for p in svc_ports:
        protocol = p.get("protocol") or "TCP"
        target = p.get("targetPort", p.get("port"))
        number: int | None
        if isinstance(target, str) and not target.isdigit():
            number = _named_port(pod, target, protocol)
        else:
            number = int(target) if target not in (None, 0, "0") else int(p.get("port") or 0)
        if number is None:
            continue
        port: Obj = {"name": p.get("name") or "", "port": number, "protocol": protocol}
        if p.get("appProtocol"):
            port["appProtocol"] = p["appProtocol"]
        out.append(port)
    return out


def _named_port(pod: Obj, name: str, protocol: str) -> int | None:
    spec = pod.get("spec") or {}
    # Sidecars (restartable init containers) serve ports too, as upstream's FindPort reads them.
    containers = list(spec.get("containers") or []) + [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for c in containers:
        for cp in c.get("ports") or []:
            if cp.get("name") == name and (cp.get("protocol") or "TCP") == protocol:
                return int(cp["containerPort"])
    return None


def _port_key(ports: list[Obj]) -> PortKey:
    canon = []
    for p in ports:
        one: Obj = {"name": p.get("name") or "", "port": int(p.get("port") or 0),
                    "protocol": p.get("protocol") or "TCP"}
        if p.get("appProtocol"):
            one["appProtocol"] = p["appProtocol"]
        canon.append(one)
    return orjson.dumps(canon).decode()


def _rv_int(obj: Obj) -> int:
    return _rv_int_str(str(base.meta(obj).get("resourceVersion") or ""))


def _rv_int_str(rv: str) -> int:
    try:
        return int(rv)
    except ValueError:
        return 0
