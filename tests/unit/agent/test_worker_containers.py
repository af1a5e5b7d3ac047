"""A pod worker's syncs on the fake runtime, against a stand-in API server: sidecars start
before the app containers and are stopped when a Job's pod is done, a changed image
replaces a running container, image events name init containers as such, and an exec
probe's failure reads as kubelet's."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from kubelite.agent import metrics as agent_metrics
from kubelite.agent import probes, volumes, workers
from kubelite.agent.runtime import fake
from kubelite.agent.runtime import interface as rt
from kubelite.api.patch import jsonpatch


class Server:
    """The pod's status subresource: JSON patches applied as the API server does."""

    def __init__(self, pod: dict[str, Any]) -> None:
        self.pod = pod

    async def patch(self, res: Any, name: str, ops: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
        self.pod = jsonpatch.apply(copy.deepcopy(self.pod), ops)
        self.pod["metadata"]["resourceVersion"] = str(int(self.pod["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(self.pod)

    async def get(self, res: Any, name: str, **kw: Any) -> dict[str, Any]:
        return copy.deepcopy(self.pod)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []  # (reason, fieldPath, message)

    def pod_event(self, pod: dict[str, Any], *, reason: str, message: str, type_: str = "Normal",
                  container: str | None = None, init: bool = False) -> None:
        path = f"spec.{'initContainers' if init else 'containers'}{{{container}}}" if container else ""
        self.events.append((reason, path, message))


class Manager:
    def __init__(self, server: Server, root: Path) -> None:
        self.client = server
        self.runtime = fake.FakeDriver()
        self.node_name = "n1"
        self.host_ip = "192.0.2.2"
        self.allocatable: dict[str, str] = {}
        self.recorder = Recorder()
        self.volumes = volumes.VolumeManager(server, root=root)  # type: ignore[arg-type]
        self.cluster_net = None  # no Service network: the node's resolver, no service variables
        self.metrics = agent_metrics.AgentMetrics()


def make_pod(containers: list[dict[str, Any]], *, inits: list[dict[str, Any]] | None = None,
             policy: str = "Always") -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "1"},
            "spec": {"nodeName": "n1", "restartPolicy": policy, "terminationGracePeriodSeconds": 1,
                     "containers": containers, "initContainers": inits or []},
            "status": {}}


def worker_for(pod: dict[str, Any], tmp_path: Path) -> tuple[workers.PodWorker, Server, Manager]:
    server = Server(pod)
    mgr = Manager(server, tmp_path)
    return workers.PodWorker(mgr, copy.deepcopy(pod)), server, mgr  # type: ignore[arg-type]


async def settle(worker: workers.PodWorker, syncs: int = 6) -> dict[str, Any]:
    for _ in range(syncs):
        await worker.sync()
    return worker.pod["status"]


def statuses(st: dict[str, Any], key: str = "containerStatuses") -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in st.get(key) or []}


async def test_a_pod_with_a_sidecar_starts_its_app_and_reports_both(tmp_path: Path) -> None:
    worker, _, _ = worker_for(make_pod([{"name": "main", "image": "img"}],
                                       inits=[{"name": "side", "image": "img", "restartPolicy": "Always"}]), tmp_path)
    try:
        st = await settle(worker)
        assert st["phase"] == "Running"
        side = statuses(st, "initContainerStatuses")["side"]
        assert ("running" in side["state"], side["started"], side["ready"]) == (True, True, True)
        assert "running" in statuses(st)["main"]["state"]
        assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"
    finally:
        await worker.tg.close()


async def test_a_jobs_pod_stops_its_sidecar_once_the_app_is_done(tmp_path: Path) -> None:
    worker, _, mgr = worker_for(make_pod([{"name": "main", "image": "img"}], policy="Never",
                                         inits=[{"name": "side", "image": "img", "restartPolicy": "Always"}]), tmp_path)
    try:
        await settle(worker)
        main = next(c for c in await mgr.runtime.list_containers(node_name="n1") if c.name == "main")
        await mgr.runtime.stop_container(main.id, timeout=0)  # the fake's app "exits" (137)
        mgr.runtime._containers[main.id] = (  # …with success
            rt.ContainerInfo(**{**main.__dict__, "state": rt.State.EXITED, "exit_code": 0}), "n1")
        st = await settle(worker)
        assert st["phase"] == "Succeeded"
        assert "terminated" in statuses(st, "initContainerStatuses")["side"]["state"]
        assert ("Killing", "spec.initContainers{side}", "Stopping container side") in mgr.recorder.events
        states = {c.name: c.state for c in await mgr.runtime.list_containers(node_name="n1")}
        assert states == {"side": rt.State.EXITED, "main": rt.State.EXITED}  # not restarted
    finally:
        await worker.tg.close()


async def test_a_new_image_replaces_the_running_container_as_a_restart(tmp_path: Path) -> None:
    pod = make_pod([{"name": "c", "image": "img:1"}])
    worker, server, mgr = worker_for(pod, tmp_path)
    try:
        await settle(worker)
        server.pod["spec"]["containers"][0]["image"] = "img:2"  # kubectl set image
        server.pod["metadata"]["resourceVersion"] = "100"
        worker.update(copy.deepcopy(server.pod))
        st = await settle(worker)
        c = statuses(st)["c"]
        assert (c["restartCount"], c["image"], "running" in c["state"]) == (1, "img:2", True)
        assert "terminated" in c["lastState"]
        running = [i for i in await mgr.runtime.list_containers(node_name="n1") if i.state == rt.State.RUNNING]
        assert [(i.image, i.attempt) for i in running] == [("img:2", 1)]
        assert ("Killing", "spec.containers{c}", "Container c definition changed, will be restarted") \
            in mgr.recorder.events
    finally:
        await worker.tg.close()


async def test_image_events_of_an_init_container_name_it_as_one(tmp_path: Path) -> None:
    worker, _, mgr = worker_for(make_pod([{"name": "web", "image": "img"}],
                                         inits=[{"name": "init1", "image": "img"}]), tmp_path)
    try:
        await settle(worker)
        pulled = {path for reason, path, _ in mgr.recorder.events if reason == "Pulled"}
        assert pulled == {"spec.initContainers{init1}", "spec.containers{web}"}
    finally:
        await worker.tg.close()


class Exec:
    def __init__(self, code: int, output: bytes) -> None:
        self.result = rt.ExecResult(exit_code=code, output=output)

    async def exec(self, container_id: str, cmd: list[str], *, timeout: float) -> rt.ExecResult:
        return self.result


async def run_exec(code: int, output: bytes) -> probes.Outcome:
    return await probes.run_handler({"exec": {"command": ["cat", "/tmp/ok"]}}, runtime=Exec(code, output),  # type: ignore[arg-type]
                                    container_id="c", container={}, pod_ip="", timeout=1)


async def test_a_failed_exec_probe_says_only_what_the_command_printed() -> None:
    outcome = await run_exec(1, b"cat: can't open '/tmp/ok': No such file or directory\n")
    assert outcome.message == "cat: can't open '/tmp/ok': No such file or directory"
    assert outcome.reason == "command 'cat /tmp/ok' exited with 1: cat: can't open '/tmp/ok': No such file or directory"
    assert (await run_exec(1, b"")).message == ""  # kubelet's "Liveness probe failed: "
    timed_out = await run_exec(-1, b"command timed out")
    assert timed_out.message == 'command "cat /tmp/ok" timed out'
    assert (await run_exec(0, b"fine")) == probes.Outcome(True)
