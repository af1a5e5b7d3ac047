"""Batched writes to the API server's bulk endpoint (``kubelite.apiserver.bulk``).

Used by the scheduler's DefaultBinder (pod bindings) and its Reporter (events). Items
waiting together leave in one request (up to ``max_batch``), with at most ``in_flight``
requests out at once, so a batch forms by itself while the previous ones are answered
(no timer: a lone item leaves at once). Each item gets its own outcome: None, or the
``errors.ApiError`` its single request would have raised.

Two ways in: ``put(item, done)`` (synchronous, for the scheduling loop: ``done`` is
called with the outcome, no coroutine per item) and ``await submit(item)`` (raises the
item's error). Senders are short tasks started on demand, one per free request slot
while items wait; each sends batch after batch until nothing waits, then ends. The
outcomes of a batch are handed out by its sender in one go: there is no future or
wake-up per waiting item unless the caller asked for one (``submit``).

A server without the bulk endpoint (404) is remembered, and every item then goes by
``single``, its ordinary request. ``close`` stops the senders; items in flight or still
waiting are answered "outcome unknown".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubelite.aio import tasks
from kubelite.client import errors, rest

log = logging.getLogger("kubelite.scheduler.batching")

BULK_PREFIX = "/apis/bulk.kubelite.io/v1/"
Obj = dict[str, Any]
Outcome = errors.ApiError | None
Done = Callable[[Outcome], None]


def _interrupted() -> errors.ApiError:
    return errors.ServerError("bulk write interrupted; its outcome is unknown")


class BulkWriter:
    def __init__(self, client: rest.Client, *, kind: str, single: Callable[[Obj], Awaitable[Any]],
                 max_batch: int = 500, in_flight: int = 4) -> None:
        self.client = client
        self.path = BULK_PREFIX + kind
        self.single = single
        self.max_batch = max_batch
        self.in_flight = in_flight
        self.supported = True
        self.requests = 0  # bulk requests sent (for tests and benchmarks)
        self._items: list[Obj] = []
        self._done: list[Done] = []
        self._active = 0  # senders started (running or about to)
        self._starting = False  # a sender is started but has not taken its first batch yet
        self._tg = tasks.TaskGroup(f"bulk/{kind}")

    def __len__(self) -> int:
        """Items waiting for a request slot."""
        return len(self._items)

    def put(self, item: Obj, done: Done) -> None:
        """Queue ``item``; ``done(outcome)`` is called once it is answered (from the
        sender task, never from inside ``put``). Needs a running event loop."""
        self._items.append(item)
        self._done.append(done)
        # A sender that has not started yet takes this item too: start one only when
        # none is about to run and a request slot is free.
        if not self._starting and self._active < self.in_flight:
            self._start_sender()

    async def submit(self, item: Obj) -> None:
        """Write ``item``; raises the ``errors.ApiError`` the server answered for it."""
        if not self.supported:
            await self.single(item)
            return
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def done(outcome: Outcome) -> None:
            if not fut.done():  # the caller may have given up (cancelled) meanwhile
                fut.set_result(outcome)

        self.put(item, done)
        failure = await fut
        if failure is not None:
            raise failure

    async def close(self) -> None:
        """Stop the senders; whatever they carried or was still waiting is answered
        "outcome unknown"."""
        await self._tg.close()
        # A sender cancelled before it ran never decremented its slot.
        self._active, self._starting = 0, False
        items, dones = self._take(len(self._items))
        self._answer(dones, [_interrupted()] * len(items))

    # --- senders ------------------------------------------------------------------------

    def _start_sender(self) -> None:
        self._active += 1
        self._starting = True
        self._tg.spawn(self._sender(), name="send")

    def _take(self, n: int) -> tuple[list[Obj], list[Done]]:
        items, dones = self._items[:n], self._done[:n]
        del self._items[:n], self._done[:n]
        return items, dones

    async def _sender(self) -> None:
        self._starting = False
        try:
            while self._items:
                items, dones = self._take(self.max_batch)
                # More is waiting and a slot is free: let another sender carry it now.
                if self._items and not self._starting and self._active < self.in_flight:
                    self._start_sender()
                outcomes: list[Outcome] = [_interrupted()] * len(items)
                try:
                    outcomes = await self._send(items)
                except Exception as exc:  # noqa: BLE001 - answered below; this sender goes on
                    log.warning("bulk write failed path=%s items=%d error=%r", self.path, len(items), exc)
                    outcomes = [errors.ServerError(f"bulk write failed: {exc!r}")] * len(items)
                finally:
                    # Cancelled mid-request, the batch is answered "unknown" all the same.
                    self._answer(dones, outcomes)
        finally:
            self._active -= 1

    @staticmethod
    def _answer(dones: list[Done], outcomes: list[Outcome]) -> None:
        for done, outcome in zip(dones, outcomes):
            try:
                done(outcome)
            except Exception:  # one caller's bug must not cost the others their answers
                log.exception("bulk write callback failed")

    async def _send(self, items: list[Obj]) -> list[Outcome]:
        if not self.supported:
            return await self._singles(items)
        try:
            answer = await self.client.request("POST", self.path, json={"items": items})
            self.requests += 1
        except errors.NotFound:
            log.info("no bulk endpoint %s on this server: one request per item", self.path)
            self.supported = False
            return await self._singles(items)
        except errors.ApiError as exc:
            return [exc] * len(items)
        results = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(items):
            return [errors.ServerError(f"bulk answer of {self.path} does not match its request")] * len(items)
        outcomes: list[Outcome] = []
        for result in results:
            code = int(result.get("code") or 0) if isinstance(result, dict) else 0
            outcomes.append(None if 200 <= code < 300 else errors.from_status(code, result))
        return outcomes

    async def _singles(self, items: list[Obj]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._one(item) for item in items)))

    async def _one(self, item: Obj) -> Outcome:
        try:
            await self.single(item)
        except errors.ApiError as exc:
            return exc
        return None
