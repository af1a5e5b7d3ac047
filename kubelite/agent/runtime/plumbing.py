"""CNI-style pod networking for single-container pods: the agent plumbs the netns itself.

Used only by ``kubelite.agent.runtime.docker.DockerDriver``. Docker attaching a container
to a user-defined network costs a lot per start (embedded DNS resolver: a re-exec and
several iptables execs per container), about 30 % of a pod's start-up. So a
single-container pod without hostPort starts with ``NetworkMode: none`` and the agent,
like kubelet's dockershim + CNI bridge did, wires it to the Linux bridge Docker already
made for the ``kubelite`` network (NAT and FORWARD rules exist for it):

- a veth pair, host end ``kl<container id[:12]>`` enslaved to the bridge, the peer
  created directly inside the container's netns (by its PID) as ``eth0`` with a MAC
  derived from the pod IP (a restarted pod keeps IP *and* MAC: no stale ARP entry on
  the host or on other pods);
- inside the netns (a short-lived thread that ``setns()``s there, no fork, no ``ip``
  exec): the pod IP, ``lo`` and ``eth0`` up, the default route via the gateway.

The app must not run before its network exists (Kubernetes' sandbox guarantee), so the
container's entrypoint is a gate: the host's static busybox, bind-mounted read-only at
``/.kubelite/busybox``, waits for the default route (the last thing plumbed) and then
``exec``s the Kubernetes-resolved argv, so the app replaces the gate and the gate leaves
no process behind. The veth dies with the netns; the address is released by ``podnet``
as for any pod.

The container is created with ``NetworkDisabled``: it still gets its own netns (``lo``
up), but the engine makes no network sandbox for it, so it runs no ``libnetwork-setkey``
prestart hook (a re-exec of dockerd per container: half the engine's CPU per start,
measured 100 starts in 8 s instead of 16 s). Without a sandbox the engine writes no
``/etc/hosts`` or ``/etc/resolv.conf``; the agent writes them per pod, as kubelet does
(``etcfiles``), and bind-mounts them.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import functools
import ipaddress
import logging
import os
import shlex
import shutil
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kubelite.agent.runtime import interface as rt

log = logging.getLogger("kubelite.agent.runtime.plumbing")

HOST_BUSYBOX = os.environ.get("KUBELITE_GATE_BUSYBOX", "") or "/bin/busybox"
BUSYBOX = "/.kubelite/busybox"  # where the gate's busybox appears inside the container
LABEL_PLUMB = "io.kubelite.plumb"  # "veth": the agent plumbs this container's netns
_CLONE_NEWNET = 0x40000000
_PT_INTERP = 3

INIT = "/.kubelite/docker-init"  # the host's docker-init (tini), static, read-only; comm as on Docker's path
DOCKER_INIT = "/sbin/docker-init"  # where Docker's own HostConfig.Init shows it

# The gate is PID 1 (the container has no HostConfig.Init): the traps make it stoppable
# while it waits, as PID 1 ignores signals it does not handle. It waits for the default
# route in /proc/net/route (the last step of the plumbing) with shell builtins only,
# polling with a doubling pause from 2 ms up to 128 ms (an agent killed mid-plumbing leaves
# the gate waiting until the restarted agent plumbs it). Each pause execs busybox's usleep
# (~0.7 ms CPU): plumbing usually lands tens of ms after the start, but in a burst of 100
# pods the engine answers the agent in seconds, and 100 gates polling every 10 ms burned
# more CPU than the engine had left (1.48x of docker run at N=100, against 1.02x at 30).
# Then it becomes docker-init, named as Docker
# names it, which runs the app exactly as HostConfig.Init would: PID 1 and the app look
# the same as on Docker's own path, and tini's execvp (not busybox's ash, which would
# prefer its own applets for "sleep" or "sh") looks the command up in the image's PATH.
_WAIT = ("trap 'exit 143' TERM; trap 'exit 130' INT; "
         'd=2000; while :; do while read -r i d2 r; do [ "$d2" = 00000000 ] && break 2; done </proc/net/route; '
         f'{BUSYBOX} usleep $d; [ $d -lt 128000 ] && d=$((d*2)); done; ')
_EXEC = f'exec -a {DOCKER_INIT} {INIT} -- "$@"'
_SHELL_VARS = ("PWD", "SHLVL")  # ash exports these; the app must see the env it was given

T = TypeVar("T")


class PlumbError(rt.DriverError):
    """The pod's network could not be set up."""


def _is_static_elf(path: str) -> bool:
    """A static executable runs in any image (no PT_INTERP program header)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
                return False
            order = "<" if head[5] == 1 else ">"
            phoff, = struct.unpack_from(order + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from(order + "I", table, i * phentsize)[0] != _PT_INTERP for i in range(phnum))


def unavailable_reason(*, docker_url: str | None) -> str:
    """Why the agent cannot plumb pods itself ("" when it can); the caller then keeps
    Docker's own network attachment."""
    if os.environ.get("KUBELITE_POD_PLUMBING", "1") == "0":
        return "disabled by KUBELITE_POD_PLUMBING=0"
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "needs root on Linux"
    if docker_url and not docker_url.startswith("unix://"):
        return "the Docker engine is remote"  # its containers' PIDs are not ours
    if not _is_static_elf(HOST_BUSYBOX):
        return f"no static busybox at {HOST_BUSYBOX} (Debian: busybox-static)"
    if not host_init():
        return "no static docker-init on PATH"
    try:
        import pyroute2  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return "pyroute2 missing"
    return ""


async def bridge_visible(bridge: str) -> bool:
    """True when the engine's bridge is a link in this agent's network namespace: only then
    can a container's veth be enslaved to it. Asked over netlink, which answers for the
    caller's namespace (``/sys/class/net`` shows the namespace of whoever mounted sysfs,
    and the host's PID 1 may not be ours to inspect)."""
    def lookup() -> bool:
        with _iproute() as ipr:
            return bool(ipr.link_lookup(ifname=bridge))

    try:
        return await _in_thread(lookup)
    except Exception as exc:  # noqa: BLE001 - no netlink, no plumbing
        log.info("netlink lookup of %s failed: %r", bridge, exc)
        return False


@functools.cache
def host_init() -> str:
    """The host's docker-init (a static tini), resolved: "" when missing or dynamic."""
    found = shutil.which("docker-init") or ""
    path = os.path.realpath(found) if found else ""
    return path if path and _is_static_elf(path) else ""


def resolve_argv(*, command: list[str] | None, args: list[str] | None,
                 image_config: dict[str, Any]) -> list[str]:
    """The argv Kubernetes runs: ``command`` or the image's Entrypoint, then ``args`` or
    (only without ``command``) the image's Cmd."""
    if command:
        return list(command) + list(args or [])
    entry = list(image_config.get("Entrypoint") or [])
    return entry + list(args if args else (image_config.get("Cmd") or []))


def gate(argv: list[str], *, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """(Entrypoint, Cmd) running ``argv`` once the pod network is up; the container needs
    ``HostConfig.Init`` off and the mounts of ``binds()``. ``env`` is the
    container's whole environment (image + pod): variables the shell adds are removed
    again, ones the user set are restored."""
    fix = []
    for name in _SHELL_VARS:
        fix.append(f"export {name}={shlex.quote(env[name])}; " if name in env else f"unset {name}; ")
    script = _WAIT + "".join(fix) + _EXEC
    return [BUSYBOX, "sh", "-c", script, "gate"], list(argv)


def binds() -> list[str]:
    """The gate's read-only bind mounts (``HostConfig.Binds`` entries)."""
    return [f"{HOST_BUSYBOX}:{BUSYBOX}:ro", f"{host_init()}:{INIT}:ro"]


def mac_for(ip: str) -> str:
    """Locally administered unicast MAC from the IPv4 address (as Docker's bridge did)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def host_ifname(container_id: str) -> str:
    return "kl" + container_id[:12]  # 14 chars: IFNAMSIZ allows 15


async def _in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` on a fresh thread that ends with it: a thread that ``setns()``ed into a
    container's netns must never run anything else (and need not switch back)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the awaiting coroutine
            loop.call_soon_threadsafe(deliver, None, exc)
        else:
            loop.call_soon_threadsafe(deliver, result, None)

    threading.Thread(target=run, name="kubelite-plumb", daemon=True).start()
    return await fut


@contextmanager
def _iproute() -> Iterator[Any]:
    """A synchronous netlink handle for this thread. pyroute2 runs it on a private event
    loop; a plain selector loop, since uvloop's (the agent's policy) rejects netlink."""
    from pyroute2 import IPRoute  # type: ignore[import-untyped]

    loop = asyncio.SelectorEventLoop()
    try:
        with IPRoute(groups=0, use_event_loop=loop) as ipr:  # groups=0: no event broadcasts
            yield ipr
    finally:
        loop.close()


def enable_hairpin(bridge: str, port: str = "") -> None:
    """Let the bridge send a pod's packets back out of the port they came in by (kubelet's
    hairpin-veth): a pod reaching its own Service is DNAT'ed by the node's proxy back to
    itself, and without hairpin the bridge drops that packet. ``port``: one veth, else every
    port of ``bridge`` (the ones the engine attached, whose names the agent does not know)."""
    base = Path("/sys/class/net")
    paths = ([base / port / "brport" / "hairpin_mode"] if port
             else list((base / bridge / "brif").glob("*/hairpin_mode")))
    for path in paths:
        try:
            if path.read_text().strip() != "1":
                path.write_text("1")
        except OSError:  # a port that went away meanwhile, or no sysfs (not root)
            continue


class Plumber:
    """Wires containers with ``NetworkMode: none`` to the pod network's bridge."""

    def __init__(self, *, bridge: str, gateway: str, prefixlen: int) -> None:
        self.bridge = bridge
        self.gateway = gateway
        self.prefixlen = prefixlen
        self._libc = ctypes.CDLL(None, use_errno=True)

    async def plumb(self, *, container_id: str, pid: int, ip: str) -> None:
        """Give the running container (``pid``) its ``eth0`` with ``ip``. Idempotent: a
        restarted agent calls it again for containers it finds, and completes whatever an
        agent killed mid-way left undone."""
        if pid <= 0:
            raise PlumbError(f"container {container_id[:12]} is not running")
        try:
            await _in_thread(lambda: self._plumb(host_ifname(container_id), pid, ip))
        except PlumbError:
            raise
        except Exception as exc:  # netlink or /proc errors: the container is replaced
            raise PlumbError(f"pod network for {container_id[:12]} ({ip}): {exc}") from exc

    def _plumb(self, host_if: str, pid: int, ip: str) -> None:
        from pyroute2 import NetlinkError  # type: ignore[import-untyped]

        # Opened first: it pins the netns, and a vanished process fails here, cleanly.
        nsfd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            with _iproute() as ipr:
                bridges = ipr.link_lookup(ifname=self.bridge)
                if not bridges:
                    raise PlumbError(f"bridge {self.bridge} of the pod network not found")
                found = ipr.link_lookup(ifname=host_if)
                if not found:
                    # The peer is born inside the netns, already named eth0: no rename.
                    ipr.link("add", ifname=host_if, kind="veth",
                             peer={"ifname": "eth0", "address": mac_for(ip), "net_ns_pid": pid})
                    found = ipr.link_lookup(ifname=host_if)
                ipr.link("set", index=found[0], master=bridges[0], state="up")
            enable_hairpin(self.bridge, host_if)
            if self._libc.setns(nsfd, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns: {os.strerror(err)}")
            # From here this thread lives in the pod's netns until it ends.
            with _iproute() as ns:
                lo = ns.link_lookup(ifname="lo")
                eth = ns.link_lookup(ifname="eth0")
                if not eth:
                    raise PlumbError("eth0 missing in the pod's netns")
                if lo:
                    ns.link("set", index=lo[0], state="up")
                for step in (lambda: ns.addr("add", index=eth[0], address=ip, prefixlen=self.prefixlen),
                             lambda: ns.link("set", index=eth[0], state="up"),
                             # last: the gate waits for the default route
                             lambda: ns.route("add", dst="0.0.0.0/0", gateway=self.gateway)):
                    try:
                        step()
                    except NetlinkError as exc:
                        if exc.code != errno.EEXIST:  # done before an agent restart
                            raise
        finally:
            os.close(nsfd)
