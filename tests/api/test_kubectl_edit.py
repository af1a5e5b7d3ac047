"""kubectl's imperative writes: create, run, expose, label, annotate, patch, edit, replace, scale.

Each test works in its own namespace and checks kubectl's message plus the object it then
reads back, the way a user confirms a change.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  color: blue\n"
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: main, image: "nginx:1.25", env: [{name: A, value: "1"}]}
        - {name: side, image: "busybox:1.36"}
"""


def get_json(kubectl: Kubectl, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(kubectl("get", *args, "-o", "json"))


def test_create_namespace(kubectl: Kubectl, namespace: str) -> None:
    name = f"{namespace}-made"
    assert kubectl("create", "namespace", name).strip() == f"namespace/{name} created"
    assert get_json(kubectl, "ns", name)["status"]["phase"] == "Active"


def test_create_configmap_from_literal(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl("create", "configmap", "lit", "-n", namespace, "--from-literal=a=1", "--from-literal=b=two")
    assert out.strip() == "configmap/lit created"
    assert get_json(kubectl, "cm", "lit", "-n", namespace)["data"] == {"a": "1", "b": "two"}


def test_create_secret_generic(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl("create", "secret", "generic", "creds", "-n", namespace, "--from-literal=password=s3cret")
    assert out.strip() == "secret/creds created"
    secret = get_json(kubectl, "secret", "creds", "-n", namespace)
    assert secret["type"] == "Opaque" and secret["data"] == {"password": "czNjcmV0"}


def test_create_deployment_with_image(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl("create", "deployment", "made", "-n", namespace, "--image=nginx:1.25", "--replicas=2")
    assert out.strip() == "deployment.apps/made created"
    dep = get_json(kubectl, "deploy", "made", "-n", namespace)
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_create_job(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl("create", "job", "once", "-n", namespace, "--image=busybox:1.36", "--", "echo", "hi")
    assert out.strip() == "job.batch/once created"
    job = get_json(kubectl, "job", "once", "-n", namespace)
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]


def test_create_from_file(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl("create", "-n", namespace, "-f", "-", stdin=CONFIGMAP.format(name="from-file"))
    assert out.strip() == "configmap/from-file created"
    again = kubectl.run("create", "-n", namespace, "-f", "-", stdin=CONFIGMAP.format(name="from-file"), check=False)
    assert again.returncode != 0 and 'configmaps "from-file" already exists' in again.stderr


def test_run_creates_a_pod(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl("run", "solo", "-n", namespace, "--image=nginx:1.25", "--labels=app=solo", "--env=X=1")
    assert out.strip() == "pod/solo created"
    pod = get_json(kubectl, "pod", "solo", "-n", namespace)
    assert pod["metadata"]["labels"] == {"app": "solo"}
    assert pod["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}]


def test_expose_deployment_creates_a_service(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(DEPLOYMENT, "-n", namespace)
    out = kubectl("expose", "deployment", "web", "-n", namespace, "--port=80", "--target-port=8080")
    assert out.strip() == "service/web exposed"
    svc = get_json(kubectl, "svc", "web", "-n", namespace)
    assert svc["spec"]["selector"] == {"app": "web"}
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080
    assert svc["spec"]["clusterIP"]


def test_label_add_overwrite_remove(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(CONFIGMAP.format(name="lab"), "-n", namespace)
    assert kubectl("label", "cm", "lab", "-n", namespace, "tier=web").strip() == "configmap/lab labeled"
    refused = kubectl.run("label", "cm", "lab", "-n", namespace, "tier=db", check=False)
    assert refused.returncode != 0 and "already has a value (web)" in refused.stderr
    kubectl("label", "cm", "lab", "-n", namespace, "tier=db", "--overwrite")
    assert get_json(kubectl, "cm", "lab", "-n", namespace)["metadata"]["labels"] == {"tier": "db"}
    kubectl("label", "cm", "lab", "-n", namespace, "tier-")
    assert "labels" not in get_json(kubectl, "cm", "lab", "-n", namespace)["metadata"] or \
        get_json(kubectl, "cm", "lab", "-n", namespace)["metadata"]["labels"] == {}


def test_annotate(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(CONFIGMAP.format(name="ann"), "-n", namespace)
    assert kubectl("annotate", "cm", "ann", "-n", namespace, "owner=team-a").strip() == "configmap/ann annotated"
    annotations = get_json(kubectl, "cm", "ann", "-n", namespace)["metadata"]["annotations"]
    assert annotations["owner"] == "team-a"


def test_patch_strategic_merges_containers_by_name(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(DEPLOYMENT, "-n", namespace)
    out = kubectl("patch", "deploy", "web", "-n", namespace, "-p",
                  '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.37"}]}}}}')
    assert out.strip() == "deployment.apps/web patched"
    cs = get_json(kubectl, "deploy", "web", "-n", namespace)["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in cs] == [("main", "nginx:1.25"), ("side", "busybox:1.37")]
    unchanged = kubectl("patch", "deploy", "web", "-n", namespace, "-p",
                        '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.37"}]}}}}')
    assert unchanged.strip() == "deployment.apps/web patched (no change)"


def test_patch_merge_replaces_lists(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(CONFIGMAP.format(name="mp"), "-n", namespace)
    kubectl("patch", "cm", "mp", "-n", namespace, "--type=merge", "-p", '{"data":{"size":"L","color":null}}')
    assert get_json(kubectl, "cm", "mp", "-n", namespace)["data"] == {"size": "L"}


def test_patch_json_and_failed_test_op(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(CONFIGMAP.format(name="jp"), "-n", namespace)
    kubectl("patch", "cm", "jp", "-n", namespace, "--type=json",
            "-p", '[{"op":"replace","path":"/data/color","value":"red"},{"op":"add","path":"/data/x","value":"1"}]')
    assert get_json(kubectl, "cm", "jp", "-n", namespace)["data"] == {"color": "red", "x": "1"}
    failed = kubectl.run("patch", "cm", "jp", "-n", namespace, "--type=json",
                         "-p", '[{"op":"test","path":"/data/color","value":"green"}]', check=False)
    # a failed "test" is 422 Invalid, which kubectl words like this
    assert failed.returncode != 0 and "The request is invalid" in failed.stderr
    assert get_json(kubectl, "cm", "jp", "-n", namespace)["data"]["color"] == "red"


def test_patch_status_subresource(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(DEPLOYMENT, "-n", namespace)
    kubectl("patch", "deploy", "web", "-n", namespace, "--subresource=status", "--type=merge",
            "-p", '{"status":{"observedGeneration":7}}')
    dep = get_json(kubectl, "deploy", "web", "-n", namespace)
    assert dep["status"].get("observedGeneration") in (7, dep["metadata"]["generation"])


def test_edit_with_editor_script(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    kubectl.apply_text(CONFIGMAP.format(name="ed"), "-n", namespace)
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/color: blue/color: green/' \"$1\"\n")
    editor.chmod(0o755)
    out = kubectl("edit", "cm", "ed", "-n", namespace, env={"EDITOR": str(editor)})
    assert out.strip() == "configmap/ed edited"
    assert get_json(kubectl, "cm", "ed", "-n", namespace)["data"] == {"color": "green"}
    # an editor that changes nothing: kubectl says so and leaves the object alone
    noop = tmp_path / "noop.sh"
    noop.write_text("#!/bin/sh\ntrue\n")
    noop.chmod(0o755)
    result = kubectl.run("edit", "cm", "ed", "-n", namespace, env={"EDITOR": str(noop)})
    assert "Edit cancelled, no changes made." in result.output


def test_replace(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(CONFIGMAP.format(name="rep"), "-n", namespace)
    live = kubectl("get", "cm", "rep", "-n", namespace, "-o", "yaml")
    out = kubectl("replace", "-f", "-", stdin=live.replace("color: blue", "color: black"))
    assert out.strip() == "configmap/rep replaced"
    assert get_json(kubectl, "cm", "rep", "-n", namespace)["data"] == {"color": "black"}
    # the stale resourceVersion of the first read is now a conflict
    stale = kubectl.run("replace", "-f", "-", stdin=live.replace("color: blue", "color: white"), check=False)
    assert stale.returncode != 0 and "the object has been modified" in stale.stderr
    forced = kubectl("replace", "--force", "-n", namespace, "-f", "-", stdin=CONFIGMAP.format(name="rep"))
    assert "configmap/rep replaced" in forced


def test_replace_with_a_minimal_manifest_gets_the_defaults(kubectl: Kubectl, namespace: str) -> None:
    """``kubectl replace -f`` of the manifest a Deployment was created from: the body has
    no strategy, pull policy or DNS policy, and gets them by defaulting as on create (it
    answered 422 "spec.strategy.type: Unsupported value" before)."""
    kubectl("create", "-n", namespace, "-f", "-", stdin=DEPLOYMENT)
    out = kubectl("replace", "-n", namespace, "-f", "-", stdin=DEPLOYMENT.replace("replicas: 1", "replicas: 2"))
    assert out.strip() == "deployment.apps/web replaced"
    spec = get_json(kubectl, "deploy", "web", "-n", namespace)["spec"]
    assert spec["replicas"] == 2 and spec["strategy"]["type"] == "RollingUpdate"
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_scale(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply_text(DEPLOYMENT, "-n", namespace)
    assert kubectl("scale", "deploy", "web", "-n", namespace, "--replicas=3").strip() == "deployment.apps/web scaled"
    assert get_json(kubectl, "deploy", "web", "-n", namespace)["spec"]["replicas"] == 3
    wrong = kubectl.run("scale", "deploy", "web", "-n", namespace, "--replicas=5", "--current-replicas=1",
                        check=False)
    assert wrong.returncode != 0 and "Expected replicas to be 1, was 3" in wrong.stderr
    # With --current-replicas kubectl PUTs the Scale, and Go's omitempty leaves a zero
    # out: "spec": {} means zero replicas (it was 422 "spec.replicas: Invalid value: None").
    out = kubectl("scale", "deploy", "web", "-n", namespace, "--replicas=0", "--current-replicas=3")
    assert out.strip() == "deployment.apps/web scaled"
    assert get_json(kubectl, "deploy", "web", "-n", namespace)["spec"]["replicas"] == 0
