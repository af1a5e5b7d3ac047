"""The scheduler's configuration file through a real server: ``kubelite server
--scheduler-config FILE`` (a KubeSchedulerConfiguration) gives the scheduler a second
profile, picked by ``spec.schedulerName``, whose MostAllocated scoring packs pods onto the
fullest node while the default profile spreads them; a bad file stops the server before
it starts, with the field named.
"""

# ruff: noqa: F811  (pytest fixtures imported from scheduler_fixtures share their parameters' names)
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.scheduler_fixtures import Cluster, cluster, core  # noqa: F401
from tests.conftest import wait_for
from tests.support import processes

CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
  plugins:
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
"""


@pytest.fixture(scope="module")
def sched_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.ServerProcess]:
    data = tmp_path_factory.mktemp("kubelite-sched-config")
    (data / "scheduler.yaml").write_text(CONFIG)
    srv = processes.ServerProcess(data_dir=data / "server",
                                  extra_args=["--disable-controllers", "--scheduler-config", str(data / "scheduler.yaml")])
    srv.start()
    yield srv
    srv.stop()


def test_a_second_profile_packs_pods_while_the_default_one_spreads_them(cluster: Cluster) -> None:
    a, b = cluster.node("a"), cluster.node("b")
    first = cluster.pod("first", cpu="1")
    busy = cluster.wait_bound(first)[first]
    idle = b if busy == a else a
    # MostAllocated: every packed pod goes where the most is already requested.
    packed = [cluster.pod(f"packed{i}", cpu="500m", spec={"schedulerName": "bin-packing"}) for i in range(3)]
    assert set(cluster.wait_bound(*packed).values()) == {busy}
    # LeastAllocated (the default profile): the next pod goes to the idle node.
    spread = cluster.pod("spread", cpu="500m")
    assert cluster.wait_bound(spread)[spread] == idle
    # Each profile reports as itself (kubectl describe pod: "From bin-packing").
    def sources() -> dict[str, str]:
        events = cluster.core.list_namespaced_event(cluster.ns).items
        return {e.involved_object.name: e.source.component for e in events if e.reason == "Scheduled"}
    wait_for(lambda: {"packed0", "spread"} <= set(sources()), 10, message="Scheduled events recorded")
    assert (sources()["packed0"], sources()["spread"]) == ("bin-packing", "default-scheduler")


def test_packing_stops_where_the_node_is_full(cluster: Cluster) -> None:
    small = cluster.node("small", cpu="1")
    cluster.node("big", cpu="8")
    # The small node fills first under MostAllocated (its share is the higher), never past its room.
    pods = [cluster.pod(f"p{i}", cpu="400m", spec={"schedulerName": "bin-packing"}) for i in range(4)]
    placed = cluster.wait_bound(*pods)
    assert sum(1 for node in placed.values() if node == small) == 2  # 2 × 400m fit in 1 CPU, a third does not


def test_a_bad_file_stops_the_server_with_the_field_named(tmp_path: Path) -> None:
    bad = tmp_path / "scheduler.yaml"
    bad.write_text(CONFIG.replace("MostAllocated", "MostAlocated"))
    out = subprocess.run([sys.executable, "-m", "kubelite.cli.main", "server", "--data-dir", str(tmp_path / "d"),
                          "--port", "0", "--scheduler-config", str(bad)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1
    assert "NodeResourcesFit.args.scoringStrategy.type: Unsupported value: 'MostAlocated'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "d" / "kubeconfig.yaml").exists()  # stopped before serving anything
