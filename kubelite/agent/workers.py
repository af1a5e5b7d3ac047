"""One worker per pod: drives the pod's sandbox and containers toward its spec.

``kubelite.agent.pods.PodManager`` creates a ``PodWorker`` for every pod bound to the node
and wakes it when the pod changes, when the runtime reports a container event, or when a
probe flips. Each wake runs ``sync`` (upstream's SyncPod): read the pod's containers from
the runtime (the source of truth, so a restarted agent adopts what it finds), decide the
next actions, act, and write the status if it changed. Syncs of one pod never overlap,
so a container is never created twice.

Restarts follow ``restartPolicy`` with upstream's CrashLoopBackOff: the first restart is
immediate, later ones wait 10 s doubling to 5 min after the previous exit, and the delay
resets once a container ran 10 min. Deletion is graceful: preStop hooks and SIGTERM, up
to the grace period, then SIGKILL, removal, and the final DELETE with grace 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from kubelite.agent import envs, probes, volumes
from kubelite.agent import status as status_mod
from kubelite.agent.runtime import interface as rt
from kubelite.aio import tasks
from kubelite.api.validation import pods as pod_validation
from kubelite.client import errors, resources

if TYPE_CHECKING:
    from kubelite.agent.pods import PodManager

log = logging.getLogger("kubelite.agent.workers")

Obj = dict[str, Any]

BACKOFF_BASE = float(os.environ.get("KUBELITE_AGENT_BACKOFF_BASE", "10"))  # tests shorten it
BACKOFF_MAX = 300.0
BACKOFF_RESET_AFTER = 600.0
VOLUME_REFRESH = 60.0



def pod_dns(spec: dict[str, Any]) -> rt.DNSConfig:
    """dnsPolicy + dnsConfig as kubelet reads them with no cluster DNS (kubelite runs none):
    ClusterFirst falls back to Default, the node's resolver; None uses dnsConfig alone."""
    conf = spec.get("dnsConfig") or {}
    options = [f"{o['name']}:{o['value']}" if o.get("value") not in (None, "") else str(o["name"])
               for o in conf.get("options") or [] if o.get("name")]
    return rt.DNSConfig(use_host=spec.get("dnsPolicy") != "None",
                        nameservers=[str(n) for n in conf.get("nameservers") or []],
                        searches=[str(n) for n in conf.get("searches") or []], options=options)


def _older(rv: Any, than: Any) -> bool:
    """Whether resourceVersion ``rv`` is before ``than``. Kubelite's (and etcd's) versions
    are revisions; anything else is opaque and never called older."""
    return isinstance(rv, str) and isinstance(than, str) and rv.isdigit() and than.isdigit() and int(rv) < int(than)


class PodWorker:
    def __init__(self, mgr: PodManager, pod: Obj) -> None:
        self.mgr = mgr
        self.runtime = mgr.runtime
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.key = f"{pod['metadata'].get('namespace')}/{pod['metadata'].get('name')}"
        self.wake = asyncio.Event()
        self.gone = False  # the API object was deleted under us
        self.tg = tasks.TaskGroup(f"pod/{self.key}")
        self.backoff: dict[str, float] = {}        # container → current delay
        self.image_backoff: dict[str, tuple[float, float]] = {}  # image → (delay, until)
        self.waiting: dict[str, tuple[str, str]] = {}  # container → (reason, message)
        self.probes: dict[str, probes.ContainerProbes] = {}  # container id → probes
        self.volume_paths: dict[str, str] | None = None
        self.volumes_at = 0.0
        self.start_time = status_mod.now_iso()
        self.last_status: Obj | None = None  # the last status written, as computed
        self.written_rv: str | None = None  # the pod's resourceVersion after that write
        self.next_wake = 0.0
        self.failed_reason: tuple[str, str] | None = None

    # --- the loop ----------------------------------------------------------------------

    def update(self, pod: Obj) -> None:
        rv = (pod.get("metadata") or {}).get("resourceVersion")
        held = (self.pod.get("metadata") or {}).get("resourceVersion")
        if rv is not None and rv == held:
            return  # the watch echo of our own status write: we hold that version already
        if _older(rv, held):
            return  # an event from before our status write, whose answer we hold
        # Any other change, a status-only one from another writer included (a readiness
        # gate's condition turning True), is a reason to compute the status again.
        self.pod = pod
        self.wake.set()

    def mark_gone(self) -> None:
        self.gone = True
        self.wake.set()

    async def run(self) -> None:
        failures = 0
        try:
            while True:
                self.wake.clear()
                self.next_wake = time.time() + 10.0  # a periodic resync, as kubelet's
                try:
                    if await self.sync():
                        return
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    log.warning("sync failed pod=%s error=%r", self.key, exc, exc_info=failures == 1)
                    self.next_wake = min(self.next_wake, time.time() + min(5.0, 0.2 * 2 ** failures))
                try:
                    await asyncio.wait_for(self.wake.wait(), max(0.05, self.next_wake - time.time()))
                except TimeoutError:
                    pass
        finally:
            for p in self.probes.values():
                p.stop()
            await self.tg.close()

    def _wake_at(self, when: float) -> None:
        self.next_wake = min(self.next_wake, when)

    # --- helpers -----------------------------------------------------------------------

    @property
    def spec(self) -> Obj:
        return self.pod.get("spec") or {}

    def event(self, reason: str, message: str, *, type_: str = "Normal", container: str | None = None,
              init: bool = False) -> None:
        self.mgr.recorder.pod_event(self.pod, reason=reason, message=message, type_=type_,
                                    container=container, init=init)

    def _probe_failed(self, container: str) -> Any:
        def report(kind: str, message: str) -> None:
            self.event("Unhealthy", message, type_="Warning", container=container)
        return report

    # --- sync --------------------------------------------------------------------------

    async def sync(self) -> bool:
        """One reconcile; True when the worker is done (pod gone)."""
        node = self.mgr.node_name
        if self.gone:
            await self._teardown(grace=2.0)
            return True
        if (self.pod.get("metadata") or {}).get("deletionTimestamp"):
            await self._terminate()
            await self._delete_api_object()
            return True

        containers = await self.runtime.list_containers(node_name=node, pod_uid=self.uid)
        by_name: dict[str, list[rt.ContainerInfo]] = {}
        for c in containers:
            by_name.setdefault(c.name, []).append(c)
        for instances in by_name.values():
            instances.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
            # Keep the newest and the one before (lastState, logs --previous).
            for old in instances[2:]:
                await self.runtime.remove_container(old.id)
        latest = {name: inst[0] for name, inst in by_name.items()}
        log.debug("sync pod=%s containers=%s", self.key,
                  {n: (c.attempt, c.state.value, c.exit_code) for n, c in latest.items()})
        prev = {name: inst[1] for name, inst in by_name.items() if len(inst) > 1}
        self._gc_probes(latest)

        current_phase = (self.pod.get("status") or {}).get("phase")
        terminal = current_phase in ("Succeeded", "Failed")
        sandbox = None if terminal else await self._ensure_sandbox(latest)
        if not terminal and sandbox is not None:
            self._check_deadline()
            if self.failed_reason is not None:
                await self._kill_all(latest, grace=float(self.spec.get("terminationGracePeriodSeconds", 30)),
                                     reason="DeadlineExceeded")
                latest = {c.name: c for c in await self.runtime.list_containers(node_name=node, pod_uid=self.uid)}
            else:
                await self._ensure_volumes()
                if self.volume_paths is not None:
                    acted_on = {c.id: c.state for c in latest.values()}
                    latest = await self._drive(latest, prev, sandbox)
                    if any(acted_on.get(c.id, c.state) != c.state for c in latest.values()):
                        # A container changed state while this sync decided on the older one
                        # (e.g. it died): decide again now, not at the periodic resync.
                        self.wake.set()
        # A container that just started may die before we subscribe to its death being
        # noticed twice; look again shortly rather than waiting for the periodic resync.
        if any(c.state == rt.State.RUNNING and c.started_at > time.time() - 5 for c in latest.values()):
            self._wake_at(time.time() + 1.0)
        initialized = self._initialized(latest)
        view = self._view(latest, prev, sandbox, initialized)
        new_status = status_mod.pod_status(view)
        if new_status["phase"] in ("Succeeded", "Failed") and not terminal:
            await self._stop_sandboxes()
        await self._write_status(new_status)
        return False

    def _check_deadline(self) -> None:
        deadline = self.spec.get("activeDeadlineSeconds")
        started = (self.pod.get("status") or {}).get("startTime")
        if deadline is None or not started:
            return
        import datetime
        begun = datetime.datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
        if time.time() >= begun + float(deadline):
            if self.failed_reason is None:
                self.event("DeadlineExceeded", "Pod was active on the node longer than the specified deadline",
                           type_="Warning")
            self.failed_reason = ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
        else:
            self._wake_at(begun + float(deadline))

    async def _ensure_sandbox(self, latest: dict[str, rt.ContainerInfo]) -> rt.SandboxInfo | None:
        sandboxes = await self.runtime.list_sandboxes(node_name=self.mgr.node_name, pod_uid=self.uid)
        running = sorted((s for s in sandboxes if s.state == rt.State.RUNNING), key=lambda s: s.created_at)
        for extra in running[:-1]:
            await self.runtime.remove_sandbox(extra.id)
        if running:
            return running[-1]
        if sandboxes:
            # The sandbox died: the pod's network is gone, so its containers must restart in a new one.
            self.event("SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
            for c in latest.values():
                if c.state == rt.State.RUNNING:
                    await self.runtime.stop_container(c.id, timeout=2)
            for s in sandboxes:
                await self.runtime.remove_sandbox(s.id)
        meta = self.pod["metadata"]
        ports = [rt.PortMapping(container_port=int(p["containerPort"]), host_port=int(p["hostPort"]),
                                protocol=p.get("protocol", "TCP"), host_ip=p.get("hostIP", ""))
                 for c in self.spec.get("containers") or [] for p in c.get("ports") or [] if p.get("hostPort")]
        single = (len(self.spec.get("containers") or []) == 1 and not self.spec.get("initContainers")
                  and not self.spec.get("ephemeralContainers") and not self.spec.get("hostNetwork"))
        cfg = rt.SandboxConfig(pod_uid=self.uid, pod_name=meta["name"], namespace=meta.get("namespace", "default"),
                               node_name=self.mgr.node_name, hostname=self.spec.get("hostname") or meta["name"],
                               host_network=bool(self.spec.get("hostNetwork")), ports=ports,
                               single_container=single, dns=pod_dns(self.spec),
                               host_aliases=[(str(a.get("ip") or ""), [str(h) for h in a.get("hostnames") or []])
                                             for a in self.spec.get("hostAliases") or [] if a.get("ip")])
        try:
            sandbox = await self.runtime.create_sandbox(cfg)
        except rt.DriverError as exc:
            self.event("FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}", type_="Warning")
            self._wake_at(time.time() + 5)
            return None
        if cfg.host_network:
            sandbox.ip = self.mgr.host_ip
        return sandbox

    async def _ensure_volumes(self) -> None:
        if self.volume_paths is not None and time.time() - self.volumes_at < VOLUME_REFRESH:
            return
        try:
            self.volume_paths = await self.mgr.volumes.prepare(self.pod)
            self.volumes_at = time.time()
        except volumes.VolumeError as exc:
            if self.volume_paths is None:
                self.event("FailedMount", f"MountVolume.SetUp failed: {exc}", type_="Warning")
                for c in (self.spec.get("initContainers") or []) + (self.spec.get("containers") or []):
                    self.waiting[c["name"]] = ("ContainerCreating", "")
                self._wake_at(time.time() + 2)

    def _initialized(self, latest: dict[str, rt.ContainerInfo]) -> bool:
        for ic in self.spec.get("initContainers") or []:
            cur = latest.get(ic["name"])
            if cur is None or cur.state != rt.State.EXITED or cur.exit_code != 0:
                # An app container already running means init finished before (its record was pruned).
                return any(latest.get(c["name"]) is not None for c in self.spec.get("containers") or [])
        return True

    async def _drive(self, latest: dict[str, rt.ContainerInfo], prev: dict[str, rt.ContainerInfo],
                     sandbox: rt.SandboxInfo) -> dict[str, rt.ContainerInfo]:
        restart = self.spec.get("restartPolicy", "Always")
        if not self._initialized(latest):
            for ic in self.spec.get("initContainers") or []:
                cur = latest.get(ic["name"])
                if cur is None:
                    await self._start(ic, attempt=0, kind="init", sandbox=sandbox)
                    break
                if cur.state == rt.State.CREATED:
                    await self._start_existing(ic, cur, init=True)
                    break
                if cur.state == rt.State.RUNNING:
                    break
                if cur.exit_code == 0:
                    continue
                if restart != "Never":
                    await self._restart(ic, cur, kind="init", sandbox=sandbox)
                break
            return await self._relist()
        for spec in self.spec.get("containers") or []:
            name = spec["name"]
            cur = latest.get(name)
            if cur is None:
                await self._start(spec, attempt=0, kind="app", sandbox=sandbox)
            elif cur.state == rt.State.CREATED:
                await self._start_existing(spec, cur, init=False)
            elif cur.state == rt.State.RUNNING:
                p = self.probes.get(cur.id)
                if p is None:
                    self._start_probes(spec, cur, sandbox)
                elif not p.live or p.startup_failed:
                    self.event("Killing", p.live_failure, container=name)
                    await self._stop_one(spec, cur, grace=float(self.spec.get("terminationGracePeriodSeconds", 30)))
                    p.stop()
            elif restart == "Always" or (restart == "OnFailure" and cur.exit_code != 0):
                await self._restart(spec, cur, kind="app", sandbox=sandbox)
        return await self._relist()

    async def _relist(self) -> dict[str, rt.ContainerInfo]:
        out: dict[str, rt.ContainerInfo] = {}
        for c in await self.runtime.list_containers(node_name=self.mgr.node_name, pod_uid=self.uid):
            if c.name not in out or (c.attempt, c.created_at) > (out[c.name].attempt, out[c.name].created_at):
                out[c.name] = c
        return out

    async def _restart(self, spec: Obj, cur: rt.ContainerInfo, *, kind: str, sandbox: rt.SandboxInfo) -> None:
        name = spec["name"]
        now = time.time()
        ran = cur.finished_at - cur.started_at if cur.started_at and cur.finished_at else 0.0
        if ran >= BACKOFF_RESET_AFTER:
            self.backoff.pop(name, None)
        delay = self.backoff.get(name)
        if delay is not None and now < cur.finished_at + delay:
            pod = self.pod["metadata"]
            message = (f"back-off {int(delay) if delay >= 1 else delay}s restarting failed container={name} "
                       f"pod={pod['name']}_{pod.get('namespace')}({self.uid})")
            if self.waiting.get(name, ("",))[0] != "CrashLoopBackOff":
                self.event("BackOff", "Back-off restarting failed container " + name, type_="Warning",
                           container=name, init=kind == "init")
            self.waiting[name] = ("CrashLoopBackOff", message)
            self._wake_at(cur.finished_at + delay)
            return
        self.backoff[name] = BACKOFF_BASE if delay is None else min(delay * 2, BACKOFF_MAX)
        await self._start(spec, attempt=cur.attempt + 1, kind=kind, sandbox=sandbox)

    # --- starting a container ---------------------------------------------------------

    async def _pull(self, spec: Obj) -> str | None:
        image = spec.get("image", "")
        name = spec["name"]
        policy = spec.get("imagePullPolicy") or "IfNotPresent"
        entry = self.image_backoff.get(image)
        if entry is not None and time.time() < entry[1]:
            self.waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            self.event("BackOff", f'Back-off pulling image "{image}"', container=name)
            self._wake_at(entry[1])
            return None
        try:
            started = time.monotonic()
            if policy == "Always":
                self.event("Pulling", f'Pulling image "{image}"', container=name)
            pulled, image_id = await self.runtime.ensure_image(image, policy=policy)
        except rt.ImageNeverPullError as exc:
            self.waiting[name] = ("ErrImageNeverPull", str(exc))
            self.event("ErrImageNeverPull", str(exc), type_="Warning", container=name)
            self._wake_at(time.time() + 10)
            return None
        except rt.ImagePullError as exc:
            if policy != "Always":
                self.event("Pulling", f'Pulling image "{image}"', container=name)
            delay = BACKOFF_BASE if entry is None else min(entry[0] * 2, BACKOFF_MAX)
            self.image_backoff[image] = (delay, time.time() + delay)
            self.waiting[name] = ("ErrImagePull", str(exc))
            self.event("Failed", f'Failed to pull image "{image}": {exc}', type_="Warning", container=name)
            self.event("Failed", "Error: ErrImagePull", type_="Warning", container=name)
            self._wake_at(time.time() + delay)
            return None
        self.image_backoff.pop(image, None)
        if pulled:
            self.event("Pulled", f'Successfully pulled image "{image}" in {time.monotonic() - started:.3f}s',
                       container=name)
        else:
            self.event("Pulled", f'Container image "{image}" already present on machine', container=name)
        return image_id

    async def _config(self, spec: Obj, *, attempt: int, kind: str, pod_ip: str = "") -> rt.ContainerConfig:
        meta = self.pod["metadata"]
        pod_for_env = dict(self.pod)
        pod_for_env["status"] = {**(self.pod.get("status") or {}), "hostIP": self.mgr.host_ip}
        if pod_ip:  # known before the first status write: the sandbox has it
            pod_for_env["status"].update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
        env = await envs.resolve(self.mgr.client, pod_for_env, spec, node_allocatable=self.mgr.allocatable)
        mounts = self.mgr.volumes.mounts_for(spec, self.volume_paths or {})
        limits = (spec.get("resources") or {}).get("limits") or {}
        requests = (spec.get("resources") or {}).get("requests") or {}
        cpu_limit = pod_validation.parse_quantity(limits.get("cpu")) if limits.get("cpu") is not None else None
        cpu_req = pod_validation.parse_quantity(requests.get("cpu", limits.get("cpu")))
        mem = pod_validation.parse_quantity(limits.get("memory")) if limits.get("memory") is not None else None
        sc = {**(self.spec.get("securityContext") or {}), **(spec.get("securityContext") or {})}
        user = ""
        if sc.get("runAsUser") is not None:
            user = str(sc["runAsUser"]) + (f":{sc['runAsGroup']}" if sc.get("runAsGroup") is not None else "")
        caps = sc.get("capabilities") or {}
        return rt.ContainerConfig(
            pod_uid=self.uid, pod_name=meta["name"], namespace=meta.get("namespace", "default"),
            node_name=self.mgr.node_name, name=spec["name"], attempt=attempt, image=spec.get("image", ""),
            kind=kind, command=spec.get("command"), args=spec.get("args"), working_dir=spec.get("workingDir", ""),
            env=env, mounts=mounts,
            nano_cpus=int(cpu_limit * 10**9) if cpu_limit else 0,
            # upstream's MilliCPUToShares: 1024 per CPU, at least 2
            cpu_shares=max(2, int(cpu_req * 1024)) if cpu_req else 0,
            memory_bytes=int(mem) if mem else 0,
            tty=bool(spec.get("tty")), stdin=bool(spec.get("stdin")), stdin_once=bool(spec.get("stdinOnce")),
            privileged=bool(sc.get("privileged")), user=user,
            read_only_rootfs=bool(sc.get("readOnlyRootFilesystem")),
            cap_add=list(caps.get("add") or []), cap_drop=list(caps.get("drop") or []),
        )

    async def _start(self, spec: Obj, *, attempt: int, kind: str, sandbox: rt.SandboxInfo) -> None:
        name = spec["name"]
        image_id = await self._pull(spec)
        if image_id is None:
            return
        try:
            cfg = await self._config(spec, attempt=attempt, kind=kind, pod_ip=sandbox.ip)
            cid = await self.runtime.create_container(cfg, sandbox=sandbox)
        except (envs.ConfigError, volumes.VolumeError, rt.ContainerConfigError) as exc:
            self.waiting[name] = ("CreateContainerConfigError", str(exc))
            self.event("Failed", f"Error: {exc}", type_="Warning", container=name, init=kind == "init")
            self._wake_at(time.time() + 5)
            return
        self.event("Created", f"Created container {name}", container=name, init=kind == "init")
        info = rt.ContainerInfo(id=cid, pod_uid=self.uid, pod_name=cfg.pod_name, namespace=cfg.namespace,
                                name=name, attempt=attempt, kind=kind, state=rt.State.CREATED)
        await self._start_existing(spec, info, init=kind == "init")

    async def _start_existing(self, spec: Obj, info: rt.ContainerInfo, *, init: bool) -> None:
        name = spec["name"]
        try:
            await self.runtime.start_container(info.id)
        except rt.DriverError as exc:
            self.waiting[name] = ("RunContainerError", str(exc))
            self.event("Failed", f"Error: {exc}", type_="Warning", container=name, init=init)
            await self.runtime.remove_container(info.id)
            self._wake_at(time.time() + 5)
            return
        self.waiting.pop(name, None)
        self.event("Started", f"Started container {name}", container=name, init=init)
        post_start = (spec.get("lifecycle") or {}).get("postStart")
        if post_start:
            outcome = await probes.run_handler(post_start, runtime=self.runtime, container_id=info.id,
                                               container=spec, pod_ip=self._pod_ip(), timeout=30)
            if not outcome.ok:
                self.event("FailedPostStartHook", f"PostStartHook failed: {outcome.message}", type_="Warning",
                           container=name)
                await self.runtime.stop_container(info.id, timeout=2)

    def _pod_ip(self) -> str:
        return (self.pod.get("status") or {}).get("podIP") or ""

    # --- probes -----------------------------------------------------------------------

    def _start_probes(self, spec: Obj, cur: rt.ContainerInfo, sandbox: rt.SandboxInfo) -> None:
        p = probes.ContainerProbes(container=spec, container_id=cur.id, runtime=self.runtime, pod_ip=sandbox.ip,
                                   on_change=self.wake.set, on_failure=self._probe_failed(spec["name"]))
        self.probes[cur.id] = p
        p.start(lambda coro, name: self.tg.spawn(coro, name=name))

    def _gc_probes(self, latest: dict[str, rt.ContainerInfo]) -> None:
        alive = {c.id for c in latest.values() if c.state == rt.State.RUNNING}
        for cid in list(self.probes):
            if cid not in alive:
                self.probes.pop(cid).stop()

    # --- status -----------------------------------------------------------------------

    def _view(self, latest: dict[str, rt.ContainerInfo], prev: dict[str, rt.ContainerInfo],
              sandbox: rt.SandboxInfo | None, initialized: bool) -> status_mod.PodView:
        def cv(spec: Obj) -> status_mod.ContainerView:
            cur = latest.get(spec["name"])
            previous = prev.get(spec["name"])
            if previous is not None and cur is not None and previous.attempt >= cur.attempt:
                previous = None
            view = status_mod.ContainerView(spec=spec, current=cur, previous=previous,
                                            waiting=self.waiting.get(spec["name"]))
            if cur is not None and cur.state == rt.State.RUNNING:
                view.waiting = None
                p = self.probes.get(cur.id)
                view.started = p.started if p else "startupProbe" not in spec
                view.ready = (p.ready and p.started) if p else "readinessProbe" not in spec and view.started
            return view
        return status_mod.PodView(
            pod=self.pod, runtime_name=self.runtime.name,
            init=[cv(c) for c in self.spec.get("initContainers") or []],
            app=[cv(c) for c in self.spec.get("containers") or []],
            pod_ip=sandbox.ip if sandbox else "", host_ip=self.mgr.host_ip,
            sandbox_ready=sandbox is not None, initialized=initialized,
            failed_reason=self.failed_reason, start_time=self.start_time)

    async def _write_status(self, new: Obj) -> None:
        """Write what changed since the pod we hold (``status.status_patch``): the fields
        and conditions the agent owns, never the conditions of other writers. Compared
        with the pod as the server has it, not with what the agent wrote last: another
        writer may have changed a field the agent owns since (the node lifecycle controller
        marks the pods of a node it stopped hearing from not Ready), and the agent puts it
        right, as kubelet's status manager does when it reconciles. Unless the pod moved
        on since the agent's own last write, the same status is not compared again: what
        the server stores may differ from it in form only (fields it leaves out when
        empty), and that must not make a write per sync."""
        rv = (self.pod.get("metadata") or {}).get("resourceVersion")
        if new == self.last_status and rv == self.written_rv:
            return
        ops = status_mod.status_patch(self.uid, self.pod.get("status"), new)
        if ops is None:
            self.last_status, self.written_rv = new, rv
            return
        meta = self.pod["metadata"]
        try:
            updated = await self.mgr.client.patch(resources.PODS, meta["name"], ops, namespace=meta.get("namespace"),
                                                  patch_type="json", subresource="status")
        except errors.Invalid as exc:
            # A test failed: the pod changed under us (its conditions moved) or was replaced
            # (the uid). Read it again and decide anew, rather than overwrite what we did not see.
            await self._reread(str(exc))
            return
        except (errors.NotFound, errors.Conflict, errors.BadRequest) as exc:
            log.info("status not written pod=%s error=%s", self.key, exc)
            return
        self.last_status, self.written_rv = new, updated.get("metadata", {}).get("resourceVersion")
        if updated.get("metadata", {}).get("uid") == self.uid:
            self.pod = updated
            if status_mod.generation(updated) != new.get("observedGeneration"):
                # The spec changed (or a delete began) between our read and this write, and
                # the watch event that says so is older than the answer we now hold, so it
                # will be dropped: sync the new generation now, not at the periodic resync.
                self.wake.set()

    async def _reread(self, why: str) -> None:
        meta = self.pod["metadata"]
        try:
            fresh = await self.mgr.client.get(resources.PODS, meta["name"], namespace=meta.get("namespace"))
        except errors.ApiError as exc:
            log.info("status not written pod=%s error=%s (re-read: %s)", self.key, why, exc)
            return
        fresh_meta = fresh.get("metadata") or {}
        if fresh_meta.get("uid") != self.uid:
            log.info("status not written pod=%s: the pod was replaced", self.key)
            return
        if fresh_meta.get("resourceVersion") == meta.get("resourceVersion"):
            # Nothing moved: the status itself was refused. Try again at the next change.
            log.warning("status not written pod=%s error=%s", self.key, why)
            return
        self.pod = fresh
        self.wake.set()

    # --- stopping ---------------------------------------------------------------------

    async def _stop_one(self, spec: Obj | None, cur: rt.ContainerInfo, *, grace: float) -> None:
        started = time.monotonic()
        pre_stop = ((spec or {}).get("lifecycle") or {}).get("preStop")
        if pre_stop and cur.state == rt.State.RUNNING:
            outcome = await probes.run_handler(pre_stop, runtime=self.runtime, container_id=cur.id,
                                               container=spec or {}, pod_ip=self._pod_ip(), timeout=max(grace, 1))
            if not outcome.ok:
                self.event("FailedPreStopHook", f"PreStopHook failed: {outcome.message}", type_="Warning",
                           container=cur.name)
        remaining = max(0.0, grace - (time.monotonic() - started))
        await self.runtime.stop_container(cur.id, timeout=remaining)

    async def _kill_all(self, latest: dict[str, rt.ContainerInfo], *, grace: float, reason: str = "") -> None:
        specs = {c["name"]: c for c in (self.spec.get("containers") or []) + (self.spec.get("initContainers") or [])}
        running = [c for c in latest.values() if c.state in (rt.State.RUNNING, rt.State.CREATED)]
        for c in running:
            self.event("Killing", f"Stopping container {c.name}", container=c.name)
        await asyncio.gather(*(self._stop_one(specs.get(c.name), c, grace=grace) for c in running))

    def _deletion_grace(self) -> float:
        grace = (self.pod.get("metadata") or {}).get("deletionGracePeriodSeconds")
        return float(self.spec.get("terminationGracePeriodSeconds", 30) if grace is None else grace)

    async def _terminate(self) -> None:
        """Stop the pod within its deletion grace period; a later delete that shortens the
        period (``kubectl delete --grace-period=2`` after a first delete) hurries the
        containers still running, as kubelet's pod worker restarts a termination with the
        shorter period."""
        grace = self._deletion_grace()
        deadline = time.monotonic() + grace
        teardown = asyncio.ensure_future(self._teardown(grace=grace, graceful=True))
        try:
            while not teardown.done():
                self.wake.clear()
                woken = asyncio.ensure_future(self.wake.wait())
                await asyncio.wait({teardown, woken}, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                shorter = time.monotonic() + self._deletion_grace()
                if teardown.done() or shorter >= deadline - 0.5:
                    continue
                deadline = shorter
                log.info("termination hurried pod=%s grace=%.0fs", self.key, self._deletion_grace())
                running = [c for c in await self.runtime.list_containers(node_name=self.mgr.node_name,
                                                                          pod_uid=self.uid)
                           if c.state in (rt.State.RUNNING, rt.State.CREATED)]
                await asyncio.gather(*(self.runtime.stop_container(c.id, timeout=self._deletion_grace())
                                       for c in running))
        finally:
            if not teardown.done():
                teardown.cancel()
        await teardown

    async def _teardown(self, *, grace: float, graceful: bool = False) -> None:
        for p in self.probes.values():
            p.stop()
        containers = await self.runtime.list_containers(node_name=self.mgr.node_name, pod_uid=self.uid)
        await self._kill_all({c.id: c for c in containers}, grace=grace)
        for c in containers:
            await self.runtime.remove_container(c.id)
        await self._stop_sandboxes()
        self.mgr.volumes.cleanup(self.uid)

    async def _stop_sandboxes(self) -> None:
        for s in await self.runtime.list_sandboxes(node_name=self.mgr.node_name, pod_uid=self.uid):
            await self.runtime.remove_sandbox(s.id)

    async def _delete_api_object(self) -> None:
        meta = self.pod["metadata"]
        try:
            await self.mgr.client.delete(resources.PODS, meta["name"], namespace=meta.get("namespace"),
                                         grace_period_seconds=0, preconditions={"uid": self.uid})
        except (errors.NotFound, errors.Conflict):
            pass
        log.info("pod deleted pod=%s", self.key)
