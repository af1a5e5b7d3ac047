"""PodSecurity admission through the registry: the namespace's labels decide; enforce
refuses with upstream's 403, warn adds warnings, workloads only warn, bad labels are 422,
and an unlabelled namespace costs a pod create almost nothing."""

from __future__ import annotations

import copy
import timeit
from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api import podsecurity as pss
from kubelite.apiserver import admissionwarnings, podsecurity, registry, requests
from kubelite.apiserver.strategies import core as core_strategies

OPTS = requests.WriteOptions.parse({})
PLAIN = {"containers": [{"name": "c", "image": "busybox"}]}


async def make_namespace(reg: registry.Registry, name: str, labels: dict[str, str]) -> None:
    store = reg.get("", "v1", "namespaces")
    assert store is not None
    await store.create(None, {"metadata": {"name": name, "labels": labels}}, OPTS)
    await reg.cache.wait_fresh()


async def create_pod(reg: registry.Registry, ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    store = reg.get("", "v1", "pods")
    assert store is not None
    return await store.create(ns, {"metadata": {"name": name}, "spec": spec}, OPTS)


@pytest.fixture(autouse=True)
def no_leftover_warnings() -> None:
    admissionwarnings.clear()


async def test_enforce_restricted_refuses_a_plain_pod_with_upstreams_status(reg: registry.Registry) -> None:
    await make_namespace(reg, "demo", {"pod-security.kubernetes.io/enforce": "restricted"})
    with pytest.raises(errors.Forbidden) as refused:
        await create_pod(reg, "demo", "p", PLAIN)
    status = refused.value.to_status()
    assert status["message"].startswith(
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities')
    assert (status["code"], status["reason"], status["details"]) == (403, "Forbidden", {"name": "p", "kind": "pods"})


async def test_warn_admits_and_warns_enforce_baseline_admits_a_plain_pod(reg: registry.Registry) -> None:
    await make_namespace(reg, "w", {"pod-security.kubernetes.io/enforce": "baseline",
                                    "pod-security.kubernetes.io/warn": "restricted",
                                    "pod-security.kubernetes.io/warn-version": "v1.30"})
    await create_pod(reg, "w", "p", PLAIN)
    [warning] = admissionwarnings.take()
    assert warning.startswith('would violate PodSecurity "restricted:v1.30": allowPrivilegeEscalation != false')
    with pytest.raises(errors.Forbidden, match=r'violates PodSecurity "baseline:latest": host namespaces '
                                               r'\(hostNetwork=true\)$'):
        await create_pod(reg, "w", "h", {**PLAIN, "hostNetwork": True})
    assert admissionwarnings.take() == []  # a refused request gets no warnings


async def test_an_image_update_is_checked_a_label_update_is_not(reg: registry.Registry) -> None:
    await make_namespace(reg, "u", {})
    pod = await create_pod(reg, "u", "p", PLAIN)
    ns_store, pods = reg.get("", "v1", "namespaces"), reg.get("", "v1", "pods")
    assert ns_store is not None and pods is not None
    await reg.cache.wait_fresh()
    ns = copy.deepcopy(await ns_store.get(None, "u"))
    ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "restricted"
    await ns_store.update(None, "u", ns, OPTS)
    # raising the enforce level names the existing pods it would refuse
    warnings = admissionwarnings.take()
    assert warnings[0] == 'existing pods in namespace "u" violate the new PodSecurity enforce level "restricted:latest"'
    assert warnings[1].startswith("p: allowPrivilegeEscalation != false, unrestricted capabilities")
    await reg.cache.wait_fresh()
    pod = copy.deepcopy(pod)
    pod["metadata"]["labels"] = {"a": "b"}
    pod = copy.deepcopy((await pods.update("u", "p", pod, OPTS))[0])
    pod["spec"]["containers"][0]["image"] = "busybox:2"
    with pytest.raises(errors.Forbidden, match='pods "p" is forbidden: violates PodSecurity'):
        await pods.update("u", "p", pod, OPTS)


async def test_workload_templates_are_warned_never_refused(reg: registry.Registry) -> None:
    await make_namespace(reg, "d", {"pod-security.kubernetes.io/enforce": "restricted",
                                    "pod-security.kubernetes.io/warn": "baseline"})
    deployments = reg.get("apps", "v1", "deployments")
    assert deployments is not None
    await deployments.create("d", {"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {**PLAIN, "hostPID": True}}}}, OPTS)
    assert admissionwarnings.take() == [
        'would violate PodSecurity "baseline:latest": host namespaces (hostPID=true)']


async def test_invalid_labels_are_refused_on_create_and_when_changed(reg: registry.Registry) -> None:
    with pytest.raises(errors.Invalid) as refused:
        await make_namespace(reg, "bad", {"pod-security.kubernetes.io/enforce": "bogus"})
    assert refused.value.message == (
        'Namespace "bad" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
        'Invalid value: "bogus": must be one of privileged, baseline, restricted')


async def test_the_disabled_plugin_admits_everything(reg: registry.Registry) -> None:
    podsecurity.disable(reg)
    await make_namespace(reg, "off", {"pod-security.kubernetes.io/enforce": "restricted"})
    await create_pod(reg, "off", "p", {**PLAIN, "hostNetwork": True})


async def test_an_unlabelled_namespace_costs_a_pod_create_under_a_microsecond(reg: registry.Registry) -> None:
    await make_namespace(reg, "default", {})
    pods = reg.get("", "v1", "pods")
    assert pods is not None
    pod = {"metadata": {"name": "p", "namespace": "default"}, "spec": PLAIN}
    podsecurity.admit_pod(pods, pod)  # memoizes the namespace's policy
    runs = 100_000
    cost = min(timeit.repeat(lambda: podsecurity.admit_pod(pods, pod), number=runs, repeat=5)) / runs
    print(f"PodSecurity admission, unlabelled namespace: {cost * 1e9:.0f} ns per pod")
    assert cost < 1e-6, f"{cost * 1e9:.0f} ns per pod"


async def test_a_namespace_with_bad_labels_from_before_can_still_be_deleted(reg: registry.Registry) -> None:
    podsecurity.disable(reg)  # labelled while the plugin was off
    await make_namespace(reg, "old", {"pod-security.kubernetes.io/enforce": "bogus"})
    podsecurity._DISABLED.discard(reg)
    ns_store = reg.get("", "v1", "namespaces")
    assert ns_store is not None
    await ns_store.delete(None, "old", requests.DeleteOptions())
    strategy = ns_store.strategy
    assert isinstance(strategy, core_strategies.NamespaceStrategy)
    # as the namespace controller's /finalize once the contents are gone
    gone = await ns_store.patch(None, "old", lambda cur: strategy.prepare_for_finalize({"spec": {}}, cur), OPTS,
                                subresource="finalize")
    assert gone["metadata"]["name"] == "old"


async def test_cronjob_and_podtemplate_templates_are_found_and_unchanged_templates_not_rewarned(
        reg: registry.Registry) -> None:
    await make_namespace(reg, "c", {"pod-security.kubernetes.io/warn": "baseline"})
    template = {"spec": {**PLAIN, "hostIPC": True, "restartPolicy": "Never"}}
    cronjobs, templates = reg.get("batch", "v1", "cronjobs"), reg.get("", "v1", "podtemplates")
    assert cronjobs is not None and templates is not None
    cronjob = await cronjobs.create("c", {"metadata": {"name": "cj"}, "spec": {
        "schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}, OPTS)
    warning = 'would violate PodSecurity "baseline:latest": host namespaces (hostIPC=true)'
    assert admissionwarnings.take() == [warning]
    await templates.create("c", {"metadata": {"name": "t"}, "template": template}, OPTS)
    assert admissionwarnings.take() == [warning]
    # scaling or suspending leaves the template alone: no new warning (kubelite's choice)
    suspended = copy.deepcopy(cronjob)
    suspended["spec"]["suspend"] = True
    await cronjobs.update("c", "cj", suspended, OPTS)
    assert admissionwarnings.take() == []


async def test_the_existing_pods_check_is_bounded_and_says_so(reg: registry.Registry,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podsecurity, "MAX_PODS_TO_CHECK", 2)
    await make_namespace(reg, "big", {})
    for name in ("p1", "p2", "p3"):
        await create_pod(reg, "big", name, {**PLAIN, "hostPID": True})
    await reg.cache.wait_fresh()
    warnings = podsecurity.existing_pod_warnings(reg.get("", "v1", "pods"), "big",
                                                 pss.LevelVersion(pss.BASELINE, None))
    assert warnings == ["new PodSecurity enforce level only checked against the first 2 of 3 existing pods",
                        'existing pods in namespace "big" violate the new PodSecurity enforce level "baseline:latest"',
                        "p1 (and 1 other pod): host namespaces"]
