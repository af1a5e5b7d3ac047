"""The endpoints controller: one core/v1 Endpoints per Service with a selector, listing
the selected pods' IPs — ready pods under ``addresses``, not-ready ones under
``notReadyAddresses`` (all under ``addresses`` with ``publishNotReadyAddresses``) —
with each Service port resolved against the pod (named ``targetPort``s looked up in the
pod's container ports). Pods without an IP, finished pods and pods being deleted are
left out, as upstream. Services without a selector are left to their owners.

Started by ``controllers.manager``. Its sibling ``endpointslices.py`` writes the
discovery.k8s.io/v1 EndpointSlices of the same Services.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import selectors
from kubelite.client import errors, informer, resources
from kubelite.controllers import base

Obj = dict[str, Any]

TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"


class EndpointsController(base.Controller):
    name = "endpoints"
    event_source = "endpoint-controller"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.services = self.informers.get(resources.SERVICES)
        self.pods = self.informers.get(resources.PODS)
        self.endpoints = self.informers.get(resources.ENDPOINTS)
        self.services.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                  on_delete=self.enqueue)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                              on_delete=self._pod_changed)

    def _pod_changed(self, pod: Obj) -> None:
        for svc in services_selecting(self.services, pod):
            self.enqueue(svc)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if base.labels_of(old) != base.labels_of(new):
            self._pod_changed(old)
        self._pod_changed(new)

    async def reconcile(self, key: str) -> float | None:
        svc = self.services.get(key)
        namespace, name = informer.split_key(key)
        if svc is None:
            ep = self.endpoints.get(key)
            if ep is not None:
                try:
                    await self.client.delete(resources.ENDPOINTS, name, namespace=namespace)
                except errors.NotFound:
                    pass
            return None
        spec = svc.get("spec") or {}
        sel = spec.get("selector")
        if not sel:
            return None
        match = selectors.from_selector_dict({"matchLabels": sel})
        publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
        groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[Obj]]] = {}
        for pod in self.pods.by_index("namespace", namespace or ""):
            if not match.matches(base.labels_of(pod)) or not base.pod_active(pod):
                continue
            ip = (pod.get("status") or {}).get("podIP")
            if not ip:
                continue
            ports = _resolve_ports(spec.get("ports") or [], pod)
            if ports is None:
                continue
            address: Obj = {"ip": ip, "targetRef": {"kind": "Pod", "namespace": base.ns_of(pod),
                                                    "name": base.name_of(pod), "uid": base.uid_of(pod)}}
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                address["nodeName"] = node
            hostname = (pod.get("spec") or {}).get("hostname")
            if hostname and (pod.get("spec") or {}).get("subdomain") == name:
                address["hostname"] = hostname
            group = groups.setdefault(ports, {"addresses": [], "notReadyAddresses": []})
            ready = base.pod_ready(pod) or publish_not_ready
            group["addresses" if ready else "notReadyAddresses"].append(address)
        subsets = []
        for ports, addrs in sorted(groups.items()):
            subset: Obj = {}
            for field in ("addresses", "notReadyAddresses"):
                if addrs[field]:
                    subset[field] = sorted(addrs[field], key=lambda a: (a["ip"], a["targetRef"]["name"]))
            subset["ports"] = [_port_obj(p) for p in ports]
            subsets.append(subset)
        await self._write(svc, subsets)
        return None

    async def _write(self, svc: Obj, subsets: list[Obj]) -> None:
        key = informer.key_of(svc)
        current = self.endpoints.get(key)
        labels = dict(base.labels_of(svc))
        labels["endpoints.kubernetes.io/managed-by"] = "endpoint-controller"
        if current is not None and (current.get("subsets") or []) == subsets and base.labels_of(current) == labels:
            return
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": base.name_of(svc), "namespace": base.ns_of(svc), "labels": labels,
                                  "annotations": {TRIGGER: base.fmt_time()}},
                     "subsets": subsets}
        if current is None:
            try:
                await self.client.create(resources.ENDPOINTS, body, namespace=base.ns_of(svc))
                return
            except errors.AlreadyExists:
                current = await self.client.get(resources.ENDPOINTS, base.name_of(svc), namespace=base.ns_of(svc))
            except errors.Forbidden as exc:
                if errors.namespace_terminating(exc):
                    return  # every create there fails alike: dropped, as upstream drops it
                raise
        body["metadata"]["resourceVersion"] = base.meta(current).get("resourceVersion")
        await self.client.update(resources.ENDPOINTS, body, namespace=base.ns_of(svc))


def _resolve_ports(ports: list[Obj], pod: Obj) -> tuple[tuple[str, int, str], ...] | None:
    """(name, port, protocol) per Service port, as this pod serves it; None when a named
    target port is missing on the pod (the pod is then not an endpoint for it)."""
    out = []
    for p in ports:
        target = p.get("targetPort", p.get("port"))
        protocol = p.get("protocol") or "TCP"
        if isinstance(target, str) and not target.isdigit():
            number = _named_port(pod, target, protocol)
            if number is None:
                return None
        else:
            number = int(target) if target is not None else int(p.get("port") or 0)
        out.append((p.get("name") or "", number, protocol))
    return tuple(out)


def _named_port(pod: Obj, name: str, protocol: str) -> int | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for cp in c.get("ports") or []:
            if cp.get("name") == name and (cp.get("protocol") or "TCP") == protocol:
                return int(cp["containerPort"])
    return None


def _port_obj(p: tuple[str, int, str]) -> Obj:
    out: Obj = {"port": p[1], "protocol": p[2]}
    if p[0]:
        out["name"] = p[0]
    return out


def services_selecting(services: Any, pod: Obj) -> list[Obj]:
    """The Services (from a services informer) whose selector picks ``pod``; also used by
    the EndpointSlice controller."""
    labels = base.labels_of(pod)
    out = []
    for svc in services.by_index("namespace", base.ns_of(pod)):
        sel = (svc.get("spec") or {}).get("selector")
        if sel and all(labels.get(k) == v for k, v in sel.items()):
            out.append(svc)
    return out
