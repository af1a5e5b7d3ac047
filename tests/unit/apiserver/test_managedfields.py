"""``Update`` managers in ``metadata.managedFields`` (``kubelite.apiserver.managedfields``)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from kubelite.api import schema
from kubelite.apiserver import managedfields

Obj = dict[str, Any]

DEPLOYMENT = schema.root("apps", "v1", "Deployment")
POD = schema.root("", "v1", "Pod")
CONFIGMAP = schema.root("", "v1", "ConfigMap")
EVENT = schema.root("", "v1", "Event")

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CONTAINER_C = 'k:{"name":"c"}'
PORT_80 = 'k:{"containerPort":80,"protocol":"TCP"}'


def test_schema_nodes_are_found() -> None:
    assert DEPLOYMENT is not None and POD is not None and CONFIGMAP is not None and EVENT is not None


# --- helpers ----------------------------------------------------------------------------


def deployment() -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "1",
                     "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 1,
                     "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx",
                                         "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                         "resources": {}}]},
            },
        },
        "status": {"replicas": 0},
    }


CREATED_DEPLOYMENT_FIELDS: Obj = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {CONTAINER_C: {
                ".": {}, "f:image": {}, "f:name": {},
                "f:ports": {".": {}, PORT_80: {".": {}, "f:containerPort": {}, "f:protocol": {}}},
                "f:resources": {},
            }}},
        },
    },
}


def configmap(**data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": "default", "resourceVersion": "1"},
            "data": dict(data)}


def entry(manager: str, fields: Obj, *, time: str = "2020-01-01T00:00:00Z", operation: str = "Update",
          api_version: str = "v1", subresource: str = "") -> Obj:
    out: Obj = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": time,
                "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        out["subresource"] = subresource
    return out


def created(obj: Obj, manager: str, node: schema.Node | None, **kw: Any) -> Obj:
    out = copy.deepcopy(obj)
    managedfields.record(out, None, manager=manager, node=node, **kw)
    return out


def written(old: Obj, change: Any, manager: str, node: schema.Node | None, *, keep_managed: bool = False,
            **kw: Any) -> Obj:
    """``old`` changed by ``change`` and recorded as a write by ``manager``; the request body
    carries no ``managedFields`` unless ``keep_managed``."""
    new = copy.deepcopy(old)
    if not keep_managed:
        new["metadata"].pop("managedFields", None)
    change(new)
    managedfields.record(new, old, manager=manager, node=node, **kw)
    return new


def entries(obj: Obj) -> list[Obj]:
    found = obj["metadata"].get("managedFields")
    assert isinstance(found, list)
    return found


def by_manager(obj: Obj) -> dict[str, Obj]:
    out = {e["manager"]: e for e in entries(obj)}
    assert len(out) == len(entries(obj))
    return out


def with_entries(obj: Obj, *given: Obj) -> Obj:
    out = copy.deepcopy(obj)
    out["metadata"]["managedFields"] = [copy.deepcopy(e) for e in given]
    return out


# --- 1. a create ------------------------------------------------------------------------


def test_create_records_one_update_entry_with_the_fields_set() -> None:
    obj = created(deployment(), "kubectl-create", DEPLOYMENT)
    [only] = entries(obj)
    assert set(only) == {"manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"}
    assert only["manager"] == "kubectl-create"
    assert only["operation"] == "Update"
    assert only["apiVersion"] == "apps/v1"
    assert only["fieldsType"] == "FieldsV1"
    assert RFC3339.match(only["time"])
    assert only["fieldsV1"] == CREATED_DEPLOYMENT_FIELDS


def test_create_owns_a_label_selector_whole_and_container_items_by_key() -> None:
    fields = entries(created(deployment(), "kubectl-create", DEPLOYMENT))[0]["fieldsV1"]
    assert fields["f:metadata"]["f:labels"] == {".": {}, "f:app": {}}
    assert fields["f:spec"]["f:replicas"] == {}
    assert fields["f:spec"]["f:selector"] == {}
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"][CONTAINER_C]
    assert "." in container and "f:image" in container and "f:name" in container
    assert container["f:ports"] == {".": {}, PORT_80: {".": {}, "f:containerPort": {}, "f:protocol": {}}}


def test_create_owns_no_identity_server_or_status_fields() -> None:
    fields = entries(created(deployment(), "kubectl-create", DEPLOYMENT))[0]["fieldsV1"]
    assert "f:status" not in fields
    assert "f:apiVersion" not in fields and "f:kind" not in fields
    for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation"):
        assert f"f:{key}" not in fields["f:metadata"]


# --- 2. taking fields over --------------------------------------------------------------


def test_update_by_another_manager_takes_over_the_changed_field() -> None:
    obj = created(deployment(), "kubectl-create", DEPLOYMENT)
    new = written(obj, lambda o: o["spec"].update(replicas=5), "kubectl-scale", DEPLOYMENT)
    managers = by_manager(new)
    assert managers["kubectl-scale"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert managers["kubectl-scale"]["operation"] == "Update"
    expected = copy.deepcopy(CREATED_DEPLOYMENT_FIELDS)
    del expected["f:spec"]["f:replicas"]
    assert managers["kubectl-create"]["fieldsV1"] == expected


def test_update_takes_a_field_away_from_an_apply_entry_too() -> None:
    obj = created(deployment(), "kubectl-create", DEPLOYMENT)
    applier = entry("applier", {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}},
                    operation="Apply", api_version="apps/v1")
    obj = with_entries(obj, *entries(obj), applier)
    new = written(obj, lambda o: o["spec"].update(replicas=5), "kubectl-scale", DEPLOYMENT)
    managers = by_manager(new)
    assert managers["applier"]["operation"] == "Apply"
    assert managers["applier"]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:app": {}}}}
    assert managers["applier"]["time"] == "2020-01-01T00:00:00Z"
    assert managers["kubectl-scale"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


def test_an_apply_entry_that_loses_its_only_field_is_dropped() -> None:
    obj = created(deployment(), "kubectl-create", DEPLOYMENT)
    applier = entry("applier", {"f:spec": {"f:replicas": {}}}, operation="Apply", api_version="apps/v1")
    obj = with_entries(obj, *entries(obj), applier)
    new = written(obj, lambda o: o["spec"].update(replicas=5), "kubectl-scale", DEPLOYMENT)
    assert set(by_manager(new)) == {"kubectl-create", "kubectl-scale"}


# --- 3. removing fields -----------------------------------------------------------------


def test_a_removed_label_leaves_every_entry_and_empty_entries_are_dropped() -> None:
    base = deployment()
    base["metadata"]["labels"]["tier"] = "front"
    obj = created(base, "kubectl-create", DEPLOYMENT)
    creator = {**entries(obj)[0], "time": "2020-01-01T00:00:00Z"}
    tagger = entry("tagger", {"f:metadata": {"f:labels": {"f:tier": {}}}}, time="2020-01-02T00:00:00Z",
                   api_version="apps/v1")
    obj = with_entries(obj, creator, tagger)
    assert "f:tier" in creator["fieldsV1"]["f:metadata"]["f:labels"]

    new = written(obj, lambda o: o["metadata"]["labels"].pop("tier"), "remover", DEPLOYMENT)
    managers = by_manager(new)
    assert set(managers) == {"kubectl-create"}  # tagger had nothing left; remover gained nothing
    kept = managers["kubectl-create"]
    assert kept["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert kept["fieldsV1"]["f:spec"] == CREATED_DEPLOYMENT_FIELDS["f:spec"]
    assert kept["time"] == "2020-01-01T00:00:00Z"


def test_the_writers_own_entry_keeps_its_time_when_it_only_loses_fields() -> None:
    obj = configmap(a="1", b="2")
    obj["metadata"]["managedFields"] = [entry("m", {"f:data": {".": {}, "f:a": {}, "f:b": {}}})]
    new = written(obj, lambda o: o["data"].pop("b"), "m", CONFIGMAP, has_status=False)
    [only] = entries(new)
    assert only["manager"] == "m"
    assert only["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    assert only["time"] == "2020-01-01T00:00:00Z"


def test_removing_a_whole_map_removes_its_subtree_from_every_entry() -> None:
    obj = configmap(a="1", b="2")
    obj["metadata"]["labels"] = {"x": "y"}
    obj["metadata"]["managedFields"] = [
        entry("one", {"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}}),
        entry("two", {"f:data": {"f:b": {}}}),
    ]
    new = written(obj, lambda o: o.pop("data"), "cleaner", CONFIGMAP, has_status=False)
    assert entries(new) == [entry("one", {"f:metadata": {"f:labels": {".": {}, "f:x": {}}}})]


# --- 4. status ---------------------------------------------------------------------------


def _status_change(o: Obj) -> None:
    o["status"] = {"replicas": 2, "readyReplicas": 2,
                   "conditions": [{"type": "Available", "status": "True"}]}
    o["spec"]["replicas"] = 7  # ignored by the status subresource


def test_status_subresource_records_only_status_fields() -> None:
    obj = created(deployment(), "kubectl-create", DEPLOYMENT)
    new = written(obj, _status_change, "kube-controller-manager", DEPLOYMENT, subresource="status")
    managers = by_manager(new)
    status_entry = managers["kube-controller-manager"]
    assert status_entry["subresource"] == "status"
    assert status_entry["apiVersion"] == "apps/v1"
    assert status_entry["fieldsV1"] == {"f:status": {
        "f:conditions": {".": {}, 'k:{"type":"Available"}': {".": {}, "f:status": {}, "f:type": {}}},
        "f:readyReplicas": {},
        "f:replicas": {},
    }}
    assert managers["kubectl-create"]["fieldsV1"] == CREATED_DEPLOYMENT_FIELDS  # spec untouched


def test_main_resource_write_of_a_kind_with_status_subresource_records_no_status() -> None:
    obj = created(deployment(), "kubectl-create", DEPLOYMENT)
    before = copy.deepcopy(entries(obj))
    new = written(obj, lambda o: o["status"].update(replicas=3, readyReplicas=3), "other", DEPLOYMENT,
                  has_status=True)
    assert entries(new) == before

    def label_and_status(o: Obj) -> None:
        o["status"]["replicas"] = 4
        o["metadata"]["labels"]["tier"] = "front"

    new = written(obj, label_and_status, "other", DEPLOYMENT, has_status=True)
    assert by_manager(new)["other"]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:tier": {}}}}


def test_a_kind_without_status_subresource_records_status_fields() -> None:
    obj = created(deployment(), "creator", DEPLOYMENT, has_status=False)
    assert entries(obj)[0]["fieldsV1"]["f:status"] == {"f:replicas": {}}
    new = written(obj, lambda o: o["status"].update(replicas=3), "other", DEPLOYMENT, has_status=False)
    managers = by_manager(new)
    assert managers["other"]["fieldsV1"] == {"f:status": {"f:replicas": {}}}
    assert "subresource" not in managers["other"]
    assert "f:status" not in managers["creator"]["fieldsV1"]


# --- 5. one entry per manager, version and subresource ---------------------------------


def test_the_same_manager_writing_twice_merges_into_one_entry() -> None:
    obj = configmap(a="1")
    obj["metadata"]["managedFields"] = [entry("creator", {"f:data": {".": {}, "f:a": {}}})]
    once = written(obj, lambda o: o["data"].update(b="2"), "m", CONFIGMAP, has_status=False)
    twice = written(once, lambda o: o["metadata"].update(labels={"x": "y"}), "m", CONFIGMAP, has_status=False)
    managers = by_manager(twice)
    assert set(managers) == {"creator", "m"}
    assert managers["m"]["fieldsV1"] == {"f:data": {"f:b": {}},
                                         "f:metadata": {"f:labels": {".": {}, "f:x": {}}}}
    assert RFC3339.match(managers["m"]["time"])


def test_a_different_subresource_or_version_is_a_separate_entry() -> None:
    obj = created(deployment(), "m", DEPLOYMENT)
    scaled = written(obj, lambda o: o["spec"].update(replicas=9), "m", DEPLOYMENT, subresource="scale")
    mine = [e for e in entries(scaled) if e["manager"] == "m"]
    assert len(mine) == 2
    main = next(e for e in mine if "subresource" not in e)
    scale = next(e for e in mine if e.get("subresource") == "scale")
    assert scale["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in main["fieldsV1"]["f:spec"]

    def beta(o: Obj) -> None:
        o["apiVersion"] = "apps/v1beta2"
        o["metadata"]["labels"]["tier"] = "front"

    other_version = written(scaled, beta, "m", DEPLOYMENT)
    mine = [e for e in entries(other_version) if e["manager"] == "m"]
    assert sorted(e["apiVersion"] for e in mine) == ["apps/v1", "apps/v1", "apps/v1beta2"]
    newest = next(e for e in mine if e["apiVersion"] == "apps/v1beta2")
    assert newest["fieldsV1"] == {"f:metadata": {"f:labels": {"f:tier": {}}}}


# --- 6. managedFields in the request ----------------------------------------------------


def test_managed_fields_in_the_request_replace_the_live_ones() -> None:
    obj = configmap(a="1", b="2")
    obj["metadata"]["managedFields"] = [entry("live", {"f:data": {".": {}, "f:a": {}, "f:b": {}}})]
    given = entry("given", {"f:data": {"f:b": {}}})

    def body(o: Obj) -> None:
        o["metadata"]["managedFields"] = [copy.deepcopy(given)]

    same = written(obj, body, "writer", CONFIGMAP, has_status=False)
    assert entries(same) == [given]

    def body_and_change(o: Obj) -> None:
        body(o)
        o["data"]["a"] = "changed"

    new = written(obj, body_and_change, "writer", CONFIGMAP, has_status=False)
    managers = by_manager(new)
    assert set(managers) == {"given", "writer"}
    assert managers["given"] == given
    assert managers["writer"]["fieldsV1"] == {"f:data": {"f:a": {}}}


@pytest.mark.parametrize("body", [
    None, [], [{"operation": "Bogus"}],
    [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV2", "fieldsV1": {}}],
], ids=["absent", "empty", "undecodable", "other-fields-type"])
def test_a_request_without_usable_managed_fields_keeps_the_live_ones(body: Any) -> None:
    obj = configmap(a="1")
    live = [entry("live", {"f:data": {".": {}, "f:a": {}}})]
    obj["metadata"]["managedFields"] = copy.deepcopy(live)

    def change(o: Obj) -> None:
        if body is not None:
            o["metadata"]["managedFields"] = body
        o["metadata"]["resourceVersion"] = "2"  # ignored: a no-op write

    assert entries(written(obj, change, "writer", CONFIGMAP, has_status=False)) == live

    def change_data(o: Obj) -> None:
        change(o)
        o["data"]["b"] = "2"

    managers = by_manager(written(obj, change_data, "writer", CONFIGMAP, has_status=False))
    assert managers["live"] == live[0]
    assert managers["writer"]["fieldsV1"] == {"f:data": {"f:b": {}}}


def test_a_single_empty_entry_clears_managed_fields() -> None:
    obj = configmap(a="1")
    obj["metadata"]["managedFields"] = [entry("live", {"f:data": {".": {}, "f:a": {}}})]

    def reset(o: Obj) -> None:
        o["metadata"]["managedFields"] = [{}]
        o["data"]["b"] = "2"

    new = written(obj, reset, "writer", CONFIGMAP, has_status=False)
    assert "managedFields" not in new["metadata"]

    fresh = configmap(a="1")
    fresh["metadata"]["managedFields"] = [{}]
    managedfields.record(fresh, None, manager="creator", node=CONFIGMAP, has_status=False)
    assert "managedFields" not in fresh["metadata"]


# --- 7. no-ops --------------------------------------------------------------------------


def test_a_no_op_write_leaves_entries_unchanged() -> None:
    obj = created(deployment(), "kubectl-create", DEPLOYMENT)
    obj = with_entries(obj, {**entries(obj)[0], "time": "2020-01-01T00:00:00Z"})
    before = copy.deepcopy(entries(obj))

    def only_server_fields(o: Obj) -> None:
        o["metadata"]["resourceVersion"] = "99"
        o["metadata"]["generation"] = 2

    for change in (lambda o: None, only_server_fields):
        assert entries(written(obj, change, "someone-else", DEPLOYMENT)) == before
        assert entries(written(obj, change, "kubectl-create", DEPLOYMENT, keep_managed=True)) == before


# --- 8. the cap on Update managers ------------------------------------------------------


def _crowded(n: int) -> Obj:
    obj = configmap(**{f"l{i}": str(i) for i in range(n)})
    obj["metadata"]["managedFields"] = [
        entry(f"m{i:02d}", {"f:data": {f"f:l{i}": {}}}, time=f"2020-01-01T00:00:{i:02d}Z") for i in range(n)
    ] + [entry("applier", {"f:metadata": {"f:labels": {"f:x": {}}}}, operation="Apply")]
    obj["metadata"]["labels"] = {"x": "y"}
    return obj


def test_past_ten_update_managers_the_oldest_merge_into_ancient_changes() -> None:
    obj = _crowded(12)
    new = written(obj, lambda o: o["data"].update(extra="e"), "newcomer", CONFIGMAP, has_status=False)
    updates = [e for e in entries(new) if e["operation"] == "Update"]
    assert len(updates) == managedfields.MAX_UPDATE_MANAGERS
    managers = by_manager(new)
    assert set(managers) == {"applier", "ancient-changes", "newcomer", *(f"m{i:02d}" for i in range(4, 12))}
    ancient = managers["ancient-changes"]
    assert ancient["operation"] == "Update"
    assert ancient["apiVersion"] == "v1"
    assert ancient["fieldsV1"] == {"f:data": {"f:l0": {}, "f:l1": {}, "f:l2": {}, "f:l3": {}}}
    assert managers["applier"]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:x": {}}}}

    newer = written(new, lambda o: o["data"].update(more="m"), "latecomer", CONFIGMAP, has_status=False)
    updates = [e for e in entries(newer) if e["operation"] == "Update"]
    assert len(updates) == managedfields.MAX_UPDATE_MANAGERS
    managers = by_manager(newer)
    assert "m04" not in managers and "latecomer" in managers
    assert managers["ancient-changes"]["fieldsV1"] == {"f:data": {f"f:l{i}": {} for i in range(5)}}


def test_ten_update_managers_are_not_capped() -> None:
    obj = _crowded(9)
    new = written(obj, lambda o: o["data"].update(extra="e"), "newcomer", CONFIGMAP, has_status=False)
    managers = by_manager(new)
    assert "ancient-changes" not in managers
    assert len([e for e in entries(new) if e["operation"] == "Update"]) == 10


def test_ancient_changes_takes_the_time_of_the_newest_merged_update() -> None:
    obj = _crowded(12)
    new = written(obj, lambda o: o["data"].update(extra="e"), "newcomer", CONFIGMAP, has_status=False)
    ancient = by_manager(new)["ancient-changes"]
    assert ancient["time"] == "2020-01-01T00:00:03Z"
    updates = [e["manager"] for e in entries(new) if e["operation"] == "Update"]
    assert updates[0] == "ancient-changes"  # sorted by time, it is the oldest Update entry


# --- 9. order ---------------------------------------------------------------------------


def test_entries_are_sorted_by_operation_then_time_then_manager() -> None:
    obj = configmap(**{k: k for k in ("a", "b", "c", "y", "z")})
    obj["metadata"]["managedFields"] = [
        entry("b", {"f:data": {"f:b": {}}}, time="2020-01-01T00:00:02Z"),
        entry("z", {"f:data": {"f:z": {}}}, time="2020-01-01T00:00:03Z", operation="Apply"),
        entry("a", {"f:data": {"f:a": {}}}, time="2020-01-01T00:00:02Z"),
        entry("c", {"f:data": {"f:c": {}}}, time="2020-01-01T00:00:01Z"),
        entry("y", {"f:data": {"f:y": {}}}, time="2020-01-01T00:00:01Z", operation="Apply"),
    ]
    new = written(obj, lambda o: o["data"].update(w="w"), "w", CONFIGMAP, has_status=False)
    assert [(e["operation"], e["manager"]) for e in entries(new)] == [
        ("Apply", "y"), ("Apply", "z"), ("Update", "c"), ("Update", "a"), ("Update", "b"), ("Update", "w"),
    ]


# --- 10. the manager's name -------------------------------------------------------------


def test_manager_name_prefers_field_manager() -> None:
    assert managedfields.manager_name("my-controller", "kubectl/v1.37.0 (linux/amd64)") == "my-controller"


def test_manager_name_is_the_user_agent_up_to_its_first_slash() -> None:
    assert managedfields.manager_name("", "kubectl/v1.37.0 (linux/amd64) kubernetes/abc") == "kubectl"
    assert managedfields.manager_name("", "kube-controller-manager/v1.37.0 (linux/amd64)/leader") \
        == "kube-controller-manager"
    assert managedfields.manager_name("", "python-requests") == "python-requests"
    assert managedfields.manager_name("", "") == ""


def test_manager_name_drops_non_printable_characters() -> None:
    assert managedfields.manager_name("", "kub\x00e\tct\x7fl/v1") == "kubectl"
    assert managedfields.manager_name("", "my agent/1") == "my agent"


def test_manager_name_is_capped_at_128_bytes() -> None:
    assert managedfields.manager_name("", "a" * 200 + "/1") == "a" * 128
    assert managedfields.manager_name("", "é" * 100) == "é" * 64
    assert managedfields.manager_name("", "a" + "é" * 100) == "a" + "é" * 63  # no half character


# --- 11. shared trees are never changed in place ----------------------------------------


def pod(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "generateName": "web-abc-",
                         "labels": {"app": "web", "pod-template-hash": "abc"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1",
                                     "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
            "status": {"phase": "Pending"}}


def body_from(obj: Obj, change: Any, *, with_managed_fields: bool) -> Obj:
    """A request body built on ``obj`` without copying its ``managedFields`` entries."""
    md = {k: v for k, v in obj["metadata"].items() if with_managed_fields or k != "managedFields"}
    md["labels"] = dict(obj["metadata"]["labels"])
    new = {**obj, "metadata": md, "spec": copy.deepcopy(obj["spec"])}
    change(new)
    return new


@pytest.mark.parametrize("with_managed_fields", [False, True], ids=["body-without", "body-with-same-entries"])
def test_writes_to_one_object_never_change_trees_another_object_shares(with_managed_fields: bool) -> None:
    one = created(pod("web-abc-1"), "kube-controller-manager", POD)
    two = created(pod("web-abc-2"), "kube-controller-manager", POD)
    three = created(pod("web-abc-3"), "kube-controller-manager", POD)
    assert entries(one)[0]["fieldsV1"] is entries(two)[0]["fieldsV1"]  # memoized per shape
    assert entries(one)[0]["fieldsV1"] is entries(three)[0]["fieldsV1"]
    snapshot = copy.deepcopy(entries(two))

    def image(o: Obj) -> None:
        o["spec"]["containers"][0]["image"] = "nginx:2"

    def unlabel(o: Obj) -> None:
        del o["metadata"]["labels"]["pod-template-hash"]

    def label(o: Obj) -> None:
        o["metadata"]["labels"]["extra"] = "x"

    def remove_port(o: Obj) -> None:
        del o["spec"]["containers"][0]["ports"]

    step = one
    for manager, change in (("kubectl-set", image), ("kubectl-label", unlabel),
                            ("kube-controller-manager", label), ("kube-controller-manager", remove_port)):
        before_old = copy.deepcopy(entries(step))
        new = body_from(step, change, with_managed_fields=with_managed_fields)
        managedfields.record(new, step, manager=manager, node=POD)
        assert entries(step) == before_old  # the old object is untouched too
        assert entries(two) == snapshot
        step = new

    # the creator changes its own shared tree on another pod
    new = body_from(three, label, with_managed_fields=with_managed_fields)
    managedfields.record(new, three, manager="kube-controller-manager", node=POD)
    assert entries(new)[0]["fieldsV1"]["f:metadata"]["f:labels"]["f:extra"] == {}
    new = body_from(new, unlabel, with_managed_fields=with_managed_fields)
    managedfields.record(new, three, manager="kube-controller-manager", node=POD)
    assert entries(two) == snapshot

    # and the writes did what they should on the pod written
    managers = by_manager(step)
    assert managers["kubectl-set"]["fieldsV1"] == {
        "f:spec": {"f:containers": {CONTAINER_C: {"f:image": {}}}}}
    assert "kubectl-label" not in managers
    creator = managers["kube-controller-manager"]["fieldsV1"]
    assert creator["f:metadata"]["f:labels"] == {".": {}, "f:app": {}, "f:extra": {}}
    assert creator["f:spec"]["f:containers"][CONTAINER_C] == {".": {}, "f:name": {}}


# --- 12. Events -------------------------------------------------------------------------


def event(name: str, message: str, pod_name: str, **extra: Any) -> Obj:
    out: Obj = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": "default",
                                   "uid": f"uid-{pod_name}", "apiVersion": "v1"},
                "reason": "Started", "message": message, "count": 1, "type": "Normal",
                "source": {"component": "kubelet", "host": "node-1"},
                "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z"}
    out.update(extra)
    return out


EVENT_FIELDS: Obj = {
    "f:count": {}, "f:firstTimestamp": {}, "f:involvedObject": {}, "f:lastTimestamp": {},
    "f:message": {}, "f:reason": {}, "f:source": {"f:component": {}, "f:host": {}}, "f:type": {},
}


def test_event_creates_own_scalar_leaves_and_the_involved_object_whole() -> None:
    first = created(event("a.1", "Started container c", "a"), "kubelet", EVENT, has_status=False)
    second = created(event("b.2", "Pulled image nginx", "b"), "kubelet", EVENT, has_status=False)
    for obj in (first, second):
        [only] = entries(obj)
        assert only["manager"] == "kubelet" and only["apiVersion"] == "v1"
        assert only["fieldsV1"] == EVENT_FIELDS


def test_event_creates_of_another_shape_get_their_own_fields() -> None:
    created(event("a.1", "m", "a"), "kubelet", EVENT, has_status=False)
    other = event("c.3", "m", "c", series={"count": 2, "lastObservedTime": "2026-01-01T00:00:00.000000Z"})
    del other["count"]
    del other["source"]["host"]
    fields = entries(created(other, "kubelet", EVENT, has_status=False))[0]["fieldsV1"]
    expected = {k: v for k, v in EVENT_FIELDS.items() if k != "f:count"}
    expected["f:source"] = {"f:component": {}}
    expected["f:series"] = {"f:count": {}, "f:lastObservedTime": {}}
    assert fields == expected


# --- 13. sets ---------------------------------------------------------------------------


FIN_X, FIN_Y = 'v:"example.com/x"', 'v:"example.com/y"'


def test_finalizers_are_owned_by_value_and_released_when_removed() -> None:
    obj = created(configmap(a="1"), "creator", CONFIGMAP, has_status=False)

    added = written(obj, lambda o: o["metadata"].update(finalizers=["example.com/x"]), "fin", CONFIGMAP,
                    has_status=False)
    assert by_manager(added)["fin"]["fieldsV1"] == {"f:metadata": {"f:finalizers": {".": {}, FIN_X: {}}}}

    more = written(added, lambda o: o["metadata"]["finalizers"].append("example.com/y"), "other", CONFIGMAP,
                   has_status=False)
    managers = by_manager(more)
    assert managers["other"]["fieldsV1"] == {"f:metadata": {"f:finalizers": {FIN_Y: {}}}}
    assert managers["fin"]["fieldsV1"] == {"f:metadata": {"f:finalizers": {".": {}, FIN_X: {}}}}

    fewer = written(more, lambda o: o["metadata"]["finalizers"].remove("example.com/x"), "remover", CONFIGMAP,
                    has_status=False)
    managers = by_manager(fewer)
    assert set(managers) == {"creator", "fin", "other"}
    assert managers["fin"]["fieldsV1"] == {"f:metadata": {"f:finalizers": {}}}  # the list, not x
    assert managers["other"]["fieldsV1"] == {"f:metadata": {"f:finalizers": {FIN_Y: {}}}}

    none = written(fewer, lambda o: o["metadata"].pop("finalizers"), "remover", CONFIGMAP, has_status=False)
    assert set(by_manager(none)) == {"creator"}


def test_adding_a_finalizer_to_an_empty_list_records_its_value() -> None:
    obj = configmap(a="1")
    obj["metadata"]["finalizers"] = []
    obj["metadata"]["managedFields"] = [entry("creator", {"f:data": {".": {}, "f:a": {}}})]
    added = written(obj, lambda o: o["metadata"]["finalizers"].append("example.com/x"), "fin", CONFIGMAP,
                    has_status=False)
    assert FIN_X in by_manager(added)["fin"]["fieldsV1"]["f:metadata"]["f:finalizers"]


def test_without_copies_only_what_it_drops() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "p", "managedFields": [{"manager": "m"}]}, "spec": {"a": 1}}
    lean = managedfields.without(obj)
    assert lean == {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"a": 1}}
    assert obj["metadata"]["managedFields"] == [{"manager": "m"}]  # the stored object is untouched
    assert lean["spec"] is obj["spec"]
    plain = {"metadata": {"name": "q"}}
    assert managedfields.without(plain) is plain
