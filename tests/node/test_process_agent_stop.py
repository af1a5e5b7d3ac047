"""A node agent on the process runtime leaves no process of its pods behind: not when it
is stopped with SIGTERM (it then exits cleanly, as kubelet does), not when it is killed
outright (the main processes die with it; what they forked is ended by the next agent on
the same data directory, which starts the pods anew rather than adopting them)."""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import Agent
from tests.node.helpers import alive, pids_with_env
from tests.support import processes

# The container forks a child in its own group and one that leaves its process group
# (as a shell with job control puts its jobs): signals to the group miss the second.
SCRIPT = (f"sleep 1000 & {sys.executable} -c 'import os, time; os.setpgid(0, 0); time.sleep(1000)' & "
          "wait")


@pytest.fixture
def node(core: Any) -> Iterator[str]:
    name = f"n-proc-{uuid.uuid4().hex[:6]}"
    yield name
    core.delete_node(name)


def start_agent(server: processes.ServerProcess, core: Any, data_dir: Any, node: str) -> Agent:
    agent = Agent(kubeconfig=server.kubeconfig, data_dir=data_dir, node=node, runtime="process").start()
    wait_for(lambda: any(c.type == "Ready" and c.status == "True"
                         for c in core.read_node(node).status.conditions or []),
             30, 0.1, f"node {node} Ready", ignore=(Exception,))
    return agent


def run_forking_pod(core: Any, namespace: str, node: str) -> str:
    """A Running pod whose container forked two children; the marker in their env."""
    marker = f"kubelite-test-{uuid.uuid4().hex[:8]}"
    core.create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "forker"},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 2, "containers": [{
            "name": "f", "image": "unused", "command": ["sh", "-c", SCRIPT],
            "env": [{"name": "MARK", "value": marker}]}]}})
    wait_for(lambda: core.read_namespaced_pod("forker", namespace).status.phase == "Running", 30, 0.2,
             "forker Running")
    wait_for(lambda: len(pids_with_env("MARK", marker)) == 3, 10, 0.05, "the shell and its two children")
    return marker


# Both end the agent normally, as kubelet; SIGINT too when the agent was started with it
# ignored (a shell's background job: how a CI run started this suite when the SIGINT
# case, then expecting Python's exit 130, timed out).
@pytest.mark.parametrize(("sig", "inherited"), [(signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.SIG_DFL),
                                                 (signal.SIGINT, signal.SIG_IGN)],
                         ids=["SIGTERM", "SIGINT", "SIGINT-ignored-by-its-parent"])
def test_a_stop_signal_ends_the_agent_and_every_process_of_its_pods(
        server: processes.ServerProcess, core: Any, namespace: str, node: str,
        tmp_path_factory: pytest.TempPathFactory, sig: signal.Signals, inherited: Any) -> None:
    exit_code = 0
    ours = signal.signal(signal.SIGINT, inherited)  # what the agent's process starts with
    try:
        agent = start_agent(server, core, tmp_path_factory.mktemp("agent-stop"), node)
    finally:
        signal.signal(signal.SIGINT, ours)
    try:
        marker = run_forking_pod(core, namespace, node)
        assert agent.proc is not None
        agent.proc.send_signal(sig)
        code = agent.proc.wait(timeout=15)
        assert code == exit_code, f"the agent did not stop cleanly on {sig.name} (exit {code}):\n{agent.tail()}"
        assert "Traceback" not in agent.tail()
        assert pids_with_env("MARK", marker) == []  # gone by the time the agent has exited
    finally:
        agent.kill(signal.SIGKILL)


def test_an_agent_killed_outright_leaves_nothing_to_the_next(server: processes.ServerProcess, core: Any,
                                                              namespace: str, node: str,
                                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("agent-kill")
    agent = start_agent(server, core, data_dir, node)
    later: Agent | None = None
    try:
        marker = run_forking_pod(core, namespace, node)
        first = set(pids_with_env("MARK", marker))
        [lead] = [p for p in first if os.getsid(p) == p]  # the shell leads the container's session
        agent.kill(signal.SIGKILL)  # none of the agent's clean-up code runs
        wait_for(lambda: not alive(lead), 10, 0.05, "the container's main process gone with its agent")
        later = start_agent(server, core, data_dir, node)
        wait_for(lambda: not any(alive(p) for p in first), 15, 0.05,
                 "what the container forked ended by the next agent")
        # …which runs the pod anew: one new copy, not a second one beside the old.
        wait_for(lambda: len(pids_with_env("MARK", marker)) == 3, 30, 0.1, "the pod's container started anew")
        assert not set(pids_with_env("MARK", marker)) & first
    finally:
        agent.kill(signal.SIGKILL)
        if later is not None:
            later.kill(signal.SIGTERM)
