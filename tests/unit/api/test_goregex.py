"""Go (RE2) patterns in CRD schemas and CEL rules mean what they mean upstream.

Kueue's CRDs use ``^(?i)[a-z]...$``, which Python's ``re`` refuses: such a CRD must install
and its pattern must match case-insensitively, as kube-apiserver's Go regexp does.
"""

from __future__ import annotations

import pytest

from kubelite.api import celrules, crdschema, goregex

KUEUE_KIND = "^(?i)[a-z]([-a-z0-9]*[a-z0-9])?$"


@pytest.mark.parametrize(("pattern", "matching", "not_matching"), [
    (KUEUE_KIND, ["ProvisioningRequestConfig", "a-b"], ["-a", "a_b"]),
    ("a|b(?i)c|d", ["a", "bC", "D"], ["A", "Bc"]),  # the flags reach the next alternative
    ("x(y(?i)z|w)v", ["xyZv", "xWv"], ["xYzv", "xyzV"]),  # ... and end with their group
    ("(?i)abc", ["ABC"], []),
    ("[(?i)]x", ["(x", "ix"], ["X"]),  # inside a class, nothing to translate
    ("ab\\z", ["ab"], ["ab\n"]),
])
def test_go_patterns_match_as_in_go(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    compiled = goregex.compile(pattern)
    assert all(compiled.fullmatch(text) for text in matching)
    assert not any(compiled.fullmatch(text) for text in not_matching)


def test_a_crd_pattern_with_inline_flags_is_accepted_and_enforced() -> None:
    sch = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "kind": {"type": "string", "pattern": KUEUE_KIND}}}}}
    assert crdschema.structural_problems(sch, "spec.versions[0].schema.openAPIV3Schema") == []
    assert crdschema.validate({"spec": {"kind": "ProvisioningRequestConfig"}}, sch) == []
    assert [c.field for c in crdschema.validate({"spec": {"kind": "-bad"}}, sch)] == ["spec.kind"]


def test_cel_matches_and_find_use_go_syntax() -> None:
    sch = {"type": "object", "x-kubernetes-validations": [
        {"rule": "self.name.matches('^(?i)[a-z]+$') && self.name.find('(?i)B+') == 'bB'"}],
        "properties": {"name": {"type": "string"}}}
    validator = celrules.Validator({"type": "object", "properties": {"spec": sch}})
    assert validator.validate({"spec": {"name": "AbBc"}}) == []
    assert len(validator.validate({"spec": {"name": "Ab1"}})) == 1


def test_a_crd_pattern_with_unicode_classes_is_accepted() -> None:
    # valid RE2 that Python's re cannot compile: the CRD installs, objects are not held to it
    sch = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^\\p{L}+$"},
                                            "bad": {"type": "string", "pattern": "^(unclosed$"}}}
    problems = crdschema.structural_problems(sch, "root")
    assert [c.field for c in problems] == ["root.properties[bad].pattern"]
    assert crdschema.validate({"name": "Zoë"}, sch) == []
