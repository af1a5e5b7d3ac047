"""``kubelite up`` is a working single-node cluster: the seed Deployment ends with 3 Running,
Ready pods in Docker, created by kubectl with only the kubeconfig ``up`` printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.node.conftest import remove_agent_containers
from tests.support import processes

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(Path(sys.executable).parent / "kubectl")


@pytest.mark.docker
def test_up_runs_the_seed_deployment(tmp_path: Path) -> None:
    node = f"up-{uuid.uuid4().hex[:6]}"
    port = processes.free_port()
    log = open(tmp_path / "up.log", "w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubelite.cli.main", "up", "--data-dir", str(tmp_path / "data"), "--port", str(port),
         "--node-name", node, "--runtime", "docker"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    kubeconfig = tmp_path / "data" / "kubeconfig.yaml"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60)

    def output() -> str:
        log.seek(0)
        return log.read().decode(errors="replace")

    try:
        wait_for(lambda: f"export KUBECONFIG={kubeconfig}" in output(), timeout=60,
                 message="kubelite up did not print how to point kubectl at it")
        wait_for(lambda: f"{node}   Ready" in kubectl("get", "nodes").stdout, timeout=60,
                 message="the node did not become Ready")
        applied = kubectl("apply", "-f", str(ROOT / "examples" / "seed-deployment.yaml"))
        assert applied.returncode == 0, applied.stderr
        assert "deployment.apps/go-app created" in applied.stdout

        def ready_pods() -> list[dict]:  # type: ignore[type-arg]
            out = kubectl("get", "pods", "-l", "app=go-app", "-o", "json")
            pods = json.loads(out.stdout)["items"] if out.returncode == 0 else []
            return [p for p in pods if p["status"].get("phase") == "Running" and any(
                c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])]

        wait_for(lambda: len(ready_pods()) == 3, timeout=120, message="3 Running and Ready pods")
        rollout = kubectl("rollout", "status", "deployment/go-app", "--timeout=60s")
        assert rollout.returncode == 0 and "successfully rolled out" in rollout.stdout, rollout.stderr
        # Each pod is a real container answering on its own IP.
        ip = ready_pods()[0]["status"]["podIP"]
        import urllib.request

        with urllib.request.urlopen(f"http://{ip}/", timeout=5) as resp:
            assert b"hello from kubelite" in resp.read()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        remove_agent_containers(node)
