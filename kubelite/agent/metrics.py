"""The node agent's Prometheus metrics, with kubelet's names (``pkg/kubelet/metrics``).

``PodManager`` owns one ``AgentMetrics``; its workers record pod starts, and the agent's
HTTP server (``kubelite.agent.server``, ``GET /metrics``, behind the same bearer token as
logs and exec) calls ``refresh`` before each scrape, which counts the runtime's pods and
containers as kubelet's runtime cache does. Exposed:

- ``kubelet_running_pods``: pods with a running sandbox;
- ``kubelet_running_containers{container_state}``: this node's containers by state
  (``created``, ``running``, ``exited``, ``unknown``);
- ``kubelet_pod_start_duration_seconds``: from the agent first seeing a pod to the pod
  first reported Running (kubelet's buckets);
- ``process_*`` and ``python_*``.
"""

from __future__ import annotations

from prometheus_client import registry as prom_registry

from kubelite.agent.runtime import interface as rt
from kubelite.telemetry import instruments

# kubelet's podStartupDurationBuckets: round numbers from half a second to an hour.
POD_START_BUCKETS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200,
                     1800, 2700, 3600)


class AgentMetrics:
    """kubelet's instruments for one node. The registry, with the process collectors, is
    made at the first scrape: ``kubelite simulate`` runs thousands of nodes' pod managers
    in one process and serves none of them (3.5 KB each with a registry, 1.5 KB without)."""

    def __init__(self) -> None:
        self._registry: prom_registry.CollectorRegistry | None = None
        self.running_pods = instruments.GaugeVec("kubelet_running_pods",
                                                 "Number of pods that have a running pod sandbox", ())
        self.running_containers = instruments.GaugeVec("kubelet_running_containers",
                                                       "Number of containers currently running", ("container_state",))
        self.pod_start = instruments.HistogramVec(
            "kubelet_pod_start_duration_seconds",
            "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run", (),
            buckets=POD_START_BUCKETS)

    @property
    def registry(self) -> prom_registry.CollectorRegistry:
        if self._registry is None:
            self._registry = instruments.new_registry()
            for collector in (self.running_pods, self.running_containers, self.pod_start):
                self._registry.register(collector)  # type: ignore[arg-type]
        return self._registry

    async def refresh(self, runtime: rt.RuntimeDriver, *, node_name: str) -> None:
        """Count this node's sandboxes and containers in the runtime (before a scrape)."""
        sandboxes = await runtime.list_sandboxes(node_name=node_name)
        containers = await runtime.list_containers(node_name=node_name)
        self.running_pods.set((), sum(1 for s in sandboxes if s.state == rt.State.RUNNING))
        by_state = {state.value: 0 for state in rt.State}
        for c in containers:
            by_state[c.state.value] += 1
        for state, count in by_state.items():
            self.running_containers.set((state,), count)
