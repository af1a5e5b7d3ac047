"""A create refused because its namespace is being deleted is not the controller's
failure, as upstream's controllers treat ``NamespaceTerminatingCause``: no FailedCreate
Event (every create there fails alike), and a ReplicaSet neither raises nor stays waiting
for pods that will never come. Any other refusal is still recorded. The refusal is the
server's own Status (``kubelite.api.errors.namespace_terminating``) read by the client's
``from_status``, so the test also holds the two sides to one wire format.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from kubelite.aio import tasks
from kubelite.api import errors as api_errors
from kubelite.client import errors, resources
from kubelite.controllers import base, cronjob, endpoints, endpointslices, replicaset
from tests.unit.controllers.fakes import FakeInformers

Obj = dict[str, Any]


def _terminating(resource: str, group: str = "") -> errors.ApiError:
    status = api_errors.namespace_terminating(resource=resource, group=group, name="", namespace="ns").to_status()
    return errors.from_status(403, status)


def _quota_exceeded() -> errors.ApiError:
    return errors.from_status(403, {"kind": "Status", "code": 403, "reason": "Forbidden",
                                    "message": 'pods "web-x" is forbidden: exceeded quota: q'})


class RefusingClient:
    """Refuses every create of pods and jobs with ``refusal``; keeps Events and patches."""

    def __init__(self, refusal: errors.ApiError) -> None:
        self.refusal = refusal
        self.events: list[Obj] = []
        self.patches: list[tuple[str, Obj]] = []

    async def create(self, res: resources.Resource, body: Obj, **_: Any) -> Obj:
        if res.plural == "events":
            self.events.append(body)
            return body
        raise self.refusal

    async def patch(self, res: resources.Resource, name: str, body: Obj, **_: Any) -> Obj:
        self.patches.append((res.plural, body))
        return {}

    async def delete(self, res: resources.Resource, name: str, **_: Any) -> Obj:
        return {}

    def reasons(self) -> list[str]:
        return [e["reason"] for e in self.events]


async def _settle(tg: tasks.TaskGroup) -> None:
    """Let the recorder's event writes run (they are tasks of ``tg``)."""
    while len(tg):
        await asyncio.sleep(0)


def test_the_servers_refusal_names_the_object_and_carries_the_cause() -> None:
    refusal = api_errors.namespace_terminating(resource="deployments", group="apps", name="web", namespace="ns")
    status = refusal.to_status()
    assert (status["code"], status["reason"]) == (403, "Forbidden")
    assert status["message"] == ('deployments.apps "web" is forbidden: unable to create new content in namespace ns '
                                 'because it is being terminated')
    assert status["details"] == {"name": "web", "group": "apps", "kind": "deployments", "causes": [
        {"reason": "NamespaceTerminating", "message": "namespace ns is being terminated",
         "field": "metadata.namespace"}]}
    assert errors.namespace_terminating(errors.from_status(403, status))
    assert not errors.namespace_terminating(_quota_exceeded())


def _replicaset(replicas: int) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "ns", "uid": "rs-uid", "generation": 1, "resourceVersion": "5"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
            "status": {"replicas": 0}}


async def test_a_replicaset_in_a_terminating_namespace_records_nothing_and_waits_for_nothing(
        group: tasks.TaskGroup) -> None:
    informers = FakeInformers()
    client = RefusingClient(_terminating("pods"))
    ctl = replicaset.ReplicaSetController(client=client, informers=informers, tg=group)  # type: ignore[arg-type]
    informers.get(resources.REPLICASETS).objects["ns/web"] = _replicaset(3)

    await ctl.reconcile("ns/web")  # no error: nothing to retry
    await _settle(group)

    assert "FailedCreate" not in client.reasons()
    assert ctl.expectations.satisfied("ns/web")  # the refused pods are not awaited
    statuses = [body for plural, body in client.patches if plural == "replicasets"]
    assert all(not (b.get("status") or {}).get("conditions") for b in statuses)  # no ReplicaFailure


async def test_any_other_refusal_is_still_recorded(group: tasks.TaskGroup) -> None:
    informers = FakeInformers()
    client = RefusingClient(_quota_exceeded())
    ctl = replicaset.ReplicaSetController(client=client, informers=informers, tg=group)  # type: ignore[arg-type]
    informers.get(resources.REPLICASETS).objects["ns/web"] = _replicaset(1)

    with pytest.raises(errors.Forbidden):
        await ctl.reconcile("ns/web")
    await _settle(group)
    assert "FailedCreate" in client.reasons()


async def test_a_cronjob_in_a_terminating_namespace_records_no_failed_create(group: tasks.TaskGroup) -> None:
    informers = FakeInformers()
    client = RefusingClient(_terminating("jobs", "batch"))
    ctl = cronjob.CronJobController(client=client, informers=informers, tg=group)  # type: ignore[arg-type]
    created = base.fmt_time(base.now() - datetime.timedelta(minutes=3))
    informers.get(resources.CRONJOBS).objects["ns/tick"] = {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "ns", "uid": "cj-uid", "creationTimestamp": created},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}

    with pytest.raises(errors.Forbidden):  # raised, as upstream returns it: the queue paces the retries
        await ctl.reconcile("ns/tick")
    await _settle(group)
    assert "FailedCreate" not in client.reasons()


_SERVICE = {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


async def test_endpoints_and_slices_of_a_terminating_namespace_are_dropped(group: tasks.TaskGroup) -> None:
    # upstream's endpoints and EndpointSlice controllers return nil: no error, no retry
    ep_ctl = endpoints.EndpointsController(client=RefusingClient(_terminating("endpoints")),  # type: ignore[arg-type]
                                           informers=FakeInformers(), tg=group)
    await ep_ctl._write(_SERVICE, [])
    slice_ctl = endpointslices.EndpointSliceController(  # type: ignore[arg-type]
        client=RefusingClient(_terminating("endpointslices", "discovery.k8s.io")), informers=FakeInformers(), tg=group)
    await slice_ctl._write(_SERVICE, "ns/web", old=None, ports=[], endpoints=[], labels={}, owner={})

    with pytest.raises(errors.Forbidden):  # any other refusal is still the controller's to retry
        await endpoints.EndpointsController(client=RefusingClient(_quota_exceeded()),  # type: ignore[arg-type]
                                            informers=FakeInformers(), tg=group)._write(_SERVICE, [])
