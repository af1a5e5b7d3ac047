"""Creating in a namespace that is being deleted is refused as upstream's NamespaceLifecycle
admission refuses it: 403 Forbidden naming the object (``configmaps "x" is forbidden:
unable to create new content in namespace <ns> because it is being terminated``; the
``generateName`` when the name is yet to be generated), with the cause ``NamespaceTerminating`` on
``metadata.namespace`` that controllers read to stay quiet.

The namespace is held in ``Terminating`` by a ConfigMap with a finalizer of the test's,
released at the end so that the namespace goes.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl
from tests.conftest import wait_for
from tests.support.rawapi import Api

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

HOLD = "example.com/hold"


def test_creating_in_a_terminating_namespace_is_forbidden_with_the_namespace_terminating_cause(
        kubectl: Kubectl, namespace: str, kubeconfig: Path) -> None:
    kubectl.apply_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "hold", "namespace": namespace, "finalizers": [HOLD]}}))
    kubectl("delete", "namespace", namespace, "--wait=false")
    try:
        wait_for(lambda: json.loads(kubectl("get", "namespace", namespace, "-o", "json"))["status"]["phase"]
                 == "Terminating", 10, message="namespace terminating")
        why = f"unable to create new content in namespace {namespace} because it is being terminated"

        refused = kubectl.run("create", "configmap", "late", "-n", namespace, check=False)
        assert refused.returncode != 0
        assert f'error: failed to create configmap: configmaps "late" is forbidden: {why}' in refused.stderr

        api = Api(kubeconfig)
        response = api.send("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body={
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generateName": "web-"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
        status = response.json()
        assert (response.status_code, status["reason"]) == (403, "Forbidden")
        # admission comes before the name is generated, so the refusal names the generateName
        assert status["message"] == f'deployments.apps "web-" is forbidden: {why}'
        assert status["details"] == {"name": "web-", "group": "apps", "kind": "deployments", "causes": [
            {"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
             "field": "metadata.namespace"}]}
    finally:
        kubectl("patch", "configmap", "hold", "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    wait_for(lambda: kubectl.run("get", "namespace", namespace, check=False).returncode != 0, 30,
             message="namespace gone once its last object let go")
