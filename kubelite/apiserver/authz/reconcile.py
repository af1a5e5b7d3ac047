"""How a default (Cluster)Role or (Cluster)RoleBinding that exists is brought back to the
default (upstream's pkg/registry/rbac/reconciliation, as its PostStartHook runs it).

Reconciliation is a union, never a removal: a role gets back the default rules it no
longer covers and the default aggregation selectors it lacks, a binding the default
subjects it lacks, and both the default labels and annotations they lack; what a user
added stays. An object annotated ``rbac.authorization.kubernetes.io/autoupdate: "false"``
is left exactly as it is. A binding whose ``roleRef`` is not the default's cannot be
updated (the field is immutable): ``needs_recreate`` says so, and the caller deletes and
re-creates it.

Differences from upstream: a missing rule is added back whole (the default rule as
``policy`` writes it) rather than as the single permissions it lacks, so a removed rule
returns as it was; the rules of an aggregated role (``admin``, ``edit``, ``view``) are left
to the aggregation controller, which writes them anyway.

Pure functions over plain objects, called by ``bootstrap.reconcile_policy`` with the
stored object, once per default and per conflict retry.
"""

from __future__ import annotations

from typing import Any

from kubelite.apiserver.authz import policy, rules

Obj = dict[str, Any]


def protected(existing: Obj) -> bool:
    """Whether the owner of ``existing`` asked that it never be reconciled."""
    return ((existing.get("metadata") or {}).get("annotations") or {}).get(policy.AUTOUPDATE_ANNOTATION) == "false"


def _merge_meta(existing: Obj, expected: Obj) -> bool:
    """Add the default labels and annotations that ``existing`` lacks (its own values win)."""
    changed = False
    meta = existing.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        wanted = expected["metadata"].get(key) or {}
        have = meta.get(key) or {}
        missing = {k: v for k, v in wanted.items() if k not in have}
        if missing:
            meta[key] = {**have, **missing}
            changed = True
    return changed


def role(existing: Obj, expected: Obj) -> bool:
    """Reconcile the (Cluster)Role ``existing`` (modified in place) with the default
    ``expected``; whether anything changed. Call only when not ``protected(existing)``."""
    changed = _merge_meta(existing, expected)
    wanted_rule = expected.get("aggregationRule")
    if wanted_rule is not None:
        aggregation = existing.get("aggregationRule") or {}
        selectors = list(aggregation.get("clusterRoleSelectors") or [])
        missing_selectors = [s for s in wanted_rule.get("clusterRoleSelectors") or [] if s not in selectors]
        if missing_selectors or existing.get("aggregationRule") is None:
            existing["aggregationRule"] = {**aggregation, "clusterRoleSelectors": selectors + missing_selectors}
            changed = True
        # an aggregated role's rules are the aggregation controller's to write
        return changed
    held = list(existing.get("rules") or [])
    missing_rules = [r for r in expected.get("rules") or [] if not rules.covers(held, [r])[0]]
    if missing_rules:
        existing["rules"] = held + missing_rules
        changed = True
    return changed


def _subject_key(subject: Obj) -> tuple[str, str, str]:
    return subject.get("kind", ""), subject.get("name", ""), subject.get("namespace", "")


def needs_recreate(existing: Obj, expected: Obj) -> bool:
    """Whether the binding ``existing`` points at another role than the default's."""
    return bool(existing.get("roleRef") != expected["roleRef"])


def binding(existing: Obj, expected: Obj) -> bool:
    """Reconcile the (Cluster)RoleBinding ``existing`` (modified in place, same ``roleRef``)
    with the default ``expected``; whether anything changed. Call only when not
    ``protected(existing)``."""
    changed = _merge_meta(existing, expected)
    subjects = list(existing.get("subjects") or [])
    have = {_subject_key(s) for s in subjects}
    missing = [s for s in expected.get("subjects") or [] if _subject_key(s) not in have]
    if missing:
        existing["subjects"] = subjects + missing
        changed = True
    return changed
