"""Strategic merge patch: what ``kubectl apply``, ``kubectl patch`` and lightkube send."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api import errors, schema
from kubelite.api.patch import strategic


def node(group: str, version: str, kind: str) -> schema.Node:
    found = schema.root(group, version, kind)
    assert found is not None
    return found


DEPLOYMENT = node("apps", "v1", "Deployment")
POD = node("", "v1", "Pod")


def live_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "42",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...old...}",
                                     "deployment.kubernetes.io/revision": "1"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:v1",
                         "env": [{"name": "A", "value": "1"}, {"name": "X", "value": "old"},
                                 {"name": "B", "value": "2"}],
                         "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                         "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"},
                        {"name": "sidecar", "image": "proxy:1", "env": [{"name": "S", "value": "s"}]},
                    ],
                    "restartPolicy": "Always",
                },
            },
        },
        "status": {"replicas": 2, "readyReplicas": 2},
    }


def test_kubectl_apply_removes_an_env_var_and_updates_the_image() -> None:
    # the three-way patch kubectl apply sends when the manifest drops env X and bumps the image
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...new...}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                "env": [{"$patch": "delete", "name": "X"}],
                "image": "app:v2",
                "name": "app",
            }],
        }}},
    }
    live = live_deployment()
    before = copy.deepcopy(live)
    result = strategic.apply(live, patch, DEPLOYMENT)

    app, sidecar = result["spec"]["template"]["spec"]["containers"]
    assert app["name"] == "app" and app["image"] == "app:v2"
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    # fields the manifest never set (defaults, server-side) survive
    assert app["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert app["imagePullPolicy"] == "IfNotPresent"
    assert sidecar == before["spec"]["template"]["spec"]["containers"][1]
    assert result["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": "{...new...}",
        "deployment.kubernetes.io/revision": "1"}
    assert result["spec"]["replicas"] == 2 and result["status"] == before["status"]
    # no directive leaks into the stored object
    assert "$setElementOrder" not in repr(result) and "$patch" not in repr(result)
    assert live == before


def test_set_element_order_reorders_and_keeps_server_only_items_in_place() -> None:
    pod = {"spec": {"containers": [{"name": "app", "env": [
        {"name": "A", "value": "a"}, {"name": "INJECTED", "value": "i"}, {"name": "B", "value": "b"}]}]}}
    patch = {"spec": {"containers": [{"name": "app", "$setElementOrder/env": [{"name": "B"}, {"name": "A"}]}]}}
    env = strategic.apply(pod, patch, POD)["spec"]["containers"][0]["env"]
    # listed items follow the order; INJECTED stood before B on the server, so upstream
    # (and we) keep it ahead of B
    assert [e["name"] for e in env] == ["INJECTED", "B", "A"]
    assert env[1] == {"name": "B", "value": "b"}


def test_containers_merge_by_name_and_a_new_one_is_added() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}
    patch = {"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}}
    containers = strategic.apply(pod, patch, POD)["spec"]["containers"]
    assert {c["name"]: c["image"] for c in containers} == {"a": "a:1", "b": "b:2", "c": "c:1"}
    # upstream's order: patch items in patch order, server-only items where they stood
    assert [c["name"] for c in containers] == ["a", "b", "c"]


def test_a_new_env_var_from_kubectl_patch_goes_first_as_upstream() -> None:
    pod = {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}
    patch = {"spec": {"containers": [{"name": "a", "env": [{"name": "NEW", "value": "2"}]}]}}
    env = strategic.apply(pod, patch, POD)["spec"]["containers"][0]["env"]
    assert env == [{"name": "NEW", "value": "2"}, {"name": "X", "value": "1"}]


def test_ports_merge_by_container_port() -> None:
    pod = {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}]}}
    patch = {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "web"},
                                                              {"containerPort": 443}]}]}}
    ports = strategic.apply(pod, patch, POD)["spec"]["containers"][0]["ports"]
    assert ports == [{"containerPort": 80, "name": "web"}, {"containerPort": 443}]


def test_finalizers_merge_as_a_set_and_can_be_deleted_from() -> None:
    pod = {"metadata": {"finalizers": ["a", "b"]}}
    added = strategic.apply(pod, {"metadata": {"finalizers": ["b", "c"]}}, POD)
    assert sorted(added["metadata"]["finalizers"]) == ["a", "b", "c"]
    removed = strategic.apply(pod, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, POD)
    assert removed["metadata"]["finalizers"] == ["b"]


def test_non_merging_lists_are_replaced() -> None:
    pod = {"spec": {"containers": [{"name": "a", "command": ["sh", "-c", "old"], "args": ["1"]}]}}
    patch = {"spec": {"containers": [{"name": "a", "command": ["new"]}]}}
    container = strategic.apply(pod, patch, POD)["spec"]["containers"][0]
    assert container == {"name": "a", "command": ["new"], "args": ["1"]}


def test_null_deletes_and_maps_merge() -> None:
    pod = {"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}}
    patch = {"metadata": {"labels": {"a": None, "c": "3"}, "annotations": None}}
    assert strategic.apply(pod, patch, POD) == {"metadata": {"labels": {"b": "2", "c": "3"}}}


def test_patch_replace_and_delete_directives_on_maps() -> None:
    pod = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"nodeSelector": {"disk": "ssd"}}}
    replaced = strategic.apply(pod, {"metadata": {"labels": {"$patch": "replace", "only": "me"}}}, POD)
    assert replaced["metadata"]["labels"] == {"only": "me"}
    emptied = strategic.apply(pod, {"spec": {"nodeSelector": {"$patch": "delete"}}}, POD)
    assert emptied["spec"]["nodeSelector"] == {}


def test_patch_replace_on_a_merging_list() -> None:
    pod = {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    patch = {"spec": {"containers": [{"$patch": "replace"}, {"name": "c", "image": "c"}]}}
    assert strategic.apply(pod, patch, POD)["spec"]["containers"] == [{"name": "c", "image": "c"}]


def test_retain_keys_switches_a_deployment_to_recreate() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    result = strategic.apply(live_deployment(), patch, DEPLOYMENT)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_on_volumes_drops_the_old_source() -> None:
    pod = {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}
    patch = {"spec": {"volumes": [{"name": "v", "$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}}]}}
    assert strategic.apply(pod, patch, POD)["spec"]["volumes"] == [{"name": "v", "configMap": {"name": "cm"}}]


def test_without_a_schema_lists_are_replaced_like_a_merge_patch() -> None:
    obj = {"spec": {"items": [{"name": "a"}], "keep": 1}}
    assert strategic.apply(obj, {"spec": {"items": [{"name": "b"}]}}, None) == {
        "spec": {"items": [{"name": "b"}], "keep": 1}}


def test_directives_in_new_values_do_not_leak() -> None:
    pod: dict[str, Any] = {"spec": {}}
    patch = {"spec": {"containers": [{"name": "a", "$setElementOrder/env": [{"name": "E"}],
                                      "env": [{"name": "E", "value": "1"}, {"name": "Z", "$patch": "delete"}]}]}}
    assert strategic.apply(pod, patch, POD)["spec"]["containers"] == [
        {"name": "a", "env": [{"name": "E", "value": "1"}]}]


@pytest.mark.parametrize(("patch", "message"), [
    ({"metadata": {"$patch": "explode"}}, "unknown patch type: explode"),
    ({"spec": {"containers": [{"image": "no-name"}]}}, "does not contain declared merge key: name"),
    ({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}, "merging lists cannot yet be specified"),
    ({"metadata": {"$deleteFromPrimitiveList": ["a"]}}, "invalid patch format of primitive list"),
    ({"spec": {"$setElementOrder/containers": "a"}}, "invalid patch format of setElementOrder list"),
    ({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}, "invalid patch format of retainKeys"),
    ({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b"}]}}, "doesn't match"),
    ({"spec": {"containers": [{"name": "a"}, "b"]}}, "list element types are not identical"),
])
def test_invalid_patches_are_400(patch: dict[str, Any], message: str) -> None:
    obj = {"metadata": {"finalizers": ["a"]}, "spec": {"containers": [{"name": "a"}],
                                                       "strategy": {"type": "Recreate"}}}
    with pytest.raises(errors.BadRequest, match=message):
        strategic.apply(obj, patch, DEPLOYMENT if "strategy" in repr(patch) else POD)


def test_a_patch_must_be_an_object() -> None:
    with pytest.raises(errors.BadRequest):
        strategic.apply({}, [], POD)  # type: ignore[arg-type]
