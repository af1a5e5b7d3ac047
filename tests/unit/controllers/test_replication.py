"""The ReplicationController controller is the ReplicaSet controller with core/v1's names
and a label-map selector: one reconcile adopts matching orphans, releases owned pods that
stopped matching, creates the missing replicas with a ``v1``/``ReplicationController``
controller reference and writes the RC's status; pods of ReplicaSets are not its business.
Fakes stand in for the API and the informers."""

from __future__ import annotations

import copy
from typing import Any

from kubelite.aio import tasks
from kubelite.client import resources
from kubelite.controllers import replicaset, replication
from tests.unit.controllers.fakes import FakeInformer, FakeInformers

Obj = dict[str, Any]


class FakeClient:
    def __init__(self, pods: FakeInformer) -> None:
        self.pods = pods
        self.created: list[Obj] = []
        self.patches: list[tuple[str, str, Obj, str | None]] = []

    async def create(self, res: resources.Resource, body: Obj, **kw: Any) -> Obj:
        if res.plural == "pods":
            self.created.append(body)
        return body

    async def patch(self, res: resources.Resource, name: str, body: Obj, *, namespace: str | None = None,
                    subresource: str | None = None) -> Obj:
        self.patches.append((res.plural, name, body, subresource))
        if res.plural == "pods":
            pod = copy.deepcopy(self.pods.objects[f"{namespace}/{name}"])
            pod["metadata"]["ownerReferences"] = body["metadata"]["ownerReferences"]
            return pod
        return {}

    async def delete(self, res: resources.Resource, name: str, **kw: Any) -> Obj:
        return {}


def pod(name: str, labels: dict[str, str], owner: tuple[str, str] | None = None) -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "uid": f"{name}-uid", "resourceVersion": "3", "labels": labels}
    if owner is not None:
        md["ownerReferences"] = [{"apiVersion": "v1", "kind": owner[0], "name": "web", "uid": owner[1],
                                  "controller": True}]
    return {"metadata": md, "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Pending"}}


def test_a_map_selector() -> None:
    assert replication.map_selector({"spec": {"selector": {"app": "web"}}}).matches({"app": "web", "x": "y"})
    assert not replication.map_selector({"spec": {"selector": {"app": "web"}}}).matches({"app": "db"})
    assert not replication.map_selector({"spec": {}}).matches({})  # no selector wants nothing


async def test_reconcile_adopts_releases_creates_and_writes_status(group: tasks.TaskGroup) -> None:
    informers = FakeInformers()
    pods = informers.get(resources.PODS)
    client = FakeClient(pods)
    rc_ctl = replication.ReplicationControllerController(client=client, informers=informers, tg=group)  # type: ignore[arg-type]
    rs_ctl = replicaset.ReplicaSetController(client=client, informers=informers, tg=group)  # type: ignore[arg-type]
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    rc = {"apiVersion": "v1", "kind": "ReplicationController",
          "metadata": {"name": "web", "namespace": "ns", "uid": "rc-uid", "generation": 1},
          "spec": {"replicas": 3, "selector": {"app": "web"}, "template": template}, "status": {"replicas": 0}}
    informers.get(resources.REPLICATIONCONTROLLERS).objects["ns/web"] = rc
    for p in (pod("orphan", {"app": "web"}), pod("stray", {"app": "other"}, ("ReplicationController", "rc-uid")),
              pod("rs-pod", {"app": "web"}, ("ReplicaSet", "rs-uid"))):
        pods.objects[f"ns/{p['metadata']['name']}"] = p

    assert rc_ctl._owner_key(pods.objects["ns/stray"]) == "ns/web"
    assert rs_ctl._owner_key(pods.objects["ns/stray"]) is None  # an RC's pod is not a ReplicaSet's

    await rc_ctl.reconcile("ns/web")

    pod_patches = {name: body for plural, name, body, _ in client.patches if plural == "pods"}
    adopted = pod_patches["orphan"]["metadata"]["ownerReferences"]
    assert adopted == [{"apiVersion": "v1", "kind": "ReplicationController", "name": "web", "uid": "rc-uid",
                        "controller": True, "blockOwnerDeletion": True}]
    assert pod_patches["stray"]["metadata"]["ownerReferences"] is None  # released
    assert "rs-pod" not in pod_patches
    assert len(client.created) == 2  # 3 wanted, the adopted orphan counts
    made = client.created[0]
    assert made["metadata"]["generateName"] == "web-" and made["metadata"]["labels"] == {"app": "web"}
    assert made["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
    assert made["metadata"]["ownerReferences"][0]["apiVersion"] == "v1"
    status = [(plural, body, sub) for plural, _, body, sub in client.patches if plural == "replicationcontrollers"]
    assert status and status[-1][2] == "status"
    assert status[-1][1]["status"]["replicas"] == 1 and status[-1][1]["status"]["observedGeneration"] == 1
