"""PodSecurity admission as a user meets it through kubectl: label a namespace, and
pods that break its enforce level are refused with upstream's message, those that break
its warn level are admitted with kubectl's ``Warning:`` line; workloads only warn."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl
from tests.support import processes, rawapi

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

RESTRICTED_PLAIN = (
    'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
    '(container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
    '(container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true '
    '(pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile '
    '(pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')

PLAIN = """apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  containers: [{name: c, image: busybox}]
"""

COMPLIANT = """apiVersion: v1
kind: Pod
metadata: {name: good}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: c
    image: busybox
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"""

HOST_NETWORK = """apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  containers: [{name: c, image: busybox}]
"""


def label(kubectl: Kubectl, ns: str, *labels: str) -> kubectl_runner.Result:
    return kubectl.run("label", "ns", ns, "--overwrite", *labels)


def create(kubectl: Kubectl, ns: str, manifest: str) -> kubectl_runner.Result:
    return kubectl.run("create", "-n", ns, "-f", "-", stdin=manifest, check=False)


def test_enforce_restricted_refuses_a_plain_pod_as_kubectl_prints_it(kubectl: Kubectl, namespace: str) -> None:
    label(kubectl, namespace, "pod-security.kubernetes.io/enforce=restricted")
    refused = create(kubectl, namespace, PLAIN.replace("NAME", "p"))
    assert refused.returncode == 1
    assert refused.stderr.strip() == ('Error from server (Forbidden): error when creating "STDIN": '
                                      f'pods "p" is forbidden: {RESTRICTED_PLAIN}')
    admitted = create(kubectl, namespace, COMPLIANT)
    assert admitted.returncode == 0 and admitted.stdout.strip() == "pod/good created", admitted
    assert "Warning" not in admitted.stderr


def test_enforce_baseline_refuses_host_network_and_admits_a_plain_pod(kubectl: Kubectl, namespace: str) -> None:
    label(kubectl, namespace, "pod-security.kubernetes.io/enforce=baseline")
    refused = create(kubectl, namespace, HOST_NETWORK)
    assert 'pods "hostnet" is forbidden: violates PodSecurity "baseline:latest": host namespaces ' \
           "(hostNetwork=true)" in refused.stderr, refused
    assert create(kubectl, namespace, PLAIN.replace("NAME", "plain")).returncode == 0


def test_warn_admits_with_kubectls_warning_line(kubectl: Kubectl, namespace: str) -> None:
    label(kubectl, namespace, "pod-security.kubernetes.io/warn=restricted",
          "pod-security.kubernetes.io/warn-version=v1.30")
    admitted = create(kubectl, namespace, PLAIN.replace("NAME", "w"))
    assert admitted.returncode == 0, admitted
    assert admitted.stderr.strip() == "Warning: " + RESTRICTED_PLAIN.replace(
        'violates PodSecurity "restricted:latest"', 'would violate PodSecurity "restricted:v1.30"')


def test_a_deployment_in_a_warn_namespace_gets_the_template_warning(kubectl: Kubectl, namespace: str) -> None:
    label(kubectl, namespace, "pod-security.kubernetes.io/enforce=restricted",
          "pod-security.kubernetes.io/warn=baseline")
    created = kubectl.run("create", "deployment", "web", "-n", namespace, "--image=busybox", "--replicas=0",
                          "--dry-run=server", "-o", "name")
    assert created.stderr.strip() == ""  # a plain template passes baseline; enforce never warns on workloads
    manifest = """apiVersion: apps/v1
kind: Deployment
metadata: {name: hostpid}
spec:
  replicas: 0
  selector: {matchLabels: {app: h}}
  template:
    metadata: {labels: {app: h}}
    spec:
      hostPID: true
      containers: [{name: c, image: busybox}]
"""
    admitted = create(kubectl, namespace, manifest)
    assert admitted.returncode == 0, admitted
    assert admitted.stderr.strip() == 'Warning: would violate PodSecurity "baseline:latest": host namespaces ' \
                                      "(hostPID=true)"


def test_a_stricter_enforce_label_names_the_pods_it_would_refuse(kubectl: Kubectl, namespace: str) -> None:
    for name in ("b", "a"):
        assert create(kubectl, namespace, PLAIN.replace("NAME", name)).returncode == 0
    labelled = label(kubectl, namespace, "pod-security.kubernetes.io/enforce=restricted")
    assert labelled.stderr.splitlines() == [
        f'Warning: existing pods in namespace "{namespace}" violate the new PodSecurity enforce level '
        '"restricted:latest"',
        "Warning: a (and 1 other pod): allowPrivilegeEscalation != false, unrestricted capabilities, "
        "runAsNonRoot != true, seccompProfile"]


def test_invalid_label_values_are_refused(kubectl: Kubectl, namespace: str) -> None:
    refused = kubectl.run("label", "ns", namespace, "pod-security.kubernetes.io/enforce=bogus", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f'The Namespace "{namespace}" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
        'Invalid value: "bogus": must be one of privileged, baseline, restricted')


def test_a_pinned_version_holds_pods_to_that_versions_checks(kubeconfig, namespace: str) -> None:  # type: ignore[no-untyped-def]
    api = rawapi.Api(kubeconfig)
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                     "pod-security.kubernetes.io/enforce-version": "v1.21"}}}
    assert api.send("PATCH", f"/api/v1/namespaces/{namespace}", body=patch,
                    content_type="application/merge-patch+json").status_code == 200
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "old"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    answer = api.send("POST", f"/api/v1/namespaces/{namespace}/pods", body=pod)
    assert answer.status_code == 403
    status = answer.json()
    # restricted:v1.21 has no capabilities check (v1.22) yet
    assert status["message"] == (
        'pods "old" is forbidden: violates PodSecurity "restricted:v1.21": allowPrivilegeEscalation != false '
        '(container "c" must set securityContext.allowPrivilegeEscalation=false), runAsNonRoot != true '
        '(pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile '
        '(pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
    assert (status["reason"], status["details"]) == ("Forbidden", {"name": "old", "kind": "pods"})


@pytest.fixture(scope="module")
def unenforced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rawapi.Api]:
    srv = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("no-pod-security"), extra_args=[
        "--disable-controllers", "--disable-scheduler", "--disable-admission-plugins=PodSecurity"]).start()
    try:
        yield rawapi.Api(srv.kubeconfig)
    finally:
        srv.stop()


def test_the_disabled_plugin_admits_everything(unenforced: rawapi.Api) -> None:
    ns = {"metadata": {"name": "locked", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    assert unenforced.send("POST", "/api/v1/namespaces", body=ns).status_code == 201
    pod = {"metadata": {"name": "p"}, "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "b"}]}}
    answer = unenforced.send("POST", "/api/v1/namespaces/locked/pods", body=pod)
    assert answer.status_code == 201 and "Warning" not in answer.headers


def test_a_deployments_refused_pods_show_as_its_replicasets_failedcreate_event(kubectl: Kubectl,
                                                                                namespace: str) -> None:
    label(kubectl, namespace, "pod-security.kubernetes.io/enforce=restricted")
    kubectl("create", "deployment", "web", "-n", namespace, "--image=busybox")
    deadline = time.monotonic() + 20
    while True:
        events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json"))["items"]
        failed = [e["message"] for e in events if e.get("reason") == "FailedCreate"]
        if failed or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # polling the condition, bounded by the deadline above
    assert failed, "no FailedCreate event within 20 s"
    # kubectl create deployment names the container after its image
    expected = RESTRICTED_PLAIN.replace('container "c"', 'container "busybox"')
    assert re.fullmatch(r'Error creating: pods "web-[a-z0-9]+-[a-z0-9]+" is forbidden: ' + re.escape(expected),
                        failed[0]), failed[0]


def test_a_debugger_added_to_a_pod_is_held_to_the_enforce_level(kubectl: Kubectl, namespace: str) -> None:
    """``kubectl debug`` writes ``pods/ephemeralcontainers``: upstream checks the pod as it
    would be with the debugger, so a root debugger cannot join a restricted pod."""
    label(kubectl, namespace, "pod-security.kubernetes.io/enforce=restricted")
    assert create(kubectl, namespace, COMPLIANT).returncode == 0
    refused = kubectl.run("debug", "good", "-n", namespace, "--image=busybox", "-c", "dbg", "--", "true",
                          check=False)
    assert refused.returncode != 0, refused
    assert 'pods "good" is forbidden: violates PodSecurity "restricted:latest": ' in refused.stderr, refused
    assert 'container "dbg" must set securityContext.allowPrivilegeEscalation=false' in refused.stderr, refused
    spec = json.loads(kubectl("get", "pod", "good", "-n", namespace, "-o", "json"))["spec"]
    assert "ephemeralContainers" not in spec
