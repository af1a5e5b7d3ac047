"""kr8s and lightkube, unmodified, against a real kubelite server.

Each client gets, lists, watches, patches and deletes through kubelite with only the
kubeconfig the server wrote; lightkube also creates and updates through server-side
apply (``application/apply-patch+yaml``) with its own field manager.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import kr8s
import pytest

from tests.conftest import wait_for

# kr8s is imported here, at collection, not in its fixture: importing it pulls in
# ``anyio.from_thread``, which pytest's assertion rewriter parses (anyio is a pytest
# plugin), and Python 3.11.2's AST construction keeps its recursion depth in a per-process
# counter that another thread's parse can upset (cpython gh-106905, fixed in 3.11.5). Mid-
# session, with client threads of earlier tests still running, one CI run failed all three
# kr8s tests with "SystemError: AST constructor recursion depth mismatch".


def configmap(name: str, ns: str, **data: str) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


# --- lightkube ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lk(kubeconfig: Path):  # type: ignore[no-untyped-def]
    from lightkube import Client, KubeConfig

    client = Client(KubeConfig.from_file(kubeconfig), field_manager="compat-tests")
    yield client
    client.close()


def test_lightkube_create_get_list_patch_delete(lk, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from lightkube import ApiError
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap
    from lightkube.types import PatchType

    lk.create(ConfigMap(metadata=ObjectMeta(name="lk", namespace=namespace, labels={"by": "lk"}), data={"a": "1"}))
    got = lk.get(ConfigMap, "lk", namespace=namespace)
    assert got.data == {"a": "1"} and got.metadata.uid

    names = [c.metadata.name for c in lk.list(ConfigMap, namespace=namespace, labels={"by": "lk"})]
    assert names == ["lk"]
    assert [c.metadata.name for c in lk.list(ConfigMap, namespace="*", fields={"metadata.name": "lk"})
            if c.metadata.namespace == namespace] == ["lk"]

    lk.patch(ConfigMap, "lk", {"data": {"b": "2"}}, namespace=namespace)  # strategic by default
    lk.patch(ConfigMap, "lk", {"data": {"a": None}}, namespace=namespace, patch_type=PatchType.MERGE)
    lk.patch(ConfigMap, "lk", [{"op": "add", "path": "/data/c", "value": "3"}], namespace=namespace,
             patch_type=PatchType.JSON)
    assert lk.get(ConfigMap, "lk", namespace=namespace).data == {"b": "2", "c": "3"}

    lk.delete(ConfigMap, "lk", namespace=namespace)
    with pytest.raises(ApiError) as err:
        lk.get(ConfigMap, "lk", namespace=namespace)
    assert err.value.status.code == 404


def test_lightkube_list_pages_through_continue(lk, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap

    for i in range(7):
        lk.create(ConfigMap(metadata=ObjectMeta(name=f"page-{i}", namespace=namespace), data={}))
    listed = lk.list(ConfigMap, namespace=namespace, chunk_size=3)
    assert sorted(c.metadata.name for c in listed if c.metadata.name.startswith("page-")) == \
        [f"page-{i}" for i in range(7)]


def test_lightkube_watch_sees_changes(lk, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap

    seen: list[tuple[str, str]] = []

    def watch() -> None:
        for op, obj in lk.watch(ConfigMap, namespace=namespace, server_timeout=10):
            seen.append((op, obj.metadata.name))
            if ("DELETED", "w") in seen:
                return

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    lk.create(ConfigMap(metadata=ObjectMeta(name="w", namespace=namespace), data={"v": "1"}))
    wait_for(lambda: ("ADDED", "w") in seen, timeout=10, message="lightkube ADDED")
    lk.patch(ConfigMap, "w", {"data": {"v": "2"}}, namespace=namespace)
    wait_for(lambda: ("MODIFIED", "w") in seen, timeout=10, message="lightkube MODIFIED")
    lk.delete(ConfigMap, "w", namespace=namespace)
    wait_for(lambda: ("DELETED", "w") in seen, timeout=10, message="lightkube DELETED")
    t.join(timeout=10)


def test_lightkube_server_side_apply(lk, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from lightkube import ApiError
    from lightkube.models.apps_v1 import DeploymentSpec
    from lightkube.models.core_v1 import Container, EnvVar, PodSpec, PodTemplateSpec
    from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
    from lightkube.resources.apps_v1 import Deployment

    def deployment(*, image: str, env: list[EnvVar]) -> Deployment:
        return Deployment(
            metadata=ObjectMeta(name="ssa", namespace=namespace),
            spec=DeploymentSpec(
                replicas=2, selector=LabelSelector(matchLabels={"app": "ssa"}),
                template=PodTemplateSpec(metadata=ObjectMeta(labels={"app": "ssa"}),
                                         spec=PodSpec(containers=[Container(name="main", image=image, env=env)]))))

    created = lk.apply(deployment(image="nginx:1.25", env=[EnvVar(name="A", value="1"), EnvVar(name="B", value="2")]))
    assert created.spec.replicas == 2
    managers = {(m.manager, m.operation) for m in created.metadata.managedFields}
    assert ("compat-tests", "Apply") in managers

    updated = lk.apply(deployment(image="nginx:1.26", env=[EnvVar(name="A", value="1")]))
    (main,) = updated.spec.template.spec.containers
    assert main.image == "nginx:1.26" and [e.name for e in main.env] == ["A"]

    with pytest.raises(ApiError) as err:
        lk.apply(deployment(image="nginx:9", env=[]), field_manager="someone-else")
    assert err.value.status.code == 409
    assert any(c.field == '.spec.template.spec.containers[name="main"].image'
               for c in err.value.status.details.causes)
    forced = lk.apply(deployment(image="nginx:9", env=[]), field_manager="someone-else", force=True)
    assert forced.spec.template.spec.containers[0].image == "nginx:9"


# --- kr8s ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kr8s_api(kubeconfig: Path):  # type: ignore[no-untyped-def]
    return kr8s.api(kubeconfig=str(kubeconfig))


def test_kr8s_create_get_list_patch_delete(kr8s_api, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from kr8s.objects import ConfigMap

    cm = ConfigMap(configmap("k8", namespace, a="1"), api=kr8s_api)
    cm.create()
    got = ConfigMap.get("k8", namespace=namespace, api=kr8s_api)
    assert got.raw["data"] == {"a": "1"}

    listed = [o.name for o in kr8s_api.get("configmaps", namespace=namespace)]
    assert "k8" in listed
    labelled = list(kr8s_api.get("configmaps", namespace=namespace, label_selector={"missing": "x"}))
    assert labelled == []

    got.patch({"data": {"b": "2"}})
    got.patch([{"op": "remove", "path": "/data/a"}], type="json")
    got.refresh()
    assert got.raw["data"] == {"b": "2"}

    got.label(tier="web")
    assert ConfigMap.get("k8", namespace=namespace, api=kr8s_api).labels == {"tier": "web"}

    got.delete()
    wait_for(lambda: not got.exists(), timeout=10, message="kr8s object gone")
    with pytest.raises(kr8s.NotFoundError):
        ConfigMap.get("k8", namespace=namespace, api=kr8s_api)


def test_kr8s_watch_sees_changes(kr8s_api, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from kr8s.objects import ConfigMap

    name = f"kw-{uuid.uuid4().hex[:5]}"
    seen: list[tuple[str, str]] = []

    def watch() -> None:
        for event, obj in kr8s_api.watch("configmaps", namespace=namespace):
            seen.append((event, obj.name))
            if (event, obj.name) == ("DELETED", name):
                return

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    cm = ConfigMap(configmap(name, namespace, v="1"), api=kr8s_api)
    cm.create()
    wait_for(lambda: ("ADDED", name) in seen, timeout=10, message="kr8s ADDED")
    cm.patch({"data": {"v": "2"}})
    wait_for(lambda: ("MODIFIED", name) in seen, timeout=10, message="kr8s MODIFIED")
    cm.delete()
    wait_for(lambda: ("DELETED", name) in seen, timeout=10, message="kr8s DELETED")
    t.join(timeout=10)


def test_kr8s_scale_and_api_resources(kr8s_api, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from kr8s.objects import Deployment

    dep = Deployment({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kd", "namespace": namespace},
                      "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "kd"}},
                               "template": {"metadata": {"labels": {"app": "kd"}},
                                            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}},
                     api=kr8s_api)
    dep.create()
    dep.scale(3)
    assert Deployment.get("kd", namespace=namespace, api=kr8s_api).replicas == 3
    names = {r["name"] for r in kr8s_api.api_resources()}
    assert {"pods", "deployments", "configmaps"} <= names
