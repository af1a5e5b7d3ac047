"""Pure helpers of the controllers: deployment arithmetic and hashing, cron schedules,
Job index sets, taint tolerations and DaemonSet node eligibility."""

from __future__ import annotations

import datetime

from kubelite.controllers import cronjob, daemonset, job, nodelifecycle
from kubelite.controllers.deployment import util


def _d(replicas: int, surge: object = "25%", unavailable: object = "25%") -> dict:
    return {"metadata": {"generation": 1}, "spec": {"replicas": replicas, "strategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}}


def test_fenceposts_round_surge_up_and_unavailable_down():
    assert util.fenceposts(_d(3)) == (1, 0)
    assert util.fenceposts(_d(10)) == (3, 2)
    assert util.fenceposts(_d(4, 0, 0)) == (0, 1)  # both zero would never progress


def test_new_replicaset_grows_within_surge():
    d = _d(4, 1, 1)
    old = {"spec": {"replicas": 4}}
    new = {"spec": {"replicas": 0}}
    assert util.new_rs_replicas(d, [old, new], new) == 1
    assert util.new_rs_replicas(d, [{"spec": {"replicas": 3}}, new], new) == 2


def test_template_hash_ignores_its_own_label_and_is_safe_alphabet():
    t = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    h = util.template_hash(t, None)
    t2 = {"metadata": {"labels": {"app": "x", "pod-template-hash": h}}, "spec": t["spec"]}
    assert util.template_hash(t2, None) == h and util.templates_equal(t, t2)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert util.template_hash(t, 1) != h


def test_cron_schedule_fields_macros_and_time_zones():
    s = cronjob.Schedule("*/15 9-17 * * mon-fri")
    t = datetime.datetime(2026, 11, 20, 17, 50, tzinfo=datetime.UTC)  # a Friday
    assert s.next_after(t) == datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)
    assert cronjob.Schedule("@hourly").next_after(t) == datetime.datetime(2026, 11, 20, 18, 0, tzinfo=datetime.UTC)
    berlin = cronjob.Schedule("0 9 * * *", "Europe/Berlin")
    assert berlin.next_after(t) == datetime.datetime(2026, 11, 21, 8, 0, tzinfo=datetime.UTC)
    last, missed = cronjob.Schedule("* * * * *").most_recent(t, t + datetime.timedelta(minutes=3, seconds=5))
    assert last == t + datetime.timedelta(minutes=3) and missed == 3


def test_completed_indexes_round_trip():
    assert job.format_indexes({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7"
    assert job.parse_indexes("0-2,4,6-7") == {0, 1, 2, 4, 6, 7}


def test_eviction_time_uses_toleration_seconds_and_default():
    added = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    taint = {"key": nodelifecycle.UNREACHABLE, "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}
    bare = {"spec": {}}
    assert nodelifecycle.eviction_time(bare, [taint]) == added + datetime.timedelta(
        seconds=nodelifecycle.DEFAULT_TOLERATION)
    tol = {"spec": {"tolerations": [{"key": nodelifecycle.UNREACHABLE, "operator": "Exists",
                                     "effect": "NoExecute", "tolerationSeconds": 60}]}}
    assert nodelifecycle.eviction_time(tol, [taint]) == added + datetime.timedelta(seconds=60)
    forever = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    assert nodelifecycle.eviction_time(forever, [taint]) is None
    # as upstream's taint manager: the first toleration matching a taint answers for it
    first = {"spec": {"tolerations": tol["spec"]["tolerations"] + [{"operator": "Exists"}]}}
    assert nodelifecycle.eviction_time(first, [taint]) == added + datetime.timedelta(seconds=60)
    assert nodelifecycle.eviction_time({"spec": {"tolerations": [{"operator": "Exists"}] + tol["spec"][
        "tolerations"]}}, [taint]) is None
    # the shortest of the taints' times
    not_ready = {**taint, "key": nodelifecycle.NOT_READY}
    both = {"spec": {"tolerations": [{"key": nodelifecycle.NOT_READY, "operator": "Exists", "effect": "NoExecute",
                                      "tolerationSeconds": 30}] + tol["spec"]["tolerations"]}}
    assert nodelifecycle.eviction_time(both, [taint, not_ready]) == added + datetime.timedelta(seconds=30)
    other = {"key": "dedicated", "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}
    assert nodelifecycle.eviction_time(bare, [other]) == added


def test_daemonset_node_eligibility():
    node = {"metadata": {"name": "n1", "labels": {"disk": "ssd"}},
            "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}}
    assert daemonset.node_should_run({}, node) == (False, True)  # a NoSchedule taint keeps new pods away only
    tolerant = {"tolerations": [{"key": "gpu", "operator": "Exists"}]}
    assert daemonset.node_should_run(tolerant, node) == (True, True)
    assert daemonset.node_should_run({**tolerant, "nodeSelector": {"disk": "hdd"}}, node) == (False, False)
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}
    assert daemonset.node_should_run({**tolerant, "affinity": affinity}, node) == (False, False)
    assert daemonset.node_should_run({**tolerant, "nodeName": "n2"}, node) == (False, False)
    evicting = {"metadata": {"name": "n4"}, "spec": {"taints": [{"key": "gpu", "effect": "NoExecute"}]}}
    assert daemonset.node_should_run({}, evicting) == (False, False)


def test_a_daemon_pod_may_stay_on_a_node_the_lifecycle_controller_tainted():
    """The node lifecycle controller taints a silent node unreachable NoExecute *and*
    NoSchedule: no new daemon pod goes there, the one running stays (upstream)."""
    for key in (nodelifecycle.UNREACHABLE, nodelifecycle.NOT_READY):
        node = {"metadata": {"name": "n3"}, "spec": {"taints": [
            {"key": key, "effect": "NoExecute"}, {"key": key, "effect": "NoSchedule"}]}}
        assert daemonset.node_should_run({}, node) == (False, True)
        only_no_execute = {"metadata": {"name": "n3"}, "spec": {"taints": [{"key": key, "effect": "NoExecute"}]}}
        assert daemonset.node_should_run({}, only_no_execute) == (True, True)  # daemon pods tolerate it

def test_host_network_daemon_pods_tolerate_an_unavailable_pod_network():
    """Upstream's daemon pods on the host's network need no pod network: they tolerate
    ``network-unavailable`` (NoSchedule), the others do not."""
    node = {"metadata": {"name": "n5"}, "spec": {"taints": [
        {"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]}}
    assert daemonset.node_should_run({"hostNetwork": True}, node) == (True, True)
    assert daemonset.node_should_run({}, node) == (False, True)
    assert daemonset.HOST_NETWORK_TOLERATION in daemonset.daemon_tolerations({"hostNetwork": True})
    assert daemonset.HOST_NETWORK_TOLERATION not in daemonset.daemon_tolerations({})
