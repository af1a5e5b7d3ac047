"""The agent removes only directories the local-path provisioner made, on its own node."""

from __future__ import annotations

from pathlib import Path

from kubelite.agent import localpath


def pv(path: str, *, uid: str = "u1", node: str = "n1") -> dict:  # type: ignore[type-arg]
    return {"metadata": {"name": "pvc-u1", "deletionTimestamp": "2026-01-01T00:00:00Z",
                         "finalizers": [localpath.CLEANUP_FINALIZER]},
            "spec": {"hostPath": {"path": path}, "claimRef": {"uid": uid},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}


def test_only_the_provisioners_folder_layout_is_removed() -> None:
    assert localpath.volume_dir(pv("/var/lib/kubelite/storage/pvc-u1_ns_data")) == \
        Path("/var/lib/kubelite/storage/pvc-u1_ns_data")
    assert localpath.volume_dir(pv("/var/lib/kubelite/storage/pvc-u2_ns_data")) is None  # another claim's
    assert localpath.volume_dir(pv("/etc")) is None
    assert localpath.volume_dir(pv("relative/pvc-u1_ns_data")) is None
    assert localpath.volume_dir(pv("/x/../pvc-u1_ns_data")) is None
    assert localpath.volume_dir(pv("/x/pvc-u1_ns_data", uid="")) is None


def test_the_volume_names_its_node() -> None:
    assert localpath._node_names(pv("/x", node="n2")) == {"n2"}
