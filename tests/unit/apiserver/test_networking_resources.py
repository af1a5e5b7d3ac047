"""networking.k8s.io/v1 and core/v1 ReplicationController/PodTemplate in the registry and
its tables: the scheme entries, ``kubectl get`` rows (upstream's printers), the
DefaultIngressClass admission, an Ingress's status subresource, an RC's Scale selector and
its v1 default of orphaning dependents."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelite.api import errors, scheme
from kubelite.apiserver import registry, requests, tables
from kubelite.apiserver.strategies import cluster

pytestmark = pytest.mark.usefixtures("default_namespace")
OPTS = requests.WriteOptions.parse({})
NOW = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
Obj = dict[str, Any]


def info(group: str, kind: str) -> scheme.ResourceInfo:
    found = next((r for r in scheme.BUILTIN if r.group == group and r.kind == kind), None)
    assert found is not None
    return found


def row(group: str, kind: str, obj: Obj) -> dict[str, Any]:
    obj.setdefault("metadata", {}).setdefault("creationTimestamp",
                                              (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    table = tables.to_table(info(group, kind), [obj], list_meta={}, now=NOW)
    return dict(zip([c["name"] for c in table["columnDefinitions"]], table["rows"][0]["cells"], strict=True))


def store(reg: registry.Registry, group: str, plural: str) -> registry.Store:
    found = reg.get(group, "v1", plural)
    assert found is not None
    return found


# --- the scheme -----------------------------------------------------------------------


def test_scheme_entries_as_upstream_serves_them() -> None:
    rc = info("", "ReplicationController")
    assert (rc.plural, rc.short_names, rc.categories, rc.subresources) == \
        ("replicationcontrollers", ("rc",), ("all",), ("status", "scale"))
    assert info("", "PodTemplate").plural == "podtemplates"
    ing = info("networking.k8s.io", "Ingress")
    assert (ing.plural, ing.short_names, ing.namespaced, ing.subresources) == ("ingresses", ("ing",), True, ("status",))
    assert not info("networking.k8s.io", "IngressClass").namespaced
    assert info("networking.k8s.io", "NetworkPolicy").short_names == ("netpol",)


# --- tables -------------------------------------------------------------------------


def test_ingress_rows() -> None:
    ing = {"metadata": {"name": "web"},
           "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.com"]}],
                    "rules": [{"host": "a.com"}, {"host": "b.com"}, {}, {"host": "c.com"}, {"host": "d.com"}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}, {"hostname": "lb.example.com"},
                                                   {"ip": "10.0.0.1"}, {"ip": "10.0.0.1"}]}}}
    assert row("networking.k8s.io", "Ingress", ing) == {
        "Name": "web", "Class": "nginx", "Hosts": "a.com,b.com,c.com + 2 more...",
        "Address": "10.0.0.1,10.0.0.2,lb.example.com", "Ports": "80, 443", "Age": "5m"}
    bare = row("networking.k8s.io", "Ingress", {"metadata": {"name": "x"}, "spec": {"defaultBackend": {}}})
    assert (bare["Class"], bare["Hosts"], bare["Address"], bare["Ports"]) == ("<none>", "*", "", "80")


def test_ingress_class_and_network_policy_rows() -> None:
    params = {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "lb"}
    ic = row("networking.k8s.io", "IngressClass",
             {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx", "parameters": params}})
    assert ic == {"Name": "nginx", "Controller": "k8s.io/ingress-nginx",
                  "Parameters": "IngressParameters.k8s.example.com/lb", "Age": "5m"}
    plain = row("networking.k8s.io", "IngressClass", {"metadata": {"name": "x"}, "spec": {"controller": "a.io/b"}})
    assert plain["Parameters"] == "<none>"
    np = {"metadata": {"name": "db"}, "spec": {"podSelector": {"matchLabels": {"app": "db"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["b", "a"]}]}}}
    assert row("networking.k8s.io", "NetworkPolicy", np) == {"Name": "db", "Pod-Selector": "app=db,tier in (a,b)",
                                                             "Age": "5m"}
    everything = row("networking.k8s.io", "NetworkPolicy", {"metadata": {"name": "all"}, "spec": {"podSelector": {}}})
    assert everything["Pod-Selector"] == "<none>"


def test_replication_controller_and_pod_template_rows() -> None:
    template = {"metadata": {"labels": {"app": "web", "tier": "fe"}},
                "spec": {"containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "busybox"}]}}
    rc = row("", "ReplicationController", {"metadata": {"name": "web"},
                                           "spec": {"replicas": 3, "selector": {"tier": "fe", "app": "web"},
                                                    "template": template},
                                           "status": {"replicas": 2, "readyReplicas": 1}})
    assert rc == {"Name": "web", "Desired": 3, "Current": 2, "Ready": 1, "Age": "5m", "Containers": "a,b",
                  "Images": "nginx:1,busybox", "Selector": "app=web,tier=fe"}
    table = tables.to_table(info("", "ReplicationController"), [], list_meta={}, now=NOW)
    wide = [c["name"] for c in table["columnDefinitions"] if c["priority"] > 0]
    assert wide == ["Containers", "Images", "Selector"]
    pt = row("", "PodTemplate", {"metadata": {"name": "t"}, "template": template})
    assert pt == {"Name": "t", "Containers": "a,b", "Images": "nginx:1,busybox", "Pod Labels": "app=web,tier=fe"}


# --- admission and subresources -------------------------------------------------------


def _ingress(name: str, **extra: Any) -> Obj:
    meta: Obj = {"name": name}
    if "annotations" in extra:
        meta["annotations"] = extra.pop("annotations")
    return {"metadata": meta, "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
                                       **extra}}


async def _cached(classes: registry.Store, name: str) -> None:
    """Admission reads the watch cache as it is (as upstream's reads its informer): wait
    until the cache holds ``name``."""
    for _ in range(200):
        if any(o["metadata"]["name"] == name for o in classes.cache.objects.values()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} never reached the watch cache")


def test_the_newest_default_class_wins_then_the_first_by_name() -> None:
    def obj(name: str, stamp: str) -> Obj:
        return {"metadata": {"name": name, "creationTimestamp": stamp}}
    old, new = obj("b", "2026-01-01T00:00:00Z"), obj("c", "2026-01-02T00:00:00Z")
    twin = obj("a", "2026-01-02T00:00:00Z")
    assert cluster.newest([old, new]) is new
    assert cluster.newest([old, new, twin]) is twin
    assert cluster.newest([]) is None


async def test_new_ingresses_get_the_default_ingress_class(reg: registry.Registry) -> None:
    classes, ingresses = store(reg, "networking.k8s.io", "ingressclasses"), store(reg, "networking.k8s.io", "ingresses")
    first = await ingresses.create("default", _ingress("before"), OPTS)
    assert "ingressClassName" not in first["spec"]  # no default class yet
    await classes.create(None, {"metadata": {"name": "plain"}, "spec": {"controller": "k8s.io/plain"}}, OPTS)
    await classes.create(None, {"metadata": {"name": "nginx", "annotations": {
        "ingressclass.kubernetes.io/is-default-class": "true"}}, "spec": {"controller": "k8s.io/nginx"}}, OPTS)
    await _cached(classes, "nginx")
    made = await ingresses.create("default", _ingress("after"), OPTS)
    assert made["spec"]["ingressClassName"] == "nginx"
    named = await ingresses.create("default", _ingress("named", ingressClassName="plain"), OPTS)
    assert named["spec"]["ingressClassName"] == "plain"
    annotated = await ingresses.create("default", _ingress(
        "annotated", annotations={"kubernetes.io/ingress.class": "legacy"}), OPTS)
    assert "ingressClassName" not in annotated["spec"]
    # creates only: an update that drops the class leaves it out
    updated, _ = await ingresses.update("default", "named", {**named, "spec": {**named["spec"],
                                                                             "ingressClassName": None}}, OPTS)
    assert updated["spec"].get("ingressClassName") is None


async def test_ingress_status_is_a_subresource_and_generation_follows_the_spec(reg: registry.Registry) -> None:
    ingresses = store(reg, "networking.k8s.io", "ingresses")
    made = await ingresses.create("default", {**_ingress("web"), "status": {"loadBalancer": {
        "ingress": [{"ip": "1.2.3.4"}]}}}, OPTS)
    assert made["status"] == {"loadBalancer": {}} and made["metadata"]["generation"] == 1
    with_status = {**made, "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}
    written, _ = await ingresses.update("default", "web", with_status, OPTS, subresource="status")
    assert written["status"]["loadBalancer"]["ingress"] == [{"ip": "10.0.0.1"}]
    assert written["metadata"]["generation"] == 1
    bad = {**written, "status": {"loadBalancer": {"ingress": [{"ip": "nope"}]}}}
    with pytest.raises(errors.Invalid, match=r"status.loadBalancer.ingress\[0\].ip"):
        await ingresses.update("default", "web", bad, OPTS, subresource="status")
    respec = {**written, "spec": {**written["spec"], "ingressClassName": "x"}, "status": {}}
    changed, _ = await ingresses.update("default", "web", respec, OPTS)
    assert changed["metadata"]["generation"] == 2
    assert changed["status"]["loadBalancer"]["ingress"] == [{"ip": "10.0.0.1"}]  # the main endpoint keeps status


def _rc(name: str) -> Obj:
    return {"metadata": {"name": name}, "spec": {"replicas": 2, "template": {
        "metadata": {"labels": {"app": name, "tier": "fe"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}


async def test_replication_controller_store(reg: registry.Registry) -> None:
    rcs = store(reg, "", "replicationcontrollers")
    made = await rcs.create("default", _rc("web"), OPTS)
    assert made["spec"]["selector"] == {"app": "web", "tier": "fe"}
    assert made["status"] == {"replicas": 0}  # replicas has no omitempty upstream
    assert rcs.strategy.scale_selector(made) == "app=web,tier=fe"
    # a v1 DELETE naming no policy orphans the pods (upstream's back-compat default)
    orphaning = await rcs.delete("default", "web", requests.DeleteOptions())
    assert not orphaning.deleted and orphaning.last["metadata"]["finalizers"] == ["orphan"]
    await rcs.create("default", _rc("bg"), OPTS)
    assert (await rcs.delete("default", "bg", requests.DeleteOptions(propagation_policy="Background"))).deleted
    await rcs.create("default", _rc("fg"), OPTS)
    foreground = await rcs.delete("default", "fg", requests.DeleteOptions(propagation_policy="Foreground"))
    assert foreground.last["metadata"]["finalizers"] == ["foregroundDeletion"]


async def test_replication_controller_status_is_validated(reg: registry.Registry) -> None:
    rcs = store(reg, "", "replicationcontrollers")
    made = await rcs.create("default", _rc("web"), OPTS)
    bad = {**made, "status": {"replicas": 1, "readyReplicas": 2}}
    with pytest.raises(errors.Invalid, match="cannot be greater than status.replicas"):
        await rcs.update("default", "web", bad, OPTS, subresource="status")


async def test_pod_templates_are_plain_storage_with_a_generation(reg: registry.Registry) -> None:
    templates = store(reg, "", "podtemplates")
    body = {"metadata": {"name": "t"}, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
    made = await templates.create("default", body, OPTS)
    assert made["metadata"]["generation"] == 1
    assert made["template"]["spec"]["restartPolicy"] == "Always"  # the PodSpec defaults
    changed = {**made, "template": {"spec": {"containers": [{"name": "c", "image": "j"}]}}}
    updated, _ = await templates.update("default", "t", changed, OPTS)
    assert updated["metadata"]["generation"] == 2
