"""A whole HA cluster for the cluster tier and ``bench/failover.py``: a three-member etcd
cluster, N ``kubelite server`` processes sharing one identity (the first prints a join
token, the others ``--join`` it), and ``kubelite agent`` processes pointed at every server.

Also a tiny synchronous API client (``Api``) bound to *one* server URL, so a test decides
exactly which server a request goes to (the fault being injected is usually "that server
is dead"), and helpers to find who holds the controller/scheduler Leases.

Used by ``tests/cluster/test_ha_*.py`` and ``bench/failover.py``.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from tests.support import etcd, processes

Obj = dict[str, Any]

CONTROLLER_LEASE = "kube-controller-manager"
SCHEDULER_LEASE = "kube-scheduler"


class ApiError(Exception):
    """A non-2xx answer (``code`` is the HTTP status) or no answer at all (``code`` 0)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class Api:
    """Synchronous JSON calls to one API server (no failover: the test picks the server)."""

    url: str
    token: str
    ca_file: Path
    timeout: float = 10.0

    def __post_init__(self) -> None:
        self._ctx = ssl.create_default_context(cafile=str(self.ca_file))

    def request(self, method: str, path: str, body: Any = None, *, params: dict[str, str] | None = None,
                content_type: str = "application/json", timeout: float | None = None) -> Obj:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json",
            "Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=timeout or self.timeout) as resp:
                result: Obj = json.loads(resp.read() or b"{}")
                return result
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode(errors="replace")[:300]) from None
        except (OSError, TimeoutError) as exc:  # refused, reset, timed out
            raise ApiError(0, repr(exc)) from None

    def get(self, path: str, **kw: Any) -> Obj:
        return self.request("GET", path, **kw)

    def create(self, path: str, body: Obj, **kw: Any) -> Obj:
        return self.request("POST", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Obj:
        return self.request("DELETE", path, **kw)

    def patch(self, path: str, body: Obj, **kw: Any) -> Obj:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json", **kw)

    def items(self, path: str, **kw: Any) -> list[Obj]:
        return list(self.get(path, **kw).get("items") or [])


@dataclass
class Agent:
    """``kubelite agent`` as a child process, optionally inside a network namespace."""

    node: str
    servers: list[str]
    token: str
    ca_file: Path
    data_dir: Path
    runtime: str = "fake"
    netns: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Agent:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "agent.log", "ab")  # noqa: SIM115 - the child writes it for its lifetime
        cmd = processes.kubelite_command() + [
            "agent", "--server", ",".join(self.servers), f"--token={self.token}",
            "--certificate-authority", str(self.ca_file), "--node-name", self.node,
            "--runtime", self.runtime, "--data-dir", str(self.data_dir), "--stream-port", "0"]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        path = self.data_dir / "agent.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class HACluster:
    """``HACluster(tmp).start(servers=3, agents=["n1", "n2"])``; ``stop()`` when done.

    ``env`` goes to every server (and so to its controller manager and scheduler), e.g.
    ``KUBELITE_NODE_GRACE_SECONDS``. ``server_args`` are extra flags for every server.
    """

    base_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    server_args: list[str] = field(default_factory=list)
    etcd_members: int = 3
    etcd: etcd.EtcdCluster | None = None
    servers: list[processes.ServerProcess] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)
    token: str = ""
    paused: set[int] = field(default_factory=set)  # servers a test has SIGSTOPped

    # --- lifecycle ----------------------------------------------------------------------

    def logs(self, lines: int = 25) -> str:
        """The last lines of every server's and agent's log, for a failure message."""
        parts = [f"--- server {i} ---\n{srv.tail(lines)}" for i, srv in enumerate(self.servers)]
        parts += [f"--- agent {a.node} ---\n{a.tail(lines)}" for a in self.agents]
        return "\n".join(parts)

    def start(self, *, servers: int = 3, agents: list[str] | tuple[str, ...] = (),
              runtime: str = "fake") -> HACluster:
        self.etcd = etcd.EtcdCluster(self.base_dir / "etcd", members=self.etcd_members).start()
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)  # ServerProcess passes its own environment on
        try:
            first = processes.ServerProcess(self.base_dir / "s0", extra_args=[
                "--datastore", self.etcd.url, *self.server_args]).start(timeout=60)
            self.servers.append(first)
            join_token = subprocess.run(processes.kubelite_command() + ["token", "--data-dir", str(first.data_dir)],
                                        check=True, capture_output=True, text=True).stdout.strip()
            others = [processes.ServerProcess(self.base_dir / f"s{i}", extra_args=[
                "--datastore", self.etcd.url, "--join", first.url, "--join-token", join_token,
                *self.server_args]) for i in range(1, servers)]
            for srv in others:
                srv.start(timeout=60)
                self.servers.append(srv)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.token = (first.data_dir / "pki" / "admin.token").read_text().strip()
        for name in agents:
            self.add_agent(name, runtime=runtime)
        return self

    @property
    def ca_file(self) -> Path:
        return self.servers[0].data_dir / "pki" / "ca.crt"

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def add_agent(self, node: str, *, runtime: str = "fake", netns: str | None = None,
                  servers: list[str] | None = None) -> Agent:
        agent = Agent(node=node, servers=servers or self.urls, token=self.token, ca_file=self.ca_file,
                      data_dir=self.base_dir / "agents" / node, runtime=runtime, netns=netns).start()
        self.agents.append(agent)
        return agent

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop(signal.SIGKILL)
        for srv in self.servers:
            if srv.proc is not None and srv.proc.poll() is None:
                srv.proc.send_signal(signal.SIGCONT)  # a stopped process cannot die of SIGTERM
            srv.stop()
        if self.etcd is not None:
            self.etcd.stop()

    # --- clients ------------------------------------------------------------------------

    def api(self, index: int, *, timeout: float = 10.0) -> Api:
        return Api(self.servers[index].url, self.token, self.ca_file, timeout=timeout)

    def alive(self) -> list[int]:
        """Indexes of servers whose process runs (and is not stopped by a test)."""
        return [i for i, s in enumerate(self.servers)
                if s.proc is not None and s.proc.poll() is None and i not in self.paused]

    def live_api(self, *, timeout: float = 10.0) -> Api:
        return self.api(self.alive()[0], timeout=timeout)

    # --- leases -------------------------------------------------------------------------

    def lease_holder(self, name: str, api: Api | None = None) -> str:
        lease = (api or self.live_api()).get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}")
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    def server_of(self, identity: str) -> int | None:
        """The index of the server whose children use ``identity`` (``host_<port>_<pid>``)."""
        for i, srv in enumerate(self.servers):
            if f"_{srv.port}_" in identity:
                return i
        return None

    def restart_server(self, index: int, *, timeout: float = 60.0) -> None:
        srv = self.servers[index]
        self.paused.discard(index)
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            srv.start(timeout=timeout)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def now_ms() -> float:
    return time.monotonic() * 1000.0


def deployment(name: str, *, replicas: int, namespace: str = "default", labels: dict[str, str] | None = None,
               image: str = "kubelite-test/busybox:1.0", command: list[str] | None = None) -> Obj:
    labels = labels or {"app": name}
    container: Obj = {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent"}
    if command:
        container["command"] = command
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}}}


def running_pods(api: Api, namespace: str, selector: str) -> list[Obj]:
    pods = api.items(f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": selector})
    return [p for p in pods if (p.get("status") or {}).get("phase") == "Running"
            and not (p.get("metadata") or {}).get("deletionTimestamp")]


def children(pid: int) -> list[int]:
    """Direct child pids of ``pid`` (a server's controller manager and scheduler)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class PodCounter:
    """Polls the non-terminating pods matching ``selector`` through any live server, from a
    background thread, and remembers the highest count it ever saw (``peak``) — the
    "a ReplicaSet never has more pods than desired" check across failovers."""

    def __init__(self, cluster: HACluster, *, namespace: str, selector: str, interval: float = 0.1) -> None:
        import threading

        self.cluster, self.namespace, self.selector, self.interval = cluster, namespace, selector, interval
        self.peak = 0
        self.samples = 0
        self.worst: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pod-counter")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            for index in self.cluster.alive():
                try:
                    pods = self.cluster.api(index, timeout=2).items(
                        f"/api/v1/namespaces/{self.namespace}/pods", params={"labelSelector": self.selector})
                except ApiError:
                    continue
                active = [p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")]
                self.samples += 1
                if len(active) > self.peak:
                    self.peak, self.worst = len(active), active
                break
            self._stop.wait(self.interval)
