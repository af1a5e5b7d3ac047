"""Helpers for the controller api tests (no tests here): a fake node side.

There is no agent or scheduler in these tests, so the tests play the node: they create
Node objects, mark pods Running/Ready through the status subresource, and finish
graceful deletions with grace 0, as an agent would.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

log = logging.getLogger(__name__)


def stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_node(core: client.CoreV1Api, name: str, labels: dict[str, str] | None = None,
              taints: list[dict[str, Any]] | None = None) -> None:
    body: dict[str, Any] = {"metadata": {"name": name, "labels": labels or {}}, "spec": {}}
    if taints:
        body["spec"]["taints"] = taints
    core.create_node(body)
    core.patch_node_status(name, {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": stamp(),
         "lastTransitionTime": stamp()}]}})


def mark_ready(core: client.CoreV1Api, pod: Any, ip: str = "10.1.0.1") -> None:
    core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": {
        "phase": "Running", "podIP": ip,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp()}]}})


def set_phase(core: client.CoreV1Api, pod: Any, phase: str, exit_code: int = 0) -> None:
    core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": {
        "phase": phase, "containerStatuses": [{"name": c.name, "ready": False, "restartCount": 0,
                                               "image": c.image, "imageID": "",
                                               "state": {"terminated": {"exitCode": exit_code}}}
                                              for c in pod.spec.containers]}})


def pods(core: client.CoreV1Api, ns: str, selector: str | None = None) -> list[Any]:
    return list(core.list_namespaced_pod(ns, label_selector=selector).items)


def kubelet_pass(core: client.CoreV1Api, ns: str, *, ready: Callable[[Any], bool] = lambda p: True) -> None:
    """One pass of a fake kubelet: finish deletions, make new pods Running and Ready."""
    for n, pod in enumerate(pods(core, ns)):
        try:
            if pod.metadata.deletion_timestamp:
                core.delete_namespaced_pod(pod.metadata.name, ns, grace_period_seconds=0)
            elif ready(pod) and pod.status.phase in (None, "Pending", "Running") and not any(
                    c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
                # Running but not Ready again: the scheduler's status write (PodScheduled)
                # can race ours; a real kubelet keeps reporting, and so do we.
                mark_ready(core, pod, ip=f"10.1.{n // 250}.{n % 250 + 1}")
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise


@contextmanager
def fake_kubelet(core: client.CoreV1Api, ns: str, *, ready: Callable[[Any], bool] = lambda p: True,
                 interval: float = 0.1) -> Iterator[None]:
    """Run ``kubelet_pass`` in a thread until the block ends."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                kubelet_pass(core, ns, ready=ready)
            except Exception as exc:  # noqa: BLE001 - the test's own assertions report problems
                log.debug("fake kubelet pass failed: %r", exc)
            stop.wait(interval)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(5)


def deployment(name: str, *, replicas: int = 3, image: str = "nginx:1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}
