"""Node partition: an agent in its own network namespace loses its link to the servers.

The agent of node ``part`` runs inside a network namespace joined to the host by a veth
pair (10.213.<n>.1 on the host, .2 inside), with the Docker runtime, so its pods are real
containers; node ``spare`` is a fake-runtime agent on the host. Bringing the host end of
the link down cuts ``part`` off (no traffic leaves loopback or the namespace):

- ``part`` goes NotReady (servers run with a 3 s node grace, 1 s default toleration);
- its Deployment pods are replaced on ``spare``;
- its StatefulSet pod ``db-0`` is *not* replaced while the old one may still run: the
  identity never runs twice (checked continuously, containers included);
- after the link comes back, the agent removes the stale containers, and ``db-0`` runs
  exactly once.

Skipped when ``ip netns`` cannot be used (not root) or Docker or the test images are
missing (scripts/build-test-image.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.support import ha

IMAGE = "kubelite-test/busybox:1.0"
NS = "part"
SUBNET = f"10.213.{os.getpid() % 250}"
HOST_IP, AGENT_IP = f"{SUBNET}.1", f"{SUBNET}.2"
NETNS = f"klpart{os.getpid()}"
VETH_HOST, VETH_NS = f"klh{os.getpid()}"[:15], f"kln{os.getpid()}"[:15]


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


def _why_skip() -> str | None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "needs root and iproute2 (ip netns) to cut a node off in a network namespace"
    probe = f"klprobe{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False).returncode != 0:
        return "ip netns add failed (no CAP_SYS_ADMIN / network namespaces)"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "image", "inspect", IMAGE, "kubelite/pause:1.0"], capture_output=True, check=False).returncode != 0:
        return "needs a Docker engine and the images of scripts/build-test-image.sh"
    return None


def _containers(*, node: str, running: bool = True, **labels: str) -> list[str]:
    cmd = ["docker", "ps", "-q", "--filter", f"label=io.kubelite.node={node}"]
    if not running:
        cmd.insert(2, "-a")
    cmd += [arg for key, value in labels.items() for arg in ("--filter", f"label=io.kubelite.{key}={value}")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False).stdout.split()


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    reason = _why_skip()
    if reason:
        pytest.skip(reason)
    _run("ip", "netns", "add", NETNS)
    try:
        _run("ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        _run("ip", "link", "set", VETH_NS, "netns", NETNS)
        _run("ip", "addr", "add", f"{HOST_IP}/30", "dev", VETH_HOST)
        _run("ip", "link", "set", VETH_HOST, "up")
        for cmd in (("ip", "addr", "add", f"{AGENT_IP}/30", "dev", VETH_NS), ("ip", "link", "set", VETH_NS, "up"),
                    ("ip", "link", "set", "lo", "up")):
            _run("ip", "netns", "exec", NETNS, *cmd)
        yield NETNS
    finally:
        subprocess.run(["ip", "link", "del", VETH_HOST], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)


@pytest.fixture(scope="module")
def cluster(netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ha.HACluster]:
    c = ha.HACluster(Path(tmp_path_factory.mktemp("ha-partition")),
                     env={"KUBELITE_NODE_GRACE_SECONDS": "3", "KUBELITE_DEFAULT_TOLERATION_SECONDS": "1"},
                     server_args=["--bind-address", "0.0.0.0", "--tls-san", HOST_IP])
    try:
        c.start(servers=3)
        c.add_agent("part", runtime="docker", netns=netns,
                    servers=[f"https://{HOST_IP}:{s.port}" for s in c.servers])
        yield c
    finally:
        c.stop()
        ids = _containers(node="part", running=False)
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def _node_ready(api: ha.Api, name: str) -> str:
    node = api.get(f"/api/v1/nodes/{name}")
    return next((c["status"] for c in node["status"].get("conditions", []) if c["type"] == "Ready"), "")


class IdentityWatch(threading.Thread):
    """Counts, every 0.2 s, how many copies of pod ``db-0`` run: Running in the API on a
    node other than ``part`` plus running containers of ``db-0`` on ``part``."""

    def __init__(self, cluster: ha.HACluster) -> None:
        super().__init__(daemon=True)
        self.cluster, self.peak, self.seen = cluster, 0, ""
        self.stop = threading.Event()

    def run(self) -> None:
        api = self.cluster.api(0, timeout=3)
        while not self.stop.wait(0.2):
            try:
                pods = api.items(f"/api/v1/namespaces/{NS}/pods", params={"labelSelector": "app=db"})
            except ha.ApiError:
                continue
            elsewhere = [p for p in pods if p["metadata"]["name"] == "db-0" and p["spec"].get("nodeName") != "part"
                         and p["status"].get("phase") == "Running"]
            on_part = 1 if _containers(node="part", **{"pod-name": "db-0", "kind": "app"}) else 0
            if len(elsewhere) + on_part > self.peak:
                self.peak = len(elsewhere) + on_part
                self.seen = f"{len(elsewhere)} elsewhere, {on_part} on part"


@pytest.mark.timeout(240)
def test_partitioned_node_work_moves_and_stale_containers_go(cluster: ha.HACluster) -> None:
    api = cluster.api(0)
    wait_for(lambda: _node_ready(api, "part") == "True", 30, message="node part Ready", ignore=(ha.ApiError,))
    api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    sleep = ["sleep", "3600"]
    api.create(f"/apis/apps/v1/namespaces/{NS}/deployments",
               ha.deployment("web", replicas=2, namespace=NS, image=IMAGE, command=sleep))
    sts = ha.deployment("db", replicas=1, namespace=NS, image=IMAGE, command=sleep)
    sts["kind"], sts["spec"]["serviceName"] = "StatefulSet", "db"
    api.create(f"/apis/apps/v1/namespaces/{NS}/statefulsets", sts)
    before = wait_for(lambda: len(r := ha.running_pods(api, NS, "app in (web,db)")) == 3 and r, 60,
                      message="web and db pods Running on part")
    old_uids = {p["metadata"]["uid"] for p in before}
    assert {p["spec"]["nodeName"] for p in before} == {"part"}
    assert all(_containers(node="part", **{"pod-uid": uid, "kind": "app"}) for uid in old_uids)
    cluster.add_agent("spare", runtime="fake")
    wait_for(lambda: _node_ready(api, "spare") == "True", 30, message="node spare Ready", ignore=(ha.ApiError,))

    watch = IdentityWatch(cluster)
    watch.start()
    try:
        _run("ip", "link", "set", VETH_HOST, "down")
        wait_for(lambda: _node_ready(api, "part") == "Unknown", 30, message="part NotReady (Unknown)")
        moved = wait_for(lambda: len(r := [p for p in ha.running_pods(api, NS, "app=web")
                                           if p["spec"]["nodeName"] == "spare"]) == 2 and r, 60,
                         message="web pods replaced on spare")
        assert not {p["metadata"]["uid"] for p in moved} & old_uids
        # The old containers still run on the cut-off node: it cannot hear it should stop.
        assert _containers(node="part", kind="app")
        db = api.items(f"/api/v1/namespaces/{NS}/pods", params={"labelSelector": "app=db"})
        assert [p["spec"]["nodeName"] for p in db] == ["part"], "db-0 must wait for part, not move"

        _run("ip", "link", "set", VETH_HOST, "up")
        wait_for(lambda: _node_ready(api, "part") == "True", 60, message="part Ready again", ignore=(ha.ApiError,))
        wait_for(lambda: not any(_containers(node="part", running=False, **{"pod-uid": uid, "kind": "app"})
                                 for uid in old_uids if uid != _uid(before, "db-0")), 60,
                 message="stale web containers removed from part")
        wait_for(lambda: len(r := ha.running_pods(api, NS, "app=db")) == 1 and r[0]["metadata"]["uid"]
                 not in old_uids and r, 60, message="db-0 running again, once")
    finally:
        watch.stop.set()
        watch.join(timeout=10)
        subprocess.run(["ip", "link", "set", VETH_HOST, "up"], capture_output=True, check=False)
    assert watch.peak <= 1, f"StatefulSet identity db-0 ran twice ({watch.seen})"
    wait_for(lambda: not _containers(node="part", running=False, **{"pod-uid": _uid(before, "db-0")}), 30,
             message="the old db-0 containers removed from part")
    assert len(ha.running_pods(api, NS, "app=web")) == 2


def _uid(pods: list[ha.Obj], name: str) -> str:
    return next(p["metadata"]["uid"] for p in pods if p["metadata"]["name"] == name)
