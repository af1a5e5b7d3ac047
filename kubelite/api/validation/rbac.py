"""Validation of rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

Pure functions, no I/O. ``kubelite.api.validation.validate`` dispatches here. Rules and
messages follow upstream ``pkg/apis/rbac/validation``: rules need verbs, resource rules
need apiGroups and resources, non-resource URLs only in ClusterRoles and never mixed with
resources; a binding's ``roleRef`` is required and immutable; subjects are a User, a Group
(both in the RBAC group) or a ServiceAccount (in the core group, with a namespace in a
ClusterRoleBinding). Names are checked as path segments (``meta.is_path_segment_name``) by
the strategies. Whether the writer may grant what it writes (escalation) is the API
server's check, ``kubelite.apiserver.authz.escalation``.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors, meta, selectors

Cause = errors.Cause
Obj = dict[str, Any]

GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[Obj]:
    return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []


def validate_policy_rule(rule: Obj, *, namespaced: bool, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not rule.get("verbs"):
        out.append(meta.required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs")
    if urls:
        if namespaced:
            out.append(meta.invalid(f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to "
                                                                    "non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            out.append(meta.invalid(f"{path}.nonResourceURLs", urls, "rules cannot apply to both regular "
                                                                    "resources and non-resource URLs"))
        return out
    if not rule.get("apiGroups"):
        out.append(meta.required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        out.append(meta.required(f"{path}.resources", "resource rules must supply at least one resource"))
    return out


def _rules(obj: Obj, *, namespaced: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, rule in enumerate(_dicts(obj.get("rules"))):
        out += validate_policy_rule(rule, namespaced=namespaced, path=f"rules[{i}]")
    return out


def validate_role(obj: Obj, old: Obj | None) -> list[Cause]:
    return _rules(obj, namespaced=True)


def validate_cluster_role(obj: Obj, old: Obj | None) -> list[Cause]:
    out = _rules(obj, namespaced=False)
    aggregation = obj.get("aggregationRule")
    if aggregation is not None:
        chosen = _dicts((aggregation or {}).get("clusterRoleSelectors"))
        if not chosen:
            out.append(meta.required("aggregationRule.clusterRoleSelectors",
                                     "at least one clusterRoleSelector required if aggregationRule is non-nil"))
        for i, selector in enumerate(chosen):
            out += selectors.validate_selector_dict(selector, f"aggregationRule.clusterRoleSelectors[{i}]")
    return out


def validate_subject(subject: Obj, *, namespaced: bool, path: str) -> list[Cause]:
    """Upstream's ValidateRoleBindingSubject."""
    out: list[Cause] = []
    name, kind, group = subject.get("name") or "", subject.get("kind") or "", subject.get("apiGroup") or ""
    if not name:
        out.append(meta.required(f"{path}.name"))
    if kind == "ServiceAccount":
        if name:
            out += [meta.invalid(f"{path}.name", name, msg) for msg in meta.is_dns1123_subdomain(name)]
        if group:
            out.append(meta.not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            out.append(meta.required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != GROUP:
            out.append(meta.not_supported(f"{path}.apiGroup", group, [GROUP]))
    else:
        out.append(meta.not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return out


def _binding(obj: Obj, old: Obj | None, *, namespaced: bool) -> list[Cause]:
    out: list[Cause] = []
    ref = _dict(obj.get("roleRef"))
    if (ref.get("apiGroup") or "") != GROUP:
        out.append(meta.not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [GROUP]))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if (ref.get("kind") or "") not in kinds:
        out.append(meta.not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    name = ref.get("name") or ""
    if not name:
        out.append(meta.required("roleRef.name"))
    else:
        out += [meta.invalid("roleRef.name", name, msg) for msg in meta.is_path_segment_name(name)]
    for i, subject in enumerate(_dicts(obj.get("subjects"))):
        out += validate_subject(subject, namespaced=namespaced, path=f"subjects[{i}]")
    if old is not None and _role_ref(obj) != _role_ref(old):
        # upstream prints the new internal RoleRef struct with Go's %#v
        group, kind, _ = _role_ref(obj)
        shown = f'rbac.RoleRef{{APIGroup:"{group}", Kind:"{kind}", Name:"{name}"}}'
        out.append(errors.Cause("FieldValueInvalid", f"Invalid value: {shown}: cannot change roleRef", "roleRef"))
    return out


def _role_ref(obj: Obj) -> tuple[str, str, str]:
    ref = _dict(obj.get("roleRef"))
    return ref.get("apiGroup") or "", ref.get("kind") or "", ref.get("name") or ""


def validate_role_binding(obj: Obj, old: Obj | None) -> list[Cause]:
    return _binding(obj, old, namespaced=True)


def validate_cluster_role_binding(obj: Obj, old: Obj | None) -> list[Cause]:
    return _binding(obj, old, namespaced=False)
