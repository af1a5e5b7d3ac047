"""Validation of workload controllers: Deployment, ReplicaSet, StatefulSet, DaemonSet,
ReplicationController, Job and CronJob.

Pure functions, no I/O. ``kubelite.api.validation.validate`` dispatches here. Rules and
messages follow upstream ``pkg/apis/apps/validation`` and ``pkg/apis/batch/validation``
plus the apps/v1 strategies (selector immutable on update).
"""

from __future__ import annotations

import re
from typing import Any

from kubelite.api import errors, meta, selectors
from kubelite.api.validation import cron, pods

Cause = errors.Cause
Obj = dict[str, Any]

SELECTOR_MISMATCH = "`selector` does not match template `labels`"
_percent_re = re.compile(r"[0-9]+%")


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _spec(obj: Obj) -> Obj:
    return _dict(obj.get("spec"))


def _template_labels(template: Any) -> dict[str, str]:
    if not isinstance(template, dict):
        return {}
    return ((template.get("metadata") or {}).get("labels")) or {}


def _validate_selector_and_template(spec: Obj, path: str, *, kind: str,
                                    restart_policies: tuple[str, ...] | None = ("Always",),
                                    selector_required: bool = True,
                                    claim_volumes: frozenset[str] = frozenset()) -> list[Cause]:
    """Selector present, non-empty and valid; template labels matched; template valid."""
    out: list[Cause] = []
    selector = spec.get("selector")
    parsed: selectors.LabelSelector | None = None
    if selector is None:
        if selector_required:
            out.append(meta.required(path + ".selector"))
    else:
        sel_errs = selectors.validate_selector_dict(selector, path + ".selector")
        out.extend(sel_errs)
        if not sel_errs:
            parsed = selectors.from_selector_dict(selector)
            if parsed.empty:
                out.append(meta.invalid(path + ".selector", selector, f"empty selector is invalid for {kind}"))
                parsed = None
    template = spec.get("template")
    tpath = path + ".template"
    if not isinstance(template, dict):
        out.append(meta.required(tpath))
        return out
    tmeta = template.get("metadata") or {}
    labels = tmeta.get("labels") or {}
    out.extend(meta.validate_labels(labels, tpath + ".metadata.labels"))
    out.extend(meta.validate_annotations(tmeta.get("annotations"), tpath + ".metadata.annotations"))
    if parsed is not None and not parsed.matches(labels):
        out.append(meta.invalid(tpath + ".metadata.labels", labels, SELECTOR_MISMATCH))
    tspec = template.get("spec")
    out.extend(pods.validate_pod_spec(tspec, tpath + ".spec", extra_volumes=claim_volumes))
    if isinstance(tspec, dict):
        restart = tspec.get("restartPolicy")
        if restart_policies and restart and restart not in restart_policies \
                and restart in pods.RESTART_POLICIES:
            out.append(meta.not_supported(tpath + ".spec.restartPolicy", restart, restart_policies))
        if restart_policies == ("Always",) and tspec.get("activeDeadlineSeconds") is not None:
            out.append(meta.forbidden(tpath + ".spec.activeDeadlineSeconds",
                                      "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return out


def _int_or_percent(value: Any, path: str) -> tuple[list[Cause], int | None, bool]:
    """Causes, the number, and whether it was a percentage."""
    if isinstance(value, bool):
        return [meta.invalid(path, value, "must be an integer or percentage (e.g '5%')")], None, False
    if isinstance(value, int):
        return meta.nonnegative(path, value), value, False
    if isinstance(value, str):
        if not _percent_re.fullmatch(value):
            msg = meta.regex_error("a valid percent string must be a numeric string followed by an ending '%'",
                                   "[0-9]+%", "1%", "93%")
            return [meta.invalid(path, value, msg)], None, True
        number = int(value[:-1])
        if number > 100:
            return [meta.invalid(path, value, "must not be greater than 100%")], number, True
        return [], number, True
    return [meta.invalid(path, value, "must be an integer or percentage (e.g '5%')")], None, False


def _validate_rolling(rolling: Any, path: str) -> list[Cause]:
    if not isinstance(rolling, dict):
        return []
    out: list[Cause] = []
    unavailable_errs, unavailable, _ = _int_or_percent(rolling.get("maxUnavailable"), path + ".maxUnavailable")
    surge_errs, surge, _ = _int_or_percent(rolling.get("maxSurge"), path + ".maxSurge")
    out.extend(unavailable_errs)
    out.extend(surge_errs)
    if unavailable == 0 and surge == 0:
        out.append(meta.invalid(path + ".maxUnavailable", rolling.get("maxUnavailable"),
                                "may not be 0 when `maxSurge` is 0"))
    return out


def _common_counts(spec: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    for key in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        out.extend(meta.nonnegative(f"{path}.{key}", spec.get(key)))
    return out


def _selector_immutable(new: Obj, old: Obj | None) -> list[Cause]:
    if old is None:
        return []
    new_sel, old_sel = _spec(new).get("selector"), _spec(old).get("selector")
    if new_sel != old_sel:
        return [meta.invalid("spec.selector", new_sel, meta.FIELD_IMMUTABLE)]
    return []


def validate_deployment(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out = _common_counts(spec, "spec")
    out.extend(_validate_selector_and_template(spec, "spec", kind="deployment"))
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type")
    if stype not in ("Recreate", "RollingUpdate"):
        out.append(meta.not_supported("spec.strategy.type", stype or "", ["Recreate", "RollingUpdate"]))
    elif stype == "Recreate" and strategy.get("rollingUpdate") is not None:
        out.append(meta.forbidden("spec.strategy.rollingUpdate",
                                  "may not be specified when strategy `type` is 'Recreate'"))
    else:
        out.extend(_validate_rolling(strategy.get("rollingUpdate"), "spec.strategy.rollingUpdate"))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        out.extend(meta.nonnegative("spec.progressDeadlineSeconds", deadline))
        if isinstance(deadline, int) and deadline <= (spec.get("minReadySeconds") or 0):
            out.append(meta.invalid("spec.progressDeadlineSeconds", deadline,
                                    "must be greater than minReadySeconds"))
    out.extend(_selector_immutable(obj, old))
    return out


def validate_replica_set(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out = _common_counts(spec, "spec")
    # upstream reuses the Deployment wording here
    out.extend(_validate_selector_and_template(spec, "spec", kind="deployment"))
    out.extend(_selector_immutable(obj, old))
    return out


def validate_pod_template_spec(template: Any, path: str) -> list[Cause]:
    """Upstream's ``ValidatePodTemplateSpec``: the template's labels, annotations and spec."""
    if not isinstance(template, dict):
        return [meta.required(path)]
    tmeta = template.get("metadata") or {}
    out = meta.validate_labels(tmeta.get("labels"), path + ".metadata.labels")
    out.extend(meta.validate_annotations(tmeta.get("annotations"), path + ".metadata.annotations"))
    out.extend(pods.validate_pod_spec(template.get("spec"), path + ".spec"))
    return out


def validate_replication_controller(obj: Obj, old: Obj | None) -> list[Cause]:
    """Upstream's ``ValidateReplicationControllerSpec``: a selector is a plain label map,
    required and non-empty (defaulting copies the template's labels into it), which the
    template's labels must match; pods restart ``Always`` and have no deadline."""
    spec = _spec(obj)
    out = meta.nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    selector = _dict(spec.get("selector"))
    if not selector:
        out.append(meta.required("spec.selector"))
    out.extend(meta.nonnegative("spec.replicas", spec.get("replicas")))
    template = spec.get("template")
    if not isinstance(template, dict):
        out.append(meta.required("spec.template"))
        return out
    labels = _template_labels(template)
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        out.append(meta.invalid("spec.template.metadata.labels", labels, SELECTOR_MISMATCH))
    out.extend(validate_pod_template_spec(template, "spec.template"))
    tspec = _dict(template.get("spec"))
    restart = tspec.get("restartPolicy")
    if restart != "Always" and restart in pods.RESTART_POLICIES:
        out.append(meta.not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        out.append(meta.invalid("spec.template.spec.activeDeadlineSeconds", tspec["activeDeadlineSeconds"],
                                "must not be specified"))
    return out


def validate_replication_controller_status(obj: Obj) -> list[Cause]:
    """Upstream's ``ValidateReplicationControllerStatus`` (the status subresource)."""
    status = _dict(obj.get("status"))
    counts: dict[str, int] = {}
    for key in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        value = status.get(key)
        counts[key] = value if isinstance(value, int) else 0
    out: list[Cause] = []
    for key in (*counts, "observedGeneration"):
        out.extend(meta.nonnegative(f"status.{key}", status.get(key)))
    for key in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if counts[key] > counts["replicas"]:
            out.append(meta.invalid(f"status.{key}", counts[key], "cannot be greater than status.replicas"))
    if counts["availableReplicas"] > counts["readyReplicas"]:
        out.append(meta.invalid("status.availableReplicas", counts["availableReplicas"],
                                "cannot be greater than readyReplicas"))
    return out


_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def validate_stateful_set(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out = _common_counts(spec, "spec")
    policy = spec.get("podManagementPolicy")
    if policy not in ("OrderedReady", "Parallel"):
        out.append(meta.not_supported("spec.podManagementPolicy", policy or "", ["OrderedReady", "Parallel"]))
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type")
    if stype not in ("RollingUpdate", "OnDelete"):
        out.append(meta.not_supported("spec.updateStrategy.type", stype or "", ["OnDelete", "RollingUpdate"]))
    elif stype == "OnDelete" and strategy.get("rollingUpdate") is not None:
        out.append(meta.invalid("spec.updateStrategy.rollingUpdate", strategy["rollingUpdate"],
                                "only allowed for updateStrategy 'RollingUpdate'"))
    else:
        rolling = strategy.get("rollingUpdate") or {}
        out.extend(meta.nonnegative("spec.updateStrategy.rollingUpdate.partition", rolling.get("partition")))
    # The pods' volumes include one per volumeClaimTemplate, which the controller adds:
    # a template mounting them names no volume of its own. (Upstream skips the template's
    # pod spec altogether for this reason; kubelite checks it with those names added.)
    claims = frozenset(((t.get("metadata") or {}).get("name") or "") for t in spec.get("volumeClaimTemplates") or []
                       if isinstance(t, dict))
    out.extend(_validate_selector_and_template(spec, "spec", kind="statefulset", claim_volumes=claims))
    if old is not None:
        old_spec = _spec(old)
        rest_new = {k: v for k, v in spec.items() if k not in _STS_MUTABLE}
        rest_old = {k: v for k, v in old_spec.items() if k not in _STS_MUTABLE}
        if rest_new != rest_old:
            out.append(meta.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', "
                                      "'ordinals', 'template', 'updateStrategy', "
                                      "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
    return out


def validate_daemon_set(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    for key in ("minReadySeconds", "revisionHistoryLimit"):
        out.extend(meta.nonnegative(f"spec.{key}", spec.get(key)))
    out.extend(_validate_selector_and_template(spec, "spec", kind="daemonset"))
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type")
    if stype not in ("OnDelete", "RollingUpdate"):
        out.append(meta.not_supported("spec.updateStrategy.type", stype or "", ["OnDelete", "RollingUpdate"]))
    elif stype == "RollingUpdate":
        out.extend(_validate_rolling(strategy.get("rollingUpdate"), "spec.updateStrategy.rollingUpdate"))
    out.extend(_selector_immutable(obj, old))
    return out


# --- batch ---------------------------------------------------------------------------

JOB_RESTART_POLICIES = ("OnFailure", "Never")
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"


def _validate_job_spec(spec: Obj, path: str, *, selector_required: bool) -> list[Cause]:
    out: list[Cause] = []
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds",
                "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"):
        out.extend(meta.nonnegative(f"{path}.{key}", spec.get(key)))
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and deadline == 0:
        out.append(meta.invalid(path + ".activeDeadlineSeconds", deadline, "must be greater than 0"))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        out.append(meta.not_supported(path + ".completionMode", mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed" and spec.get("completions") is None:
        out.append(meta.required(path + ".completions", "when completion mode is Indexed"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None and replacement not in ("TerminatingOrFailed", "Failed"):
        out.append(meta.not_supported(path + ".podReplacementPolicy", replacement, ["Failed", "TerminatingOrFailed"]))
    out.extend(_validate_selector_and_template(spec, path, kind="job", restart_policies=JOB_RESTART_POLICIES,
                                               selector_required=selector_required))
    return out


def validate_job(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    md = obj.get("metadata") or {}
    out: list[Cause] = []
    name = md.get("name") or ""
    if len(name) > 63:
        # the name becomes the job-name label of every pod
        out.append(meta.invalid("metadata.name", name, meta.max_len_error(63)))
    out.extend(_validate_job_spec(spec, "spec", selector_required=True))
    uid = md.get("uid")
    selector = spec.get("selector")
    if uid and isinstance(selector, dict) and spec.get("manualSelector") is not True \
            and (selector.get("matchLabels") or {}).get(CONTROLLER_UID_LABEL) != uid:
        out.append(meta.invalid("spec.selector", selector, "`selector` not auto-generated"))
    if old is not None:
        old_spec = _spec(old)
        for key in ("selector", "completionMode"):
            if spec.get(key) != old_spec.get(key):
                out.append(meta.invalid(f"spec.{key}", spec.get(key), meta.FIELD_IMMUTABLE))
        # the pod template may change only while the job is suspended
        if spec.get("template") != old_spec.get("template") and not old_spec.get("suspend"):
            out.append(meta.invalid("spec.template", spec.get("template"), meta.FIELD_IMMUTABLE))
    return out


CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")


def validate_schedule(schedule: Any, path: str) -> list[Cause]:
    if not schedule:
        return [meta.required(path)]
    if not isinstance(schedule, str):
        return [meta.invalid(path, schedule, "must be a string")]
    if "TZ" in schedule:
        return [meta.invalid(path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")]
    try:
        cron.parse_schedule(schedule)
    except cron.ScheduleError as exc:
        return [meta.invalid(path, schedule, str(exc))]
    return []


def validate_cron_job(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    md = obj.get("metadata") or {}
    out: list[Cause] = []
    name = md.get("name") or ""
    if len(name) > 52:
        # jobs are named <cronjob>-<11 digits>, which must stay a valid 63-char label
        out.append(meta.invalid("metadata.name", name, meta.max_len_error(52)))
    out.extend(validate_schedule(spec.get("schedule"), "spec.schedule"))
    policy = spec.get("concurrencyPolicy")
    if not policy:
        out.append(meta.required("spec.concurrencyPolicy"))
    elif policy not in CONCURRENCY_POLICIES:
        out.append(meta.not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        out.extend(meta.nonnegative(f"spec.{key}", spec.get(key)))
    job_template = spec.get("jobTemplate")
    if not isinstance(job_template, dict):
        out.append(meta.required("spec.jobTemplate"))
    else:
        jmeta = job_template.get("metadata") or {}
        out.extend(meta.validate_labels(jmeta.get("labels"), "spec.jobTemplate.metadata.labels"))
        out.extend(_validate_job_spec(job_template.get("spec") or {}, "spec.jobTemplate.spec",
                                      selector_required=False))
    return out
