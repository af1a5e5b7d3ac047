"""Per-kind validation: ``validate(group, kind, obj, old=...)`` → list of field causes.

Pure functions, no I/O. The API server's resource strategies call ``validate`` on every
create (``old=None``) and update (``old`` = the stored object), after defaulting
(``kubelite.api.defaults``), and turn a non-empty result into a 422 with
``errors.invalid``. Object metadata is *not* checked here: the strategies call
``kubelite.api.meta.validate_object_meta`` / ``validate_meta_update`` themselves, with the
kind's name rule (``NAME_RULES`` below lists upstream's). Kinds without rules here
(custom resources, unknown kinds) get ``[]``.

Layout: ``pods`` (PodSpec, also used for templates), ``workloads`` (apps and batch),
``core`` (the other core kinds and Lease), ``cron`` (CronJob schedules), ``cluster``
(EndpointSlice, StorageClass, PriorityClass, PodDisruptionBudget), ``networking``
(Ingress, IngressClass, NetworkPolicy), ``rbac`` (Role, ClusterRole and their bindings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelite.api import errors, meta
from kubelite.api.validation import cluster, core, cron, ephemeral, networking, pods, rbac, workloads

Cause = errors.Cause
Obj = dict[str, Any]
Rule = Callable[[Obj, Obj | None], list[Cause]]


def _pod(obj: Obj, old: Obj | None) -> list[Cause]:
    if old is None:
        return pods.validate_pod(obj) + ephemeral.forbidden_on_create(obj)
    return pods.validate_pod_update(obj, old)


def _pod_template(obj: Obj, old: Obj | None) -> list[Cause]:
    return workloads.validate_pod_template_spec(obj.get("template") or {}, "template")


def _metadata_only(obj: Obj, old: Obj | None) -> list[Cause]:
    return []


def _controller_revision(obj: Obj, old: Obj | None) -> list[Cause]:
    out = meta.nonnegative("revision", obj.get("revision"))
    if old is not None and obj.get("data") != old.get("data"):
        out.append(meta.invalid("data", "<omitted>", meta.FIELD_IMMUTABLE))
    return out


# (group, kind) → (upstream's name rule for metadata.name, the kind's rules)
_RULES: dict[tuple[str, str], tuple[str, Rule]] = {
    ("", "Pod"): ("subdomain", _pod),
    ("", "PodTemplate"): ("subdomain", _pod_template),
    ("", "Service"): ("dns1035", core.validate_service),
    ("", "Namespace"): ("label", core.validate_namespace),
    ("", "ConfigMap"): ("subdomain", core.validate_config_map),
    ("", "Secret"): ("subdomain", core.validate_secret),
    ("", "Node"): ("subdomain", core.validate_node),
    ("", "Event"): ("subdomain", core.validate_event),
    ("", "PersistentVolumeClaim"): ("subdomain", core.validate_pvc),
    ("", "PersistentVolume"): ("subdomain", core.validate_pv),
    ("", "ServiceAccount"): ("subdomain", _metadata_only),
    ("", "Endpoints"): ("subdomain", _metadata_only),
    ("", "ReplicationController"): ("subdomain", workloads.validate_replication_controller),
    ("apps", "Deployment"): ("subdomain", workloads.validate_deployment),
    ("apps", "ReplicaSet"): ("subdomain", workloads.validate_replica_set),
    ("apps", "StatefulSet"): ("subdomain", workloads.validate_stateful_set),
    ("apps", "DaemonSet"): ("subdomain", workloads.validate_daemon_set),
    ("apps", "ControllerRevision"): ("subdomain", _controller_revision),
    ("batch", "Job"): ("subdomain", workloads.validate_job),
    ("batch", "CronJob"): ("subdomain", workloads.validate_cron_job),
    ("coordination.k8s.io", "Lease"): ("subdomain", core.validate_lease),
    ("events.k8s.io", "Event"): ("subdomain", core.validate_event),
    ("discovery.k8s.io", "EndpointSlice"): ("subdomain", cluster.validate_endpoint_slice),
    ("storage.k8s.io", "StorageClass"): ("subdomain", cluster.validate_storage_class),
    ("scheduling.k8s.io", "PriorityClass"): ("subdomain", cluster.validate_priority_class),
    ("policy", "PodDisruptionBudget"): ("subdomain", cluster.validate_pod_disruption_budget),
    ("networking.k8s.io", "Ingress"): ("subdomain", networking.validate_ingress),
    ("networking.k8s.io", "IngressClass"): ("subdomain", networking.validate_ingress_class),
    ("networking.k8s.io", "NetworkPolicy"): ("subdomain", networking.validate_network_policy),
    (rbac.GROUP, "Role"): ("path", rbac.validate_role),
    (rbac.GROUP, "ClusterRole"): ("path", rbac.validate_cluster_role),
    (rbac.GROUP, "RoleBinding"): ("path", rbac.validate_role_binding),
    (rbac.GROUP, "ClusterRoleBinding"): ("path", rbac.validate_cluster_role_binding),
}

NAME_RULES: dict[tuple[str, str], str] = {key: rule for key, (rule, _) in _RULES.items()}


def name_rule(group: str, kind: str) -> str:
    """``subdomain`` (most kinds), ``label`` (Namespace) or ``dns1035`` (Service)."""
    return NAME_RULES.get((group, kind), "subdomain")


def validate(group: str, kind: str, obj: Obj, *, old: Obj | None = None) -> list[Cause]:
    """The kind's causes against ``obj`` (empty when valid); metadata is checked separately."""
    entry = _RULES.get((group, kind))
    if entry is None or not isinstance(obj, dict):
        return []
    return entry[1](obj, old)


__all__ = ["NAME_RULES", "cluster", "core", "cron", "name_rule", "networking", "pods", "rbac", "validate",
           "workloads"]
