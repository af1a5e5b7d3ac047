"""PolicyRule arithmetic, as upstream's RBAC helpers do it: pure functions over rule dicts.

- ``allows(attrs, rule)``: one rule against one request (upstream's RuleAllows): ``*``
  matches any verb, group or resource, ``*/scale`` any resource's scale subresource,
  ``resourceNames`` restrict by name, a non-resource URL ending in ``*`` is a prefix.
- ``covers(owner, requested)``: whether rules a user holds include every permission of
  other rules (upstream's Covers), and which single permissions are missing; with
  ``compact`` and ``compact_string`` for the escalation message.

Called by ``rbac`` (every request of a user outside ``system:masters``) and
``escalation`` (writes of Roles and bindings).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from kubelite.apiserver.authz.attributes import Attributes

Rule = dict[str, Any]
ALL = "*"


def _list(rule: Rule, key: str) -> Sequence[str]:
    value = rule.get(key)
    return value if isinstance(value, list) else ()


def verb_matches(rule: Rule, verb: str) -> bool:
    verbs = _list(rule, "verbs")
    return ALL in verbs or verb in verbs


def group_matches(rule: Rule, group: str) -> bool:
    groups = _list(rule, "apiGroups")
    return ALL in groups or group in groups


def resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    """``combined`` is ``pods`` or ``pods/log``; a rule's ``*/log`` names any resource's log."""
    for allowed in _list(rule, "resources"):
        if allowed == ALL or allowed == combined:
            return True
        if subresource and allowed.startswith("*/") and allowed[2:] == subresource:
            return True
    return False


def name_matches(rule: Rule, name: str) -> bool:
    names = _list(rule, "resourceNames")
    return not names or name in names


def url_matches(rule: Rule, path: str) -> bool:
    for allowed in _list(rule, "nonResourceURLs"):
        if allowed == ALL or allowed == path:
            return True
        if allowed.endswith("*") and path.startswith(allowed.rstrip("*")):
            return True
    return False


def allows(attrs: Attributes, rule: Rule) -> bool:
    """Whether ``rule`` allows the request ``attrs`` (upstream's RuleAllows)."""
    if not verb_matches(rule, attrs.verb):
        return False
    if not attrs.resource_request:
        return url_matches(rule, attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return (group_matches(rule, attrs.api_group) and resource_matches(rule, combined, attrs.subresource)
            and name_matches(rule, attrs.name))


# --- coverage (privilege escalation) --------------------------------------------------------


def breakdown(rule: Rule) -> list[Rule]:
    """One rule per single permission: one group, resource, verb (and name), or one URL and verb."""
    out: list[Rule] = []
    verbs = _list(rule, "verbs")
    names = _list(rule, "resourceNames")
    for group in _list(rule, "apiGroups"):
        for resource in _list(rule, "resources"):
            for verb in verbs:
                if names:
                    out += [{"apiGroups": [group], "resources": [resource], "verbs": [verb], "resourceNames": [n]}
                            for n in names]
                else:
                    out.append({"apiGroups": [group], "resources": [resource], "verbs": [verb]})
    for url in _list(rule, "nonResourceURLs"):
        out += [{"nonResourceURLs": [url], "verbs": [verb]} for verb in verbs]
    return out


def _has_all(held: Sequence[str], wanted: Sequence[str]) -> bool:
    return all(w in held for w in wanted)


def _resources_cover(held: Sequence[str], wanted: Sequence[str]) -> bool:
    if ALL in held or _has_all(held, wanted):
        return True
    for resource in wanted:
        if resource in held:
            continue
        if "/" not in resource or "*/" + resource.split("/", 1)[1] not in held:
            return False
    return True


def _urls_cover(held: Sequence[str], wanted: Sequence[str]) -> bool:
    for url in wanted:
        if not any(h == url or (h.endswith("*") and url.startswith(h.rstrip("*"))) for h in held):
            return False
    return True


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """Whether ``owner`` includes every permission of ``sub`` (upstream's ruleCovers)."""
    verbs, groups = _list(owner, "verbs"), _list(owner, "apiGroups")
    owner_names, sub_names = _list(owner, "resourceNames"), _list(sub, "resourceNames")
    names_ok = not owner_names or (bool(sub_names) and _has_all(owner_names, sub_names))
    return ((ALL in verbs or _has_all(verbs, _list(sub, "verbs")))
            and (ALL in groups or _has_all(groups, _list(sub, "apiGroups")))
            and _resources_cover(_list(owner, "resources"), _list(sub, "resources"))
            and _urls_cover(_list(owner, "nonResourceURLs"), _list(sub, "nonResourceURLs"))
            and names_ok)


def covers(owner: Iterable[Rule], requested: Iterable[Rule]) -> tuple[bool, list[Rule]]:
    """Whether the ``owner`` rules hold every permission of ``requested``, and the single
    permissions they lack."""
    held = list(owner)
    missing = [sub for rule in requested for sub in breakdown(rule)
               if not any(rule_covers(o, sub) for o in held)]
    return not missing, missing


def compact(rules: list[Rule]) -> list[Rule]:
    """Single-permission rules of one group and resource (and at most one name) merged
    into one rule per resource with all their verbs (upstream's CompactRules)."""
    out: list[Rule] = []
    simple: dict[tuple[str, str, tuple[str, ...]], Rule] = {}
    for rule in rules:
        groups, resources, names = _list(rule, "apiGroups"), _list(rule, "resources"), _list(rule, "resourceNames")
        if len(groups) == 1 and len(resources) == 1 and len(names) <= 1 and not rule.get("nonResourceURLs"):
            key = (groups[0], resources[0], tuple(names))
            if key in simple:
                simple[key]["verbs"] = list(_list(simple[key], "verbs")) + list(_list(rule, "verbs"))
            else:
                simple[key] = {k: list(v) for k, v in rule.items()}
        else:
            out.append(rule)
    return out + list(simple.values())


def _go_strings(values: Sequence[str]) -> str:
    """A []string as Go's %q prints it: ``["a" "b"]``."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def compact_string(rule: Rule) -> str:
    """``{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}`` (upstream's CompactString)."""
    parts = [f"{label}:{_go_strings(_list(rule, key))}"
             for label, key in (("APIGroups", "apiGroups"), ("Resources", "resources"),
                                ("NonResourceURLs", "nonResourceURLs"), ("ResourceNames", "resourceNames"),
                                ("Verbs", "verbs"))
             if _list(rule, key)]
    return "{" + ", ".join(parts) + "}"
