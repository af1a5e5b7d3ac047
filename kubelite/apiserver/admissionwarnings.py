"""Warnings an admission plugin adds to the answer of the request it is admitting, as
upstream's ``warning.AddWarning(ctx, …)``: kept in a context variable of the request's
task, taken by ``handlers`` into ``Warning`` headers when the write succeeds, and
cleared by ``app`` after every request (requests of one connection may share a task).

Who calls it: ``apiserver/podsecurity.py`` (PodSecurity's warn mode and the namespace
label checks). Repeated texts are sent once, as upstream's recorder does: a patch retried
after a conflict admits its object again.
"""

from __future__ import annotations

import contextvars

_PENDING: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("kubelite_admission_warnings",
                                                                           default=None)


def add(text: str) -> None:
    pending = _PENDING.get()
    if pending is None:
        _PENDING.set([text])
    elif text not in pending:
        pending.append(text)


def take() -> list[str]:
    """The warnings added so far in this request, and none from now on."""
    pending = _PENDING.get()
    if pending is None:
        return []
    _PENDING.set(None)
    return pending


def clear() -> None:
    if _PENDING.get() is not None:
        _PENDING.set(None)
