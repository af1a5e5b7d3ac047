"""A new image for a container of a running pod (``kubectl set image``, or a patch of
``spec.containers[*].image``: the one container field besides resources the API lets
change) on a real Docker engine: the agent kills the container, says why, and starts it
again from the new image, as one more restart; a sidecar's is replaced alike."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import IMAGE, pod_manifest
from tests.node.helpers import container_status, events, phase
from tests.support import processes

pytestmark = pytest.mark.docker

KUBECTL = str(Path(sys.executable).parent / "kubectl")
SLEEP = ["sh", "-c", "sleep 3600"]


@pytest.fixture
def other_image() -> Iterator[str]:
    """The test image under a second name: another image as far as a pod spec can tell."""
    name = f"kubelite-test/busybox:other-{uuid.uuid4().hex[:6]}"
    subprocess.run(["docker", "tag", IMAGE, name], check=True, capture_output=True)
    yield name
    subprocess.run(["docker", "rmi", name], capture_output=True)


def killing(core: Any, namespace: str, name: str) -> list[tuple[str, str]]:
    return [(e["involvedObject"].get("fieldPath", ""), e["message"]) for e in events(core, namespace, name)
            if e["reason"] == "Killing"]


def test_set_image_restarts_the_container_from_the_new_image(core: Any, namespace: str, other_image: str,
                                                             server: processes.ServerProcess) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("app", [{"name": "c", "command": SLEEP}]))
    wait_for(lambda: phase(core, namespace, "app") == "Running", 30, 0.1, "app Running")
    before = container_status(core, namespace, "app", "c")["containerID"]

    subprocess.run([KUBECTL, "--kubeconfig", str(server.kubeconfig), "-n", namespace, "set", "image", "pod/app",
                    f"c={other_image}"], check=True, capture_output=True, timeout=30)

    def replaced() -> dict[str, Any]:
        cs = container_status(core, namespace, "app", "c")
        return cs if cs.get("restartCount") == 1 and "running" in cs.get("state", {}) else {}

    cs = wait_for(replaced, 30, 0.1, "the container restarted")
    assert cs["containerID"] != before and cs["image"] == other_image
    assert "terminated" in cs["lastState"]
    wait_for(lambda: ("spec.containers{c}", "Container c definition changed, will be restarted")
             in killing(core, namespace, "app"), 10, 0.1, "the Killing event")
    assert phase(core, namespace, "app") == "Running"
    running = subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", cs["containerID"].split("://")[1]],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert running == other_image


def test_a_sidecars_new_image_replaces_only_the_sidecar(core: Any, namespace: str, other_image: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("pair", [{"name": "main", "command": SLEEP}], initContainers=[
        {"name": "side", "image": IMAGE, "restartPolicy": "Always", "command": SLEEP}]))
    wait_for(lambda: phase(core, namespace, "pair") == "Running", 30, 0.1, "pair Running")
    core.patch_namespaced_pod("pair", namespace, [
        {"op": "replace", "path": "/spec/initContainers/0/image", "value": other_image}])

    def replaced() -> bool:
        side = container_status(core, namespace, "pair", "side", init=True)
        return side.get("restartCount") == 1 and bool(side.get("started")) and side["image"] == other_image

    wait_for(replaced, 30, 0.1, "the sidecar restarted")
    main = container_status(core, namespace, "pair", "main")
    assert main["restartCount"] == 0 and "running" in main["state"]
    wait_for(lambda: ("spec.initContainers{side}", "Init container side definition changed")
             in killing(core, namespace, "pair"), 10, 0.1, "the Killing event")
