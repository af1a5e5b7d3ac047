"""The objects a cluster cannot lose, through the real kubectl and the official client.

As upstream: the NamespaceLifecycle admission refuses to delete ``default``,
``kube-system`` and ``kube-public`` (403), namespaces have no collection delete (405),
and the API server brings back a deleted ``kubernetes`` Service, its Endpoints and its
EndpointSlice (the one ``kubectl describe svc`` reads its endpoints from) within seconds.

Every refusal is first tried as a server-side dry run, so that a regression fails the
test without wiping the namespaces the rest of the session runs in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl
from tests.conftest import wait_for
from tests.support.rawapi import Api

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

IMMORTAL = ("default", "kube-system", "kube-public")
BACK_WITHIN = 20.0  # the server reconciles every 5 s (upstream every 10 s)


def _server_port(kubeconfig: Path) -> int:
    return int(Api(kubeconfig).url.rsplit(":", 1)[1])


@pytest.mark.parametrize("name", IMMORTAL)
def test_kubectl_cannot_delete_the_system_namespaces(kubectl: Kubectl, name: str) -> None:
    message = f'Error from server (Forbidden): namespaces "{name}" is forbidden: this namespace may not be deleted'
    dry = kubectl.run("delete", "ns", name, "--dry-run=server", check=False)
    assert dry.returncode != 0 and message in dry.stderr, dry
    result = kubectl.run("delete", "ns", name, "--wait=false", check=False)
    assert result.returncode != 0, result
    assert message in result.stderr, result
    assert kubectl("get", "ns", name, "-o", "jsonpath={.status.phase}") == "Active"
    assert kubectl("get", "ns", name, "-o", "jsonpath={.metadata.deletionTimestamp}") == ""


def test_python_client_gets_403_forbidden(k8s: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(k8s)
    for dry_run in ("All", None):
        with pytest.raises(client.ApiException) as refused:
            core.delete_namespace("kube-system", dry_run=dry_run)
        assert refused.value.status == 403
        body = json.loads(refused.value.body or "{}")
        assert body["reason"] == "Forbidden" and body["code"] == 403
        assert body["message"] == 'namespaces "kube-system" is forbidden: this namespace may not be deleted'
        assert body["details"] == {"name": "kube-system", "kind": "namespaces"}
    assert core.read_namespace("kube-system").status.phase == "Active"


def test_namespaces_have_no_collection_delete(kubeconfig: Path) -> None:
    api = Api(kubeconfig)
    resp = api.send("DELETE", "/api/v1/namespaces", params={"dryRun": "All"})
    assert resp.status_code == 405, resp.text
    assert resp.json()["reason"] == "MethodNotAllowed"


def test_kubernetes_service_endpoints_and_slice(kubectl: Kubectl, k8s: client.ApiClient, kubeconfig: Path) -> None:
    port = _server_port(kubeconfig)
    core: Any = client.CoreV1Api(k8s)
    discovery: Any = client.DiscoveryV1Api(k8s)
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.metadata.labels == {"component": "apiserver", "provider": "kubernetes"}
    assert svc.spec.cluster_ip == "10.43.0.1" and svc.spec.selector is None
    assert [(p.name, p.port, p.target_port) for p in svc.spec.ports] == [("https", 443, port)]
    ep = core.read_namespaced_endpoints("kubernetes", "default")
    assert ep.metadata.labels == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    assert [(a.ip, p.port) for s in ep.subsets for a in s.addresses for p in s.ports] == [("127.0.0.1", port)]
    slices = discovery.list_namespaced_endpoint_slice("default",
                                                      label_selector="kubernetes.io/service-name=kubernetes")
    [eps] = slices.items
    assert eps.metadata.name == "kubernetes"
    assert eps.metadata.labels == {"kubernetes.io/service-name": "kubernetes"}  # no managed-by, as upstream
    assert eps.address_type == "IPv4"
    assert [(e.addresses, e.conditions.ready) for e in eps.endpoints] == [(["127.0.0.1"], True)]
    assert [(p.name, p.port, p.protocol) for p in eps.ports] == [("https", port, "TCP")]
    # kubectl describe reads the EndpointSlices: it used to print <none>
    described = kubectl("describe", "svc", "kubernetes", "-n", "default")
    assert [line.split(None, 1)[1].strip() for line in described.splitlines()
            if line.startswith("Endpoints:")] == [f"127.0.0.1:{port}"]


def test_deleted_kubernetes_service_comes_back(kubectl: Kubectl, k8s: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(k8s)
    discovery: Any = client.DiscoveryV1Api(k8s)
    old_uid = core.read_namespaced_service("kubernetes", "default").metadata.uid
    assert 'service "kubernetes" deleted' in kubectl("delete", "svc", "kubernetes", "-n", "default")
    discovery.delete_namespaced_endpoint_slice("kubernetes", "default")

    def back() -> bool:
        svc = core.read_namespaced_service("kubernetes", "default")
        core.read_namespaced_endpoints("kubernetes", "default")
        discovery.read_namespaced_endpoint_slice("kubernetes", "default")
        return svc.metadata.uid != old_uid

    wait_for(back, timeout=BACK_WITHIN, interval=0.5, message="the kubernetes Service and its endpoints back",
             ignore=(client.ApiException,))
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.cluster_ip == "10.43.0.1"  # its address, not a new one
    out = kubectl("get", "svc,ep,endpointslice", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes",
                  "-o", "name")
    assert out.split() == ["endpointslice.discovery.k8s.io/kubernetes"]
