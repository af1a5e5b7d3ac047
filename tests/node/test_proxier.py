"""The Service proxy on a real host (``kubelite.proxy.proxier``): real iptables, real
containers. Two busybox ``httpd`` backends, each answering its own name, and a client
container sit on the pods' Docker network ``kubelite``; a ``Proxier`` runs in this process
over a view we control. ClusterIPs are 10.43.250.x and nodePorts 32000-32100, clear of
other tests; container addresses are drawn from 10.88.250.0/24.

Every request to the service CIDR is sent while at least one proxier runs: its catch-all
REJECT is what keeps such traffic from ever leaving the machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import random
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubelite.aio import tasks
from kubelite.proxy import proxier as proxier_mod
from kubelite.proxy import rules, view
from tests.conftest import await_for, wait_for
from tests.node.conftest import IMAGE

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not proxier_mod.Proxier.available(), reason="needs root and a usable iptables"),
]

NETWORK = "kubelite"  # as kubelite/agent/runtime/podnet.py makes it
SUBNET, GATEWAY = "10.88.0.0/16", "10.88.0.1"
SERVICE_CIDR = "10.43.0.0/16"  # the Proxier's default
LABEL = "io.kubelite.test=proxier"
PORT = 8080  # where the backends listen; the Services expose 80
# busybox's own ``wget -T`` crashes (SIGSEGV) in the test image's static build: bound it with timeout
WGET = ("timeout", "4", "wget", "-qO-")


class MutableView(view.StaticView):
    """A ``StaticView`` whose content a test replaces (as informers would)."""

    def replace(self, services: list[dict[str, Any]], slices: list[dict[str, Any]]) -> None:
        self.__init__(services, slices)  # type: ignore[misc]


@dataclass
class Backends:
    a: str  # container address of backend "a" (answers "a")
    b: str
    client: str  # the client container's name
    client_ip: str
    names: dict[str, str]  # "a" / "b" / "client" → container name


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def _ensure_network() -> None:
    info = _docker("network", "inspect", NETWORK)
    if info.returncode != 0:
        made = _docker("network", "create", "--driver", "bridge", "--subnet", SUBNET, "--gateway", GATEWAY,
                       "--label", "io.kubelite.network=pods", NETWORK)
        if made.returncode != 0 and "already exists" not in made.stderr:
            pytest.fail(f"cannot create the pod network: {made.stderr}")
        info = _docker("network", "inspect", NETWORK)
    configs = json.loads(info.stdout)[0]["IPAM"]["Config"] or []
    if not any(c.get("Subnet") == SUBNET for c in configs):
        pytest.skip(f"network {NETWORK} exists with another subnet: {configs}")


def _run_container(name: str, command: str, addresses: list[str]) -> str:
    """Start a container on the pod network at one of ``addresses`` (another test or agent
    may hold one: Docker then says so and we take the next); its address."""
    for ip in addresses:
        done = _docker("run", "-d", "--name", name, "--label", LABEL, "--network", NETWORK, "--ip", ip,
                       IMAGE, "sh", "-c", command)
        if done.returncode == 0:
            return ip
        _docker("rm", "-f", name)
        if "address already in use" not in done.stderr.lower():
            pytest.fail(f"docker run {name}: {done.stderr}")
    pytest.fail(f"no free address for {name}")


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    _ensure_network()
    run = uuid.uuid4().hex[:6]
    names = {role: f"kl-proxier-{run}-{role}" for role in ("a", "b", "client")}
    free = [f"10.88.250.{i}" for i in random.sample(range(10, 250), 40)]
    try:
        ips: dict[str, str] = {}
        for role in ("a", "b"):
            serve = f"mkdir -p /www && echo {role} > /www/index.html && exec httpd -f -p {PORT} -h /www"
            ips[role] = _run_container(names[role], serve, [ip for ip in free if ip not in ips.values()])
        client_ip = _run_container(names["client"], "exec sleep 3600", [ip for ip in free if ip not in ips.values()])

        def answer(url: str) -> str:
            return _docker("exec", names["client"], *WGET, url).stdout.strip()
        for role, ip in ips.items():
            url = f"http://{ip}:{PORT}/"
            wait_for(functools.partial(answer, url), timeout=30, interval=0.2,
                     message=f"backend {role} answering at {url}")
        yield Backends(a=ips["a"], b=ips["b"], client=names["client"], client_ip=client_ip, names=names)
    finally:
        _docker("rm", "-f", *names.values())


@pytest.fixture(scope="module", autouse=True)
def nothing_leaves_for_the_service_cidr(backends: Backends) -> Iterator[None]:
    """Counts, for the whole module, packets from our containers that leave this host for
    the service CIDR (mangle POSTROUTING sees every packet going out, after DNAT): there
    must be none."""
    watch = f"kl-proxier-test-leaks-{uuid.uuid4().hex[:6]}"
    rule = ["-d", SERVICE_CIDR, "-m", "comment", "--comment", watch, "-j", "RETURN"]
    sources = [backends.a, backends.b, backends.client_ip]
    for ip in sources:
        subprocess.run(["iptables", "-w", "5", "-t", "mangle", "-I", "POSTROUTING", "1", "-s", ip, *rule], check=True)
    try:
        yield
        listing = subprocess.run(["iptables", "-w", "5", "-t", "mangle", "-L", "POSTROUTING", "-v", "-x", "-n"],
                                 capture_output=True, text=True, check=True).stdout
        leaked = sum(int(line.split()[0]) for line in listing.splitlines() if watch in line)
        assert leaked == 0, f"{leaked} packets to the service CIDR left the host"
    finally:
        for ip in sources:
            subprocess.run(["iptables", "-w", "5", "-t", "mangle", "-D", "POSTROUTING", "-s", ip, *rule])


def service(name: str, ip: str, *, node_port: int | None = None) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": 80, "targetPort": PORT, "protocol": "TCP"}
    spec: dict[str, Any] = {"clusterIP": ip, "ports": [port], "type": "ClusterIP"}
    if node_port is not None:
        port["nodePort"] = node_port
        spec["type"] = "NodePort"
    return {"metadata": {"namespace": "default", "name": name}, "spec": spec}


def endpoints(name: str, *ips: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": f"{name}-1", "labels": {view.SERVICE_NAME_LABEL: name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": PORT, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


StartProxier = Callable[[view.ServiceView], Awaitable[proxier_mod.Proxier]]


@pytest.fixture
async def start_proxier() -> AsyncIterator[StartProxier]:
    """Start proxiers (each under its own node name, hence suffix); all are closed at the end."""
    started: list[tuple[proxier_mod.Proxier, tasks.TaskGroup]] = []

    async def start(v: view.ServiceView) -> proxier_mod.Proxier:
        node = f"proxier-test-{uuid.uuid4().hex[:8]}"
        tg = tasks.TaskGroup(node)
        p = proxier_mod.Proxier(v, node_name=node)
        started.append((p, tg))
        await p.start(tg)
        await p.sync_now()  # raises if iptables refused the first ruleset (start only logs it)
        return p

    try:
        yield start
    finally:
        for p, tg in reversed(started):
            await p.close()
            await tg.close()


async def pod_get(container: str, url: str, times: int = 1) -> tuple[list[str], str]:
    """``times`` requests with busybox wget from inside ``container``: (answers, errors)."""
    script = f"for i in $(seq {times}); do {' '.join(WGET)} {url}; done"
    proc = await asyncio.create_subprocess_exec("docker", "exec", container, "sh", "-c", script,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30 + 4 * times)
    return out.decode().split(), err.decode()


async def host_get(url: str) -> str:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return str(resp.read().decode().strip())
    return await asyncio.to_thread(get)


def connect_error(ip: str, port: int) -> tuple[type[BaseException] | None, float]:
    """What a TCP connect from this host meets, and how long it took."""
    started = time.monotonic()
    try:
        socket.create_connection((ip, port), timeout=3).close()
    except OSError as exc:
        return type(exc), time.monotonic() - started
    return None, time.monotonic() - started


def chains_of(p: proxier_mod.Proxier) -> list[str]:
    saved = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return [line for line in saved.splitlines() if p.cfg.suffix in line]


async def test_a_cluster_ip_balances_between_both_ready_backends(backends: Backends,
                                                                  start_proxier: StartProxier) -> None:
    await start_proxier(view.StaticView([service("web", "10.43.250.1")],
                                        [endpoints("web", backends.a, backends.b)]))
    answers, errors = await pod_get(backends.client, "http://10.43.250.1/", times=30)
    assert set(answers) == {"a", "b"} and len(answers) == 30, (answers, errors)


def enable_hairpin(container: str) -> None:
    """Let the bridge send a frame back out of the port it came in by (the container's
    host-side veth): with br_netfilter, a pod's packet DNAT'ed to itself is bridged, not
    routed. kubelet does this for each pod (--hairpin-mode=hairpin-veth); it is the pod
    network's job, not the proxier's, so the test does it here in the agent's stead."""
    iflink = _docker("exec", container, "cat", "/sys/class/net/eth0/iflink").stdout.strip()
    for dev in Path("/sys/class/net").iterdir():
        if (dev / "ifindex").read_text().strip() == iflink:
            (dev / "brport" / "hairpin_mode").write_text("1")
            return
    pytest.fail(f"no host-side interface for {container}'s eth0 (iflink {iflink})")


async def test_a_pod_reaches_itself_through_its_own_service(backends: Backends,
                                                            start_proxier: StartProxier) -> None:
    enable_hairpin(backends.names["a"])
    await start_proxier(view.StaticView([service("self", "10.43.250.2")], [endpoints("self", backends.a)]))
    answers, errors = await pod_get(backends.names["a"], "http://10.43.250.2/", times=3)
    assert answers == ["a", "a", "a"], errors


async def test_the_host_reaches_a_cluster_ip(backends: Backends, start_proxier: StartProxier) -> None:
    await start_proxier(view.StaticView([service("web", "10.43.250.1")], [endpoints("web", backends.b)]))
    assert await host_get("http://10.43.250.1/") == "b"


async def test_a_node_port_answers_on_localhost_and_on_the_pods_gateway(backends: Backends,
                                                                        start_proxier: StartProxier) -> None:
    await start_proxier(view.StaticView([service("np", "10.43.250.3", node_port=32050)],
                                        [endpoints("np", backends.a)]))
    assert await host_get("http://127.0.0.1:32050/") == "a"
    answers, errors = await pod_get(backends.client, f"http://{GATEWAY}:32050/")
    assert answers == ["a"], errors


async def test_a_service_without_endpoints_and_an_unused_address_refuse_at_once(
        backends: Backends, start_proxier: StartProxier) -> None:
    await start_proxier(view.StaticView([service("empty", "10.43.250.4")], [endpoints("empty")]))
    for ip in ("10.43.250.4", "10.43.250.99"):  # a Service with no endpoint; no Service at all
        error, took = await asyncio.to_thread(connect_error, ip, 80)
        assert error is ConnectionRefusedError and took < 1.0, (ip, error, took)
        started = time.monotonic()
        answers, errors = await pod_get(backends.client, f"http://{ip}/")
        assert answers == [] and "Connection refused" in errors, errors
        assert time.monotonic() - started < 2.5


async def test_a_removed_endpoint_is_no_longer_chosen(backends: Backends, start_proxier: StartProxier) -> None:
    v = MutableView([service("web", "10.43.250.5")], [endpoints("web", backends.a, backends.b)])
    p = await start_proxier(v)
    answers, _ = await pod_get(backends.client, "http://10.43.250.5/", times=30)
    assert set(answers) == {"a", "b"}
    v.replace([service("web", "10.43.250.5")], [endpoints("web", backends.b)])
    await p.sync_now()
    answers, errors = await pod_get(backends.client, "http://10.43.250.5/", times=20)
    assert answers == ["b"] * 20, errors


async def test_a_change_of_the_view_is_applied_without_being_asked(
        backends: Backends, start_proxier: StartProxier, caplog: pytest.LogCaptureFixture) -> None:
    v = MutableView([service("late", "10.43.250.6")], [])
    p = await start_proxier(v)
    assert (await asyncio.to_thread(connect_error, "10.43.250.6", 80))[0] is ConnectionRefusedError
    caplog.set_level(logging.DEBUG, logger="kubelite.proxy.proxier")
    caplog.clear()
    v.replace([service("late", "10.43.250.6")], [endpoints("late", backends.a)])
    for _ in range(3):  # a burst of changes, as informers deliver them
        p.changed()

    async def answer() -> str:
        return await host_get("http://10.43.250.6/")
    assert await await_for(answer, timeout=10, message="the new endpoint answering", ignore=(OSError,)) == "a"
    syncs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("service rules synced")]
    assert len(syncs) == 1 and "endpoints=1" in syncs[0], syncs


async def test_a_failed_apply_is_logged_and_retried_and_never_opens_the_cidr(
        backends: Backends, start_proxier: StartProxier, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    v = MutableView([service("retry", "10.43.250.10")], [])
    p = await start_proxier(v)
    real_render = rules.render
    broken = [True]

    def render(services: list[dict[str, Any]], slices_of: rules.SlicesOf, cfg: rules.Config) -> rules.Tables:
        tables = real_render(services, slices_of, cfg)
        if not broken[0]:
            return tables
        bad = f"-A {cfg.chain('SERVICES')} -j KL-NO-SUCH-CHAIN\nCOMMIT"
        return dataclasses.replace(tables, nat=tables.nat.replace("COMMIT", bad))

    monkeypatch.setattr(rules, "render", render)
    caplog.set_level(logging.WARNING, logger="kubelite.proxy.proxier")
    v.replace([service("retry", "10.43.250.10")], [endpoints("retry", backends.a)])
    p.changed()

    def failure() -> str | None:
        return next((r.getMessage() for r in caplog.records if "service rules not applied" in r.getMessage()), None)
    message = await await_for(failure, timeout=10, message="the failed apply logged")
    assert "iptables-restore (nat)" in message and "KL-NO-SUCH-CHAIN" in message, message  # iptables' own words
    # half applied (filter yes, nat no): the Service is neither DNAT'ed nor let out
    assert (await asyncio.to_thread(connect_error, "10.43.250.10", 80))[0] is ConnectionRefusedError

    broken[0] = False  # no further change: the loop retries by itself, after its backoff

    async def answer() -> str:
        return await host_get("http://10.43.250.10/")
    assert await await_for(answer, timeout=15, message="the retried apply serving", ignore=(OSError,)) == "a"


async def test_close_leaves_none_of_its_chains_or_jumps(backends: Backends, start_proxier: StartProxier) -> None:
    p = await start_proxier(view.StaticView([service("np", "10.43.250.7", node_port=32051)],
                                            [endpoints("np", backends.a)]))
    lines = chains_of(p)
    assert any(line.startswith(f":{p.cfg.chain('SERVICES')}") for line in lines)
    assert len([line for line in lines if line.startswith("-A ") and "kubelite service portals" in line]) == 4
    await p.close()
    assert chains_of(p) == []
    await p.close()  # a second close finds nothing to do


async def test_two_proxiers_coexist_and_closing_one_keeps_the_other(backends: Backends,
                                                                    start_proxier: StartProxier) -> None:
    first = await start_proxier(view.StaticView([service("one", "10.43.250.8")], [endpoints("one", backends.a)]))
    second = await start_proxier(view.StaticView([service("two", "10.43.250.9", node_port=32052)],
                                                 [endpoints("two", backends.b)]))
    assert first.cfg.suffix != second.cfg.suffix
    assert (await pod_get(backends.client, "http://10.43.250.8/"))[0] == ["a"]
    assert (await pod_get(backends.client, "http://10.43.250.9/"))[0] == ["b"]
    await first.close()
    assert chains_of(first) == [] and chains_of(second) != []
    assert (await pod_get(backends.client, "http://10.43.250.9/"))[0] == ["b"]
    assert await host_get("http://127.0.0.1:32052/") == "b"
    # the first one's Service is gone, and the second's catch-all still keeps it on this host
    answers, errors = await pod_get(backends.client, "http://10.43.250.8/")
    assert answers == [] and "Connection refused" in errors
