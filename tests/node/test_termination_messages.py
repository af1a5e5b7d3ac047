"""Termination messages on a real Docker engine: what a container writes to its
``terminationMessagePath`` (default /dev/termination-log) is the ``message`` of its
terminated state, ``kubectl describe``'s "Message:", and its ``lastState``'s after a
restart; with ``FallbackToLogsOnError`` a failed container that wrote nothing there is
described by the end of its log. The process runtime has no /dev of its own to mount a
file on: its containers have only the fallback to their logs."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import Agent, pod_manifest
from tests.node.helpers import container_status, phase
from tests.support import processes

pytestmark = pytest.mark.docker


def terminated(core: Any, namespace: str, name: str) -> dict[str, Any]:
    wait_for(lambda: phase(core, namespace, name) in ("Succeeded", "Failed"), 30, 0.1, f"{name} finished")
    return dict(container_status(core, namespace, name, "c")["state"]["terminated"])


def test_what_a_container_leaves_in_its_termination_log_is_its_message(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("said", [{
        "name": "c", "command": ["sh", "-c", "echo 'custom msg' > /dev/termination-log; exit 5"],
        "securityContext": {"runAsUser": 1000}}], restartPolicy="Never"))  # any user may write it
    term = terminated(core, namespace, "said")
    assert (term["exitCode"], term["reason"], term["message"]) == (5, "Error", "custom msg\n")


def test_a_custom_path_works_and_only_the_end_of_a_long_message_is_kept(core: Any, namespace: str) -> None:
    script = "for i in $(seq 1 1000); do echo line-$i; done > /tmp/why; echo done >> /tmp/why"
    core.create_namespaced_pod(namespace, pod_manifest("long", [{
        "name": "c", "command": ["sh", "-c", script], "terminationMessagePath": "/tmp/why"}], restartPolicy="Never"))
    term = terminated(core, namespace, "long")
    assert term["exitCode"] == 0, term
    assert len(term["message"].encode()) == 4096 and term["message"].endswith("line-1000\ndone\n")


def test_fallback_to_logs_on_error_describes_a_failed_container_by_its_log(core: Any, namespace: str) -> None:
    many = "for i in $(seq 1 100); do echo log-$i; done"
    core.create_namespaced_pod(namespace, pod_manifest("failed", [{
        # (a pause: the engine copies stdout and stderr apart, a line on each may swap)
        "name": "c", "command": ["sh", "-c", f"{many}; sleep 0.5; echo boom >&2; exit 3"],
        "terminationMessagePolicy": "FallbackToLogsOnError"}], restartPolicy="Never"))
    message = terminated(core, namespace, "failed")["message"]
    lines = message.splitlines()
    assert len(lines) == 80 and lines[0] == "log-22" and lines[-1] == "boom"  # the last 80 lines

    core.create_namespaced_pod(namespace, pod_manifest("fine", [{
        "name": "c", "command": ["sh", "-c", "echo all good"],
        "terminationMessagePolicy": "FallbackToLogsOnError"}], restartPolicy="Never"))
    assert "message" not in terminated(core, namespace, "fine")  # only a failure falls back

    core.create_namespaced_pod(namespace, pod_manifest("both", [{
        "name": "c", "command": ["sh", "-c", "echo noise; echo 'the file wins' > /dev/termination-log; exit 1"],
        "terminationMessagePolicy": "FallbackToLogsOnError"}], restartPolicy="Never"))
    assert terminated(core, namespace, "both")["message"] == "the file wins\n"


def test_a_restarted_container_keeps_its_last_message_and_starts_with_an_empty_file(core: Any, namespace: str) -> None:
    log = "/dev/termination-log"
    script = f'cat {log}; echo "was empty: $(wc -c < {log})" > {log}; exit 1'
    core.create_namespaced_pod(namespace, pod_manifest("again", [{"name": "c", "command": ["sh", "-c", script]}]))

    def last_message() -> str:
        cs = container_status(core, namespace, "again", "c")
        return str(((cs.get("lastState") or {}).get("terminated") or {}).get("message") or "")

    assert wait_for(last_message, 30, 0.1, "lastState with a message") == "was empty: 0\n"


PROCESS_NODE = "n-proc-messages"


@pytest.fixture(scope="module")
def process_node(server: processes.ServerProcess, core: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    agent = Agent(kubeconfig=server.kubeconfig, data_dir=tmp_path_factory.mktemp("agent-proc-messages"),
                  node=PROCESS_NODE, runtime="process").start()
    try:
        wait_for(lambda: any(c.type == "Ready" and c.status == "True"
                             for c in core.read_node(PROCESS_NODE).status.conditions or []),
                 30, 0.1, f"node {PROCESS_NODE} Ready", ignore=(Exception,))
    except AssertionError:
        agent.kill(signal.SIGKILL)
        raise AssertionError(f"agent never became ready:\n{agent.tail()}") from None
    yield PROCESS_NODE
    agent.kill(signal.SIGTERM)
    core.delete_node(PROCESS_NODE)


def test_the_process_runtime_falls_back_to_the_log_of_a_failed_container(core: Any, namespace: str,
                                                                        process_node: str) -> None:
    manifest = pod_manifest("proc", [{"name": "c", "command": ["sh", "-c", "echo starting; echo broken >&2; exit 2"],
                                      "terminationMessagePolicy": "FallbackToLogsOnError"}], restartPolicy="Never")
    manifest["spec"]["nodeName"] = process_node
    core.create_namespaced_pod(namespace, manifest)
    term = terminated(core, namespace, "proc")
    assert (term["exitCode"], term["message"]) == (2, "starting\nbroken\n")
