"""The runtime driver contract: how the node agent asks a container engine to run a pod.

Shaped like CRI and Nomad's driver plugins. The pod workers (``kubelite.agent.workers``)
are the only callers; the drivers are ``docker`` (real containers), ``process`` (host
processes, no isolation) and ``fake`` (instant Running, for scale tests).

The agent keeps no state of its own about containers: everything it needs to resume
after a restart is in the runtime, written as labels at creation (``LABEL_*`` below).
``list_containers`` is therefore the source of truth, and a restarted agent adopts what
it finds instead of starting a second copy.

Contract, for every driver:

- A *sandbox* owns the pod's network namespace (its IP is the pod IP). It is created and
  started by ``create_sandbox`` and must exist before ``create_container`` is called for
  the pod; every container of the pod joins its network namespace. When
  ``SandboxConfig.single_container`` is set a driver may make the sandbox *virtual*: no
  container of its own, the pod's one container owns the network namespace, and a
  restarted container gets the same IP. ``list_sandboxes`` reports a virtual sandbox as
  running while the pod has containers (or until ``remove_sandbox``), so callers treat
  both kinds alike.
- ``create_container`` never starts the container; ``start_container`` does. A container
  that exits stays listed (state ``EXITED`` with exit code, finish time and ``oom_killed``)
  until ``remove_container``: the agent needs it for ``lastState`` and ``logs --previous``.
- ``stop_container(id, timeout)`` sends SIGTERM, waits ``timeout`` seconds, then SIGKILL.
  Stopping a stopped container and removing a removed one are not errors (idempotent).
- ``events()`` yields a ``RuntimeEvent`` for every start, death and OOM kill of a container
  carrying kubelite labels, within about a second; the agent reacts to them instead of
  polling. It may end when the engine goes away; the caller re-subscribes.
- Errors are ``DriverError`` subclasses; an ``ImagePullError`` is reported to the user as
  ``ErrImagePull``, a ``ContainerConfigError`` as ``CreateContainerConfigError``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

LABEL_POD_UID = "io.kubelite.pod-uid"
LABEL_POD_NAME = "io.kubelite.pod-name"
LABEL_NAMESPACE = "io.kubelite.namespace"
LABEL_CONTAINER = "io.kubelite.container"
LABEL_ATTEMPT = "io.kubelite.attempt"
LABEL_KIND = "io.kubelite.kind"  # "sandbox" | "init" | "app" | "ephemeral"
LABEL_NODE = "io.kubelite.node"  # several agents may share one engine (tests, simulate)
LABEL_POD_IP = "io.kubelite.pod-ip"  # the pod's address, on whichever container owns the netns
LABEL_NETNS = "io.kubelite.netns"  # "own": this app container owns the pod's netns (virtual sandbox)


class DriverError(Exception):
    """The runtime refused or failed an operation."""


class ImagePullError(DriverError):
    """The image could not be pulled (no such image, registry unreachable)."""


class ImageNeverPullError(DriverError):
    """imagePullPolicy Never and the image is not present."""


class ContainerConfigError(DriverError):
    """The container spec cannot be turned into a container (bad mount, bad user, …)."""


class NotFoundError(DriverError):
    """No such container or sandbox."""


class State(enum.Enum):
    CREATED = "created"  # created, never started (an agent died between create and start)
    RUNNING = "running"
    EXITED = "exited"    # exited or killed; exit_code and finished_at are set
    UNKNOWN = "unknown"


@dataclass
class Mount:
    host_path: str
    container_path: str
    read_only: bool = False


@dataclass
class PortMapping:
    container_port: int
    host_port: int
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass
class DNSConfig:
    """The pod's resolver settings, from dnsPolicy and dnsConfig (``etcfiles``)."""

    use_host: bool = True  # the node's resolv.conf is the base (Default, ClusterFirst*)
    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)  # "name" or "name:value"


@dataclass
class SandboxConfig:
    pod_uid: str
    pod_name: str
    namespace: str
    node_name: str
    hostname: str
    host_network: bool = False
    ports: list[PortMapping] = field(default_factory=list)
    dns: DNSConfig = field(default_factory=lambda: DNSConfig())
    host_aliases: list[tuple[str, list[str]]] = field(default_factory=list)  # (ip, hostnames)
    # Exactly one app container, no init or ephemeral containers, not hostNetwork: the
    # driver may skip the sandbox container and let that container own the netns.
    single_container: bool = False


@dataclass
class SandboxInfo:
    id: str
    pod_uid: str
    state: State
    ip: str = ""
    created_at: float = 0.0


@dataclass
class ContainerConfig:
    pod_uid: str
    pod_name: str
    namespace: str
    node_name: str
    name: str
    attempt: int
    image: str
    kind: str = "app"  # "init", "app" or "ephemeral" (a debug container: ``kubelite.agent.ephemeral``)
    sidecar: bool = False  # an init container with restartPolicy Always: it runs beside the app containers
    # An ephemeral container's targetContainerName, as the id of that container's running
    # instance: the driver starts it in that container's PID namespace where it can.
    pid_target: str = ""
    command: list[str] | None = None  # replaces the image's ENTRYPOINT (k8s `command`)
    args: list[str] | None = None     # replaces the image's CMD (k8s `args`)
    working_dir: str = ""
    env: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    nano_cpus: int = 0          # limits.cpu
    cpu_shares: int = 0         # requests.cpu
    memory_bytes: int = 0       # limits.memory
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    privileged: bool = False
    user: str = ""              # "uid" or "uid:gid"
    read_only_rootfs: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)


@dataclass
class ContainerInfo:
    id: str
    pod_uid: str
    pod_name: str
    namespace: str
    name: str
    attempt: int
    kind: str
    state: State
    image: str = ""
    image_id: str = ""
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    oom_killed: bool = False
    message: str = ""


@dataclass
class ExecResult:
    exit_code: int
    output: bytes


@dataclass
class RuntimeEvent:
    kind: str  # "start" | "die" | "oom"
    container_id: str
    pod_uid: str
    container: str


class ExecSession(Protocol):
    """A streamed exec (``kubectl exec``, ``cp``), with or without stdin and a terminal, or
    an attach: stdin in, (stream, bytes) out, then an exit code."""

    async def write(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def read(self) -> tuple[int, bytes] | None:
        """(1 stdout | 2 stderr, data), or None at the end of output."""
    async def resize(self, width: int, height: int) -> None: ...
    async def exit_code(self) -> int: ...
    async def close(self) -> None: ...


@runtime_checkable
class RuntimeDriver(Protocol):
    """One container engine. All methods are safe to call concurrently for different pods."""

    name: str
    # Whether ``ContainerConfig.mounts`` reach the container (host paths bind-mounted): the
    # process and fake drivers have no filesystem of their own and ignore them.
    supports_mounts: bool

    async def start(self) -> None:
        """Connect; raises DriverError when the engine does not answer."""

    async def close(self) -> None: ...

    async def version(self) -> str:
        """``<engine>://<version>`` for node.status.nodeInfo.containerRuntimeVersion."""

    async def ensure_image(self, image: str, *, policy: str) -> tuple[bool, str]:
        """Make ``image`` present per ``policy`` (Always | IfNotPresent | Never).

        Returns (pulled, image id). Raises ImagePullError / ImageNeverPullError."""

    async def create_sandbox(self, cfg: SandboxConfig) -> SandboxInfo:
        """Create and start the pod's sandbox; returns it with its IP."""

    async def list_sandboxes(self, *, node_name: str, pod_uid: str | None = None) -> list[SandboxInfo]: ...

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Stop (at once) and remove; the pod's containers must be removed first."""

    async def create_container(self, cfg: ContainerConfig, *, sandbox: SandboxInfo) -> str: ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, *, timeout: float) -> None: ...

    async def remove_container(self, container_id: str) -> None: ...

    async def list_containers(self, *, node_name: str, pod_uid: str | None = None) -> list[ContainerInfo]:
        """Every kubelite app/init container of this node (any state), or of one pod."""

    async def inspect_container(self, container_id: str) -> ContainerInfo: ...

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        """The container's output (stdout and stderr interleaved), as it arrives."""

    async def exec(self, container_id: str, cmd: list[str], *, timeout: float) -> ExecResult:
        """Run ``cmd`` in the container to completion (probes, hooks)."""

    async def exec_session(self, container_id: str, cmd: list[str], *, tty: bool,
                           stdin: bool) -> ExecSession:
        """Start ``cmd`` in the container for ``kubectl exec``: every exec goes through
        here, interactive or not. Raises DriverError when it cannot be started (the
        agent reports it as kubelet's InternalError Status)."""

    async def attach_session(self, container_id: str, *, stdin: bool, tty: bool) -> ExecSession: ...

    async def stats(self, container_id: str) -> dict[str, float]:
        """A point-in-time snapshot, cheap enough to take every few seconds per container:
        ``cpu_usage_ns`` (cumulative CPU time), ``memory_bytes`` (working set: usage minus
        inactive page cache) and optionally ``memory_usage_bytes``. Rates are the caller's
        job (``kubelite.agent.server`` samples twice). Raises NotFoundError for a gone
        container."""

    def events(self) -> AsyncIterator[RuntimeEvent]: ...
