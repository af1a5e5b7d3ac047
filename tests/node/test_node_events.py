"""``kubectl describe node`` shows what kubelet records about its node: that it started,
and each condition as it was first set ("Node n1 status is now: NodeReady")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import NODE, Agent
from tests.support import processes

pytestmark = pytest.mark.docker

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def test_describe_node_shows_the_agents_events(server: processes.ServerProcess, core: Any, agent: Agent) -> None:
    def described() -> str:
        return subprocess.run([KUBECTL, "--kubeconfig", str(server.kubeconfig), "describe", "node", NODE],
                              check=True, capture_output=True, text=True, timeout=30).stdout

    wanted = ("Starting kubelet.", f"Node {NODE} status is now: NodeHasSufficientMemory",
              f"Node {NODE} status is now: NodeHasNoDiskPressure", f"Node {NODE} status is now: NodeHasSufficientPID",
              f"Node {NODE} status is now: NodeReady")
    text = wait_for(lambda: all(w in (t := described()) for w in wanted) and t, 20, 0.2,
                    "the agent's node events in kubectl describe node")
    events = text.split("Events:", 1)[1]
    assert "NodeReady" in events and "kubelet" in events
