"""Init containers and native sidecars (``restartPolicy: Always`` init containers): which
ones a sync acts on and when the app containers may start (``initcontainers``), and the
phase, conditions and statuses a pod with sidecars reports (``status``), as kubelet's
computeInitContainerActions and getPhase decide them."""

from __future__ import annotations

from typing import Any

from kubelite.agent import initcontainers, status
from kubelite.agent.runtime import interface as rt

RUNNING, EXITED, CREATED = rt.State.RUNNING, rt.State.EXITED, rt.State.CREATED


def info(name: str, state: rt.State = RUNNING, *, exit_code: int = 0, attempt: int = 0) -> rt.ContainerInfo:
    return rt.ContainerInfo(id=f"{name}-{attempt}", pod_uid="u1", pod_name="p", namespace="ns", name=name,
                            attempt=attempt, kind="init", state=state, exit_code=exit_code, started_at=1.0,
                            finished_at=2.0 if state == EXITED else 0.0)


def regular(name: str) -> dict[str, Any]:
    return {"name": name, "image": "img"}


def sidecar(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "img", "restartPolicy": "Always", **extra}


def plan(inits: list[dict[str, Any]], *running: rt.ContainerInfo, app_ran: bool = False, policy: str = "Always",
         unstarted: tuple[str, ...] = ()) -> tuple[list[str], bool]:
    out = initcontainers.plan(inits, {c.name: c for c in running}, started=lambda c: c.name not in unstarted,
                              app_ran=app_ran, restart_policy=policy)
    return [c["name"] for c in out.attend], out.initialized


# --- what a sync acts on ----------------------------------------------------------------------


def test_a_pod_without_init_containers_is_initialized() -> None:
    assert plan([]) == ([], True)


def test_regular_init_containers_run_one_after_the_other() -> None:
    inits = [regular("a"), regular("b")]
    assert plan(inits) == (["a"], False)
    assert plan(inits, info("a")) == ([], False)  # running: wait for it
    assert plan(inits, info("a", EXITED)) == (["b"], False)
    assert plan(inits, info("a", EXITED), info("b", EXITED)) == ([], True)


def test_a_failed_init_container_is_run_again_unless_the_pod_never_restarts() -> None:
    inits = [regular("a"), regular("b")]
    assert plan(inits, info("a", EXITED, exit_code=1)) == (["a"], False)
    assert plan(inits, info("a", EXITED, exit_code=1), policy="OnFailure") == (["a"], False)
    assert plan(inits, info("a", EXITED, exit_code=1), policy="Never") == ([], False)


def test_a_started_sidecar_lets_the_next_container_start_and_stays_watched() -> None:
    inits = [sidecar("side"), regular("b")]
    assert plan(inits) == (["side"], False)
    assert plan(inits, info("side")) == (["side", "b"], False)
    assert plan(inits, info("side"), info("b", EXITED)) == (["side"], True)
    assert plan([sidecar("side")], info("side")) == (["side"], True)  # the last one: the app may start


def test_a_sidecar_holds_the_next_one_back_until_its_startup_probe_passes() -> None:
    inits = [sidecar("side", startupProbe={"exec": {"command": ["true"]}}), regular("b")]
    assert plan(inits, info("side"), unstarted=("side",)) == (["side"], False)
    assert plan(inits, info("side")) == (["side", "b"], False)


def test_a_sidecar_that_exited_is_restarted_and_holds_back_only_what_never_ran() -> None:
    inits = [sidecar("side"), regular("b")]
    # it exited before the next one ever ran: restarted, and the next one waits for it
    assert plan(inits, info("side", EXITED)) == (["side"], False)
    # the next one ran already: the sidecar is restarted beside it
    assert plan(inits, info("side", EXITED), info("b")) == (["side"], False)
    assert plan(inits, info("side", EXITED), info("b", EXITED)) == (["side"], True)
    # whatever the pod's restartPolicy
    assert plan(inits, info("side", EXITED, exit_code=0), info("b", EXITED), policy="Never") == (["side"], True)


def test_once_an_app_container_ran_only_sidecars_need_the_worker() -> None:
    inits = [regular("a"), sidecar("side"), regular("b")]
    assert plan(inits, info("side", EXITED, exit_code=137), app_ran=True) == (["side"], True)
    assert plan(inits, app_ran=True) == (["side"], True)  # its record gone: started again


def test_a_pod_is_finished_when_no_app_container_will_run_again() -> None:
    apps = [{"name": "main"}, {"name": "other"}]
    done = {"main": info("main", EXITED), "other": info("other", EXITED, exit_code=2)}
    assert initcontainers.finished(apps, done, restart_policy="Never")
    assert not initcontainers.finished(apps, done, restart_policy="OnFailure")  # "other" is restarted
    assert not initcontainers.finished(apps, done, restart_policy="Always")
    assert not initcontainers.finished(apps, {**done, "other": info("other")}, restart_policy="Never")
    assert not initcontainers.finished(apps, {"main": info("main", EXITED)}, restart_policy="Never")
    assert initcontainers.finished(apps, {**done, "other": info("other", EXITED)}, restart_policy="OnFailure")


# --- the status of a pod with sidecars --------------------------------------------------------


def view(inits: list[status.ContainerView], apps: list[status.ContainerView], *,
         policy: str = "Always") -> status.PodView:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
           "spec": {"restartPolicy": policy, "initContainers": [c.spec for c in inits],
                    "containers": [c.spec for c in apps]},
           "status": {"phase": "Pending"}}
    return status.PodView(pod=pod, runtime_name="docker", init=inits, app=apps, pod_ip="10.88.0.2",
                          host_ip="192.0.2.2", sandbox_ready=True, start_time="2026-01-01T00:00:00Z")


def cv(spec: dict[str, Any], cur: rt.ContainerInfo | None, *, started: bool = True, ready: bool = True,
       previous: rt.ContainerInfo | None = None, waiting: tuple[str, str] | None = None) -> status.ContainerView:
    return status.ContainerView(spec=spec, current=cur, previous=previous, waiting=waiting,
                                started=started and cur is not None and cur.state == RUNNING,
                                ready=ready and cur is not None and cur.state == RUNNING)


def conditions(st: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c.get("reason", ""), c.get("message", "")) for c in st["conditions"]}


def test_a_sidecar_not_started_yet_keeps_the_pod_pending_and_uninitialized() -> None:
    st = status.pod_status(view([cv(sidecar("side"), info("side"), started=False, ready=False)],
                                [cv({"name": "main"}, None)]))
    assert st["phase"] == "Pending"
    assert conditions(st)["Initialized"] == ("False", "ContainersNotInitialized",
                                             "containers with incomplete status: [side]")
    side = st["initContainerStatuses"][0]
    assert (side["started"], side["ready"], list(side["state"])) == (False, False, ["running"])


def test_a_running_pod_counts_its_sidecar_in_its_readiness() -> None:
    side = sidecar("side", readinessProbe={"exec": {"command": ["true"]}})
    st = status.pod_status(view([cv(side, info("side"), ready=False)], [cv({"name": "main"}, info("main"))]))
    assert st["phase"] == "Running"
    assert conditions(st)["Initialized"] == ("True", "", "")
    assert conditions(st)["ContainersReady"] == ("False", "ContainersNotReady",
                                                 "containers with unready status: [side]")
    assert conditions(st)["Ready"][0] == "False"
    assert (st["initContainerStatuses"][0]["started"], st["initContainerStatuses"][0]["ready"]) == (True, False)

    st = status.pod_status(view([cv(side, info("side"))], [cv({"name": "main"}, info("main"), ready=False)]))
    assert conditions(st)["Ready"][2] == "containers with unready status: [main]"
    st = status.pod_status(view([cv(side, info("side"))], [cv({"name": "main"}, info("main"))]))
    assert conditions(st)["Ready"][0] == conditions(st)["ContainersReady"][0] == "True"


def test_a_sidecar_restarting_after_the_app_ran_neither_uninitializes_nor_stops_the_pod() -> None:
    crashed = info("side", EXITED, exit_code=1, attempt=3)
    side = cv(sidecar("side"), crashed, waiting=("CrashLoopBackOff", "back-off 40s"),
              previous=info("side", EXITED, exit_code=1, attempt=2))
    st = status.pod_status(view([side], [cv({"name": "main"}, info("main"))], policy="Never"))
    assert st["phase"] == "Running"
    assert conditions(st)["Initialized"] == ("True", "", "")
    assert st["initContainerStatuses"][0]["restartCount"] == 3
    assert st["initContainerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"


def test_a_jobs_pod_succeeds_when_its_app_is_done_whatever_its_stopped_sidecar_says() -> None:
    stopped = info("side", EXITED, exit_code=143)
    st = status.pod_status(view([cv(regular("setup"), info("setup", EXITED)), cv(sidecar("side"), stopped)],
                                [cv({"name": "main"}, info("main", EXITED))], policy="Never"))
    assert st["phase"] == "Succeeded"
    assert conditions(st)["Initialized"] == ("True", "PodCompleted", "")
    assert conditions(st)["Ready"][:2] == ("False", "PodCompleted")

    # while the sidecar still runs, the pod does too (the worker stops it next)
    st = status.pod_status(view([cv(sidecar("side"), info("side"))], [cv({"name": "main"}, info("main", EXITED))],
                                policy="Never"))
    assert st["phase"] == "Running"


def test_a_failed_app_fails_a_jobs_pod_with_a_sidecar() -> None:
    st = status.pod_status(view([cv(sidecar("side"), info("side", EXITED, exit_code=143))],
                                [cv({"name": "main"}, info("main", EXITED, exit_code=1))], policy="Never"))
    assert st["phase"] == "Failed"


def test_regular_init_containers_keep_their_phase_rules() -> None:
    failed = info("setup", EXITED, exit_code=1)
    st = status.pod_status(view([cv(regular("setup"), failed)], [cv({"name": "main"}, None)], policy="Never"))
    assert st["phase"] == "Failed"
    st = status.pod_status(view([cv(regular("setup"), info("setup"))], [cv({"name": "main"}, None)]))
    assert st["phase"] == "Pending"
    setup = st["initContainerStatuses"][0]
    assert (setup["started"], setup["ready"]) == (True, False)
    st = status.pod_status(view([cv(regular("setup"), info("setup", EXITED))], [cv({"name": "main"}, info("main"))]))
    assert (st["phase"], st["initContainerStatuses"][0]["ready"]) == ("Running", True)
