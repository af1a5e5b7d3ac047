"""Table output: what ``kubectl get`` prints for each kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api import scheme as schememod
from kubelite.apiserver import printers, tables

NOW = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
KUBECTL_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                  "g=meta.k8s.io,application/json")


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def info(group: str, kind: str) -> schememod.ResourceInfo:
    found = next((r for r in schememod.BUILTIN if r.group == group and r.kind == kind), None)
    assert found is not None
    return found


POD = info("", "Pod")


def pod(phase: str = "Running", *, statuses: list[dict[str, Any]] | None = None,
        init: list[dict[str, Any]] | None = None, deleting: bool = False,
        conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "default", "creationTimestamp": ago(minutes=3),
                            "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = ago(seconds=1)
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
    status: dict[str, Any] = {"phase": phase, "containerStatuses": statuses or [], "conditions": conditions or []}
    if init is not None:
        spec["initContainers"] = [{"name": s["name"]} for s in init]
        status["initContainerStatuses"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def row(obj: dict[str, Any], resource: schememod.ResourceInfo = POD) -> dict[str, Any]:
    table = tables.to_table(resource, [obj], list_meta={}, now=NOW)
    cells = dict(zip([c["name"] for c in table["columnDefinitions"]], table["rows"][0]["cells"], strict=True))
    return cells


RUNNING = {"name": "c", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": ago(minutes=2)}}}


def test_wants_table_reads_kubectls_accept_header() -> None:
    assert tables.wants_table(KUBECTL_ACCEPT)
    assert tables.table_version("application/json;as=Table;v=v1beta1;g=meta.k8s.io") == "v1beta1"
    assert tables.wants_table("application/json;g=meta.k8s.io;v=v1;as=Table")  # parameter order is free
    assert not tables.wants_table("application/json")
    assert not tables.wants_table("")
    assert not tables.wants_table("application/json, application/json;as=Table;v=v1;g=meta.k8s.io")
    # a protobuf Table we cannot speak is skipped in favour of the JSON one after it
    assert tables.wants_table("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io," + KUBECTL_ACCEPT)


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-0.5, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (200, "3m20s"),
    (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (5 * 3600 + 120, "5h2m"), (10 * 3600, "10h"),
    (47 * 3600, "47h"), (2 * 86400 + 3 * 3600, "2d3h"), (3 * 86400, "3d"), (30 * 86400, "30d"),
    (3 * 365 * 86400 + 120 * 86400, "3y120d"), (9 * 365 * 86400, "9y"),
])
def test_age_is_formatted_like_kubectl(seconds: float, text: str) -> None:
    assert tables.human_duration(seconds) == text


def test_running_pod_row() -> None:
    cells = row(pod("Running", statuses=[RUNNING], conditions=[{"type": "Ready", "status": "True"}]))
    assert cells["Name"] == "p"
    assert cells["Ready"] == "1/1"
    assert cells["Status"] == "Running"
    assert cells["Restarts"] == "0"
    assert cells["Age"] == "3m"
    assert (cells["IP"], cells["Node"], cells["Nominated Node"], cells["Readiness Gates"]) == (
        "<none>", "<none>", "<none>", "<none>")


@pytest.mark.parametrize(("obj", "status"), [
    (pod("Pending"), "Pending"),
    (pod("Pending", statuses=[{"name": "c", "ready": False, "restartCount": 0,
                               "state": {"waiting": {"reason": "ContainerCreating"}}}]), "ContainerCreating"),
    (pod("Running", statuses=[{"name": "c", "ready": False, "restartCount": 4,
                               "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]), "CrashLoopBackOff"),
    (pod("Succeeded", statuses=[{"name": "c", "ready": False, "restartCount": 0,
                                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]), "Completed"),
    (pod("Failed", statuses=[{"name": "c", "ready": False, "restartCount": 0,
                              "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]), "Error"),
    (pod("Failed", statuses=[{"name": "c", "ready": False, "restartCount": 0,
                              "state": {"terminated": {"exitCode": 137}}}]), "ExitCode:137"),
    (pod("Running", statuses=[RUNNING], deleting=True), "Terminating"),
    (pod("Succeeded", deleting=True), "Succeeded"),
    (pod("Pending", init=[{"name": "i", "state": {"running": {}}}],
         statuses=[{"name": "c", "state": {"waiting": {"reason": "PodInitializing"}}}]), "Init:0/1"),
    (pod("Pending", init=[{"name": "i", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
     "Init:CrashLoopBackOff"),
    (pod("Pending", init=[{"name": "i", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
     "Init:Error"),
    (pod("Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
     "SchedulingGated"),
])
def test_pod_status_column(obj: dict[str, Any], status: str) -> None:
    assert row(obj)["Status"] == status


def test_completed_container_next_to_a_running_one_is_not_completed() -> None:
    two = pod("Running", statuses=[
        RUNNING, {"name": "d", "ready": False, "restartCount": 0,
                  "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}])
    two["spec"]["containers"].append({"name": "d", "image": "x"})
    assert row(two)["Status"] == "NotReady"
    assert row(two)["Ready"] == "1/2"


def test_restarts_say_how_long_ago_the_last_one_was() -> None:
    crashed = dict(RUNNING, restartCount=5,
                   lastTerminationState={"terminated": {"exitCode": 1, "finishedAt": ago(minutes=5)}})
    assert row(pod("Running", statuses=[crashed]))["Restarts"] == "5 (5m ago)"


def test_succeeded_pods_carry_a_completed_row_condition() -> None:
    table = tables.to_table(POD, [pod("Succeeded")], list_meta={}, now=NOW)
    assert table["rows"][0]["conditions"][0]["type"] == "Completed"


def test_table_shape_and_include_object() -> None:
    p = pod("Running", statuses=[RUNNING])
    table = tables.to_table(POD, [p], list_meta={"resourceVersion": "42", "continue": "tok"}, now=NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "tok"}
    columns = table["columnDefinitions"]
    assert [c["name"] for c in columns if c["priority"] == 0] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert [c["name"] for c in columns if c["priority"] == 1] == ["IP", "Node", "Nominated Node", "Readiness Gates"]
    assert columns[0]["format"] == "name"
    obj = table["rows"][0]["object"]
    assert obj == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": p["metadata"]}
    full = tables.to_table(POD, [p], list_meta={}, include_object="Object", now=NOW)
    assert full["rows"][0]["object"] is p
    assert "object" not in tables.to_table(POD, [p], list_meta={}, include_object="None", now=NOW)["rows"][0]
    with pytest.raises(errors.BadRequest):
        tables.to_table(POD, [p], list_meta={}, include_object="Everything", now=NOW)


def test_every_printer_fills_every_column_even_for_bare_objects() -> None:
    for (group, kind), (columns, cells) in printers.PRINTERS.items():
        values, _ = cells({"metadata": {"name": "x"}}, NOW)
        assert len(values) == len(columns), (group, kind)


def test_deployment_row_with_wide_columns() -> None:
    deploy = {"metadata": {"name": "web", "creationTimestamp": ago(hours=2)},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
                  {"key": "tier", "operator": "In", "values": ["front", "back"]}]},
                       "template": {"spec": {"containers": [{"name": "a", "image": "nginx:1"},
                                                            {"name": "b", "image": "redis"}]}}},
              "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert row(deploy, info("apps", "Deployment")) == {
        "Name": "web", "Ready": "2/3", "Up-to-date": 3, "Available": 2, "Age": "120m",
        "Containers": "a,b", "Images": "nginx:1,redis", "Selector": "app=web,tier in (back,front)"}


def test_node_service_job_and_cronjob_rows() -> None:
    node = {"metadata": {"name": "n1", "creationTimestamp": ago(days=3),
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                       "nodeInfo": {"kubeletVersion": "v1.37.0+kubelite"}}}
    cells = row(node, info("", "Node"))
    assert (cells["Status"], cells["Roles"], cells["Age"], cells["Internal-IP"], cells["External-IP"]) == (
        "Ready,SchedulingDisabled", "control-plane", "3d", "10.0.0.1", "<none>")

    svc = {"metadata": {"name": "s", "creationTimestamp": ago(seconds=30)},
           "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}
    cells = row(svc, info("", "Service"))
    assert (cells["Type"], cells["Cluster-IP"], cells["External-IP"], cells["Port(s)"], cells["Selector"]) == (
        "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53/UDP", "app=web")

    job = {"metadata": {"name": "j", "creationTimestamp": ago(minutes=5)},
           "spec": {"completions": 3, "template": {"spec": {"containers": []}}},
           "status": {"succeeded": 3, "startTime": ago(minutes=5), "completionTime": ago(minutes=4),
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    cells = row(job, info("batch", "Job"))
    assert (cells["Status"], cells["Completions"], cells["Duration"]) == ("Complete", "3/3", "60s")

    cron = {"metadata": {"name": "c", "creationTimestamp": ago(hours=1)},
            "spec": {"schedule": "*/5 * * * *", "suspend": False}, "status": {}}
    cells = row(cron, info("batch", "CronJob"))
    assert (cells["Schedule"], cells["Timezone"], cells["Suspend"], cells["Active"], cells["Last Schedule"]) == (
        "*/5 * * * *", "<none>", "False", 0, "<none>")


def test_event_row_names_the_object() -> None:
    event = {"metadata": {"name": "p.1"}, "type": "Warning", "reason": "BackOff", "message": " Back-off ",
             "involvedObject": {"kind": "Pod", "name": "p"}, "lastTimestamp": ago(seconds=10), "count": 3,
             "source": {"component": "kubelet", "host": "n1"}}
    cells = row(event, info("", "Event"))
    assert (cells["Last Seen"], cells["Type"], cells["Reason"], cells["Object"], cells["Message"]) == (
        "10s", "Warning", "BackOff", "pod/p", "Back-off")
    assert (cells["Source"], cells["Count"]) == ("kubelet, n1", 3)


def test_unknown_kinds_get_name_and_created_at() -> None:
    crd = schememod.ResourceInfo(group="apiextensions.k8s.io", version="v1", kind="CustomResourceDefinition",
                                 plural="customresourcedefinitions", singular="customresourcedefinition",
                                 namespaced=False)
    obj = {"metadata": {"name": "crontabs.stable.example.com", "creationTimestamp": "2026-01-02T03:04:05Z"}}
    table = tables.to_table(crd, [obj], list_meta={}, now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["crontabs.stable.example.com", "2026-01-02T03:04:05Z"]


def test_custom_printer_columns_evaluate_jsonpath() -> None:
    crontab = schememod.ResourceInfo(group="stable.example.com", version="v1", kind="CronTab", plural="crontabs",
                                     singular="crontab", namespaced=True)
    columns = [
        {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "First", "type": "string", "jsonPath": ".spec.items[0].name", "priority": 1},
        {"name": "Missing", "type": "string", "jsonPath": ".spec.nothing"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    obj = {"metadata": {"name": "ct", "creationTimestamp": ago(seconds=42)},
           "spec": {"cronSpec": "* * * * */5", "replicas": 2, "items": [{"name": "a"}, {"name": "b"}]},
           "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    table = tables.to_table(crontab, [obj], list_meta={}, now=NOW, printer_columns=columns)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Spec", "Replicas", "Ready", "First",
                                                               "Missing", "Age"]
    assert table["columnDefinitions"][4]["priority"] == 1
    assert table["rows"][0]["cells"] == ["ct", "* * * * */5", 2, "True", "a", None, "42s"]


def test_watch_events_carry_columns_only_first() -> None:
    p = pod("Running", statuses=[RUNNING])
    p["metadata"]["resourceVersion"] = "7"
    first = tables.table_event(POD, "ADDED", p, first=True, now=NOW)
    assert first["type"] == "ADDED"
    assert first["object"]["kind"] == "Table" and first["object"]["columnDefinitions"]
    assert first["object"]["metadata"]["resourceVersion"] == "7"
    assert len(first["object"]["rows"]) == 1
    later = tables.table_event(POD, "MODIFIED", p, first=False, now=NOW)
    assert later["object"]["columnDefinitions"] == [] and later["object"]["rows"][0]["cells"][0] == "p"
    bookmark = {"kind": "Pod", "apiVersion": "v1", "metadata": {
        "resourceVersion": "9", "annotations": {"k8s.io/initial-events-end": "true"}}}
    mark = tables.table_event(POD, "BOOKMARK", bookmark, first=False, now=NOW)
    assert mark["object"]["rows"] == [] and mark["object"]["metadata"]["resourceVersion"] == "9"
    assert mark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
