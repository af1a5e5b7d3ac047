"""Property test of the filter layer: for random clusters and pods, the framework's
verdicts agree with a slow, obvious reference of the hard rules.

No placement violates a hard constraint (resources, pod count, nodeSelector, taints,
cordons, host ports, required affinity, required anti-affinity both ways, topology
spread), and every node declared unfit has a rule it really breaks, counted in the
diagnosis. PodTopologySpread and InterPodAffinity charge a node one reason, upstream's
first failed check: the reference says which.

The reference follows upstream: spread counts leave terminating pods out and count only
on nodes carrying every hard constraint's key; required affinity needs every term's key
on the node and one placed pod matching all the terms in each term's domain (or, for the
first pod of a group matching its own terms, no such pod anywhere). Readiness is no
filter of its own: an unready node is tainted by the node lifecycle controller.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, plugins

ZONES = ["z1", "z2", "z3"]
ZONE, HOST = "topology.kubernetes.io/zone", "kubernetes.io/hostname"
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
    # a hostname constraint (maxSkew 1) before or after the zone one
    "spread_host": st.sampled_from([None, None, "before", "after"]),
    # required affinity, topologyKey zone; "ab": app in (a, b) by zone and app=a by hostname
    "affinity": st.sampled_from([None, None, "a", "b", "ab"]),
})

# The reasons of the two plugins that charge a node only its first failed check.
SPREAD_REASONS = {"spread": "node(s) didn't match pod topology spread constraints",
                  "spread-label": "node(s) didn't match pod topology spread constraints (missing required label)"}
INTERPOD_REASONS = {"affinity": "node(s) didn't match pod affinity rules",
                    "anti": "node(s) didn't match pod anti-affinity rules",
                    "existing-anti": "node(s) didn't satisfy existing pods anti-affinity rules"}


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
    constraints = [{"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": d["app"]}}} for key, skew in spread_constraints(d)]
    if constraints:
        spec["topologySpreadConstraints"] = constraints
    if d["affinity"]:
        spec.setdefault("affinity", {})["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": list(apps)}]},
             "topologyKey": key} for apps, key in affinity_terms(d)]}
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": d["app"]}}
    if d.get("dying"):
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta, "spec": spec}


def spread_constraints(d: dict[str, Any]) -> list[tuple[str, int]]:
    """The pod's hard spread constraints, in order: (topologyKey, maxSkew)."""
    out = [(ZONE, d["spread"])] if d["spread"] else []
    if d["spread_host"] == "before":
        out.insert(0, (HOST, 1))
    elif d["spread_host"] == "after":
        out.append((HOST, 1))
    return out


def affinity_terms(d: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """The pod's required affinity terms: (apps selected, topologyKey)."""
    if d["affinity"] == "ab":
        return [(("a", "b"), ZONE), (("a",), HOST)]
    return [((d["affinity"],), ZONE)] if d["affinity"] else []


def label(n: dict[str, Any], key: str) -> str | None:
    return n["zone"] if key == ZONE else n["name"]


def violations(node: dict[str, Any], pod: dict[str, Any], placed: list[dict[str, Any]], d: dict[str, Any],
               pd: dict[str, Any], all_nodes: list[dict[str, Any]], placed_d: list[tuple[dict, str]]) -> list[str]:
    """The reference: every hard rule this node breaks for this pod, checked naively, in
    the profile's order of plugins (and, within PodTopologySpread and InterPodAffinity, of
    upstream's checks: only the first one each plugin fails is listed)."""
    out = []
    if d["unschedulable"] and pd["tolerate"] != "all":
        out.append("unschedulable")
    taints = [d["taint"]] if d["taint"] else []
    for key, effect in taints:
        if effect in ("NoSchedule", "NoExecute") and not (pd["tolerate"] == "all" or pd["tolerate"] == key):
            out.append("taint")
    if pd["selector"] and d["disk"] != pd["selector"]:
        out.append("selector")
    here = [p for p, n in placed_d if n == d["name"]]  # terminating pods too: they still hold the node
    if pd["port"] and any(p["port"] == pd["port"] for p in here):
        out.append("port")
    if sum(p["cpu"] for p in here) + pd["cpu"] > d["cpu"] and pd["cpu"] > 0:
        out.append("cpu")
    if sum(p["mem"] for p in here) + pd["mem"] > d["mem"] and pd["mem"] > 0:
        out.append("mem")
    if len(here) + 1 > d["pods"]:
        out.append("pods")
    cons = spread_constraints(pd)
    if cons:
        keys = [k for k, _ in cons]
        # counted: live pods on nodes with every key (and the pod's nodeSelector)
        eligible = [n for n in all_nodes if all(label(n, k) is not None for k in keys)
                    and (not pd["selector"] or n["disk"] == pd["selector"])]
        for key, skew in cons:
            if label(d, key) is None:
                out.append("spread-label")
                break
            domain_of = {n["name"]: label(n, key) for n in eligible}
            count = {z: 0 for z in domain_of.values()}
            for p, nn in placed_d:
                if nn in domain_of and p["app"] == pd["app"] and not p.get("dying"):
                    count[domain_of[nn]] += 1
            if count and count.get(label(d, key), 0) + 1 - min(count.values()) > skew:
                out.append("spread")
                break
    interpod = []
    terms = affinity_terms(pd)
    if terms:
        by_name = {n["name"]: n for n in all_nodes}
        if any(label(d, key) is None for _, key in terms):
            interpod.append("affinity")
        else:
            # (key, value) pairs of the placed pods matching *all* the terms
            pairs = {(key, label(by_name[nn], key)) for p, nn in placed_d
                     if all(p["app"] in apps for apps, _ in terms) for _, key in terms
                     if label(by_name[nn], key) is not None}
            found = all((key, label(d, key)) in pairs for _, key in terms)
            first = not pairs and all(pd["app"] in apps for apps, _ in terms)
            if not found and not first:
                interpod.append("affinity")
    if pd["anti"] and any(p["app"] == pd["app"] for p in here):
        interpod.append("anti")
    if any(p["anti"] and p["app"] == pd["app"] for p in here):
        interpod.append("existing-anti")
    return out + interpod[:1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(st.tuples(*[node_st(i) for i in range(n)]),
                                                     st.lists(st.tuples(pod_st, st.integers(0, n - 1),
                                                                        st.sampled_from([False, False, False, True])),
                                                              max_size=8),
                                                     pod_st)))
def test_filter_verdicts_match_the_reference(case: tuple[Any, Any, Any]) -> None:
    node_ds, placed_raw, pd = case
    cache = cache_mod.NodeCache(capacity=2)  # small, so growing is exercised too
    for d in node_ds:
        cache.set_node(make_node(d))
    placed_d: list[tuple[dict, str]] = []
    for i, (p, idx, dying) in enumerate(placed_raw):
        p = {**p, "dying": dying}  # a terminating pod: deleted, within its grace period
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
            # Charged to the first plugin that rejects it; these two give their first check.
            first = broken[0]
            if first in SPREAD_REASONS or first in INTERPOD_REASONS:
                text = {**SPREAD_REASONS, **INTERPOD_REASONS}[first]
                assert d["name"] in diagnosis.nodes.get(text, []), f"{d['name']}: {broken} but {diagnosis.nodes}"
    for reasons in (SPREAD_REASONS, INTERPOD_REASONS):  # one reason per node, each
        charged = [n for text in reasons.values() for n in diagnosis.nodes.get(text, [])]
        assert len(charged) == len(set(charged)), diagnosis.nodes
    rejected = int((~ok[: cache.rows] & cache.valid[: cache.rows]).sum())
    assert sum(diagnosis.counts.values()) >= rejected
    assert all(n <= len(node_ds) for n in diagnosis.counts.values())
    result = fw.schedule(framework.CycleState(pod, cache_mod.pod_info(pod, node="")), cache)
    if ok.any():
        assert result.node and ok[cache.index[result.node]]
    else:
        assert not result.node and result.diagnosis is not None
        assert result.diagnosis.summary().startswith(f"0/{len(node_ds)} nodes are available: ")
