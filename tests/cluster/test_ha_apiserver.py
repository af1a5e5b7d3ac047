"""API server loss: with one of three servers killed (``kill -9``), kubectl pointed at a
live one and every agent keep working, and no write a server acknowledged is lost.

The victim is server 0: it is first in every agent's ``--server`` list, so each agent
is connected to it and has to fail over.
"""

from __future__ import annotations

import datetime
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.kubectl_runner import Kubectl, kubectl_binary
from tests.conftest import wait_for
from tests.support import ha

NODES = ["n1", "n2", "n3"]
NS = "writes"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ha.HACluster]:
    c = ha.HACluster(Path(tmp_path_factory.mktemp("ha-apiserver")))
    try:
        c.start(servers=3, agents=NODES)
        api = c.api(1)
        try:
            wait_for(lambda: len([n for n in api.items("/api/v1/nodes") if _ready(n)]) == 3, 30,
                     message="three Ready nodes")
        except AssertionError as exc:  # once in a CI run: say what the processes were doing
            raise AssertionError(f"{exc}\n{c.logs()}") from None
        yield c
    finally:
        c.stop()


def _ready(node: ha.Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (node.get("status") or {}).get("conditions", []))


def _renew_time(api: ha.Api, node: str) -> datetime.datetime:
    lease = api.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}")
    return datetime.datetime.fromisoformat(lease["spec"]["renewTime"])


class Writer(threading.Thread):
    """Creates ConfigMaps through its server (falling over to the next on no answer) and
    records every one a server acknowledged, with the uid it answered."""

    def __init__(self, cluster: ha.HACluster, *, first: int, tag: str) -> None:
        super().__init__(daemon=True, name=f"writer-{tag}")
        self.cluster, self.server, self.tag = cluster, first, tag
        self.acked: dict[str, str] = {}
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            name = f"cm-{self.tag}-{n}"
            n += 1
            try:
                obj = self.cluster.api(self.server, timeout=5).create(
                    f"/api/v1/namespaces/{NS}/configmaps",
                    {"metadata": {"name": name}, "data": {"n": str(n)}})
                self.acked[name] = obj["metadata"]["uid"]
            except ha.ApiError:
                self.failed += 1  # unknown outcome: it may or may not have landed
                self.server = (self.server + 1) % len(self.cluster.servers)


@pytest.mark.timeout(180)
def test_one_server_dead_kubectl_and_agents_keep_working_no_write_lost(
        cluster: ha.HACluster, tmp_path: Path) -> None:
    api = cluster.api(1)
    api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    writers = [Writer(cluster, first=i, tag=f"w{i}") for i in range(3)]
    for w in writers:
        w.start()
    wait_for(lambda: all(len(w.acked) >= 20 for w in writers), 30, message="writes flowing through all servers")
    killed_at = datetime.datetime.now(datetime.UTC)
    cluster.servers[0].kill(signal.SIGKILL)
    wait_for(lambda: len(writers[0].acked) >= 40 and all(len(w.acked) >= 40 for w in writers), 30,
             message="writes flowing again after the kill")

    # kubectl pointed at a live server works, reads and writes.
    kubectl = Kubectl(kubectl_binary(), cluster.servers[1].kubeconfig, tmp_path)
    out = kubectl.run("get", "nodes", "-o", "name")
    assert sorted(out.stdout.split()) == [f"node/{n}" for n in NODES], out
    kubectl.run("create", "deployment", "after", "--image=kubelite-test/busybox:1.0", "--replicas=6", "-n", NS)

    # Every agent is still heard from (its node Lease renewed after the kill) and runs pods.
    for node in NODES:
        wait_for(lambda node=node: _renew_time(api, node) > killed_at + datetime.timedelta(seconds=1), 20,
                 message=f"{node} renewing its Lease through a live server", ignore=(ha.ApiError,))
    running = wait_for(lambda: len(r := ha.running_pods(api, NS, "app=after")) == 6 and r, 40,
                       message="6 pods of the new Deployment Running")
    assert {p["spec"]["nodeName"] for p in running} == set(NODES), "every agent runs some of the pods"
    assert all(_ready(n) for n in api.items("/api/v1/nodes"))

    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(timeout=10)
    stored = {cm["metadata"]["name"]: cm["metadata"]["uid"]
              for cm in cluster.api(2).items(f"/api/v1/namespaces/{NS}/configmaps")}
    acked = {name: uid for w in writers for name, uid in w.acked.items()}
    lost = {name for name, uid in acked.items() if stored.get(name) != uid}
    print(f"acknowledged writes: {len(acked)}, unanswered: {sum(w.failed for w in writers)}, lost: {len(lost)}")
    assert not lost, f"acknowledged writes missing after a server died: {sorted(lost)[:10]}"
