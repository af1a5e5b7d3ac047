"""A podFailurePolicy FailJob decision survives a reconcile that stops half-way: the
failed pod's uid and the FailureTarget condition are written together, so the next pass
(which no longer reads the recorded pod's exit code) still fails the Job. Fakes stand in
for the API and the informers; the race they stage (releasing the pod's tracking
finalizer conflicts with a concurrent write to the pod) happened in CI."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.aio import tasks
from kubelite.client import errors, resources
from kubelite.controllers import job
from tests.unit.controllers.fakes import FakeInformers

Obj = dict[str, Any]


class FakeClient:
    """Job status patches land in ``statuses``; the first pod patch conflicts."""

    def __init__(self) -> None:
        self.statuses: list[Obj] = []
        self.pod_patches = 0

    async def patch(self, res: resources.Resource, name: str, body: Obj, **kw: Any) -> Obj:
        if res.plural == "jobs":
            self.statuses.append(body["status"])
            return {"metadata": {"name": name, "uid": "job-uid", "resourceVersion": str(10 + len(self.statuses))},
                    "status": body["status"]}
        self.pod_patches += 1
        if self.pod_patches == 1:
            raise errors.Conflict("the object has been modified")
        return {}

    async def create(self, *args: Any, **kw: Any) -> Obj:
        return {}


async def test_fail_job_decision_is_written_with_the_failed_pod(group: tasks.TaskGroup) -> None:
    informers, client = FakeInformers(), FakeClient()
    ctrl = job.JobController(client=client, informers=informers, tg=group)  # type: ignore[arg-type]
    the_job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "pfp", "namespace": "ns", "uid": "job-uid", "resourceVersion": "5"},
               "spec": {"backoffLimit": 6, "selector": {"matchLabels": {"job": "pfp"}},
                        "podFailurePolicy": {"rules": [{"action": "FailJob",
                                                        "onExitCodes": {"operator": "In", "values": [42]}}]}},
               "status": {"startTime": "2026-11-22T00:00:00Z"}}
    pod = {"metadata": {"name": "pfp-a", "namespace": "ns", "uid": "pod-uid", "resourceVersion": "7",
                        "labels": {"job": "pfp"}, "finalizers": [job.TRACKING],
                        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pfp",
                                             "uid": "job-uid", "controller": True}]},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]},
           "status": {"phase": "Failed", "containerStatuses": [
               {"name": "c", "state": {"terminated": {"exitCode": 42}}}]}}
    informers.get(resources.JOBS).objects["ns/pfp"] = the_job
    informers.get(resources.PODS).objects["ns/pfp-a"] = pod

    with pytest.raises(errors.Conflict):  # releasing the finalizer raced another write
        await ctrl.reconcile("ns/pfp")
    first = client.statuses[0]
    assert first["uncountedTerminatedPods"]["failed"] == ["pod-uid"]
    target = [c for c in first["conditions"] if c["type"] == "FailureTarget"]
    assert [(c["status"], c["reason"]) for c in target] == [("True", "PodFailurePolicy")]

    # the informer catches up with the written status; the pod is unchanged
    the_job["status"] = first
    the_job["metadata"]["resourceVersion"] = "11"
    await ctrl.reconcile("ns/pfp")
    last = client.statuses[-1]
    assert any(c["type"] == "FailureTarget" and c["reason"] == "PodFailurePolicy" for c in last["conditions"])
    assert client.pod_patches >= 2  # the finalizer went on the second pass


async def test_a_status_that_differs_only_in_zero_values_is_not_written_again(group: tasks.TaskGroup) -> None:
    """The server stores a Job's status without its omitempty zero values (``active: 0``,
    empty uncounted lists), as upstream; the status the controller computes has them,
    which must not make a write at every pass."""
    informers, client = FakeInformers(), FakeClient()
    ctrl = job.JobController(client=client, informers=informers, tg=group)  # type: ignore[arg-type]
    stored = {"startTime": "2026-11-22T00:00:00Z", "succeeded": 1, "uncountedTerminatedPods": {},
              "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": "2026-11-22T00:00:05Z",
                              "lastTransitionTime": "2026-11-22T00:00:05Z"}]}
    the_job = {"metadata": {"name": "done", "namespace": "ns", "uid": "job-uid", "resourceVersion": "5"},
               "status": stored}
    computed = {**stored, "active": 0, "ready": 0, "terminating": 0, "failed": 0,
                "uncountedTerminatedPods": {"succeeded": [], "failed": []}}
    await ctrl._write_status(the_job, computed)
    assert client.statuses == []
    await ctrl._write_status(the_job, {**computed, "failed": 1})
    assert len(client.statuses) == 1 and client.statuses[0]["failed"] == 1
