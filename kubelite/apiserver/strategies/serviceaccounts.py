"""ServiceAccount admission of pods: upstream's ``ServiceAccount`` admission plugin
(plugin/pkg/admission/serviceaccount), on create only.

Called by ``pods.PodStrategy.admit_create`` after Priority admission, unless the server
runs with ``--disable-admission-plugins=ServiceAccount`` (``server.ServerConfig``; as
upstream's scheduler_perf runs its apiserver, ``bench/scheduler.py`` does). For a pod that
is not a mirror pod (annotation ``kubernetes.io/config.mirror``, left alone):

1. ``spec.serviceAccountName`` defaults to ``default``; ``spec.serviceAccount``, its
   deprecated alias, always says the same (upstream's v1 conversion; ``sync_alias`` also
   serves updates and pods admitted without this plugin).
2. Unless ``spec.automountServiceAccountToken`` is false, or the pod leaves it unset and
   its ServiceAccount's is false, the pod gets the projected volume ``kube-api-access-<5
   random characters>`` (a bound token renewed by the node agent, the cluster's CA from
   the ``kube-root-ca.crt`` ConfigMap, the namespace), mounted read-only at
   ``/var/run/secrets/kubernetes.io/serviceaccount`` in every container (init, app and
   ephemeral) that mounts nothing there itself: what ``load_incluster_config``, kopf and
   kubectl in a pod read. A volume the pod already has under that prefix is used instead.
3. A pod without ``imagePullSecrets`` takes its ServiceAccount's.

Unlike upstream, a pod whose ServiceAccount does not exist (yet) is admitted, not refused
with 403: clients create pods in a namespace the moment they created it, while the
ServiceAccount controller makes its ``default`` account a moment later, and a server run
with ``--disable-controllers`` never makes it. Such a pod gets the volume all the same
(the account's own preference is unknown); its node agent mounts the token once the
account exists.

What admission added stays: pod updates may not change the spec beyond a few fields
(``validation.pods.validate_pod_update``), so an update must carry the volume and mounts
along, as upstream's; validation accepts projected volumes and these mounts like any.
The ServiceAccount is read from the watch cache as it is, as upstream's plugin reads its
informer: no pod create waits for the cache or goes to storage for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from kubelite.api import errors, meta
from kubelite.apiserver import satokens
from kubelite.apiserver.strategies import cluster

if TYPE_CHECKING:
    from kubelite.apiserver import registry

Obj = dict[str, Any]

PLUGIN: Final = "ServiceAccount"  # its name for --disable-admission-plugins
DEFAULT_SERVICE_ACCOUNT: Final = "default"
MOUNT_PATH: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX: Final = "kube-api-access-"
MIRROR_ANNOTATION: Final = "kubernetes.io/config.mirror"
ROOT_CA_CONFIGMAP: Final = "kube-root-ca.crt"
_CONTAINER_KINDS: Final = ("initContainers", "containers", "ephemeralContainers")


def token_volume_source() -> Obj:
    """The projected source of a ``kube-api-access-*`` volume, defaults included (upstream's
    TokenVolumeSource sets defaultMode itself: admission runs after defaulting)."""
    return {
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": satokens.WARN_ONLY_EXPIRATION_SECONDS, "path": "token"}},
            {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
        "defaultMode": 0o644,
    }


def sync_alias(spec: Any) -> None:
    """``spec.serviceAccount`` (deprecated) and ``spec.serviceAccountName`` say the same, as
    upstream's conversion makes them: the name wins, the alias fills in a missing name."""
    if not isinstance(spec, dict):
        return
    name = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if name:
        spec["serviceAccountName"] = spec["serviceAccount"] = name
    else:
        spec.pop("serviceAccount", None)


def is_mirror_pod(pod: Obj) -> bool:
    annotations = (pod.get("metadata") or {}).get("annotations")
    return isinstance(annotations, dict) and MIRROR_ANNOTATION in annotations


async def admit_pod(store: registry.Store | None, pod: Obj) -> None:
    """Steps 1-3 of the module docstring on a pod about to be created."""
    if is_mirror_pod(pod):
        return
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
    sync_alias(spec)
    account = await _service_account(store, pod, spec["serviceAccountName"])
    if _automount(spec, account):
        mount_token(spec)
    pull_secrets = (account or {}).get("imagePullSecrets")
    if not spec.get("imagePullSecrets") and isinstance(pull_secrets, list) and pull_secrets:
        spec["imagePullSecrets"] = [{"name": s.get("name") or ""} for s in pull_secrets if isinstance(s, dict)]


async def _service_account(store: registry.Store | None, pod: Obj, name: str) -> Obj | None:
    accounts = cluster.sibling(store, "", "serviceaccounts")
    namespace = (pod.get("metadata") or {}).get("namespace")
    if accounts is None or not namespace:
        return None
    try:
        return await accounts.get(namespace, name, resource_version="0")
    except errors.NotFound:
        return None  # admitted all the same (module docstring)


def _automount(spec: Obj, account: Obj | None) -> bool:
    """The pod's preference wins, then its ServiceAccount's; mounted by default."""
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    if account is not None and account.get("automountServiceAccountToken") is not None:
        return bool(account["automountServiceAccountToken"])
    return True


def mount_token(spec: Obj) -> None:
    """Mount a ``kube-api-access-*`` volume (the pod's own under that prefix, if it has one;
    else a new one) at ``MOUNT_PATH`` in every container that mounts nothing there; the
    volume is added only if some container mounts it."""
    volumes = spec.get("volumes")
    volumes = volumes if isinstance(volumes, list) else []
    existing = next((v["name"] for v in volumes if isinstance(v, dict) and isinstance(v.get("name"), str)
                     and v["name"].startswith(VOLUME_PREFIX)), None)
    volume_name = existing or meta.generate_name(VOLUME_PREFIX)
    mounted = False
    for kind in _CONTAINER_KINDS:
        containers = spec.get(kind)
        for container in containers if isinstance(containers, list) else []:
            if not isinstance(container, dict):
                continue
            mounts = container.get("volumeMounts")
            mounts = mounts if isinstance(mounts, list) else []
            if any(isinstance(m, dict) and m.get("mountPath") == MOUNT_PATH for m in mounts):
                continue
            container["volumeMounts"] = mounts + [{"name": volume_name, "readOnly": True, "mountPath": MOUNT_PATH}]
            mounted = True
    if mounted and existing is None:
        spec["volumes"] = volumes + [{"name": volume_name, "projected": token_volume_source()}]
