"""Events expire after ``kubelite server --event-ttl``, as kube-apiserver's do after its
``--event-ttl`` (one hour by default): watchers see them DELETED, an Event written again
(a repeat counted) lives on, and kubectl no longer lists the expired ones."""

from __future__ import annotations

import datetime
import threading
import time
from pathlib import Path

from tests.api.kubectl_runner import Kubectl, kubectl_binary
from tests.support import processes


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Testing", "message": name, "type": "Normal", "count": 1,
            "firstTimestamp": _now(), "lastTimestamp": _now(), "source": {"component": "test"}}


def test_events_expire_after_the_ttl_unless_written_again(tmp_path: Path) -> None:
    from kubernetes import client, config, watch

    srv = processes.ServerProcess(data_dir=tmp_path / "data", extra_args=[
        "--disable-controllers", "--disable-scheduler", "--event-ttl", "3s"]).start()
    try:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(srv.kubeconfig), client_configuration=cfg)
        with client.ApiClient(cfg) as api:
            core = client.CoreV1Api(api)
            since = core.list_namespaced_event("default").metadata.resource_version
            deleted: list[tuple[str, float]] = []
            start = time.monotonic()

            def watch_deletions() -> None:
                for item in watch.Watch().stream(core.list_namespaced_event, "default",
                                                  resource_version=since, timeout_seconds=20):
                    if item["type"] == "DELETED":
                        deleted.append((item["object"].metadata.name, time.monotonic() - start))
                        return

            watcher = threading.Thread(target=watch_deletions, daemon=True)
            watcher.start()
            core.create_namespaced_event("default", _event("once"))
            core.create_namespaced_event("default", _event("repeated"))
            while watcher.is_alive() and time.monotonic() - start < 20:
                # The repeated Event is counted again every half second, as a recorder does.
                count = core.read_namespaced_event("repeated", "default").count
                core.patch_namespaced_event("repeated", "default", {"count": count + 1, "lastTimestamp": _now()})
                watcher.join(0.5)
            assert [name for name, _ in deleted] == ["once"], deleted
            assert deleted[0][1] >= 2.0, f"expired {deleted[0][1]:.1f}s after its creation, before its 3 s TTL"
            names = [e.metadata.name for e in core.list_namespaced_event("default").items]
            assert names == ["repeated"]
        kubectl = Kubectl(kubectl_binary(), srv.kubeconfig, tmp_path / "kubectl-cache")
        listed = kubectl.run("get", "events", "-n", "default", "-o", "name").stdout.split()
        assert listed == ["event/repeated"]
    finally:
        srv.stop()
