"""The default RBAC policy with several API servers on one etcd starting at the same
moment: each reconciles every default (``bootstrap.reconcile_policy``), and together they
bring back a deleted role and trimmed rules and subjects exactly once each: creates meet
AlreadyExists, updates meet Conflict and are recomputed on what the other server wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ha

RBAC = "/apis/rbac.authorization.k8s.io/v1"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ha.HACluster]:
    c = ha.HACluster(tmp_path, etcd_members=1, server_args=["--disable-controllers", "--disable-scheduler"])
    try:
        c.start(servers=2)
        yield c
    finally:
        c.stop()


def _restart_all_at_once(cluster: ha.HACluster) -> None:
    for srv in cluster.servers:
        srv.stop()
    failures: list[BaseException] = []

    def start(index: int) -> None:
        try:
            cluster.restart_server(index)
        except BaseException as exc:  # noqa: BLE001 -- reported by the test thread below
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(cluster.servers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not failures, f"{failures}\n{cluster.logs()}"


def test_servers_starting_together_restore_each_default_once(cluster: ha.HACluster) -> None:
    api = cluster.api(0)
    scheduler = api.get(f"{RBAC}/clusterroles/system:kube-scheduler")
    default_rules = scheduler["rules"]
    scheduler["rules"] = default_rules[4:]
    api.request("PUT", f"{RBAC}/clusterroles/system:kube-scheduler", scheduler)
    binding = api.get(f"{RBAC}/clusterrolebindings/system:basic-user")
    binding["subjects"] = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]
    api.request("PUT", f"{RBAC}/clusterrolebindings/system:basic-user", binding)
    api.delete(f"{RBAC}/clusterroles/system:discovery")

    _restart_all_at_once(cluster)

    for index in range(len(cluster.servers)):
        api = cluster.api(index)
        rules = api.get(f"{RBAC}/clusterroles/system:kube-scheduler")["rules"]
        assert sorted(map(str, rules)) == sorted(map(str, default_rules)), "each lost rule back exactly once"
        subjects = api.get(f"{RBAC}/clusterrolebindings/system:basic-user")["subjects"]
        assert [s["name"] for s in subjects] == ["devs", "system:authenticated"]
        assert api.get(f"{RBAC}/clusterroles/system:discovery")["rules"]
    assert "default policy not reconciled" not in cluster.logs(lines=400)
