"""Generic helpers for every test tier: waiting on a condition with a deadline, free ports.

Tests never sleep a fixed time to wait for state; they poll a predicate until it holds or
a deadline passes, and fail with a message saying what never happened.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from _pytest.assertion.rewrite import AssertionRewritingHook

T = TypeVar("T")

# A Job's pods are re-created 10 s after a first failure, as upstream; tests that fail pods
# on purpose would wait minutes. Set before kubelite is imported, and inherited by every
# server the tests start.
os.environ.setdefault("KUBELITE_JOB_BACKOFF_SECONDS", "0.5")
# No DNS query of a test may leave the machine: the agents' cluster DNS forwards nowhere.
os.environ.setdefault("KUBELITE_DNS_UPSTREAMS", "")
# The tests run many clusters on one host at once, and one host's pods share one bridge: the
# Service proxies and cluster DNS servers of two clusters' agents would answer for each
# other. Agents run without them unless a test asks (tests/node/test_service_network.py).
os.environ.setdefault("KUBELITE_NO_SERVICE_PROXY", "1")


def pytest_configure(config: pytest.Config) -> None:
    """Rewrite the asserts of our tests only, not those of every module of every installed
    pytest plugin (anyio, hypothesis, …), which pytest marks at start-up. A plugin module
    imported lazily is otherwise parsed mid-session, in whatever thread imports it, and
    Debian 12's Python 3.11.2 keeps the AST constructor's recursion depth in state another
    thread's parse can upset (cpython gh-106905, fixed in 3.11.5): twice a CI run failed
    the kr8s tests with "SystemError: AST constructor recursion depth mismatch" while
    rewriting ``anyio._core._fileio``, which kr8s imports on first use from its thread.
    ``_must_rewrite`` is pytest's private set of those marks; without it, nothing changes."""
    for hook in sys.meta_path:
        if isinstance(hook, AssertionRewritingHook) and isinstance(getattr(hook, "_must_rewrite", None), set):
            hook._must_rewrite.clear()
            hook._marked_for_rewrite_cache.clear()


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: str = "condition",
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Poll ``predicate`` until it returns something truthy; return that value.

    Exceptions of the types in ``ignore`` (e.g. NotFound while an object is being created)
    count as "not yet"; any other propagates at once. Raises AssertionError naming
    ``message`` (and the last ignored exception, if any) when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except ignore as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message}"
                + (f" (last error: {last_error!r})" if last_error else "")
            )
        time.sleep(interval)


async def await_for(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float,
    interval: float = 0.05,
    message: str = "condition",
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """The async ``wait_for``: ``predicate`` may be a plain or an async callable."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
        except ignore as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message}"
                + (f" (last error: {last_error!r})" if last_error else "")
            )
        await asyncio.sleep(interval)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (the kernel picks it; another process could
    still take it before the caller binds, so prefer binding to port 0 where possible)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
