"""The pod conditions the agent writes, as kubelet's status manager does: Ready held back
by readiness gates (upstream's GeneratePodReadyCondition words), the conditions of other
writers kept, and status writes that change only what the agent owns, so that a condition
another writer adds meanwhile survives, and a list that moved is read again rather than
overwritten."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from kubelite.agent import status, workers
from kubelite.agent.runtime import interface as rt
from kubelite.api.patch import jsonpatch
from kubelite.client import errors

GATE = "sweep.io/gate"


def running_view(pod: dict[str, Any], *, ready: bool = True) -> status.PodView:
    info = rt.ContainerInfo(id="c1", pod_uid="u1", pod_name="p", namespace="ns", name="app", attempt=0, kind="app",
                            state=rt.State.RUNNING, started_at=1.0)
    spec = {"name": "app", "image": "img"}
    return status.PodView(pod=pod, runtime_name="process",
                          app=[status.ContainerView(spec=spec, current=info, ready=ready, started=True)],
                          pod_ip="127.0.0.1", host_ip="192.0.2.2", sandbox_ready=True,
                          start_time="2026-01-01T00:00:00Z")


def pod(*conditions: dict[str, Any], gates: tuple[str, ...] = (GATE,)) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "10"},
            "spec": {"containers": [{"name": "app"}], "readinessGates": [{"conditionType": g} for g in gates]},
            "status": {"phase": "Pending", "qosClass": "BestEffort", "conditions": list(conditions)}}


def by_type(st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in st["conditions"]}


# --- readiness gates ------------------------------------------------------------------------


def test_a_missing_gate_condition_keeps_the_pod_unready() -> None:
    conds = by_type(status.pod_status(running_view(pod())))
    assert (conds["Ready"]["status"], conds["Ready"]["reason"], conds["Ready"]["message"]) == (
        "False", "ReadinessGatesNotReady", f'corresponding condition of pod readiness gate "{GATE}" does not exist.')
    assert conds["ContainersReady"]["status"] == "True"
    assert "reason" not in conds["ContainersReady"]


def test_a_gate_condition_not_true_keeps_the_pod_unready_and_says_so() -> None:
    p = pod({"type": GATE, "status": "False"}, {"type": "other.io/x", "status": "Unknown"},
            gates=(GATE, "other.io/x", "third.io/y"))
    ready = by_type(status.pod_status(running_view(p)))["Ready"]
    assert ready["message"] == (
        f'the status of pod readiness gate "{GATE}" is not "True", but False, '
        'the status of pod readiness gate "other.io/x" is not "True", but Unknown, '
        'corresponding condition of pod readiness gate "third.io/y" does not exist.')


def test_true_gate_conditions_make_the_pod_ready() -> None:
    conds = by_type(status.pod_status(running_view(pod({"type": GATE, "status": "True"}))))
    assert conds["Ready"]["status"] == "True"
    assert "reason" not in conds["Ready"] and "message" not in conds["Ready"]


def test_unready_containers_explain_ready_before_the_gates() -> None:
    ready = by_type(status.pod_status(running_view(pod(), ready=False)))["Ready"]
    assert (ready["reason"], ready["message"]) == ("ContainersNotReady", "containers with unready status: [app]")


# --- conditions of other writers -------------------------------------------------------------


def test_conditions_of_other_writers_are_kept_as_they_are() -> None:
    theirs = [{"type": GATE, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "LB"},
              {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]
    conds = status.pod_status(running_view(pod(*theirs)))["conditions"]
    assert conds[:2] == theirs
    assert [c["type"] for c in conds[2:]] == ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                              "PodScheduled"]


def test_the_patch_leaves_a_condition_added_meanwhile_in_place() -> None:
    held = pod({"type": "PodScheduled", "status": "True"})
    new = status.pod_status(running_view(held))
    ops = status.status_patch("u1", held["status"], new)
    assert ops is not None and ops[0] == {"op": "test", "path": "/metadata/uid", "value": "u1"}
    server = copy.deepcopy(held)  # meanwhile a controller merged its condition in (at the end, by type)
    server["status"]["conditions"].append({"type": GATE, "status": "False"})
    written = jsonpatch.apply(server, ops)
    assert [c["type"] for c in written["status"]["conditions"]] == [
        "PodScheduled", GATE, "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"]
    assert written["status"]["phase"] == "Running"
    assert written["status"]["containerStatuses"][0]["state"] == {"running": {"startedAt": "1970-01-01T00:00:01Z"}}
    # Written back: the next computation sees the gate, and changes only Ready's message.
    again = status.pod_status(running_view(written))
    ops = status.status_patch("u1", written["status"], again)
    assert ops is not None and [op["op"] for op in ops] == ["test", "test", "replace"]
    assert ops[1] == {"op": "test", "path": "/status/conditions/4/type", "value": "Ready"}
    assert jsonpatch.apply(written, ops)["status"]["conditions"][4]["message"].startswith(
        f'the status of pod readiness gate "{GATE}" is not "True"')


def test_the_patch_is_refused_when_the_list_moved_or_the_pod_was_replaced() -> None:
    held = copy.deepcopy(pod())
    held["status"] = status.pod_status(running_view(held))
    gate_true = copy.deepcopy(held)
    gate_true["status"]["conditions"].insert(0, {"type": GATE, "status": "True"})
    ops = status.status_patch("u1", held["status"], status.pod_status(running_view(gate_true)))
    assert ops is not None
    shifted = copy.deepcopy(held)
    del shifted["status"]["conditions"][0]
    with pytest.raises(jsonpatch.PatchFailed):
        jsonpatch.apply(shifted, ops)
    replaced = copy.deepcopy(held)
    replaced["metadata"]["uid"] = "u2"
    with pytest.raises(jsonpatch.PatchFailed):
        jsonpatch.apply(replaced, ops)


def test_nothing_to_write_when_nothing_changed() -> None:
    held = pod({"type": GATE, "status": "True"})
    held["status"] = status.pod_status(running_view(held))
    assert status.status_patch("u1", held["status"], status.pod_status(running_view(held))) is None


def test_a_pod_without_conditions_gets_the_list_unless_one_appears_meanwhile() -> None:
    held = pod()
    del held["status"]["conditions"]
    ops = status.status_patch("u1", held["status"], status.pod_status(running_view(held)))
    assert ops is not None
    assert len(jsonpatch.apply(copy.deepcopy(held), ops)["status"]["conditions"]) == 5
    raced = copy.deepcopy(held)
    raced["status"]["conditions"] = [{"type": GATE, "status": "True"}]
    with pytest.raises(jsonpatch.PatchFailed):
        jsonpatch.apply(raced, ops)


# --- the worker's writes against a server that moves ----------------------------------------


class FakeClient:
    """The pod's status subresource: JSON patches applied as the API server does."""

    def __init__(self, stored: dict[str, Any]) -> None:
        self.stored = stored
        self.patches = 0
        self.gets = 0

    def _bump(self) -> None:
        self.stored["metadata"]["resourceVersion"] = str(int(self.stored["metadata"]["resourceVersion"]) + 1)

    def others_write(self, condition: dict[str, Any], *, at: int | None = None) -> None:
        conds = self.stored["status"].setdefault("conditions", [])
        conds.append(condition) if at is None else conds.insert(at, condition)
        self._bump()

    async def patch(self, res: Any, name: str, ops: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
        self.patches += 1
        try:
            self.stored = jsonpatch.apply(copy.deepcopy(self.stored), ops)
        except jsonpatch.PatchFailed as exc:
            raise errors.Invalid(str(exc), code=422) from None
        self._bump()
        return copy.deepcopy(self.stored)

    async def get(self, res: Any, name: str, **kw: Any) -> dict[str, Any]:
        self.gets += 1
        return copy.deepcopy(self.stored)


class FakeManager:
    def __init__(self, client: FakeClient) -> None:
        self.client = client
        self.runtime = None
        self.node_name = "n1"
        self.host_ip = "192.0.2.2"


async def test_the_worker_keeps_what_others_wrote_since_its_last_read() -> None:
    client = FakeClient(pod({"type": "PodScheduled", "status": "True"}))
    worker = workers.PodWorker(FakeManager(client), copy.deepcopy(client.stored))  # type: ignore[arg-type]
    client.others_write({"type": GATE, "status": "True"})  # not seen by the worker yet
    await worker._write_status(status.pod_status(running_view(worker.pod)))
    kinds = [c["type"] for c in client.stored["status"]["conditions"]]
    assert GATE in kinds and "Ready" in kinds and client.gets == 0
    assert worker.pod == client.stored  # the answer is the version the worker holds now

    # Now a writer removes a condition before the ones the agent owns: the indexes the
    # worker knows are stale, the server refuses, the worker reads again and retries.
    client.others_write({"type": "example.com/first", "status": "True"}, at=0)
    worker.update(copy.deepcopy(client.stored))
    del client.stored["status"]["conditions"][0]
    client._bump()
    worker.wake.clear()
    held_ready = by_type(worker.pod["status"])["Ready"]
    # The container turned unready meanwhile: Ready must follow.
    await worker._write_status(status.pod_status(running_view(worker.pod, ready=False)))
    assert client.gets == 1 and worker.wake.is_set()
    assert worker.pod == client.stored  # read again: decides on the server's list next time
    assert by_type(client.stored["status"])["Ready"] == held_ready  # nothing overwritten blindly
    await worker._write_status(status.pod_status(running_view(worker.pod, ready=False)))
    conds = client.stored["status"]["conditions"]
    assert by_type(client.stored["status"])["Ready"]["reason"] == "ContainersNotReady"
    assert [c["type"] for c in conds] == ["PodScheduled", GATE, "PodReadyToStartContainers", "Initialized", "Ready",
                                          "ContainersReady"]


async def test_an_older_watch_event_does_not_replace_a_newer_pod() -> None:
    client = FakeClient(pod())
    worker = workers.PodWorker(FakeManager(client), copy.deepcopy(client.stored))  # type: ignore[arg-type]
    newer = copy.deepcopy(client.stored)
    newer["metadata"]["resourceVersion"] = "12"
    worker.pod = newer  # e.g. the answer to the worker's own status write
    older = copy.deepcopy(client.stored)
    older["metadata"]["resourceVersion"] = "11"
    worker.update(older)
    assert worker.pod is newer and not worker.wake.is_set()
    # A status-only change by another writer (a gate's condition) wakes the worker.
    later = copy.deepcopy(newer)
    later["metadata"]["resourceVersion"] = "13"
    later["status"]["conditions"] = [{"type": GATE, "status": "True"}]
    worker.update(later)
    assert worker.pod is later and worker.wake.is_set()
    await asyncio.sleep(0)


@pytest.mark.parametrize(("phase", "reason"), [("Succeeded", "PodCompleted"), ("Failed", "PodFailed")])
def test_a_finished_pod_is_unready_with_its_phase_as_reason(phase: str, reason: str) -> None:
    p = pod(gates=())
    p["status"]["phase"] = phase  # terminal is forever
    conds = by_type(status.pod_status(running_view(p, ready=False)))
    assert [(conds[t]["status"], conds[t]["reason"]) for t in ("Ready", "ContainersReady")] == [("False", reason)] * 2


# --- observedGeneration (pod generation tracking, GA in 1.35) ----------------------------------


def at_generation(p: dict[str, Any], gen: int) -> dict[str, Any]:
    p["metadata"]["generation"] = gen
    return p


def test_the_status_and_every_condition_of_the_agent_carry_the_generation_it_synced() -> None:
    theirs = {"type": GATE, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    st = status.pod_status(running_view(at_generation(pod(theirs), 3)))
    assert st["observedGeneration"] == 3
    owned = {c["type"]: c.get("observedGeneration") for c in st["conditions"] if c["type"] in status.OWNED_CONDITIONS}
    assert owned == dict.fromkeys(["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                   "PodScheduled"], 3)
    assert by_type(st)[GATE] == theirs  # a readiness gate's condition is its writer's to stamp


def test_a_spec_change_moves_observed_generation_and_nothing_else() -> None:
    held = at_generation(pod({"type": GATE, "status": "True"}), 1)
    held["status"] = status.pod_status(running_view(held))
    before = by_type(held["status"])
    held["metadata"]["generation"] = 2  # e.g. activeDeadlineSeconds set
    ops = status.status_patch("u1", held["status"], status.pod_status(running_view(held)))
    assert ops is not None
    written = jsonpatch.apply(copy.deepcopy(held), ops)["status"]
    assert written["observedGeneration"] == 2
    for kind, cond in by_type(written).items():
        if kind in status.OWNED_CONDITIONS:
            assert cond == {**before[kind], "observedGeneration": 2}  # transition times kept
    assert {op["path"] for op in ops if op["op"] == "add"} == {"/status/observedGeneration"}


def test_pod_scheduled_is_written_true_and_stamped_keeping_the_bindings_time() -> None:
    bound = {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": "2025-12-31T23:59:00Z"}
    scheduled = by_type(status.pod_status(running_view(at_generation(pod(bound), 1))))["PodScheduled"]
    assert scheduled == {**bound, "observedGeneration": 1}
    created_bound = by_type(status.pod_status(running_view(at_generation(pod(), 1))))["PodScheduled"]
    assert (created_bound["status"], created_bound["lastTransitionTime"]) == ("True", "2026-01-01T00:00:00Z")


def test_a_pod_failed_by_its_deadline_reports_the_generation_that_set_the_deadline() -> None:
    view = running_view(at_generation(pod(gates=()), 2))
    view.failed_reason = ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
    st = status.pod_status(view)
    assert (st["phase"], st["reason"], st["observedGeneration"]) == ("Failed", "DeadlineExceeded", 2)
    assert {c.get("observedGeneration") for c in st["conditions"]} == {2}


def test_without_a_generation_from_the_server_nothing_is_stamped() -> None:
    st = status.pod_status(running_view(pod()))
    assert "observedGeneration" not in st
    assert not any("observedGeneration" in c for c in st["conditions"])


async def test_a_spec_change_that_lands_before_the_status_write_is_synced_at_once() -> None:
    client = FakeClient(at_generation(pod(gates=()), 1))
    worker = workers.PodWorker(FakeManager(client), copy.deepcopy(client.stored))  # type: ignore[arg-type]
    computed = status.pod_status(running_view(worker.pod))
    # The spec changes on the server between the worker's read and its write: the watch
    # event of that change is older than the write's answer, so it will be dropped.
    client.stored["metadata"]["generation"] = 2
    client._bump()
    event = copy.deepcopy(client.stored)
    await worker._write_status(computed)
    assert client.stored["status"]["observedGeneration"] == 1
    assert worker.pod["metadata"]["generation"] == 2 and worker.wake.is_set()
    worker.wake.clear()
    worker.update(event)
    assert not worker.wake.is_set()  # dropped indeed: only the write's answer could tell
    await worker._write_status(status.pod_status(running_view(worker.pod)))
    assert client.stored["status"]["observedGeneration"] == 2 and not worker.wake.is_set()
