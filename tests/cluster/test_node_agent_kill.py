"""Node loss by ``kill -9`` of its agent (issue 6, Done-when 3).

Node ``doomed`` runs a Deployment's pods and a StatefulSet's ``db-0`` as real Docker
containers; its agent is killed with SIGKILL, so the containers keep running with nobody
to stop them — the case where the old pod "may still run". Servers run with a 3 s node
grace and 1 s default toleration. Expected: the Deployment's pods are Running on node
``spare``; ``db-0`` is never Running anywhere but ``doomed`` (its identity must not run
twice while the old container may still live); a restarted agent then stops what was
replaced and ``db-0`` runs exactly once.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.support import ha

IMAGE = "kubelite-test/busybox:1.0"
NS = "doom"


def _containers(*, node: str, running: bool = True, **labels: str) -> list[str]:
    cmd = ["docker", "ps", "-q", "--filter", f"label=io.kubelite.node={node}"]
    if not running:
        cmd.insert(2, "-a")
    cmd += [arg for key, value in labels.items() for arg in ("--filter", f"label=io.kubelite.{key}={value}")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False).stdout.split()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ha.HACluster]:
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "image", "inspect", IMAGE, "kubelite/pause:1.0"], capture_output=True, check=False).returncode:
        pytest.skip("needs a Docker engine and the images of scripts/build-test-image.sh")
    c = ha.HACluster(Path(tmp_path_factory.mktemp("agent-kill")), etcd_members=1,
                     env={"KUBELITE_NODE_GRACE_SECONDS": "3", "KUBELITE_DEFAULT_TOLERATION_SECONDS": "1"})
    try:
        c.start(servers=1)
        yield c
    finally:
        c.stop()
        ids = _containers(node="doomed", running=False)
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def _ready(api: ha.Api, name: str) -> str:
    node = api.get(f"/api/v1/nodes/{name}")
    return next((c["status"] for c in node["status"].get("conditions", []) if c["type"] == "Ready"), "")


@pytest.mark.timeout(240)
def test_killed_agent_work_moves_but_a_statefulset_identity_never_runs_twice(cluster: ha.HACluster) -> None:
    doomed = cluster.add_agent("doomed", runtime="docker")
    api = cluster.api(0)
    wait_for(lambda: _ready(api, "doomed") == "True", 30, message="node doomed Ready", ignore=(ha.ApiError,))
    api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    sleep = ["sleep", "3600"]
    api.create(f"/apis/apps/v1/namespaces/{NS}/deployments",
               ha.deployment("web", replicas=2, namespace=NS, image=IMAGE, command=sleep))
    sts = ha.deployment("db", replicas=1, namespace=NS, image=IMAGE, command=sleep)
    sts["kind"], sts["spec"]["serviceName"] = "StatefulSet", "db"
    api.create(f"/apis/apps/v1/namespaces/{NS}/statefulsets", sts)
    before = wait_for(lambda: len(r := ha.running_pods(api, NS, "app in (web,db)")) == 3 and r, 60,
                      message="web and db pods Running on doomed")
    assert {p["spec"]["nodeName"] for p in before} == {"doomed"}
    old_db = next(p["metadata"]["uid"] for p in before if p["metadata"]["name"] == "db-0")
    cluster.add_agent("spare", runtime="fake")
    wait_for(lambda: _ready(api, "spare") == "True", 30, message="node spare Ready", ignore=(ha.ApiError,))

    doomed.stop(signal.SIGKILL)
    moved = wait_for(lambda: len(r := [p for p in ha.running_pods(api, NS, "app=web")
                                       if p["spec"]["nodeName"] == "spare"]) == 2 and r, 60,
                     message="web pods Running on spare")
    assert len(moved) == 2
    # Nobody stops db-0's container on the dead node, so its identity stays there.
    assert _containers(node="doomed", **{"pod-uid": old_db, "kind": "app"})
    db = api.items(f"/api/v1/namespaces/{NS}/pods", params={"labelSelector": "app=db"})
    assert [(p["metadata"]["uid"], p["spec"]["nodeName"]) for p in db] == [(old_db, "doomed")]

    # The agent comes back: it stops the replaced pods' containers, db-0 runs once again.
    cluster.agents.remove(doomed)
    cluster.add_agent("doomed", runtime="docker")
    wait_for(lambda: [p["metadata"]["uid"] != old_db for p in ha.running_pods(api, NS, "app=db")] == [True], 90,
             message="a new db-0 Running, once")
    wait_for(lambda: not _containers(node="doomed", **{"pod-uid": old_db, "kind": "app"}), 30,
             message="the old db-0 container stopped")
    web_uids = {p["metadata"]["uid"] for p in before if p["metadata"]["name"] != "db-0"}
    wait_for(lambda: not any(_containers(node="doomed", **{"pod-uid": uid, "kind": "app"}) for uid in web_uids),
             60, message="the replaced web containers stopped on doomed")
    assert len(ha.running_pods(api, NS, "app=web")) == 2
