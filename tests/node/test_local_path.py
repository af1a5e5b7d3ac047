"""local-path volumes on a real Docker node: a pod writes into a provisioned claim and a
second pod on the same node reads it back.

The node-tier server runs without controllers, so this test starts a controller manager
of its own (with ``KUBELITE_STORAGE_ROOT`` in a temporary directory) for its duration, and
plays the scheduler's part by annotating the claim with its selected node.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import NODE, pod_manifest
from tests.node.helpers import phase
from tests.support import processes

pytestmark = pytest.mark.docker


@pytest.fixture
def storage_root(server: processes.ServerProcess, tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "storage"
    with open(tmp_path / "controllers.log", "ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(processes.kubelite_command() + ["controller-manager", "--kubeconfig",
                                                                str(server.kubeconfig)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "KUBELITE_STORAGE_ROOT": str(root)})
    try:
        yield root
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_claim_written_by_one_pod_is_read_by_the_next(core: Any, namespace: str, storage_root: Path) -> None:
    from kubernetes import client

    storage = client.StorageV1Api(core.api_client)
    cls = f"lp-{namespace}"
    storage.create_storage_class({"metadata": {"name": cls}, "provisioner": "kubelite.io/local-path",
                                  "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete"})
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "data", "annotations": {"volume.kubernetes.io/selected-node": NODE}},
        "spec": {"storageClassName": cls, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "64Mi"}}}})
    claim = wait_for(lambda: (c := core.read_namespaced_persistent_volume_claim("data", namespace))
                     .status.phase == "Bound" and c, 30, 0.1, "claim Bound")
    volume = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    mount = [{"name": "data", "mountPath": "/data"}]
    core.create_namespaced_pod(namespace, pod_manifest("writer", [{
        "name": "c", "command": ["sh", "-c", "echo hello-from-writer > /data/note"], "volumeMounts": mount}],
        volumes=volume, restartPolicy="Never"))
    wait_for(lambda: phase(core, namespace, "writer") == "Succeeded", 30, 0.1, "writer Succeeded")
    core.create_namespaced_pod(namespace, pod_manifest("reader", [{
        "name": "c", "command": ["cat", "/data/note"], "volumeMounts": mount}],
        volumes=volume, restartPolicy="Never"))
    wait_for(lambda: phase(core, namespace, "reader") == "Succeeded", 30, 0.1, "reader Succeeded")
    assert core.read_namespaced_pod_log("reader", namespace).strip() == "hello-from-writer"

    folder = storage_root / f"pvc-{claim.metadata.uid}_{namespace}_data"
    assert (folder / "note").read_text().strip() == "hello-from-writer"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777

    # Reclaim policy Delete: once the pods and the claim are gone, the volume goes and the
    # node's agent removes its directory (the volume waits for that, Terminating).
    pv_name = claim.spec.volume_name
    core.delete_namespaced_pod("writer", namespace, grace_period_seconds=0)
    core.delete_namespaced_pod("reader", namespace, grace_period_seconds=0)
    core.delete_namespaced_persistent_volume_claim("data", namespace)

    def volume_gone() -> bool:
        try:
            core.read_persistent_volume(pv_name)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(volume_gone, 30, 0.2, "volume deleted")
    assert not folder.exists()


def test_an_ephemeral_volume_is_mounted_and_goes_with_its_pod(core: Any, namespace: str, storage_root: Path) -> None:
    from kubernetes import client

    storage = client.StorageV1Api(core.api_client)
    cls = f"lp-{namespace}"
    storage.create_storage_class({"metadata": {"name": cls}, "provisioner": "kubelite.io/local-path",
                                  "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete"})
    core.create_namespaced_pod(namespace, pod_manifest("eph", [{
        "name": "c", "command": ["sh", "-c", "echo scratch-ok > /scratch/f && cat /scratch/f"],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
        volumes=[{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {
            "storageClassName": cls, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}}}}}],
        restartPolicy="Never"))

    def claim() -> Any:
        try:
            return core.read_namespaced_persistent_volume_claim("eph-scratch", namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    wait_for(claim, 15, 0.1, "the ephemeral volume's claim")
    # The scheduler's part (this tier runs none): the claim follows the pod to its node.
    core.patch_namespaced_persistent_volume_claim("eph-scratch", namespace, {"metadata": {"annotations": {
        "volume.kubernetes.io/selected-node": NODE}}})
    wait_for(lambda: phase(core, namespace, "eph") == "Succeeded", 45, 0.2, "pod Succeeded on its ephemeral volume")
    assert core.read_namespaced_pod_log("eph", namespace).strip() == "scratch-ok"
    bound = claim()
    folder = storage_root / f"pvc-{bound.metadata.uid}_{namespace}_eph-scratch"
    assert (folder / "f").read_text().strip() == "scratch-ok"
    # The claim goes with the pod (garbage collector), and the volume with the claim.
    core.delete_namespaced_pod("eph", namespace, grace_period_seconds=0)
    wait_for(lambda: claim() is None, 30, 0.2, "the ephemeral claim deleted with its pod")
    wait_for(lambda: not folder.exists(), 30, 0.2, "the volume's directory removed")
