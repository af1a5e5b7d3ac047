"""Service networking on a real ``kubelite up`` cluster on Docker, as a Kubernetes user meets
it: a pod reaches a Deployment through its Service by name (cluster DNS, ClusterIP load
balancing), gets the Service environment variables, reaches a StatefulSet pod by its stable
DNS name through a headless Service, is refused at once by a Service without endpoints, and
the host reaches a NodePort; all through the real kubectl.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.node.conftest import IMAGE
from tests.support import processes

pytestmark = pytest.mark.docker

KUBECTL = str(Path(sys.executable).parent / "kubectl")
PORT = 8080
NODE_PORT = 31080


def _serve(port: int = PORT) -> str:
    # Each backend answers its own pod name, so a client can tell them apart.
    return f"mkdir -p /www && hostname > /www/index.html && exec httpd -f -p {port} -h /www"


def _pod_template(labels: dict[str, str], command: str) -> dict[str, Any]:
    return {"metadata": {"labels": labels}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", command], "ports": [{"name": "http", "containerPort": PORT}],
                        "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 1}}]}}


MANIFESTS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-np"},
     "spec": {"type": "NodePort", "selector": {"app": "web"},
              "ports": [{"port": 80, "targetPort": PORT, "nodePort": NODE_PORT}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody"},
     "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80, "targetPort": PORT}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
     "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": PORT}]}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
              "template": _pod_template({"app": "web"}, _serve())}},
    {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
     "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
              "template": _pod_template({"app": "db"}, _serve())}},
]
CLIENT = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
          "spec": {"terminationGracePeriodSeconds": 1,
                   "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                   "command": ["sleep", "3600"]}]}}


@dataclass
class Cluster:
    kubeconfig: Path
    env: dict[str, str]
    log: Path

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=self.env, timeout=timeout,
                              input=stdin)

    def sh(self, command: str) -> subprocess.CompletedProcess[str]:
        """``command`` run by the client pod's shell (kubectl exec)."""
        return self.kubectl("exec", "client", "--", "sh", "-c", command, timeout=30)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("svcnet")
    node = f"svc-{uuid.uuid4().hex[:6]}"
    kubeconfig = tmp / "data" / "kubeconfig.yaml"
    c = Cluster(kubeconfig=kubeconfig, log=tmp / "up.log",
                env={"PATH": os.environ["PATH"], "HOME": str(tmp), "KUBECONFIG": str(kubeconfig)})
    # tests/conftest.py turns the Service proxy off for every other agent
    with processes.up_process(tmp, node=node, env={"KUBELITE_NO_SERVICE_PROXY": ""}):
        wait_for(lambda: kubeconfig.exists() and f"{node}   Ready" in c.kubectl("get", "nodes").stdout,
                 timeout=90, message="the node did not become Ready")
        out = c.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                "items": MANIFESTS}))
        assert out.returncode == 0, out.stderr
        for what in ("deployment/web", "statefulset/db"):
            done = c.kubectl("rollout", "status", what, "--timeout=120s", timeout=130)
            assert done.returncode == 0, f"{what}: {done.stderr}\n{c.tail()}"
        # The client comes after the Services, so that it gets their variables.
        assert c.kubectl("apply", "-f", "-", stdin=json.dumps(CLIENT)).returncode == 0
        ready = c.kubectl("wait", "--for=condition=Ready", "pod/client", "--timeout=60s", timeout=70)
        assert ready.returncode == 0, ready.stderr
        yield c


def _pods(cluster: Cluster, selector: str) -> list[dict[str, Any]]:
    return json.loads(cluster.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]


def _cluster_ip(cluster: Cluster, name: str) -> str:
    return cluster.kubectl("get", "svc", name, "-o", "jsonpath={.spec.clusterIP}").stdout


def test_a_pod_reaches_every_replica_through_the_service_name(cluster: Cluster) -> None:
    names = {p["metadata"]["name"] for p in _pods(cluster, "app=web")}
    seen: set[str] = set()
    for _ in range(40):  # random choice per connection: both backends within a few tries
        out = cluster.sh("timeout 5 wget -qO- http://web/")
        assert out.returncode == 0, out.stderr
        seen.add(out.stdout.strip())
        if seen == names:
            break
    assert seen == names
    fqdn = cluster.sh("timeout 5 wget -qO- http://web.default.svc.cluster.local/")
    assert fqdn.stdout.strip() in names, fqdn.stderr


def test_a_pod_reaches_itself_through_its_own_service(cluster: Cluster) -> None:
    # The proxy may send a backend's request to the backend itself (hairpin).
    me = _pods(cluster, "app=web")[0]["metadata"]["name"]
    for _ in range(40):
        out = cluster.kubectl("exec", me, "--", "sh", "-c", "timeout 5 wget -qO- http://web/", timeout=30)
        assert out.returncode == 0, out.stderr
        if out.stdout.strip() == me:
            break
    assert out.stdout.strip() == me


def test_the_cluster_dns_answers_with_the_cluster_ip(cluster: Cluster) -> None:
    resolv = cluster.sh("cat /etc/resolv.conf").stdout
    assert "nameserver 10.43.0.10" in resolv
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert "ndots:5" in resolv
    looked_up = cluster.sh("nslookup web.default.svc.cluster.local")
    assert looked_up.returncode == 0, looked_up.stdout + looked_up.stderr
    assert _cluster_ip(cluster, "web") in looked_up.stdout
    missing = cluster.sh("nslookup nosuch.default.svc.cluster.local")
    assert missing.returncode != 0


def test_the_pod_has_the_service_variables(cluster: Cluster) -> None:
    env = dict(line.split("=", 1) for line in cluster.sh("env").stdout.splitlines() if "=" in line)
    assert env["WEB_SERVICE_HOST"] == _cluster_ip(cluster, "web")
    assert env["WEB_SERVICE_PORT"] == "80"
    assert env["WEB_SERVICE_PORT_HTTP"] == "80"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"


def test_statefulset_pods_have_stable_names_through_the_headless_service(cluster: Cluster) -> None:
    for ordinal in (0, 1):
        out = cluster.sh(f"timeout 5 wget -qO- http://db-{ordinal}.db:{PORT}/")
        assert out.stdout.strip() == f"db-{ordinal}", out.stderr
    ips = sorted(p["status"]["podIP"] for p in _pods(cluster, "app=db"))
    looked_up = cluster.sh("nslookup db.default.svc.cluster.local").stdout
    assert all(ip in looked_up for ip in ips), looked_up


def test_a_service_without_endpoints_refuses_at_once(cluster: Cluster) -> None:
    started = time.monotonic()
    out = cluster.sh("timeout 10 wget -qO- http://nobody/")
    assert out.returncode != 0
    assert "refused" in out.stderr.lower(), out.stderr
    assert time.monotonic() - started < 8, "a refusal, not a timeout"


def test_the_host_reaches_the_node_port_and_the_cluster_ip(cluster: Cluster) -> None:
    names = {p["metadata"]["name"] for p in _pods(cluster, "app=web")}
    with urllib.request.urlopen(f"http://127.0.0.1:{NODE_PORT}/", timeout=5) as resp:
        assert resp.read().decode().strip() in names
    with urllib.request.urlopen(f"http://{_cluster_ip(cluster, 'web')}/", timeout=5) as resp:
        assert resp.read().decode().strip() in names


def test_scaling_to_zero_takes_the_backends_out(cluster: Cluster) -> None:
    assert cluster.kubectl("scale", "deployment/web", "--replicas=0").returncode == 0
    wait_for(lambda: "refused" in cluster.sh("timeout 5 wget -qO- http://web/").stderr.lower(), timeout=30,
             interval=0.5, message="the Service refuses once its pods are gone")
    assert cluster.kubectl("scale", "deployment/web", "--replicas=2").returncode == 0
    wait_for(lambda: cluster.sh("timeout 5 wget -qO- http://web/").returncode == 0, timeout=60, interval=0.5,
             message="the Service answers again after scaling up")


def test_a_pod_talks_to_the_api_server_as_its_service_account(cluster: Cluster, tmp_path: Path) -> None:
    """What an operator running in the cluster does: the official Python client's in-cluster
    configuration (KUBERNETES_SERVICE_HOST/PORT, the mounted token and CA) from inside the
    pod's network namespace, through the ``kubernetes`` Service."""
    mount = "/var/run/secrets/kubernetes.io/serviceaccount"
    # the account may read pods once bound to view, as a user grants an operator its reads
    assert cluster.kubectl("create", "rolebinding", "client-view", "--clusterrole=view",
                           "--serviceaccount=default:default").returncode == 0
    wait_for(lambda: cluster.kubectl("auth", "can-i", "list", "pods", "--as",
                                     "system:serviceaccount:default:default").stdout.strip() == "yes",
             timeout=10, message="the view binding in effect")
    for name in ("token", "ca.crt", "namespace"):
        out = cluster.kubectl("exec", "client", "--", "cat", f"{mount}/{name}")
        assert out.returncode == 0, out.stderr
        (tmp_path / name).write_text(out.stdout)
    assert (tmp_path / "namespace").read_text() == "default"
    env = dict(line.split("=", 1) for line in cluster.sh("env").stdout.splitlines() if "=" in line)
    pod = json.loads(cluster.kubectl("get", "pod", "client", "-o", "json").stdout)
    assert pod["spec"]["serviceAccountName"] == "default"
    container_id = pod["status"]["containerStatuses"][0]["containerID"].removeprefix("docker://")
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", container_id], capture_output=True,
                         text=True, check=True).stdout.strip()
    script = (
        "import sys\n"
        "from kubernetes import client, config\n"
        "from kubernetes.config import incluster_config\n"
        "loader = incluster_config.InClusterConfigLoader(token_filename=sys.argv[1], cert_filename=sys.argv[2],\n"
        "    environ={'KUBERNETES_SERVICE_HOST': sys.argv[3], 'KUBERNETES_SERVICE_PORT': sys.argv[4]})\n"
        "cfg = client.Configuration()\n"
        "loader.load_and_set(cfg)\n"
        "api = client.CoreV1Api(client.ApiClient(cfg))\n"
        "pods = api.list_namespaced_pod('default', field_selector='metadata.name=client').items\n"
        "print([p.metadata.name for p in pods])\n")
    out = subprocess.run(["nsenter", "-t", pid, "-n", sys.executable, "-c", script, str(tmp_path / "token"),
                          str(tmp_path / "ca.crt"), env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['client']"
    whoami = cluster.kubectl("auth", "whoami", "--token", (tmp_path / "token").read_text(), "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == "system:serviceaccount:default:default"
    assert "system:serviceaccounts:default" in user["groups"]
    assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["client"]
    cluster.kubectl("delete", "rolebinding", "client-view")
