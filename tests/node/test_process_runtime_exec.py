"""``kubectl exec``, ``cp``, ``attach`` and ``logs`` against pods of the process runtime
(what ``kubelite up`` falls back to without Docker): a real server, a real agent with
``--runtime process``, the real kubectl and the official Python client, through the API
server's stream proxy to the agent.

Containers are host processes there, so ``kubectl cp`` writes to (and reads from) the
host's filesystem, in a directory of the test's own.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import Agent
from tests.support import processes

NODE = "n-proc-streams"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
TICKER = "echo early; sleep 2.5; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"


@pytest.fixture(scope="module")
def cluster(server: processes.ServerProcess, core: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A namespace with two pods on a process-runtime node: ``shell`` (sleeps, for exec and
    cp) and ``ticker`` (prints a line every 0.3 s after an early one, for logs and attach)."""
    agent = Agent(kubeconfig=server.kubeconfig, data_dir=tmp_path_factory.mktemp("agent-proc-streams"), node=NODE,
                  runtime="process").start()
    namespace = f"ps-{uuid.uuid4().hex[:6]}"
    try:
        wait_for(lambda: any(c.type == "Ready" and c.status == "True"
                             for c in core.read_node(NODE).status.conditions or []),
                 30, 0.1, f"node {NODE} Ready", ignore=(Exception,))
        core.create_namespace({"metadata": {"name": namespace}})
        for name, script in (("shell", "exec sleep 3600"), ("ticker", TICKER)):
            core.create_namespaced_pod(namespace, {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "main", "image": "unused-by-the-process-runtime", "command": ["sh", "-c", script]}]}})
        wait_for(lambda: all(_phase(core, namespace, n) == "Running" for n in ("shell", "ticker")), 30, 0.1,
                 "pods shell and ticker Running")
        yield namespace
    except AssertionError:
        raise AssertionError(f"the process agent failed:\n{agent.tail()}") from None
    finally:
        # The agent stops the pods' process groups; killed first, it would leave their
        # children (a shell's) behind: only its own children die with it.
        try:
            core.delete_collection_namespaced_pod(namespace)
            wait_for(lambda: not core.list_namespaced_pod(namespace).items, 20, 0.2, "pods gone")
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass
        agent.kill(signal.SIGTERM)
        try:
            core.delete_namespace(namespace)
            core.delete_node(NODE)
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass


def _phase(core: Any, namespace: str, name: str) -> str:
    return str(core.read_namespaced_pod(name, namespace).status.phase)


@pytest.fixture(scope="module")
def kubectl(server: processes.ServerProcess, cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path_factory.mktemp("kubectl-home")),
           "KUBECONFIG": str(server.kubeconfig)}

    def run(*args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBECTL, "-n", cluster, *args], check=False, capture_output=True, text=True,
                              input=stdin, env=env, timeout=timeout)

    run.env = env  # type: ignore[attr-defined]
    return run


# --- exec and cp ------------------------------------------------------------------------------


def test_kubectl_exec_prints_output_and_propagates_the_exit_code(kubectl: Any) -> None:
    hi = kubectl("exec", "shell", "--", "echo", "hi")
    assert (hi.returncode, hi.stdout) == (0, "hi\n"), hi.stderr
    ran = kubectl("exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert ran.returncode == 3
    assert ran.stdout == "out\n"
    assert "err\n" in ran.stderr and "command terminated with exit code 3" in ran.stderr


def test_kubectl_exec_with_stdin(kubectl: Any) -> None:
    ran = kubectl("exec", "-i", "shell", "--", "tr", "a-z", "A-Z", stdin="shout this\n")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "SHOUT THIS\n"


def test_kubectl_exec_of_a_missing_command_says_why(kubectl: Any) -> None:
    ran = kubectl("exec", "shell", "--", "no-such-command")
    assert ran.returncode != 0
    assert 'exec: "no-such-command": executable file not found in $PATH' in ran.stderr, ran.stderr
    assert "interactive" not in ran.stderr


def test_kubectl_cp_into_and_out_of_a_pod(kubectl: Any, tmp_path: Path) -> None:
    # The pod's filesystem is the host's: a directory of this test stands for the container's.
    inside = tmp_path / "in-the-pod"
    inside.mkdir()
    source = tmp_path / "f.txt"
    source.write_text("copied through exec and tar\n")
    put = kubectl("cp", str(source), f"shell:{inside}/f.txt")
    assert put.returncode == 0, put.stderr
    assert (inside / "f.txt").read_text() == "copied through exec and tar\n"
    (inside / "back.txt").write_text("and back\n")
    back = tmp_path / "back.txt"
    got = kubectl("cp", f"shell:{inside}/back.txt", str(back))
    assert got.returncode == 0, got.stderr
    assert back.read_text() == "and back\n"


def test_python_client_exec_and_its_error_status(server: processes.ServerProcess, cluster: str) -> None:
    from kubernetes import client, config
    from kubernetes.stream import stream

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(server.kubeconfig)))
    out = stream(api.connect_get_namespaced_pod_exec, "shell", cluster, command=["sh", "-c", "echo from python"],
                 stdout=True, stderr=True, stdin=False, tty=False)
    assert out == "from python\n"
    resp = stream(api.connect_get_namespaced_pod_exec, "shell", cluster, command=["sh", "-c", "exit 5"],
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    assert resp.returncode == 5
    # A terminal: the command sees one.
    tty = stream(api.connect_get_namespaced_pod_exec, "shell", cluster, command=["tty"], stdout=True, stderr=True,
                 stdin=False, tty=True)
    assert re.fullmatch(r"/dev/pts/\d+\r\n", tty), tty
    # A failure the runtime reports is a Status with details, as kubelet's InternalError.
    failed = stream(api.connect_get_namespaced_pod_exec, "shell", cluster, command=["no-such-command"],
                    stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    failed.run_forever(timeout=10)
    status = json.loads(failed.read_channel(3))
    assert (status["status"], status["reason"], status["code"]) == ("Failure", "InternalError", 500)
    assert status["details"]["causes"][0]["message"] == \
        'error executing command in container: exec: "no-such-command": executable file not found in $PATH'


# --- attach and logs ------------------------------------------------------------------------


def test_kubectl_attach_streams_the_running_process(kubectl: Any, cluster: str) -> None:
    proc = subprocess.Popen([KUBECTL, "-n", cluster, "attach", "ticker"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=kubectl.env)
    try:
        assert proc.stdout is not None
        deadline, lines = time.monotonic() + 15, []
        while time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.2)[0]:
                line = proc.stdout.readline()
                if not line:
                    break  # kubectl ended
                lines.append(line)
                if re.fullmatch(r"tick \d+\n", line):
                    return
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"no tick from kubectl attach: {lines}; stderr: {err}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_kubectl_logs_timestamps_and_since(kubectl: Any) -> None:
    wait_for(lambda: "tick 3" in kubectl("logs", "ticker").stdout, 20, 0.2, "four ticks")
    stamped = kubectl("logs", "ticker", "--tail", "2", "--timestamps")
    assert stamped.returncode == 0, stamped.stderr
    assert re.fullmatch(rf"{STAMP} tick \d+\n{STAMP} tick \d+\n", stamped.stdout), stamped.stdout
    everything = kubectl("logs", "ticker").stdout
    assert everything.startswith("early\ntick 0\n")
    recent = kubectl("logs", "ticker", "--since", "1s")
    assert recent.returncode == 0, recent.stderr
    assert recent.stdout and "early" not in recent.stdout and "tick 0\n" not in recent.stdout, recent.stdout
    assert all(re.fullmatch(r"tick \d+", line) for line in recent.stdout.splitlines())
