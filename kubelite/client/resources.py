"""How the client names a resource: ``Resource(group, version, plural, namespaced, kind)``.

Every ``Client`` method takes a ``Resource`` (or a bare ``(group, version, plural)``
tuple, for custom resources) and builds the URL from it. The constants below are the
resources kubelite's components use; they describe the Kubernetes API itself, not what
one server happens to serve, so the client works unchanged against real Kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Resource:
    """One API resource, addressed as ``/api/v1/...`` or ``/apis/<group>/<version>/...``."""

    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool = True
    kind: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, *, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """``/api/v1/namespaces/ns/pods/name/status``; namespace is dropped for cluster scope.

        A namespace given for a cluster-scoped resource is ignored rather than sent: a
        helper that passes its namespace along for every kind should still reach Nodes.
        """
        parts = [self.prefix]
        if namespace and self.namespaced:
            parts += ["namespaces", quote(namespace, safe="")]
        parts.append(self.plural)
        if name is not None:
            if not name:
                raise ValueError(f"{self.plural}: empty resource name")
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


ResourceLike = Resource | tuple[str, str, str]

# core/v1
NAMESPACES = Resource("", "v1", "namespaces", False, "Namespace")
NODES = Resource("", "v1", "nodes", False, "Node")
PODS = Resource("", "v1", "pods", True, "Pod")
SERVICES = Resource("", "v1", "services", True, "Service")
ENDPOINTS = Resource("", "v1", "endpoints", True, "Endpoints")
CONFIGMAPS = Resource("", "v1", "configmaps", True, "ConfigMap")
SECRETS = Resource("", "v1", "secrets", True, "Secret")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts", True, "ServiceAccount")
EVENTS = Resource("", "v1", "events", True, "Event")
PERSISTENTVOLUMES = Resource("", "v1", "persistentvolumes", False, "PersistentVolume")
PERSISTENTVOLUMECLAIMS = Resource("", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim")
REPLICATIONCONTROLLERS = Resource("", "v1", "replicationcontrollers", True, "ReplicationController")
# apps/v1
DEPLOYMENTS = Resource("apps", "v1", "deployments", True, "Deployment")
REPLICASETS = Resource("apps", "v1", "replicasets", True, "ReplicaSet")
STATEFULSETS = Resource("apps", "v1", "statefulsets", True, "StatefulSet")
DAEMONSETS = Resource("apps", "v1", "daemonsets", True, "DaemonSet")
CONTROLLERREVISIONS = Resource("apps", "v1", "controllerrevisions", True, "ControllerRevision")
# batch/v1
JOBS = Resource("batch", "v1", "jobs", True, "Job")
CRONJOBS = Resource("batch", "v1", "cronjobs", True, "CronJob")
# coordination.k8s.io/v1: leader election and node heartbeats
LEASES = Resource("coordination.k8s.io", "v1", "leases", True, "Lease")
# events.k8s.io/v1: the newer shape of core events
EVENTS_V1 = Resource("events.k8s.io", "v1", "events", True, "Event")
# discovery.k8s.io/v1
ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "endpointslices", True, "EndpointSlice")
# rbac.authorization.k8s.io/v1
CLUSTERROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", False, "ClusterRole")
CLUSTERROLEBINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", False,
                               "ClusterRoleBinding")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", True, "Role")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", True, "RoleBinding")
# apiextensions.k8s.io/v1
CUSTOMRESOURCEDEFINITIONS = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", False, "CustomResourceDefinition")

KNOWN: tuple[Resource, ...] = (
    NAMESPACES, NODES, PODS, SERVICES, ENDPOINTS, CONFIGMAPS, SECRETS, SERVICEACCOUNTS,
    EVENTS, PERSISTENTVOLUMES, PERSISTENTVOLUMECLAIMS, REPLICATIONCONTROLLERS, DEPLOYMENTS, REPLICASETS,
    STATEFULSETS, DAEMONSETS, CONTROLLERREVISIONS, JOBS, CRONJOBS, LEASES, EVENTS_V1,
    ENDPOINTSLICES, CLUSTERROLES, CLUSTERROLEBINDINGS, ROLES, ROLEBINDINGS, CUSTOMRESOURCEDEFINITIONS,
)

_BY_GVR = {(r.group, r.version, r.plural): r for r in KNOWN}
_BY_KIND = {(r.api_version, r.kind): r for r in KNOWN}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return _BY_GVR.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    """The resource behind an object's ``apiVersion``/``kind`` (for objects read from YAML)."""
    return _BY_KIND.get((api_version, kind))


def as_resource(res: ResourceLike) -> Resource:
    """Accept a ``Resource`` or a ``(group, version, plural)`` tuple.

    An unknown tuple is assumed namespaced: the namespace segment is only added when a
    namespace is passed, so cluster-scoped custom resources still address correctly.
    """
    if isinstance(res, Resource):
        return res
    group, version, plural = res
    return lookup(group, version, plural) or Resource(group, version, plural)
