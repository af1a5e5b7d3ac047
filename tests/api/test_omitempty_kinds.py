"""Nodes, PersistentVolumes, Endpoints, EndpointSlices, NetworkPolicies, IngressClasses,
StorageClasses and ControllerRevisions come back as kube-apiserver stores them: without
the zero values Go's ``omitempty`` drops (``spec.unschedulable: false``,
``notReadyAddresses: []``, ``mountOptions: []``), with those Go keeps (an EndpointSlice's
``serving: false``, a StorageClass's ``allowVolumeExpansion: false``: pointers). A user
notices the difference as false drift in ``kubectl diff`` and in ``kubectl get -o yaml``."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl
from tests.support.rawapi import Api

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses
Obj = dict[str, Any]

# Fake nodes carry this taint: no pod of another test is ever placed on them.
KEEP_OFF = {"key": "kubelite.test/omitempty", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Api:
    return Api(kubeconfig)


@pytest.fixture
def cluster_scoped(api: Api) -> Iterator[list[str]]:
    """Paths of cluster-scoped objects a test creates, deleted when it ends."""
    paths: list[str] = []
    yield paths
    for path in paths:
        api.send("DELETE", path)


def ok(resp: Any) -> Obj:
    assert resp.status_code in (200, 201), resp.text
    body: Obj = resp.json()
    return body


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def created_and_fetched(api: Api, path: str, body: Obj) -> tuple[Obj, Obj]:
    created = ok(api.send("POST", path, body=body))
    return created, ok(api.send("GET", f"{path}/{created['metadata']['name']}"))


def test_a_node_loses_a_false_unschedulable_and_keeps_its_kubelet_port(api: Api, cluster_scoped: list[str]) -> None:
    name = unique("omit-node")
    cluster_scoped.append(f"/api/v1/nodes/{name}")
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "annotations": {}, "labels": {}},
            "spec": {"unschedulable": False, "podCIDRs": [], "providerID": "", "taints": [{**KEEP_OFF, "value": ""}]},
            "status": {"capacity": {"cpu": "1"}, "phase": "", "conditions": [], "addresses": [], "images": [],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                       "nodeInfo": {"machineID": "", "kubeletVersion": "v1.37.0", "architecture": "amd64"}}}
    for obj in created_and_fetched(api, "/api/v1/nodes", node):
        assert not {"annotations", "labels"} & set(obj["metadata"])
        assert obj["spec"] == {"taints": [KEEP_OFF]}
        status = obj["status"]
        assert not {"phase", "conditions", "addresses", "images"} & set(status)
        # no omitempty on a DaemonEndpoint's Port nor on NodeSystemInfo's strings
        assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 0}}
        assert status["nodeInfo"] == {"machineID": "", "kubeletVersion": "v1.37.0", "architecture": "amd64"}
    patched = ok(api.send("PATCH", f"/api/v1/nodes/{name}/status", content_type="application/merge-patch+json",
                          body={"status": {"features": {"supplementalGroupsPolicy": False}, "volumesInUse": [],
                                           "runtimeHandlers": [{"name": "", "features": {"userNamespaces": False}}]}}))
    # pointers keep false; a runtime handler's name has no omitempty (the default handler is "")
    assert patched["status"]["features"] == {"supplementalGroupsPolicy": False}
    assert patched["status"]["runtimeHandlers"] == [{"name": "", "features": {"userNamespaces": False}}]
    assert "volumesInUse" not in patched["status"]


def test_a_persistent_volume_drops_empty_mount_options_and_keeps_a_pointer_fs_type(
        api: Api, cluster_scoped: list[str]) -> None:
    name = unique("omit-pv")
    cluster_scoped.append(f"/api/v1/persistentvolumes/{name}")
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "annotations": {}},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "mountOptions": [],
                   "storageClassName": "", "claimRef": None, "persistentVolumeReclaimPolicy": "Retain",
                   "local": {"path": f"/tmp/{name}", "fsType": ""}}}
    for obj in created_and_fetched(api, "/api/v1/persistentvolumes", pv):
        assert "annotations" not in obj["metadata"]
        assert obj["spec"] == {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                               "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem",
                               "local": {"path": f"/tmp/{name}", "fsType": ""}}


def test_endpoints_lose_empty_not_ready_addresses_and_port_names(api: Api, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/endpoints"
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "no-service", "labels": {}},
          "subsets": [{"addresses": [{"ip": "10.9.0.1", "hostname": ""}], "notReadyAddresses": [],
                       "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]}]}
    for obj in created_and_fetched(api, path, ep):
        assert "labels" not in obj["metadata"]
        assert obj["subsets"] == [{"addresses": [{"ip": "10.9.0.1"}], "ports": [{"port": 8080, "protocol": "TCP"}]}]
    empty = ok(api.send("POST", path, body={"apiVersion": "v1", "kind": "Endpoints",
                                            "metadata": {"name": "empty"}, "subsets": []}))
    assert "subsets" not in empty


def test_an_endpoint_slice_keeps_serving_false_and_an_empty_port_name(api: Api, namespace: str) -> None:
    path = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "manual", "annotations": {}}, "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.9.0.2"], "conditions": {"ready": True, "serving": False},
                          "deprecatedTopology": {}}],
           "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]}
    for obj in created_and_fetched(api, path, eps):
        assert "annotations" not in obj["metadata"]
        # every condition is a *bool: false is an answer, not a zero value
        assert obj["endpoints"] == [{"addresses": ["10.9.0.2"], "conditions": {"ready": True, "serving": False}}]
        assert obj["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
    # endpoints has no omitempty: a slice of a Service without endpoints says so
    empty = ok(api.send("POST", path, body={"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                                            "metadata": {"name": "empty"}, "addressType": "IPv4",
                                            "endpoints": [], "ports": []}))
    assert empty["endpoints"] == [] and empty["ports"] == []


def test_a_network_policy_keeps_its_empty_pod_selector(api: Api, namespace: str) -> None:
    path = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"
    np = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "all"},
          "spec": {"podSelector": {"matchLabels": {}}, "egress": [], "policyTypes": ["Ingress"],
                   "ingress": [{"from": [], "ports": [{"protocol": "TCP", "port": 80}]}]}}
    for obj in created_and_fetched(api, path, np):
        # a non-pointer LabelSelector: {} selects every pod of the namespace and stays
        assert obj["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"],
                               "ingress": [{"ports": [{"protocol": "TCP", "port": 80}]}]}


def test_an_ingress_class_without_parameters_has_no_empty_metadata(api: Api, cluster_scoped: list[str]) -> None:
    name = unique("omit-ic")
    cluster_scoped.append(f"/apis/networking.k8s.io/v1/ingressclasses/{name}")
    ic = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
          "metadata": {"name": name, "annotations": {}, "labels": {}},
          "spec": {"controller": "example.com/ingress", "parameters": None}}
    for obj in created_and_fetched(api, "/apis/networking.k8s.io/v1/ingressclasses", ic):
        assert obj["metadata"].keys() >= {"name", "uid"} and not {"annotations", "labels"} & set(obj["metadata"])
        assert obj["spec"] == {"controller": "example.com/ingress"}


def test_a_storage_class_keeps_a_false_volume_expansion_and_drops_empty_lists(
        api: Api, cluster_scoped: list[str]) -> None:
    name = unique("omit-sc")
    path = "/apis/storage.k8s.io/v1/storageclasses"
    cluster_scoped.append(f"{path}/{name}")
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
          "provisioner": "example.com/none", "parameters": {}, "mountOptions": [], "allowedTopologies": [],
          "allowVolumeExpansion": False}
    created, fetched = created_and_fetched(api, path, sc)
    for obj in (created, fetched):
        assert obj["allowVolumeExpansion"] is False  # a *bool
        assert not {"parameters", "mountOptions", "allowedTopologies"} & set(obj)
    same = copy.deepcopy(created)
    same.update(mountOptions=[], parameters={})
    same["metadata"]["labels"] = {}
    updated = ok(api.send("PUT", f"{path}/{name}", body=same))
    # nothing but zero values: nothing is written, no watcher hears of it
    assert updated["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_a_controller_revision_keeps_its_data_as_it_was_written(api: Api, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/controllerrevisions"
    data = {"spec": {"template": {"metadata": {"annotations": {}},
                                  "spec": {"containers": [{"name": "c", "env": [], "stdin": False}]}}},
            "$patch": "replace"}
    cr = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r0", "labels": {}},
          "data": data, "revision": 0}
    for obj in created_and_fetched(api, path, cr):
        assert "labels" not in obj["metadata"]
        # a RawExtension is whatever JSON its writer chose; revision has no omitempty
        assert obj["data"] == data and obj["revision"] == 0


def _manifest(suffix: str, *, spelled: bool) -> str:
    """One object of each kind; ``spelled`` adds the zero values manifests often carry."""
    meta = "\n  annotations: {}\n  labels: {}" if spelled else ""

    def z(text: str) -> str:
        return text if spelled else ""

    return f"""apiVersion: v1
kind: Node
metadata:
  name: omit-node-{suffix}{meta}
spec:
  unschedulable: true{z('''
  podCIDR: ""
  podCIDRs: []
  providerID: ""''')}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: omit-pv-{suffix}{meta}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  hostPath: {{path: /tmp/omit-pv-{suffix}}}{z('''
  mountOptions: []
  storageClassName: ""''')}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: omit-ep{meta}
subsets:
- addresses:
  - ip: 10.9.0.3{z('''
    hostname: ""''')}
  ports:
  - {{port: 8080, protocol: TCP{z(', name: ""')}}}{z('''
  notReadyAddresses: []''')}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: omit-eps{meta}
addressType: IPv4
endpoints:
- addresses: [10.9.0.3]
  conditions: {{ready: true, serving: false}}{z('''
  deprecatedTopology: {}''')}
ports:
- {{name: "", port: 8080, protocol: TCP}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: omit-np{meta}
spec:
  podSelector: {{{z('matchLabels: {}')}}}
  policyTypes: [Ingress]
  ingress:
  - ports: [{{port: 80, protocol: TCP}}]{z('''
    from: []
  egress: []''')}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: omit-ic-{suffix}{meta}
spec:
  controller: example.com/ingress
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: omit-sc-{suffix}{meta}
provisioner: example.com/none
allowVolumeExpansion: false{z('''
parameters: {}
mountOptions: []
allowedTopologies: []''')}
---
apiVersion: apps/v1
kind: ControllerRevision
metadata:
  name: omit-cr{meta}
data: {{spec: {{template: {{spec: {{containers: []}}}}}}}}
revision: 1
"""


def test_empty_fields_in_a_manifest_of_each_kind_are_no_drift(kubectl: Kubectl, namespace: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    plain, spelled = _manifest(suffix, spelled=False), _manifest(suffix, spelled=True)
    try:
        kubectl.apply_text(plain, "-n", namespace)
        diff = kubectl.run("diff", "-n", namespace, "-f", "-", stdin=spelled, check=False)
        assert diff.returncode == 0, diff.stdout + diff.stderr
        kubectl.apply_text(spelled, "-n", namespace)
        kubectl.apply_text(spelled, "-n", namespace)
        diff = kubectl.run("diff", "-n", namespace, "-f", "-", stdin=spelled, check=False)
        assert diff.returncode == 0, diff.stdout + diff.stderr
        shown = kubectl("get", "node", f"omit-node-{suffix}", "-o", "jsonpath={.spec}")
        assert "podCIDRs" not in shown and "providerID" not in shown
        shown = kubectl("get", "storageclass", f"omit-sc-{suffix}", "-o",
                        "jsonpath={.allowVolumeExpansion} {.mountOptions}")
        assert shown.strip() == "false"
    finally:
        kubectl.run("delete", "-n", namespace, "-f", "-", "--ignore-not-found", "--wait=false", stdin=plain,
                    check=False)
