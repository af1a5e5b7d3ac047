"""DefaultTolerationSeconds admission through the API: a created pod carries tolerations
of the not-ready and unreachable NoExecute taints, for the seconds the server's flags
say, unless it tolerates them itself; ``--disable-admission-plugins`` turns it off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from tests.support import processes

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"


def _api(srv: processes.ServerProcess) -> Iterator[client.CoreV1Api]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(srv.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.CoreV1Api]:
    srv = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("toleration-seconds"), extra_args=[
        "--disable-controllers", "--disable-scheduler", "--default-not-ready-toleration-seconds=300",
        "--default-unreachable-toleration-seconds=120"]).start()
    try:
        yield from _api(srv)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def unadmitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.CoreV1Api]:
    srv = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("no-toleration-seconds"), extra_args=[
        "--disable-controllers", "--disable-scheduler",
        "--disable-admission-plugins=DefaultTolerationSeconds,ServiceAccount"]).start()
    try:
        yield from _api(srv)
    finally:
        srv.stop()


def _pod(name: str, tolerations: list[dict[str, Any]] | None = None) -> Any:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"metadata": {"name": name}, "spec": spec}


def _tolerations(pod: Any) -> list[tuple[Any, ...]]:
    return [(t.key, t.operator, t.effect, t.toleration_seconds) for t in pod.spec.tolerations or []]


def test_a_pod_gets_both_tolerations_with_the_flags_seconds(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_pod("default", _pod("plain"))
    expected = [(NOT_READY, "Exists", "NoExecute", 300), (UNREACHABLE, "Exists", "NoExecute", 120)]
    assert _tolerations(created) == expected
    assert _tolerations(core.read_namespaced_pod("plain", "default")) == expected  # stored, not only answered


def test_a_pod_tolerating_one_taint_gets_only_the_other(core: client.CoreV1Api) -> None:
    own = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 6000}
    created = core.create_namespaced_pod("default", _pod("patient", [own]))
    assert _tolerations(created) == [(UNREACHABLE, "Exists", "NoExecute", 6000),
                                     (NOT_READY, "Exists", "NoExecute", 300)]
    everything = core.create_namespaced_pod("default", _pod("stubborn", [{"operator": "Exists"}]))
    assert _tolerations(everything) == [(None, "Exists", None, None)]


def test_an_update_leaves_the_tolerations_as_created(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", _pod("updated"))
    before = _tolerations(core.read_namespaced_pod("updated", "default"))
    core.patch_namespaced_pod("updated", "default", {"metadata": {"labels": {"touched": "yes"}}})
    assert _tolerations(core.read_namespaced_pod("updated", "default")) == before


def test_the_disabled_plugin_adds_none(unadmitted: client.CoreV1Api) -> None:
    assert _tolerations(unadmitted.create_namespaced_pod("default", _pod("plain"))) == []
    own = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert _tolerations(unadmitted.create_namespaced_pod("default", _pod("gpu", [own]))) == [
        ("gpu", "Exists", "NoSchedule", None)]
