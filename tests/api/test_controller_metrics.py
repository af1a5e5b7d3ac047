"""The controller manager's ``/metrics`` as an operator scrapes it: client-go's work queue
series per controller and the leader-election gauge, on a private server whose controller
manager serves them on a port of the test's choosing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.test_metrics import Samples, value
from tests.api.test_metrics import scheduler_scrape as scrape  # any component's plain /metrics
from tests.conftest import wait_for
from tests.support import processes
from tests.support.rawapi import Api


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return processes.free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[processes.ServerProcess]:
    srv = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("kubelite-kcm-metrics"), extra_args=[
        "--disable-scheduler", "--controller-manager-metrics-bind-address", f"127.0.0.1:{metrics_port}"])
    srv.start()
    yield srv
    srv.stop()


def named(samples: Samples, metric: str, name: str) -> float:
    """The sample of ``metric`` whose ``name`` label is ``name`` (0 if none): the work
    queue series' label is called ``name``, which ``value`` takes as its own argument."""
    return samples.get((metric, frozenset({("name", name)})), 0)


def deployment(name: str) -> dict:  # type: ignore[type-arg]
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}}}


def test_work_queues_count_a_deployments_rollout(server: processes.ServerProcess, metrics_port: int) -> None:
    def leader() -> Samples | None:
        samples = scrape(metrics_port)
        return samples if named(samples, "leader_election_master_status", "kube-controller-manager") == 1 else None

    leading = wait_for(leader, 30, ignore=(OSError,), message="the controller manager leading, on its /metrics")
    api = Api(server.kubeconfig)
    resp = api.send("POST", "/apis/apps/v1/namespaces/default/deployments", body=deployment("web"))
    assert resp.status_code == 201, resp.text

    def counted() -> Samples | None:
        after = scrape(metrics_port)
        done = {q: named(after, "workqueue_work_duration_seconds_count", q) -
                named(leading, "workqueue_work_duration_seconds_count", q) for q in ("deployment", "replicaset")}
        return after if all(n >= 1 for n in done.values()) else None

    after = wait_for(counted, 20, message="the deployment and replicaset queues' work observed")
    for queue in ("deployment", "replicaset"):
        assert named(after, "workqueue_adds_total", queue) > named(leading, "workqueue_adds_total", queue)
        assert named(after, "workqueue_queue_duration_seconds_count", queue) >= 1
        assert ("workqueue_depth", frozenset({("name", queue)})) in after
        assert named(after, "workqueue_longest_running_processor_seconds", queue) >= 0
    # every controller's queue has its series from the start, not only the busy ones
    assert ("workqueue_depth", frozenset({("name", "garbagecollector")})) in after
    assert value(after, "process_resident_memory_bytes") > 0

