"""The scheme: which resources exist, and how group/version/kind maps to resource names.

Pure declarations, no behaviour. The API server's generic registry serves every entry of
``BUILTIN`` (behaviour per resource lives in ``kubelite.apiserver.strategies``); discovery,
OpenAPI and the storage key layout are all derived from these declarations. Custom
resources are added at run time by the CRD strategy through ``Scheme.add``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource (``pods``) with the facts discovery and routing need."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Subresources that follow the parent object: "status" and "scale" are served by the
    # generic registry; the others ("binding", "eviction", "log", "exec", …) by handlers.
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # For resources stored under another resource (events.k8s.io events share core events).
    storage_group: str | None = None
    storage_plural: str | None = None

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def key_prefix(self, namespace: str | None = None) -> str:
        """Storage key prefix: ``/registry/<group>/<resource>/[<namespace>/]``.

        The core group is spelled ``core`` so that every key has the same depth.
        """
        group = self.storage_group if self.storage_group is not None else self.group
        plural = self.storage_plural or self.plural
        base = f"/registry/{group or 'core'}/{plural}/"
        if self.namespaced and namespace:
            return f"{base}{namespace}/"
        return base

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.key_prefix(namespace)}{name}"
        return f"{self.key_prefix()}{name}"


def _r(group: str, version: str, kind: str, plural: str, *, namespaced: bool = True,
       short: tuple[str, ...] = (), cats: tuple[str, ...] = (),
       sub: tuple[str, ...] = (), verbs: tuple[str, ...] = ALL_VERBS,
       storage_group: str | None = None, storage_plural: str | None = None) -> ResourceInfo:
    return ResourceInfo(group=group, version=version, kind=kind, plural=plural,
                        singular=kind.lower(), namespaced=namespaced, short_names=short,
                        categories=cats, subresources=sub, verbs=verbs,
                        storage_group=storage_group, storage_plural=storage_plural)


_ALL = ("all",)
_NO_COLLECTION_DELETE = tuple(v for v in ALL_VERBS if v != "deletecollection")

BUILTIN: tuple[ResourceInfo, ...] = (
    # core/v1
    _r("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",), sub=("status", "finalize"),
       verbs=_NO_COLLECTION_DELETE),
    _r("", "v1", "Pod", "pods", short=("po",), cats=_ALL,
       sub=("status", "binding", "eviction", "log", "exec", "attach", "portforward", "ephemeralcontainers")),
    _r("", "v1", "Service", "services", short=("svc",), cats=_ALL, sub=("status", "proxy")),
    _r("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _r("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), sub=("token",)),
    _r("", "v1", "Node", "nodes", namespaced=False, short=("no",), sub=("status", "proxy")),
    _r("", "v1", "Event", "events", short=("ev",)),
    _r("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",), sub=("status",)),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), sub=("status",)),
    _r("", "v1", "ReplicationController", "replicationcontrollers", short=("rc",), cats=_ALL, sub=("status", "scale")),
    _r("", "v1", "PodTemplate", "podtemplates"),
    _r("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), sub=("status",)),
    _r("", "v1", "LimitRange", "limitranges", short=("limits",)),
    # apps/v1
    _r("apps", "v1", "Deployment", "deployments", short=("deploy",), cats=_ALL, sub=("status", "scale")),
    _r("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), cats=_ALL, sub=("status", "scale")),
    _r("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), cats=_ALL, sub=("status", "scale")),
    _r("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), cats=_ALL, sub=("status",)),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions"),
    # batch/v1
    _r("batch", "v1", "Job", "jobs", cats=_ALL, sub=("status",)),
    _r("batch", "v1", "CronJob", "cronjobs", short=("cj",), cats=_ALL, sub=("status",)),
    # coordination.k8s.io/v1
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    # networking.k8s.io/v1: stored only; an ingress controller acts on Ingresses, nothing
    # enforces NetworkPolicies (kube-apiserver has no controller for them either)
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), sub=("status",)),
    _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    # discovery.k8s.io/v1
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    # storage.k8s.io/v1
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False, short=("sc",)),
    # scheduling.k8s.io/v1
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False, short=("pc",)),
    # policy/v1
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), sub=("status",)),
    # autoscaling/v2 (stored) and autoscaling/v1: the same objects in two shapes
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=("hpa",), cats=_ALL,
       sub=("status",)),
    _r("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=("hpa",), cats=_ALL,
       sub=("status",)),
    # rbac.authorization.k8s.io/v1: enforced by kubelite.apiserver.authz
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    # events.k8s.io/v1: the same objects as core events, in the newer shape
    _r("events.k8s.io", "v1", "Event", "events", short=("ev",),
       storage_group="", storage_plural="events"),
)


@dataclass
class Scheme:
    """The live set of served resources: the built-ins plus custom resources."""

    resources: list[ResourceInfo] = field(default_factory=lambda: list(BUILTIN))

    def lookup(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        for info in self.resources:
            if info.group == group and info.version == version and info.plural == plural:
                return info
        return None

    def by_kind(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        for info in self.resources:
            if info.group == group and info.version == version and info.kind == kind:
                return info
        return None

    def by_api_version(self, api_version: str, kind: str) -> ResourceInfo | None:
        group, _, version = api_version.rpartition("/")
        return self.by_kind(group, version, kind)

    def group_versions(self) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        for info in self.resources:
            gv = (info.group, info.version)
            if gv not in seen:
                seen.append(gv)
        return seen

    def add(self, info: ResourceInfo) -> None:
        self.remove(info.group, info.version, info.plural)
        self.resources.append(info)

    def remove(self, group: str, version: str, plural: str) -> None:
        self.resources = [r for r in self.resources
                          if not (r.group == group and r.version == version and r.plural == plural)]


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → (``apps``, ``v1``); ``v1`` → (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version
