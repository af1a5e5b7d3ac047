"""Defaults: what ``kubectl get -o yaml`` shows on a real cluster after a create."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api import defaults


def _pod(**spec: Any) -> dict[str, Any]:
    base = {"containers": [{"name": "c", "image": "nginx:1.27"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": base}


def test_pod_defaults() -> None:
    pod = _pod()
    defaults.apply_defaults("", "Pod", pod)
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert "priority" not in spec and "preemptionPolicy" not in spec  # priority admission's, not defaults
    c = spec["containers"][0]
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["resources"] == {}


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("registry:5000/team/app", "Always"), ("registry:5000/team/app:v2", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    pod = _pod(containers=[{"name": "c", "image": image}])
    defaults.apply_defaults("", "Pod", pod)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_explicit_values_are_kept() -> None:
    pod = _pod(restartPolicy="Never", terminationGracePeriodSeconds=0, enableServiceLinks=False,
               containers=[{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent"}])
    defaults.apply_defaults("", "Pod", pod)
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 0
    assert pod["spec"]["enableServiceLinks"] is False
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_defaults_are_idempotent() -> None:
    pod = _pod(volumes=[{"name": "v"}])
    defaults.apply_defaults("", "Pod", pod)
    once = copy.deepcopy(pod)
    defaults.apply_defaults("", "Pod", pod)
    assert pod == once


def test_container_nested_defaults() -> None:
    pod = _pod(containers=[{
        "name": "c", "image": "app:1",
        "ports": [{"containerPort": 80}],
        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "livenessProbe": {"httpGet": {"port": 80}},
        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
        "resources": {"limits": {"cpu": "1", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
    }])
    defaults.apply_defaults("", "Pod", pod)
    c = pod["spec"]["containers"][0]
    assert c["ports"][0]["protocol"] == "TCP"
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["readinessProbe"]["periodSeconds"] == 5
    # a pod (not a template) gets requests from limits where requests are missing
    assert c["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}


def test_volume_defaults() -> None:
    pod = _pod(volumes=[{"name": "scratch"}, {"name": "cm", "configMap": {"name": "x"}},
                        {"name": "s", "secret": {"secretName": "y"}}, {"name": "h", "hostPath": {"path": "/tmp"}}])
    defaults.apply_defaults("", "Pod", pod)
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert vols["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert vols["cm"]["configMap"]["defaultMode"] == 420
    assert vols["s"]["secret"]["defaultMode"] == 420
    assert vols["h"]["hostPath"]["type"] == ""


def test_host_network_copies_container_ports_to_host_ports() -> None:
    pod = _pod(hostNetwork=True, containers=[{"name": "c", "image": "a:1", "ports": [{"containerPort": 8080}]}])
    defaults.apply_defaults("", "Pod", pod)
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080




def _template() -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "web:1"}]}}


def test_deployment_defaults() -> None:
    d = {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": _template()}}
    defaults.apply_defaults("apps", "Deployment", d)
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    tspec = spec["template"]["spec"]
    assert tspec["restartPolicy"] == "Always"
    assert tspec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    # Pod-only defaults do not appear in templates
    assert "enableServiceLinks" not in tspec and "priority" not in tspec


def test_recreate_strategy_gets_no_rolling_update() -> None:
    d = {"spec": {"strategy": {"type": "Recreate"}, "template": _template()}}
    defaults.apply_defaults("apps", "Deployment", d)
    assert d["spec"]["strategy"] == {"type": "Recreate"}


def test_replica_set_stateful_set_daemon_set_defaults() -> None:
    rs = {"spec": {"template": _template()}}
    defaults.apply_defaults("apps", "ReplicaSet", rs)
    assert rs["spec"]["replicas"] == 1

    sts = {"spec": {"template": _template(), "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}}
    defaults.apply_defaults("apps", "StatefulSet", sts)
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"

    ds = {"spec": {"template": _template()}}
    defaults.apply_defaults("apps", "DaemonSet", ds)
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert ds["spec"]["revisionHistoryLimit"] == 10


def test_job_defaults() -> None:
    job = {"metadata": {"name": "pi"}, "spec": {"template": _template()}}
    defaults.apply_defaults("batch", "Job", job)
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert "manualSelector" not in spec
    assert job["metadata"]["labels"] == {"app": "web"}
    # like every PodSpec, so validation can refuse it with upstream's message
    assert spec["template"]["spec"]["restartPolicy"] == "Always"


def test_parallel_job_keeps_completions_unset() -> None:
    job = {"spec": {"parallelism": 3, "template": _template()}}
    defaults.apply_defaults("batch", "Job", job)
    assert "completions" not in job["spec"]
    per_index = {"spec": {"backoffLimitPerIndex": 1, "completionMode": "Indexed", "completions": 3,
                          "template": _template(), "podFailurePolicy": {"rules": []}}}
    defaults.apply_defaults("batch", "Job", per_index)
    assert per_index["spec"]["backoffLimit"] == 2**31 - 1
    assert per_index["spec"]["podReplacementPolicy"] == "Failed"


def test_generated_job_selector() -> None:
    job = {"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": _template()}}
    defaults.generate_job_selector(job)
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["job-name"] == "pi" and labels["controller-uid"] == "u-1"


def test_cron_job_defaults() -> None:
    cj = {"spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": _template()}}}}
    defaults.apply_defaults("batch", "CronJob", cj)
    spec = cj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_service_defaults() -> None:
    svc = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    defaults.apply_defaults("", "Service", svc)
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["ipFamilies"] == ["IPv4"]
    assert "externalTrafficPolicy" not in spec

    node_port = {"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}],
                          "sessionAffinity": "ClientIP"}}
    defaults.apply_defaults("", "Service", node_port)
    assert node_port["spec"]["externalTrafficPolicy"] == "Cluster"
    assert node_port["spec"]["ports"][0]["targetPort"] == "http"
    assert node_port["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}

    external = {"spec": {"type": "ExternalName", "externalName": "example.com"}}
    defaults.apply_defaults("", "Service", external)
    assert "ipFamilies" not in external["spec"]


def test_namespace_secret_and_storage_defaults() -> None:
    ns = {"metadata": {"name": "team-a"}}
    defaults.apply_defaults("", "Namespace", ns)
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert ns["status"] == {"phase": "Active"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]}

    secret: dict[str, Any] = {"metadata": {"name": "s"}}
    defaults.apply_defaults("", "Secret", secret)
    assert secret["type"] == "Opaque"

    pvc = {"spec": {"accessModes": ["ReadWriteOnce"]}}
    defaults.apply_defaults("", "PersistentVolumeClaim", pvc)
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"] == {"phase": "Pending"}

    pv = {"spec": {"hostPath": {"path": "/data"}}}
    defaults.apply_defaults("", "PersistentVolume", pv)
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["volumeMode"] == "Filesystem"


def test_kinds_without_defaults_are_untouched() -> None:
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}}
    before = copy.deepcopy(lease)
    defaults.apply_defaults("coordination.k8s.io", "Lease", lease)
    defaults.apply_defaults("example.com", "Widget", lease)
    assert lease == before
