"""Controller benchmark: Deployments at scale and node-loss failover, against a real
``kubelite server`` (controllers and scheduler in-process) and ``kubelite simulate``.

Run: ``python bench/controllers.py [--nodes 1000] [--replicas 10000] [--rolling 1000]``
(``--quick`` divides every size by 10). The nodes are Node objects this script creates
and plays the agent for (``--nodes-from bench``, the default: pods bound to them are
marked Running and Ready as soon as the watch shows the binding), or ``kubelite
simulate`` (``--nodes-from simulate``). Prints one JSON line per result:

- ``deployment_scale``: a Deployment of ``--replicas`` on ``--nodes`` simulated nodes —
  seconds from the create until every pod is Running and the Deployment reports all
  replicas available (target ≤ 60 s for 10,000).
- ``rolling_update``: a ``--rolling``-replica Deployment gets a new image — seconds
  until the rollout is complete (updated = available = replicas, no old pods left).
- ``node_loss``: a node run by this script (Lease of 8 s renewed every 2 s, as the real
  agent) holds a Deployment's pods; its heartbeats stop — seconds from the last
  heartbeat until replacements run on other nodes, with default settings (target ≤ 15 s;
  Kubernetes' defaults take ~350 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kubelite.client import config, errors, resources, rest
from tests.support import processes

NS = "bench"


def micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def deployment(name: str, replicas: int, image: str, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": image,
                                            "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}]}
    spec.update(extra)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


async def wait_until(pred: Any, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return
        await asyncio.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


async def deployment_done(client: rest.Client, name: str, replicas: int) -> bool:
    d = await client.get(resources.DEPLOYMENTS, name, namespace=NS)
    st = d.get("status") or {}
    return (int(st.get("observedGeneration") or 0) >= int(d["metadata"].get("generation") or 0)
            and st.get("updatedReplicas") == replicas and st.get("availableReplicas") == replicas
            and st.get("replicas") == replicas)


async def running_count(client: rest.Client, label: str) -> int:
    listed = await client.list_all(resources.PODS, namespace=NS, label_selector=label, page_size=5000)
    return sum(1 for p in listed["items"] if (p.get("status") or {}).get("phase") == "Running"
               and not p["metadata"].get("deletionTimestamp"))


async def bench_scale(client: rest.Client, *, replicas: int, nodes: int) -> dict[str, Any]:
    start = time.monotonic()
    await client.create(resources.DEPLOYMENTS, deployment("scale", replicas, "app:1"))
    await wait_until(lambda: deployment_done(client, "scale", replicas), 600, "scale deployment available", 0.5)
    available = time.monotonic() - start
    running = await running_count(client, "app=scale")
    result = {"bench": "controllers", "case": "deployment_scale", "replicas": replicas, "nodes": nodes,
              "seconds_to_available": round(available, 2), "running": running,
              "pods_per_s": round(replicas / available, 1)}
    await client.patch(resources.DEPLOYMENTS, "scale", {"spec": {"replicas": 0}}, namespace=NS)
    await wait_until(lambda: _no_pods(client, "app=scale"), 600, "scale pods gone", 1.0)
    return result


async def _no_pods(client: rest.Client, label: str) -> bool:
    listed = await client.list(resources.PODS, namespace=NS, label_selector=label, limit=1)
    return not listed.get("items")


async def bench_rolling(client: rest.Client, *, replicas: int) -> dict[str, Any]:
    await client.create(resources.DEPLOYMENTS, deployment("roll", replicas, "app:1"))
    await wait_until(lambda: deployment_done(client, "roll", replicas), 600, "roll deployment available", 0.5)
    start = time.monotonic()
    await client.patch(resources.DEPLOYMENTS, "roll", {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "app:2"}]}}}}, namespace=NS, patch_type="strategic")
    seen: dict[str, int] = {"max_pods": 0}

    async def rolled_out() -> bool:
        # Complete means what a user would check: the Deployment says so for the new
        # generation, and every pod left is a new one (no old pod lingering, none extra).
        if not await deployment_done(client, "roll", replicas):
            return False
        pods = [p for p in (await client.list_all(resources.PODS, namespace=NS, label_selector="app=roll",
                                                  page_size=5000))["items"]
                if not p["metadata"].get("deletionTimestamp")]
        seen["max_pods"] = max(seen["max_pods"], len(pods))
        new = [p for p in pods if p["spec"]["containers"][0]["image"] == "app:2"
               and (p.get("status") or {}).get("phase") == "Running"]
        return len(pods) == replicas and len(new) == replicas

    await wait_until(rolled_out, 600, "rolling update", 0.25)
    took = time.monotonic() - start
    return {"bench": "controllers", "case": "rolling_update", "replicas": replicas,
            "seconds": round(took, 2), "pods_at_end": seen["max_pods"]}


class FakeNodes:
    """The node side without agents (``--nodes-from bench``, the default): Node objects with
    status and a long Lease (300 s: such a node promised to renew within 300 s, so the
    node lifecycle controller waits that long), and one watcher that plays every node's
    agent: pods bound to these nodes become Running and Ready, deletions are confirmed."""

    def __init__(self, client: rest.Client, count: int) -> None:
        self.client, self.count = client, count
        self.names = [f"fake-{i:04d}" for i in range(count)]
        self.sem = asyncio.Semaphore(64)

    async def register(self) -> None:
        alloc = {"cpu": "64", "memory": "256Gi", "pods": "110"}

        async def one(name: str) -> None:
            async with self.sem:
                await self.client.create(resources.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {
                    "name": name, "labels": {"kubernetes.io/hostname": name}}})
                stamp = micro_now()[:19] + "Z"
                await self.client.patch(resources.NODES, name, {"status": {
                    "capacity": alloc, "allocatable": alloc,
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                    "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}]}},
                    subresource="status")
                await self.client.create(resources.LEASES, {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": 300, "renewTime": micro_now()}})

        await asyncio.gather(*(one(n) for n in self.names))

    async def run(self) -> None:
        ours = set(self.names)
        pending: set[str] = set()
        rv = None
        while True:
            try:
                async for ev in self.client.watch(resources.PODS, namespace=NS, resource_version=rv,
                                                  timeout_seconds=300):
                    pod = ev["object"]
                    rv = pod["metadata"].get("resourceVersion") or rv
                    if ev["type"] not in ("ADDED", "MODIFIED") or (pod.get("spec") or {}).get("nodeName") not in ours:
                        continue
                    name = pod["metadata"]["name"]
                    if name in pending:
                        continue
                    if pod["metadata"].get("deletionTimestamp"):
                        pending.add(name)
                        asyncio.ensure_future(self._confirm_delete(name, pending))
                    elif (pod.get("status") or {}).get("phase") != "Running":
                        pending.add(name)
                        asyncio.ensure_future(self._start(name, pending))
            except errors.ApiError:
                rv = None
                await asyncio.sleep(0.5)

    async def _start(self, name: str, pending: set[str]) -> None:
        async with self.sem:
            stamp = micro_now()[:19] + "Z"
            with contextlib.suppress(errors.ApiError):
                await self.client.patch(resources.PODS, name, {"status": {
                    "phase": "Running", "podIP": "10.200.0.1",
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}]}},
                    namespace=NS, subresource="status")
        pending.discard(name)

    async def _confirm_delete(self, name: str, pending: set[str]) -> None:
        async with self.sem:
            with contextlib.suppress(errors.ApiError):
                await self.client.delete(resources.PODS, name, namespace=NS, grace_period_seconds=0)
        pending.discard(name)


class DoomedNode:
    """A node this script plays: registered, heartbeating, running what is bound to it."""

    def __init__(self, client: rest.Client, name: str) -> None:
        self.client, self.name = client, name
        self.alive = True
        self.last_beat = time.monotonic()

    async def register(self) -> None:
        alloc = {"cpu": "32", "memory": "256Gi", "pods": "110"}
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": {"kubernetes.io/hostname": self.name, "pool": "doomed"}},
                "status": {"capacity": alloc, "allocatable": alloc}}
        await self.client.create(resources.NODES, node)
        await self.client.patch(resources.NODES, self.name, {"status": {"capacity": alloc, "allocatable": alloc,
                                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                                "lastHeartbeatTime": micro_now()[:19] + "Z",
                                                "lastTransitionTime": micro_now()[:19] + "Z"}]}},
                                subresource="status")
        await self.client.create(resources.LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                    "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                                                    "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 8,
                                                             "renewTime": micro_now()}})

    async def run(self) -> None:
        while self.alive:
            with contextlib.suppress(errors.ApiError):
                await self.client.patch(resources.LEASES, self.name, {"spec": {"renewTime": micro_now()}},
                                        namespace="kube-node-lease")
                self.last_beat = time.monotonic()
                listed = await self.client.list(resources.PODS, field_selector=f"spec.nodeName={self.name}")
                for p in listed.get("items") or []:
                    if (p.get("status") or {}).get("phase") != "Running" and not p["metadata"].get("deletionTimestamp"):
                        stamp = micro_now()[:19] + "Z"
                        await self.client.patch(resources.PODS, p["metadata"]["name"], {"status": {
                            "phase": "Running", "podIP": "10.250.0.1",
                            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}]}},
                            namespace=NS, subresource="status")
            await asyncio.sleep(2.0)


async def bench_node_loss(client: rest.Client, *, replicas: int = 20) -> dict[str, Any]:
    doomed = DoomedNode(client, "doomed-0")
    await doomed.register()
    beat_task = asyncio.ensure_future(doomed.run())
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["doomed"]}]}}]}}
    await client.create(resources.DEPLOYMENTS, deployment("victim", replicas, "app:1", affinity=affinity,
                                                          terminationGracePeriodSeconds=1))
    await wait_until(lambda: deployment_done(client, "victim", replicas), 120, "victim deployment available", 0.5)
    listed = await client.list_all(resources.PODS, namespace=NS, label_selector="app=victim")
    on_doomed = sum(1 for p in listed["items"] if (p.get("spec") or {}).get("nodeName") == doomed.name)
    doomed.alive = False
    await beat_task
    died = doomed.last_beat

    async def replaced() -> bool:
        pods = (await client.list_all(resources.PODS, namespace=NS, label_selector="app=victim"))["items"]
        good = [p for p in pods if (p.get("spec") or {}).get("nodeName") not in (None, doomed.name)
                and (p.get("status") or {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
        return len(good) == replicas

    await wait_until(replaced, 300, "replacements running elsewhere", 0.2)
    took = time.monotonic() - died
    return {"bench": "controllers", "case": "node_loss", "replicas": replicas, "pods_on_lost_node": on_doomed,
            "seconds_from_last_heartbeat_to_replacements_running": round(took, 2)}


async def main_async(args: argparse.Namespace, kubeconfig: Path) -> list[dict[str, Any]]:
    cfg = config.load_kubeconfig(str(kubeconfig))
    cfg.qps, cfg.burst = 0, 0
    results = []
    async with rest.Client(cfg) as client:
        await client.create(resources.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})

        async def nodes_ready() -> bool:
            listed = await client.list_all(resources.NODES, page_size=5000)
            ready = [n for n in listed["items"] if any(c.get("type") == "Ready" and c.get("status") == "True"
                                                       for c in (n.get("status") or {}).get("conditions") or [])]
            return len(ready) >= args.nodes

        fake_task = None
        if args.nodes_from == "bench":
            fake = FakeNodes(client, args.nodes)
            await fake.register()
            fake_task = asyncio.ensure_future(fake.run())
        await wait_until(nodes_ready, 300, f"{args.nodes} simulated nodes", 0.5)
        for case in args.cases:
            if case == "scale":
                r = await bench_scale(client, replicas=args.replicas, nodes=args.nodes)
            elif case == "rolling":
                r = await bench_rolling(client, replicas=args.rolling)
            else:
                r = await bench_node_loss(client)
            r["nodes_from"] = args.nodes_from
            print(json.dumps(r), flush=True)
            results.append(r)
        if fake_task is not None:
            fake_task.cancel()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=10000)
    parser.add_argument("--rolling", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", nargs="*", default=["scale", "rolling", "node_loss"],
                        choices=["scale", "rolling", "node_loss"])
    parser.add_argument("--markdown", type=Path, help="also write a markdown table here")
    parser.add_argument("--nodes-from", choices=["bench", "simulate"], default="bench",
                        help="bench: Node objects + one watcher playing the agents (default); "
                             "simulate: `kubelite simulate --nodes N`")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.replicas, args.rolling = args.nodes // 10, args.replicas // 10, args.rolling // 10
    with tempfile.TemporaryDirectory(prefix="kubelite-bench-ctl-") as tmp:
        srv = processes.ServerProcess(data_dir=Path(tmp) / "server")
        srv.start()
        sim = None
        if args.nodes_from == "simulate":
            sim_log = (Path(tmp) / "simulate.log").open("wb")
            sim = subprocess.Popen(processes.kubelite_command() + ["simulate", "--kubeconfig", str(srv.kubeconfig),
                                                                   "--nodes", str(args.nodes)],
                                   stdout=sim_log, stderr=subprocess.STDOUT)
        try:
            results = asyncio.run(main_async(args, srv.kubeconfig))
        except BaseException:
            print(srv.tail(60), file=sys.stderr)
            raise
        finally:
            if sim is not None:
                sim.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    sim.wait(10)
            srv.stop()
    if args.markdown:
        lines = ["| case | size | result |", "|---|---|---|"]
        for r in results:
            size = f"{r.get('replicas')} replicas" + (f" / {r['nodes']} nodes" if "nodes" in r else "")
            value = {k: v for k, v in r.items() if k not in ("bench", "case", "replicas", "nodes")}
            lines.append(f"| {r['case']} | {size} | {value} |")
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
