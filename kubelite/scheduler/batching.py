"""Batched writes to the API server's bulk endpoint (``kubelite.apiserver.bulk``).

Used by the scheduler's DefaultBinder (pod bindings) and its Reporter (events). Callers
``await submit(item)`` one item at a time, from as many coroutines as they like; items
waiting together leave in one request (up to ``max_batch``), with at most ``in_flight``
requests out at once, so a batch forms by itself while the previous ones are answered
(no timer: a lone item leaves at once). Each caller gets its own item's outcome: None,
or the ``errors.ApiError`` its single request would have raised.

There is no background task: the first caller that finds a free request slot sends the
batch at the front of the queue, its own item or not, and goes on waiting for its own.
A server without the bulk endpoint (404) is remembered, and every item then goes by
``single``, its ordinary request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubelite.client import errors, rest

log = logging.getLogger("kubelite.scheduler.batching")

BULK_PREFIX = "/apis/bulk.kubelite.io/v1/"
Obj = dict[str, Any]


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
        self._pending: list[tuple[Obj, asyncio.Future[errors.ApiError | None]]] = []
        self._active = 0
        self._slot_freed: asyncio.Future[None] | None = None

    async def submit(self, item: Obj) -> None:
        """Write ``item``; raises the ``errors.ApiError`` the server answered for it."""
        if not self.supported:
            await self.single(item)
            return
        loop = asyncio.get_running_loop()
        mine: asyncio.Future[errors.ApiError | None] = loop.create_future()
        self._pending.append((item, mine))
        while not mine.done():
            if self._active < self.in_flight and self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self._active += 1
                try:
                    await self._send(batch)
                finally:
                    self._active -= 1
                    for _, fut in batch:  # this sender was cancelled mid-request
                        if not fut.done():
                            fut.set_result(errors.ServerError("bulk write interrupted; its outcome is unknown"))
                    if self._slot_freed is not None and not self._slot_freed.done():
                        self._slot_freed.set_result(None)
                continue
            if self._slot_freed is None or self._slot_freed.done():
                self._slot_freed = loop.create_future()
            waiting: list[asyncio.Future[Any]] = [mine, self._slot_freed]
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        failure = mine.result()
        if failure is not None:
            raise failure

    async def _send(self, batch: list[tuple[Obj, asyncio.Future[errors.ApiError | None]]]) -> None:
        try:
            answer = await self.client.request("POST", self.path, json={"items": [item for item, _ in batch]})
            self.requests += 1
        except errors.NotFound:
            log.info("no bulk endpoint %s on this server: one request per item", self.path)
            self.supported = False
            await asyncio.gather(*(self._one(item, fut) for item, fut in batch))
            return
        except errors.ApiError as exc:
            for _, fut in batch:
                fut.set_result(exc)
            return
        results = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(batch):
            bad = errors.ServerError(f"bulk answer of {self.path} does not match its request")
            for _, fut in batch:
                fut.set_result(bad)
            return
        for (_, fut), result in zip(batch, results):
            code = int(result.get("code") or 0) if isinstance(result, dict) else 0
            fut.set_result(None if 200 <= code < 300 else errors.from_status(code, result))

    async def _one(self, item: Obj, fut: asyncio.Future[errors.ApiError | None]) -> None:
        try:
            await self.single(item)
        except errors.ApiError as exc:
            fut.set_result(exc)
        else:
            fut.set_result(None)
