"""CustomResourceDefinitions through the real kubectl against a real kubelite server.

A CRD with a schema, printer columns and the status and scale subresources is applied
with ``kubectl apply``; its resource is then served at once: ``kubectl get`` prints the
CRD's columns, invalid objects are refused with the schema's message, status and scale
work, merge and JSON patches work (strategic merge is 415), discovery and ``explain``
know the kind, and deleting the CRD deletes its objects.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.kubectl_runner import Kubectl, kubectl, rows  # noqa: F401  (fixture)
from tests.support import processes

CRD_TEMPLATE = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wg]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {{}}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    additionalPrinterColumns:
    - {{name: Color, type: string, jsonPath: .spec.color}}
    - {{name: Replicas, type: integer, jsonPath: .spec.replicas}}
    - {{name: Phase, type: string, jsonPath: .status.phase}}
    - {{name: Age, type: date, jsonPath: .metadata.creationTimestamp}}
    schema:
      openAPIV3Schema:
        type: object
        description: A widget made for tests.
        properties:
          spec:
            type: object
            description: What the widget should look like.
            required: [color]
            properties:
              color:
                type: string
                description: The paint color.
                enum: [red, green, blue]
              replicas:
                type: integer
                minimum: 0
                maximum: 10
                default: 1
              size:
                type: string
                pattern: '^[0-9]+(cm|m)$'
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
          status:
            type: object
            properties:
              phase: {{type: string}}
              replicas: {{type: integer}}
              selector: {{type: string}}
"""


def widget(name: str, *, group: str, color: str = "red", extra: str = "") -> str:
    return f"""
apiVersion: {group}/v1
kind: Widget
metadata:
  name: {name}
spec:
  color: {color}
{extra}"""


def wait_until(check, *, timeout: float = 10.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def group(kubectl: Kubectl) -> Iterator[str]:  # noqa: F811
    name = f"t{uuid.uuid4().hex[:6]}.example.com"
    kubectl.apply_text(CRD_TEMPLATE.format(group=name))
    kubectl("wait", "--for=condition=Established", f"crd/widgets.{name}", "--timeout=10s")
    yield name
    kubectl("delete", "crd", f"widgets.{name}", "--ignore-not-found", timeout=30)


@pytest.fixture
def ns(namespace: str) -> str:
    """A fresh namespace (conftest's ``namespace``, created through the Python client)."""
    return namespace


def test_crd_is_established_with_accepted_names(kubectl: Kubectl, group: str) -> None:  # noqa: F811
    crd = json.loads(kubectl("get", "crd", f"widgets.{group}", "-o", "json"))
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    assert crd["status"]["storedVersions"] == ["v1"]
    assert crd["spec"]["names"]["listKind"] == "WidgetList"


def test_get_shows_the_printer_columns(kubectl: Kubectl, group: str, ns: str) -> None:  # noqa: F811
    kubectl.apply_text(widget("w1", group=group, color="green"), "-n", ns)
    table = rows(kubectl("get", f"widgets.{group}", "-n", ns))
    assert table[0] == ["NAME", "COLOR", "REPLICAS", "PHASE", "AGE"]
    # replicas comes from the schema's default; no status yet, so Phase is empty
    assert table[1][:3] == ["w1", "green", "1"]
    short = rows(kubectl("get", "wg", "-n", ns, "-o", "wide"))
    assert short[1][0] == "w1"


def test_invalid_object_is_rejected_with_the_schema_message(kubectl: Kubectl, group: str,  # noqa: F811
                                                            ns: str) -> None:
    result = kubectl.run("apply", "-n", ns, "-f", "-", check=False,
                         stdin=widget("bad", group=group, extra='  replicas: "three"'))
    assert result.returncode != 0
    assert ('The Widget "bad" is invalid: spec.replicas: Invalid value: "string": '
            'spec.replicas in body must be of type integer: "string"') in result.stderr
    result = kubectl.run("apply", "-n", ns, "-f", "-", check=False,
                         stdin=widget("bad", group=group, color="pink", extra="  size: huge\n  replicas: 11"))
    assert 'spec.color: Unsupported value: "pink": supported values: "red", "green", "blue"' in result.stderr
    assert "spec.size: Invalid value: \"huge\": spec.size in body should match '^[0-9]+(cm|m)$'" in result.stderr
    assert "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10" \
        in result.stderr
    missing = kubectl.run("create", "-n", ns, "-f", "-", check=False, stdin=f"""
apiVersion: {group}/v1
kind: Widget
metadata: {{name: nocolor}}
spec: {{size: 2m}}
""")
    assert "spec.color: Required value" in missing.stderr


def test_unknown_fields_are_refused_strictly_and_pruned_otherwise(kubectl: Kubectl, group: str,  # noqa: F811
                                                                 ns: str) -> None:
    text = widget("pruned", group=group, extra="  colour: typo\n  extra: {anything: [1, 2]}")
    strict = kubectl.run("apply", "-n", ns, "-f", "-", check=False, stdin=text)
    assert 'unknown field "spec.colour"' in strict.stderr
    kubectl("apply", "-n", ns, "-f", "-", "--validate=false", stdin=text)
    spec = json.loads(kubectl("get", f"widgets.{group}", "pruned", "-n", ns, "-o", "json"))["spec"]
    assert "colour" not in spec
    assert spec["extra"] == {"anything": [1, 2]}  # x-kubernetes-preserve-unknown-fields


def test_status_subresource_and_generation(kubectl: Kubectl, group: str, ns: str) -> None:  # noqa: F811
    kubectl.apply_text(widget("st", group=group), "-n", ns)
    res = f"widgets.{group}"
    kubectl("patch", res, "st", "-n", ns, "--subresource=status", "--type=merge",
            "-p", '{"status":{"phase":"Ready","replicas":2,"selector":"app=st"}}')
    # the main endpoint ignores status; only spec changes bump generation
    kubectl("patch", res, "st", "-n", ns, "--type=merge", "-p", '{"status":{"phase":"Hacked"}}')
    obj = json.loads(kubectl("get", res, "st", "-n", ns, "-o", "json"))
    assert obj["status"]["phase"] == "Ready" and obj["metadata"]["generation"] == 1
    kubectl("patch", res, "st", "-n", ns, "--type=merge", "-p", '{"spec":{"color":"blue"}}')
    obj = json.loads(kubectl("get", res, "st", "-n", ns, "-o", "json"))
    assert obj["metadata"]["generation"] == 2
    table = rows(kubectl("get", res, "st", "-n", ns))
    assert table[1][:4] == ["st", "blue", "1", "Ready"]


def test_merge_and_json_patch_work_and_strategic_is_415(kubectl: Kubectl, group: str,  # noqa: F811
                                                         ns: str) -> None:
    kubectl.apply_text(widget("p", group=group), "-n", ns)
    res = f"widgets.{group}"
    kubectl("patch", res, "p", "-n", ns, "--type=merge", "-p", '{"spec":{"size":"3m"}}')
    kubectl("patch", res, "p", "-n", ns, "--type=json", "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
    spec = json.loads(kubectl("get", res, "p", "-n", ns, "-o", "json"))["spec"]
    assert spec == {"color": "red", "size": "3m", "replicas": 4}
    smp = kubectl.run("patch", res, "p", "-n", ns, "-p", '{"spec":{"size":"1m"}}', check=False)
    assert smp.returncode != 0
    assert "application/strategic-merge-patch+json is not supported" in smp.stderr
    failed_test = kubectl.run("patch", res, "p", "-n", ns, "--type=json",
                              "-p", '[{"op":"test","path":"/spec/size","value":"9m"}]', check=False)
    assert failed_test.returncode != 0


def test_scale_subresource(kubectl: Kubectl, group: str, ns: str) -> None:  # noqa: F811
    kubectl.apply_text(widget("sc", group=group), "-n", ns)
    kubectl("scale", f"widgets.{group}", "sc", "-n", ns, "--replicas=5")
    scale = json.loads(kubectl("get", "--raw", f"/apis/{group}/v1/namespaces/{ns}/widgets/sc/scale"))
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 5
    assert json.loads(kubectl("get", f"widgets.{group}", "sc", "-n", ns, "-o", "json"))["spec"]["replicas"] == 5


def test_discovery_and_explain_know_the_kind(kubectl: Kubectl, group: str) -> None:  # noqa: F811
    table = rows(kubectl("api-resources", "--api-group", group))
    assert ["widgets", "wg", f"{group}/v1", "true", "Widget"] in table
    assert f"{group}/v1" in kubectl("api-versions").split()
    out = kubectl("explain", f"widgets.{group}.spec")
    assert "What the widget should look like." in out
    assert "color\t<string> -required-" in out and "The paint color." in out
    kinds = {r[0] for r in rows(kubectl("api-resources", "--api-group", "apiextensions.k8s.io"))}
    assert "customresourcedefinitions" in kinds


def test_deleting_the_crd_deletes_its_objects(kubectl: Kubectl) -> None:  # noqa: F811
    group = f"d{uuid.uuid4().hex[:6]}.example.com"
    crd = CRD_TEMPLATE.format(group=group)
    kubectl.apply_text(crd)
    kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=10s")
    kubectl.apply_text(widget("doomed", group=group), "-n", "default")
    kubectl("delete", "crd", f"widgets.{group}", timeout=30)  # waits until the CRD is gone
    missing = kubectl.run("get", "--raw", f"/apis/{group}/v1/namespaces/default/widgets", check=False)
    assert missing.returncode != 0
    assert "could not find the requested resource" in missing.stderr
    # a recreated CRD starts empty: the old objects went with the old CRD
    kubectl.apply_text(crd)
    kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=10s")
    listed = json.loads(kubectl("get", "--raw", f"/apis/{group}/v1/widgets"))
    assert listed["items"] == []
    kubectl("delete", "crd", f"widgets.{group}", timeout=30)


def test_custom_resources_are_served_again_after_a_restart(tmp_path: Path) -> None:
    srv = processes.ServerProcess(data_dir=tmp_path / "srv", extra_args=["--disable-controllers",
                                                                         "--disable-scheduler"])
    srv.start()
    try:
        k = Kubectl(binary=_binary(), kubeconfig=srv.kubeconfig, cache_dir=tmp_path / "home")
        group = "restart.example.com"
        k.apply_text(CRD_TEMPLATE.format(group=group))
        k.apply_text(widget("survivor", group=group, color="blue"), "-n", "default")
        srv.stop()
        srv.start()
        out = wait_until(lambda: k.run("get", f"widgets.{group}", "-n", "default", check=False).stdout,
                         what="widgets served after restart")
        assert rows(out)[1][:2] == ["survivor", "blue"]
    finally:
        srv.stop()


def _binary() -> str:
    from tests.api.kubectl_runner import kubectl_binary

    return kubectl_binary()


def test_an_invalid_crd_is_refused(kubectl: Kubectl) -> None:  # noqa: F811
    bad = CRD_TEMPLATE.format(group="bad.example.com").replace("name: widgets.bad.example.com",
                                                               "name: gadgets.bad.example.com")
    bad = bad.replace("storage: true", "storage: false").replace("scope: Namespaced", "scope: Everywhere")
    result = kubectl.run("apply", "-f", "-", stdin=bad, check=False)
    assert result.returncode != 0
    assert 'The CustomResourceDefinition "gadgets.bad.example.com" is invalid' in result.stderr
    assert 'metadata.name: Invalid value: "gadgets.bad.example.com": must be spec.names.plural+"."+spec.group' \
        in result.stderr
    assert 'spec.scope: Unsupported value: "Everywhere": supported values: "Cluster", "Namespaced"' in result.stderr
    assert "must have exactly one version marked as storage version" in result.stderr
