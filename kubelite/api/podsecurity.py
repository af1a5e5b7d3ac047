"""The Pod Security Standards as upstream's pod-security-admission library evaluates them:
levels (privileged, baseline, restricted), policy versions ("latest" or "v1.X"), the
namespace labels that choose them, and every check of baseline and restricted with
upstream's forbidden reasons and details, word for word, since users grep for them.

Pure functions over plain pod dicts (spec + metadata); ``apiserver/podsecurity.py`` reads
the namespace and turns the results into a 403, warnings or a 422. Checks run in
upstream's order (baseline checks, then restricted ones, each group sorted by check id),
and at restricted the three baseline checks that a restricted one supersedes
(``hostPathVolumes``, ``capabilities_baseline``, ``seccompProfile_baseline``) are left
out, as upstream's ``OverrideCheckIDs``.

Versions: a check applies from its first policy version; a pinned version newer than the
newest check's is the latest. Not modelled: the seccomp *annotations* checked by policy
versions before v1.19 (the fields are checked at every version), and checks of fields
kubelite's schema lacks (``securityContext.ulimits``, ``cgroupOptions``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

Obj = dict[str, Any]

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
LATEST = "latest"

_PREFIX = "pod-security.kubernetes.io/"
ENFORCE_LABEL, ENFORCE_VERSION_LABEL = _PREFIX + "enforce", _PREFIX + "enforce-version"
AUDIT_LABEL, AUDIT_VERSION_LABEL = _PREFIX + "audit", _PREFIX + "audit-version"
WARN_LABEL, WARN_VERSION_LABEL = _PREFIX + "warn", _PREFIX + "warn-version"
LABELS = (ENFORCE_LABEL, ENFORCE_VERSION_LABEL, AUDIT_LABEL, AUDIT_VERSION_LABEL, WARN_LABEL, WARN_VERSION_LABEL)

_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")
# the newest policy version any check has (hostProbesAndHostLifecycle, procMount's relaxation)
MAX_MINOR = 35


class LevelVersion(NamedTuple):
    level: str
    minor: int | None  # None: latest

    def __str__(self) -> str:
        return f"{self.level}:{LATEST if self.minor is None else f'v1.{self.minor}'}"


PRIVILEGED_LATEST = LevelVersion(PRIVILEGED, None)


class Policy(NamedTuple):
    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion

    @property
    def fully_privileged(self) -> bool:
        return self.enforce.level == self.audit.level == self.warn.level == PRIVILEGED


DEFAULT_POLICY = Policy(PRIVILEGED_LATEST, PRIVILEGED_LATEST, PRIVILEGED_LATEST)


@dataclass(frozen=True)
class LabelError:
    """One invalid label value, as upstream's ``field.Invalid`` on ``metadata.labels[key]``."""

    label: str
    value: str
    detail: str


def _parse_level(value: str) -> tuple[str, str | None]:
    if value in LEVELS:
        return value, None
    return RESTRICTED, "must be one of privileged, baseline, restricted"


def _parse_version(value: str) -> tuple[int | None, str | None]:
    if value == LATEST:
        return None, None
    match = _VERSION.match(value)
    if match is None:
        return None, 'must be "latest" or "v1.x"'
    return int(match.group(1)), None


def policy_of(labels: Any, defaults: Policy = DEFAULT_POLICY) -> tuple[Policy, list[LabelError]]:
    """Upstream's ``PolicyToEvaluate``: the namespace's labels over the defaults. An invalid
    enforce level enforces restricted; an invalid audit or warn level is privileged (fails
    open); an invalid version is latest. The policy is returned with the errors."""
    if not labels or not isinstance(labels, dict):
        return defaults, []
    errs: list[LabelError] = []
    modes = {"enforce": defaults.enforce, "audit": defaults.audit, "warn": defaults.warn}
    for mode, level_label, version_label in (("enforce", ENFORCE_LABEL, ENFORCE_VERSION_LABEL),
                                             ("audit", AUDIT_LABEL, AUDIT_VERSION_LABEL),
                                             ("warn", WARN_LABEL, WARN_VERSION_LABEL)):
        level, minor = modes[mode]
        raw = labels.get(level_label)
        if raw is not None:
            level, err = _parse_level(str(raw))
            if err:
                errs.append(LabelError(level_label, str(raw), err))
                if mode != "enforce":
                    level = PRIVILEGED
        raw = labels.get(version_label)
        if raw is not None:
            minor, err = _parse_version(str(raw))
            if err:
                errs.append(LabelError(version_label, str(raw), err))
        modes[mode] = LevelVersion(level, minor)
    return Policy(modes["enforce"], modes["audit"], modes["warn"]), errs


def compare_levels(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is less, as or more strict than ``b``."""
    return (LEVELS.index(a) > LEVELS.index(b)) - (LEVELS.index(a) < LEVELS.index(b))


# --- helpers shared by the checks --------------------------------------------------------------

class Result(NamedTuple):
    reason: str
    detail: str


def _pluralize(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def _join_quote(items: Any) -> str:
    # no escaping, as upstream's joinQuote
    return ", ".join(f'"{i}"' for i in items)


def _uses(noun: str, names: list[str], thing: str, n_things: int, things: str) -> str:
    """``containers "a", "b" use hostPorts 80, 443``: upstream's wording of several checks."""
    return (f"{_pluralize(noun, noun + 's', len(names))} {_join_quote(names)} {_pluralize('uses', 'use', len(names))} "
            f"{_pluralize(thing, thing + 's', n_things)} {things}")


def _containers(spec: Obj) -> Iterator[Obj]:
    """Init containers, containers, then ephemeral containers, as upstream's visitor."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                yield c


def _name(obj: Obj) -> str:
    return str(obj.get("name") or "")


def _sc(obj: Obj) -> Obj:
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _sub(d: Obj, key: str) -> Obj | None:
    v = d.get(key)
    return v if isinstance(v, dict) else None


def _setters(pod_bad: bool, containers: list[str]) -> list[str]:
    out = ["pod"] if pod_bad else []
    if containers:
        out.append(f"{_pluralize('container', 'containers', len(containers))} {_join_quote(containers)}")
    return out


def _is_windows(spec: Obj) -> bool:
    os_ = _sub(spec, "os")
    return os_ is not None and os_.get("name") == "windows"


def _user_namespaced(spec: Obj) -> bool:
    return spec.get("hostUsers") is False


# --- baseline checks ------------------------------------------------------------------------

def check_apparmor(meta: Obj, spec: Obj, minor: int) -> Result | None:
    bad_types: set[str] = set()
    pod_profile = _sub(_sc(spec), "appArmorProfile")
    pod_bad = pod_profile is not None and pod_profile.get("type") not in ("RuntimeDefault", "Localhost")
    if pod_bad and pod_profile is not None:
        bad_types.add(str(pod_profile.get("type") or ""))
    bad_containers = []
    for c in _containers(spec):
        profile = _sub(_sc(c), "appArmorProfile")
        if profile is not None and profile.get("type") not in ("RuntimeDefault", "Localhost"):
            bad_containers.append(_name(c))
            bad_types.add(str(profile.get("type") or ""))
    setters = _setters(pod_bad, bad_containers)
    annotations = []
    for k, v in (meta.get("annotations") or {}).items():
        if k.startswith("container.apparmor.security.beta.kubernetes.io/") and v and v != "runtime/default" \
                and not str(v).startswith("localhost/"):
            annotations.append(f'{k}="{v}"')
    values = sorted(bad_types)
    if annotations:
        values += sorted(annotations)
        setters.append(_pluralize("annotation", "annotations", len(annotations)))
    if not setters:
        return None
    return Result(_pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values)),
                  f"{' and '.join(setters)} must not set AppArmor profile type to {_join_quote(values)}")


_DEFAULT_CAPABILITIES = frozenset(("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"))


def check_capabilities_baseline(meta: Obj, spec: Obj, minor: int) -> Result | None:
    bad, caps = [], set()
    for c in _containers(spec):
        added = [str(a) for a in (_sub(_sc(c), "capabilities") or {}).get("add") or ()
                 if str(a) not in _DEFAULT_CAPABILITIES]
        if added:
            bad.append(_name(c))
            caps.update(added)
    if not bad:
        return None
    return Result("non-default capabilities",
                  f"{_pluralize('container', 'containers', len(bad))} {_join_quote(bad)} must not include "
                  f"{_join_quote(sorted(caps))} in securityContext.capabilities.add")


def check_host_namespaces(meta: Obj, spec: Obj, minor: int) -> Result | None:
    found = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key) is True]
    return Result("host namespaces", ", ".join(found)) if found else None


def check_host_path_volumes(meta: Obj, spec: Obj, minor: int) -> Result | None:
    bad = [_name(v) for v in spec.get("volumes") or () if isinstance(v, dict) and v.get("hostPath") is not None]
    if not bad:
        return None
    return Result("hostPath volumes", f"{_pluralize('volume', 'volumes', len(bad))} {_join_quote(bad)}")


def check_host_ports(meta: Obj, spec: Obj, minor: int) -> Result | None:
    bad, ports = [], set()
    for c in _containers(spec):
        used = [str(p.get("hostPort")) for p in c.get("ports") or () if isinstance(p, dict) and p.get("hostPort")]
        if used:
            bad.append(_name(c))
            ports.update(used)
    if not bad:
        return None
    return Result("hostPort", _uses("container", bad, "hostPort", len(ports), ", ".join(sorted(ports))))


def _handler_hosts(handler: Any) -> list[str]:
    if not isinstance(handler, dict):
        return []
    return [str(h["host"]) for key in ("httpGet", "tcpSocket")
            if isinstance(h := handler.get(key), dict) and h.get("host")]


def check_host_probes(meta: Obj, spec: Obj, minor: int) -> Result | None:
    bad, hosts = set(), set()
    for c in _containers(spec):
        lifecycle = _sub(c, "lifecycle") or {}
        found = [h for handler in (c.get("livenessProbe"), c.get("readinessProbe"), c.get("startupProbe"),
                                   lifecycle.get("postStart"), lifecycle.get("preStop"))
                 for h in _handler_hosts(handler)]
        if found:
            bad.add(_name(c))
            hosts.update(found)
    if not bad:
        return None
    return Result("probe or lifecycle host", _uses("container", sorted(bad), "probe or lifecycle host",
                                                   len(hosts), _join_quote(sorted(hosts))))


def check_privileged(meta: Obj, spec: Obj, minor: int) -> Result | None:
    bad = [_name(c) for c in _containers(spec) if _sc(c).get("privileged") is True]
    if not bad:
        return None
    return Result("privileged", f"{_pluralize('container', 'containers', len(bad))} {_join_quote(bad)} "
                                "must not set securityContext.privileged=true")


def check_proc_mount(meta: Obj, spec: Obj, minor: int) -> Result | None:
    if minor >= 35 and _user_namespaced(spec):
        return None
    bad, kinds = [], set()
    for c in _containers(spec):
        mount = _sc(c).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(_name(c))
            kinds.add(str(mount))
    if not bad:
        return None
    return Result("procMount", f"{_pluralize('container', 'containers', len(bad))} {_join_quote(bad)} "
                               f"must not set securityContext.procMount to {_join_quote(sorted(kinds))}")


_SELINUX_TYPES = frozenset(("", "container_t", "container_init_t", "container_kvm_t"))
_SELINUX_TYPES_1_31 = _SELINUX_TYPES | {"container_engine_t"}


def check_selinux(meta: Obj, spec: Obj, minor: int) -> Result | None:
    allowed = _SELINUX_TYPES_1_31 if minor >= 31 else _SELINUX_TYPES
    bad_types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(opts: Obj) -> bool:
        ok = True
        if str(opts.get("type") or "") not in allowed:
            ok = False
            bad_types.add(str(opts.get("type") or ""))
        for key in ("user", "role"):
            if opts.get(key):
                flags[key], ok = True, False
        return ok

    pod_opts = _sub(_sc(spec), "seLinuxOptions")
    pod_bad = pod_opts is not None and not valid(pod_opts)
    bad = [_name(c) for c in _containers(spec)
           if (opts := _sub(_sc(c), "seLinuxOptions")) is not None and not valid(opts)]
    setters = _setters(pod_bad, bad)
    if not setters:
        return None
    data = []
    # upstream lists user and role only alongside bad types (its quirk, kept)
    if bad_types:
        data.append(f"{_pluralize('type', 'types', len(bad_types))} {_join_quote(sorted(bad_types))}")
        data += [f"{key} may not be set" for key in ("user", "role") if flags[key]]
    return Result("seLinuxOptions",
                  f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}")


def _seccomp_type(obj: Obj) -> str | None:
    profile = _sub(_sc(obj), "seccompProfile")
    return None if profile is None else str(profile.get("type") or "")


def _bad_seccomp(spec: Obj) -> tuple[bool, list[str], set[str], list[str]]:
    """(pod set a bad type, containers that did, the bad types, containers left unset
    without a good pod-level type)."""
    pod_type = _seccomp_type(spec)
    good = ("RuntimeDefault", "Localhost")
    pod_bad = pod_type is not None and pod_type not in good
    values = {pod_type} if pod_bad and pod_type is not None else set()
    explicit, implicit = [], []
    for c in _containers(spec):
        t = _seccomp_type(c)
        if t is None:
            if pod_type not in good:
                implicit.append(_name(c))
        elif t not in good:
            explicit.append(_name(c))
            values.add(t)
    return pod_bad, explicit, values, implicit


def _seccomp_explicit(pod_bad: bool, explicit: list[str], values: set[str]) -> Result | None:
    setters = _setters(pod_bad, explicit)
    if not setters:
        return None
    return Result("seccompProfile", f"{' and '.join(setters)} must not set securityContext.seccompProfile.type "
                                    f"to {_join_quote(sorted(values))}")


def check_seccomp_baseline(meta: Obj, spec: Obj, minor: int) -> Result | None:
    pod_bad, explicit, values, _ = _bad_seccomp(spec)
    return _seccomp_explicit(pod_bad, explicit, values)


_SYSCTLS = {0: frozenset(("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                          "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"))}
_SYSCTLS[27] = _SYSCTLS[0] | {"net.ipv4.ip_local_reserved_ports"}
_SYSCTLS[29] = _SYSCTLS[27] | {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                               "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
_SYSCTLS[32] = _SYSCTLS[29] | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}


def check_sysctls(meta: Obj, spec: Obj, minor: int) -> Result | None:
    allowed = _SYSCTLS[max(v for v in _SYSCTLS if v <= minor)]
    bad = [str(s.get("name")) for s in _sc(spec).get("sysctls") or ()
           if isinstance(s, dict) and s.get("name") not in allowed]
    return Result("forbidden sysctls", ", ".join(bad)) if bad else None


def check_windows_host_process(meta: Obj, spec: Obj, minor: int) -> Result | None:
    def host_process(obj: Obj) -> bool:
        return (_sub(_sc(obj), "windowsOptions") or {}).get("hostProcess") is True

    setters = _setters(host_process(spec), [_name(c) for c in _containers(spec) if host_process(c)])
    if not setters:
        return None
    return Result("hostProcess",
                  f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true")


# --- restricted checks ----------------------------------------------------------------------

def check_allow_privilege_escalation(meta: Obj, spec: Obj, minor: int) -> Result | None:
    if minor >= 25 and _is_windows(spec):
        return None
    bad = [_name(c) for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return Result("allowPrivilegeEscalation != false",
                  f"{_pluralize('container', 'containers', len(bad))} {_join_quote(bad)} "
                  "must set securityContext.allowPrivilegeEscalation=false")


def check_capabilities_restricted(meta: Obj, spec: Obj, minor: int) -> Result | None:
    if minor >= 25 and _is_windows(spec):
        return None
    missing_drop, adding, caps = [], [], set()
    for c in _containers(spec):
        capabilities = _sub(_sc(c), "capabilities")
        if capabilities is None:
            missing_drop.append(_name(c))
            continue
        if "ALL" not in (capabilities.get("drop") or ()):
            missing_drop.append(_name(c))
        added = [str(a) for a in capabilities.get("add") or () if a != "NET_BIND_SERVICE"]
        if added:
            adding.append(_name(c))
            caps.update(added)
    details = []
    if missing_drop:
        details.append(f"{_pluralize('container', 'containers', len(missing_drop))} {_join_quote(missing_drop)} "
                       'must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_pluralize('container', 'containers', len(adding))} {_join_quote(adding)} "
                       f"must not include {_join_quote(sorted(caps))} in securityContext.capabilities.add")
    return Result("unrestricted capabilities", "; ".join(details)) if details else None


_ALLOWED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                    "projected", "secret")
_RESTRICTED_VOLUMES = ("hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
                       "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
                       "vsphereVolume", "quobyte", "azureDisk", "portworxVolume", "photonPersistentDisk",
                       "scaleIO", "storageos")


def check_restricted_volumes(meta: Obj, spec: Obj, minor: int) -> Result | None:
    bad, kinds = [], set()
    for v in spec.get("volumes") or ():
        if not isinstance(v, dict) or any(v.get(k) is not None for k in _ALLOWED_VOLUMES):
            continue
        bad.append(_name(v))
        kinds.add(next((k for k in _RESTRICTED_VOLUMES if v.get(k) is not None), "unknown"))
    if not bad:
        return None
    return Result("restricted volume types",
                  _uses("volume", bad, "restricted volume type", len(kinds), _join_quote(sorted(kinds))))


def check_run_as_non_root(meta: Obj, spec: Obj, minor: int) -> Result | None:
    if _user_namespaced(spec):
        return None
    pod_value = _sc(spec).get("runAsNonRoot")
    explicit, implicit = [], []
    for c in _containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is False:
            explicit.append(_name(c))
        elif value is None and pod_value is not True:
            implicit.append(_name(c))
    setters = _setters(pod_value is False, explicit)
    if setters:
        return Result("runAsNonRoot != true",
                      f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        return Result("runAsNonRoot != true",
                      f"pod or {_pluralize('container', 'containers', len(implicit))} {_join_quote(implicit)} "
                      "must set securityContext.runAsNonRoot=true")
    return None


def check_run_as_user(meta: Obj, spec: Obj, minor: int) -> Result | None:
    if _user_namespaced(spec):
        return None
    setters = _setters(_sc(spec).get("runAsUser") == 0,
                       [_name(c) for c in _containers(spec) if _sc(c).get("runAsUser") == 0])
    return Result("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0") if setters else None


def check_seccomp_restricted(meta: Obj, spec: Obj, minor: int) -> Result | None:
    if minor >= 25 and _is_windows(spec):
        return None
    pod_bad, explicit, values, implicit = _bad_seccomp(spec)
    result = _seccomp_explicit(pod_bad, explicit, values)
    if result is None and implicit:
        result = Result("seccompProfile",
                        f"pod or {_pluralize('container', 'containers', len(implicit))} {_join_quote(implicit)} "
                        'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return result


CheckFn = Callable[[Obj, Obj, int], "Result | None"]


class Check(NamedTuple):
    id: str
    level: str
    since: int  # the first policy minor version it applies to
    fn: CheckFn
    overrides: str = ""  # the baseline check id it replaces at restricted


# In upstream's order: baseline then restricted, each sorted by id (Go's byte order).
CHECKS: tuple[Check, ...] = (
    Check("appArmorProfile", BASELINE, 0, check_apparmor),
    Check("capabilities_baseline", BASELINE, 0, check_capabilities_baseline),
    Check("hostNamespaces", BASELINE, 0, check_host_namespaces),
    Check("hostPathVolumes", BASELINE, 0, check_host_path_volumes),
    Check("hostPorts", BASELINE, 0, check_host_ports),
    Check("hostProbesAndHostLifecycle", BASELINE, 34, check_host_probes),
    Check("privileged", BASELINE, 0, check_privileged),
    Check("procMount", BASELINE, 0, check_proc_mount),
    Check("seLinuxOptions", BASELINE, 0, check_selinux),
    Check("seccompProfile_baseline", BASELINE, 0, check_seccomp_baseline),
    Check("sysctls", BASELINE, 0, check_sysctls),
    Check("windowsHostProcess", BASELINE, 0, check_windows_host_process),
    Check("allowPrivilegeEscalation", RESTRICTED, 8, check_allow_privilege_escalation),
    Check("capabilities_restricted", RESTRICTED, 22, check_capabilities_restricted, "capabilities_baseline"),
    Check("restrictedVolumes", RESTRICTED, 0, check_restricted_volumes, "hostPathVolumes"),
    Check("runAsNonRoot", RESTRICTED, 0, check_run_as_non_root),
    Check("runAsUser", RESTRICTED, 23, check_run_as_user),
    Check("seccompProfile_restricted", RESTRICTED, 19, check_seccomp_restricted, "seccompProfile_baseline"),
)

_PLANS: dict[tuple[str, int], tuple[Check, ...]] = {}


def _plan(level: str, minor: int) -> tuple[Check, ...]:
    """The checks of a level at a version, memoized: ~36 (level, version) pairs at most."""
    plan = _PLANS.get((level, minor))
    if plan is None:
        if level == BASELINE:
            plan = tuple(c for c in CHECKS if c.level == BASELINE and c.since <= minor)
        else:
            active = [c for c in CHECKS if c.since <= minor]
            overridden = {c.overrides for c in active if c.level == RESTRICTED and c.overrides}
            plan = tuple(c for c in active if c.id not in overridden)
        _PLANS[(level, minor)] = plan
    return plan


def evaluate(lv: LevelVersion, meta: Obj, spec: Obj) -> list[Result]:
    """Every failed check of ``lv`` for a pod (or pod template), in upstream's order."""
    if lv.level == PRIVILEGED:
        return []
    minor = MAX_MINOR if lv.minor is None or lv.minor > MAX_MINOR else lv.minor
    return [r for check in _plan(lv.level, minor) if (r := check.fn(meta, spec, minor)) is not None]


def forbidden_detail(results: list[Result]) -> str:
    """``reason (detail), reason (detail)``, as upstream's ``AggregateCheckResult.ForbiddenDetail``."""
    return ", ".join(f"{r.reason} ({r.detail})" if r.detail else r.reason for r in results)


def forbidden_reason(results: list[Result]) -> str:
    return ", ".join(r.reason for r in results)
