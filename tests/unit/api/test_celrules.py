"""CRD validation rules (``x-kubernetes-validations``) evaluated as upstream's apiextensions does.

What a user of a CRD with CEL rules meets: which objects are refused, with which message at
which field; transition rules on updates only; rules kubelite cannot run skipped, never
refusing an object; and which rules make the CRD itself invalid.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import celext, celrules, errors

Obj = dict[str, Any]
ROOT = "spec.versions[0].schema.openAPIV3Schema"


def rules(*items: Obj) -> list[Obj]:
    return list(items)


def schema(spec: Obj) -> Obj:
    return {"type": "object", "properties": {"spec": spec}}


def obj(spec: Any, name: str = "w") -> Obj:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name, "namespace": "d"},
            "spec": spec}


def check(sch: Obj, new: Obj, old: Obj | None = None) -> tuple[list[errors.Cause], list[tuple[str, str]]]:
    skipped: list[tuple[str, str]] = []
    causes = celrules.Validator(sch).validate(new, old, skipped=lambda r, w: skipped.append((r, w)))
    return causes, skipped


def shown(causes: list[errors.Cause]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


REPLICAS = schema({
    "type": "object",
    "x-kubernetes-validations": rules(
        {"rule": "self.replicas <= self.maxReplicas", "message": "replicas must not exceed maxReplicas"}),
    "properties": {"replicas": {"type": "integer"}, "maxReplicas": {"type": "integer"}},
})


def test_a_broken_rule_is_an_invalid_value_at_its_node_with_its_message() -> None:
    causes, _ = check(REPLICAS, obj({"replicas": 5, "maxReplicas": 3}))
    assert shown(causes) == ['spec: Invalid value: "object": replicas must not exceed maxReplicas']
    assert causes[0].reason == "FieldValueInvalid"
    assert check(REPLICAS, obj({"replicas": 2, "maxReplicas": 3}))[0] == []


def test_without_a_message_the_rule_itself_is_quoted() -> None:
    sch = schema({"type": "integer", "x-kubernetes-validations": [{"rule": "self >= 0"}]})
    assert shown(check(sch, obj(-1))[0]) == ['spec: Invalid value: "integer": failed rule: self >= 0']


def test_a_rule_at_the_root_sees_metadata_name_and_fails_at_nil() -> None:
    sch = {"type": "object", "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('my-')"}],
           "properties": {"spec": {"type": "object"}}}
    causes, _ = check(sch, obj({}, name="other"))
    assert shown(causes) == ['<nil>: Invalid value: "object": failed rule: self.metadata.name.startsWith(\'my-\')']
    assert check(sch, obj({}, name="my-widget"))[0] == []


def test_rules_apply_to_every_list_element_and_every_map_value() -> None:
    sch = schema({"type": "object", "properties": {
        "ports": {"type": "array", "items": {
            "type": "object", "properties": {"port": {"type": "integer"}},
            "x-kubernetes-validations": [{"rule": "self.port > 0 && self.port < 65536", "message": "bad port"}]}},
        "labels": {"type": "object", "additionalProperties": {
            "type": "string", "x-kubernetes-validations": [{"rule": "self.size() <= 3"}]}},
    }})
    causes, _ = check(sch, obj({"ports": [{"port": 80}, {"port": 0}, {"port": 70000}],
                                "labels": {"a": "ok", "b": "toolong"}}))
    assert shown(causes) == [
        'spec.ports[1]: Invalid value: "object": bad port',
        'spec.ports[2]: Invalid value: "object": bad port',
        'spec.labels[b]: Invalid value: "string": failed rule: self.size() <= 3',
    ]


def test_absent_values_are_not_evaluated() -> None:
    sch = schema({"type": "object", "properties": {
        "size": {"type": "integer", "x-kubernetes-validations": [{"rule": "self > 100"}]}}})
    assert check(sch, obj({}))[0] == []
    assert len(check(sch, obj({"size": 1}))[0]) == 1


def test_message_expression_reason_and_field_path() -> None:
    sch = schema({"type": "object", "properties": {"replicas": {"type": "integer"}, "name": {"type": "string"}},
                  "x-kubernetes-validations": [
                      {"rule": "self.replicas < 10", "messageExpression": "'replicas is ' + string(self.replicas)",
                       "fieldPath": ".replicas"},
                      {"rule": "self.name != 'admin'", "reason": "FieldValueForbidden", "message": "reserved name"},
                      {"rule": "has(self.name)", "reason": "FieldValueRequired", "message": "name is needed"},
                      {"rule": "self.replicas != 13", "reason": "FieldValueDuplicate"},
                      # a messageExpression that fails falls back to the message
                      {"rule": "self.replicas < 12", "messageExpression": "self.missing", "message": "fallback"},
                  ]})
    causes, _ = check(sch, obj({"replicas": 13, "name": "admin"}))
    assert shown(causes) == [
        'spec.replicas: Invalid value: "object": replicas is 13',
        "spec: Forbidden: reserved name",
        'spec: Duplicate value: "object"',
        'spec: Invalid value: "object": fallback',
    ]
    assert [c.reason for c in causes] == ["FieldValueInvalid", "FieldValueForbidden", "FieldValueDuplicate",
                                          "FieldValueInvalid"]
    assert shown(check(sch, obj({"replicas": 1}))[0]) == [
        'spec: Invalid value: "object": no such key: name evaluating rule: reserved name',
        "spec: Required value: name is needed"]


def test_a_missing_field_is_upstreams_no_such_key_error() -> None:
    sch = schema({"type": "object", "properties": {"a": {"type": "string"}},
                  "x-kubernetes-validations": [{"rule": "self.a == 'x'", "message": "a must be x"}]})
    assert shown(check(sch, obj({}))[0]) == [
        'spec: Invalid value: "object": no such key: a evaluating rule: a must be x']
    inside = schema({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                     "x-kubernetes-validations": [{"rule": "self.a == 'x' ? true : false"},
                                                  {"rule": "self.a == 'x' && self.b == 'y'"}]})
    assert shown(check(inside, obj({}))[0]) == [
        "spec: Invalid value: \"object\": no such key: a evaluating rule: self.a == 'x' ? true : false",
        "spec: Invalid value: \"object\": no such key: a evaluating rule: self.a == 'x' && self.b == 'y'"]


def test_transition_rules_run_on_updates_only() -> None:
    sch = schema({"type": "object", "properties": {
        "replicas": {"type": "integer", "x-kubernetes-validations": [
            {"rule": "self >= oldSelf", "message": "replicas may not decrease"}]}}})
    assert check(sch, obj({"replicas": 1}))[0] == []  # create: no oldSelf
    causes, _ = check(sch, obj({"replicas": 1}), obj({"replicas": 3}))
    assert shown(causes) == ['spec.replicas: Invalid value: "integer": replicas may not decrease']
    assert check(sch, obj({"replicas": 4}), obj({"replicas": 3}))[0] == []
    assert check(sch, obj({"replicas": 1}), obj({}))[0] == []  # no old value: not evaluated


def test_map_lists_correlate_by_key_other_lists_do_not() -> None:
    item = {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
            "x-kubernetes-validations": [{"rule": "self.size >= oldSelf.size", "message": "shrunk"}]}
    sch = schema({"type": "object", "properties": {"disks": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "items": item}}})
    old = obj({"disks": [{"name": "a", "size": 5}, {"name": "b", "size": 5}]})
    new = obj({"disks": [{"name": "b", "size": 4}, {"name": "a", "size": 6}, {"name": "c", "size": 1}]})
    assert shown(check(sch, new, old)[0]) == ['spec.disks[0]: Invalid value: "object": shrunk']


def test_unchanged_values_are_not_held_to_rules_on_update() -> None:
    # upstream's ratcheting: an object stored before a rule existed can still be updated elsewhere
    sch = schema({"type": "object", "properties": {
        "a": {"type": "integer", "x-kubernetes-validations": [{"rule": "self < 10"}]},
        "b": {"type": "integer"}}})
    assert check(sch, obj({"a": 50, "b": 2}), obj({"a": 50, "b": 1}))[0] == []
    assert len(check(sch, obj({"a": 51, "b": 2}), obj({"a": 50, "b": 1}))[0]) == 1


def test_optional_old_self_runs_on_create_with_an_optional() -> None:
    sch = schema({"type": "object", "properties": {"mode": {"type": "string", "x-kubernetes-validations": [
        {"rule": "!oldSelf.hasValue() || self == oldSelf.value()", "optionalOldSelf": True,
         "message": "mode is immutable"},
        {"rule": "oldSelf.orValue('') != '' || self == 'init'", "optionalOldSelf": True,
         "message": "must start as init"}]}}})
    assert shown(check(sch, obj({"mode": "x"}))[0]) == ['spec.mode: Invalid value: "string": must start as init']
    assert check(sch, obj({"mode": "init"}))[0] == []
    assert shown(check(sch, obj({"mode": "y"}), obj({"mode": "init"}))[0]) == [
        'spec.mode: Invalid value: "string": mode is immutable']


def test_numbers_follow_the_schema_type() -> None:
    sch = schema({"type": "object", "properties": {"ratio": {"type": "number"}},
                  "x-kubernetes-validations": [{"rule": "self.ratio <= 1.0"}]})
    assert check(sch, obj({"ratio": 1}))[0] == []  # an integral JSON number is still a double
    assert len(check(sch, obj({"ratio": 2}))[0]) == 1


def test_ints_and_doubles_compare_with_each_other_as_in_kubernetes() -> None:
    sch = schema({"type": "object", "properties": {"ratio": {"type": "number"}, "count": {"type": "integer"}},
                  "x-kubernetes-validations": [{"rule": "self.ratio >= 0 && self.ratio < self.count"},
                                               {"rule": "self.count == 2.0 && self.ratio != 1"}]})
    causes, skipped = check(sch, obj({"ratio": 0.5, "count": 2}))
    assert causes == [] and skipped == []
    causes, skipped = check(sch, obj({"ratio": 3, "count": 2}))
    assert shown(causes) == ['spec: Invalid value: "object": failed rule: self.ratio >= 0 && self.ratio < self.count']


def test_formatted_strings_are_durations_timestamps_and_bytes() -> None:
    sch = schema({"type": "object", "properties": {
        "ttl": {"type": "string", "format": "duration"}, "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"}, "blob": {"type": "string", "format": "byte"}},
        "x-kubernetes-validations": [
            {"rule": "self.ttl < duration('2h') && self.at > timestamp('2020-01-01T00:00:00Z')"},
            {"rule": "self.day < self.at && size(self.blob) == 2"}]})
    causes, skipped = check(sch, obj({"ttl": "1h30m", "at": "2024-05-01T10:00:00Z", "day": "2024-05-01",
                                      "blob": "aGk="}))
    assert causes == [] and skipped == []
    assert len(check(sch, obj({"ttl": "3h", "at": "2024-05-01T10:00:00Z", "day": "2024-05-01",
                               "blob": "aGk="}))[0]) == 1


def test_property_names_are_escaped_as_upstream() -> None:
    sch = schema({"type": "object", "properties": {"max-size": {"type": "integer"}, "namespace": {"type": "string"}},
                  "x-kubernetes-validations": [{"rule": "self.max__dash__size < 5 && self.__namespace__ != ''"}]})
    assert check(sch, obj({"max-size": 3, "namespace": "x"}))[0] == []
    assert len(check(sch, obj({"max-size": 9, "namespace": "x"}))[0]) == 1


def test_rules_beyond_celpy_are_skipped_never_refusing_the_object() -> None:
    sch = schema({"type": "object", "properties": {"name": {"type": "string"}},
                  "x-kubernetes-validations": [
                      {"rule": "self.?name.orValue('') != 'x'"},  # optional field syntax
                      {"rule": "!format.dns1123Label().validate(self.name).hasValue()"},  # the format library
                      {"rule": "sets.contains(['a'], ['a'])"},  # namespaced functions
                  ]})
    causes, skipped = check(sch, obj({"name": "Not_A_Label"}))
    assert causes == []
    assert [rule for rule, _ in skipped] == [
        "self.?name.orValue('') != 'x'", "!format.dns1123Label().validate(self.name).hasValue()",
        "sets.contains(['a'], ['a'])"]


def test_kubernetes_extension_functions() -> None:
    holds = [
        "'Hello'.lowerAscii() == 'hello'", "'a,b,c'.split(',') == ['a', 'b', 'c']",
        "['a', 'b'].join('-') == 'a-b'", "'hello'.indexOf('l') == 2", "'hello'.lastIndexOf('l') == 3",
        "'  x '.trim() == 'x'", "'abc'.substring(1) == 'bc'", "'abc'.charAt(1) == 'b'",
        "'a.b'.replace('.', '-') == 'a-b'", "'abc'.upperAscii() == 'ABC'",
        "[1, 2, 3].isSorted()", "![3, 1].isSorted()", "[1, 2, 3].sum() == 6", "[1, 5, 3].max() == 5",
        "[4, 2].min() == 2", "[1, 2, 3].indexOf(2) == 1", "[1, 2, 1].lastIndexOf(1) == 2",
        "'abc123'.find('[0-9]+') == '123'", "'a1b22'.findAll('[0-9]+') == ['1', '22']",
        "isURL('https://example.com/x')", "!isURL('not a url')",
        "url('https://example.com:8443/p?q=1').getHost() == 'example.com:8443'",
        "url('https://example.com:8443/p').getPort() == '8443'", "url('https://a.io/p').getScheme() == 'https'",
        "quantity('1Gi').isGreaterThan(quantity('1G'))", "isQuantity('500m')", "!isQuantity('5 cores')",
        "quantity('1.5').asApproximateFloat() == 1.5", "quantity('2k').asInteger() == 2000",
        "isIP('10.0.0.1')", "ip('::1').family() == 6", "cidr('10.0.0.0/8').containsIP(ip('10.1.2.3'))",
        "isCIDR('192.168.0.0/16')", "!isCIDR('192.168.0.0')",
        "['a', 'b'].all(x, x.size() == 1)", "[1, 2, 3].exists_one(x, x == 2)", "[1, 2].map(x, x * 2) == [2, 4]",
        "'%s has %d items'.format(['list', 3]) == 'list has 3 items'",
    ]
    sch = schema({"type": "object", "x-kubernetes-validations": [{"rule": r} for r in holds]})
    causes, skipped = check(sch, obj({}))
    assert skipped == [] and causes == []
    assert set(celext.FUNCTIONS) >= {"lowerAscii", "split", "join", "indexOf", "isSorted", "sum", "max", "url",
                                     "isURL", "find", "findAll", "quantity", "ip", "cidr"}


def test_crd_time_syntax_errors_and_uncorrelatable_old_self_are_refused() -> None:
    sch = schema({"type": "object", "properties": {"tags": {"type": "array", "items": {
        "type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}},
        "x-kubernetes-validations": [{"rule": "self.replicas >"}, {"rule": ""},
                                     {"rule": "true", "messageExpression": "'a' +"}]})
    causes = celrules.crd_problems(sch, ROOT)
    spec = f"{ROOT}.properties[spec]"
    assert [c.field for c in causes] == [
        f"{spec}.x-kubernetes-validations[0].rule", f"{spec}.x-kubernetes-validations[1].rule",
        f"{spec}.x-kubernetes-validations[2].messageExpression",
        f"{spec}.properties[tags].items.x-kubernetes-validations[0].rule"]
    assert causes[0].message.startswith(
        'Invalid value: apiextensions.ValidationRule{Rule:"self.replicas >", Message:"", MessageExpression:"", '
        "Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}: "
        "compilation failed: ERROR: <input>:1:")
    assert causes[1].message == "Required value: rule is not specified"
    assert causes[3].message == ('Invalid value: "self == oldSelf": oldSelf cannot be used on the uncorrelatable '
                                 f"portion of the schema within {spec}.properties[tags]")


def test_crd_time_accepts_what_upstream_accepts_even_beyond_celpy() -> None:
    # rules in the style of Gateway API's and cert-manager's CRDs
    sch = schema({"type": "object", "properties": {
        "listeners": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "x-kubernetes-validations": [
                          {"rule": "self.protocol == 'HTTPS' ? has(self.tls) : true",
                           "message": "tls must be set for HTTPS"},
                          {"rule": "!has(oldSelf.port) || self.port == oldSelf.port"}]},
                      "x-kubernetes-validations": [
                          {"rule": "self.all(l1, self.exists_one(l2, l1.name == l2.name))"},
                          {"rule": "self.all(l, !has(l.hostname) || l.hostname.lowerAscii() == l.hostname)"}]},
        "path": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self.startsWith('/') && !self.contains('//')"},
            {"rule": "!self.matches('/\\\\.\\\\./') && size(self.split('/')) < 10"},
            {"rule": "self.?missing.orValue('') == ''"},
            {"rule": "format.dns1123Subdomain().validate(self).hasValue() == false"}]}}})
    assert celrules.crd_problems(sch, ROOT) == []
