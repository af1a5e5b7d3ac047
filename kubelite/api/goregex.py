"""Go (RE2) regular expressions run with Python's ``re``, for the syntax they spell differently.

CRD schemas' ``pattern:`` and CEL's ``matches``/``find``/``findAll`` are Go regular
expressions upstream (``kubelite.api.crdschema``, ``kubelite.api.celext`` call ``compile``).
Most RE2 syntax means the same in Python; the differences real CRDs use are translated:

- inline flags after the start, ``^(?i)[a-z]+$`` (Kueue's CRDs): RE2 applies them to the
  rest of the enclosing group, Python refuses them, so they become a scoped group,
  ``^(?i:[a-z]+$)``;
- ``\\z`` (end of text) is Python's ``\\Z``.

A pattern Python still cannot compile raises ``re.error`` as before; ``has_unicode_classes``
tells callers when that is RE2 syntax Python lacks (``\\pL``) rather than a bad pattern.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

_INLINE_FLAGS: Final = re.compile(r"\(\?([imsU]+)\)")
_UNICODE_CLASS: Final = re.compile(r"(?<!\\)(?:\\\\)*\\[pP]")


@functools.lru_cache(maxsize=4096)
def compile(pattern: str) -> re.Pattern[str]:  # noqa: A001  (re.compile's name, on purpose)
    """``pattern`` compiled with Go's meaning; ``re.error`` when it cannot be."""
    return re.compile(translate(pattern))


def translate(pattern: str) -> str:
    """``pattern`` rewritten in Python's syntax (unchanged when it already means the same)."""
    if "(?" not in pattern and "\\z" not in pattern:
        return pattern
    out: list[str] = []
    # per group (the whole pattern first): scoped-flag groups open in it, and their flags,
    # reopened after each "|" since RE2's flags last to the end of the group, across "|"
    frames: list[list[Any]] = [[0, ""]]
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append("\\Z" if pattern[i + 1] == "z" and not in_class else pattern[i:i + 2])
            i += 2
            continue
        frame = frames[-1]
        if in_class:
            in_class = c != "]"
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
            lead = 2 if pattern[i + 1:i + 3] == "^]" else 1 if pattern[i + 1:i + 2] == "]" else 0
            out.append(pattern[i + 1:i + 1 + lead])  # a leading "]" is a literal
            i += lead
        elif c == "(" and (m := _INLINE_FLAGS.match(pattern, i)) and i > 0 and "U" not in m.group(1):
            out.append(f"(?{m.group(1)}:")
            frame[0] += 1
            frame[1] += m.group(1)
            i = m.end()
            continue
        elif c == "(":
            frames.append([0, ""])
            out.append(c)
        elif c == "|":
            out.append(")" * frame[0] + "|")
            frame[0] = 1 if frame[1] else 0
            if frame[1]:
                out.append(f"(?{frame[1]}:")
        elif c == ")" and len(frames) > 1:
            out.append(")" * frames.pop()[0] + ")")
        else:
            out.append(c)
        i += 1
    out.append(")" * frames[0][0])
    return "".join(out)


def has_unicode_classes(pattern: str) -> bool:
    """Whether ``pattern`` uses RE2's Unicode classes (``\\pL``, ``\\p{Greek}``, ``\\PN``)."""
    return _UNICODE_CLASS.search(pattern) is not None
