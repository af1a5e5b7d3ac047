"""The Job controller: runs pods until ``completions`` succeed (NonIndexed or Indexed),
``parallelism`` at a time, and fails the Job on ``backoffLimit``,
``activeDeadlineSeconds`` or a ``podFailurePolicy`` FailJob rule; honours ``suspend``
and deletes finished Jobs after ``ttlSecondsAfterFinished`` (upstream's separate TTL
controller, folded in here).

Counting is exact across controller restarts, as upstream's: every Job pod carries the
``batch.kubernetes.io/job-tracking`` finalizer; a finished pod's uid is first recorded in
``status.uncountedTerminatedPods``, then its finalizer removed, then it is moved into
``succeeded``/``failed`` — so no pod is counted twice or lost when pods are deleted.
Conditions follow 1.31+: ``SuccessCriteriaMet``/``FailureTarget`` first, then
``Complete``/``Failed`` once no pod is left running.

Started by ``controllers.manager``. Defaults beside Kubernetes': the back-off before
re-creating failed pods starts at 0.5 s (Kubernetes: 10 s) and doubles up to 60 s
(Kubernetes: 6 min).
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

from kubelite.client import errors, informer, resources
from kubelite.controllers import base, podcontrol

Obj = dict[str, Any]

TRACKING = "batch.kubernetes.io/job-tracking"
INDEX = "batch.kubernetes.io/job-completion-index"
# Upstream's pod failure back-off: 10 s after the first failure, doubling, at most 10
# minutes. The test suite sets a short base through the environment.
BACKOFF_BASE = float(os.environ.get("KUBELITE_JOB_BACKOFF_SECONDS", "10"))
BACKOFF_MAX = 600.0


def parse_indexes(text: str | None) -> set[int]:
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """``{0,1,2,4}`` → ``"0-2,4"`` (the completedIndexes format)."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def _index_of(pod: Obj) -> int | None:
    value = base.annotations_of(pod).get(INDEX) or base.labels_of(pod).get(INDEX)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _rv(obj: Obj) -> int:
    """resourceVersion as a number (kubelite's are store revisions; opaque elsewhere: 0)."""
    try:
        return int(base.meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _finished(job: Obj) -> str | None:
    for ctype in ("Complete", "Failed"):
        cond = base.get_condition(job.get("status"), ctype)
        if cond and cond.get("status") == "True":
            return ctype
    return None


def match_failure_policy(job: Obj, pod: Obj) -> tuple[str, str] | None:
    """(action, message) of the first podFailurePolicy rule the failed pod matches."""
    rules = (((job.get("spec") or {}).get("podFailurePolicy") or {}).get("rules")) or []
    status = pod.get("status") or {}
    for i, rule in enumerate(rules):
        codes = rule.get("onExitCodes")
        if codes:
            values = set(codes.get("values") or [])
            for cs in status.get("containerStatuses") or []:
                if codes.get("containerName") and cs.get("name") != codes["containerName"]:
                    continue
                term = (cs.get("state") or {}).get("terminated")
                if not term:
                    continue
                code = int(term.get("exitCode") or 0)
                hit = code in values if codes.get("operator") == "In" else (code != 0 and code not in values)
                if hit:
                    return rule.get("action") or "Count", (
                        f"Container {cs.get('name')} for pod {base.ns_of(pod)}/{base.name_of(pod)} failed with "
                        f"exit code {code} matching {rule.get('action')} rule at index {i}")
        for pc in rule.get("onPodConditions") or []:
            cond = base.get_condition(status, pc.get("type") or "")
            if cond and cond.get("status") == (pc.get("status") or "True"):
                return rule.get("action") or "Count", (
                    f"Pod {base.ns_of(pod)}/{base.name_of(pod)} has condition {pc.get('type')} matching "
                    f"{rule.get('action')} rule at index {i}")
    return None


class JobController(base.Controller):
    name = "job"
    workers = 4

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.jobs = self.informers.get(resources.JOBS)
        self.pods = self.informers.get(resources.PODS)
        self.expectations = base.Expectations()
        self.last_failure: dict[str, float] = {}
        # The informer may not have seen our own writes yet when the next event arrives:
        # remember the status we last wrote and the pods already counted, so that a
        # stale cache can never count a pod twice or roll a count back.
        self.written: dict[str, tuple[int, Obj]] = {}
        self.counted: dict[str, set[str]] = {}
        self.jobs.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                              on_delete=self._job_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=lambda o, n: self._pod_event(n),
                              on_delete=self._pod_event)

    def _job_deleted(self, job: Obj) -> None:
        self.expectations.forget(informer.key_of(job))
        self.last_failure.pop(informer.key_of(job), None)
        self.written.pop(informer.key_of(job), None)
        self.counted.pop(informer.key_of(job), None)

    def _owner_key(self, pod: Obj) -> str | None:
        ref = base.controller_ref(pod)
        if not ref or ref.get("kind") != "Job":
            return None
        return f"{base.ns_of(pod)}/{ref.get('name')}"

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.created(key)
            self.queue.add(key)

    def _pod_event(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.queue.add(key)

    # --- reconcile --------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        cached = self.jobs.get(key)
        if cached is None:
            return None
        job = base.copy(cached)
        written = self.written.get(key)
        if written is not None and _rv(job) < written[0] and base.uid_of(job) == written[1].get("uid"):
            job["status"] = base.copy(written[1]["status"])
        counted = self.counted.setdefault(key, set())
        owned = self.pods.by_index("controller", base.uid_of(job))
        if _finished(job):
            await self._release_finalizers(owned)
            return await self._ttl(job)
        pods = await podcontrol.claim(self.client, res=resources.PODS, owner=job, kind="Job", api_version="batch/v1",
                                      selector=base.selector_of(job), owned=owned,
                                      orphans=self.pods.by_index("orphan", base.ns_of(job)))
        spec = job.get("spec") or {}
        status = base.copy(job.get("status") or {})
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        suspended = bool(spec.get("suspend"))

        # 1. Record newly finished pods (uid into uncountedTerminatedPods), then release them.
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        u_succ: list[str] = list(uncounted.get("succeeded") or [])
        u_fail: list[str] = list(uncounted.get("failed") or [])
        completed = parse_indexes(status.get("completedIndexes"))
        fail_job: str | None = None
        release: list[Obj] = []
        for pod in pods:
            if TRACKING not in (base.meta(pod).get("finalizers") or []):
                continue
            uid = base.uid_of(pod)
            phase = (pod.get("status") or {}).get("phase")
            if uid in counted:
                release.append(pod)  # counted already; our finalizer removal is in flight
                continue
            if uid in u_succ or uid in u_fail:
                release.append(pod)
                continue
            if phase == "Succeeded":
                u_succ.append(uid)
                if indexed and _index_of(pod) is not None:
                    completed.add(int(_index_of(pod) or 0))
                release.append(pod)
            elif phase == "Failed" or base.deleting(pod):
                action = match_failure_policy(job, pod) if phase == "Failed" else None
                if action and action[0] == "Ignore":
                    release.append(pod)
                    continue
                if action and action[0] == "FailJob":
                    fail_job = action[1]
                u_fail.append(uid)
                self.last_failure[key] = time.monotonic()
                release.append(pod)
        uncounted["succeeded"], uncounted["failed"] = u_succ, u_fail
        if indexed:
            status["completedIndexes"] = format_indexes(completed)
        if fail_job and not base.get_condition(status, "FailureTarget"):
            # Decided now, written with the failed pod's uid (as upstream): once the uid is
            # recorded, a later pass no longer looks at the pod's exit code, and a conflict
            # releasing finalizers below must not lose the decision.
            stamp = base.fmt_time()
            base.set_condition(status, {"type": "FailureTarget", "status": "True", "reason": "PodFailurePolicy",
                                        "message": fail_job, "lastProbeTime": stamp, "lastTransitionTime": stamp})
        if release:
            await self._write_status(job, status)
            await self._release_finalizers(release)
        # 2. Released pods are now counted for good.
        live = {base.uid_of(p) for p in pods if TRACKING in (base.meta(p).get("finalizers") or [])
                and base.uid_of(p) not in {base.uid_of(r) for r in release}}
        done_s = [u for u in u_succ if u not in live]
        done_f = [u for u in u_fail if u not in live]
        counted.update(done_s)
        counted.update(done_f)
        status["succeeded"] = int(status.get("succeeded") or 0) + len(done_s)
        status["failed"] = int(status.get("failed") or 0) + len(done_f)
        uncounted["succeeded"] = [u for u in u_succ if u in live]
        uncounted["failed"] = [u for u in u_fail if u in live]
        # (Lists, not an empty object: a merge patch with {} would leave the old uids.)

        active = [p for p in pods if base.pod_active(p)]
        terminating = [p for p in pods if base.deleting(p) and (p.get("status") or {}).get("phase")
                       not in ("Succeeded", "Failed")]
        succeeded = int(status["succeeded"]) + len(uncounted.get("succeeded") or [])
        failed = int(status["failed"]) + len(uncounted.get("failed") or [])
        now = base.now()
        if not suspended and not status.get("startTime"):
            status["startTime"] = base.fmt_time(now)

        # 3. Decide the outcome.
        failure: tuple[str, str] | None = None
        if fail_job:
            failure = ("PodFailurePolicy", fail_job)
        elif failed > int(spec.get("backoffLimit", 6) if spec.get("backoffLimit") is not None else 6):
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif spec.get("activeDeadlineSeconds") is not None and status.get("startTime") and not suspended:
            started = base.parse_time(status["startTime"]) or now
            if now >= started + datetime.timedelta(seconds=int(spec["activeDeadlineSeconds"])):
                failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        if base.get_condition(status, "FailureTarget") and failure is None:
            cond = base.get_condition(status, "FailureTarget") or {}
            failure = (cond.get("reason") or "", cond.get("message") or "")
        success = False
        if failure is None:
            if indexed:
                success = completions is not None and len(completed) >= int(completions)
            elif completions is not None:
                success = succeeded >= int(completions)
            else:
                success = succeeded > 0 and not active
            success = success or bool(base.get_condition(status, "SuccessCriteriaMet"))

        requeue: float | None = None
        create_error: BaseException | None = None
        if failure is not None or success:
            await self._delete_pods(job, active)
            stamp = base.fmt_time(now)
            if failure is not None:
                base.set_condition(status, {"type": "FailureTarget", "status": "True", "reason": failure[0],
                                            "message": failure[1], "lastProbeTime": stamp, "lastTransitionTime": stamp})
            else:
                base.set_condition(status, {"type": "SuccessCriteriaMet", "status": "True",
                                            "reason": "CompletionsReached",
                                            "message": "Reached expected number of succeeded pods",
                                            "lastProbeTime": stamp, "lastTransitionTime": stamp})
            if not active and not terminating and not uncounted.get("succeeded") and not uncounted.get("failed"):
                if failure is not None:
                    if (base.get_condition(status, "Failed") or {}).get("status") != "True":
                        self.recorder.event(job, type_="Warning", reason=failure[0], message=failure[1])
                    base.set_condition(status, {"type": "Failed", "status": "True", "reason": failure[0],
                                                "message": failure[1], "lastProbeTime": stamp,
                                                "lastTransitionTime": stamp})
                else:
                    base.set_condition(status, {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                                                "message": "Reached expected number of succeeded pods",
                                                "lastProbeTime": stamp, "lastTransitionTime": stamp})
                    status["completionTime"] = stamp
                    self.recorder.event(job, type_="Normal", reason="Completed", message="Job completed")
                active = []
            else:
                requeue = 0.5
        elif suspended:
            await self._delete_pods(job, active)
            active = []
            if (base.get_condition(status, "Suspended") or {}).get("status") != "True":
                base.set_condition(status, {"type": "Suspended", "status": "True", "reason": "JobSuspended",
                                            "message": "Job suspended", "lastProbeTime": base.fmt_time(now),
                                            "lastTransitionTime": base.fmt_time(now)})
                status.pop("startTime", None)
                self.recorder.event(job, type_="Normal", reason="Suspended", message="Job suspended")
        else:
            if (base.get_condition(status, "Suspended") or {}).get("status") == "True":
                base.set_condition(status, {"type": "Suspended", "status": "False", "reason": "JobResumed",
                                            "message": "Job resumed", "lastProbeTime": base.fmt_time(now),
                                            "lastTransitionTime": base.fmt_time(now)})
                self.recorder.event(job, type_="Normal", reason="Resumed", message="Job resumed")
            requeue, create_error = await self._manage(job, key, active, succeeded=succeeded, failed=failed,
                                                       completed=completed, parallelism=parallelism)
            if spec.get("activeDeadlineSeconds") is not None and status.get("startTime"):
                started = base.parse_time(status["startTime"]) or now
                left = (started + datetime.timedelta(seconds=int(spec["activeDeadlineSeconds"])) - now).total_seconds()
                requeue = left + 0.05 if requeue is None else min(requeue, left + 0.05)
        status["active"] = len([p for p in active if not base.deleting(p)])
        status["ready"] = len([p for p in active if base.pod_ready(p)])
        status["terminating"] = len(terminating)
        await self._write_status(job, status)
        if create_error is not None:
            # retried on the work queue's growing back-off, as upstream's syncJob error:
            # a refusal that persists (exceeded quota) must not become a hot loop
            raise create_error
        return requeue

    async def _manage(self, job: Obj, key: str, active: list[Obj], *, succeeded: int, failed: int,
                      completed: set[int], parallelism: int) -> tuple[float | None, BaseException | None]:
        """Create and delete pods toward what the Job wants: (look again after, the
        create failure that the caller raises once the status is written)."""
        if not self.expectations.satisfied(key):
            return None, None
        spec = job.get("spec") or {}
        completions = spec.get("completions")
        indexed = spec.get("completionMode") == "Indexed"
        if failed and key in self.last_failure:
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failed - 1))
            left = self.last_failure[key] + delay - time.monotonic()
            if left > 0:
                return float(left) + 0.01, None
        to_create: list[int | None] = []
        if indexed:
            total = int(completions or 0)
            running: dict[int, list[Obj]] = {}
            for p in active:
                idx = _index_of(p)
                if idx is not None:
                    running.setdefault(idx, []).append(p)
            extra = [p for idx, ps in running.items() for p in ps[1:]] + \
                    [p for idx, ps in running.items() if idx in completed or idx >= total for p in ps[:1]]
            if extra:
                await self._delete_pods(job, extra)
            room = parallelism - (len(running) - len({i for i in running if i in completed or i >= total}))
            missing = [i for i in range(total) if i not in completed and i not in running]
            to_create = list(missing[:max(0, room)])
        else:
            if completions is None:
                want = 0 if succeeded > 0 else parallelism
            else:
                want = max(0, min(parallelism, int(completions) - succeeded))
            if len(active) > want:
                surplus = podcontrol.rank_for_deletion(active)[:len(active) - want]
                await self._delete_pods(job, surplus)
            to_create = [None] * max(0, want - len(active))
        if to_create:
            return None, await self._create(job, key, to_create)
        return None, None

    async def _create(self, job: Obj, key: str, indexes: list[int | None]) -> BaseException | None:
        template = base.copy((job.get("spec") or {}).get("template") or {})
        ref = base.owner_reference(job, kind="Job", api_version="batch/v1")
        self.expectations.expect(key, adds=len(indexes))
        bodies = []
        for idx in indexes:
            t = base.copy(template)
            md = t.setdefault("metadata", {})
            md.setdefault("finalizers", []).append(TRACKING)
            gen = f"{base.name_of(job)}-"
            if idx is not None:
                md.setdefault("annotations", {})[INDEX] = str(idx)
                md.setdefault("labels", {})[INDEX] = str(idx)
                gen = f"{base.name_of(job)}-{idx}-"
                pspec = t.setdefault("spec", {})
                pspec.setdefault("hostname", f"{base.name_of(job)}-{idx}")
                for c in pspec.get("containers") or []:
                    c.setdefault("env", []).append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {
                        "fieldRef": {"fieldPath": f"metadata.annotations['{INDEX}']"}}})
            bodies.append(podcontrol.pod_from_template(t, namespace=base.ns_of(job), owner_ref=ref, generate_name=gen))
        done = await podcontrol.create_pods(self.client, bodies=bodies, namespace=base.ns_of(job))
        for pod in done.pods:  # upstream's RealPodControl: one event per pod
            self.recorder.event(job, type_="Normal", reason="SuccessfulCreate",
                                message=f"Created pod: {base.name_of(pod)}")
        if done.failures:
            # never to be observed: failed ones, and those slow start did not send
            self.expectations.creation_failed(key, len(done.failures) + done.skipped)
        for failure in done.reported():
            self.recorder.event(job, type_="Warning", reason="FailedCreate",
                                message=f"Error creating: {base.error_message(failure)}")
        return done.error()

    async def _delete_pods(self, job: Obj, pods: list[Obj]) -> None:
        doomed = [p for p in pods if not base.deleting(p)]
        results = await base.gather_limited([self.client.delete(resources.PODS, base.name_of(p),
                                                                namespace=base.ns_of(p)) for p in doomed])
        for pod, result in zip(doomed, results, strict=True):
            if not isinstance(result, BaseException):
                self.recorder.event(job, type_="Normal", reason="SuccessfulDelete",
                                    message=f"Deleted pod: {base.name_of(pod)}")

    async def _release_finalizers(self, pods: list[Obj]) -> None:
        async def one(p: Obj) -> None:
            fins = [f for f in base.meta(p).get("finalizers") or [] if f != TRACKING]
            if len(fins) == len(base.meta(p).get("finalizers") or []):
                return
            try:
                await self.client.patch(resources.PODS, base.name_of(p), {"metadata": {
                    "finalizers": fins or None, "resourceVersion": base.meta(p).get("resourceVersion")}},
                    namespace=base.ns_of(p))
            except errors.NotFound:
                pass
        results = await base.gather_limited([one(p) for p in pods])
        for r in results:
            if isinstance(r, errors.Conflict):
                raise r

    async def _write_status(self, job: Obj, status: Obj) -> None:
        old = job.get("status") or {}
        if base.zeroless(old) == base.zeroless(status):
            return
        body = {k: status.get(k) for k in set(old) | set(status)}
        updated = await self.client.patch(resources.JOBS, base.name_of(job), {"status": body},
                                          namespace=base.ns_of(job), subresource="status")
        job["status"] = updated.get("status") or status
        job["metadata"] = updated.get("metadata") or job.get("metadata")
        self.written[informer.key_of(job)] = (_rv(updated),
                                              {"uid": base.uid_of(job), "status": base.copy(job["status"])})

    async def _ttl(self, job: Obj) -> float | None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None or base.deleting(job):
            return None
        status = job.get("status") or {}
        cond = base.get_condition(status, _finished(job) or "") or {}
        finished = base.parse_time(status.get("completionTime") or cond.get("lastTransitionTime")) or base.now()
        left = (finished + datetime.timedelta(seconds=int(ttl)) - base.now()).total_seconds()
        if left > 0:
            return left + 0.05
        try:
            await self.client.delete(resources.JOBS, base.name_of(job), namespace=base.ns_of(job),
                                     propagation_policy="Foreground", preconditions={"uid": base.uid_of(job)})
            self.log.info("deleted finished job job=%s/%s ttl=%s", base.ns_of(job), base.name_of(job), ttl)
        except (errors.NotFound, errors.Conflict):
            pass
        return None
