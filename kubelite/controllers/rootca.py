"""The root CA publisher: every namespace has a ConfigMap ``kube-root-ca.crt`` whose
``ca.crt`` is the cluster's CA certificate, as upstream's RootCACertPublisher keeps it.

Clients inside the cluster and tools that verify the API server (in-cluster
configurations, service meshes, cert-manager's trust bundles) read it from there. The CA
is the one this controller manager trusts to reach the API server (its client
configuration's), which is the cluster CA every server of a cluster shares.

A ConfigMap deleted, or with its data or description annotation changed, is put back;
other annotations and labels a user adds stay. Namespaces being deleted are skipped.
Started by ``controllers.manager``; its informer sees only ConfigMaps of that name.
"""

from __future__ import annotations

from typing import Any

from kubelite.client import errors, resources
from kubelite.controllers import base

Obj = dict[str, Any]

NAME = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
               "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
               "guaranteed across distributions of Kubernetes clusters.")


class RootCAPublisher(base.Controller):
    name = "root-ca-cert-publisher"
    event_source = "root-ca-cert-publisher"
    workers = 2

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        pem = self.client.config.ca_pem
        self.data = {"ca.crt": pem.decode()} if pem else None
        self.namespaces = self.informers.get(resources.NAMESPACES)
        self.maps = self.informers.get(resources.CONFIGMAPS, field_selector=f"metadata.name={NAME}")
        self.namespaces.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.maps.add_handler(on_update=lambda o, n: self._map_changed(n), on_delete=self._map_changed)

    def _map_changed(self, cm: Obj) -> None:
        self.queue.add(base.ns_of(cm))

    async def reconcile(self, key: str) -> float | None:
        if self.data is None:  # a client trusting the system store: no cluster CA to publish
            return None
        ns = self.namespaces.get(key)
        if ns is None or base.deleting(ns) or (ns.get("status") or {}).get("phase") == "Terminating":
            return None
        cm = self.maps.get(f"{key}/{NAME}")
        if cm is None:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "data": self.data, "metadata": {
                "name": NAME, "namespace": key, "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}}}
            try:
                await self.client.create(resources.CONFIGMAPS, body, namespace=key)
            except (errors.AlreadyExists, errors.Forbidden):
                pass  # made meanwhile (the watch brings it), or the namespace started terminating
            return None
        annotations = dict(base.meta(cm).get("annotations") or {})
        if cm.get("data") == self.data and annotations.get(DESCRIPTION_ANNOTATION):
            return None
        annotations.setdefault(DESCRIPTION_ANNOTATION, DESCRIPTION)
        fixed = base.copy(cm)
        fixed["data"] = self.data
        fixed["metadata"]["annotations"] = annotations
        await self.client.update(resources.CONFIGMAPS, fixed, namespace=key)
        self.log.info("restored %s namespace=%s", NAME, key)
        return None
