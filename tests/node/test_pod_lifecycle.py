"""Pods on a real Docker engine: what a user sees through the API while their pods run."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import pod_manifest
from tests.node.helpers import (
    condition,
    container_status,
    events,
    http_get,
    phase,
    pod_json,
    reasons,
)

pytestmark = pytest.mark.docker


def running(core: Any, ns: str, name: str, timeout: float = 20) -> dict[str, Any]:
    return wait_for(lambda: (p := pod_json(core, ns, name))["status"].get("phase") == "Running" and p,
                    timeout, 0.1, f"pod {name} Running")


def test_pod_serves_http_at_its_ip_and_reports_events(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("web", [{"name": "web"}]))
    pod = running(core, namespace, "web")
    status = pod["status"]
    assert status["podIP"] and status["hostIP"] and status["startTime"]
    assert wait_for(lambda: http_get(status["podIP"]), 10, 0.1, "HTTP answer", ignore=(OSError,)) == \
        "hello from kubelite\n"
    cs = container_status(core, namespace, "web", "web")
    assert cs["containerID"].startswith("docker://") and cs["imageID"] and cs["restartCount"] == 0
    assert "running" in cs["state"]
    wait_for(lambda: {"Pulled", "Created", "Started"} <= set(reasons(core, namespace, "web")), 10, 0.1, "events")
    started = [e for e in events(core, namespace, "web") if e["reason"] == "Started"][0]
    assert started["source"] == {"component": "kubelet", "host": "n1"}
    assert started["involvedObject"]["fieldPath"] == "spec.containers{web}"
    wait_for(lambda: condition(core, namespace, "web", "Ready") == "True", 10, 0.1, "Ready")


def test_two_containers_share_localhost(core: Any, namespace: str) -> None:
    probe = {"exec": {"command": ["wget", "-q", "-O-", "http://127.0.0.1:80/"]}, "periodSeconds": 1}
    core.create_namespaced_pod(namespace, pod_manifest("pair", [
        {"name": "web"},
        {"name": "client", "command": ["sleep", "3600"], "readinessProbe": probe},
    ]))
    # the client container is Ready only if it reaches the web container on localhost
    wait_for(lambda: container_status(core, namespace, "pair", "client").get("ready"), 20, 0.2, "client ready")
    assert condition(core, namespace, "pair", "Ready") == "True"


def test_env_from_configmap_and_secret_and_mounted_files(core: Any, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"},
                                                  "data": {"color": "blue", "greeting": "hi from a file"}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "sec"},
                                              "data": {"password": base64.b64encode(b"s3cret").decode()}})
    script = 'echo "$COLOR $PASSWORD $POD_NAME $PREFIX_color" > /www/index.html; cat /etc/cfg/greeting >> /www/index.html; ' \
             'cat /etc/sec/password >> /www/index.html; exec httpd -f -p 80 -h /www'
    core.create_namespaced_pod(namespace, pod_manifest("envs", [{
        "name": "web", "command": ["sh", "-c", script],
        "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "PREFIX_"}],
        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "sec", "mountPath": "/etc/sec"}],
    }], volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "sec", "secret": {"secretName": "sec"}}]))
    pod = running(core, namespace, "envs")
    body = wait_for(lambda: http_get(pod["status"]["podIP"]), 10, 0.1, "HTTP answer", ignore=(OSError,))
    assert body == "blue s3cret envs blue\nhi from a files3cret"


def test_missing_configmap_is_create_container_config_error(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("nocm", [{
        "name": "web", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]}]))
    wait_for(lambda: (container_status(core, namespace, "nocm", "web").get("state") or {}).get("waiting", {})
             .get("reason") == "CreateContainerConfigError", 15, 0.1, "CreateContainerConfigError")


def test_init_containers_run_in_order_before_the_app(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("init", [
        {"name": "web", "command": ["httpd", "-f", "-p", "80", "-h", "/work"],
         "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
    ], initContainers=[
        {"name": "first", "image": "kubelite-test/busybox:1.0", "command": ["sh", "-c", "sleep 0.5; echo one >> /work/index.html"],
         "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
        {"name": "second", "image": "kubelite-test/busybox:1.0", "command": ["sh", "-c", "echo two >> /work/index.html"],
         "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
    ], volumes=[{"name": "work", "emptyDir": {}}]))
    pod = running(core, namespace, "init", timeout=30)
    assert wait_for(lambda: http_get(pod["status"]["podIP"]), 10, 0.1, "HTTP", ignore=(OSError,)) == "one\ntwo\n"
    for name in ("first", "second"):
        term = container_status(core, namespace, "init", name, init=True)["state"]["terminated"]
        assert term["reason"] == "Completed" and term["exitCode"] == 0
    assert condition(core, namespace, "init", "Initialized") == "True"


def test_crash_loop_backoff_grows(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("crash", [{"name": "c", "command": ["sh", "-c", "exit 3"]}]))
    seen: dict[int, float] = {}
    saw_backoff = False

    def restarts() -> bool:
        nonlocal saw_backoff
        cs = container_status(core, namespace, "crash", "c")
        count = cs.get("restartCount", 0)
        seen.setdefault(count, time.monotonic())
        if (cs.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff":
            saw_backoff = True
            assert cs["lastState"]["terminated"]["exitCode"] == 3
            assert cs["lastState"]["terminated"]["reason"] == "Error"
        return count >= 4

    wait_for(restarts, 40, 0.05, "4 restarts")
    assert saw_backoff
    # agent backoff base is 1 s here (10 s in production): delays 1, 2, 4 s
    gaps = [seen[i + 1] - seen[i] for i in (1, 2, 3)]
    # (a busy engine may add latency to each restart; the doubling still shows)
    assert gaps[2] > 3.0 and gaps[2] > gaps[0], gaps
    # each death is handled at once (Docker events), not at the 10 s periodic resync: the
    # engine lists a container that just died as running for a moment after the event
    # (bounds with room for a loaded CI machine: 1 s and 2 s delays plus a container start)
    assert gaps[0] < 6.0 and gaps[1] < 7.0, gaps
    assert "BackOff" in reasons(core, namespace, "crash")
    assert phase(core, namespace, "crash") == "Running"  # restartPolicy Always: the pod keeps running


@pytest.mark.parametrize(("policy", "command", "expected"), [
    ("Never", "exit 1", "Failed"), ("OnFailure", "exit 0", "Succeeded"), ("Never", "exit 0", "Succeeded")])
def test_restart_policy_decides_the_final_phase(core: Any, namespace: str, policy: str, command: str,
                                                 expected: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("once", [{"name": "c", "command": ["sh", "-c", command]}],
                                                       restartPolicy=policy))
    wait_for(lambda: phase(core, namespace, "once") == expected, 20, 0.1, f"phase {expected}")
    cs = container_status(core, namespace, "once", "c")
    assert cs["restartCount"] == 0
    assert cs["state"]["terminated"]["reason"] == ("Completed" if expected == "Succeeded" else "Error")
    assert condition(core, namespace, "once", "Ready") == "False"


def test_liveness_failure_restarts_the_container(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("live", [{
        "name": "c", "command": ["sh", "-c", "touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 3600"],
        "livenessProbe": {"exec": {"command": ["test", "-f", "/tmp/alive"]}, "periodSeconds": 1,
                          "failureThreshold": 1},
    }], terminationGracePeriodSeconds=1))
    wait_for(lambda: container_status(core, namespace, "live", "c").get("restartCount", 0) >= 1, 25, 0.1,
             "a liveness restart")
    wait_for(lambda: {"Unhealthy", "Killing"} <= set(reasons(core, namespace, "live")), 10, 0.1, "events")
    unhealthy = [e for e in events(core, namespace, "live") if e["reason"] == "Unhealthy"][0]
    assert unhealthy["message"].startswith("Liveness probe failed")


def test_readiness_flips_the_ready_condition(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("ready", [{
        "name": "c", "command": ["sh", "-c", "sleep 1; touch /tmp/ready; sleep 3; rm /tmp/ready; sleep 3600"],
        "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1,
                           "failureThreshold": 1},
    }]))
    running(core, namespace, "ready")
    wait_for(lambda: condition(core, namespace, "ready", "Ready") == "True", 15, 0.1, "Ready=True")
    wait_for(lambda: condition(core, namespace, "ready", "Ready") == "False", 15, 0.1, "Ready=False again")
    assert condition(core, namespace, "ready", "ContainersReady") == "False"
    assert phase(core, namespace, "ready") == "Running"


def test_memory_limit_kills_with_oomkilled(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("oom", [{
        "name": "hog", "command": ["sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"],
        "resources": {"limits": {"memory": "16Mi"}},
    }], restartPolicy="Never"))
    wait_for(lambda: phase(core, namespace, "oom") == "Failed", 30, 0.1, "phase Failed")
    # the engine's OOM notice may land just after its exit notice: the reason follows
    wait_for(lambda: container_status(core, namespace, "oom", "hog")["state"]["terminated"]["reason"] == "OOMKilled",
             10, 0.1, "reason OOMKilled")
    assert container_status(core, namespace, "oom", "hog")["state"]["terminated"]["exitCode"] == 137


def test_graceful_deletion_runs_pre_stop_then_sigterm(core: Any, namespace: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o777)
    script = 'trap "echo term >> /data/log; exit 0" TERM; while true; do sleep 0.1; done'
    core.create_namespaced_pod(namespace, pod_manifest("graceful", [{
        "name": "c", "command": ["sh", "-c", script],
        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "echo prestop >> /data/log"]}}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }], volumes=[{"name": "data", "hostPath": {"path": str(data)}}]))
    running(core, namespace, "graceful")
    core.delete_namespaced_pod("graceful", namespace)
    # the server keeps the bound pod (deletionTimestamp set) until the agent is done
    from kubernetes.client.exceptions import ApiException

    def gone() -> bool:
        try:
            pod_json(core, namespace, "graceful")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, 20, 0.1, "pod deleted")
    assert (data / "log").read_text() == "prestop\nterm\n"
    assert "Killing" in reasons(core, namespace, "graceful")


def test_unpullable_image_reports_err_image_pull(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("nopull", [{
        "name": "c", "image": "registry.invalid/nothing:1.0"}]))
    wait_for(lambda: (container_status(core, namespace, "nopull", "c").get("state") or {}).get("waiting", {})
             .get("reason") in ("ErrImagePull", "ImagePullBackOff"), 30, 0.2, "ErrImagePull")
    wait_for(lambda: "Pulling" in reasons(core, namespace, "nopull") and "Failed" in reasons(core, namespace, "nopull"),
             10, 0.1, "Pulling and Failed events")
    assert phase(core, namespace, "nopull") == "Pending"


def test_image_events_of_an_init_container_name_it_as_one(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("pulls", [{"name": "web"}], initContainers=[
        {"name": "init1", "image": "kubelite-test/busybox:1.0", "command": ["true"]}]))

    def pulled() -> set[str]:
        return {e["involvedObject"].get("fieldPath", "") for e in events(core, namespace, "pulls")
                if e["reason"] == "Pulled"}

    wait_for(lambda: len(pulled()) == 2, 20, 0.1, "a Pulled event for each container")
    assert pulled() == {"spec.initContainers{init1}", "spec.containers{web}"}


def test_a_failed_exec_probe_reports_what_the_command_printed(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("unwell", [{
        "name": "c", "command": ["sh", "-c", "sleep 3600"],
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/ok"]}, "periodSeconds": 1, "failureThreshold": 1000},
        "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ok"]}, "periodSeconds": 1}}]))

    def unhealthy() -> set[str]:
        return {e["message"] for e in events(core, namespace, "unwell") if e["reason"] == "Unhealthy"}

    wait_for(lambda: len(unhealthy()) == 2, 20, 0.1, "an Unhealthy event for each probe")
    # the command's output alone, as kubelet's prober says it (and nothing when it printed nothing)
    assert unhealthy() == {"Liveness probe failed: cat: can't open '/tmp/ok': No such file or directory",
                           "Readiness probe failed: "}
