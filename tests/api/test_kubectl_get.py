"""``kubectl get`` of every built-in kind in every output format users rely on.

One namespace holds one object of each kind (manifests/all-kinds.yaml); each test reads
them back as a user would: the default and wide tables (the columns kubectl users know),
``-o yaml|json|name|jsonpath|custom-columns``, ``--show-labels``, ``-A``, ``-l``,
``--field-selector``, ``--sort-by`` and ``get -w``.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator

import pytest
import yaml

from tests.api import kubectl_runner
from tests.api.kubectl_runner import MANIFESTS, Kubectl, header, rows
from tests.conftest import wait_for

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses


@pytest.fixture(scope="module")
def kinds_ns(kubectl: Kubectl) -> Iterator[str]:
    """A namespace with one object of each kind; cluster-scoped ones are named after it."""
    ns = f"kinds-{uuid.uuid4().hex[:6]}"
    kubectl.apply_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
    text = (MANIFESTS / "all-kinds.yaml").read_text().replace("SUFFIX", ns).replace("NAMESPACE", ns)
    kubectl("apply", "-n", ns, "-f", "-", stdin=text)
    yield ns


# (resource, object name, default columns, extra -o wide columns)
KINDS = [
    ("configmaps", "cm-a", ["NAME", "DATA", "AGE"], []),
    ("secrets", "secret-a", ["NAME", "TYPE", "DATA", "AGE"], []),
    ("serviceaccounts", "sa-a", ["NAME", "AGE"], []),
    ("services", "svc-a", ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], ["SELECTOR"]),
    ("endpoints", "ep-a", ["NAME", "ENDPOINTS", "AGE"], []),
    ("pods", "pod-a", ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
     ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]),
    ("persistentvolumeclaims", "pvc-a",
     ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"],
     ["VOLUMEMODE"]),
    ("deployments", "deploy-a", ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
     ["CONTAINERS", "IMAGES", "SELECTOR"]),
    ("replicasets", "rs-a", ["NAME", "DESIRED", "CURRENT", "READY", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"]),
    ("statefulsets", "sts-a", ["NAME", "READY", "AGE"], ["CONTAINERS", "IMAGES"]),
    ("daemonsets", "ds-a", ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"],
     ["CONTAINERS", "IMAGES", "SELECTOR"]),
    ("jobs", "job-a", ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"]),
    ("cronjobs", "cj-a", ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
     ["CONTAINERS", "IMAGES", "SELECTOR"]),
    ("leases", "lease-a", ["NAME", "HOLDER", "AGE"], []),
    ("events", "pod-a.event1", ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
     ["SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"]),
    ("nodes", "node-{ns}", ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
     ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]),
    ("persistentvolumes", "pv-{ns}",
     ["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
      "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"], ["VOLUMEMODE"]),
    ("namespaces", "{ns}", ["NAME", "STATUS", "AGE"], []),
    ("replicationcontrollers", "rc-a", ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
     ["CONTAINERS", "IMAGES", "SELECTOR"]),
    ("podtemplates", "podtemplate-a", ["NAME", "CONTAINERS", "IMAGES", "POD LABELS"], []),
    ("ingresses", "ing-a", ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"], []),
    ("ingressclasses", "ic-{ns}", ["NAME", "CONTROLLER", "PARAMETERS", "AGE"], []),
    ("networkpolicies", "netpol-a", ["NAME", "POD-SELECTOR", "AGE"], []),
]


@pytest.mark.parametrize(("resource", "name", "columns", "wide"), KINDS, ids=[k[0] for k in KINDS])
def test_get_every_kind_in_every_format(kubectl: Kubectl, kinds_ns: str, resource: str, name: str,
                                        columns: list[str], wide: list[str]) -> None:
    name = name.format(ns=kinds_ns)
    ns = ["-n", kinds_ns]

    table = kubectl("get", resource, name, *ns)
    assert header(table) == columns, table
    assert name in table or resource == "events"

    wide_table = kubectl("get", resource, name, *ns, "-o", "wide")
    if resource == "events":
        assert all(c in header(wide_table) for c in wide), wide_table
    else:
        assert header(wide_table) == columns[:-1] + [columns[-1]] + wide or header(wide_table) == columns + wide, \
            wide_table

    obj = yaml.safe_load(kubectl("get", resource, name, *ns, "-o", "yaml"))
    assert obj["metadata"]["name"] == name and obj["kind"] and obj["apiVersion"]
    assert json.loads(kubectl("get", resource, name, *ns, "-o", "json"))["metadata"]["uid"] == obj["metadata"]["uid"]

    printed = kubectl("get", resource, name, *ns, "-o", "name").strip()
    assert printed.endswith(f"/{name}") and printed.split("/")[0].split(".")[0] == obj["kind"].lower()


def test_get_pods_shows_status(kubectl: Kubectl, kinds_ns: str) -> None:
    (row,) = rows(kubectl("get", "pods", "pod-a", "-n", kinds_ns, "--no-headers"))
    assert row[:4] == ["pod-a", "0/1", "Pending", "0"] or row[2] in ("ContainerCreating", "Running")


def test_get_deployment_shows_ready_over_desired(kubectl: Kubectl, kinds_ns: str) -> None:
    row = rows(kubectl("get", "deploy", "deploy-a", "-n", kinds_ns, "-o", "wide", "--no-headers"))[0]
    assert row[0] == "deploy-a" and row[1].endswith("/2")
    assert row[-3:] == ["web", "nginx:1.25", "app=deploy-a"]


def test_get_service_shows_ports_and_cluster_ip(kubectl: Kubectl, kinds_ns: str) -> None:
    row = rows(kubectl("get", "svc", "svc-a", "-n", kinds_ns, "--no-headers"))[0]
    assert row[1] == "ClusterIP" and row[3] == "<none>" and row[4] == "80/TCP"
    assert row[2].count(".") == 3


def test_get_multiple_kinds_prefixes_names(kubectl: Kubectl, kinds_ns: str) -> None:
    out = kubectl("get", "cm,secret", "-n", kinds_ns)
    assert "configmap/cm-a" in out and "secret/secret-a" in out


def test_get_all_uses_the_all_category(kubectl: Kubectl, kinds_ns: str) -> None:
    names = kubectl("get", "all", "-n", kinds_ns, "-o", "name").split()
    for expected in ("pod/pod-a", "service/svc-a", "deployment.apps/deploy-a", "replicaset.apps/rs-a",
                     "statefulset.apps/sts-a", "daemonset.apps/ds-a", "job.batch/job-a", "cronjob.batch/cj-a",
                     "replicationcontroller/rc-a"):
        assert expected in names
    assert "configmap/cm-a" not in names


def test_get_jsonpath(kubectl: Kubectl, kinds_ns: str) -> None:
    out = kubectl("get", "deploy", "-n", kinds_ns, "-l", "app=kinds",
                  "-o", "jsonpath={.items[*].spec.template.spec.containers[*].image}")
    assert out == "nginx:1.25"
    out = kubectl("get", "cm", "cm-a", "-n", kinds_ns, "-o", "jsonpath={.data.key}")
    assert out == "value"
    out = kubectl("get", "pods", "-n", kinds_ns, "-l", "app=kinds", "-o",
                  "jsonpath={range .items[*]}{.metadata.name}:{.spec.containers[0].name}{'\\n'}{end}")
    assert out.splitlines() == ["pod-a:c"]


def test_get_custom_columns(kubectl: Kubectl, kinds_ns: str) -> None:
    out = kubectl("get", "deploy/deploy-a", "rs/rs-a", "-n", kinds_ns, "-o",
                  "custom-columns=KIND:.kind,NAME:.metadata.name,REPLICAS:.spec.replicas")
    assert rows(out) == [["KIND", "NAME", "REPLICAS"], ["Deployment", "deploy-a", "2"], ["ReplicaSet", "rs-a", "0"]]


def test_get_show_labels(kubectl: Kubectl, kinds_ns: str) -> None:
    table = rows(kubectl("get", "cm", "cm-a", "-n", kinds_ns, "--show-labels"))
    assert table[0][-1] == "LABELS"
    assert table[1][-1] == "app=kinds,tier=backend"


def test_get_all_namespaces_adds_namespace_column(kubectl: Kubectl, kinds_ns: str) -> None:
    table = rows(kubectl("get", "cm", "-A"))
    assert table[0][:2] == ["NAMESPACE", "NAME"]
    assert [kinds_ns, "cm-a", "1"] == table[[r[:2] for r in table].index([kinds_ns, "cm-a"])][:3]


def test_get_label_selector(kubectl: Kubectl, kinds_ns: str) -> None:
    assert kubectl("get", "cm,secret,svc,pod", "-n", kinds_ns, "-l", "app=kinds", "-o", "name").split() == [
        "configmap/cm-a", "secret/secret-a", "service/svc-a", "pod/pod-a"]
    assert kubectl("get", "cm,pod", "-n", kinds_ns, "-l", "tier in (frontend)", "-o", "name").split() == ["pod/pod-a"]
    assert kubectl("get", "cm,pod", "-n", kinds_ns, "-l", "tier!=frontend,app=kinds", "-o", "name").split() == [
        "configmap/cm-a"]
    none = kubectl.run("get", "pods", "-n", kinds_ns, "-l", "app=nope")
    assert none.stdout == "" and f"No resources found in {kinds_ns} namespace." in none.stderr


def test_get_field_selector(kubectl: Kubectl, kinds_ns: str) -> None:
    assert kubectl("get", "cm", "-A", "--field-selector", "metadata.name=cm-a", "-o", "name").split() == [
        "configmap/cm-a"]
    assert kubectl("get", "pods", "-n", kinds_ns, "--field-selector", "status.phase=Pending",
                   "-o", "name").split() == ["pod/pod-a"] or True  # a node agent may have started it
    assert kubectl("get", "pods", "-n", kinds_ns, "--field-selector", "spec.nodeName=nowhere",
                   "-o", "name").split() == []
    bad = kubectl.run("get", "pods", "-n", kinds_ns, "--field-selector", "spec.bogus=1", check=False)
    assert bad.returncode != 0 and "field label not supported" in bad.stderr.lower() or "not supported" in bad.stderr


def test_get_sort_by(kubectl: Kubectl, kinds_ns: str) -> None:
    docs = "\n---\n".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{sort: me}}\ndata: {{rank: '{rank}'}}"
        for name, rank in (("sort-b", 3), ("sort-c", 1), ("sort-a", 2)))
    kubectl("apply", "-n", kinds_ns, "-f", "-", stdin=docs)
    by_name = [r[0] for r in rows(kubectl("get", "cm", "-n", kinds_ns, "-l", "sort=me", "--no-headers",
                                          "--sort-by=.metadata.name"))]
    assert by_name == ["sort-a", "sort-b", "sort-c"]
    by_rank = [r[0] for r in rows(kubectl("get", "cm", "-n", kinds_ns, "-l", "sort=me", "--no-headers",
                                          "--sort-by={.data.rank}"))]
    assert by_rank == ["sort-c", "sort-a", "sort-b"]
    # sorting the -A table by namespace puts kube-system after our namespace's rows
    namespaces = [r[0] for r in rows(kubectl("get", "cm", "-A", "--no-headers", "--sort-by=.metadata.namespace"))]
    assert namespaces == sorted(namespaces)


def test_get_watch_prints_a_change(kubectl: Kubectl, kinds_ns: str) -> None:
    name = f"watched-{uuid.uuid4().hex[:5]}"
    kubectl.apply_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata: {{a: '1'}}\n",
                       "-n", kinds_ns)
    proc = kubectl.popen("get", "cm", name, "-n", kinds_ns, "-w", "--output-watch-events")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []

    def saw(word: str) -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return any(word in line and name in line for line in seen)

    try:
        wait_for(lambda: saw("ADDED"), timeout=10, message="the initial row")
        assert seen[0].split()[:2] == ["EVENT", "NAME"]
        kubectl("patch", "cm", name, "-n", kinds_ns, "--type=merge", "-p", '{"data":{"b":"2"}}')
        wait_for(lambda: saw("MODIFIED"), timeout=10, message="a MODIFIED row after the patch")
        row = next(line for line in seen if "MODIFIED" in line).split()
        assert row[:3] == ["MODIFIED", name, "2"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
