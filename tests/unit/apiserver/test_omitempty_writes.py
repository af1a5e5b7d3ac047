"""Writes store built-in objects as upstream encodes them (Go's ``omitempty``): request
bodies lose their zero values in the handlers, what kubelite adds itself (defaults,
strategies) never brings any back, and an object stored before kubelite did this is not
taken for a spec change."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from kubelite.api import omitempty, scheme
from kubelite.apiserver import handlers, registry, requests

pytestmark = pytest.mark.usefixtures("default_namespace")
OPTS = requests.WriteOptions.parse({}, "kubectl/v1.37.0")
Obj = dict[str, Any]

TEMPLATE: Obj = {
    "metadata": {"labels": {"app": "a"}},
    "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                             "volumeMounts": [{"name": "v", "mountPath": "/v"}],
                             "livenessProbe": {"httpGet": {"port": 80}},
                             "readinessProbe": {"tcpSocket": {"port": 80}}}],
             "volumes": [{"name": "v", "configMap": {"name": "cm"}}]},
}
JOB_TEMPLATE: Obj = {"spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}
SELECTOR: Obj = {"matchLabels": {"app": "a"}}

# A minimal object of every served kind that has a table.
MINIMAL: dict[tuple[str, str], Obj] = {
    ("", "namespaces"): {"metadata": {"name": "other"}},
    ("", "pods"): {"metadata": {"name": "p", "labels": {"app": "a"}}, "spec": TEMPLATE["spec"]},
    ("", "services"): {"metadata": {"name": "s"}, "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}},
    ("", "configmaps"): {"metadata": {"name": "cm"}, "data": {"a": "b"}},
    ("", "secrets"): {"metadata": {"name": "sec"}, "stringData": {"a": "b"}},
    ("", "serviceaccounts"): {"metadata": {"name": "sa"}},
    ("", "events"): {"metadata": {"name": "e"}, "reason": "Seen", "message": "m", "type": "Normal",
                     "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}},
    ("", "replicationcontrollers"): {"metadata": {"name": "rc"}, "spec": {"selector": {"app": "a"},
                                                                        "template": TEMPLATE}},
    ("", "podtemplates"): {"metadata": {"name": "pt"}, "template": TEMPLATE},
    ("", "persistentvolumeclaims"): {"metadata": {"name": "pvc"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
    ("apps", "deployments"): {"metadata": {"name": "d"}, "spec": {"selector": SELECTOR, "template": TEMPLATE}},
    ("apps", "replicasets"): {"metadata": {"name": "rs"}, "spec": {"selector": SELECTOR, "template": TEMPLATE}},
    ("apps", "statefulsets"): {"metadata": {"name": "sts"}, "spec": {
        "selector": SELECTOR, "serviceName": "s", "template": TEMPLATE}},
    ("apps", "daemonsets"): {"metadata": {"name": "ds"}, "spec": {"selector": SELECTOR, "template": TEMPLATE}},
    ("batch", "jobs"): {"metadata": {"name": "j"}, "spec": {"template": JOB_TEMPLATE}},
    ("batch", "cronjobs"): {"metadata": {"name": "cj"}, "spec": {
        "schedule": "* * * * *", "jobTemplate": {"spec": {"template": JOB_TEMPLATE}}}},
    ("coordination.k8s.io", "leases"): {"metadata": {"name": "l"}, "spec": {"holderIdentity": "x"}},
    ("networking.k8s.io", "ingresses"): {"metadata": {"name": "i"}, "spec": {"rules": [{"host": "a.example", "http": {
        "paths": [{"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}},
    ("scheduling.k8s.io", "priorityclasses"): {"metadata": {"name": "pc"}, "value": 10},
    ("policy", "poddisruptionbudgets"): {"metadata": {"name": "pdb"}, "spec": {"minAvailable": 1,
                                                                              "selector": SELECTOR}},
    ("events.k8s.io", "events"): {"metadata": {"name": "e2"}, "reason": "Seen", "action": "Look",
                                  "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "x/y",
                                  "reportingInstance": "i", "type": "Normal",
                                  "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}},
    ("", "nodes"): {"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "1"}}},
    ("", "persistentvolumes"): {"metadata": {"name": "pv1"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv1"}}},
    ("", "endpoints"): {"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}],
                                                                 "ports": [{"port": 80}]}]},
    ("discovery.k8s.io", "endpointslices"): {"metadata": {"name": "s"}, "addressType": "IPv4",
                                             "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]},
    ("networking.k8s.io", "networkpolicies"): {"metadata": {"name": "np"},
                                               "spec": {"ingress": [{"ports": [{"port": 80}]}]}},
    ("networking.k8s.io", "ingressclasses"): {"metadata": {"name": "ic"}, "spec": {
        "controller": "example.com/ingress", "parameters": {"kind": "K", "name": "n"}}},
    ("storage.k8s.io", "storageclasses"): {"metadata": {"name": "sc"}, "provisioner": "example.com/p"},
    ("apps", "controllerrevisions"): {"metadata": {"name": "cr"}, "data": {"spec": {}}, "revision": 1},
    ("autoscaling", "horizontalpodautoscalers"): {"metadata": {"name": "hpa"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 3, "behavior": {}}},
    ("", "resourcequotas"): {"metadata": {"name": "rq"}, "spec": {"hard": {"pods": "1"}}},
    ("", "limitranges"): {"metadata": {"name": "lr"}, "spec": {"limits": [{"type": "Container",
                                                                            "default": {"cpu": "1"}}]}},
    ("rbac.authorization.k8s.io", "roles"): {"metadata": {"name": "r"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
    ("rbac.authorization.k8s.io", "clusterroles"): {"metadata": {"name": "cr"}, "aggregationRule": {
        "clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}},
    ("rbac.authorization.k8s.io", "rolebindings"): {"metadata": {"name": "rb"}, "roleRef": {
        "kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}]},
    ("rbac.authorization.k8s.io", "clusterrolebindings"): {"metadata": {"name": "crb"}, "roleRef": {
        "kind": "ClusterRole", "name": "cr"}, "subjects": [{"kind": "ServiceAccount", "name": "s",
                                                            "namespace": "default"}]},
}


def store(reg: registry.Registry, group: str, plural: str) -> registry.Store:
    found = reg.by_plural(group, plural)
    assert found is not None
    return found


def test_every_kind_with_a_table_is_covered() -> None:
    with_tables = {(r.group, r.plural) for r in scheme.BUILTIN if omitempty.plan_for(r.group, r.version, r.kind)}
    assert with_tables == set(MINIMAL)


@pytest.mark.parametrize(("group", "plural"), list(MINIMAL))
async def test_what_kubelite_adds_on_create_holds_no_omitted_zero_values(reg: registry.Registry, group: str,
                                                                        plural: str) -> None:
    s = store(reg, group, plural)
    created = await s.create("default" if s.info.namespaced else None, copy.deepcopy(MINIMAL[group, plural]), OPTS)
    shown = s.strategy.to_external(created)
    plan = omitempty.plan_for(s.info.group, s.info.version, s.info.kind)
    assert plan is not None
    again = copy.deepcopy(shown)
    assert omitempty.normalize(again, plan) is False, orjson.dumps(shown).decode()


def test_a_whole_body_is_normalized_a_patch_is_not() -> None:
    info = next(r for r in scheme.BUILTIN if r.kind == "ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "annotations": {}}, "data": {}}
    handlers.validate_fields(info, body, orjson.dumps(body), "Strict", whole=True)
    assert body == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
    # in a merge patch, {} and null mean something: "no change here", "remove"
    patch = {"metadata": {"annotations": {}, "labels": {"gone": None}}}
    handlers.validate_fields(info, patch, orjson.dumps(patch), "Strict", types=False)
    assert patch == {"metadata": {"annotations": {}, "labels": {"gone": None}}}


def test_a_patched_object_is_normalized() -> None:
    info = next(r for r in scheme.BUILTIN if r.kind == "ConfigMap")
    patched = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "labels": {}}, "data": {"a": ""}}
    handlers.check_patched_types(info, patched)
    assert patched == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": ""}}


async def test_an_object_stored_with_zero_values_before_is_no_spec_change(reg: registry.Registry) -> None:
    deployments = store(reg, "apps", "deployments")
    old = copy.deepcopy(MINIMAL["apps", "deployments"])
    old["spec"]["template"]["spec"]["containers"][0]["env"] = []  # as kubelite stored it before
    created = await deployments.create("default", old, OPTS)
    assert created["spec"]["template"]["spec"]["containers"][0]["env"] == []
    same = copy.deepcopy(created)
    del same["spec"]["template"]["spec"]["containers"][0]["env"]  # what a write brings now
    updated, _ = await deployments.update("default", "d", same, OPTS)
    assert updated["metadata"]["generation"] == 1
    changed = copy.deepcopy(updated)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    updated, _ = await deployments.update("default", "d", changed, OPTS)
    assert updated["metadata"]["generation"] == 2
