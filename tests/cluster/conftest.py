"""Fixtures of the cluster tier: real etcd clusters started from ``tests/support/etcd.py``.

The whole tier is skipped, with the reason, when the ``etcd`` binary is missing (Debian:
``apt-get install etcd-server etcd-client``); CI installs it, so there it always runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import etcd

_HERE = Path(__file__).parent
_MISSING = ("etcd is not installed: the cluster tier needs the etcd and etcdctl binaries "
            "(apt-get install etcd-server etcd-client)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = etcd.etcd_binary() is None
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.etcd)
            if missing:
                item.add_marker(pytest.mark.skip(reason=_MISSING))


@pytest.fixture(scope="module")
def etcd_member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[etcd.EtcdCluster]:
    """One etcd member, shared by the tests of a module (they write under their own keys)."""
    cluster = etcd.EtcdCluster(tmp_path_factory.mktemp("etcd1"), members=1)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def etcd_cluster(tmp_path: Path) -> Iterator[etcd.EtcdCluster]:
    """A fresh three-member etcd cluster for one test (it may kill members)."""
    cluster = etcd.EtcdCluster(tmp_path / "etcd", members=3)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
