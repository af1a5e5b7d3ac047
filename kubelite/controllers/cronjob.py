"""The CronJob controller: creates a Job ``<cronjob>-<minutes since epoch>`` for each
scheduled time (5-field cron, names, ranges, steps, ``@hourly``-style macros, in
``spec.timeZone`` or a ``CRON_TZ=`` prefix, UTC otherwise), honouring
``concurrencyPolicy`` (Allow / Forbid / Replace), ``startingDeadlineSeconds``,
``suspend`` and the successful/failed job history limits, and keeps ``status.active``,
``lastScheduleTime`` and ``lastSuccessfulTime``.

Started by ``controllers.manager``. Only the most recent missed time is run after a
gap (as upstream); the controller sleeps until the next scheduled minute.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from kubelite.client import errors, resources
from kubelite.controllers import base

Obj = dict[str, Any]

SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                       "oct", "nov", "dec"], start=1)}
DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


class Schedule:
    """A parsed cron expression; ``next_after(t)`` is the first matching minute > t."""

    def __init__(self, text: str, tz: str | None = None) -> None:
        text = text.strip()
        for prefix in ("CRON_TZ=", "TZ="):
            if text.startswith(prefix):
                zone, _, text = text[len(prefix):].partition(" ")
                tz = tz or zone
                text = text.strip()
        text = MACROS.get(text, text)
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"expected 5 fields in schedule {text!r}")
        self.tz = zoneinfo.ZoneInfo(tz) if tz else datetime.UTC
        self.minutes = self._field(fields[0], 0, 59, {})
        self.hours = self._field(fields[1], 0, 23, {})
        self.dom = self._field(fields[2], 1, 31, {})
        self.months = self._field(fields[3], 1, 12, MONTHS)
        self.dow = {d % 7 for d in self._field(fields[4], 0, 7, DAYS)}
        self.dom_star = fields[2] in ("*", "?")
        self.dow_star = fields[4] in ("*", "?")

    @staticmethod
    def _field(text: str, lo: int, hi: int, names: dict[str, int]) -> set[int]:
        out: set[int] = set()
        for part in text.lower().split(","):
            rng, _, step_s = part.partition("/")
            step = int(step_s) if step_s else 1
            if rng in ("*", "?"):
                a, b = lo, hi
            else:
                first, _, last = rng.partition("-")
                a = names[first] if first in names else int(first)
                b = (names[last] if last in names else int(last)) if last else (hi if step_s else a)
            if a < lo or b > hi or a > b or step < 1:
                raise ValueError(f"bad cron field {text!r}")
            out.update(range(a, b + 1, step))
        return out

    def _day_ok(self, t: datetime.datetime) -> bool:
        dom_ok = t.day in self.dom
        dow_ok = ((t.weekday() + 1) % 7) in self.dow
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok  # both restricted: either matches (cron's rule)

    def next_after(self, when: datetime.datetime) -> datetime.datetime:
        t = when.astimezone(self.tz).replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        for _ in range(200000):
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + datetime.timedelta(days=32)).replace(day=1)
                continue
            if not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + datetime.timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + datetime.timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t += datetime.timedelta(minutes=1)
                continue
            return t.astimezone(datetime.UTC)
        raise ValueError("schedule never fires")

    def most_recent(self, earliest: datetime.datetime, now: datetime.datetime) -> tuple[datetime.datetime | None, int]:
        """(latest scheduled time in (earliest, now], how many were missed)."""
        last, missed, t = None, 0, earliest
        if now - earliest > datetime.timedelta(days=2):
            t = now - datetime.timedelta(days=2)  # a long outage runs the latest time only
        while True:
            t = self.next_after(t)
            if t > now:
                return last, missed
            last, missed = t, missed + 1


def _finished(job: Obj) -> str | None:
    for ctype in ("Complete", "Failed"):
        cond = base.get_condition(job.get("status"), ctype)
        if cond and cond.get("status") == "True":
            return ctype
    return None


class CronJobController(base.Controller):
    name = "cronjob"
    workers = 2

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.cronjobs = self.informers.get(resources.CRONJOBS)
        self.jobs = self.informers.get(resources.JOBS)
        self.cronjobs.add_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.jobs.add_handler(on_add=self._job_event, on_update=lambda o, n: self._job_event(n),
                              on_delete=self._job_event)

    def _job_event(self, job: Obj) -> None:
        ref = base.controller_ref(job)
        if ref and ref.get("kind") == "CronJob":
            self.queue.add(f"{base.ns_of(job)}/{ref.get('name')}")

    async def reconcile(self, key: str) -> float | None:
        cached = self.cronjobs.get(key)
        if cached is None or base.deleting(cached):
            return None
        cj = base.copy(cached)
        spec = cj.get("spec") or {}
        ns = base.ns_of(cj)
        jobs = self.jobs.by_index("controller", base.uid_of(cj))
        status = base.copy(cj.get("status") or {})
        now = base.now()

        active = [j for j in jobs if not _finished(j) and not base.deleting(j)]
        status["active"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": base.name_of(j), "namespace": ns,
                             "uid": base.uid_of(j), "resourceVersion": base.meta(j).get("resourceVersion")}
                            for j in sorted(active, key=base.name_of)] or None
        done = [j for j in jobs if _finished(j) == "Complete"]
        if done:
            latest = max((j.get("status") or {}).get("completionTime") or "" for j in done)
            if latest and latest > (status.get("lastSuccessfulTime") or ""):
                status["lastSuccessfulTime"] = latest
        await self._prune(jobs, spec)

        try:
            schedule = Schedule(spec.get("schedule") or "", spec.get("timeZone"))
        except (ValueError, zoneinfo.ZoneInfoNotFoundError) as exc:
            self.recorder.event(cj, type_="Warning", reason="UnparseableSchedule", message=str(exc))
            await self._write_status(cj, status)
            return None
        if spec.get("suspend"):
            await self._write_status(cj, status)
            return None
        earliest = base.parse_time(status.get("lastScheduleTime")) or \
            base.parse_time(base.meta(cj).get("creationTimestamp")) or now
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - datetime.timedelta(seconds=int(deadline)))
        scheduled, missed = schedule.most_recent(earliest, now)
        nxt = (schedule.next_after(now) - now).total_seconds() + 0.05
        if scheduled is None:
            await self._write_status(cj, status)
            return nxt
        if missed > 100:
            self.recorder.event(cj, type_="Warning", reason="TooManyMissedTimes",
                                message=f"too many missed start times: {missed}")
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.log.info("run skipped: previous job active cronjob=%s scheduled=%s", key, base.fmt_time(scheduled))
            await self._write_status(cj, status)
            return min(nxt, 1.0)  # run it as soon as the active job finishes, if still in time
        if policy == "Replace":
            for j in active:
                try:
                    await self.client.delete(resources.JOBS, base.name_of(j), namespace=ns,
                                             propagation_policy="Background")
                except errors.NotFound:
                    pass
                self.recorder.event(cj, type_="Normal", reason="SuccessfulDelete",
                                    message=f"Deleted job {base.name_of(j)}")
            status["active"] = None
        job = await self._create_job(cj, scheduled)
        if job is not None:
            refs = list(status.get("active") or [])
            if not any(r.get("uid") == base.uid_of(job) for r in refs):
                refs.append({"apiVersion": "batch/v1", "kind": "Job", "name": base.name_of(job), "namespace": ns,
                             "uid": base.uid_of(job), "resourceVersion": base.meta(job).get("resourceVersion")})
            status["active"] = refs
        status["lastScheduleTime"] = base.fmt_time(scheduled)
        await self._write_status(cj, status)
        return nxt

    async def _create_job(self, cj: Obj, scheduled: datetime.datetime) -> Obj | None:
        tmpl = base.copy((cj.get("spec") or {}).get("jobTemplate") or {})
        tmeta = tmpl.get("metadata") or {}
        name = f"{base.name_of(cj)}-{int(scheduled.timestamp() // 60)}"
        annotations = dict(tmeta.get("annotations") or {})
        annotations[SCHEDULED_AT] = base.fmt_time(scheduled)
        body = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": base.ns_of(cj), "labels": dict(tmeta.get("labels") or {}),
                             "annotations": annotations,
                             "ownerReferences": [base.owner_reference(cj, kind="CronJob", api_version="batch/v1")]},
                "spec": tmpl.get("spec") or {}}
        try:
            job = await self.client.create(resources.JOBS, body, namespace=base.ns_of(cj))
        except errors.AlreadyExists:
            return None  # created on an earlier pass; the active list comes from the informer
        except errors.ApiError as exc:
            # upstream's wording; raised to the work queue, whose back-off paces the retries.
            # In a namespace being deleted every create fails: no Event for that (upstream).
            if not errors.namespace_terminating(exc):
                self.recorder.event(cj, type_="Warning", reason="FailedCreate",
                                    message=f"Error creating job: {exc.message}")
            raise
        self.recorder.event(cj, type_="Normal", reason="SuccessfulCreate", message=f"Created job {name}")
        return job

    async def _prune(self, jobs: list[Obj], spec: Obj) -> None:
        for kind, field, default in (("Complete", "successfulJobsHistoryLimit", 3),
                                     ("Failed", "failedJobsHistoryLimit", 1)):
            limit = spec.get(field)
            limit = default if limit is None else int(limit)
            finished = sorted((j for j in jobs if _finished(j) == kind and not base.deleting(j)),
                              key=lambda j: ((j.get("status") or {}).get("startTime") or "", base.name_of(j)))
            for j in finished[:max(0, len(finished) - limit)]:
                try:
                    await self.client.delete(resources.JOBS, base.name_of(j), namespace=base.ns_of(j),
                                             propagation_policy="Background")
                except errors.NotFound:
                    pass

    async def _write_status(self, cj: Obj, status: Obj) -> None:
        old = cj.get("status") or {}

        def norm(s: Obj) -> Obj:
            out = {k: v for k, v in s.items() if v}
            out["active"] = [{k: v for k, v in r.items() if k != "resourceVersion"} for r in s.get("active") or []]
            return out
        if norm(old) == norm(status):
            return
        body = {k: status.get(k) for k in set(old) | set(status)}
        await self.client.patch(resources.CRONJOBS, base.name_of(cj), {"status": body},
                                namespace=base.ns_of(cj), subresource="status")
