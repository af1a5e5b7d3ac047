"""Fixtures of the node tier: a real ``kubelite server`` (no scheduler) and a real agent
process on the Docker runtime, node ``n1``.

Tests bind pods to ``n1`` themselves (``spec.nodeName``). The agent runs with a 1 s
CrashLoopBackOff base (``KUBELITE_AGENT_BACKOFF_BASE``) so that growing delays show in
seconds rather than minutes. Every container the agent made (label ``io.kubelite.*``) is
removed at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.support import processes

NODE = "n1"
IMAGE = "kubelite-test/busybox:1.0"


def _docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        out = subprocess.run(["docker", "image", "inspect", IMAGE, "kubelite/pause:1.0"], capture_output=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _docker_ok():
        return
    skip = pytest.mark.skip(reason="needs a Docker engine and the images of scripts/build-test-image.sh")
    for item in items:
        if "docker" in item.keywords:
            item.add_marker(skip)


def remove_agent_containers(node: str | None = None) -> None:
    label = f"io.kubelite.node={node}" if node else "io.kubelite.pod-uid"
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True,
                         text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)


@dataclass
class Agent:
    kubeconfig: Path
    data_dir: Path
    node: str = NODE
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    runtime: str = "docker"

    def start(self) -> Agent:
        log = open(self.data_dir / "agent.log", "ab")
        cmd = processes.kubelite_command() + ["agent", "--kubeconfig", str(self.kubeconfig), "--node-name",
                                               self.node, "--runtime", self.runtime, "--data-dir",
                                               str(self.data_dir), "--stream-port", "0"]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1",
                                          "KUBELITE_AGENT_BACKOFF_BASE": "1", **self.env})
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)  # a clean stop (SIGTERM) on a loaded machine takes its time

    def tail(self, lines: int = 60) -> str:
        path = self.data_dir / "agent.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.ServerProcess]:
    srv = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("node-server"),
                                  extra_args=["--disable-scheduler", "--disable-controllers",
                                              # no controllers: no ServiceAccount to mount a token of
                                              "--disable-admission-plugins=ServiceAccount"])
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def core(server: processes.ServerProcess) -> Iterator[Any]:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


@pytest.fixture(scope="session")
def agent(server: processes.ServerProcess, core: Any,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    remove_agent_containers(NODE)
    ag = Agent(kubeconfig=server.kubeconfig, data_dir=tmp_path_factory.mktemp("agent")).start()

    def ready() -> bool:
        node = core.read_node(NODE)
        return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])

    try:
        wait_for(ready, 30, 0.1, "node n1 Ready", ignore=(Exception,))
    except AssertionError:
        raise AssertionError(f"agent never became ready:\n{ag.tail()}") from None
    yield ag
    ag.kill(signal.SIGTERM)
    remove_agent_containers(NODE)


@pytest.fixture
def namespace(core: Any, agent: Agent) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name


def pod_manifest(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    for c in containers:
        c.setdefault("image", IMAGE)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 5, "containers": containers, **spec}}
