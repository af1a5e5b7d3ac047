"""The objects the API server keeps (``bootstrap``): the system namespaces, the
``kubernetes`` Service with its Endpoints and EndpointSlice (as upstream's bootstrap
controllers), and the NamespaceLifecycle refusal to delete ``default``, ``kube-system``
and ``kube-public``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelite.api import errors
from kubelite.apiserver import bootstrap, registry, requests

Obj = dict[str, Any]


def _store(reg: registry.Registry, group: str, plural: str) -> registry.Store:
    store = reg.by_plural(group, plural)
    assert store is not None
    return store


def _get(reg: registry.Registry, group: str, plural: str, name: str, namespace: str | None = "default") -> Obj | None:
    store = _store(reg, group, plural)
    return store.cache.objects.get(store.info.key(namespace, name))


async def _fresh(reg: registry.Registry) -> None:
    await reg.cache.wait_fresh()


def _system(reg: registry.Registry, *, port: int = 6443, address: str = "10.0.0.1",
            sole_server: bool = True) -> bootstrap.SystemObjects:
    return bootstrap.SystemObjects(reg, address=address, port=port, sole_server=sole_server)


async def test_first_round_creates_everything_as_upstream_names_it(reg: registry.Registry) -> None:
    await bootstrap.ensure_cluster_objects(reg)
    await _fresh(reg)
    await _system(reg).reconcile()
    await _fresh(reg)
    for name in bootstrap.SYSTEM_NAMESPACES:
        assert _get(reg, "", "namespaces", name, None) is not None
    svc = _get(reg, "", "services", "kubernetes")
    assert svc is not None
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    assert svc["spec"]["clusterIP"] == "10.43.0.1"  # the first address of the service range
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]
    assert "selector" not in svc["spec"]
    assert [m["manager"] for m in svc["metadata"]["managedFields"]] == ["kube-apiserver"]
    ep = _get(reg, "", "endpoints", "kubernetes")
    assert ep is not None
    assert ep["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    assert ep["subsets"] == [{"addresses": [{"ip": "10.0.0.1"}],
                              "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
    eps = _get(reg, "discovery.k8s.io", "endpointslices", "kubernetes")
    assert eps is not None
    assert eps["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}  # no managed-by
    assert eps["addressType"] == "IPv4"
    assert eps["endpoints"] == [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]
    assert eps["ports"] == [{"name": "https", "port": 6443, "protocol": "TCP"}]


async def test_rounds_are_idempotent_and_bring_back_what_was_deleted(reg: registry.Registry) -> None:
    system = _system(reg)
    await bootstrap.ensure_cluster_objects(reg)
    await system.reconcile()
    await _fresh(reg)
    before = reg.cache.revision
    await system.reconcile()
    await _fresh(reg)
    assert reg.cache.revision == before  # nothing to write
    gone = requests.DeleteOptions()
    await _store(reg, "", "services").delete("default", "kubernetes", gone)
    await _store(reg, "", "endpoints").delete("default", "kubernetes", gone)
    await _store(reg, "discovery.k8s.io", "endpointslices").delete("default", "kubernetes", gone)
    await _store(reg, "", "namespaces").delete(None, "kube-node-lease", gone)
    await _fresh(reg)
    ns = _get(reg, "", "namespaces", "kube-node-lease", None)
    assert ns is not None and ns["status"]["phase"] == "Terminating"  # still there: nothing to create
    await system.reconcile()
    await _fresh(reg)
    svc = _get(reg, "", "services", "kubernetes")
    assert svc is not None and svc["spec"]["clusterIP"] == "10.43.0.1"  # its address again
    assert _get(reg, "", "endpoints", "kubernetes") is not None
    assert _get(reg, "discovery.k8s.io", "endpointslices", "kubernetes") is not None


async def test_a_sole_server_resets_the_endpoints_to_itself(reg: registry.Registry) -> None:
    await bootstrap.ensure_cluster_objects(reg)
    await _system(reg, port=6443).reconcile()
    await _fresh(reg)
    await _system(reg, port=7443, address="10.0.0.2").reconcile()  # restarted elsewhere
    await _fresh(reg)
    ep = _get(reg, "", "endpoints", "kubernetes")
    eps = _get(reg, "discovery.k8s.io", "endpointslices", "kubernetes")
    assert ep is not None and eps is not None
    assert ep["subsets"][0] == {"addresses": [{"ip": "10.0.0.2"}],
                                "ports": [{"name": "https", "port": 7443, "protocol": "TCP"}]}
    assert eps["endpoints"][0]["addresses"] == ["10.0.0.2"] and eps["ports"][0]["port"] == 7443


async def test_several_servers_converge_without_fighting(reg: registry.Registry) -> None:
    await bootstrap.ensure_cluster_objects(reg)
    servers = [_system(reg, address=f"10.0.0.{i}", sole_server=False) for i in (1, 2, 3)]
    await asyncio.gather(*(s.reconcile() for s in servers))  # AlreadyExists and Conflict are fine
    await _fresh(reg)
    ep = _get(reg, "", "endpoints", "kubernetes")
    eps = _get(reg, "discovery.k8s.io", "endpointslices", "kubernetes")
    assert ep is not None and eps is not None
    [address] = ep["subsets"][0]["addresses"]
    assert eps["endpoints"] == [{"addresses": [address["ip"]], "conditions": {"ready": True}}]  # follows
    before = reg.cache.revision
    for _ in range(2):
        await asyncio.gather(*(s.reconcile() for s in servers))
    await _fresh(reg)
    assert reg.cache.revision == before  # the first writer's address stays: no server rewrites it


async def test_ipv6_address_makes_an_ipv6_slice(reg: registry.Registry) -> None:
    await bootstrap.ensure_cluster_objects(reg)
    await _system(reg, address="fd00::1").reconcile()
    await _fresh(reg)
    eps = _get(reg, "discovery.k8s.io", "endpointslices", "kubernetes")
    assert eps is not None and eps["addressType"] == "IPv6"
    await _system(reg, address="10.0.0.1").reconcile()  # the type is immutable: replaced
    await _fresh(reg)
    eps = _get(reg, "discovery.k8s.io", "endpointslices", "kubernetes")
    assert eps is not None and eps["addressType"] == "IPv4"


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_immortal_namespaces_cannot_be_deleted(reg: registry.Registry, name: str) -> None:
    namespaces = _store(reg, "", "namespaces")
    # refused before anything is read: even when missing, even as a dry run
    for opts in (requests.DeleteOptions(), requests.DeleteOptions(dry_run=True)):
        with pytest.raises(errors.Forbidden) as refused:
            await namespaces.delete(None, name, opts)
        status = refused.value.to_status()
        assert status["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
        assert status["code"] == 403 and status["reason"] == "Forbidden"
        assert status["details"] == {"name": name, "kind": "namespaces"}
    await bootstrap.ensure_namespaces(reg)
    with pytest.raises(errors.Forbidden):
        await namespaces.delete(None, name, requests.DeleteOptions())
    await _fresh(reg)
    found = _get(reg, "", "namespaces", name, None)
    assert found is not None and "deletionTimestamp" not in found["metadata"]
    # other namespaces go as before
    await namespaces.create(None, {"metadata": {"name": "mortal"}}, requests.WriteOptions())
    result = await namespaces.delete(None, "mortal", requests.DeleteOptions())
    assert result.obj is not None and result.obj["status"]["phase"] == "Terminating"
