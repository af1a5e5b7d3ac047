"""HorizontalPodAutoscalers on ``kubelite up`` with Docker: pods that burn CPU against a
50m request scale their Deployment up to maxReplicas, idle ones scale theirs down to
minReplicas at once when the scale-down stabilization window is 0, and ``kubectl get hpa``
shows the measured utilization against the target. The controller syncs every 2 s here
(``KUBELITE_HPA_SYNC_SECONDS``) instead of upstream's 15."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import IMAGE
from tests.support import processes

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def _deployment(name: str, command: str, replicas: int) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: main
        image: {IMAGE}
        imagePullPolicy: IfNotPresent
        command: [sh, -c, '{command}']
        resources: {{requests: {{cpu: 50m}}}}
"""


@dataclass
class Cluster:
    env: dict[str, str]

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=self.env, timeout=30,
                              input=stdin, check=False)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        out = self.kubectl(*args, stdin=stdin)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def hpa(self, name: str) -> dict[str, Any]:
        return json.loads(self.ok("get", "hpa.v2.autoscaling", name, "-o", "json"))

    def replicas(self, name: str) -> int:
        return int(json.loads(self.ok("get", "deployment", name, "-o", "json"))["spec"]["replicas"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("hpa")
    node = f"hpa-{uuid.uuid4().hex[:6]}"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "KUBECONFIG": str(tmp / "data" / "kubeconfig.yaml")}
    c = Cluster(env=env)
    with processes.up_process(tmp, node=node, env={"KUBELITE_HPA_SYNC_SECONDS": "2"}):
        wait_for(lambda: f"{node}   Ready" in c.kubectl("get", "nodes").stdout, timeout=30,
                 message="the node did not become Ready")
        yield c


@pytest.mark.docker
def test_busy_pods_scale_up_to_max_replicas(cluster: Cluster) -> None:
    cluster.ok("apply", "-f", "-", stdin=_deployment("burn", "while :; do :; done", 1))
    out = cluster.ok("autoscale", "deployment", "burn", "--cpu-percent=50", "--min=1", "--max=3")
    assert "autoscaled" in out

    wait_for(lambda: cluster.replicas("burn") == 3, timeout=120, interval=1,
             message="the burning deployment scaled to maxReplicas (3)")
    hpa = cluster.hpa("burn")
    assert hpa["status"]["desiredReplicas"] == 3
    events = cluster.ok("get", "events", "--field-selector", "involvedObject.name=burn,reason=SuccessfulRescale",
                        "-o", "jsonpath={.items[*].message}")
    assert "reason: cpu resource utilization (percentage of request) above target" in events

    # TARGETS shows the measured utilization against the 50 % target once it is known
    def targets() -> str | None:
        row = cluster.ok("get", "hpa", "burn", "--no-headers").split()
        return row[2] + row[3] if row[2] == "cpu:" and not row[3].startswith("<unknown>") else None

    shown = wait_for(targets, timeout=60, interval=1, message="kubectl get hpa with a measured utilization")
    now, target = shown.removeprefix("cpu:").split("/")
    assert target == "50%" and int(now.rstrip("%")) > 50, shown
    limited = next(c for c in cluster.hpa("burn")["status"]["conditions"] if c["type"] == "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "TooManyReplicas")
    cluster.ok("delete", "deployment", "burn")  # free the CPU for the next test


@pytest.mark.docker
def test_idle_pods_scale_down_to_min_replicas(cluster: Cluster) -> None:
    cluster.ok("apply", "-f", "-", stdin=_deployment("idle", "sleep 3600", 3))
    cluster.ok("apply", "-f", "-", stdin="""
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: idle}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: idle}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 0}
""")
    wait_for(lambda: cluster.replicas("idle") == 1, timeout=120, interval=1,
             message="the idle deployment scaled down to minReplicas (1)")
    hpa = cluster.hpa("idle")
    assert hpa["status"]["desiredReplicas"] == 1
    active = next(c for c in hpa["status"]["conditions"] if c["type"] == "ScalingActive")
    assert (active["status"], active["reason"]) == ("True", "ValidMetricFound")
    events = cluster.ok("get", "events", "--field-selector", "involvedObject.name=idle,reason=SuccessfulRescale",
                        "-o", "jsonpath={.items[*].message}")
    assert "New size: 1; reason: All metrics below target" in events
