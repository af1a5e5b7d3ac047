"""The default RBAC policy across restarts, as upstream's API server keeps it: a default
role or binding a user deleted or trimmed is back after the next start (rules and
subjects added back, the user's own additions kept), unless the user annotated it
``rbac.authorization.kubernetes.io/autoupdate: "false"``.

Each test runs its own server (it restarts it), without controllers or scheduler; the
clients are the real kubectl, as the admin and as a ServiceAccount.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl
from tests.conftest import wait_for
from tests.support import processes

FLAGS = ["--disable-controllers", "--disable-scheduler"]
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"


class Cluster:
    """A server that can be restarted on its data directory and port, and its admin's kubectl."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.srv = processes.ServerProcess(data_dir=tmp_path / "data", extra_args=FLAGS).start()
        self.admin = self._kubectl()

    def _kubectl(self) -> Kubectl:
        return Kubectl(binary=kubectl_runner.kubectl_binary(), kubeconfig=self.srv.kubeconfig,
                       cache_dir=self.tmp_path)

    def restart(self) -> None:
        self.srv.stop()
        self.srv = processes.ServerProcess(data_dir=self.srv.data_dir, port=self.srv.port, extra_args=FLAGS).start()
        self.admin = self._kubectl()

    def get(self, kind: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.admin("get", kind, name, "-o", "json"))
        return obj

    def replace(self, obj: dict[str, Any]) -> None:
        self.admin("replace", "-f", "-", stdin=json.dumps(obj))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.srv.stop()


def test_a_deleted_or_trimmed_default_is_back_after_a_restart(cluster: Cluster) -> None:
    admin = cluster.admin
    admin("create", "serviceaccount", "bot", "-n", "default")
    token = admin("create", "token", "bot", "-n", "default").strip()

    def as_bot(*args: str) -> kubectl_runner.Result:
        return admin.run("--token", token, *args, check=False)

    assert as_bot("get", "--raw", "/apis").returncode == 0
    # the user deletes discovery's role, trims the scheduler's role and adds a rule of their own
    admin("delete", "clusterrole", "system:discovery")
    scheduler = cluster.get("clusterrole", "system:kube-scheduler")
    default_rules = scheduler["rules"]
    own_rule = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}
    scheduler["rules"] = default_rules[3:] + [own_rule]
    cluster.replace(scheduler)
    binding = cluster.get("clusterrolebinding", "system:basic-user")
    binding["subjects"] = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]
    cluster.replace(binding)
    wait_for(lambda: 'cannot get path "/apis"' in as_bot("get", "--raw", "/apis").stderr, 10,
             message="discovery refused without its role")

    cluster.restart()
    token_after = cluster.admin("create", "token", "bot", "-n", "default").strip()
    assert cluster.admin.run("--token", token_after, "get", "--raw", "/apis", check=False).returncode == 0
    discovery = cluster.get("clusterrole", "system:discovery")
    assert discovery["metadata"]["labels"] == {"kubernetes.io/bootstrapping": "rbac-defaults"}
    assert discovery["metadata"]["annotations"] == {AUTOUPDATE: "true"}
    rules = cluster.get("clusterrole", "system:kube-scheduler")["rules"]
    assert all(rule in rules for rule in default_rules) and own_rule in rules  # a union: nothing removed
    subjects = cluster.get("clusterrolebinding", "system:basic-user")["subjects"]
    assert [s["name"] for s in subjects] == ["devs", "system:authenticated"]


def test_a_default_annotated_autoupdate_false_keeps_its_edit_across_a_restart(cluster: Cluster) -> None:
    role = cluster.get("clusterrole", "system:public-info-viewer")
    role["metadata"]["annotations"][AUTOUPDATE] = "false"
    role["rules"] = [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]
    cluster.replace(role)
    binding = cluster.get("clusterrolebinding", "system:public-info-viewer")
    binding["metadata"]["annotations"][AUTOUPDATE] = "false"
    binding["subjects"] = binding["subjects"][:1]  # the unauthenticated no longer
    cluster.replace(binding)

    cluster.restart()
    assert cluster.get("clusterrole", "system:public-info-viewer")["rules"] == [
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]
    assert [s["name"] for s in cluster.get("clusterrolebinding", "system:public-info-viewer")["subjects"]] == [
        "system:authenticated"]
