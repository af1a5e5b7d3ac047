"""``kubectl apply`` (client-side three-way and ``--server-side``) and ``kubectl diff``.

The seed Deployment (manifests/seed-deployment.yaml) and a multi-document file are
applied, edited and re-applied through the real kubectl; assertions are on kubectl's
own messages and on the objects it then shows.
"""

from __future__ import annotations

import json

from tests.api import kubectl_runner
from tests.api.kubectl_runner import MANIFESTS, Kubectl

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses


def containers(kubectl: Kubectl, ns: str, name: str) -> dict[str, dict]:  # type: ignore[type-arg]
    obj = json.loads(kubectl("get", "deployment", name, "-n", ns, "-o", "json"))
    return {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}


def test_apply_seed_deployment_creates_then_is_unchanged(kubectl: Kubectl, namespace: str) -> None:
    seed = str(MANIFESTS / "seed-deployment.yaml")
    assert kubectl("apply", "-n", namespace, "-f", seed).strip() == "deployment.apps/go-app created"
    assert kubectl("apply", "-n", namespace, "-f", seed).strip() == "deployment.apps/go-app unchanged"
    out = kubectl("get", "deploy", "go-app", "-n", namespace, "-o",
                  "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} "
                  "{.spec.template.spec.containers[0].ports[0].containerPort}")
    assert out == "3 go-app:latest 8080"
    annotations = json.loads(kubectl("get", "deploy", "go-app", "-n", namespace, "-o", "json"))["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in annotations


def test_apply_seed_deployment_rolls_out(kubectl: Kubectl, namespace: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """apply → Deployment → ReplicaSet → pods → scheduled → Running → rollout status, with
    one simulated node (the fake runtime) standing in for a real agent."""
    import subprocess

    from tests.conftest import wait_for
    from tests.support import processes

    prefix = f"rollout-{namespace}"
    sim = subprocess.Popen(processes.kubelite_command() + [
        "simulate", "--nodes", "1", "--prefix", prefix, "--kubeconfig", str(kubectl.kubeconfig)],
        stdout=open(tmp_path / "simulate.log", "wb"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: " Ready " in kubectl.run("get", "node", f"{prefix}-0000", check=False).stdout, 30,
                 0.2, "the simulated node is Ready")
        kubectl("apply", "-n", namespace, "-f", str(MANIFESTS / "seed-deployment.yaml"))
        out = kubectl("rollout", "status", "deployment/go-app", "-n", namespace, "--timeout=60s", timeout=90)
        assert 'deployment "go-app" successfully rolled out' in out
        assert kubectl("get", "deploy", "go-app", "-n", namespace, "-o", "jsonpath={.status.readyReplicas}") == "3"
    finally:
        sim.terminate()
        sim.wait(timeout=20)
        kubectl("delete", "deployment", "go-app", "-n", namespace, "--wait=false")
        kubectl.run("delete", "node", f"{prefix}-0000", "--wait=false", check=False)


def test_apply_multi_document_file(kubectl: Kubectl, namespace: str) -> None:
    out = kubectl("apply", "-n", namespace, "-f", str(MANIFESTS / "multi.yaml"))
    assert out.splitlines() == ["configmap/web-config created", "deployment.apps/web created", "service/web created"]
    names = kubectl("get", "cm,deploy,svc", "-n", namespace, "-o", "name").split()
    assert {"configmap/web-config", "deployment.apps/web", "service/web"} <= set(names)


def test_reapply_after_edit_merges_containers_by_name(kubectl: Kubectl, namespace: str) -> None:
    original = (MANIFESTS / "multi.yaml").read_text()
    kubectl("apply", "-n", namespace, "-f", "-", stdin=original)
    # someone changes the sidecar behind apply's back, and adds a label apply never knew
    kubectl("patch", "deploy", "web", "-n", namespace, "-p",
            '{"metadata":{"labels":{"team":"ops"}},"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:edge"}]}}}}')
    edited = original.replace("nginx:1.25", "nginx:1.26").replace(
        '            - name: DEBUG\n              value: "false"\n', "")
    assert edited != original
    out = kubectl("apply", "-n", namespace, "-f", "-", stdin=edited)
    assert "deployment.apps/web configured" in out
    assert "configmap/web-config unchanged" in out and "service/web unchanged" in out
    cs = containers(kubectl, namespace, "web")
    assert list(cs) == ["main", "sidecar"]
    assert cs["main"]["image"] == "nginx:1.26"
    assert cs["main"]["env"] == [{"name": "MODE", "value": "production"}]  # DEBUG disappeared
    assert cs["sidecar"]["image"] == "busybox:1.36"  # apply restores what the file says
    labels = json.loads(kubectl("get", "deploy", "web", "-n", namespace, "-o", "jsonpath={.metadata.labels}"))
    assert labels == {"app": "web", "team": "ops"}  # fields apply does not manage are kept


def test_apply_rejects_unknown_fields_strictly(kubectl: Kubectl, namespace: str) -> None:
    bad = (MANIFESTS / "seed-deployment.yaml").read_text().replace("replicas: 3", "replicas: 3\n  replicaz: 4")
    result = kubectl.run("apply", "-n", namespace, "-f", "-", stdin=bad, check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.replicaz"' in result.stderr


def test_diff_shows_changes_and_exits_1(kubectl: Kubectl, namespace: str) -> None:
    original = (MANIFESTS / "multi.yaml").read_text()
    kubectl("apply", "-n", namespace, "-f", "-", stdin=original)
    same = kubectl.run("diff", "-n", namespace, "-f", "-", stdin=original, check=False)
    assert same.returncode == 0 and same.stdout == ""
    changed = kubectl.run("diff", "-n", namespace, "-f", "-", stdin=original.replace("nginx:1.25", "nginx:1.27"),
                          check=False)
    assert changed.returncode == 1, changed
    minus = [line for line in changed.stdout.splitlines() if line.startswith("-") and not line.startswith("---")]
    plus = [line for line in changed.stdout.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert any("image: nginx:1.25" in line for line in minus)
    assert any("image: nginx:1.27" in line for line in plus)
    # diff is a dry run: nothing changed
    assert containers(kubectl, namespace, "web")["main"]["image"] == "nginx:1.25"


def test_apply_server_side_owns_fields_and_removes_dropped_ones(kubectl: Kubectl, namespace: str) -> None:
    original = (MANIFESTS / "multi.yaml").read_text()
    out = kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=original)
    assert out.splitlines() == ["configmap/web-config serverside-applied", "deployment.apps/web serverside-applied",
                                "service/web serverside-applied"]
    obj = json.loads(kubectl("get", "deploy", "web", "-n", namespace, "-o", "json", "--show-managed-fields"))
    (entry,) = [e for e in obj["metadata"]["managedFields"] if e["manager"] == "kubectl"]
    assert entry["operation"] == "Apply" and entry["fieldsType"] == "FieldsV1"
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]
    main = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"main"}']
    assert "f:image" in main and 'k:{"name":"DEBUG"}' in main["f:env"]

    edited = original.replace('            - name: DEBUG\n              value: "false"\n', "")
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=edited)
    assert containers(kubectl, namespace, "web")["main"]["env"] == [{"name": "MODE", "value": "production"}]


def test_apply_server_side_conflict_then_force(kubectl: Kubectl, namespace: str) -> None:
    original = (MANIFESTS / "multi.yaml").read_text()
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=original)
    other = original.replace("nginx:1.25", "nginx:9")
    result = kubectl.run("apply", "--server-side", "--field-manager=intruder", "-n", namespace, "-f", "-",
                         stdin=other, check=False)
    assert result.returncode != 0
    assert 'conflict with "kubectl"' in result.stderr
    assert '.spec.template.spec.containers[name="main"].image' in result.stderr
    assert "--force-conflicts" in result.stderr
    assert containers(kubectl, namespace, "web")["main"]["image"] == "nginx:1.25"

    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=intruder", "-n", namespace, "-f", "-",
            stdin=other)
    assert containers(kubectl, namespace, "web")["main"]["image"] == "nginx:9"
    obj = json.loads(kubectl("get", "deploy", "web", "-n", namespace, "-o", "json", "--show-managed-fields"))
    owners = {e["manager"]: e["fieldsV1"] for e in obj["metadata"]["managedFields"]}
    image_owned_by = [m for m, f in owners.items()
                      if "f:image" in f.get("f:spec", {}).get("f:template", {}).get("f:spec", {})
                      .get("f:containers", {}).get('k:{"name":"main"}', {})]
    assert image_owned_by == ["intruder"]


def test_apply_server_side_shared_value_is_not_a_conflict(kubectl: Kubectl, namespace: str) -> None:
    original = (MANIFESTS / "multi.yaml").read_text()
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=original)
    out = kubectl("apply", "--server-side", "--field-manager=friend", "-n", namespace, "-f", "-", stdin=original)
    assert "deployment.apps/web serverside-applied" in out


def test_diff_server_side(kubectl: Kubectl, namespace: str) -> None:
    original = (MANIFESTS / "multi.yaml").read_text()
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=original)
    result = kubectl.run("diff", "--server-side", "-n", namespace, "-f", "-",
                         stdin=original.replace("replicas: 1", "replicas: 4"), check=False)
    assert result.returncode == 1, result
    assert "+  replicas: 4" in result.stdout and "-  replicas: 1" in result.stdout


def test_client_side_then_server_side_apply_shows_no_drift(kubectl: Kubectl, namespace: str) -> None:
    # An empty annotations map and characters Go's JSON encoder escapes: the last-applied
    # text the server keeps current must be byte for byte what kubectl itself would write.
    manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nodrift\n  annotations: {}\n"
                "data:\n  query: \"a<b && c>d\"\n")
    kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest)
    assert kubectl.run("diff", "--server-side", "-n", namespace, "-f", "-", stdin=manifest,
                       check=False).returncode == 0
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=manifest)
    for how in ([], ["--server-side"]):
        result = kubectl.run("diff", *how, "-n", namespace, "-f", "-", stdin=manifest, check=False)
        assert result.returncode == 0, result.stdout
    changed = manifest.replace("a<b", "a<B")
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=changed)
    assert kubectl.run("diff", "-n", namespace, "-f", "-", stdin=changed, check=False).returncode == 0
