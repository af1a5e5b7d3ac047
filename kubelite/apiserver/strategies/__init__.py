"""Per-resource strategies: what differs from the generic registry's default behaviour.

``strategy_for(info)`` picks the class for a resource; everything not listed here uses
``base.Strategy``. To change how a resource behaves, edit its module here.
"""

from __future__ import annotations

from kubelite.api import scheme
from kubelite.apiserver.strategies import (
    autoscaling,
    base,
    cluster,
    core,
    events,
    limitranges,
    networking,
    pods,
    rbac,
    resourcequotas,
    services,
    workloads,
)

_BY_RESOURCE: dict[tuple[str, str], type[base.Strategy]] = {
    ("", "pods"): pods.PodStrategy,
    ("", "namespaces"): core.NamespaceStrategy,
    ("", "nodes"): core.NodeStrategy,
    ("", "services"): services.ServiceStrategy,
    ("", "events"): events.CoreEventStrategy,
    ("events.k8s.io", "events"): events.EventsV1Strategy,
    ("", "configmaps"): core.DataStrategy,
    ("", "secrets"): core.SecretStrategy,
    ("", "serviceaccounts"): core.ServiceAccountStrategy,
    ("", "endpoints"): core.EndpointsStrategy,
    ("", "persistentvolumes"): core.PersistentVolumeStrategy,
    ("", "persistentvolumeclaims"): core.PersistentVolumeClaimStrategy,
    ("", "replicationcontrollers"): workloads.ReplicationControllerStrategy,
    ("", "podtemplates"): workloads.WorkloadStrategy,  # for PodSecurity's template warnings
    ("", "resourcequotas"): resourcequotas.ResourceQuotaStrategy,
    ("", "limitranges"): limitranges.LimitRangeStrategy,
    ("coordination.k8s.io", "leases"): core.DataStrategy,
    ("apps", "controllerrevisions"): core.DataStrategy,
    ("apps", "deployments"): workloads.WorkloadStrategy,
    ("apps", "replicasets"): workloads.WorkloadStrategy,
    ("apps", "statefulsets"): workloads.WorkloadStrategy,
    ("apps", "daemonsets"): workloads.DaemonSetStrategy,
    ("batch", "jobs"): workloads.JobStrategy,
    ("batch", "cronjobs"): workloads.WorkloadStrategy,
    ("discovery.k8s.io", "endpointslices"): cluster.EndpointSliceStrategy,
    ("storage.k8s.io", "storageclasses"): cluster.StorageClassStrategy,
    ("scheduling.k8s.io", "priorityclasses"): cluster.PriorityClassStrategy,
    ("policy", "poddisruptionbudgets"): cluster.PodDisruptionBudgetStrategy,
    ("networking.k8s.io", "ingresses"): networking.IngressStrategy,
    ("autoscaling", "horizontalpodautoscalers"): autoscaling.HPAStrategy,
    ("rbac.authorization.k8s.io", "roles"): rbac.RoleStrategy,
    ("rbac.authorization.k8s.io", "clusterroles"): rbac.RoleStrategy,
    ("rbac.authorization.k8s.io", "rolebindings"): rbac.BindingStrategy,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): rbac.BindingStrategy,
}


def strategy_for(info: scheme.ResourceInfo) -> base.Strategy:
    if (info.group, info.version, info.plural) == ("autoscaling", "v1", "horizontalpodautoscalers"):
        return autoscaling.HPAV1Strategy(info)
    cls = _BY_RESOURCE.get((info.group, info.plural), base.Strategy)
    return cls(info)
