"""Placeholder: the scheduler is being written (issue 5)."""

from __future__ import annotations

import asyncio
from typing import Any


async def run(cfg: Any, *, identity: str) -> None:
    await asyncio.Event().wait()
