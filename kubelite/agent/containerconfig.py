"""What the runtime is asked to run for a pod: its sandbox (network identity, resolver
settings) and each spec container as a ``ContainerConfig`` (env, mounts, resources,
security context).

Called by ``workers.PodWorker`` when it creates a container and the pod's sandbox. Env
comes from ``envs`` (a missing ConfigMap raises ``envs.ConfigError``), mounts from
``volumes`` plus the instance's termination-message file (``termination``), limits and
requests as kubelet maps them onto the engine's CPU and memory settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubelite.agent import clusternet, envs, initcontainers, termination, volumes
from kubelite.agent.runtime import etcfiles
from kubelite.agent.runtime import interface as rt
from kubelite.api.validation import pods as pod_validation
from kubelite.client import rest

Obj = dict[str, Any]


def pod_dns(spec: Obj, *, namespace: str = "default", net: clusternet.ClusterNetwork | None = None,
            host_resolv: str | None = None) -> rt.DNSConfig:
    """dnsPolicy + dnsConfig as kubelet reads them. ClusterFirst (the default) with a
    cluster DNS: that server alone, the search path ``<ns>.svc.<domain> svc.<domain>
    <domain>`` then the node's, and ``ndots:5``; a hostNetwork pod needs
    ClusterFirstWithHostNet for that and otherwise gets Default, the node's resolver, as
    does ClusterFirst with no cluster DNS. None uses dnsConfig alone."""
    conf = spec.get("dnsConfig") or {}
    options = [f"{o['name']}:{o['value']}" if o.get("value") not in (None, "") else str(o["name"])
               for o in conf.get("options") or [] if o.get("name")]
    nameservers = [str(n) for n in conf.get("nameservers") or []]
    searches = [str(n) for n in conf.get("searches") or []]
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    cluster_first = (policy == "ClusterFirstWithHostNet"
                     or (policy == "ClusterFirst" and not spec.get("hostNetwork")))
    if cluster_first and net is not None and net.dns_ip:
        host_text = etcfiles.host_resolv() if host_resolv is None else host_resolv
        _servers, host_searches, _options = etcfiles.resolved(host_text, rt.DNSConfig())
        domain = net.domain
        return rt.DNSConfig(use_host=False, nameservers=[net.dns_ip, *nameservers],
                            searches=[f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host_searches,
                                      *searches],
                            options=[*clusternet.DNS_OPTIONS, *options])
    return rt.DNSConfig(use_host=policy != "None", nameservers=nameservers, searches=searches, options=options)


def sandbox(pod: Obj, *, node_name: str, net: clusternet.ClusterNetwork | None = None) -> rt.SandboxConfig:
    """The pod's sandbox: its network identity (hostname, hostPorts, DNS, hostAliases)."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    ports = [rt.PortMapping(container_port=int(p["containerPort"]), host_port=int(p["hostPort"]),
                            protocol=p.get("protocol", "TCP"), host_ip=p.get("hostIP", ""))
             for c in spec.get("containers") or [] for p in c.get("ports") or [] if p.get("hostPort")]
    single = (len(spec.get("containers") or []) == 1 and not spec.get("initContainers")
              and not spec.get("ephemeralContainers") and not spec.get("hostNetwork"))
    return rt.SandboxConfig(pod_uid=meta["uid"], pod_name=meta["name"], namespace=meta.get("namespace", "default"),
                            node_name=node_name, hostname=spec.get("hostname") or meta["name"],
                            host_network=bool(spec.get("hostNetwork")), ports=ports,
                            single_container=single,
                            dns=pod_dns(spec, namespace=meta.get("namespace", "default"), net=net),
                            host_aliases=[(str(a.get("ip") or ""), [str(h) for h in a.get("hostnames") or []])
                                          for a in spec.get("hostAliases") or [] if a.get("ip")])


def _expanded(words: list[str] | None, env: dict[str, str]) -> list[str] | None:
    """command and args with ``$(VAR)`` replaced from the container's environment, as kubelet does."""
    return None if words is None else [envs.expand(str(w), env) for w in words]


async def build(pod: Obj, spec: Obj, *, attempt: int, kind: str, node_name: str, host_ip: str, pod_ip: str,
                client: rest.Client, allocatable: dict[str, str], volume_manager: volumes.VolumeManager,
                volume_paths: dict[str, str], message_file: Path | None,
                net: clusternet.ClusterNetwork | None = None) -> rt.ContainerConfig:
    """The config of one instance (``attempt``) of the pod's container ``spec``; ``kind``
    is "init" or "app". Raises ``envs.ConfigError`` and ``volumes.VolumeError``."""
    meta = pod["metadata"]
    pod_spec = pod.get("spec") or {}
    pod_for_env = dict(pod)
    pod_for_env["status"] = {**(pod.get("status") or {}), "hostIP": host_ip}
    if pod_ip:  # known before the first status write: the sandbox has it
        pod_for_env["status"].update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    env = await envs.resolve(client, pod_for_env, spec, node_allocatable=allocatable,
                             service_env=clusternet.service_env(net, pod))
    mounts = volume_manager.mounts_for(spec, volume_paths)
    if message_file is not None:
        mounts.append(termination.mount(spec, message_file))
    limits = (spec.get("resources") or {}).get("limits") or {}
    requests = (spec.get("resources") or {}).get("requests") or {}
    cpu_limit = pod_validation.parse_quantity(limits.get("cpu")) if limits.get("cpu") is not None else None
    cpu_req = pod_validation.parse_quantity(requests.get("cpu", limits.get("cpu")))
    mem = pod_validation.parse_quantity(limits.get("memory")) if limits.get("memory") is not None else None
    sc = {**(pod_spec.get("securityContext") or {}), **(spec.get("securityContext") or {})}
    user = ""
    if sc.get("runAsUser") is not None:
        user = str(sc["runAsUser"]) + (f":{sc['runAsGroup']}" if sc.get("runAsGroup") is not None else "")
    caps = sc.get("capabilities") or {}
    return rt.ContainerConfig(
        pod_uid=meta["uid"], pod_name=meta["name"], namespace=meta.get("namespace", "default"),
        node_name=node_name, name=spec["name"], attempt=attempt, image=spec.get("image", ""),
        kind=kind, sidecar=kind == "init" and initcontainers.is_sidecar(spec),
        command=_expanded(spec.get("command"), env), args=_expanded(spec.get("args"), env),
        working_dir=spec.get("workingDir", ""),
        env=env, mounts=mounts,
        nano_cpus=int(cpu_limit * 10**9) if cpu_limit else 0,
        # upstream's MilliCPUToShares: 1024 per CPU, at least 2
        cpu_shares=max(2, int(cpu_req * 1024)) if cpu_req else 0,
        memory_bytes=int(mem) if mem else 0,
        tty=bool(spec.get("tty")), stdin=bool(spec.get("stdin")), stdin_once=bool(spec.get("stdinOnce")),
        privileged=bool(sc.get("privileged")), user=user,
        read_only_rootfs=bool(sc.get("readOnlyRootFilesystem")),
        cap_add=list(caps.get("add") or []), cap_drop=list(caps.get("drop") or []),
    )
