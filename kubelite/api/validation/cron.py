"""Cron schedules for CronJob ``spec.schedule``: parse, explain errors, find the next run.

Pure functions, no I/O. ``kubelite.api.validation`` calls ``parse_schedule`` to validate a
CronJob (the error text becomes the ``spec.schedule`` cause, worded like the Go cron
library upstream uses); the CronJob controller calls ``Schedule.next_after`` to find when
to start the next Job. Standard 5-field syntax (minute hour day-of-month month
day-of-week) with ``*``, ``?``, lists, ranges, steps, month and weekday names, and the
``@yearly``/``@annually``/``@monthly``/``@weekly``/``@daily``/``@midnight``/``@hourly``/
``@every <duration>`` descriptors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta


class ScheduleError(ValueError):
    """An unparsable schedule; ``str(exc)`` is the message shown to the user."""


# (name, min, max, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("dom", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}),
    ("dow", 0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}),
)

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the allowed values of each field, or a fixed interval."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    doms: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    dows: frozenset[int] = frozenset()
    dom_star: bool = True
    dow_star: bool = True
    every: timedelta | None = None

    def _day_matches(self, t: datetime) -> bool:
        dom_ok = t.day in self.doms
        dow_ok = (t.weekday() + 1) % 7 in self.dows  # cron counts Sunday as 0
        # as in classic cron: with both day fields restricted, either one may match
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next_after(self, after: datetime) -> datetime | None:
        """The first activation strictly after ``after`` (same tzinfo), None if none in 5 years."""
        if self.every is not None:
            base = after.replace(microsecond=0)
            return base + self.every
        t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = after.year + 5
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t = t + timedelta(minutes=1)
                continue
            return t
        return None


def _parse_int(text: str, expr: str) -> int:
    if not text.isdigit():
        if text.startswith("-") and text[1:].isdigit():
            raise ScheduleError(f"negative number ({text}) not allowed: {expr}")
        raise ScheduleError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _value(text: str, names: dict[str, int], expr: str) -> int:
    named = names.get(text.lower())
    return named if named is not None else _parse_int(text, expr)


def _parse_range(expr: str, lo: int, hi: int, names: dict[str, int]) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single_digit = len(low_and_high) == 1
    star = False
    if low_and_high[0] in ("*", "?"):
        start, end, star = lo, hi, True
    else:
        start = _value(low_and_high[0], names, expr)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _value(low_and_high[1], names, expr)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _parse_int(range_and_step[1], expr)
        if single_digit:  # "N/step" means "N-max/step"
            end = hi
        if step > 1:
            star = False
    else:
        raise ScheduleError(f"too many slashes: {expr}")
    if start < lo:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ScheduleError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _parse_field(text: str, lo: int, hi: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        got, part_star = _parse_range(part, lo, hi, names)
        values |= got
        star = star or part_star
    return frozenset(values), star


def _parse_duration(text: str) -> timedelta:
    pos, total = 0, 0.0
    if text in ("0",):
        return timedelta(0)
    while pos < len(text):
        m = _DURATION_RE.match(text, pos)
        if not m:
            raise ScheduleError(f'failed to parse duration @every {text}: time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not text:
        raise ScheduleError(f'failed to parse duration @every {text}: time: invalid duration ""')
    return timedelta(seconds=total)


def parse_schedule(spec: str) -> Schedule:
    """Parse a standard cron spec; an invalid one raises ``ScheduleError``."""
    spec = spec.strip()
    if not spec:
        raise ScheduleError("empty spec string")
    if spec.startswith("@"):
        if spec.startswith("@every "):
            every = _parse_duration(spec[len("@every "):].strip())
            every = max(every, timedelta(seconds=1))  # the cron library rounds sub-second intervals up
            return Schedule(every=every)
        expanded = _DESCRIPTORS.get(spec.lower())
        if expanded is None:
            raise ScheduleError(f"unrecognized descriptor: {spec}")
        spec = expanded
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_parse_field(text, lo, hi, names) for text, (_, lo, hi, names) in zip(fields, _FIELDS)]
    return Schedule(minutes=parsed[0][0], hours=parsed[1][0], doms=parsed[2][0],
                    months=parsed[3][0], dows=parsed[4][0],
                    dom_star=parsed[2][1], dow_star=parsed[4][1])
