"""Prometheus metrics as an operator scrapes them: ``kubectl get --raw /metrics`` on the API
server, and the scheduler's own ``/metrics``, parsed with ``prometheus_client``'s parser.

The API server is the session's (other tests' requests count there too), so request
counters are compared before and after what a test does.
"""

# ruff: noqa: F811  (pytest fixtures imported from scheduler_fixtures share their parameters' names)
from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl
from tests.api.scheduler_fixtures import Cluster, cluster, core  # noqa: F401
from tests.conftest import wait_for
from tests.support import processes
from tests.support.rawapi import Api

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition text, by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def scrape(kubectl: Kubectl) -> Samples:
    return parse(kubectl("get", "--raw", "/metrics"))


def pod_manifest(name: str) -> str:
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: c
    image: registry.k8s.io/pause:3.9
"""


def test_kubectl_get_raw_metrics_is_prometheus_text(kubectl: Kubectl, kubeconfig: Path) -> None:
    text = kubectl("get", "--raw", "/metrics")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, kind in (("apiserver_request", "counter"), ("apiserver_request_duration_seconds", "histogram"),
                       ("apiserver_current_inflight_requests", "gauge"), ("apiserver_longrunning_requests", "gauge"),
                       ("apiserver_storage_objects", "gauge"), ("apiserver_watch_events", "counter"),
                       ("process_cpu_seconds", "counter"), ("process_resident_memory_bytes", "gauge"),
                       ("python_gc_collections", "counter")):
        assert name in families, f"{name} missing from /metrics"
        assert families[name].type == kind, (name, families[name].type)
    resp = Api(kubeconfig).send("GET", "/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_requests_are_counted_by_verb_resource_scope_and_code(kubectl: Kubectl, namespace: str) -> None:
    before = scrape(kubectl)
    kubectl.apply_text(pod_manifest("counted"), "-n", namespace)  # kubectl apply: GET (404) then POST (201)
    kubectl("create", "configmap", "cm", "-n", namespace, "--from-literal=a=b")
    kubectl("get", "pods", "-n", namespace)
    kubectl("get", "pod", "nothing-here", "-n", namespace, check=False)
    kubectl("patch", "configmap", "cm", "-n", namespace, "-p", '{"data":{"a":"c"}}')
    after = scrape(kubectl)

    def delta(**labels: str) -> float:
        return value(after, "apiserver_request_total", **labels) - value(before, "apiserver_request_total", **labels)

    core = {"group": "", "version": "v1", "component": "apiserver", "dry_run": ""}
    assert delta(verb="POST", resource="pods", scope="resource", code="201", **core) == 1
    assert delta(verb="POST", resource="configmaps", scope="resource", code="201", **core) == 1
    assert delta(verb="LIST", resource="pods", scope="namespace", code="200", **core) >= 1
    # apply's GET of the pod before creating it, and the GET of a pod that does not exist
    assert delta(verb="GET", resource="pods", scope="resource", code="404", **core) >= 2
    assert delta(verb="PATCH", resource="configmaps", scope="resource", code="200", **core) == 1
    # each counted request is timed, in upstream's buckets
    assert value(after, "apiserver_request_duration_seconds_count", verb="POST", resource="pods") > \
        value(before, "apiserver_request_duration_seconds_count", verb="POST", resource="pods")
    bounds = {dict(ls)["le"] for (n, ls), _ in after.items() if n == "apiserver_request_duration_seconds_bucket"}
    assert {"0.005", "1.0", "60.0", "+Inf"} <= bounds


def test_server_side_apply_and_dry_run_are_labelled_as_upstream(kubectl: Kubectl, namespace: str) -> None:
    before = scrape(kubectl)
    kubectl.apply_text(pod_manifest("applied"), "-n", namespace, "--server-side")
    kubectl.apply_text(pod_manifest("dry"), "-n", namespace, "--dry-run=server")
    after = scrape(kubectl)

    def delta(**labels: str) -> float:
        return value(after, "apiserver_request_total", **labels) - value(before, "apiserver_request_total", **labels)

    assert delta(verb="APPLY", resource="pods", scope="resource", code="201") == 1
    assert delta(verb="POST", resource="pods", dry_run="All", code="201") == 1


def test_watches_are_long_running_and_their_events_counted(kubectl: Kubectl, namespace: str) -> None:
    watch = kubectl.popen("get", "configmaps", "-n", namespace, "--watch", "-o", "name")
    try:
        def watching() -> bool:
            return value(scrape(kubectl), "apiserver_longrunning_requests", verb="WATCH", resource="configmaps",
                         scope="namespace") >= 1
        wait_for(watching, 15, message="the configmaps watch shown in apiserver_longrunning_requests")
        before = value(scrape(kubectl), "apiserver_watch_events_total", group="", version="v1", kind="ConfigMap")
        kubectl("create", "configmap", "watched", "-n", namespace)
        wait_for(lambda: value(scrape(kubectl), "apiserver_watch_events_total", group="", version="v1",
                               kind="ConfigMap") > before, 15, message="the ConfigMap event counted")
    finally:
        watch.kill()
        watch.communicate()


def test_storage_objects_count_the_pods_stored(kubectl: Kubectl, namespace: str) -> None:
    for i in range(3):
        kubectl.apply_text(pod_manifest(f"stored-{i}"), "-n", namespace)

    def agree() -> tuple[float, int] | None:
        stored = len(kubectl("get", "pods", "-A", "-o", "name").split())
        counted = value(scrape(kubectl), "apiserver_storage_objects", resource="pods")
        return (counted, stored) if counted == stored and stored >= 3 else None

    wait_for(agree, 20, message="apiserver_storage_objects{resource=pods} equal to the pods listed")
    deployments = value(scrape(kubectl), "apiserver_storage_objects", resource="deployments.apps")
    assert deployments == len(kubectl("get", "deployments", "-A", "-o", "name").split())


def test_metrics_need_credentials(kubeconfig: Path) -> None:
    api = Api(kubeconfig)
    resp = api.send("GET", "/metrics", auth=False)
    assert resp.status_code == 401
    assert resp.json()["reason"] == "Unauthorized"
    assert api.send("POST", "/metrics", body={}).status_code == 405


# --- the scheduler's /metrics ------------------------------------------------------------

@pytest.fixture(scope="module")
def scheduler_metrics_port() -> int:
    return processes.free_port()


@pytest.fixture(scope="module")
def sched_server(tmp_path_factory: pytest.TempPathFactory,
                 scheduler_metrics_port: int) -> Iterator[processes.ServerProcess]:
    """A private server whose scheduler serves its metrics on a port of the test's choosing
    (``cluster`` and ``core`` from scheduler_fixtures use it)."""
    srv = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("kubelite-sched-metrics"), extra_args=[
        "--disable-controllers", "--scheduler-metrics-bind-address", f"127.0.0.1:{scheduler_metrics_port}"])
    srv.start()
    yield srv
    srv.stop()


def scheduler_scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return parse(resp.read().decode())


def test_scheduler_counts_attempts_and_pending_pods(cluster: Cluster, scheduler_metrics_port: int,
                                                    sched_server: processes.ServerProcess) -> None:
    port = scheduler_metrics_port
    before = wait_for(lambda: scheduler_scrape(port), 20, ignore=(OSError,), message="the scheduler's /metrics")
    cluster.node("n1", cpu="1")
    pods = [cluster.pod(f"p{i}", cpu="100m") for i in range(3)]
    cluster.pod("too-big", cpu="8")
    cluster.pod("gated", spec={"schedulingGates": [{"name": "example.com/wait"}]})
    cluster.wait_bound(*pods)
    cluster.wait_unschedulable("too-big")

    def counted() -> Samples | None:
        after = scheduler_scrape(port)
        scheduled = value(after, "scheduler_schedule_attempts_total", result="scheduled", profile="default-scheduler")
        pending = {q: value(after, "scheduler_pending_pods", queue=q) for q in ("unschedulable", "gated")}
        ok = scheduled - value(before, "scheduler_schedule_attempts_total", result="scheduled") == 3 \
            and pending == {"unschedulable": 1, "gated": 1}
        return after if ok else None

    after = wait_for(counted, 15, message="3 scheduled attempts, 1 unschedulable and 1 gated pod counted")
    assert value(after, "scheduler_schedule_attempts_total", result="unschedulable") >= 1
    assert value(after, "scheduler_scheduling_attempt_duration_seconds_count", result="scheduled") >= 3
    assert value(after, "scheduler_pod_scheduling_sli_duration_seconds_count") >= 3
    assert value(after, "process_resident_memory_bytes") > 0
    # and the API server counted the scheduler's batched bindings under their own labels
    served = parse(Api(sched_server.kubeconfig).send("GET", "/metrics").text)
    assert value(served, "apiserver_request_total", verb="POST", group="bulk.kubelite.io", version="v1",
                 resource="bindings", scope="resource") >= 1

