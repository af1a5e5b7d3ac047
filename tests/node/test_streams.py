"""Pods' streams through the API server: ``kubectl logs``, ``exec``, ``attach`` and
``port-forward``, and the Python client's ``stream()``, against a real ``kubelite up``
(server, controllers, scheduler and a Docker agent) — the API server proxies each to the
node agent, and port-forward runs kubectl's SPDY/3.1-in-WebSocket tunnel.

The pods are created once for the module (a web server with a ticking sidecar, a
crash-looping pod, a one-replica Deployment) so their start-up overlaps.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubelite.apiserver import streams_spdy
from tests.conftest import wait_for
from tests.node.conftest import IMAGE, remove_agent_containers
from tests.support import processes

KUBECTL = str(Path(sys.executable).parent / "kubectl")
TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"


@dataclass
class Cluster:
    kubeconfig: Path
    namespace: str
    env: dict[str, str]

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBECTL, "-n", self.namespace, *args], check=False, capture_output=True,
                              text=True, input=stdin, env=self.env, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([KUBECTL, "-n", self.namespace, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=self.env)

    def pod(self, name: str) -> dict[str, Any]:
        out = self.kubectl("get", "pod", name, "-o", "json")
        return json.loads(out.stdout) if out.returncode == 0 else {}


def _read_until(proc: subprocess.Popen[str], pattern: str, timeout: float) -> list[str]:
    """Lines of ``proc``'s stdout up to the first matching ``pattern`` (AssertionError at the deadline)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not ready:
            continue
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"no line matching {pattern!r} within {timeout}s; got {lines}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _running(cluster: Cluster, name: str) -> bool:
    status = cluster.pod(name).get("status") or {}
    return status.get("phase") == "Running" and all(
        (c.get("state") or {}).get("running") for c in status.get("containerStatuses") or [{}])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("streams")
    node = f"st-{uuid.uuid4().hex[:6]}"
    port = processes.free_port()
    log = open(data / "up.log", "wb")  # noqa: SIM115 - the server writes it for the whole module
    # the agent (a child of up) inherits the 1 s restart backoff: --previous needs a restart soon
    proc = subprocess.Popen([sys.executable, "-m", "kubelite.cli.main", "up", "--data-dir", str(data / "d"),
                             "--port", str(port), "--node-name", node, "--runtime", "docker"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "KUBELITE_AGENT_BACKOFF_BASE": "1"})
    kubeconfig = data / "d" / "kubeconfig.yaml"
    env = {"PATH": os.environ["PATH"], "HOME": str(data), "KUBECONFIG": str(kubeconfig)}
    c = Cluster(kubeconfig=kubeconfig, namespace="default", env=env)
    try:
        wait_for(lambda: kubeconfig.exists() and f"{node}   Ready" in c.kubectl("get", "nodes").stdout, timeout=60,
                 message="the node did not become Ready")
        c.namespace = f"st-{uuid.uuid4().hex[:6]}"
        assert c.kubectl("create", "namespace", c.namespace).returncode == 0
        manifests = [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
             "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                 {"name": "web", "image": IMAGE, "imagePullPolicy": "IfNotPresent"},
                 {"name": "ticker", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                  "command": ["sh", "-c", TICKER]}]}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crash"},
             "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                 {"name": "c", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                  "command": ["sh", "-c", "echo run-$(cat /proc/uptime | cut -d' ' -f1); sleep 1; exit 1"]}]}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "dep"},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "dep"}},
                      "template": {"metadata": {"labels": {"app": "dep"}},
                                   "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                       {"name": "main", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                        "command": ["sh", "-c", "echo from-deploy; sleep 3600"]}]}}}},
        ]
        created = c.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(m) for m in manifests))
        assert created.returncode == 0, created.stderr
        wait_for(lambda: _running(c, "web"), timeout=60, message="pod web Running")
        yield c
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        remove_agent_containers(node)


# --- logs ---------------------------------------------------------------------------------


@pytest.mark.docker
def test_logs_tail_timestamps_and_container(cluster: Cluster) -> None:
    wait_for(lambda: len(cluster.kubectl("logs", "web", "-c", "ticker").stdout.splitlines()) >= 3, timeout=10,
             message="three ticks")
    tail = cluster.kubectl("logs", "web", "-c", "ticker", "--tail", "2")
    assert tail.returncode == 0, tail.stderr
    lines = tail.stdout.splitlines()
    assert len(lines) == 2 and all(re.fullmatch(r"tick \d+", line) for line in lines), lines
    stamped = cluster.kubectl("logs", "web", "-c", "ticker", "--tail", "1", "--timestamps")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z tick \d+\n", stamped.stdout), stamped.stdout
    # the httpd container logs nothing: kubectl shows the container it was asked for
    assert cluster.kubectl("logs", "web", "-c", "web").stdout == ""


@pytest.mark.docker
def test_logs_default_container_or_a_clear_refusal(cluster: Cluster) -> None:
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    with pytest.raises(client.ApiException) as refused:
        api.read_namespaced_pod_log("web", cluster.namespace)
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["message"] == \
        "a container name must be specified for pod web, choose one of: [web ticker]"
    annotated = cluster.kubectl("annotate", "pod", "web", "kubectl.kubernetes.io/default-container=ticker")
    assert annotated.returncode == 0, annotated.stderr
    assert "tick" in api.read_namespaced_pod_log("web", cluster.namespace, tail_lines=1)
    unknown = cluster.kubectl("logs", "web", "-c", "nope")
    assert unknown.returncode != 0 and "nope" in unknown.stderr


@pytest.mark.docker
def test_logs_follow_shows_new_lines(cluster: Cluster) -> None:
    proc = cluster.popen("logs", "-f", "web", "-c", "ticker", "--tail", "1")
    try:
        first = _read_until(proc, r"tick \d+", timeout=10)[-1]
        later = _read_until(proc, r"tick \d+", timeout=10)[-1]
        assert int(later.split()[1]) > int(first.split()[1])
    finally:
        _stop(proc)


@pytest.mark.docker
def test_logs_previous_after_a_restart(cluster: Cluster) -> None:
    wait_for(lambda: any(s.get("restartCount", 0) >= 1 for s in
                         (cluster.pod("crash").get("status") or {}).get("containerStatuses") or []),
             timeout=30, message="pod crash restarted")
    previous = cluster.kubectl("logs", "crash", "--previous")
    assert previous.returncode == 0, previous.stderr
    assert re.fullmatch(r"run-[\d.]+\n", previous.stdout), previous.stdout


@pytest.mark.docker
def test_logs_of_a_deployment(cluster: Cluster) -> None:
    out = wait_for(lambda: (r := cluster.kubectl("logs", "deploy/dep")).returncode == 0 and r.stdout, timeout=30,
                   message="logs of deploy/dep")
    assert out == "from-deploy\n"


# --- exec and attach ----------------------------------------------------------------------


@pytest.mark.docker
def test_exec_prints_output_and_propagates_the_exit_code(cluster: Cluster) -> None:
    ran = cluster.kubectl("exec", "web", "-c", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert ran.returncode == 3
    assert ran.stdout == "out\n"
    assert "err" in ran.stderr
    ok = cluster.kubectl("exec", "web", "-c", "web", "--", "cat", "/www/index.html")
    assert ok.returncode == 0 and "hello from kubelite" in ok.stdout


@pytest.mark.docker
def test_exec_with_stdin(cluster: Cluster) -> None:
    ran = cluster.kubectl("exec", "-i", "web", "-c", "web", "--", "sh", "-c", "tr a-z A-Z", stdin="shout this\n")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "SHOUT THIS\n"


@pytest.mark.docker
def test_attach_streams_the_running_process(cluster: Cluster) -> None:
    proc = cluster.popen("attach", "web", "-c", "ticker")
    try:
        _read_until(proc, r"tick \d+", timeout=10)
    finally:
        _stop(proc)


@pytest.mark.docker
def test_python_client_exec(cluster: Cluster) -> None:
    from kubernetes import client, config
    from kubernetes.stream import stream

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    out = stream(api.connect_get_namespaced_pod_exec, "web", cluster.namespace, container="web",
                 command=["sh", "-c", "echo from python"], stdout=True, stderr=True, stdin=False, tty=False)
    assert out == "from python\n"
    resp = stream(api.connect_get_namespaced_pod_exec, "web", cluster.namespace, container="web",
                  command=["sh", "-c", "exit 5"], stdout=True, stderr=True, stdin=False, tty=False,
                  _preload_content=False)
    resp.run_forever(timeout=10)
    assert resp.returncode == 5


# --- port-forward -------------------------------------------------------------------------


@pytest.mark.docker
def test_kubectl_port_forward_serves_http(cluster: Cluster) -> None:
    proc = cluster.popen("port-forward", "pod/web", ":80")
    try:
        line = _read_until(proc, r"Forwarding from 127\.0\.0\.1:\d+ -> 80", timeout=15)[-1]
        local = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        # two connections in turn: each is its own pair of SPDY streams in one tunnel
        for _ in range(2):
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=10) as resp:
                assert resp.read() == b"hello from kubelite\n"
        assert proc.poll() is None, "kubectl port-forward should keep running between connections"
    finally:
        _stop(proc)


@pytest.mark.docker
def test_python_client_port_forward(cluster: Cluster) -> None:
    from kubernetes import client, config
    from kubernetes.stream import portforward

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web", cluster.namespace, ports="80")
    sock = pf.socket(80)
    sock.setblocking(True)
    sock.settimeout(10)
    try:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        assert data.startswith(b"HTTP/1.") and data.endswith(b"hello from kubelite\n"), data
    finally:
        sock.close()
        pf.close()


# --- the SPDY/3 codec (no Docker) ---------------------------------------------------------


def test_spdy_header_blocks_survive_any_split() -> None:
    # zlib checks the dictionary by its Adler-32: the SPDY/3 one is 0xe3c6a7c2
    assert zlib.adler32(streams_spdy.DICTIONARY) == 0xE3C6A7C2
    writer, reader = streams_spdy.FrameWriter(), streams_spdy.FrameReader()
    wire = (writer.syn_stream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]})
            + writer.syn_stream(3, {"streamtype": ["data"], "port": ["80"], "requestid": ["0"]})
            + writer.data(3, b"payload", fin=True))
    frames = [f for i in range(len(wire)) for f in reader.feed(wire[i:i + 1])]  # one byte at a time
    assert [type(f).__name__ for f in frames] == ["ControlFrame", "ControlFrame", "DataFrame"]
    headers = [reader.headers(f.payload[10:]) for f in frames[:2]]  # type: ignore[union-attr]
    assert [h["streamtype"] for h in headers] == [["error"], ["data"]]
    assert frames[2] == streams_spdy.DataFrame(stream_id=3, flags=streams_spdy.FLAG_FIN, data=b"payload")
