"""A registry over a real SQLite backend and watch cache, for store-level tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelite import storage
from kubelite.api import scheme
from kubelite.apiserver import registry, requests, strategies, watchcache


@pytest.fixture
async def reg(tmp_path: Path) -> AsyncIterator[registry.Registry]:
    backend = await storage.open_backend(f"sqlite://{tmp_path}/state.db")
    cache = watchcache.WatchCache(backend)
    await cache.start()
    the_scheme = scheme.Scheme()
    r = registry.Registry(backend=backend, cache=cache, scheme_=the_scheme)
    for info in the_scheme.resources:
        r.add(info, strategies.strategy_for(info))
    try:
        yield r
    finally:
        await cache.close()
        await backend.close()


@pytest.fixture
async def default_namespace(reg: registry.Registry) -> None:
    namespaces = reg.get("", "v1", "namespaces")
    assert namespaces is not None
    await namespaces.create(None, {"metadata": {"name": "default"}}, requests.WriteOptions.parse({}))
