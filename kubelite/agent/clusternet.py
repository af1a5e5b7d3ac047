"""What the agent's pods learn about the cluster's Service network: the cluster DNS
address and domain (dnsPolicy ClusterFirst) and the Services whose environment variables
they get (kubelet's ``enableServiceLinks``).

Built by the runner (``kubelite.agent.runner``) and read by ``containerconfig`` when it
makes a pod's sandbox and containers. ``service_env`` follows kubelet's
getServiceEnvVarMap: the ``kubernetes`` Service of ``default`` always, the pod's own
namespace's Services when enableServiceLinks is not false, only Services with a cluster
IP, in the Docker-links style names (``REDIS_PRIMARY_SERVICE_HOST``,
``REDIS_PRIMARY_PORT_6379_TCP_ADDR``…).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubelite.proxy import view as view_mod

Obj = dict[str, Any]

CLUSTER_DNS_IP = "10.43.0.10"  # kube-dns's address in the service CIDR, as k3s's
CLUSTER_DOMAIN = "cluster.local"
DNS_OPTIONS = ["ndots:5"]  # kubelet's default for ClusterFirst
MASTER_NAMESPACE = "default"
MASTER_SERVICE = "kubernetes"


@dataclass
class ClusterNetwork:
    """The node's view of the Service network; ``dns_ip`` empty: no cluster DNS (pods use
    the node's resolver, as kubelet without --cluster-dns)."""

    services: view_mod.ServiceView | None = None
    dns_ip: str = ""
    domain: str = CLUSTER_DOMAIN


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _has_cluster_ip(svc: Obj) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def _one_service(svc: Obj) -> dict[str, str]:
    spec = svc.get("spec") or {}
    ip = str(spec["clusterIP"])
    ports = spec.get("ports") or []
    prefix = _env_name(svc["metadata"]["name"])
    env = {f"{prefix}_SERVICE_HOST": ip}
    if not ports:
        return env
    env[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
    for port in ports:
        if port.get("name"):
            env[f"{prefix}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port.get("port"))
    first = ports[0]
    env[f"{prefix}_PORT"] = f"{str(first.get('protocol') or 'TCP').lower()}://{ip}:{first.get('port')}"
    for port in ports:
        proto = str(port.get("protocol") or "TCP")
        base = f"{prefix}_PORT_{port.get('port')}_{proto.upper()}"
        env[base] = f"{proto.lower()}://{ip}:{port.get('port')}"
        env[f"{base}_PROTO"] = proto.lower()
        env[f"{base}_PORT"] = str(port.get("port"))
        env[f"{base}_ADDR"] = ip
    return env


def service_env(net: ClusterNetwork | None, pod: Obj) -> dict[str, str]:
    """The Service environment variables of ``pod``'s containers (added after the
    container's own env: a variable the container sets itself wins)."""
    if net is None or net.services is None:
        return {}
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    links = (pod.get("spec") or {}).get("enableServiceLinks") is not False
    chosen: dict[str, Obj] = {}
    for svc in net.services.services():
        meta = svc.get("metadata") or {}
        name = meta.get("name", "")
        if not _has_cluster_ip(svc):
            continue
        if meta.get("namespace") == MASTER_NAMESPACE and name == MASTER_SERVICE:
            chosen.setdefault(name, svc)
        elif meta.get("namespace") == namespace and links:
            chosen[name] = svc
    env: dict[str, str] = {}
    for name in sorted(chosen):
        env.update(_one_service(chosen[name]))
    return env
