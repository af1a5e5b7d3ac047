"""``kubectl top`` works against ``kubelite up``: the built-in ``metrics.k8s.io`` API reports
a CPU-burning pod's usage per pod and per container, filters by label and namespace, and
lists the node with CPU and memory; discovery advertises the group in both forms."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubelite.apiserver import metrics
from tests.conftest import wait_for
from tests.node.conftest import IMAGE
from tests.support import processes

KUBECTL = str(Path(sys.executable).parent / "kubectl")

PODS = f"""
apiVersion: v1
kind: Pod
metadata: {{name: burn, labels: {{app: burn}}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {{name: spin, image: {IMAGE}, imagePullPolicy: IfNotPresent, command: [sh, -c, 'while :; do :; done']}}
  - {{name: idle, image: {IMAGE}, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}}
---
apiVersion: v1
kind: Pod
metadata: {{name: quiet, namespace: kube-system, labels: {{app: quiet}}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {{name: idle, image: {IMAGE}, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}}
"""


@dataclass
class Cluster:
    node: str
    env: dict[str, str]

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=self.env, timeout=30,
                              input=stdin, check=False)


def _rows(out: str) -> list[list[str]]:
    """kubectl's table output as rows of cells (header first)."""
    return [line.split() for line in out.splitlines() if line.strip()]


def _millicores(cell: str) -> int:
    return int(cell[:-1]) if cell.endswith("m") else int(cell) * 1000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("top")
    node = f"top-{uuid.uuid4().hex[:6]}"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "KUBECONFIG": str(tmp / "data" / "kubeconfig.yaml")}
    c = Cluster(node=node, env=env)
    with processes.up_process(tmp, node=node):
        wait_for(lambda: f"{node}   Ready" in c.kubectl("get", "nodes").stdout, timeout=30,
                 message="the node did not become Ready")
        applied = c.kubectl("apply", "-f", "-", stdin=PODS)
        assert applied.returncode == 0, applied.stderr
        yield c


@pytest.mark.docker
def test_top_pod_shows_a_busy_pod_burning_cpu(cluster: Cluster) -> None:
    def busy() -> dict[str, list[str]] | None:
        out = cluster.kubectl("top", "pod", "burn", "--containers")
        rows = {r[1]: r for r in _rows(out.stdout)[1:]} if out.returncode == 0 else {}
        return rows if set(rows) == {"spin", "idle"} and _millicores(rows["spin"][2]) >= 100 else None

    # per container: the spinning one carries the load, the sleeping one next to nothing
    per_container = wait_for(busy, timeout=40, interval=0.5,
                             message="kubectl top pod --containers showing spin at >= 100m CPU")
    assert _millicores(per_container["idle"][2]) < 50

    rows = _rows(cluster.kubectl("top", "pod", "burn").stdout)
    assert rows[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert rows[1][0] == "burn" and _millicores(rows[1][1]) >= 100 and rows[1][2].endswith("Mi")

    # every namespace, and a label selector across them
    wait_for(lambda: {("default", "burn"), ("kube-system", "quiet")} <= {
        (r[0], r[1]) for r in _rows(cluster.kubectl("top", "pod", "-A").stdout)[1:]}, timeout=20, interval=0.5,
        message="kubectl top pod -A listing the pods of both namespaces")
    selected = _rows(cluster.kubectl("top", "pod", "-A", "-l", "app=burn").stdout)
    assert [(r[0], r[1]) for r in selected[1:]] == [("default", "burn")]

    # the objects themselves, as metrics-server writes them
    raw = json.loads(cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn").stdout)
    assert raw["kind"] == "PodMetrics" and raw["metadata"]["labels"] == {"app": "burn"}
    assert raw["window"].endswith("s") and raw["timestamp"].endswith("Z")
    usage = {c["name"]: c["usage"] for c in raw["containers"]}
    # canonical quantities, as metrics-server's: nanocores reduced to the largest exact
    # suffix ("123456789n", "123456u" once in a thousand reads, "150m"), memory in Ki/Mi
    assert re.fullmatch(r"[1-9][0-9]*[num]?", usage["spin"]["cpu"]), usage["spin"]["cpu"]
    assert usage["spin"]["memory"][-2:] in ("Ki", "Mi")

    missing = cluster.kubectl("top", "pod", "nosuch")
    assert missing.returncode != 0 and '"nosuch" not found' in missing.stderr


@pytest.mark.docker
def test_top_node_lists_the_node_with_cpu_and_memory(cluster: Cluster) -> None:
    def listed() -> list[list[str]] | None:
        out = cluster.kubectl("top", "node")
        rows = _rows(out.stdout) if out.returncode == 0 else []
        return rows if any(r[0] == cluster.node for r in rows[1:]) else None

    rows = wait_for(listed, timeout=20, interval=0.5, message="kubectl top node listing the node")
    assert rows[0][:5] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    row = next(r for r in rows[1:] if r[0] == cluster.node)
    assert _millicores(row[1]) > 0 and row[2].endswith("%")
    assert row[3].endswith("Mi") and int(row[3][:-2]) > 0 and row[4].endswith("%")

    # kubectl finds the group in legacy discovery as well as in the aggregated form it used above
    groups = json.loads(cluster.kubectl("get", "--raw", "/apis").stdout)
    assert any(g["name"] == "metrics.k8s.io" and g["preferredVersion"]["version"] == "v1beta1"
               for g in groups["groups"])
    resources = json.loads(cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1").stdout)
    assert {(r["name"], r["namespaced"]) for r in resources["resources"]} == {("nodes", False), ("pods", True)}


def test_usage_is_formatted_like_metrics_server() -> None:
    assert metrics.cpu_quantity(0) == "0"
    assert metrics.cpu_quantity(123_456_789) == "123456789n"
    assert metrics.cpu_quantity(5_000_000) == "5m"
    assert metrics.cpu_quantity(2_000_000_000) == "2"
    assert metrics.memory_quantity(20 * 1024 * 1024 + 4096) == "20484Ki"
    assert metrics.memory_quantity(3 * 1024 * 1024) == "3Mi"
    assert metrics.memory_quantity(1000) == "1000"
    assert metrics.window_duration(5.0123) == "5.012s"
    assert metrics.window_duration(0.8) == "800ms"
