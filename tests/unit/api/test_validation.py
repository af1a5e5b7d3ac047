"""Per-kind validation: the 422 causes a user sees from ``kubectl apply``."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from kubelite.api import defaults, errors, validation
from kubelite.api.validation import cron


def _messages(causes: list[errors.Cause]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


def _pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    base.update(spec)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": base}
    defaults.apply_defaults("", "Pod", pod)
    return pod


def _check(group: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return _messages(validation.validate(group, kind, obj, old=old))


# --- pods -------------------------------------------------------------------------------


def test_a_defaulted_pod_is_valid() -> None:
    assert _check("", "Pod", _pod()) == []


def test_pod_needs_containers() -> None:
    assert _check("", "Pod", _pod(containers=[])) == ["spec.containers: Required value"]


def test_container_name_image_and_duplicates() -> None:
    pod = _pod(containers=[{"name": "Web", "image": ""}, {"name": "db", "image": "pg"}, {"name": "db", "image": "pg"}])
    msgs = _check("", "Pod", pod)
    assert msgs[0].startswith('spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label')
    assert "spec.containers[0].image: Required value" in msgs
    assert 'spec.containers[2].name: Duplicate value: "db"' in msgs


def test_container_ports() -> None:
    pod = _pod(containers=[{"name": "c", "image": "a:1", "ports": [
        {"containerPort": 70000}, {"containerPort": 80, "protocol": "HTTP"}, {"containerPort": 0, "name": "x"},
    ]}])
    msgs = _check("", "Pod", pod)
    assert "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive" in msgs
    assert ('spec.containers[0].ports[1].protocol: Unsupported value: "HTTP": '
            'supported values: "SCTP", "TCP", "UDP"') in msgs
    assert "spec.containers[0].ports[2].containerPort: Required value" in msgs


def test_restart_policy_enum() -> None:
    assert _check("", "Pod", _pod(restartPolicy="Sometimes")) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"']


def test_requests_may_not_exceed_limits() -> None:
    pod = _pod(containers=[{"name": "c", "image": "a:1",
                            "resources": {"requests": {"cpu": "2", "memory": "64Mi"},
                                          "limits": {"cpu": "1500m", "memory": "0.1Gi"}}}])
    assert _check("", "Pod", pod) == [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1500m']
    bad = _pod(containers=[{"name": "c", "image": "a:1", "resources": {"limits": {"cpu": "lots"}}}])
    assert _check("", "Pod", bad)[0].startswith(
        'spec.containers[0].resources.limits[cpu]: Invalid value: "lots": quantities must match')


def test_probes() -> None:
    pod = _pod(containers=[{"name": "c", "image": "a:1",
                            "livenessProbe": {"successThreshold": 2, "httpGet": {"port": 80}},
                            "readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}},
                            "startupProbe": {"periodSeconds": 1}}])
    msgs = _check("", "Pod", pod)
    assert "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1" in msgs
    assert "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type" in msgs
    assert "spec.containers[0].startupProbe: Required value: must specify a handler type" in msgs


def test_volumes_and_mounts() -> None:
    pod = _pod(volumes=[{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}},
                        {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}}],
               containers=[{"name": "c", "image": "a:1",
                            "volumeMounts": [{"name": "data", "mountPath": "/d"},
                                             {"name": "missing", "mountPath": "/m"},
                                             {"name": "data", "mountPath": "/d"}]}])
    msgs = _check("", "Pod", pod)
    assert 'spec.volumes[1].name: Duplicate value: "data"' in msgs
    assert "spec.volumes[2].emptyDir: Forbidden: may not specify more than 1 volume type" in msgs \
        or "spec.volumes[2].hostPath: Forbidden: may not specify more than 1 volume type" in msgs
    assert 'spec.containers[0].volumeMounts[1].name: Not found: "missing"' in msgs
    assert 'spec.containers[0].volumeMounts[2].mountPath: Invalid value: "/d": must be unique' in msgs


def test_pod_update_may_change_image_only() -> None:
    old = _pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.28"
    new["spec"]["activeDeadlineSeconds"] = 60
    new["spec"]["tolerations"] = [{"key": "k", "operator": "Exists"}]
    assert _check("", "Pod", new, old) == []
    new["spec"]["containers"][0]["ports"] = [{"containerPort": 81, "protocol": "TCP"}]
    causes = validation.validate("", "Pod", new, old=old)
    assert [c.field for c in causes] == ["spec"]
    assert causes[0].message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,")
    assert "spec.containers[0].ports" in causes[0].message


def test_pod_update_may_add_tolerations_and_change_their_seconds_only() -> None:
    old = _pod()
    old["spec"]["tolerations"] = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                   "effect": "NoExecute", "tolerationSeconds": 3}]
    longer = copy.deepcopy(old)
    longer["spec"]["tolerations"][0]["tolerationSeconds"] = 600  # as upstream: the seconds may change
    longer["spec"]["tolerations"].append({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"})
    assert _check("", "Pod", longer, old) == []
    forever = copy.deepcopy(old)
    del forever["spec"]["tolerations"][0]["tolerationSeconds"]
    assert _check("", "Pod", forever, old) == []
    for changed in ({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "gpu", "operator": "Exists"}):
        new = copy.deepcopy(old)
        new["spec"]["tolerations"] = [changed]
        assert "spec.tolerations: Forbidden: existing toleration can not be modified except its " \
               "tolerationSeconds" in _check("", "Pod", new, old)


# --- workloads ------------------------------------------------------------------------


def _deployment(**spec: Any) -> dict[str, Any]:
    body = {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "web:1"}]}}}
    body.update(spec)
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "d"}, "spec": body}
    defaults.apply_defaults("apps", "Deployment", d)
    return d


def test_a_defaulted_deployment_is_valid() -> None:
    assert _check("apps", "Deployment", _deployment()) == []


def test_selector_must_match_template_labels() -> None:
    d = _deployment(selector={"matchLabels": {"app": "other"}})
    assert _check("apps", "Deployment", d) == [
        'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`']


def test_selector_required_and_not_empty() -> None:
    missing = _deployment()
    del missing["spec"]["selector"]
    assert _check("apps", "Deployment", missing) == ["spec.selector: Required value"]
    assert _check("apps", "Deployment", _deployment(selector={})) == [
        "spec.selector: Invalid value: {}: empty selector is invalid for deployment"]


def test_negative_replicas_and_bad_strategy() -> None:
    d = _deployment(replicas=-1, strategy={"type": "RollingUpdate",
                                           "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}})
    assert _check("apps", "Deployment", d) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"]


def test_workload_template_must_restart_always() -> None:
    d = _deployment()
    d["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert _check("apps", "Deployment", d) == [
        'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"']


def test_selector_is_immutable_on_update() -> None:
    old = _deployment()
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "2"}}
    new["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    assert _check("apps", "Deployment", new, old) == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"2"}}: field is immutable']
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    assert _check("apps", "Deployment", scaled, old) == []


def test_stateful_set_and_daemon_set() -> None:
    template = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "db:1"}]}}
    sts = {"metadata": {"name": "db"}, "spec": {"selector": {"matchLabels": {"app": "db"}},
                                                "serviceName": "db", "template": copy.deepcopy(template)}}
    defaults.apply_defaults("apps", "StatefulSet", sts)
    assert _check("apps", "StatefulSet", sts) == []
    changed = copy.deepcopy(sts)
    changed["spec"]["serviceName"] = "other"
    assert _check("apps", "StatefulSet", changed, sts)[0].startswith(
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas'")

    ds = {"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "x"}},
                                                  "template": copy.deepcopy(template)}}
    defaults.apply_defaults("apps", "DaemonSet", ds)
    assert _check("apps", "DaemonSet", ds) == [
        'spec.template.metadata.labels: Invalid value: {"app":"db"}: `selector` does not match template `labels`']


def _job(**spec: Any) -> dict[str, Any]:
    body = {"template": {"spec": {"containers": [{"name": "pi", "image": "perl:5"}], "restartPolicy": "Never"}}}
    body.update(spec)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "d", "uid": "u-1"},
           "spec": body}
    defaults.apply_defaults("batch", "Job", job)
    defaults.generate_job_selector(job)
    return job


def test_job_validation() -> None:
    assert _check("batch", "Job", _job()) == []
    always = _job()
    always["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert _check("batch", "Job", always) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']
    indexed = _job(completionMode="Indexed", parallelism=2)
    indexed["spec"].pop("completions", None)
    assert "spec.completions: Required value: when completion mode is Indexed" in _check("batch", "Job", indexed)


def test_job_without_restart_policy_is_refused_like_upstream() -> None:
    job = {"metadata": {"name": "pi", "namespace": "d", "uid": "u"},
           "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl:5"}]}}}}
    defaults.apply_defaults("batch", "Job", job)
    defaults.generate_job_selector(job)
    assert _check("batch", "Job", job) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']


def test_job_template_immutable_unless_suspended() -> None:
    old = _job()
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:6"
    assert [c.field for c in validation.validate("batch", "Job", new, old=old)] == ["spec.template"]
    old["spec"]["suspend"] = True
    new["spec"]["suspend"] = True
    assert _check("batch", "Job", new, old) == []


def _cronjob(schedule: str) -> dict[str, Any]:
    cj = {"metadata": {"name": "tick", "namespace": "d"},
          "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
              "containers": [{"name": "c", "image": "busybox:1"}], "restartPolicy": "OnFailure"}}}}}}
    defaults.apply_defaults("batch", "CronJob", cj)
    return cj


@pytest.mark.parametrize("schedule", ["*/5 * * * *", "0 0 * * 0", "@hourly", "@daily", "15 2 1-15/2 JAN-MAR mon-fri",
                                      "0 0 ? * *", "@every 1h30m", "0,30 8-18 * * *"])
def test_valid_cron_schedules(schedule: str) -> None:
    assert _check("batch", "CronJob", _cronjob(schedule)) == []


@pytest.mark.parametrize(("schedule", "error"), [
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("CRON_TZ=UTC 0 * * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
])
def test_invalid_cron_schedules(schedule: str, error: str) -> None:
    assert _check("batch", "CronJob", _cronjob(schedule)) == [f'spec.schedule: Invalid value: "{schedule}": {error}']


def test_cron_next_run() -> None:
    assert cron.parse_schedule("*/15 * * * *").next_after(datetime(2026, 1, 1, 10, 7)) == datetime(2026, 1, 1, 10, 15)
    assert cron.parse_schedule("0 0 1 * *").next_after(datetime(2026, 1, 31, 12)) == datetime(2026, 2, 1)
    # Sundays at 03:00; 2026-03-01 is a Sunday
    assert cron.parse_schedule("0 3 * * sun").next_after(datetime(2026, 2, 26)) == datetime(2026, 3, 1, 3)


def test_cron_job_name_length() -> None:
    cj = _cronjob("@daily")
    cj["metadata"]["name"] = "x" * 53
    assert _check("batch", "CronJob", cj) == [
        f'metadata.name: Invalid value: "{"x" * 53}": must be no more than 52 characters']


# --- services and the rest -------------------------------------------------------------


def _service(**spec: Any) -> dict[str, Any]:
    svc = {"metadata": {"name": "web", "namespace": "d"}, "spec": {"selector": {"app": "web"}, **spec}}
    defaults.apply_defaults("", "Service", svc)
    return svc


def test_service_validation() -> None:
    assert _check("", "Service", _service(ports=[{"port": 80}])) == []
    assert _check("", "Service", _service()) == ["spec.ports: Required value"]
    msgs = _check("", "Service", _service(type="Cluster", ports=[{"port": 80}, {"port": 0, "name": "b"}]))
    assert 'spec.type: Unsupported value: "Cluster": supported values: "ClusterIP", "ExternalName", ' \
           '"LoadBalancer", "NodePort"' in msgs
    assert "spec.ports[0].name: Required value" in msgs
    assert "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive" in msgs
    dup = _check("", "Service", _service(ports=[{"port": 80, "name": "a"}, {"port": 81, "name": "a"}]))
    assert dup == ['spec.ports[1].name: Duplicate value: "a"']
    node_port = _check("", "Service", _service(ports=[{"port": 80, "nodePort": 30080}]))
    assert node_port == ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]


def test_service_cluster_ip_may_not_change() -> None:
    old = _service(ports=[{"port": 80}], clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"])
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.11"
    new["spec"]["clusterIPs"] = ["10.96.0.11"]
    assert _check("", "Service", new, old) == [
        'spec.clusterIPs[0]: Invalid value: ["10.96.0.11"]: may not change once set']


def test_config_map_and_secret_keys_and_size() -> None:
    cm = {"metadata": {"name": "c", "namespace": "d"}, "data": {"good.key": "v", "bad key": "v"}}
    msgs = _check("", "ConfigMap", cm)
    assert len(msgs) == 1 and msgs[0].startswith(
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters')
    huge = {"metadata": {"name": "c", "namespace": "d"}, "data": {"k": "x" * (1024 * 1024 + 1)}}
    assert _check("", "ConfigMap", huge) == [": Too long: may not be more than 1048576 bytes"]
    secret = {"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}
    assert _check("", "Secret", secret) == ["data[tls.key]: Required value"]
    immutable = {"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque", "immutable": True, "data": {"a": "eA=="}}
    changed = dict(immutable, data={"a": "eQ=="})
    assert _check("", "Secret", changed, immutable) == [
        "data: Forbidden: field is immutable when `immutable` is set"]


def test_other_kinds() -> None:
    ns = {"metadata": {"name": "team"}, "spec": {"finalizers": ["kubernetes", "custom"]}}
    assert _check("", "Namespace", ns) == [
        'spec.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified']
    node = {"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}}
    assert _check("", "Node", node)[0].startswith('spec.taints[0].effect: Unsupported value: "Sometimes"')
    lease = {"metadata": {"name": "l", "namespace": "kube-node-lease"}, "spec": {"leaseDurationSeconds": 0}}
    assert _check("coordination.k8s.io", "Lease", lease) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
    event = {"metadata": {"name": "e", "namespace": "a"}, "involvedObject": {"kind": "Pod", "namespace": "b"}}
    assert _check("", "Event", event) == [
        'involvedObject.namespace: Invalid value: "b": does not match event.namespace']
    pvc = {"metadata": {"name": "c", "namespace": "d"}, "spec": {}}
    defaults.apply_defaults("", "PersistentVolumeClaim", pvc)
    assert _check("", "PersistentVolumeClaim", pvc) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value"]
    pv = {"metadata": {"name": "v"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}}
    assert _check("", "PersistentVolume", pv) == ["spec: Required value: must specify a volume type"]


def test_unknown_kinds_have_no_rules() -> None:
    assert validation.validate("example.com", "Widget", {"spec": {"anything": True}}) == []
    assert validation.name_rule("", "Service") == "dns1035"
    assert validation.name_rule("", "Namespace") == "label"
    assert validation.name_rule("apps", "Deployment") == "subdomain"


def test_remembered_spec_verdicts_match_fresh_ones() -> None:
    """validate_pod remembers verdicts by the spec's bytes: equal specs, equal verdicts,
    and a spec that differs in one value is judged on its own."""
    from kubelite.api.validation import pods as pod_validation

    good, bad = _pod(), _pod(restartPolicy="Sometimes")
    for _ in range(2):  # the second round is served from the memo
        assert _check("", "Pod", copy.deepcopy(good)) == []
        assert _check("", "Pod", copy.deepcopy(bad)) == _messages(
            pod_validation.validate_pod_spec(bad["spec"], "spec")) != []
    causes = validation.validate("", "Pod", copy.deepcopy(bad))
    causes.clear()  # a caller changing its list must not change what the memo returns
    assert _check("", "Pod", copy.deepcopy(bad)) != []
