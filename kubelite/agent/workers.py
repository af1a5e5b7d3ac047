"""One worker per pod: drives the pod's sandbox and containers toward its spec.

``kubelite.agent.pods.PodManager`` creates a ``PodWorker`` for every pod bound to the node
and wakes it when the pod changes, when the runtime reports a container event, or when a
probe flips. Each wake runs ``sync`` (upstream's SyncPod): read the pod's containers from
the runtime (the source of truth, so a restarted agent adopts what it finds), decide the
next actions, act, and write the status if it changed. Syncs of one pod never overlap,
so a container is never created twice.

Init containers, sidecars among them, run in the order ``initcontainers`` decides; the app
containers start once it says the pod is initialized. Restarts follow ``restartPolicy``
(sidecars: always) with upstream's CrashLoopBackOff: the first restart is immediate, later
ones wait 10 s doubling to 5 min after the previous exit, and the delay resets once a
container ran 10 min. A running container whose image changed in the spec is replaced at
once. Deletion is graceful (``stopping``): preStop hooks and SIGTERM, sidecars after the
app containers, up to the grace period, then SIGKILL, removal, and the final DELETE with
grace 0. What an exited container left at its terminationMessagePath is its status's
message (``termination``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubelite.agent import (
    containerconfig,
    envs,
    ephemeral,
    images,
    initcontainers,
    probes,
    stopping,
    termination,
    volumes,
)
from kubelite.agent import status as status_mod
from kubelite.agent.runtime import interface as rt
from kubelite.aio import tasks
from kubelite.client import errors, resources

if TYPE_CHECKING:
    from kubelite.agent.pods import PodManager

log = logging.getLogger("kubelite.agent.workers")

Obj = dict[str, Any]

BACKOFF_BASE = float(os.environ.get("KUBELITE_AGENT_BACKOFF_BASE", "10"))  # tests shorten it
BACKOFF_MAX = 300.0
BACKOFF_RESET_AFTER = 600.0
VOLUME_REFRESH = 60.0


def _older(rv: Any, than: Any) -> bool:
    """Whether resourceVersion ``rv`` is before ``than``. Kubelite's (and etcd's) versions
    are revisions; anything else is opaque and never called older."""
    return isinstance(rv, str) and isinstance(than, str) and rv.isdigit() and than.isdigit() and int(rv) < int(than)


def _by_name(containers: list[rt.ContainerInfo]) -> dict[str, list[rt.ContainerInfo]]:
    """Each container's instances, newest first."""
    out: dict[str, list[rt.ContainerInfo]] = {}
    for c in containers:
        out.setdefault(c.name, []).append(c)
    for instances in out.values():
        instances.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
    return out


def _image_changed(spec: Obj, cur: rt.ContainerInfo) -> bool:
    """Whether the container's image is no longer the spec's (``kubectl set image``): the
    one change to a container's definition the API allows, besides resources. An instance
    that does not say which image it runs is taken as current."""
    return bool(cur.image) and cur.image != spec.get("image", "")


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
        self.waiting: dict[str, tuple[str, str]] = {}  # container → (reason, message)
        self.images = images.Puller(mgr.runtime, waiting=self.waiting, event=self.event, wake_at=self._wake_at,
                                    backoff_base=BACKOFF_BASE, backoff_max=BACKOFF_MAX)
        self.probes: dict[str, probes.ContainerProbes] = {}  # container id → probes
        self.messages = termination.Messages(mgr.runtime, file_of=self._message_file)
        self.volume_paths: dict[str, str] | None = None
        self.volumes_at = 0.0
        self.start_time = status_mod.now_iso()
        self.seen_at = time.monotonic()  # for kubelet_pod_start_duration_seconds
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

    def _probe_failed(self, container: str, *, init: bool) -> Any:
        def report(kind: str, message: str) -> None:
            self.event("Unhealthy", message, type_="Warning", container=container, init=init)
        return report

    def _is_init(self, name: str) -> bool:
        return any(c.get("name") == name for c in self.spec.get("initContainers") or [])

    def _grace(self) -> float:
        return float(self.spec.get("terminationGracePeriodSeconds", 30))

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

        by_name = _by_name(await self.runtime.list_containers(node_name=node, pod_uid=self.uid))
        for instances in by_name.values():
            # Keep the newest and the one before (lastState, logs --previous).
            for old in instances[2:]:
                await self.runtime.remove_container(old.id)
                if (path := self._message_file(old.name, old.attempt)) is not None:
                    path.unlink(missing_ok=True)
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
                await self._kill_all(latest, grace=self._grace(), reason="DeadlineExceeded")
                latest, prev = await self._relist()
            else:
                await self._ensure_volumes()
                if self.volume_paths is not None:
                    acted_on = {c.id: c.state for c in latest.values()}
                    latest, prev = await self._drive(latest, sandbox)
                    if any(acted_on.get(c.id, c.state) != c.state for c in latest.values()):
                        # A container changed state while this sync decided on the older one
                        # (e.g. it died): decide again now, not at the periodic resync.
                        self.wake.set()
        # A container that just started may die before we subscribe to its death being
        # noticed twice; look again shortly rather than waiting for the periodic resync.
        if any(c.state == rt.State.RUNNING and c.started_at > time.time() - 5 for c in latest.values()):
            self._wake_at(time.time() + 1.0)
        await self.messages.read([*latest.values(), *prev.values()],
                                 specs=(self.spec.get("initContainers") or []) + (self.spec.get("containers") or [])
                                 + ephemeral.specs(self.pod))
        view = self._view(latest, prev, sandbox)
        new_status = status_mod.pod_status(view)
        if new_status["phase"] in ("Succeeded", "Failed") and not terminal:
            await self._stop_sandboxes()
        await self._write_status(new_status)
        if new_status["phase"] == "Running" and current_phase != "Running":
            # as kubelet: the first time this agent reports it Running (an adopted pod
            # already Running is not counted again)
            self.mgr.metrics.pod_start.observe((), time.monotonic() - self.seen_at)
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
        cfg = containerconfig.sandbox(self.pod, node_name=self.mgr.node_name, net=self.mgr.cluster_net)
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

    async def _drive(self, latest: dict[str, rt.ContainerInfo],
                     sandbox: rt.SandboxInfo) -> tuple[dict[str, rt.ContainerInfo], dict[str, rt.ContainerInfo]]:
        """Act on the pod's containers; returns them as they are now (``_relist``)."""
        restart = self.spec.get("restartPolicy", "Always")
        apps = self.spec.get("containers") or []
        if initcontainers.finished(apps, latest, restart_policy=restart):
            # Done (a Job's pod): only sidecars may still run; they must not keep it going.
            await self._kill_all(latest, grace=self._grace())
            return await self._relist()
        inits = {c["name"]: c for c in self.spec.get("initContainers") or []}

        def started(cur: rt.ContainerInfo) -> bool:
            p = self.probes.get(cur.id)
            return p.started if p is not None else "startupProbe" not in inits.get(cur.name, {})

        plan = initcontainers.plan(list(inits.values()), latest, started=started,
                                   app_ran=any(c["name"] in latest for c in apps), restart_policy=restart)
        for spec in plan.attend:
            cur = latest.get(spec["name"])
            await self._drive_one(spec, cur, init=True, sandbox=sandbox)
            if not plan.initialized and initcontainers.is_sidecar(spec) and cur is None:
                # Started now: once it counts as started the next container may start; decide
                # again at once rather than at the runtime's start event.
                self.wake.set()
        if plan.initialized:
            for spec in apps:
                await self._drive_one(spec, latest.get(spec["name"]), init=False, sandbox=sandbox)
        await ephemeral.drive(self, latest, sandbox)  # initialized or not, as kubelet
        return await self._relist()

    async def _drive_one(self, spec: Obj, cur: rt.ContainerInfo | None, *, init: bool,
                         sandbox: rt.SandboxInfo) -> None:
        """Move one container toward its spec: create, start, watch, restart."""
        kind = "init" if init else "app"
        if cur is None:
            await self._start(spec, attempt=0, kind=kind, sandbox=sandbox)
        elif cur.state == rt.State.CREATED:
            await self._start_existing(spec, cur, init=init)
        elif cur.state == rt.State.RUNNING:
            if not init or initcontainers.is_sidecar(spec):
                await self._watch(spec, cur, init=init, sandbox=sandbox)
            # a regular init container: wait for it to complete
        else:
            restart = self.spec.get("restartPolicy", "Always")
            # An init container is here only when due a restart (``initcontainers.plan``):
            # a sidecar always, whatever the pod's restartPolicy.
            if init or restart == "Always" or (restart == "OnFailure" and cur.exit_code != 0):
                await self._restart(spec, cur, kind=kind, sandbox=sandbox)

    async def _watch(self, spec: Obj, cur: rt.ContainerInfo, *, init: bool, sandbox: rt.SandboxInfo) -> None:
        """A running app container or sidecar: replaced when its image changed, killed when
        its liveness (or startup) probe failed (the next sync restarts it, with backoff)."""
        name = spec["name"]
        if _image_changed(spec, cur):
            await self._replace(spec, cur, init=init, sandbox=sandbox)
            return
        p = self.probes.get(cur.id)
        if p is None:
            self._start_probes(spec, cur, sandbox, init=init)
        elif not p.live or p.startup_failed:
            why = p.live_failure
            if init:  # upstream's words for a sidecar
                why = f"Init container {name} failed {'startup' if p.startup_failed else 'liveness'} probe"
            self.event("Killing", why, container=name, init=init)
            await self._stop_one(spec, cur, grace=self._grace())
            p.stop()

    async def _replace(self, spec: Obj, cur: rt.ContainerInfo, *, init: bool, sandbox: rt.SandboxInfo) -> None:
        """The container's definition changed (its image: the only mutable field besides
        resources): kill it and start the new one now, whatever the restartPolicy, as one
        more restart. Upstream keys its backoff by the definition's hash, so the new one
        starts without waiting out the old one's backoff."""
        name = spec["name"]
        message = f"Init container {name} definition changed" if init else \
            f"Container {name} definition changed, will be restarted"
        log.info("container definition changed pod=%s container=%s image=%s→%s", self.key, name, cur.image,
                 spec.get("image"))
        self.event("Killing", message, container=name, init=init)
        p = self.probes.pop(cur.id, None)
        if p is not None:
            p.stop()
        await self._stop_one(spec, cur, grace=self._grace())
        self.backoff.pop(name, None)
        await self._start(spec, attempt=cur.attempt + 1, kind="init" if init else "app", sandbox=sandbox)

    async def _relist(self) -> tuple[dict[str, rt.ContainerInfo], dict[str, rt.ContainerInfo]]:
        """The newest instance of each container, and the one before it (the one a restart
        in this sync just replaced: the status's lastState)."""
        by_name = _by_name(await self.runtime.list_containers(node_name=self.mgr.node_name, pod_uid=self.uid))
        return ({name: inst[0] for name, inst in by_name.items()},
                {name: inst[1] for name, inst in by_name.items() if len(inst) > 1})

    async def _restart(self, spec: Obj, cur: rt.ContainerInfo, *, kind: str, sandbox: rt.SandboxInfo) -> None:
        name = spec["name"]
        now = time.time()
        ran = cur.finished_at - cur.started_at if cur.started_at and cur.finished_at else 0.0
        if ran >= BACKOFF_RESET_AFTER:
            self.backoff.pop(name, None)
        if _image_changed(spec, cur):
            self.backoff.pop(name, None)  # a new definition starts afresh (see ``_replace``)
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

    async def _start(self, spec: Obj, *, attempt: int, kind: str, sandbox: rt.SandboxInfo,
                     pid_target: str = "") -> None:
        name = spec["name"]
        image_id = await self.images.pull(spec, init=kind == "init")
        if image_id is None:
            return
        try:
            cfg = await containerconfig.build(
                self.pod, spec, attempt=attempt, kind=kind, node_name=self.mgr.node_name, host_ip=self.mgr.host_ip,
                pod_ip=sandbox.ip, client=self.mgr.client, allocatable=self.mgr.allocatable,
                volume_manager=self.mgr.volumes, volume_paths=self.volume_paths or {},
                message_file=self._message_file(spec["name"], attempt), net=self.mgr.cluster_net)
            cfg.pid_target = pid_target
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
                self.event("FailedPostStartHook", f"PostStartHook failed: {outcome.reason}", type_="Warning",
                           container=name, init=init)
                await self.runtime.stop_container(info.id, timeout=2)

    def _pod_ip(self) -> str:
        return (self.pod.get("status") or {}).get("podIP") or ""

    # --- probes -----------------------------------------------------------------------

    def _start_probes(self, spec: Obj, cur: rt.ContainerInfo, sandbox: rt.SandboxInfo, *, init: bool) -> None:
        p = probes.ContainerProbes(container=spec, container_id=cur.id, runtime=self.runtime, pod_ip=sandbox.ip,
                                   on_change=self.wake.set, on_failure=self._probe_failed(spec["name"], init=init))
        self.probes[cur.id] = p
        p.start(lambda coro, name: self.tg.spawn(coro, name=name))

    def _gc_probes(self, latest: dict[str, rt.ContainerInfo]) -> None:
        alive = {c.id for c in latest.values() if c.state == rt.State.RUNNING}
        for cid in list(self.probes):
            if cid not in alive:
                self.probes.pop(cid).stop()

    # --- termination messages ----------------------------------------------------------

    def _message_file(self, name: str, attempt: int) -> Path | None:
        """The host file behind a container instance's terminationMessagePath, None when
        the runtime cannot mount one (``termination``)."""
        if not self.runtime.supports_mounts:
            return None
        return termination.host_file(self.mgr.volumes.pod_dir(self.uid), container=name, attempt=attempt)

    # --- status -----------------------------------------------------------------------

    def _view(self, latest: dict[str, rt.ContainerInfo], prev: dict[str, rt.ContainerInfo],
              sandbox: rt.SandboxInfo | None) -> status_mod.PodView:
        def cv(spec: Obj, *, init: bool) -> status_mod.ContainerView:
            cur = self.messages.told(latest.get(spec["name"]))
            previous = self.messages.told(prev.get(spec["name"]))
            if previous is not None and cur is not None and previous.attempt >= cur.attempt:
                previous = None
            view = status_mod.ContainerView(spec=spec, current=cur, previous=previous,
                                            waiting=self.waiting.get(spec["name"]))
            if cur is not None and cur.state == rt.State.RUNNING:
                view.waiting = None
                if not init or initcontainers.is_sidecar(spec):
                    p = self.probes.get(cur.id)
                    view.started = p.started if p else "startupProbe" not in spec
                    view.ready = (p.ready and p.started) if p else "readinessProbe" not in spec and view.started
            return view
        return status_mod.PodView(
            pod=self.pod, runtime_name=self.runtime.name,
            init=[cv(c, init=True) for c in self.spec.get("initContainers") or []],
            app=[cv(c, init=False) for c in self.spec.get("containers") or []],
            ephemeral=ephemeral.views(self, latest),
            pod_ip=sandbox.ip if sandbox else "", host_ip=self.mgr.host_ip,
            sandbox_ready=sandbox is not None,
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

    async def _pre_stop(self, spec: Obj | None, cur: rt.ContainerInfo, *, grace: float) -> None:
        pre_stop = ((spec or {}).get("lifecycle") or {}).get("preStop")
        if pre_stop and cur.state == rt.State.RUNNING:
            outcome = await probes.run_handler(pre_stop, runtime=self.runtime, container_id=cur.id,
                                               container=spec or {}, pod_ip=self._pod_ip(), timeout=max(grace, 1))
            if not outcome.ok:
                self.event("FailedPreStopHook", f"PreStopHook failed: {outcome.reason}", type_="Warning",
                           container=cur.name, init=self._is_init(cur.name))

    async def _stop_one(self, spec: Obj | None, cur: rt.ContainerInfo, *, grace: float) -> None:
        started = time.monotonic()
        await self._pre_stop(spec, cur, grace=grace)
        remaining = max(0.0, grace - (time.monotonic() - started))
        await self.runtime.stop_container(cur.id, timeout=remaining)

    async def _kill_all(self, latest: dict[str, rt.ContainerInfo], *, grace: float, reason: str = "") -> None:
        """Stop whatever runs of the pod, sidecars last (``stopping``)."""
        specs = {c["name"]: c for c in (self.spec.get("containers") or []) + (self.spec.get("initContainers") or [])}
        running = [c for c in latest.values() if c.state in (rt.State.RUNNING, rt.State.CREATED)]
        for c in running:
            self.event("Killing", f"Stopping container {c.name}", container=c.name, init=self._is_init(c.name))

        async def pre_stop(c: rt.ContainerInfo, left: float) -> None:
            await self._pre_stop(specs.get(c.name), c, grace=left)

        async def stop(c: rt.ContainerInfo, left: float) -> None:
            await self.runtime.stop_container(c.id, timeout=left)

        await stopping.stop_in_order(running, sidecars=initcontainers.sidecar_ranks(self.spec), grace=grace,
                                     pre_stop=pre_stop, stop=stop)

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
