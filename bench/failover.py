"""Failover benchmark on a real HA cluster: three etcd members, three ``kubelite server``
processes (default settings), fake-runtime agents (``tests/support/ha.py``).

Run: ``python bench/failover.py [--rounds 5] [--markdown FILE]``. Prints one JSON line per
result (each a list of per-round seconds with min/median/max):

- ``leader_failover``: ``kill -9`` of the server whose controller manager and scheduler
  hold both Leases — seconds until both Leases name a new holder (target ≤ 5 s; Kubernetes'
  15 s lease means ≈ 15–17 s), and until a new Deployment's 2 pods are Running.
- ``etcd_leader_write_outage``: three writers (one per API server) create ConfigMaps
  nonstop; ``kill -9`` of the etcd leader — the longest stretch without any acknowledged
  write (target ≤ 5 s). Every acknowledged write is checked afterwards.
- ``node_loss``: ``kill -9`` of the agent running a Deployment's 3 pods — seconds until 3
  replacements are Running on the other node, with default node grace (8 s) and default
  toleration (5 s) (Kubernetes: 50 s + 300 s ≈ 5 min 50 s).

The markdown table puts Kubernetes', Nomad's and Swarm's defaults beside the numbers
(from shared/reference/performance-anchors.md). A benchmark, not a test: it asserts nothing
but the no-lost-write check.
"""

# ruff: noqa: B023 - the wait_for lambdas run within their loop iteration
from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import wait_for
from tests.support import ha

REFERENCE = {
    "leader_failover": "Kubernetes: lease 15 s, renew deadline 10 s, retry 2 s ⇒ new leader ≈ 15–17 s "
                       "after a crash",
    "etcd_leader_write_outage": "etcd defaults: heartbeat 100 ms, election timeout 1 s (same etcd; "
                                "Kubernetes adds nothing)",
    "node_loss": "Kubernetes: node grace 50 s + toleration 300 s ≈ 5 min 50 s; Nomad: ≈ 20–30 s to mark "
                 "a node down (<500 nodes); Swarm: node down after ≈ 15–16.5 s (reschedule delay not "
                 "published)",
}


def _summary(name: str, values: list[float], **extra: Any) -> dict[str, Any]:
    return {"bench": name, "rounds": len(values), "seconds": [round(v, 2) for v in values],
            "min": round(min(values), 2), "median": round(statistics.median(values), 2),
            "max": round(max(values), 2), **extra}


def _holders(c: ha.HACluster) -> tuple[str, str]:
    for index in c.alive():
        try:
            api = c.api(index, timeout=2)
            return c.lease_holder(ha.CONTROLLER_LEASE, api), c.lease_holder(ha.SCHEDULER_LEASE, api)
        except ha.ApiError:
            continue
    return "", ""


def leader_failover(c: ha.HACluster, rounds: int) -> list[dict[str, Any]]:
    takeover, running = [], []
    for r in range(rounds):
        ctl, sched = wait_for(lambda: all(_holders(c)) and _holders(c), 30, message="both leases held")
        target = c.server_of(ctl)
        assert target is not None
        # Both leases on one server, as the scenario wants: freeze the others' children meanwhile.
        if c.server_of(sched) != target:
            frozen = [p for i in c.alive() if i != target for p in ha.children(c.servers[i].proc.pid)]
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            try:
                wait_for(lambda: {c.server_of(h) for h in _holders(c)} == {target}, 20, message="co-located leases")
            finally:
                for pid in frozen:
                    os.kill(pid, signal.SIGCONT)
            ctl, sched = _holders(c)
        started = time.monotonic()
        c.servers[target].kill(signal.SIGKILL)
        wait_for(lambda: all(h and h not in (ctl, sched) for h in _holders(c)), 60, interval=0.02,
                 message="new lease holders")
        takeover.append(time.monotonic() - started)
        api = c.live_api()
        name = f"after-{r}"
        api.create("/apis/apps/v1/namespaces/default/deployments", ha.deployment(name, replicas=2))
        wait_for(lambda: len(ha.running_pods(api, "default", f"app={name}")) == 2, 60, interval=0.05,
                 message="pods Running", ignore=(ha.ApiError,))
        running.append(time.monotonic() - started)
        api.delete(f"/apis/apps/v1/namespaces/default/deployments/{name}")
        c.restart_server(target)
    return [_summary("leader_failover", takeover, what="kill -9 of the lease holder -> both leases taken over",
                     target_s=5, lease_duration_s=4),
            _summary("leader_failover_pods_running", running,
                     what="kill -9 of the lease holder -> a new Deployment's pods Running")]


def etcd_write_outage(c: ha.HACluster, rounds: int) -> list[dict[str, Any]]:
    assert c.etcd is not None
    api0 = c.api(0)
    api0.create("/api/v1/namespaces", {"metadata": {"name": "outage"}})
    acked: dict[str, str] = {}
    times: list[float] = []
    lock, stop = threading.Lock(), threading.Event()

    def writer(index: int) -> None:
        api, n = c.api(index, timeout=15), 0
        while not stop.is_set():
            name, n = f"s{index}-{n}", n + 1
            try:
                obj = api.create("/api/v1/namespaces/outage/configmaps", {"metadata": {"name": name}})
            except ha.ApiError:
                continue
            with lock:
                acked[name] = obj["metadata"]["uid"]
                times.append(time.monotonic())

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    gaps = []
    try:
        for _ in range(rounds):
            wait_for(lambda: len(times) > 50, 30)
            # leader() is an index (0 is a leader too): wait for "not None", then read it.
            wait_for(lambda: c.etcd.leader() is not None, 30, ignore=(KeyError,))  # type: ignore[union-attr]
            leader = c.etcd.leader()
            assert leader is not None
            started = time.monotonic()
            count = len(times)
            c.etcd.kill(leader, signal.SIGKILL)
            wait_for(lambda: len(times) > count + 100, 60)
            with lock:
                points = [started, *sorted(t for t in times if t >= started)]
            gaps.append(max(b - a for a, b in itertools.pairwise(points)))
            c.etcd.start_member(leader)
            wait_for(lambda: c.etcd.leader() is not None, 30, ignore=(KeyError,))  # type: ignore[union-attr]
            c.etcd.wait_healthy(timeout=30)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
    stored = {o["metadata"]["name"]: o["metadata"]["uid"] for o in api0.items("/api/v1/namespaces/outage/configmaps")}
    lost = [n for n, uid in acked.items() if stored.get(n) != uid]
    if lost:
        raise SystemExit(f"acknowledged writes lost: {lost[:10]}")
    return [_summary("etcd_leader_write_outage", gaps, what="kill -9 of the etcd leader -> longest gap between "
                     "acknowledged writes", target_s=5, acknowledged=len(acked), lost=0)]


def node_loss(c: ha.HACluster, rounds: int) -> list[dict[str, Any]]:
    api = c.live_api()
    values = []
    for r in range(rounds):
        # Two fresh nodes carry the label the Deployment selects: the pods start on the
        # victim (the spare joins after), and can only move to the spare.
        victim, spare, label = f"victim-{r}", f"spare-{r}", {"bench.kubelite.io/failover": str(r)}
        victim_agent = c.add_agent(victim)
        wait_for(lambda: _ready(api, victim), 30, ignore=(ha.ApiError,))
        api.patch(f"/api/v1/nodes/{victim}", {"metadata": {"labels": label}})
        name = f"loss-{r}"
        dep = ha.deployment(name, replicas=3)
        dep["spec"]["template"]["spec"]["nodeSelector"] = label
        api.create("/apis/apps/v1/namespaces/default/deployments", dep)
        wait_for(lambda: len(ha.running_pods(api, "default", f"app={name}")) == 3, 60, ignore=(ha.ApiError,))
        spare_agent = c.add_agent(spare)
        wait_for(lambda: _ready(api, spare), 30, ignore=(ha.ApiError,))
        api.patch(f"/api/v1/nodes/{spare}", {"metadata": {"labels": label}})
        started = time.monotonic()
        victim_agent.stop(signal.SIGKILL)
        wait_for(lambda: len([p for p in ha.running_pods(api, "default", f"app={name}")
                              if p["spec"]["nodeName"] == spare]) == 3, 120, interval=0.1, ignore=(ha.ApiError,))
        values.append(time.monotonic() - started)
        api.delete(f"/apis/apps/v1/namespaces/default/deployments/{name}")
        spare_agent.stop(signal.SIGKILL)
    return [_summary("node_loss", values, what="kill -9 of an agent -> its 3 pods Running on another node "
                     "(node grace 8 s, toleration 3 s)", target_s=15)]


def _ready(api: ha.Api, node: str) -> bool:
    obj = api.get(f"/api/v1/nodes/{node}")
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"].get("conditions", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each fault (default: %(default)s)")
    parser.add_argument("--only", choices=("leader", "etcd", "node"), action="append",
                        help="run only these benchmarks (repeatable)")
    parser.add_argument("--markdown", type=Path, help="also write a markdown table here")
    args = parser.parse_args()
    wanted = set(args.only or ("leader", "etcd", "node"))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kubelite-failover-") as tmp:
        c = ha.HACluster(Path(tmp))
        try:
            c.start(servers=3, agents=["n1", "n2"])
            wait_for(lambda: all(_holders(c)), 30)
            for key, fn in (("leader", leader_failover), ("etcd", etcd_write_outage), ("node", node_loss)):
                if key in wanted:
                    for r in fn(c, args.rounds):
                        print(json.dumps(r), flush=True)
                        results.append(r)
        finally:
            c.stop()
    if args.markdown:
        lines = ["| benchmark | what | rounds | min s | median s | max s | target | defaults elsewhere |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in results:
            ref = REFERENCE.get(r["bench"], "")
            target = f"≤ {r['target_s']} s" if "target_s" in r else ""
            lines.append(f"| {r['bench']} | {r.get('what', '')} | {r['rounds']} | {r['min']} | {r['median']} | "
                         f"{r['max']} | {target} | {ref} |")
        lines.append("")
        lines.append(f"`python bench/failover.py --rounds {args.rounds}` on {os.cpu_count()} cores, "
                     f"{time.strftime('%Y-%m-%d')}.")
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
