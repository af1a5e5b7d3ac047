"""Builders of Node, Pod, PVC, PV, StorageClass and PDB objects for the scheduler's unit
tests, and a helper that runs one scheduling decision over a ``NodeCache``."""

from __future__ import annotations

from typing import Any

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, listers, plugins

Obj = dict[str, Any]


def node(name: str, *, cpu: str = "4", labels: dict[str, str] | None = None) -> Obj:
    alloc = {"cpu": cpu, "memory": "8Gi", "pods": "110"}
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {}, "status": {"allocatable": alloc, "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, *, cpu: str = "100m", priority: int = 0, claims: tuple[str, ...] = (),
        labels: dict[str, str] | None = None, nominated: str = "", start: str = "") -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}],
                 "priority": priority,
                 "volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]}
    status: Obj = {}
    if nominated:
        status["nominatedNodeName"] = nominated
    if start:
        status["startTime"] = start
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {}},
            "spec": spec, "status": status}


def pvc(name: str, *, cls: str = "local", size: str = "1Gi", volume: str = "", annotations: dict[str, str] | None = None,
        modes: tuple[str, ...] = ("ReadWriteOnce",)) -> Obj:
    spec: Obj = {"storageClassName": cls, "accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if volume:
        spec["volumeName"] = volume
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "1",
                         "annotations": annotations or {}},
            "spec": spec, "status": {"phase": "Bound" if volume else "Pending"}}


def pv(name: str, *, node_name: str = "", cls: str = "local", size: str = "1Gi", claim: str = "",
       phase: str = "Available") -> Obj:
    spec: Obj = {"storageClassName": cls, "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"]}
    if node_name:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}]}]}}
    if claim:
        spec["claimRef"] = {"namespace": "default", "name": claim, "uid": f"uid-{claim}"}
    return {"metadata": {"name": name, "resourceVersion": "1"}, "spec": spec,
            "status": {"phase": "Bound" if claim else phase}}


def storage_class(name: str, *, provisioner: str = "kubernetes.io/no-provisioner", wffc: bool = True,
                  topologies: list[Obj] | None = None) -> Obj:
    out: Obj = {"metadata": {"name": name}, "provisioner": provisioner,
                "volumeBindingMode": "WaitForFirstConsumer" if wffc else "Immediate"}
    if topologies is not None:
        out["allowedTopologies"] = topologies
    return out


def pdb(name: str, *, match: dict[str, str], allowed: int) -> Obj:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": match}}, "status": {"disruptionsAllowed": allowed}}


def cluster(*nodes: Obj, objects: tuple[tuple[str, Obj], ...] = ()) -> cache_mod.NodeCache:
    c = cache_mod.NodeCache(capacity=4)
    for n in nodes:
        c.set_node(n)
    for kind, obj in objects:
        c.listers.set(kind, obj)
    return c


def place(c: cache_mod.NodeCache, p: Obj, node_name: str) -> cache_mod.PodInfo:
    info = cache_mod.pod_info(p, node=node_name)
    c.add_pod(info)
    return info


def schedule(c: cache_mod.NodeCache, p: Obj, fw: framework.Framework | None = None) -> framework.Result:
    fw = fw or framework.Framework("test", plugins.default_plugins())
    return fw.schedule(framework.CycleState(p, cache_mod.pod_info(p, node="")), c)


def diagnose(c: cache_mod.NodeCache, p: Obj) -> framework.Diagnosis:
    fw = framework.Framework("test", plugins.default_plugins())
    _ok, d = fw.run_filters(framework.CycleState(p, cache_mod.pod_info(p, node="")), c, diagnose=True)
    assert d is not None
    return d


PVCS, PVS, CLASSES, PDBS = listers.PVCS, listers.PVS, listers.CLASSES, listers.PDBS
