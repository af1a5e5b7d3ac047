"""Property test of VolumeBinding's verdicts: for random nodes, local PVs and a pod with
up to two claims (bound, or WaitForFirstConsumer on a static-only or a provisioning
class), a node is accepted exactly when a brute-force search finds distinct volumes for
the claims there, and Reserve on an accepted node picks volumes that really fit."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework
from kubelite.scheduler.plugins import volumebinding
from tests.unit.scheduler.helpers import (
    CLASSES,
    PVCS,
    PVS,
    cluster,
    node,
    pod,
    pv,
    pvc,
    storage_class,
)

NODES = ["n0", "n1", "n2"]

pv_st = st.fixed_dictionaries({"node": st.sampled_from(NODES + [""]), "size": st.integers(1, 4),
                               "cls": st.sampled_from(["static", "other"]), "claimed": st.booleans()})
claim_st = st.fixed_dictionaries({"size": st.integers(1, 4), "cls": st.sampled_from(["static", "prov"]),
                                  "bound_to": st.sampled_from([None, None, 0, 1])})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pv_st, max_size=5), st.lists(claim_st, min_size=1, max_size=2),
       st.sampled_from([None, "n1"]))
def test_volume_verdicts_match_a_brute_force_search(pvs: list[dict[str, Any]], claims: list[dict[str, Any]],
                                                    prov_zone: str | None) -> None:
    topo = [{"matchLabelExpressions": [{"key": "kubernetes.io/hostname", "values": [prov_zone]}]}] \
        if prov_zone else None
    objs: list[tuple[str, dict[str, Any]]] = [
        (CLASSES, storage_class("static")), (CLASSES, storage_class("other")),
        (CLASSES, storage_class("prov", provisioner="example.com/p", topologies=topo))]
    names = []
    owner: dict[int, str] = {}  # a PV a claim is bound to carries that claim's claimRef
    for j, d in enumerate(claims):
        bound = d["bound_to"] if d["bound_to"] is not None and d["bound_to"] < len(pvs) else None
        volume = f"pv{bound}" if bound is not None else ""
        if bound is not None:
            owner.setdefault(bound, f"c{j}")
        objs.append((PVCS, pvc(f"c{j}", cls=d["cls"], size=f"{d['size']}Gi", volume=volume)))
        names.append(f"c{j}")
    for i, d in enumerate(pvs):
        claim = owner.get(i) or ("someone-else" if d["claimed"] else "")
        objs.append((PVS, pv(f"pv{i}", node_name=d["node"], cls=d["cls"], size=f"{d['size']}Gi", claim=claim)))
    c = cluster(*(node(n) for n in NODES), objects=tuple(objs))
    p = pod("p", claims=tuple(names))
    plugin = volumebinding.VolumeBinding()
    fw = framework.Framework("t", [plugin])
    state = framework.CycleState(p, cache_mod.pod_info(p, node=""))
    ok, diagnosis = fw.run_filters(state, c, diagnose=True)
    assert diagnosis is not None

    def fits(n: str) -> bool:
        """Brute force: every bound claim's PV admits n, and the unbound claims get distinct
        fitting free PVs on n, or a class that can provision on n."""
        free = [i for i, d in enumerate(pvs) if not d["claimed"]]
        unbound = []
        for j, d in enumerate(claims):
            b = d["bound_to"] if d["bound_to"] is not None and d["bound_to"] < len(pvs) else None
            if b is not None:
                if pvs[b]["node"] not in ("", n):
                    return False
                free = [i for i in free if i != b]
            else:
                unbound.append(d)
        for combo in itertools.product(free + [None], repeat=len(unbound)):
            picked = [i for i in combo if i is not None]
            if len(set(picked)) != len(picked):
                continue
            good = True
            for d, i in zip(unbound, combo, strict=True):
                if i is None:
                    good = d["cls"] == "prov" and prov_zone in (None, n)
                else:
                    v = pvs[i]
                    good = v["cls"] == d["cls"] and v["size"] >= d["size"] and v["node"] in ("", n)
                if not good:
                    break
            if good:
                return True
        return False

    for n in NODES:
        row = c.index[n]
        assert bool(ok[row]) == fits(n), f"{n}: plugin says {bool(ok[row])}; {diagnosis.counts}"
    accepted = [n for n in NODES if ok[c.index[n]]]
    if accepted:
        target = accepted[0]
        assert plugin.reserve(state, target) is None
        st_: volumebinding.PodVolumes = state[plugin.name]
        chosen = [v["metadata"]["name"] for _, v in st_.static]
        assert len(chosen) == len(set(chosen))
        for claim, v in st_.static:
            assert v["spec"]["storageClassName"] == claim["spec"]["storageClassName"]
            mask = volumebinding.pv_node_mask(c, v, plugin.shapes)
            assert mask is None or mask[c.index[target]]
    else:
        assert sum(diagnosis.counts.values()) >= len(NODES) or diagnosis.pre_filter_message
