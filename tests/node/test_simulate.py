"""``kubelite simulate --nodes N``: N fake nodes that register Ready, hold Leases, and run
the pods bound to them with the fake runtime."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.conftest import wait_for
from tests.support import processes

NODES = 1000  # the scale: one process, one shared pod watch


def test_simulate_registers_ready_nodes_with_leases(server: processes.ServerProcess, core: Any, tmp_path: Any) -> None:
    log = open(tmp_path / "simulate.log", "wb")
    proc = subprocess.Popen(processes.kubelite_command() + ["simulate", "--nodes", str(NODES), "--kubeconfig",
                                                             str(server.kubeconfig), "--prefix", "sim"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready_nodes() -> int:
            items = json.loads(core.list_node(label_selector="kubelite.io/simulated=true",
                                              _preload_content=False).data)["items"]
            return sum(1 for n in items for c in n["status"].get("conditions") or []
                       if c["type"] == "Ready" and c["status"] == "True")

        wait_for(lambda: ready_nodes() == NODES, 60, 0.5, f"{NODES} Ready nodes")
        from kubernetes import client

        leases = client.CoordinationV1Api(core.api_client).list_namespaced_lease("kube-node-lease")
        sim = {lease.metadata.name: lease for lease in leases.items if lease.metadata.name.startswith("sim-")}
        assert len(sim) == NODES
        assert all(lease.spec.holder_identity == name and lease.spec.renew_time for name, lease in sim.items())

        # The nodes keep their Leases: every renewTime moves on (renewed every 10 s).
        first = {name: lease.spec.renew_time for name, lease in sim.items()}

        def all_renewed() -> bool:
            now = client.CoordinationV1Api(core.api_client).list_namespaced_lease("kube-node-lease").items
            return all(lease.spec.renew_time > first[lease.metadata.name] for lease in now
                       if lease.metadata.name in first)

        wait_for(all_renewed, 40, 1.0, f"all {NODES} Leases renewed")
        assert ready_nodes() == NODES

        core.create_namespaced_pod("default", {
            "metadata": {"name": "on-sim"},
            "spec": {"nodeName": "sim-0007", "containers": [{"name": "c", "image": "anything:1.0"}]}})
        wait_for(lambda: json.loads(core.read_namespaced_pod("on-sim", "default", _preload_content=False).data)
                 ["status"].get("phase") == "Running", 20, 0.2, "pod Running on a simulated node")
        core.delete_namespaced_pod("on-sim", "default")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
