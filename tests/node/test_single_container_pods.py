"""Single-container pods run as one Docker container (no pause sandbox) yet keep upstream
pod semantics: one IP for the pod's whole life, env ``status.podIP`` known at the first
start, hostname and hostPort, ``logs --previous``, adoption by a restarted agent. Pods
with several containers keep their pause sandbox, on the same pod network."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubelite.agent.runtime import plumbing
from tests.conftest import free_port, wait_for
from tests.node.conftest import Agent, pod_manifest
from tests.node.helpers import container_status, http_get, phase, pod_json
from tests.support import processes

pytestmark = pytest.mark.docker
KUBECTL = str(Path(sys.executable).parent / "kubectl")


def containers_of(uid: str, *, running: bool = False) -> list[dict[str, Any]]:
    """Every container of the pod (any state), as ``docker inspect`` shows it."""
    args = ["docker", "ps", "-q", "--filter", f"label=io.kubelite.pod-uid={uid}"] + ([] if running else ["-a"])
    ids = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return []
    # A container the agent removes between the two commands is missing from the answer
    # (docker inspect then also exits 1, after printing the others).
    out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=False).stdout
    return list(json.loads(out or "[]"))


def kinds(uid: str) -> list[str]:
    return sorted(c["Config"]["Labels"]["io.kubelite.kind"] for c in containers_of(uid))


def ip_of(container: dict[str, Any]) -> str:
    """The address Docker attached, else (a pod the agent plumbed itself, network none)
    the one its eth0 really has."""
    ip = str((container["NetworkSettings"]["Networks"].get("kubelite") or {}).get("IPAddress") or "")
    if ip or not container["State"]["Running"]:
        return ip
    out = subprocess.run(["docker", "exec", container["Id"], "ip", "-o", "-4", "addr", "show", "dev", "eth0"],
                         check=False, capture_output=True, text=True).stdout.split()
    return out[out.index("inet") + 1].split("/")[0] if "inet" in out else ""


def running_ips(uid: str) -> list[str]:
    return [ip_of(c) for c in containers_of(uid, running=True)]


def test_single_container_pod_has_no_pause_and_keeps_its_ip_across_a_crash(core: Any, namespace: str) -> None:
    env = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    core.create_namespaced_pod(namespace, pod_manifest("solo", [{
        "name": "app", "env": env,
        "command": ["sh", "-c", "echo ip=$POD_IP host=$(hostname); sleep 2; exit 3"]}]))
    wait_for(lambda: phase(core, namespace, "solo") == "Running", 20, 0.1, "solo Running")
    pod = pod_json(core, namespace, "solo")
    uid, pod_ip = pod["metadata"]["uid"], pod["status"]["podIP"]
    # No sandbox container. (Only app containers: a loaded machine may already have seen
    # the first one crash, 2 s after its start, and its replacement created.)
    assert set(kinds(uid)) == {"app"}
    assert wait_for(lambda: running_ips(uid), 10, 0.1, "app container running") == [pod_ip]
    if not plumbing.unavailable_reason(docker_url=None):
        # On a host that allows it (root, static busybox and docker-init, local engine) the
        # agent wires the pod itself, and the engine made no network sandbox for it.
        app = wait_for(lambda: containers_of(uid, running=True), 10, 0.1, "app container running")[0]
        assert app["Config"]["Labels"].get(plumbing.LABEL_PLUMB) == "veth", app["Config"]["Labels"]
        assert app["Config"].get("NetworkDisabled") is True and app["NetworkSettings"]["SandboxKey"] == ""
    wait_for(lambda: f"ip={pod_ip} host=solo" in core.read_namespaced_pod_log("solo", namespace), 10, 0.2,
             "env status.podIP and the hostname printed")

    # the container crashes; its replacement is a new container with the same address
    wait_for(lambda: container_status(core, namespace, "solo", "app").get("restartCount", 0) >= 1
             and running_ips(uid) == [pod_ip], 20, 0.2, "restarted on the same IP")
    assert pod_json(core, namespace, "solo")["status"]["podIP"] == pod_ip
    # The exited container is kept beside its replacement, for --previous. (A third one
    # exists from a new attempt's creation to the agent's next sync, which prunes the
    # oldest: the crashes go on, every 2 s.)
    wait_for(lambda: len(cs := containers_of(uid)) == 2 and any(c["State"]["Status"] == "exited" for c in cs),
             10, 0.05, "the replacement and the exited container before it")
    previous = core.read_namespaced_pod_log("solo", namespace, previous=True)
    assert f"ip={pod_ip} host=solo" in previous


def test_two_container_pod_keeps_a_pause_sandbox_on_the_pod_network(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("pair", [
        {"name": "web"}, {"name": "side", "command": ["sleep", "3600"]}]))
    wait_for(lambda: phase(core, namespace, "pair") == "Running", 20, 0.1, "pair Running")
    pod = pod_json(core, namespace, "pair")
    uid, pod_ip = pod["metadata"]["uid"], pod["status"]["podIP"]
    assert kinds(uid) == ["app", "app", "sandbox"]
    sandbox = next(c for c in containers_of(uid) if c["Config"]["Labels"]["io.kubelite.kind"] == "sandbox")
    assert ip_of(sandbox) == pod_ip and sandbox["Config"]["Labels"]["io.kubelite.pod-ip"] == pod_ip
    assert wait_for(lambda: http_get(pod_ip), 10, 0.1, "HTTP answer", ignore=(OSError,)) == "hello from kubelite\n"


def test_host_port_reaches_a_single_container_pod(core: Any, namespace: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    core.create_namespaced_pod(namespace, pod_manifest("hp", [
        {"name": "web", "ports": [{"containerPort": 80, "hostPort": port}]}]))
    wait_for(lambda: phase(core, namespace, "hp") == "Running", 20, 0.1, "hp Running")
    assert kinds(pod_json(core, namespace, "hp")["metadata"]["uid"]) == ["app"]
    assert wait_for(lambda: http_get("127.0.0.1", port), 10, 0.1, "HTTP on the hostPort",
                    ignore=(OSError,)) == "hello from kubelite\n"


def test_restarted_agent_adopts_a_single_container_pod_on_its_ip(core: Any, namespace: str, agent: Agent) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("steady", [{"name": "web"}]))
    core.create_namespaced_pod(namespace, pod_manifest("victim", [{"name": "app", "command": ["sleep", "3600"]}]))
    for name in ("steady", "victim"):
        wait_for(lambda n=name: phase(core, namespace, n) == "Running", 20, 0.1, f"{name} Running")
    steady, victim = pod_json(core, namespace, "steady"), pod_json(core, namespace, "victim")
    steady_before = [c["Id"] for c in containers_of(steady["metadata"]["uid"])]
    victim_ip = victim["status"]["podIP"]

    agent.kill(signal.SIGKILL)
    # While the agent is down the victim's only container dies: the restarted agent must
    # replace it on the same address, knowing the pod only from container labels.
    subprocess.run(["docker", "kill", *[c["Id"] for c in containers_of(victim["metadata"]["uid"], running=True)]],
                   capture_output=True, check=True)
    agent.start()

    vuid = victim["metadata"]["uid"]
    wait_for(lambda: running_ips(vuid) == [victim_ip] and kinds(vuid) == ["app", "app"], 30, 0.2,
             f"victim restarted once on {victim_ip}:\n{agent.tail()}")
    wait_for(lambda: container_status(core, namespace, "victim", "app").get("restartCount") == 1, 20, 0.2,
             "status caught up")
    assert pod_json(core, namespace, "victim")["status"]["podIP"] == victim_ip
    # the untouched pod was adopted: the same single container, never a second copy
    assert [c["Id"] for c in containers_of(steady["metadata"]["uid"])] == steady_before
    assert pod_json(core, namespace, "steady")["status"]["podIP"] == steady["status"]["podIP"]


def test_network_gate_is_invisible_and_the_network_is_up_at_the_first_instruction(
        core: Any, namespace: str, server: processes.ServerProcess) -> None:
    core.create_namespaced_pod(namespace, pod_manifest("web", [{"name": "web"}]))
    wait_for(lambda: phase(core, namespace, "web") == "Running", 20, 0.1, "web Running")
    web_ip = pod_json(core, namespace, "web")["status"]["podIP"]
    gateway = "10.88.0.1"  # the host's address on the pod network (podnet's default subnet)
    # The app's very first actions need the network: another pod, and the host. (nc: the
    # test image's static busybox wget crashes resolving even an IP literal.)
    script = (f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {web_ip} 80 | grep -q '^hello from kubelite' "
              f"&& echo POD-OK; ping -c 1 -W 3 {gateway} >/dev/null && echo HOST-OK; exec sleep 3600")
    core.create_namespaced_pod(namespace, pod_manifest("first", [{"name": "app", "command": ["sh", "-c", script]}]))
    wait_for(lambda: phase(core, namespace, "first") == "Running", 20, 0.1, "first Running")
    wait_for(lambda: "HOST-OK" in core.read_namespaced_pod_log("first", namespace), 10, 0.2,
             "first's network checks ran")
    assert core.read_namespaced_pod_log("first", namespace).splitlines() == ["POD-OK", "HOST-OK"]

    # kubectl exec sees what Docker's own path shows: PID 1 docker-init running the app's
    # argv, the app its child, with the environment it was given: no trace of the gate.
    kubectl = [KUBECTL, "--kubeconfig", str(server.kubeconfig), "-n", namespace, "exec", "first", "--"]
    ps = subprocess.run([*kubectl, "ps", "-o", "pid,ppid,args"], check=False, capture_output=True, text=True,
                        timeout=30)
    assert ps.returncode == 0, ps.stderr
    rows = [line.split(None, 2) for line in ps.stdout.splitlines()[1:]]
    apps = [r for r in rows if r[2] == "sleep 3600"]
    assert len(apps) == 1 and apps[0][1] == "1", ps.stdout
    assert rows[0][:2] == ["1", "0"] and rows[0][2].startswith("/sbin/docker-init -- sh -c printf"), ps.stdout
    assert not any("/.kubelite" in r[2] or "gate" in r[2] for r in rows), ps.stdout
    environ = subprocess.run([*kubectl, "sh", "-c", "tr '\\0' '\\n' </proc/1/environ"],
                             check=True, capture_output=True, text=True, timeout=30).stdout.splitlines()
    names = {line.split("=", 1)[0] for line in environ}  # what the app was started with (its
    # own shell, here, then adds these itself)
    assert "SHLVL" not in names and "PWD" not in names, environ
    hosts = subprocess.run([*kubectl, "cat", "/etc/hosts"], check=True, capture_output=True, text=True,
                           timeout=30).stdout
    first_ip = pod_json(core, namespace, "first")["status"]["podIP"]
    assert f"{first_ip}\tfirst" in hosts, hosts
    # The engine made no network sandbox for it: the agent wrote resolv.conf, as Docker
    # would have for network none (the host's, minus loopback nameservers).
    resolv = subprocess.run([*kubectl, "cat", "/etc/resolv.conf"], check=True, capture_output=True, text=True,
                            timeout=30).stdout
    host_servers = [line for line in Path("/etc/resolv.conf").read_text().splitlines()
                    if line.startswith("nameserver") and not line.split()[1].startswith(("127.", "::1"))]
    assert [line for line in resolv.splitlines() if line.startswith("nameserver")] == host_servers, resolv


def test_dns_config_and_host_aliases_reach_every_kind_of_pod(core: Any, namespace: str,
                                                              server: processes.ServerProcess) -> None:
    """dnsPolicy None + dnsConfig and hostAliases, in a pod the agent plumbs, a pod with a
    pause sandbox, and a hostPort pod the engine attaches."""
    dns = {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.0.0.53"], "searches": ["a.example"],
                                               "options": [{"name": "ndots", "value": "2"}]}}
    aliases = {"hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}]}
    sleeper = {"name": "app", "command": ["sleep", "3600"]}
    core.create_namespaced_pod(namespace, pod_manifest("plumbed", [dict(sleeper)], **dns, **aliases))
    core.create_namespaced_pod(namespace, pod_manifest("paired", [dict(sleeper), {**sleeper, "name": "side"}],
                                                       **dns, **aliases))
    core.create_namespaced_pod(namespace, pod_manifest(
        "ported", [{**sleeper, "ports": [{"containerPort": 8080, "hostPort": free_port()}]}], **dns, **aliases))
    kubectl = [KUBECTL, "--kubeconfig", str(server.kubeconfig), "-n", namespace, "exec"]
    for name, container in (("plumbed", "app"), ("paired", "side"), ("ported", "app")):
        wait_for(lambda n=name: phase(core, namespace, n) == "Running", 30, 0.1, f"{name} Running")
        cat = subprocess.run([*kubectl, name, "-c", container, "--", "cat", "/etc/resolv.conf", "/etc/hosts"],
                             check=True, capture_output=True, text=True, timeout=30).stdout.splitlines()
        assert "search a.example" in cat and "options ndots:2" in cat, (name, cat)
        aliased = {h for line in cat if line.split()[:1] == ["10.1.2.3"] for h in line.split()[1:]}
        assert aliased == {"foo.local", "bar.local"}, (name, cat)
        servers = [line for line in cat if line.startswith("nameserver")]
        # the engine's attached pods resolve through its embedded server, which forwards to ours
        assert servers in (["nameserver 10.0.0.53"], ["nameserver 127.0.0.11"]), (name, cat)
        if name == "plumbed" and not plumbing.unavailable_reason(docker_url=None):
            assert servers == ["nameserver 10.0.0.53"], cat
