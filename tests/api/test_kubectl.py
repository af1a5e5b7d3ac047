"""kubectl's discovery and information commands against a real kubelite server.

``version``, ``api-resources``, ``api-versions``, ``explain``, ``cluster-info`` and
``auth can-i``: what a user types first on a new cluster, asserted on what they see.
"""

from __future__ import annotations

import json

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl, rows

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses


def test_version_shows_client_and_server(kubectl: Kubectl) -> None:
    out = kubectl("version")
    assert "Client Version: v1.37" in out
    assert "Server Version: v1.37" in out


def test_version_as_json_has_version_info(kubectl: Kubectl) -> None:
    import json

    info = json.loads(kubectl("version", "-o", "json"))["serverVersion"]
    assert info["major"] == "1" and info["minor"].startswith("37")
    assert info["gitVersion"].startswith("v1.37")
    for field in ("gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"):
        assert field in info


def test_api_resources_lists_builtin_kinds_with_short_names(kubectl: Kubectl) -> None:
    table = rows(kubectl("api-resources"))
    assert table[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    by_name = {(r[0], r[-3]): r for r in table[1:]}
    expected = {
        ("pods", "v1"): ["pods", "po", "v1", "true", "Pod"],
        ("services", "v1"): ["services", "svc", "v1", "true", "Service"],
        ("nodes", "v1"): ["nodes", "no", "v1", "false", "Node"],
        ("namespaces", "v1"): ["namespaces", "ns", "v1", "false", "Namespace"],
        ("configmaps", "v1"): ["configmaps", "cm", "v1", "true", "ConfigMap"],
        ("deployments", "apps/v1"): ["deployments", "deploy", "apps/v1", "true", "Deployment"],
        ("replicasets", "apps/v1"): ["replicasets", "rs", "apps/v1", "true", "ReplicaSet"],
        ("statefulsets", "apps/v1"): ["statefulsets", "sts", "apps/v1", "true", "StatefulSet"],
        ("daemonsets", "apps/v1"): ["daemonsets", "ds", "apps/v1", "true", "DaemonSet"],
        ("cronjobs", "batch/v1"): ["cronjobs", "cj", "batch/v1", "true", "CronJob"],
    }
    for key, row in expected.items():
        assert by_name.get(key) == row, f"{key}: {by_name.get(key)}"
    assert ("jobs", "batch/v1") in by_name


def test_api_resources_filters_by_group_and_scope(kubectl: Kubectl) -> None:
    apps = kubectl("api-resources", "--api-group=apps", "-o", "name").split()
    assert "deployments.apps" in apps and "pods" not in apps
    cluster = kubectl("api-resources", "--namespaced=false", "-o", "name").split()
    assert "nodes" in cluster and "namespaces" in cluster and "pods" not in cluster


def test_api_versions_lists_served_group_versions(kubectl: Kubectl) -> None:
    versions = kubectl("api-versions").split()
    for gv in ("v1", "apps/v1", "batch/v1", "coordination.k8s.io/v1"):
        assert gv in versions


def test_explain_pod_containers_shows_fields_and_descriptions(kubectl: Kubectl) -> None:
    out = kubectl("explain", "pod.spec.containers")
    assert "KIND:       Pod" in out
    assert "FIELD: containers <[]Container>" in out
    assert "image\t<string>" in out
    assert "List of containers belonging to the pod" in out


def test_explain_recursive_deployment(kubectl: Kubectl) -> None:
    out = kubectl("explain", "deployment.spec", "--recursive")
    assert "replicas\t<integer>" in out and "template\t<PodTemplateSpec>" in out


def test_cluster_info_names_the_control_plane(kubectl: Kubectl, server) -> None:  # type: ignore[no-untyped-def]
    out = kubectl("cluster-info")
    assert f"Kubernetes control plane is running at {server.url}" in out


def test_get_raw_healthz(kubectl: Kubectl) -> None:
    assert kubectl("get", "--raw", "/readyz").strip() == "ok"


def test_auth_can_i_answers_yes_for_the_admin(kubectl: Kubectl) -> None:
    assert kubectl("auth", "can-i", "create", "pods").strip() == "yes"
    assert kubectl("auth", "can-i", "delete", "deployments", "-n", "kube-system").strip() == "yes"


def test_auth_whoami_names_the_user_and_groups(kubectl: Kubectl) -> None:
    review = json.loads(kubectl("auth", "whoami", "-o", "json"))
    assert review["kind"] == "SelfSubjectReview"
    assert review["status"]["userInfo"]["username"] == "admin"
    assert "system:authenticated" in review["status"]["userInfo"]["groups"]
    table = kubectl("auth", "whoami")
    assert "Username" in table and "admin" in table


def test_auth_can_i_list_shows_rules(kubectl: Kubectl) -> None:
    out = kubectl("auth", "can-i", "--list")
    assert "Resources" in out.splitlines()[0]
