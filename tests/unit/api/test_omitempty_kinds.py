"""Nodes, PersistentVolumes, Endpoints, EndpointSlices, NetworkPolicies, IngressClasses,
StorageClasses and ControllerRevisions lose the zero values Go's ``omitempty`` drops and
keep those Go keeps (pointers, fields without ``omitempty``, non-pointer structs), as
kube-apiserver 1.37 stores them (``kubelite.api.omitempty`` with the tables of
``kubelite.api.protobuf``). A user sees the difference in ``kubectl get -o yaml``, in
``kubectl diff`` and in watch events that change nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api import errors, omitempty, protobuf
from kubelite.api.protobuf import wire

Obj = dict[str, Any]


def normalized(api_version: str, kind: str, obj: Obj) -> Obj:
    group, _, version = api_version.rpartition("/")
    plan = omitempty.plan_for(group, version, kind)
    assert plan is not None, kind
    out = copy.deepcopy(obj)
    omitempty.normalize(out, plan)
    return out


def test_a_node_loses_a_false_unschedulable_and_keeps_its_node_info_strings() -> None:
    node = {"metadata": {"name": "n", "annotations": {}, "labels": {}},
            "spec": {"unschedulable": False, "podCIDR": "", "podCIDRs": [], "providerID": "",
                     "taints": [{"key": "k", "value": "", "effect": "NoSchedule", "timeAdded": None}],
                     "configSource": None},
            "status": {"phase": "", "conditions": [{"type": "Ready", "status": "True", "reason": "",
                                                    "lastHeartbeatTime": None}],
                       "addresses": [], "images": [{"names": [], "sizeBytes": 0}], "volumesInUse": [],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                       "nodeInfo": {"machineID": "", "bootID": "", "architecture": "amd64", "swap": {}},
                       "runtimeHandlers": [{"name": "", "features": {"recursiveReadOnlyMounts": False}}],
                       "features": {"supplementalGroupsPolicy": False}, "declaredFeatures": [],
                       "volumesAttached": [{"name": "v", "devicePath": ""}], "config": {"error": ""}}}
    out = normalized("v1", "Node", node)
    assert out["metadata"] == {"name": "n"}
    assert out["spec"] == {"taints": [{"key": "k", "effect": "NoSchedule"}]}
    assert out["status"] == {
        # a non-pointer Time is null when zero; type and status have no omitempty
        "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": None}],
        "images": [{"names": []}],
        # non-pointer structs whose fields have no omitempty: always there
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {"machineID": "", "bootID": "", "architecture": "amd64", "swap": {}},
        # pointers keep false and {}
        "runtimeHandlers": [{"name": "", "features": {"recursiveReadOnlyMounts": False}}],
        "features": {"supplementalGroupsPolicy": False},
        "volumesAttached": [{"name": "v", "devicePath": ""}], "config": {}}


def test_a_persistent_volume_keeps_its_pointer_sources_and_drops_empty_options() -> None:
    pv = {"metadata": {"name": "pv", "finalizers": []},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "mountOptions": [],
                   "storageClassName": "", "claimRef": None, "nodeAffinity": {"required": None},
                   "local": {"path": "/mnt/disk", "fsType": ""}, "hostPath": None,
                   "persistentVolumeReclaimPolicy": "", "volumeMode": "Filesystem"},
          "status": {"phase": "Available", "message": "", "reason": "", "lastPhaseTransitionTime": None}}
    out = normalized("v1", "PersistentVolume", pv)
    assert out == {"metadata": {"name": "pv"},
                   # LocalVolumeSource.fsType is a *string: "" stays
                   "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                            "nodeAffinity": {}, "local": {"path": "/mnt/disk", "fsType": ""},
                            "volumeMode": "Filesystem"},
                   "status": {"phase": "Available"}}


def test_persistent_volume_sources_are_their_own_messages() -> None:
    pv = {"spec": {"csi": {"driver": "d", "volumeHandle": "h", "readOnly": False, "fsType": "",
                           "volumeAttributes": {}, "nodePublishSecretRef": {"name": "s", "namespace": ""}},
                   "azureFile": {"secretName": "", "shareName": "", "readOnly": False, "secretNamespace": ""}}}
    spec = normalized("v1", "PersistentVolume", pv)["spec"]
    # a PV's secret references are SecretReferences (name, namespace), not pod volumes'
    assert spec["csi"] == {"driver": "d", "volumeHandle": "h", "nodePublishSecretRef": {"name": "s"}}
    assert spec["azureFile"] == {"secretName": "", "shareName": "", "secretNamespace": ""}


def test_endpoints_lose_empty_address_lists_and_port_names() -> None:
    ep = {"metadata": {"name": "e", "labels": {}},
          "subsets": [{"addresses": [{"ip": "10.0.0.1", "hostname": "", "nodeName": "n1", "targetRef": None}],
                       "notReadyAddresses": [],
                       "ports": [{"name": "", "port": 80, "protocol": "TCP", "appProtocol": "h2c"}]},
                      {"addresses": [], "ports": []}]}
    assert normalized("v1", "Endpoints", ep) == {
        "metadata": {"name": "e"},
        "subsets": [{"addresses": [{"ip": "10.0.0.1", "nodeName": "n1"}],
                     "ports": [{"port": 80, "protocol": "TCP", "appProtocol": "h2c"}]}, {}]}
    assert normalized("v1", "Endpoints", {"metadata": {"name": "e"}, "subsets": []}) == {"metadata": {"name": "e"}}


def test_an_endpoint_slice_keeps_its_pointer_conditions_and_port_names() -> None:
    eps = {"metadata": {"name": "s", "annotations": {}}, "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True, "serving": False},
                          "hostname": None, "nodeName": "", "deprecatedTopology": {},
                          "hints": {"forZones": [], "forNodes": [{"name": ""}]}}],
           "ports": [{"name": "", "port": 0, "protocol": "TCP"}]}
    assert normalized("discovery.k8s.io/v1", "EndpointSlice", eps) == {
        "metadata": {"name": "s"}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True, "serving": False},
                       "nodeName": "", "hints": {"forNodes": [{"name": ""}]}}],
        "ports": [{"name": "", "port": 0, "protocol": "TCP"}]}
    # endpoints and ports have no omitempty: empty lists stay; conditions is a struct
    empty = {"addressType": "IPv4", "endpoints": [{"addresses": [], "conditions": None}], "ports": []}
    assert normalized("discovery.k8s.io/v1", "EndpointSlice", empty) == {
        "addressType": "IPv4", "endpoints": [{"addresses": [], "conditions": {}}], "ports": []}


def test_a_network_policy_keeps_its_empty_pod_selector() -> None:
    np = {"metadata": {"name": "np"},
          "spec": {"podSelector": {"matchLabels": {}, "matchExpressions": []},
                   "ingress": [{"ports": [{"protocol": "TCP", "port": 0, "endPort": 0}], "from": []}],
                   "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": []},
                                       "podSelector": {}, "namespaceSelector": None}]}],
                   "policyTypes": []}}
    assert normalized("networking.k8s.io/v1", "NetworkPolicy", np)["spec"] == {
        "podSelector": {},
        "ingress": [{"ports": [{"protocol": "TCP", "port": 0, "endPort": 0}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]}


def test_an_ingress_class_keeps_its_parameter_pointers() -> None:
    ic = {"metadata": {"name": "ic", "labels": {}},
          "spec": {"controller": "", "parameters": {"apiGroup": "", "kind": "K", "name": "n", "scope": "Cluster"}}}
    assert normalized("networking.k8s.io/v1", "IngressClass", ic) == {
        "metadata": {"name": "ic"},
        "spec": {"parameters": {"apiGroup": "", "kind": "K", "name": "n", "scope": "Cluster"}}}


def test_a_storage_class_keeps_a_false_volume_expansion() -> None:
    sc = {"metadata": {"name": "sc"}, "provisioner": "example.com/p", "parameters": {}, "mountOptions": [],
          "allowVolumeExpansion": False, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
          "allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": []}]}]}
    assert normalized("storage.k8s.io/v1", "StorageClass", sc) == {
        "metadata": {"name": "sc"}, "provisioner": "example.com/p", "allowVolumeExpansion": False,
        "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
        "allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": []}]}]}


def test_a_controller_revision_keeps_its_data_as_it_is() -> None:
    data = {"spec": {"template": {"metadata": {"annotations": {}, "creationTimestamp": None},
                                  "spec": {"containers": [{"name": "c", "env": [], "stdin": False}]}}},
            "$patch": "replace"}
    cr = {"metadata": {"name": "cr", "labels": {}}, "data": copy.deepcopy(data), "revision": 0}
    assert normalized("apps/v1", "ControllerRevision", cr) == {"metadata": {"name": "cr"}, "data": data,
                                                               "revision": 0}
    # a RawExtension is a struct: null is kept, as Go writes it
    assert normalized("apps/v1", "ControllerRevision", {"data": None})["data"] is None


def _ld(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2]) + wire.varint(len(payload)) + payload


@pytest.mark.parametrize(("api_version", "kind"), [
    ("v1", "Node"), ("v1", "PersistentVolume"), ("v1", "Endpoints"), ("discovery.k8s.io/v1", "EndpointSlice"),
    ("networking.k8s.io/v1", "NetworkPolicy"), ("networking.k8s.io/v1", "IngressClass"),
    ("storage.k8s.io/v1", "StorageClass"), ("apps/v1", "ControllerRevision"),
])
def test_their_protobuf_bodies_are_still_asked_for_as_json(api_version: str, kind: str) -> None:
    # the tables serve omitempty only: no typed kubectl command writes these kinds
    type_meta = _ld(1, api_version.encode()) + _ld(2, kind.encode())
    with pytest.raises(errors.UnsupportedMediaType) as caught:
        protobuf.decode(protobuf.MAGIC + _ld(1, type_meta) + _ld(2, _ld(1, b"")))
    assert "application/json" in caught.value.message
