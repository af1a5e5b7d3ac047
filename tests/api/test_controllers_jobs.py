"""Jobs and CronJobs through the API of a real server running the controllers."""

from __future__ import annotations

import datetime

from kubernetes import client

from tests.api import kubectl_runner
from tests.api.test_controllers_support import pods, set_phase
from tests.conftest import wait_for

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses


def _job(name: str, **spec: object) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox"}]}}, **spec}}


def _condition(batch: client.BatchV1Api, ns: str, name: str, ctype: str) -> object:
    job = batch.read_namespaced_job(name, ns)
    return next((c for c in job.status.conditions or [] if c.type == ctype and c.status == "True"), None)


def _finish_running(core: client.CoreV1Api, ns: str, phase: str, exit_code: int = 0) -> int:
    n = 0
    for p in pods(core, ns):
        if p.status.phase in (None, "Pending") and not p.metadata.deletion_timestamp:
            set_phase(core, p, phase, exit_code)
            n += 1
    return n


def test_job_runs_completions_with_parallelism(k8s, namespace):
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job(namespace, _job("work", completions=3, parallelism=2))
    wait_for(lambda: len(pods(core, namespace)) == 2, 10, message="2 pods in parallel")
    p = pods(core, namespace)[0]
    assert p.metadata.generate_name == "work-" and p.metadata.labels["job-name"] == "work"
    assert "batch.kubernetes.io/job-tracking" in p.metadata.finalizers

    def step() -> object:
        _finish_running(core, namespace, "Succeeded")
        return _condition(batch, namespace, "work", "Complete")

    wait_for(step, 15, message="Job Complete")
    job = batch.read_namespaced_job("work", namespace)
    assert job.status.succeeded == 3 and job.status.completion_time is not None
    assert len(pods(core, namespace)) == 3
    assert all("batch.kubernetes.io/job-tracking" not in (p.metadata.finalizers or []) for p in pods(core, namespace))


def test_job_fails_after_backoff_limit(k8s, namespace):
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job(namespace, _job("fail", backoffLimit=1))

    def step() -> object:
        _finish_running(core, namespace, "Failed", 1)
        return _condition(batch, namespace, "fail", "Failed")

    cond = wait_for(step, 15, message="Job Failed")
    assert cond.reason == "BackoffLimitExceeded"
    assert batch.read_namespaced_job("fail", namespace).status.failed == 2


def test_indexed_job_and_pod_failure_policy(k8s, namespace):
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job(namespace, _job("idx", completions=3, parallelism=3, completionMode="Indexed"))
    wait_for(lambda: len(pods(core, namespace)) == 3, 10, message="3 indexed pods")
    idx = sorted(p.metadata.annotations["batch.kubernetes.io/job-completion-index"] for p in pods(core, namespace))
    assert idx == ["0", "1", "2"]
    wait_for(lambda: _finish_running(core, namespace, "Succeeded") == 0
             and _condition(batch, namespace, "idx", "Complete"), 15, message="indexed Job Complete")
    assert batch.read_namespaced_job("idx", namespace).status.completed_indexes == "0-2"

    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}
    batch.create_namespaced_job(namespace, _job("pfp", backoffLimit=6, podFailurePolicy=policy))
    wait_for(lambda: [p for p in pods(core, namespace) if p.metadata.name.startswith("pfp-")], 10, message="pod")
    for p in pods(core, namespace):
        if p.metadata.name.startswith("pfp-"):
            set_phase(core, p, "Failed", 42)
    cond = wait_for(lambda: _condition(batch, namespace, "pfp", "Failed"), 30, message="FailJob rule")
    assert cond.reason == "PodFailurePolicy"


def test_suspended_job_creates_no_pods_until_resumed(k8s, namespace):
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job(namespace, _job("later", suspend=True))
    wait_for(lambda: _condition(batch, namespace, "later", "Suspended"), 10, message="Suspended")
    assert not pods(core, namespace)
    batch.patch_namespaced_job("later", namespace, {"spec": {"suspend": False}})
    wait_for(lambda: pods(core, namespace), 10, message="pod after resume")


def test_finished_job_is_deleted_after_ttl(k8s, namespace):
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job(namespace, _job("ttl", ttlSecondsAfterFinished=0))
    wait_for(lambda: _finish_running(core, namespace, "Succeeded"), 10, message="pod to finish")
    wait_for(lambda: not batch.list_namespaced_job(namespace).items, 15, message="Job deleted after its TTL")


def test_cronjob_creates_job_for_missed_schedule_and_keeps_history(k8s, namespace):
    batch = client.BatchV1Api(k8s)
    cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
          "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Forbid", "jobTemplate": {
              "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}}}
    batch.create_namespaced_cron_job(namespace, cj)
    # As after a controller outage: the last run was two minutes ago, so one run is due now.
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    batch.patch_namespaced_cron_job_status("tick", namespace, {"status": {"lastScheduleTime": past}})
    jobs = wait_for(lambda: batch.list_namespaced_job(namespace).items, 10, message="a Job from the CronJob")
    assert len(jobs) == 1
    job = jobs[0]
    assert job.metadata.owner_references[0].kind == "CronJob"
    assert job.metadata.name.startswith("tick-")
    assert "batch.kubernetes.io/cronjob-scheduled-timestamp" in job.metadata.annotations
    st = wait_for(lambda: batch.read_namespaced_cron_job("tick", namespace).status.active, 10, message="active")
    assert st[0].name == job.metadata.name


def test_a_job_carries_its_templates_labels(k8s, kubectl, namespace):
    """Upstream's Job defaulting: a Job without labels of its own has its template's,
    the generated ones included, so ``kubectl get jobs -l job-name=x`` finds it."""
    batch = client.BatchV1Api(k8s)
    kubectl("create", "job", "j1", "-n", namespace, "--image=busybox", "--", "true")
    job = batch.read_namespaced_job("j1", namespace)
    uid = job.metadata.uid
    assert job.metadata.labels == {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "j1",
                                   "controller-uid": uid, "job-name": "j1"}
    assert kubectl("get", "jobs", "-n", namespace, "-l", "job-name=j1", "-o", "name").split() == ["job.batch/j1"]
    own = _job("own")
    own["metadata"]["labels"] = {"team": "a"}
    own["spec"]["template"]["metadata"] = {"labels": {"app": "x"}}
    assert batch.create_namespaced_job(namespace, own).metadata.labels == {"team": "a"}  # its own stay
    templated = _job("templated")
    templated["spec"]["template"]["metadata"] = {"labels": {"app": "x"}}
    assert batch.create_namespaced_job(namespace, templated).metadata.labels == {"app": "x"}
