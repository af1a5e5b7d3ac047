"""What the Docker driver (``kubelite.agent.runtime.docker``) sends the engine and reads
back, as plain functions: container and sandbox create bodies, DNS and port settings,
container and sandbox state and times from inspect answers, usage from stats answers.
Nothing here talks to the engine.

Called by ``kubelite.agent.runtime.docker`` and ``kubelite.agent.runtime.dockerqueries``."""

from __future__ import annotations

import datetime
from typing import Any

import orjson

from kubelite.agent.runtime import etcfiles
from kubelite.agent.runtime import interface as rt


def engine_dns(host: dict[str, Any], dns: rt.DNSConfig, aliases: list[tuple[str, list[str]]]) -> None:
    """The pod's resolver settings and hostAliases for a container the engine attaches."""
    servers, searches, options = etcfiles.resolved(etcfiles.host_resolv(), dns)
    if not dns.use_host or dns.nameservers:
        host["Dns"] = servers
    if not dns.use_host or dns.searches:
        host["DnsSearch"] = searches
    if not dns.use_host or dns.options:
        host["DnsOptions"] = options
    if aliases:
        host["ExtraHosts"] = etcfiles.extra_hosts(aliases)


def port_bindings(ports: list[rt.PortMapping]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(HostConfig.PortBindings, Config.ExposedPorts) for hostPort mappings."""
    bindings = {f"{p.container_port}/{p.protocol.lower()}": [{"HostIp": p.host_ip, "HostPort": str(p.host_port)}]
                for p in ports}
    return bindings, {key: {} for key in bindings}


def parse_time(value: str | None) -> float:
    """Docker's RFC 3339 with nanoseconds → epoch seconds (0.0 for the zero time)."""
    if not value or value.startswith("0001-"):
        return 0.0
    main, _, frac = value.rstrip("Z").partition(".")
    base = datetime.datetime.fromisoformat(main).replace(tzinfo=datetime.UTC)
    tz_off = 0.0
    # A non-UTC offset ("+02:00") may trail the fraction.
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, off = frac.partition(sign)
            hours, _, minutes = off.partition(":")
            tz_off = (int(hours) * 3600 + int(minutes or 0) * 60) * (1 if sign == "+" else -1)
    fraction = float(f"0.{frac}") if frac else 0.0
    return base.timestamp() + fraction - tz_off


def state_of(value: str) -> rt.State:
    if value == "running" or value == "paused" or value == "restarting":
        return rt.State.RUNNING
    if value in ("exited", "dead"):
        return rt.State.EXITED
    if value == "created":
        return rt.State.CREATED
    return rt.State.UNKNOWN


def container_info(info: dict[str, Any]) -> rt.ContainerInfo:
    """A ContainerInfo from an engine inspect answer."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    state = info.get("State") or {}
    return rt.ContainerInfo(
        id=info["Id"], pod_uid=labels.get(rt.LABEL_POD_UID, ""),
        pod_name=labels.get(rt.LABEL_POD_NAME, ""), namespace=labels.get(rt.LABEL_NAMESPACE, ""),
        name=labels.get(rt.LABEL_CONTAINER, ""), attempt=int(labels.get(rt.LABEL_ATTEMPT, "0") or 0),
        kind=labels.get(rt.LABEL_KIND, "app"), state=state_of(state.get("Status", "")),
        image=(info.get("Config") or {}).get("Image", ""), image_id=info.get("Image", ""),
        created_at=parse_time(info.get("Created")), started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")), exit_code=int(state.get("ExitCode") or 0),
        oom_killed=bool(state.get("OOMKilled")), message=state.get("Error") or "",
    )


def sandbox_info(info: dict[str, Any]) -> rt.SandboxInfo:
    """A SandboxInfo from an engine inspect answer of a sandbox container."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    net = info.get("NetworkSettings") or {}
    ip = net.get("IPAddress") or ""
    if not ip:
        for network in (net.get("Networks") or {}).values():
            ip = ip or network.get("IPAddress") or ""
    state = info.get("State") or {}
    return rt.SandboxInfo(id=info["Id"], pod_uid=labels.get(rt.LABEL_POD_UID, ""),
                          state=rt.State.RUNNING if state.get("Running") else rt.State.EXITED,
                          ip=ip, created_at=parse_time(info.get("Created")))

def stats_of(data: dict[str, Any]) -> dict[str, float]:
    """A container's usage from the engine's one-shot stats answer, as the agent's sampler
    reads it: cumulative CPU nanoseconds, memory working set and usage in bytes."""
    cpu = ((data.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0
    mem = data.get("memory_stats") or {}
    usage = float(mem.get("usage") or 0)
    extra = mem.get("stats") or {}
    # working set as kubelet/cAdvisor define it: usage minus the reclaimable inactive
    # page cache (cgroup v1 names it total_inactive_file, v2 inactive_file)
    inactive = float(extra.get("total_inactive_file", extra.get("inactive_file")) or 0)
    working_set = usage - inactive if inactive < usage else 0.0
    return {"cpu_usage_ns": float(cpu), "memory_bytes": working_set, "memory_usage_bytes": usage}


def labels_filter(labels: dict[str, str]) -> str:
    """The engine's ``filters`` query parameter for containers carrying all ``labels``."""
    return orjson.dumps({"label": [f"{k}={v}" for k, v in labels.items()]}).decode()


def container_body(cfg: rt.ContainerConfig) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The create request of one container, before its pod's network is decided:
    (config, its HostConfig, its Labels), the last two also inside the first."""
    labels = {
        rt.LABEL_POD_UID: cfg.pod_uid, rt.LABEL_POD_NAME: cfg.pod_name,
        rt.LABEL_NAMESPACE: cfg.namespace, rt.LABEL_CONTAINER: cfg.name,
        rt.LABEL_ATTEMPT: str(cfg.attempt), rt.LABEL_KIND: cfg.kind, rt.LABEL_NODE: cfg.node_name,
    }
    host: dict[str, Any] = {
        "Init": True,
        "RestartPolicy": {"Name": "no"},  # the agent restarts, per restartPolicy and backoff
        "Binds": [f"{m.host_path}:{m.container_path}:{'ro' if m.read_only else 'rw'}" for m in cfg.mounts],
        "Privileged": cfg.privileged,
        "ReadonlyRootfs": cfg.read_only_rootfs,
        "CapAdd": cfg.cap_add or None,
        "CapDrop": cfg.cap_drop or None,
    }
    # Only what the pod sets; the engine keeps its defaults for the rest.
    host.update({k: v for k, v in (("NanoCpus", cfg.nano_cpus), ("CpuShares", cfg.cpu_shares)) if v})
    if cfg.memory_bytes:
        host["Memory"] = host["MemorySwap"] = cfg.memory_bytes  # no swap: the limit is the limit
    if cfg.pid_target:  # a debug container sees (and may signal) its target's processes
        host["PidMode"] = f"container:{cfg.pid_target}"
    config: dict[str, Any] = {
        "Image": cfg.image, "Labels": labels, "HostConfig": host,
        "Env": [f"{k}={v}" for k, v in cfg.env.items()],
        "Tty": cfg.tty, "OpenStdin": cfg.stdin, "StdinOnce": cfg.stdin_once,
        "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
    }
    # k8s `command` replaces ENTRYPOINT and drops the image's CMD; `args` replaces CMD.
    if cfg.command:
        config["Entrypoint"] = cfg.command
        config["Cmd"] = cfg.args or []
    elif cfg.args:
        config["Cmd"] = cfg.args
    config.update({k: v for k, v in (("WorkingDir", cfg.working_dir), ("User", cfg.user)) if v})
    return config, host, labels


def sandbox_body(cfg: rt.SandboxConfig, *, image: str, network: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The create request of a pod's sandbox container on ``network`` (a hostNetwork pod's
    is on the host's and ``network`` is ignored): (config, its Labels). The caller adds the
    pod's address, which may change between attempts."""
    labels = {
        rt.LABEL_POD_UID: cfg.pod_uid, rt.LABEL_POD_NAME: cfg.pod_name,
        rt.LABEL_NAMESPACE: cfg.namespace, rt.LABEL_KIND: "sandbox", rt.LABEL_NODE: cfg.node_name,
    }
    host: dict[str, Any] = {"Init": False, "RestartPolicy": {"Name": "no"}, "IpcMode": "shareable"}
    config: dict[str, Any] = {"Image": image, "Labels": labels}
    if cfg.host_network:
        host["NetworkMode"] = "host"
    else:
        host["NetworkMode"] = network
        config["Hostname"] = cfg.hostname[:63]
        if cfg.ports:
            host["PortBindings"], config["ExposedPorts"] = port_bindings(cfg.ports)
        engine_dns(host, cfg.dns, cfg.host_aliases)  # a host-network pod has the node's files, as upstream
    config["HostConfig"] = host
    return config, labels
