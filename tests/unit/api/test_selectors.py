"""Label selectors as kubectl, client-go and kopf send them."""

from __future__ import annotations

import pytest

from kubelite.api import errors, selectors

LABELS = {"app": "web", "tier": "frontend", "env": "prod", "rank": "7"}


@pytest.mark.parametrize(("text", "expected"), [
    ("app=web", True),
    ("app==web", True),
    ("app!=web", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("app in (web,db)", True),
    ("app in (db)", False),
    ("app notin (db)", True),
    ("missing notin (db)", True),
    ("app notin (web)", False),
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("app=web,tier=frontend", True),
    ("app=web,tier=backend", False),
    ("  app = web ,  env in ( prod , qa )  ", True),
    ("rank>5", True),
    ("rank<5", False),
    ("", True),
])
def test_label_selector_matching(text: str, expected: bool) -> None:
    assert selectors.parse_label_selector(text).matches(LABELS) is expected


def test_label_selector_with_no_labels_on_the_object() -> None:
    sel = selectors.parse_label_selector("!app,tier notin (x)")
    assert sel.matches(None)
    assert not selectors.parse_label_selector("app").matches({})


def test_canonical_string_form_sorts_keys_and_values() -> None:
    sel = selectors.parse_label_selector("z=1, a in (c,b), !m, k")
    assert str(sel) == "a in (b,c),k,!m,z=1"
    assert selectors.parse_label_selector("").empty
    assert not sel.empty


def test_keywords_are_plain_values_inside_sets() -> None:
    assert selectors.parse_label_selector("x in (in,notin)").matches({"x": "notin"})


def test_empty_value_and_empty_set_entries() -> None:
    assert selectors.parse_label_selector("app=").matches({"app": ""})
    assert selectors.parse_label_selector("app in (,a)").matches({"app": ""})


@pytest.mark.parametrize(("text", "message"), [
    ("app=web,", "found '', expected: identifier after ','"),
    ("app in web", "unable to parse requirement: found 'web' expected: '('"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
    (",app", "found ',', expected: !, identifier, or 'end of string'"),
])
def test_label_selector_syntax_errors_are_bad_requests(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        selectors.parse_label_selector(text)
    assert exc.value.code == 400
    assert message in exc.value.message


def test_invalid_label_key_and_value_are_reported_like_upstream() -> None:
    with pytest.raises(errors.BadRequest) as exc:
        selectors.parse_label_selector("a@b=c")
    assert exc.value.message.startswith('unable to parse requirement: <nil>: Invalid value: "a@b": name part')
    with pytest.raises(errors.BadRequest) as exc:
        selectors.parse_label_selector("app=-bad")
    assert 'values[0][app]: Invalid value: "-bad": a valid label must be' in exc.value.message


def test_exact_value_for_index_lookups() -> None:
    sel = selectors.parse_label_selector("app=web,tier in (a,b)")
    assert sel.exact_value("app") == "web"
    assert sel.exact_value("tier") is None
    assert sel.exact_value("nope") is None


# --- metav1.LabelSelector -------------------------------------------------------------


def test_selector_dict_none_matches_nothing_and_empty_matches_everything() -> None:
    assert not selectors.from_selector_dict(None).matches({"a": "b"})
    assert selectors.from_selector_dict({}).matches({"a": "b"})
    assert selectors.from_selector_dict({"matchLabels": {}}).empty


def test_selector_dict_with_expressions() -> None:
    sel = selectors.from_selector_dict({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "qa"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "tier", "operator": "Exists"},
            {"key": "zone", "operator": "NotIn", "values": ["b"]},
        ],
    })
    assert sel.matches(LABELS)
    assert not sel.matches({**LABELS, "legacy": "1"})
    assert str(sel) == "app=web,env in (prod,qa),!legacy,tier,zone notin (b)"


def test_selector_dict_with_unknown_operator_is_refused() -> None:
    with pytest.raises(errors.BadRequest, match='"Gt" is not a valid label selector operator'):
        selectors.from_selector_dict({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})


def test_validate_selector_dict_reports_field_causes() -> None:
    causes = selectors.validate_selector_dict({
        "matchLabels": {"bad key!": "v"},
        "matchExpressions": [
            {"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Sometimes"},
        ],
    }, "spec.selector")
    fields = [c.field for c in causes]
    assert fields == ["spec.selector.matchLabels", "spec.selector.matchExpressions[0].values",
                      "spec.selector.matchExpressions[1].values", "spec.selector.matchExpressions[2].operator"]
    assert causes[1].reason == "FieldValueRequired"
    assert causes[2].message.startswith("Forbidden: may not be specified")
    assert causes[3].message == 'Invalid value: "Sometimes": not a valid selector operator'
    assert selectors.validate_selector_dict({"matchLabels": {"app": "x"}}, "spec.selector") == []


def test_selector_to_string_for_scale_status() -> None:
    assert selectors.selector_to_string({"matchLabels": {"app": "nginx"}}) == "app=nginx"
    assert selectors.selector_to_string(
        {"matchLabels": {"b": "2", "a": "1"},
         "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]}]},
    ) == "a=1,b=2,c in (x,y)"
