"""Leader loss: the server whose controller manager and scheduler hold both Leases is
killed (``kill -9``) or frozen (``SIGSTOP``); another server's take over within the lease
duration + 2 s, scheduling and reconciling resume, and a ReplicaSet never has more pods
than it wants while leadership moves.

Three ``kubelite server`` processes on a three-member etcd cluster, two fake-runtime
agents. ``KUBELITE_HA_ROUNDS`` sets the number of kill/stop rounds (default 2 each, so the
module stays around a minute). The issue's 20 rounds: ``KUBELITE_HA_ROUNDS=20`` (20 × kill -9
and 20 × SIGSTOP, 8 minutes here) passed with worst takeovers 5.20 s / 4.66 s and the
ReplicaSet never above 3 pods (docs/ha.md).
"""

from __future__ import annotations

import datetime
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.support import ha

ROUNDS = int(os.environ.get("KUBELITE_HA_ROUNDS", "2"))
LEASE_DURATION = 4.0  # kubelite's default (kubelite/client/leaderelection.py)
TAKEOVER_LIMIT = LEASE_DURATION + 2.0
RELEASED_LIMIT = LEASE_DURATION / 2
STEADY = "steady"  # a Deployment kept at 3 replicas through every failover
NS = "default"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ha.HACluster]:
    c = ha.HACluster(Path(tmp_path_factory.mktemp("ha-leader")))
    try:
        c.start(servers=3, agents=["n1", "n2"])
        api = c.live_api()
        wait_for(lambda: c.lease_holder(ha.CONTROLLER_LEASE) and c.lease_holder(ha.SCHEDULER_LEASE), 30,
                 message="both leases held", ignore=(ha.ApiError,))
        api.create(f"/apis/apps/v1/namespaces/{NS}/deployments", ha.deployment(STEADY, replicas=3))
        wait_for(lambda: len(ha.running_pods(api, NS, f"app={STEADY}")) == 3, 30, message="steady pods Running")
        yield c
    finally:
        c.stop()


def _lease_specs(c: ha.HACluster) -> tuple[dict, dict]:
    for index in c.alive():
        try:
            api = c.api(index, timeout=2)
            ctl, sched = ((api.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}")
                           .get("spec") or {}) for name in (ha.CONTROLLER_LEASE, ha.SCHEDULER_LEASE))
            return ctl, sched
        except ha.ApiError:
            continue
    return {}, {}


def _holders(c: ha.HACluster) -> tuple[str, str]:
    ctl, sched = _lease_specs(c)
    return str(ctl.get("holderIdentity") or ""), str(sched.get("holderIdentity") or "")


def _acquired_after(spec: dict, wall_start: float) -> float:
    """Seconds from ``wall_start`` to the new holder's ``acquireTime`` (a MicroTime the
    holder wrote from this machine's clock). Polling would add its own latency to the
    takeover: with the suite loading both cores one poll can take a second or more."""
    acquired = datetime.datetime.fromisoformat(str(spec["acquireTime"])).timestamp()
    return acquired - wall_start


def _put_both_leases_on_one_server(c: ha.HACluster) -> int:
    """Make one server's children hold both Leases (so one fault takes both away).

    They often do already; if not, the *children* of the other servers are frozen until
    the controller-lease holder's scheduler has taken the scheduler Lease too, then thawed
    (they find on waking that their term ran out, and stand down: the fencing rule).
    """
    ctl, sched = wait_for(lambda: all(_holders(c)) and _holders(c), 30, message="both leases held")
    target = c.server_of(ctl)
    assert target is not None, f"no server matches identity {ctl}"
    if c.server_of(sched) == target:
        return target
    frozen = [child for i in c.alive() if i != target for child in ha.children(c.servers[i].proc.pid)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: {c.server_of(h) for h in _holders(c)} == {target}, 20,
                 message=f"server {target} holding both leases")
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    return target


def _one_round(c: ha.HACluster, *, round_no: int, sig: int) -> dict[str, float]:
    target = _put_both_leases_on_one_server(c)
    old_ctl, old_sched = _holders(c)
    srv = c.servers[target]
    assert srv.proc is not None
    print(f"{time.strftime('%H:%M:%S')} round {round_no}: {signal.Signals(sig).name} server {target} {srv.url}")
    started = time.monotonic()
    wall_start = time.time()
    if sig == signal.SIGSTOP:
        os.kill(srv.proc.pid, signal.SIGSTOP)
        c.paused.add(target)
    else:
        srv.kill(sig)  # SIGTERM: waits (10 s at most) for the server's clean exit
        if sig == signal.SIGTERM:
            assert srv.proc.returncode == 0, srv.tail()
    took: dict[str, float] = {}

    def moved() -> bool:
        specs = _lease_specs(c)
        for role, spec, old in zip(("controller", "scheduler"), specs, (old_ctl, old_sched)):
            holder = spec.get("holderIdentity")
            if holder and holder != old and role not in took:
                took[role] = _acquired_after(spec, wall_start)
                took[role + "_seen"] = time.monotonic() - started
        return "controller" in took and "scheduler" in took

    wait_for(moved, TAKEOVER_LIMIT + 5, message="new lease holders")
    # Scheduling and reconciling resume: a new Deployment gets Running pods.
    api = c.live_api()
    name = f"round-{round_no}"
    api.create(f"/apis/apps/v1/namespaces/{NS}/deployments", ha.deployment(name, replicas=2))
    # Agents attached to a frozen server need up to the 15 s watch idle timeout to move.
    wait_for(lambda: len(ha.running_pods(api, NS, f"app={name}")) == 2, 45,
             message=f"{name} pods Running after failover", ignore=(ha.ApiError,))
    took["pods_running"] = time.monotonic() - started
    api.delete(f"/apis/apps/v1/namespaces/{NS}/deployments/{name}")
    # Bring the victim back as a follower for the next round.
    if sig == signal.SIGSTOP:
        os.kill(srv.proc.pid, signal.SIGCONT)
        c.paused.discard(target)
    else:
        c.restart_server(target)
    return took


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM], ids=["kill-9", "sigstop", "sigterm"])
def test_leases_move_within_lease_duration_and_work_resumes(cluster: ha.HACluster, sig: int) -> None:
    results = []
    with ha.PodCounter(cluster, namespace=NS, selector=f"app={STEADY}") as counter:
        for round_no in range(ROUNDS):
            took = _one_round(cluster, round_no=round_no, sig=sig)
            results.append(took)
            print(f"{time.strftime('%H:%M:%S')} round {round_no} {signal.Signals(sig).name}: "
                  + " ".join(f"{k}={v:.2f}s" for k, v in took.items()))
    worst = {k: max(r[k] for r in results) for k in results[0]}
    print(f"{ROUNDS} rounds {signal.Signals(sig).name}: worst " + " ".join(f"{k}={v:.2f}s" for k, v in worst.items())
          + f"; steady pods peak={counter.peak} over {counter.samples} samples")
    assert worst["controller"] <= TAKEOVER_LIMIT and worst["scheduler"] <= TAKEOVER_LIMIT, results
    if sig == signal.SIGTERM:
        # A server stopped (systemd's stop) has its leaders release their Leases on the
        # way out: the others take over at their next try, not after the Lease expires.
        assert worst["controller"] < RELEASED_LIMIT and worst["scheduler"] < RELEASED_LIMIT, results
    # Each new term began after the fault (not a hand-over that raced it).
    assert all(r["controller"] > 0 and r["scheduler"] > 0 for r in results), results
    assert counter.samples > 0
    assert counter.peak <= 3, f"the ReplicaSet had {counter.peak} pods > 3 desired: {counter.worst}"
    # The steady Deployment was never disturbed: still exactly 3 Running.
    api = cluster.live_api()
    wait_for(lambda: len(ha.running_pods(api, NS, f"app={STEADY}")) == 3, 20, message="steady pods Running")
