"""Service networking benchmark: what the node's proxy costs a request, and how soon a new
Service answers, on a fresh ``kubelite up`` (Docker runtime, Service proxy on).

Run: ``python bench/service.py [--requests 300] [--services 20] [--markdown FILE]``.

- **Request latency.** ``--requests`` sequential HTTP GETs, each on a new TCP connection,
  from this host to one busybox ``httpd`` through each path, in rounds so that a drift of
  the machine's speed hits every path alike: the pod's IP directly (the floor), the
  Service's ClusterIP and its NodePort at 127.0.0.1 (the node's iptables rules,
  ``kubelite/proxy``), and, measured in the same run, the same container image published
  by Docker itself (``docker run -p``, which goes through Docker's own DNAT rules and its
  userland ``docker-proxy`` for 127.0.0.1). p50/p99 in ms per path.
- **Programming latency.** ``--services`` new Services selecting the same pod, one at a
  time: from the create request's answer until the ClusterIP first answers (polled every
  10 ms, bounded to 20 s each). p50/p99. kube-proxy's iptables mode syncs its rules at
  most once per ``minSyncPeriod``, 1 s by default (pkg/proxy/apis/config/v1alpha1).

Prints one JSON line per result; ``--markdown FILE`` also writes a table. Everything the
bench made is removed at the end, also after a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support import processes

IMAGE = "kubelite-test/busybox:1.0"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
PORT = 8080
NODE_PORT = 31999
LABEL = "kubelite-bench=service"
SERVE = f"mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p {PORT} -h /www"


def _kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, input=stdin, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr}")
    return out.stdout


def _get(url: str, timeout: float = 3.0) -> float:
    """Seconds one GET on a new connection took; raises on any failure."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        resp.read()
    return time.perf_counter() - started


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise TimeoutError(what)


def _manifests() -> str:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                               "terminationGracePeriodSeconds": 1,
                               "containers": [{"name": "web", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                               "command": ["sh", "-c", SERVE],
                                               "readinessProbe": {"tcpSocket": {"port": PORT},
                                                                  "periodSeconds": 1}}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"type": "NodePort", "selector": {"app": "web"},
                        "ports": [{"port": 80, "targetPort": PORT, "nodePort": NODE_PORT}]}}
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [deployment, service]})


def run(requests: int, services: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    docker_port = _free_port()
    docker_name = f"kubelite-bench-service-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        node = f"svcbench-{uuid.uuid4().hex[:6]}"
        kubeconfig = tmp / "data" / "kubeconfig.yaml"
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "KUBECONFIG": str(kubeconfig)}
        try:
            subprocess.run(["docker", "run", "-d", "--name", docker_name, "--label", LABEL, "-p",
                            f"127.0.0.1:{docker_port}:{PORT}", IMAGE, "sh", "-c", SERVE],
                           check=True, capture_output=True)
            with processes.up_process(tmp, node=node, env={"KUBELITE_NO_SERVICE_PROXY": "",
                                                           "KUBELITE_DNS_UPSTREAMS": ""}):
                _wait("node Ready", lambda: kubeconfig.exists() and " Ready" in _kubectl(env, "get", "nodes"), 90)
                _kubectl(env, "apply", "-f", "-", stdin=_manifests())
                _kubectl(env, "rollout", "status", "deployment/web", "--timeout=90s")
                pod_ip = _kubectl(env, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}")
                cluster_ip = _kubectl(env, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")
                paths = {"pod IP (no proxy)": f"http://{pod_ip}:{PORT}/index.html",
                         "kubelite ClusterIP": f"http://{cluster_ip}/index.html",
                         "kubelite NodePort 127.0.0.1": f"http://127.0.0.1:{NODE_PORT}/index.html",
                         "docker run -p 127.0.0.1": f"http://127.0.0.1:{docker_port}/index.html"}
                for url in paths.values():
                    _wait(f"{url} answers", lambda url=url: _get(url) >= 0, 30)
                times: dict[str, list[float]] = {name: [] for name in paths}
                rounds = 10
                for _ in range(rounds):
                    for name, url in paths.items():
                        times[name] += [_get(url) for _ in range(max(1, requests // rounds))]
                for name, values in times.items():
                    results.append({"case": name, "requests": len(values),
                                    "p50_ms": round(_pct(values, 0.5) * 1000, 2),
                                    "p99_ms": round(_pct(values, 0.99) * 1000, 2)})
                results.append(_programming(env, services))
        finally:
            subprocess.run(["docker", "rm", "-f", docker_name], capture_output=True)
    return results


def _programming(env: dict[str, str], count: int) -> dict[str, Any]:
    """Create → first answer of ``count`` new Services, one after the other."""
    delays: list[float] = []
    for i in range(count):
        name = f"fresh-{i}"
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": PORT}]}}
        ip = _kubectl(env, "create", "-f", "-", "-o", "jsonpath={.spec.clusterIP}", stdin=json.dumps(svc))
        created = time.perf_counter()  # the create's answer (kubectl's exit adds a few ms)
        deadline = created + 20
        while time.perf_counter() < deadline:
            try:
                _get(f"http://{ip}/index.html", timeout=0.5)
                break
            except OSError:
                time.sleep(0.01)
        else:
            raise TimeoutError(f"service {name} never answered")
        delays.append(time.perf_counter() - created)
    return {"case": "new Service → ClusterIP answers", "services": count,
            "p50_ms": round(_pct(delays, 0.5) * 1000, 1), "p99_ms": round(_pct(delays, 0.99) * 1000, 1),
            "mean_ms": round(statistics.mean(delays) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    results = run(args.requests, args.services)
    for r in results:
        print(json.dumps(r))
    if args.markdown:
        lines = ["| case | p50 (ms) | p99 (ms) |", "|---|---:|---:|"]
        lines += [f"| {r['case']} | {r['p50_ms']} | {r['p99_ms']} |" for r in results]
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
