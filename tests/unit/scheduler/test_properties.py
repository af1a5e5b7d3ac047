"""Property test of the filter layer: for random clusters and pods, the framework's
verdicts agree with a slow, obvious reference of the hard rules.

No placement violates a hard constraint (resources, pod count, nodeSelector, taints,
cordons, readiness, host ports, required anti-affinity both ways, topology spread), and
every node declared unfit has a rule it really breaks, counted in the diagnosis.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, plugins

ZONES = ["z1", "z2", "z3"]
APPS = ["a", "b"]
TAINT_KEYS = ["gpu", "maint"]


def node_st(i: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "cpu": st.integers(0, 4000), "mem": st.integers(0, 8), "pods": st.integers(0, 4),
        "zone": st.sampled_from(ZONES + [None]), "disk": st.sampled_from(["ssd", "hdd"]),
        "taint": st.sampled_from([None, ("gpu", "NoSchedule"), ("maint", "NoExecute"), ("gpu", "PreferNoSchedule")]),
        "unschedulable": st.booleans(), "ready": st.booleans(),
    }).map(lambda d: {**d, "name": f"n{i}"})


def make_node(d: dict[str, Any]) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": d["name"], "disk": d["disk"]}
    if d["zone"]:
        labels["topology.kubernetes.io/zone"] = d["zone"]
    alloc = {"cpu": f"{d['cpu']}m", "memory": f"{d['mem']}Gi", "pods": str(d["pods"])}
    return {"metadata": {"name": d["name"], "labels": labels},
            "spec": {"unschedulable": d["unschedulable"],
                     "taints": [{"key": d["taint"][0], "effect": d["taint"][1]}] if d["taint"] else []},
            "status": {"allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True" if d["ready"] else "False"}]}}


pod_st = st.fixed_dictionaries({
    "cpu": st.integers(0, 1500), "mem": st.integers(0, 3), "app": st.sampled_from(APPS),
    "port": st.sampled_from([None, 80, 80, 443]), "selector": st.sampled_from([None, "ssd", "hdd"]),
    "tolerate": st.sampled_from([None, "gpu", "maint", "all"]), "anti": st.booleans(),
    "spread": st.sampled_from([None, 1, 2]),
})


def make_pod(d: dict[str, Any], name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "x",
                                 "resources": {"requests": {"cpu": f"{d['cpu']}m", "memory": f"{d['mem']}Gi"}}}
    if d["port"]:
        container["ports"] = [{"containerPort": d["port"], "hostPort": d["port"]}]
    spec: dict[str, Any] = {"containers": [container]}
    if d["selector"]:
        spec["nodeSelector"] = {"disk": d["selector"]}
    if d["tolerate"] == "all":
        spec["tolerations"] = [{"operator": "Exists"}]
    elif d["tolerate"]:
        spec["tolerations"] = [{"key": d["tolerate"], "operator": "Exists"}]
    if d["anti"]:
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": d["app"]}}, "topologyKey": "kubernetes.io/hostname"}]}}
    if d["spread"]:
        spec["topologySpreadConstraints"] = [{"maxSkew": d["spread"], "topologyKey": "topology.kubernetes.io/zone",
                                              "whenUnsatisfiable": "DoNotSchedule",
                                              "labelSelector": {"matchLabels": {"app": d["app"]}}}]
    return {"metadata": {"name": name, "namespace": "default", "labels": {"app": d["app"]}}, "spec": spec}


def violations(node: dict[str, Any], pod: dict[str, Any], placed: list[dict[str, Any]], d: dict[str, Any],
               pd: dict[str, Any], all_nodes: list[dict[str, Any]], placed_d: list[tuple[dict, str]]) -> list[str]:
    """The reference: every hard rule this node breaks for this pod, checked naively."""
    out = []
    if d["unschedulable"] and pd["tolerate"] != "all":
        out.append("unschedulable")
    taints = ([d["taint"]] if d["taint"] else []) + ([] if d["ready"] else [("node.kubernetes.io/not-ready", "NoSchedule")])
    for key, effect in taints:
        if effect in ("NoSchedule", "NoExecute") and not (pd["tolerate"] == "all" or pd["tolerate"] == key):
            out.append("taint")
    if pd["selector"] and d["disk"] != pd["selector"]:
        out.append("selector")
    here = [p for p, n in placed_d if n == d["name"]]
    if sum(p["cpu"] for p in here) + pd["cpu"] > d["cpu"] and pd["cpu"] > 0:
        out.append("cpu")
    if sum(p["mem"] for p in here) + pd["mem"] > d["mem"] and pd["mem"] > 0:
        out.append("mem")
    if len(here) + 1 > d["pods"]:
        out.append("pods")
    if pd["port"] and any(p["port"] == pd["port"] for p in here):
        out.append("port")
    if pd["anti"] and any(p["app"] == pd["app"] for p in here):
        out.append("anti")
    if any(p["anti"] and p["app"] == pd["app"] for p in here):
        out.append("existing-anti")
    if pd["spread"]:
        if not d["zone"]:
            out.append("spread-label")
        else:
            eligible = [n for n in all_nodes if n["zone"] and (not pd["selector"] or n["disk"] == pd["selector"])]
            zones = {n["zone"] for n in eligible}
            zone_of = {n["name"]: n["zone"] for n in eligible}
            count = {z: sum(1 for p, nn in placed_d if zone_of.get(nn) == z and p["app"] == pd["app"]) for z in zones}
            if zones and count.get(d["zone"], 0) + 1 - min(count.values()) > pd["spread"]:
                out.append("spread")
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(st.tuples(*[node_st(i) for i in range(n)]),
                                                     st.lists(st.tuples(pod_st, st.integers(0, n - 1)), max_size=8),
                                                     pod_st)))
def test_filter_verdicts_match_the_reference(case: tuple[Any, Any, Any]) -> None:
    node_ds, placed_raw, pd = case
    cache = cache_mod.NodeCache(capacity=2)  # small, so growing is exercised too
    for d in node_ds:
        cache.set_node(make_node(d))
    placed_d: list[tuple[dict, str]] = []
    for i, (p, idx) in enumerate(placed_raw):
        pod = make_pod(p, f"old{i}")
        cache.add_pod(cache_mod.pod_info(pod, node=node_ds[idx]["name"]))
        placed_d.append((p, node_ds[idx]["name"]))
    pod = make_pod(pd, "new")
    fw = framework.Framework("test", plugins.default_plugins())
    state = framework.CycleState(pod, cache_mod.pod_info(pod, node=""))
    ok, diagnosis = fw.run_filters(state, cache, diagnose=True)
    assert diagnosis is not None
    for d in node_ds:
        row = cache.index[d["name"]]
        broken = violations(d, pod, [], d, pd, list(node_ds), placed_d)
        if ok[row]:
            assert not broken, f"{d['name']} accepted but breaks {broken}"
        else:
            assert broken, f"{d['name']} rejected without a broken rule: {diagnosis.counts}"
    rejected = int((~ok[: cache.rows] & cache.valid[: cache.rows]).sum())
    assert sum(diagnosis.counts.values()) >= rejected
    assert all(n <= len(node_ds) for n in diagnosis.counts.values())
    result = fw.schedule(framework.CycleState(pod, cache_mod.pod_info(pod, node="")), cache)
    if ok.any():
        assert result.node and ok[cache.index[result.node]]
    else:
        assert not result.node and result.diagnosis is not None
        assert result.diagnosis.summary().startswith(f"0/{len(node_ds)} nodes are available: ")
