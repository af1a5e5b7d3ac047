"""Every namespace holds the cluster CA in the ConfigMap ``kube-root-ca.crt``, as upstream's
root CA publisher keeps it: in-cluster clients and service meshes read it there."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from kubernetes import client

from tests.conftest import wait_for

NAME = "kube-root-ca.crt"


def _cluster_ca(kubeconfig: Path) -> str:
    cfg = yaml.safe_load(kubeconfig.read_text())
    return base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode()


def _ca_map(core: client.CoreV1Api, ns: str) -> client.V1ConfigMap | None:
    try:
        return core.read_namespaced_config_map(NAME, ns)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_every_namespace_gets_the_cluster_ca_and_keeps_it(k8s: client.ApiClient, kubeconfig: Path,
                                                          namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    ca = _cluster_ca(kubeconfig)
    assert ca.startswith("-----BEGIN CERTIFICATE-----")
    cm = wait_for(lambda: _ca_map(core, namespace), 10, message="kube-root-ca.crt in a new namespace")
    assert cm.data == {"ca.crt": ca}
    assert "kube-apiserver" in cm.metadata.annotations["kubernetes.io/description"]
    assert _ca_map(core, "default") is not None and _ca_map(core, "kube-system") is not None

    # Tampered with: the data and the description come back, a user's label stays.
    core.replace_namespaced_config_map(NAME, namespace, {
        "metadata": {"name": NAME, "labels": {"mine": "yes"}, "resourceVersion": cm.metadata.resource_version},
        "data": {"ca.crt": "not a certificate"}})
    wait_for(lambda: (c := _ca_map(core, namespace)) is not None and c.data == {"ca.crt": ca}
             and "kubernetes.io/description" in (c.metadata.annotations or {}), 10, message="restored")
    assert _ca_map(core, namespace).metadata.labels == {"mine": "yes"}

    # Deleted: made again.
    old_uid = _ca_map(core, namespace).metadata.uid
    core.delete_namespaced_config_map(NAME, namespace)
    wait_for(lambda: (c := _ca_map(core, namespace)) is not None and c.metadata.uid != old_uid, 10,
             message="re-created")
