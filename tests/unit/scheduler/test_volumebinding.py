"""VolumeBinding on the scheduler's cache: where a pod with PersistentVolumeClaims may
go, the upstream reasons when it may go nowhere, that Reserve keeps two pods off the same
static PV, and that PreBind writes the binding or the selected-node annotation and waits
for the claim to be bound."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework
from kubelite.scheduler.plugins import volumebinding
from tests.unit.scheduler.helpers import (
    CLASSES,
    PVCS,
    PVS,
    cluster,
    diagnose,
    node,
    pod,
    pv,
    pvc,
    schedule,
    storage_class,
)

NODES = (node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"}), node("c", labels={"zone": "z2"}))


def test_a_pod_without_claims_skips_the_plugin() -> None:
    c = cluster(*NODES)
    state = framework.CycleState(pod("p"), cache_mod.pod_info(pod("p"), node=""))
    status = volumebinding.VolumeBinding().pre_filter(state, c)
    assert status is not None and status.code == framework.Code.SKIP


def test_a_missing_claim_makes_the_pod_unschedulable_everywhere() -> None:
    c = cluster(*NODES)
    result = schedule(c, pod("p", claims=("data",)))
    assert not result.node and result.diagnosis is not None
    assert result.diagnosis.summary() == '0/3 nodes are available: persistentvolumeclaim "data" not found.'
    assert result.diagnosis.unresolvable is not None and result.diagnosis.unresolvable.all()


def test_an_unbound_immediate_claim_blocks_scheduling() -> None:
    c = cluster(*NODES, objects=((CLASSES, storage_class("fast", wffc=False)), (PVCS, pvc("data", cls="fast"))))
    result = schedule(c, pod("p", claims=("data",)))
    assert result.diagnosis is not None
    assert result.diagnosis.pre_filter_message == "pod has unbound immediate PersistentVolumeClaims"


def test_a_bound_local_volume_pins_the_pod_to_its_node() -> None:
    c = cluster(*NODES, objects=((PVS, pv("pv1", node_name="b", claim="data")),
                                 (PVCS, pvc("data", volume="pv1"))))
    assert schedule(c, pod("p", claims=("data",))).node == "b"
    d = diagnose(c, pod("p", claims=("data",)))
    assert d.counts == {"node(s) didn't match PersistentVolume's node affinity": 2}
    assert sorted(d.nodes["node(s) didn't match PersistentVolume's node affinity"]) == ["a", "c"]


def test_a_claim_bound_to_a_missing_volume_fits_nowhere() -> None:
    c = cluster(*NODES, objects=((PVCS, pvc("data", volume="gone")),))
    d = diagnose(c, pod("p", claims=("data",)))
    assert d.counts == {"node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)": 3}


def test_wait_for_first_consumer_claim_goes_where_a_matching_pv_is() -> None:
    c = cluster(*NODES, objects=((CLASSES, storage_class("local")), (PVCS, pvc("data", size="5Gi")),
                                 (PVS, pv("small-on-a", node_name="a", size="1Gi")),
                                 (PVS, pv("big-on-c", node_name="c", size="10Gi")),
                                 (PVS, pv("other-class-on-b", node_name="b", cls="slow", size="10Gi"))))
    assert schedule(c, pod("p", claims=("data",))).node == "c"
    d = diagnose(c, pod("p", claims=("data",)))
    assert d.counts == {"node(s) didn't find available persistent volumes to bind": 2}


def test_two_claims_need_two_volumes_on_the_same_node() -> None:
    c = cluster(*NODES, objects=((CLASSES, storage_class("local")), (PVCS, pvc("d1")), (PVCS, pvc("d2")),
                                 (PVS, pv("a1", node_name="a")), (PVS, pv("a2", node_name="a")),
                                 (PVS, pv("b1", node_name="b"))))
    p = pod("p", claims=("d1", "d2"))
    assert schedule(c, p).node == "a"
    assert diagnose(c, p).counts == {"node(s) didn't find available persistent volumes to bind": 2}


def test_reserve_keeps_a_second_pod_off_the_same_static_volume() -> None:
    c = cluster(*NODES, objects=((CLASSES, storage_class("local")), (PVCS, pvc("d1")), (PVCS, pvc("d2")),
                                 (PVS, pv("only", node_name="a"))))
    plugin = volumebinding.VolumeBinding()
    fw = framework.Framework("t", [plugin])
    first = pod("p1", claims=("d1",))
    state = framework.CycleState(first, cache_mod.pod_info(first, node=""))
    assert fw.schedule(state, c).node == "a"
    assert plugin.reserve(state, "a") is None
    assert c.listers.assumed_pvs == {"only": "default/d1"}
    second = pod("p2", claims=("d2",))
    result = fw.schedule(framework.CycleState(second, cache_mod.pod_info(second, node="")), c)
    assert not result.node and result.diagnosis is not None
    assert result.diagnosis.counts == {"node(s) didn't find available persistent volumes to bind": 3}
    plugin.unreserve(state, "a")  # e.g. the first pod's binding failed: the volume is free again
    assert fw.schedule(framework.CycleState(second, cache_mod.pod_info(second, node="")), c).node == "a"


def test_a_provisioner_admits_every_node_its_topologies_allow() -> None:
    topo = [{"matchLabelExpressions": [{"key": "zone", "values": ["z2"]}]}]
    c = cluster(*NODES, objects=((CLASSES, storage_class("lp", provisioner="kubelite.io/local-path",
                                                         topologies=topo)),
                                 (PVCS, pvc("data", cls="lp"))))
    d = diagnose(c, pod("p", claims=("data",)))
    assert d.counts == {"node(s) didn't find available persistent volumes to bind": 1}
    assert d.nodes["node(s) didn't find available persistent volumes to bind"] == ["a"]


def test_a_claim_already_provisioning_for_a_node_keeps_its_pods_there() -> None:
    claim = pvc("data", cls="lp", annotations={volumebinding.SELECTED_NODE: "c"})
    c = cluster(*NODES, objects=((CLASSES, storage_class("lp", provisioner="kubelite.io/local-path")),
                                 (PVCS, claim)))
    assert schedule(c, pod("p", claims=("data",))).node == "c"


class FakeClient:
    """Records patches and echoes them into the listers, as the informer would."""

    def __init__(self, cache: cache_mod.NodeCache, *, echo: bool = True) -> None:
        self.cache = cache
        self.echo = echo
        self.patches: list[tuple[str, str, dict[str, Any]]] = []

    async def patch(self, res: Any, name: str, body: dict[str, Any], *, namespace: str | None = None,
                    **_: Any) -> dict[str, Any]:
        self.patches.append((res.plural, name, body))
        kind = res.plural
        key = f"{namespace}/{name}" if namespace else name
        obj = copy.deepcopy(self.cache.listers.objects[kind][key])
        for section in ("metadata", "spec"):
            for k, v in (body.get(section) or {}).items():
                if isinstance(v, dict) and isinstance(obj[section].get(k), dict):
                    obj[section][k].update(v)
                else:
                    obj[section][k] = v
        if self.echo:
            self.cache.listers.set(kind, obj)
        return obj


async def test_prebind_writes_a_static_binding_and_waits_for_it() -> None:
    c = cluster(*NODES, objects=((CLASSES, storage_class("local")), (PVCS, pvc("data")),
                                 (PVS, pv("pv-a", node_name="a"))))
    client = FakeClient(c)
    plugin = volumebinding.VolumeBinding(client, bind_timeout=2.0)  # type: ignore[arg-type]
    p = pod("p", claims=("data",))
    state = framework.CycleState(p, cache_mod.pod_info(p, node=""))
    assert framework.Framework("t", [plugin]).schedule(state, c).node == "a"
    assert plugin.reserve(state, "a") is None
    assert await plugin.pre_bind(state, "a") is None
    assert [(r, n) for r, n, _ in client.patches] == [("persistentvolumes", "pv-a"),
                                                       ("persistentvolumeclaims", "data")]
    assert c.listers.pv("pv-a")["spec"]["claimRef"]["uid"] == "uid-data"
    assert c.listers.assumed_pvs == {}


async def test_prebind_asks_for_provisioning_and_waits_for_the_provisioner() -> None:
    c = cluster(*NODES, objects=((CLASSES, storage_class("lp", provisioner="kubelite.io/local-path")),
                                 (PVCS, pvc("data", cls="lp"))))
    client = FakeClient(c)
    plugin = volumebinding.VolumeBinding(client, bind_timeout=5.0)  # type: ignore[arg-type]
    p = pod("p", claims=("data",))
    state = framework.CycleState(p, cache_mod.pod_info(p, node=""))
    node_name = framework.Framework("t", [plugin]).schedule(state, c).node
    assert plugin.reserve(state, node_name) is None

    async def provisioner() -> None:
        while not c.listers.pvc("default", "data")["metadata"]["annotations"].get(volumebinding.SELECTED_NODE):
            await asyncio.sleep(0.01)
        c.listers.set(PVS, pv("pvc-uid-data", node_name=node_name, cls="lp", claim="data"))
        bound = copy.deepcopy(c.listers.pvc("default", "data"))
        bound["spec"]["volumeName"] = "pvc-uid-data"
        c.listers.set(PVCS, bound)

    status, _ = await asyncio.gather(plugin.pre_bind(state, node_name), provisioner())
    assert status is None
    assert client.patches == [("persistentvolumeclaims", "data",
                               {"metadata": {"annotations": {volumebinding.SELECTED_NODE: node_name}}})]


async def test_prebind_gives_up_when_the_claim_never_binds() -> None:
    c = cluster(*NODES, objects=((CLASSES, storage_class("lp", provisioner="kubelite.io/local-path")),
                                 (PVCS, pvc("data", cls="lp"))))
    plugin = volumebinding.VolumeBinding(FakeClient(c), bind_timeout=0.3)  # type: ignore[arg-type]
    p = pod("p", claims=("data",))
    state = framework.CycleState(p, cache_mod.pod_info(p, node=""))
    framework.Framework("t", [plugin]).schedule(state, c)
    assert plugin.reserve(state, "b") is None
    status = await plugin.pre_bind(state, "b")
    assert status is not None and status.code == framework.Code.ERROR
    assert "timed out" in status.message
    assert c.listers.assumed_selected == {}
