"""Strategies of networking.k8s.io/v1: Ingress, IngressClass, NetworkPolicy.

All three are stored objects with generation following the spec (upstream's strategies);
nothing in kubelite acts on them: an ingress controller watches Ingresses, and no
NetworkPolicy is enforced (kube-apiserver has no controller for either).

- Ingress: a status subresource (the load balancer's addresses, written by an ingress
  controller), always serialized as ``loadBalancer: {}`` at least, as Go's non-pointer
  struct is; on create, upstream's DefaultIngressClass admission: an Ingress that names
  no class (neither ``spec.ingressClassName`` nor the deprecated
  ``kubernetes.io/ingress.class`` annotation) gets the IngressClass annotated
  ``ingressclass.kubernetes.io/is-default-class: "true"`` (the newest, with several).
- IngressClass (cluster-scoped) and NetworkPolicy: the base strategy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api import errors
from kubelite.api.validation import networking as networking_validation
from kubelite.apiserver.strategies import base, cluster

if TYPE_CHECKING:
    from kubelite.apiserver import registry

Obj = dict[str, Any]


class IngressStrategy(base.Strategy):
    def complete_status(self, status: Obj) -> Obj:
        if not isinstance(status.get("loadBalancer"), dict):
            status["loadBalancer"] = {}
        return status

    def validate_status_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        return networking_validation.validate_ingress_status(new, old)

    async def admit_create(self, obj: Obj) -> None:
        await admit_default_ingress_class(self.store, obj)


async def admit_default_ingress_class(store: registry.Store | None, ingress: Obj) -> None:
    """Upstream's DefaultIngressClass admission plugin (creates only)."""
    spec = ingress.setdefault("spec", {})
    if spec.get("ingressClassName") is not None:
        return
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    if networking_validation.INGRESS_CLASS_ANNOTATION in annotations:
        return
    classes = await cluster.cached_list(cluster.sibling(store, "networking.k8s.io", "ingressclasses"), None)
    default = cluster.newest([c for c in classes if networking_validation.is_default_ingress_class(c)])
    if default is not None:
        spec["ingressClassName"] = default["metadata"]["name"]
