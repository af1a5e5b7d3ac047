"""The Pod Security Standards' checks say what upstream's say, word for word: users paste
these messages into searches and CI greps for them."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import podsecurity as pss

LATEST_BASELINE = pss.LevelVersion(pss.BASELINE, None)
LATEST_RESTRICTED = pss.LevelVersion(pss.RESTRICTED, None)

# a pod restricted:latest admits: every restricted field set as the standard asks
GOOD_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
GOOD_POD_SC = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def spec(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"containers": list(containers) or [{"name": "c", "image": "busybox"}]}
    out.update(fields)
    return out


def detail(lv: pss.LevelVersion, pod_spec: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    return pss.forbidden_detail(pss.evaluate(lv, meta or {}, pod_spec))


def test_a_plain_pod_breaks_restricted_in_upstreams_words_and_order() -> None:
    assert detail(LATEST_RESTRICTED, spec()) == (
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" '
        'or "Localhost")')


def test_a_compliant_pod_passes_restricted_and_a_plain_one_passes_baseline() -> None:
    good = spec({"name": "c", "image": "b", "securityContext": GOOD_SC}, securityContext=GOOD_POD_SC)
    assert pss.evaluate(LATEST_RESTRICTED, {}, good) == []
    assert pss.evaluate(LATEST_BASELINE, {}, spec()) == []
    assert pss.evaluate(pss.PRIVILEGED_LATEST, {}, spec(hostNetwork=True)) == []


@pytest.mark.parametrize(("pod_spec", "meta", "expected"), [
    (spec(hostNetwork=True, hostPID=True, hostIPC=True), {},
     "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)"),
    (spec({"name": "a", "securityContext": {"privileged": True}},
          {"name": "b", "securityContext": {"privileged": True}}), {},
     'privileged (containers "a", "b" must not set securityContext.privileged=true)'),
    (spec({"name": "c", "securityContext": {"capabilities": {"add": ["NET_RAW", "CHOWN", "SYS_ADMIN"]}}}), {},
     'non-default capabilities (container "c" must not include "NET_RAW", "SYS_ADMIN" in '
     'securityContext.capabilities.add)'),
    (spec(volumes=[{"name": "h", "hostPath": {"path": "/"}}, {"name": "e", "emptyDir": {}}]), {},
     'hostPath volumes (volume "h")'),
    (spec({"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 9, "hostPort": 443}]}),
     {}, 'hostPort (container "c" uses hostPorts 443, 8080)'),
    (spec({"name": "c", "readinessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}},
           "lifecycle": {"preStop": {"tcpSocket": {"host": "example.com", "port": 1}}}}), {},
     'probe or lifecycle host (container "c" uses probe or lifecycle hosts "10.0.0.1", "example.com")'),
    (spec({"name": "c", "securityContext": {"procMount": "Unmasked"}}), {},
     'procMount (container "c" must not set securityContext.procMount to "Unmasked")'),
    (spec(securityContext={"seLinuxOptions": {"type": "spc_t", "user": "root"}}), {},
     'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)'),
    (spec({"name": "c", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}), {},
     'seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")'),
    (spec(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"},
                                       {"name": "net.ipv4.tcp_rmem", "value": "1 2 3"}]}), {},
     "forbidden sysctls (kernel.msgmax)"),
    (spec(securityContext={"windowsOptions": {"hostProcess": True}}), {},
     "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)"),
    (spec({"name": "c", "securityContext": {"appArmorProfile": {"type": "Unconfined"}}}),
     {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}},
     'forbidden AppArmor profiles (container "c" and annotation must not set AppArmor profile type to '
     '"Unconfined", "container.apparmor.security.beta.kubernetes.io/c="unconfined"")'),
])
def test_each_baseline_check_refuses_in_upstreams_words(pod_spec: dict[str, Any], meta: dict[str, Any],
                                                        expected: str) -> None:
    assert detail(LATEST_BASELINE, pod_spec, meta) == expected


def test_baseline_checks_leave_allowed_values_alone() -> None:
    allowed = spec({"name": "c", "image": "b", "ports": [{"containerPort": 80}],
                    "securityContext": {"privileged": False, "procMount": "Default",
                                        "capabilities": {"add": ["CHOWN", "NET_BIND_SERVICE"]},
                                        "seccompProfile": {"type": "Localhost", "localhostProfile": "p"},
                                        "seLinuxOptions": {"type": "container_engine_t"},
                                        "appArmorProfile": {"type": "RuntimeDefault"}},
                    "livenessProbe": {"httpGet": {"port": 80}}},
                   securityContext={"sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "1"}]},
                   volumes=[{"name": "e", "emptyDir": {}}])
    meta = {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "localhost/x"}}
    assert pss.evaluate(LATEST_BASELINE, meta, allowed) == []


@pytest.mark.parametrize(("pod_spec", "expected"), [
    (spec({"name": "c", "securityContext": {**GOOD_SC, "runAsUser": 0}}, securityContext=GOOD_POD_SC),
     'runAsUser=0 (container "c" must not set runAsUser=0)'),
    (spec({"name": "c", "securityContext": {**GOOD_SC, "runAsNonRoot": False}}, securityContext=GOOD_POD_SC),
     'runAsNonRoot != true (container "c" must not set securityContext.runAsNonRoot=false)'),
    (spec({"name": "c", "securityContext": {"allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "CHOWN"]}}},
          securityContext=GOOD_POD_SC),
     'unrestricted capabilities (container "c" must not include "CHOWN" in securityContext.capabilities.add)'),
    (spec({"name": "c", "securityContext": GOOD_SC}, securityContext=GOOD_POD_SC,
          volumes=[{"name": "h", "hostPath": {"path": "/"}}, {"name": "n", "nfs": {"server": "s", "path": "/"}}]),
     'restricted volume types (volumes "h", "n" use restricted volume types "hostPath", "nfs")'),
    (spec({"name": "c", "securityContext": {**GOOD_SC, "seccompProfile": {"type": "Unconfined"}}},
          securityContext={"runAsNonRoot": True}),
     'seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")'),
])
def test_each_restricted_check_refuses_in_upstreams_words(pod_spec: dict[str, Any], expected: str) -> None:
    assert detail(LATEST_RESTRICTED, pod_spec) == expected


def test_init_and_ephemeral_containers_are_checked_too_in_visiting_order() -> None:
    pod_spec = spec({"name": "main", "securityContext": {"privileged": True}},
                    initContainers=[{"name": "init", "securityContext": {"privileged": True}}],
                    ephemeralContainers=[{"name": "debug", "securityContext": {"privileged": True}}])
    assert detail(LATEST_BASELINE, pod_spec) == \
        'privileged (containers "init", "main", "debug" must not set securityContext.privileged=true)'


def test_pod_level_settings_cover_containers_that_leave_them_unset() -> None:
    pod_spec = spec({"name": "a", "securityContext": GOOD_SC},
                    {"name": "b", "securityContext": {**GOOD_SC, "runAsNonRoot": True}},
                    securityContext={"seccompProfile": {"type": "Localhost", "localhostProfile": "p"}})
    assert detail(LATEST_RESTRICTED, pod_spec) == \
        'runAsNonRoot != true (pod or container "a" must set securityContext.runAsNonRoot=true)'


def test_windows_pods_are_exempt_from_linux_only_restricted_checks_since_v1_25() -> None:
    pod_spec = spec({"name": "c", "securityContext": {"runAsNonRoot": True}}, os={"name": "windows"})
    assert pss.evaluate(LATEST_RESTRICTED, {}, pod_spec) == []
    assert [r.reason for r in pss.evaluate(pss.LevelVersion(pss.RESTRICTED, 24), {}, pod_spec)] == \
        ["allowPrivilegeEscalation != false", "unrestricted capabilities", "seccompProfile"]


def test_a_pinned_version_applies_the_checks_of_that_version() -> None:
    # runAsUser (v1.23) and capabilities (v1.22) are not part of restricted:v1.21
    pod_spec = spec({"name": "c", "securityContext": {"runAsUser": 0}})
    assert [r.reason for r in pss.evaluate(pss.LevelVersion(pss.RESTRICTED, 21), {}, pod_spec)] == \
        ["allowPrivilegeEscalation != false", "runAsNonRoot != true", "seccompProfile"]
    # before v1.22 the baseline capabilities check still applies at restricted
    adding = spec({"name": "c", "securityContext": {"capabilities": {"add": ["NET_RAW"]}}})
    assert pss.evaluate(pss.LevelVersion(pss.RESTRICTED, 21), {}, adding)[0].reason == "non-default capabilities"
    # sysctls allowed since v1.32 are refused at v1.31; a future version is the latest
    tcp = spec(securityContext={"sysctls": [{"name": "net.ipv4.tcp_wmem", "value": "1 2 3"}]})
    assert detail(pss.LevelVersion(pss.BASELINE, 31), tcp) == "forbidden sysctls (net.ipv4.tcp_wmem)"
    assert pss.evaluate(pss.LevelVersion(pss.BASELINE, 99), {}, tcp) == []


def test_namespace_labels_choose_the_policy_and_bad_values_fail_as_upstream() -> None:
    policy, errs = pss.policy_of({pss.ENFORCE_LABEL: "baseline", pss.ENFORCE_VERSION_LABEL: "v1.29",
                                  pss.WARN_LABEL: "restricted"})
    assert (str(policy.enforce), str(policy.warn), str(policy.audit)) == \
        ("baseline:v1.29", "restricted:latest", "privileged:latest")
    assert errs == []
    policy, errs = pss.policy_of({pss.ENFORCE_LABEL: "bogus", pss.WARN_LABEL: "bogus",
                                  pss.AUDIT_VERSION_LABEL: "1.25"})
    # an unreadable enforce level enforces restricted; warn and audit fail open
    assert (policy.enforce.level, policy.warn.level) == (pss.RESTRICTED, pss.PRIVILEGED)
    assert [(e.label, e.detail) for e in errs] == [
        (pss.ENFORCE_LABEL, "must be one of privileged, baseline, restricted"),
        (pss.AUDIT_VERSION_LABEL, 'must be "latest" or "v1.x"'),
        (pss.WARN_LABEL, "must be one of privileged, baseline, restricted")]
    assert pss.policy_of({}) == (pss.DEFAULT_POLICY, [])
