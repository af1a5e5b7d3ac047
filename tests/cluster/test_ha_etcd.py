"""etcd member loss under a steady write load through three API servers.

- ``kill -9`` of the etcd leader, then of a follower (each restarted afterwards): every
  write an API server acknowledged is there afterwards; the longest stretch without any
  acknowledged write is printed (and must stay under 10 s; bench/failover.py measures it).
- Two of three members dead: no write is acknowledged, and a read never returns data
  older than a write that was acknowledged before (the surviving member was frozen while
  that write committed, so it holds the old value: the read must fail rather than lie).

Controllers and scheduler are disabled: this is about the datastore path only.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Self

import pytest

from tests.conftest import wait_for
from tests.support import ha

NS = "load"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ha.HACluster]:
    c = ha.HACluster(Path(tmp_path_factory.mktemp("ha-etcd")),
                     server_args=["--disable-controllers", "--disable-scheduler"])
    try:
        c.start(servers=3)
        c.api(0).create("/api/v1/namespaces", {"metadata": {"name": NS}})
        yield c
    finally:
        c.stop()


class Load:
    """One writer thread per API server creating ConfigMaps; acknowledged names, uids and
    times are recorded."""

    def __init__(self, cluster: ha.HACluster) -> None:
        self.cluster = cluster
        self.acked: dict[str, str] = {}
        self.times: list[float] = []
        self.unanswered = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(cluster.servers))]

    def __enter__(self) -> Self:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=20)

    def _run(self, index: int) -> None:
        api = self.cluster.api(index, timeout=15)
        n = 0
        while not self.stop.is_set():
            name = f"s{index}-{n}"
            n += 1
            try:
                obj = api.create(f"/api/v1/namespaces/{NS}/configmaps", {"metadata": {"name": name}})
            except ha.ApiError:
                with self.lock:
                    self.unanswered += 1
                continue
            with self.lock:
                self.acked[name] = obj["metadata"]["uid"]
                self.times.append(time.monotonic())

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def longest_gap(self, since: float) -> float:
        with self.lock:
            times = sorted(t for t in self.times if t >= since)
        points = [since, *times]
        return max((b - a for a, b in itertools.pairwise(points)), default=0.0)


def _wait_quorum(cluster: ha.HACluster) -> None:
    # EtcdCluster.status() raises KeyError while a member has no leader yet (etcdctl's
    # JSON omits "leader": 0), so wait for a leader here before wait_healthy.
    assert cluster.etcd is not None
    wait_for(lambda: cluster.etcd.leader() is not None, 30, message="an etcd leader", ignore=(KeyError,))
    cluster.etcd.wait_healthy(timeout=30)


def _member_dies_and_writes_resume(cluster: ha.HACluster, load: Load, member: int) -> float:
    assert cluster.etcd is not None
    before = load.count()
    started = time.monotonic()
    cluster.etcd.kill(member, signal.SIGKILL)
    wait_for(lambda: load.count() >= before + 100, 30, message=f"writes resuming after etcd m{member} died")
    gap = load.longest_gap(started)
    cluster.etcd.start_member(member)
    _wait_quorum(cluster)
    return gap


@pytest.mark.timeout(180)
def test_member_loss_loses_no_acknowledged_write(cluster: ha.HACluster) -> None:
    assert cluster.etcd is not None
    with Load(cluster) as load:
        wait_for(lambda: load.count() >= 100, 30, message="steady writes")
        leader = cluster.etcd.leader()
        assert leader is not None
        leader_gap = _member_dies_and_writes_resume(cluster, load, leader)
        follower = next(i for i in range(3) if i != cluster.etcd.leader())
        follower_gap = _member_dies_and_writes_resume(cluster, load, follower)
    stored = {cm["metadata"]["name"]: cm["metadata"]["uid"]
              for cm in cluster.api(0).items(f"/api/v1/namespaces/{NS}/configmaps")}
    lost = sorted(name for name, uid in load.acked.items() if stored.get(name) != uid)
    print(f"acknowledged={len(load.acked)} unanswered={load.unanswered} lost={len(lost)} "
          f"longest write outage: etcd leader killed {leader_gap:.2f}s, follower killed {follower_gap:.2f}s")
    assert not lost, f"acknowledged writes lost: {lost[:10]}"
    assert leader_gap < 10 and follower_gap < 10


@pytest.mark.timeout(180)
def test_without_quorum_nothing_is_acknowledged_and_no_stale_read(cluster: ha.HACluster) -> None:
    etcd = cluster.etcd
    assert etcd is not None
    path = f"/api/v1/namespaces/{NS}/configmaps"
    cluster.api(0).create(path, {"metadata": {"name": "fresh"}, "data": {"v": "old"}})
    leader = etcd.leader()
    survivor = next(i for i in range(3) if i != leader)
    # Freeze the future survivor, then change the value: the majority commits it without
    # the survivor, which keeps "old".
    etcd.kill(survivor, signal.SIGSTOP)
    # A server whose etcd client was talking to the frozen member cannot know whether its
    # write landed: it answers 503 with Retry-After, and a client retries (client-go does).
    for attempt in range(3):
        try:
            cluster.api(1).patch(f"{path}/fresh", {"data": {"v": "new"}})
            break
        except ha.ApiError as exc:
            if exc.code != 503 or attempt == 2:
                raise
    for i in range(3):
        if i != survivor:
            etcd.kill(i, signal.SIGKILL)
    etcd.kill(survivor, signal.SIGCONT)

    def write(index: int) -> str:
        try:
            cluster.api(index, timeout=20).create(path, {"metadata": {"name": f"no-quorum-{index}"}})
            return f"server {index}: write acknowledged"
        except ha.ApiError:
            return ""  # refused or timed out: not acknowledged, as it must be

    def read(index: int) -> str:
        for _ in range(3):
            try:
                obj = cluster.api(index, timeout=20).get(f"{path}/fresh")
            except ha.ApiError:
                continue  # refused: the right answer without a quorum
            if obj["data"]["v"] != "new":
                return f"server {index} served a stale read: {obj['data']}"
        return ""

    with futures.ThreadPoolExecutor(6) as pool:
        problems = [p for p in pool.map(write, range(3)) if p] + [p for p in pool.map(read, range(3)) if p]
    assert not problems, problems

    # Quorum back: the cluster serves again, and the value is the acknowledged one.
    for i in range(3):
        etcd.start_member(i)
    _wait_quorum(cluster)
    wait_for(lambda: cluster.api(2, timeout=5).get(f"{path}/fresh")["data"]["v"] == "new", 30,
             message="reads served again after quorum returns", ignore=(ha.ApiError,))
    cluster.api(2).create(path, {"metadata": {"name": "after-quorum"}})
