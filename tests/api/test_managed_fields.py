"""``metadata.managedFields`` of plain writes, through the real kubectl and Python client.

Every create, update and non-apply patch records an ``Update`` entry for its manager
(``fieldManager``, else the User-Agent before its ``/``), so server-side apply conflicts
with ``kubectl scale``, ``edit`` and controllers as upstream's does, and a field a plain
write takes over leaves its applier.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from kubelite.client import config, rest
from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl
from tests.conftest import wait_for
from tests.support.rawapi import Api

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: nginx:1.25
"""


def managed(kubectl: Kubectl, namespace: str, *what: str) -> list[dict[str, Any]]:
    """The object's managedFields (kubectl hides them unless asked)."""
    out = kubectl("get", *what, "-n", namespace, "-o", "json", "--show-managed-fields")
    return json.loads(out)["metadata"].get("managedFields") or []


def entry(entries: list[dict[str, Any]], manager: str, *, operation: str = "Update",
          subresource: str = "") -> dict[str, Any] | None:
    found = [e for e in entries if e["manager"] == manager and e["operation"] == operation
             and e.get("subresource", "") == subresource]
    assert len(found) <= 1, entries
    return found[0] if found else None


def test_create_records_the_creators_fields(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "deployment", "made", "-n", namespace, "--image=nginx:1.25", "--replicas=2")
    mine = entry(managed(kubectl, namespace, "deployment", "made"), "kubectl-create")
    assert mine is not None
    assert mine["apiVersion"] == "apps/v1" and mine["fieldsType"] == "FieldsV1" and mine["time"].endswith("Z")
    fields = mine["fieldsV1"]
    assert fields["f:metadata"]["f:labels"] == {".": {}, "f:app": {}}
    assert fields["f:spec"]["f:replicas"] == {}
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert "." in container and "f:image" in container
    # Never owned: identity, server-kept metadata, and status on the main resource.
    assert "f:status" not in fields and "f:name" not in fields["f:metadata"]
    assert "f:uid" not in fields["f:metadata"] and "f:apiVersion" not in fields


def test_scale_takes_replicas_from_the_applier_and_apply_then_conflicts(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=DEPLOYMENT)
    kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=5")
    entries = managed(kubectl, namespace, "deployment", "web")
    scaler = entry(entries, "kubectl", subresource="scale")
    assert scaler is not None and scaler["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    applier = entry(entries, "kubectl", operation="Apply")
    assert applier is not None and "f:replicas" not in applier["fieldsV1"]["f:spec"]

    result = kubectl.run("apply", "--server-side", "-n", namespace, "-f", "-", stdin=DEPLOYMENT, check=False)
    assert result.returncode != 0, result
    assert ('Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: '
            ".spec.replicas") in result.stderr
    assert kubectl("get", "deployment", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}") == "5"

    kubectl("apply", "--server-side", "--force-conflicts", "-n", namespace, "-f", "-", stdin=DEPLOYMENT)
    assert kubectl("get", "deployment", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}") == "2"
    entries = managed(kubectl, namespace, "deployment", "web")
    assert entry(entries, "kubectl", subresource="scale") is None  # it owned nothing else
    applier = entry(entries, "kubectl", operation="Apply")
    assert applier is not None and "f:replicas" in applier["fieldsV1"]["f:spec"]


def test_edit_of_an_applied_field_conflicts_with_the_editor(kubectl: Kubectl, namespace: str) -> None:
    """A plain patch (``kubectl set image``) owns what it changed: the applier's next
    apply of another value conflicts with it, the same value is shared."""
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=DEPLOYMENT)
    kubectl("set", "image", "deployment/web", "main=nginx:1.26", "-n", namespace)
    image_path = '.spec.template.spec.containers[name="main"].image'
    result = kubectl.run("apply", "--server-side", "-n", namespace, "-f", "-", stdin=DEPLOYMENT, check=False)
    assert result.returncode != 0 and 'conflict with "kubectl-set" using apps/v1' in result.stderr, result
    assert image_path in result.stderr
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=DEPLOYMENT.replace("1.25", "1.26"))


def test_label_and_unlabel_record_and_drop_the_labeller(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "cfg", "-n", namespace, "--from-literal=a=1")
    kubectl("label", "configmap", "cfg", "team=blue", "-n", namespace)
    labeller = entry(managed(kubectl, namespace, "configmap", "cfg"), "kubectl-label")
    assert labeller is not None
    assert labeller["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:team": {}}}}
    creator = entry(managed(kubectl, namespace, "configmap", "cfg"), "kubectl-create")
    assert creator is not None and creator["fieldsV1"]["f:data"] == {".": {}, "f:a": {}}

    kubectl("label", "configmap", "cfg", "team-", "-n", namespace)
    # the label went, and the emptied labels map with it (omitempty): the labeller owns
    # nothing any more and its entry goes, as upstream's (structured-merge-diff drops
    # managers whose set is empty)
    assert entry(managed(kubectl, namespace, "configmap", "cfg"), "kubectl-label") is None


def test_client_side_apply_then_server_side_apply_does_not_conflict(kubectl: Kubectl, namespace: str) -> None:
    """kubectl moves the client-side applier's fields to its server-side manager with a
    patch of managedFields itself; the server must take those entries as given."""
    kubectl("apply", "-n", namespace, "-f", "-", stdin=DEPLOYMENT)
    assert entry(managed(kubectl, namespace, "deployment", "web"), "kubectl-client-side-apply") is not None
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3")
    out = kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=changed)
    assert "serverside-applied" in out
    entries = managed(kubectl, namespace, "deployment", "web")
    applier = entry(entries, "kubectl", operation="Apply")
    assert applier is not None and "f:replicas" in applier["fieldsV1"]["f:spec"]
    assert kubectl("get", "deployment", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}") == "3"
    # kubectl re-applies right after moving the entries: the defaulted fields the client-side
    # applier owned (imagePullPolicy, dnsPolicy, strategy.type…) are not applied, so they
    # leave the object and come back as defaults, as upstream's apply defaults its result
    again = kubectl.run("apply", "--server-side", "-n", namespace, "-f", "-", stdin=changed)
    assert again.returncode == 0 and "Warning" not in again.stderr, again
    container = json.loads(kubectl("get", "deployment", "web", "-n", namespace, "-o", "json"))[
        "spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent" and container["image"] == "nginx:1.25"


def test_controllers_and_scheduler_write_under_their_upstream_names(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=DEPLOYMENT)

    def status_manager() -> bool:
        return entry(managed(kubectl, namespace, "deployment", "web"), "kube-controller-manager",
                     subresource="status") is not None

    wait_for(status_manager, 30, 0.2, "the deployment controller's status entry")
    pods: list[str] = []

    def pods_created() -> bool:
        pods[:] = kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "name").split()
        return len(pods) == 2

    wait_for(pods_created, 30, 0.2, "the ReplicaSet's pods")
    creator = entry(managed(kubectl, namespace, pods[0]), "kube-controller-manager")
    assert creator is not None
    # priority admission's fields are nobody's write, as upstream (it runs after the field manager)
    assert "f:priority" not in creator["fieldsV1"]["f:spec"] and "f:dnsPolicy" in creator["fieldsV1"]["f:spec"]
    owner = creator["fieldsV1"]["f:metadata"]["f:ownerReferences"]
    assert any(k.startswith('k:{"uid":') for k in owner)


def test_python_client_is_named_by_its_user_agent_and_put_keeps_or_clears(k8s: Any, namespace: str) -> None:
    from kubernetes import client

    api = client.CoreV1Api(k8s)
    api.create_namespaced_config_map(namespace, {"metadata": {"name": "py"}, "data": {"a": "1"}})
    cm = api.read_namespaced_config_map("py", namespace)
    managers = [(e.manager, e.operation) for e in cm.metadata.managed_fields]
    assert managers == [("OpenAPI-Generator", "Update")]

    # A PUT without managedFields keeps the live ones, and adds the writer's changes.
    body = {"metadata": {"name": "py", "resourceVersion": cm.metadata.resource_version}, "data": {"a": "1", "b": "2"}}
    cm = api.replace_namespaced_config_map("py", namespace, body, field_manager="editor")
    by_manager = {e.manager: e.fields_v1 for e in cm.metadata.managed_fields}
    assert by_manager["editor"] == {"f:data": {"f:b": {}}}
    assert by_manager["OpenAPI-Generator"] == {"f:data": {".": {}, "f:a": {}}}

    # [{}] clears them (upstream's documented reset).
    cm = api.patch_namespaced_config_map("py", namespace, {"metadata": {"managedFields": [{}]}})
    assert not cm.metadata.managed_fields


# fully qualified: the session's server has other CRDs, and kubectl resolves short names
RESOURCE = "mfwidgets.mf.example.com"

WIDGETS_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: mfwidgets.mf.example.com}
spec:
  group: mf.example.com
  names: {kind: MfWidget, plural: mfwidgets, singular: mfwidget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties: {name: {type: string}, port: {type: integer}}
"""


def mfwidget(port_name: str, port: int) -> str:
    return f"""
apiVersion: mf.example.com/v1
kind: MfWidget
metadata: {{name: g1}}
spec:
  ports: [{{name: {port_name}, port: {port}}}]
"""


def test_custom_resource_lists_are_owned_by_their_crd_keys(kubectl: Kubectl, namespace: str) -> None:
    """A CRD's ``x-kubernetes-list-type: map`` list is merged and owned item by item, so two
    appliers each own their own item (the CRD's schema was not consulted by apply: the list
    was one atomic value, and the second applier conflicted with the first)."""
    kubectl("apply", "--server-side", "-f", "-", stdin=WIDGETS_CRD)
    try:
        check_mfwidgets(kubectl, namespace)
    finally:
        kubectl.run("delete", "crd", "mfwidgets.mf.example.com", "--wait=false", check=False)


def check_mfwidgets(kubectl: Kubectl, namespace: str) -> None:
    wait_for(lambda: kubectl.run("get", RESOURCE, "-n", namespace, check=False).returncode == 0, 30, 0.2,
             "the CRD served")
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=mfwidget("http", 80))
    kubectl("apply", "--server-side", "--field-manager=other", "-n", namespace, "-f", "-",
            stdin=mfwidget("metrics", 9090))
    ports = json.loads(kubectl("get", RESOURCE, "g1", "-n", namespace, "-o", "json"))["spec"]["ports"]
    assert sorted((p["name"], p["port"]) for p in ports) == [("http", 80), ("metrics", 9090)]
    entries = managed(kubectl, namespace, RESOURCE, "g1")
    first = entry(entries, "kubectl", operation="Apply")
    assert first is not None and 'k:{"name":"http"}' in first["fieldsV1"]["f:spec"]["f:ports"]
    other = entry(entries, "other", operation="Apply")
    assert other is not None and list(other["fieldsV1"]["f:spec"]["f:ports"]) == ['k:{"name":"metrics"}']


PORTED = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ported
spec:
  replicas: 1
  selector:
    matchLabels: {app: ported}
  template:
    metadata:
      labels: {app: ported}
    spec:
      containers:
      - name: main
        image: nginx:1.25
        ports:
        - containerPort: 80
"""


def test_a_port_without_protocol_is_the_tcp_port_for_every_manager(kubectl: Kubectl, namespace: str) -> None:
    """Upstream defaults a list key before keying the item: an applied port without
    ``protocol`` is the stored TCP port, so an applier that stops applying it leaves it to
    its creator (the applier owned it under another key, and removing that took the port)."""
    kubectl("create", "-n", namespace, "-f", "-", stdin=PORTED)
    kubectl("apply", "--server-side", "--field-manager=team", "-n", namespace, "-f", "-", stdin=PORTED)
    port_key = 'k:{"containerPort":80,"protocol":"TCP"}'

    def ports_of(manager: str, operation: str) -> dict[str, Any]:
        found = entry(managed(kubectl, namespace, "deployment", "ported"), manager, operation=operation)
        assert found is not None
        container = found["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"main"}']
        return container.get("f:ports") or {}

    assert port_key in ports_of("kubectl-create", "Update") and port_key in ports_of("team", "Apply")
    kubectl("apply", "--server-side", "--field-manager=team", "-n", namespace, "-f", "-",
            stdin=PORTED.replace("        ports:\n        - containerPort: 80\n", ""))
    deployment = json.loads(kubectl("get", "deployment", "ported", "-n", namespace, "-o", "json"))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}]
    assert ports_of("team", "Apply") == {}


def test_kubelite_components_can_ask_lists_and_watches_without_managed_fields(kubeconfig: Path,
                                                                              namespace: str) -> None:
    """``omitManagedFields=true`` (kubelite's own parameter, used by its components'
    informers) serves objects without ``metadata.managedFields``; every other reader of the
    same objects and events still gets them."""
    api = Api(kubeconfig)
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    only = "metadata.name=lean"
    since = api.send("GET", base).json()["metadata"]["resourceVersion"]
    made = api.send("POST", base, body={"metadata": {"name": "lean"}, "data": {"a": "1"}})
    assert made.status_code == 201, made.text
    changed = api.send("PATCH", f"{base}/lean", body={"data": {"b": "2"}},
                       content_type="application/merge-patch+json")
    assert changed.status_code == 200, changed.text
    full = changed.json()
    assert full["metadata"]["managedFields"], full

    def without_fields(obj: dict[str, Any]) -> dict[str, Any]:
        return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}

    def events(**params: str) -> list[dict[str, Any]]:
        # the stream replays the two changes from the watch cache and ends itself
        # (only "lean": the namespace's kube-root-ca.crt may come and go meanwhile)
        resp = api.send("GET", base, params={"watch": "true", "resourceVersion": since, "fieldSelector": only,
                                             "timeoutSeconds": "1", **params})
        assert resp.status_code == 200, resp.text
        return [json.loads(line) for line in resp.text.splitlines() if line]

    # lean first, then full, then lean again: each encoding of an event is cached and shared
    for lean in (True, False, True):
        seen = events(omitManagedFields="true") if lean else events()
        assert [e["type"] for e in seen] == ["ADDED", "MODIFIED"], seen
        last = seen[-1]["object"]
        if lean:
            assert all("managedFields" not in e["object"]["metadata"] for e in seen), seen
            assert last == without_fields(full)
        else:
            assert all(e["object"]["metadata"]["managedFields"] for e in seen), seen
            assert last == full

    listed = api.send("GET", base, params={"omitManagedFields": "true", "fieldSelector": only}).json()["items"]
    assert listed == [without_fields(full)]
    assert api.send("GET", base, params={"fieldSelector": only}).json()["items"][0]["metadata"]["managedFields"] \
        == full["metadata"]["managedFields"]
    assert api.send("GET", f"{base}/lean").json() == full  # only lists and watches omit them

    async def through_the_client() -> dict[str, Any]:
        async with rest.Client(config.load_kubeconfig(str(kubeconfig))) as c:
            return await c.list_all(("", "v1", "configmaps"), namespace=namespace, field_selector=only,
                                    omit_managed_fields=True)

    assert "managedFields" not in asyncio.run(through_the_client())["items"][0]["metadata"]
