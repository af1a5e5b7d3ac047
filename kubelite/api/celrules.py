"""A CRD's ``x-kubernetes-validations``: CEL rules compiled once, evaluated on every write.

``kubelite.apiserver.crds`` calls ``crd_problems`` when a CRD is written (a rule must
parse; ``oldSelf`` only where old and new values correlate) and ``Validator.validate`` on
every write of a custom resource, after the structural schema's own checks, as upstream's
``apiextensions-apiserver/pkg/apiserver/schema/cel`` does:

- a rule sits on a schema node and sees the value there as ``self``, for every place the
  node applies (each element under ``items``, each value under ``additionalProperties``);
  absent and null values are not evaluated;
- a rule using ``oldSelf`` (a transition rule) runs only on updates where the old object
  has a value at the same place (maps by key, ``x-kubernetes-list-type: map`` lists by
  their keys; other lists do not correlate); with ``optionalOldSelf`` it also runs on
  creates, ``oldSelf`` then being an optional (``hasValue()``, ``value()``, ``orValue()``);
- on updates, rules without ``oldSelf`` are skipped where a correlated value did not
  change (upstream's ratcheting, which turns those errors into warnings);
- a failed rule is a ``Cause`` at the node's path, plus ``fieldPath``, worded as upstream:
  ``spec: Invalid value: "object": <message>``, or ``failed rule: <rule>`` without one.

Evaluation is celpy's (pure Python, ~0.5 ms a rule), so only nodes present in the object are
visited. Upstream type-checks rules and bounds their cost; kubelite does neither. A rule
that celpy cannot run (optional-field syntax, a function ``celext`` lacks, a type mismatch
celpy's runtime refuses where cel-go would convert) is skipped and reported through the
``skipped`` callback, never held against the object: a valid upstream CRD must keep working.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import celpy  # type: ignore[import-untyped]
import lark
from celpy import celtypes
from lark import Tree

from kubelite.api import celext, errors

Obj = dict[str, Any]
Schema = dict[str, Any]
Skipped = Callable[[str, str], None]  # (rule, why): a rule celpy could not evaluate

ROOT_PATH: Final = "<nil>"  # how Go prints the root's nil field.Path, in messages and causes
BLOCKED: Final = errors.Cause(
    "FieldValueInvalid", 'Invalid value: "null": some validation rules were not checked because the object '
    "was invalid; correct the existing errors to complete validation", ROOT_PATH)
# Schema causes after which upstream does not run the rules (the object lacks the shape they assume).
BLOCKING_REASONS: Final = frozenset({"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong",
                                     "FieldValueTooMany", "FieldValueTypeInvalid"})

_OPTIONAL_SYNTAX: Final = re.compile(r"\.\?|\[\?|\{\s*\?|,\s*\?")  # a.?b, a[?0], {?k: v}, [a, ?b]
_STRING_LITERAL: Final = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")
_RESERVED: Final = frozenset({"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
                              "function", "if", "import", "let", "loop", "package", "namespace", "return",
                              "var", "void", "while"})
_ESCAPABLE: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_./-]*")


# --- compiling --------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """One CEL expression: its program, or why it has none."""

    program: Any = None  # a celpy Runner
    uses_old_self: bool = False
    error: str = ""  # a syntax error: the CRD is refused
    unsupported: str = ""  # valid upstream, beyond celpy: the rule is skipped


def _identifiers(tree: Any) -> Iterator[str]:
    if isinstance(tree, Tree):
        if tree.data == "ident" and tree.children:
            yield str(tree.children[0])
        for child in tree.children:
            yield from _identifiers(child)


@functools.cache
def _environment() -> Any:
    # built on the first rule, not at import: building celpy's parser takes ~0.35 s
    return celpy.Environment()


@functools.lru_cache(maxsize=4096)
def compile_expression(text: str) -> Compiled:
    """Parse ``text`` once per process (rules repeat across versions and CRD writes)."""
    env = _environment()
    try:
        ast = env.compile(text)
    except Exception as exc:  # celpy's parse errors (lark's, wrapped)
        if _OPTIONAL_SYNTAX.search(_STRING_LITERAL.sub("''", text)):
            return Compiled(unsupported="optional field syntax", uses_old_self="oldSelf" in text)
        return Compiled(error=_syntax_error(text, exc))
    return Compiled(program=env.program(ast, functions=celext.FUNCTIONS),
                    uses_old_self="oldSelf" in set(_identifiers(ast)))


def _syntax_error(text: str, exc: Exception) -> str:
    """cel-go's shape: ``ERROR: <input>:1:8: Syntax error: mismatched input '<EOF>' ...``,
    then the line and a caret under the column (the wording after "Syntax error" is lark's)."""
    line, column = getattr(exc, "line", None) or 1, getattr(exc, "column", None) or 1
    cause = exc.__context__
    token = getattr(cause, "token", None)
    if isinstance(cause, lark.exceptions.UnexpectedToken) and token is not None:
        what = "mismatched input '<EOF>'" if token.type == "$END" else f"mismatched input '{token}'"
    elif isinstance(cause, lark.exceptions.UnexpectedCharacters):
        what = f"token recognition error at: '{cause.char}'"
    else:
        what = "invalid expression"
    source = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else text
    return f"ERROR: <input>:{line}:{column}: Syntax error: {what}\n | {source}\n | {'.' * (column - 1)}^"


# --- the CRD's rules, when the CRD is written ------------------------------------------


def _go_quote(value: Any) -> str:
    return json.dumps(value if isinstance(value, str) else "", ensure_ascii=False)


def _rule_struct(rule: Obj) -> str:
    """A ValidationRule as Go's ``%#v`` shows it in upstream's compile errors."""
    reason = "(*apiextensions.FieldValueErrorReason)(nil)" if rule.get("reason") is None else \
        f"(*apiextensions.FieldValueErrorReason)({_go_quote(rule.get('reason'))})"
    optional = "(*bool)(nil)" if rule.get("optionalOldSelf") is None else \
        f"(*bool)({'true' if rule.get('optionalOldSelf') else 'false'})"
    return (f"apiextensions.ValidationRule{{Rule:{_go_quote(rule.get('rule'))}, "
            f"Message:{_go_quote(rule.get('message'))}, MessageExpression:{_go_quote(rule.get('messageExpression'))}, "
            f"Reason:{reason}, FieldPath:{_go_quote(rule.get('fieldPath'))}, OptionalOldSelf:{optional}}}")


_REASONS: Final = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired")


def crd_problems(root: Any, path: str) -> list[errors.Cause]:
    """Causes for the rules of one CRD version's ``openAPIV3Schema`` that upstream refuses."""
    out: list[errors.Cause] = []
    if isinstance(root, dict):
        _crd_node(root, path, "", out)
    return out


def _crd_node(sch: Schema, path: str, uncorrelatable: str, out: list[errors.Cause]) -> None:
    rules = sch.get("x-kubernetes-validations")
    for j, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict):
            out += _rule_problems(rule, f"{path}.x-kubernetes-validations[{j}]", uncorrelatable)
    props = sch.get("properties")
    for key, child in (props if isinstance(props, dict) else {}).items():
        if isinstance(child, dict):
            _crd_node(child, f"{path}.properties[{key}]", uncorrelatable, out)
    items = sch.get("items")
    if isinstance(items, dict):
        # items correlate with their old selves only through a map list's keys
        forbid = uncorrelatable or ("" if sch.get("x-kubernetes-list-type") == "map" else path)
        _crd_node(items, f"{path}.items", forbid, out)
    additional = sch.get("additionalProperties")
    if isinstance(additional, dict):
        _crd_node(additional, f"{path}.additionalProperties", uncorrelatable, out)
    for i, sub in enumerate(sch.get("allOf") or []):
        if isinstance(sub, dict):
            _crd_node(sub, f"{path}.allOf[{i}]", uncorrelatable, out)


def _rule_problems(rule: Obj, path: str, uncorrelatable: str) -> list[errors.Cause]:
    text = rule.get("rule")
    if not isinstance(text, str) or not text.strip():
        return [errors.Cause("FieldValueRequired", "Required value: rule is not specified", f"{path}.rule")]
    out: list[errors.Cause] = []
    compiled = compile_expression(text)
    if compiled.error:
        out.append(errors.Cause("FieldValueInvalid", f"Invalid value: {_rule_struct(rule)}: compilation failed: "
                                f"{compiled.error}", f"{path}.rule"))
    elif compiled.uses_old_self and uncorrelatable:
        out.append(errors.Cause("FieldValueInvalid", f"Invalid value: {_go_quote(text)}: oldSelf cannot be used on "
                                f"the uncorrelatable portion of the schema within {uncorrelatable}", f"{path}.rule"))
    message_expression = rule.get("messageExpression")
    if isinstance(message_expression, str) and message_expression.strip():
        mcompiled = compile_expression(message_expression)
        if mcompiled.error:
            out.append(errors.Cause("FieldValueInvalid", f"Invalid value: {_rule_struct(rule)}: messageExpression "
                                    f"compilation failed: {mcompiled.error}", f"{path}.messageExpression"))
    reason = rule.get("reason")
    if reason is not None and reason not in _REASONS:
        out.append(errors.not_supported(f"{path}.reason", reason, list(_REASONS)))
    return out


# --- the validator tree -----------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    source: Obj  # the rule as the CRD states it
    compiled: Compiled
    message_expression: Compiled | None
    field_path: str  # normalized, relative to the node; "" for none


@dataclass
class Node:
    """The rules of one schema node and of the nodes below it that have any."""

    schema: Schema
    rules: list[Rule] = field(default_factory=list)
    properties: dict[str, Node] = field(default_factory=dict)
    items: Node | None = None
    additional: Node | None = None
    all_of: list[Node] = field(default_factory=list)
    transitions: bool = False  # a rule here or below uses oldSelf
    resource_root: bool = False  # the object's root or an embedded resource: self.metadata.name works

    @property
    def type_name(self) -> str:
        t = self.schema.get("type")
        return t if isinstance(t, str) else ""


def build(root: Schema | None) -> Node | None:
    """The validator for a CRD version's schema; None when it has no rules."""
    if not isinstance(root, dict):
        return None
    return _build(root, resource_root=True)


def _build(sch: Schema, *, resource_root: bool = False) -> Node | None:
    node = Node(schema=sch, resource_root=resource_root)
    raw = sch.get("x-kubernetes-validations")
    for rule in raw if isinstance(raw, list) else []:
        if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str):
            continue
        message_expression = rule.get("messageExpression")
        node.rules.append(Rule(
            source=rule, compiled=compile_expression(rule["rule"]),
            message_expression=compile_expression(message_expression)
            if isinstance(message_expression, str) and message_expression.strip() else None,
            field_path=normalize_field_path(rule.get("fieldPath"), sch)))
    props = sch.get("properties")
    for key, child_schema in (props if isinstance(props, dict) else {}).items():
        if isinstance(child_schema, dict):
            child = _build(child_schema, resource_root=child_schema.get("x-kubernetes-embedded-resource") is True)
            if child is not None:
                node.properties[key] = child
    for attr, key in (("items", "items"), ("additional", "additionalProperties")):
        sub = sch.get(key)
        if isinstance(sub, dict):
            setattr(node, attr, _build(sub, resource_root=sub.get("x-kubernetes-embedded-resource") is True))
    for sub in sch.get("allOf") or []:
        if isinstance(sub, dict):
            merged = _build({**sub, "type": sch.get("type")}, resource_root=resource_root)
            if merged is not None:
                node.all_of.append(merged)
    children = [*node.properties.values(), *node.all_of, *(c for c in (node.items, node.additional) if c)]
    node.transitions = any(r.compiled.uses_old_self for r in node.rules) or any(c.transitions for c in children)
    return node if node.rules or children else None


_PATH_TOKEN: Final = re.compile(r"\.([^.\[\]]+)|\['((?:\\.|[^'\\])*)'\]")


def normalize_field_path(raw: Any, sch: Schema) -> str:
    """``.spec.ports['http']`` → ``spec.ports[http]`` (field.Path's rendering): names of
    properties join with dots, keys of maps go in brackets."""
    if not isinstance(raw, str) or not raw:
        return ""
    out = ""
    node: Any = sch
    for m in _PATH_TOKEN.finditer(raw):
        name = m.group(1) if m.group(1) is not None else m.group(2)
        props = node.get("properties") if isinstance(node, dict) else None
        if isinstance(props, dict) and name in props:
            out, node = (f"{out}.{name}" if out else name), props[name]
        elif isinstance(node, dict) and isinstance(node.get("additionalProperties"), dict):
            out, node = f"{out}[{name}]", node["additionalProperties"]
        else:
            out, node = (f"{out}.{name}" if out else name), None
    return out


# --- values as CEL sees them ------------------------------------------------------------


def _escape(name: str) -> str | None:
    """Upstream's property-name escaping (``cel.Escape``); None for a name CEL cannot reach."""
    if name in _RESERVED:
        return f"__{name}__"
    if not _ESCAPABLE.fullmatch(name):
        return None
    return (name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__")
            .replace("/", "__slash__"))


def to_cel(value: Any, sch: Any, *, resource_root: bool = False) -> Any:
    """A JSON value as CEL sees it under schema ``sch``: numbers typed by the schema,
    property names escaped, and at a resource's root only ``metadata.name`` and
    ``metadata.generateName`` (upstream's ``WithTypeAndObjectMeta``)."""
    sch = sch if isinstance(sch, dict) else {}
    if value is None:
        return None
    t = sch.get("type")
    if isinstance(value, dict):
        props = sch.get("properties") if isinstance(sch.get("properties"), dict) else {}
        additional = sch.get("additionalProperties")
        out: dict[Any, Any] = {}
        for key, sub in value.items():
            if resource_root and key in ("apiVersion", "kind", "metadata"):
                if key == "metadata" and isinstance(sub, dict):
                    sub = {k: sub[k] for k in ("name", "generateName") if k in sub}
                out[celtypes.StringType(key)] = celpy.json_to_cel(sub)
            elif key in props:
                escaped = _escape(key)
                if escaped is not None:
                    child = props[key]
                    embedded = isinstance(child, dict) and child.get("x-kubernetes-embedded-resource") is True
                    out[celtypes.StringType(escaped)] = to_cel(sub, child, resource_root=embedded)
            else:
                out[celtypes.StringType(key)] = to_cel(sub, additional)
        return celtypes.MapType(out)
    if isinstance(value, list):
        return celtypes.ListType([to_cel(v, sch.get("items")) for v in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if t == "number" and isinstance(value, (int, float)):
        return celtypes.DoubleType(float(value))
    if isinstance(value, float) and (t == "integer" or value.is_integer() and t != "number"):
        return celtypes.IntType(int(value))
    if isinstance(value, str) and t == "string":
        fmt = sch.get("format")
        try:
            if fmt == "duration":
                return celtypes.DurationType(value)
            if fmt in ("date-time", "datetime"):
                return celtypes.TimestampType(value)
            if fmt == "date":
                day = datetime.date.fromisoformat(value)
                return celtypes.TimestampType(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC))
            if fmt == "byte":
                return celtypes.BytesType(base64.b64decode(value, validate=True))
        except ValueError:  # the schema's format check reports it
            return celtypes.StringType(value)
    return celpy.json_to_cel(value)


# --- evaluation -------------------------------------------------------------------------


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _rule_text(rule: Obj) -> str:
    """Upstream's ruleErrorString: the message when there is one, else the rule."""
    message = rule.get("message")
    return message.strip() if isinstance(message, str) and message.strip() else str(rule.get("rule", "")).strip()


@dataclass
class _Walk:
    out: list[errors.Cause]
    skipped: Skipped | None


class Validator:
    """The compiled rules of one served version; ``validate`` runs them on an object."""

    def __init__(self, root: Schema | None) -> None:
        self.root = build(root)

    def validate(self, obj: Obj, old: Obj | None = None, *, skipped: Skipped | None = None) -> list[errors.Cause]:
        """Causes for the rules ``obj`` breaks; ``old`` is the stored object on updates."""
        if self.root is None:
            return []
        walk = _Walk(out=[], skipped=skipped)
        _validate(self.root, obj, old, "", unchanged=False, walk=walk)
        return walk.out


def _validate(node: Node, value: Any, old: Any, path: str, *, unchanged: bool, walk: _Walk) -> None:
    if value is None:
        return
    # on updates, a correlated value equal to its old self is not held to new rules (ratcheting)
    unchanged = unchanged or (old is not None and old == value)
    if node.rules and not (unchanged and not node.transitions):
        _run_rules(node, value, old, path, unchanged=unchanged, walk=walk)
    if unchanged and not node.transitions:
        return
    for sub in node.all_of:
        _validate(sub, value, old, path, unchanged=unchanged, walk=walk)
    if isinstance(value, dict):
        correlates = isinstance(old, dict) and node.schema.get("x-kubernetes-map-type") != "atomic"
        for key, sub_value in value.items():
            child = node.properties.get(key)
            sub_path = _child(path, key)
            if child is None and key not in (node.schema.get("properties") or {}):
                child, sub_path = node.additional, f"{path}[{key}]"
            if child is not None:
                _validate(child, sub_value, old.get(key) if correlates else None, sub_path,
                          unchanged=unchanged, walk=walk)
    elif isinstance(value, list) and node.items is not None:
        keyed = _old_items(node.schema, old)
        for i, item in enumerate(value):
            old_item = keyed.get(_item_key(node.schema, item)) if keyed else None
            _validate(node.items, item, old_item, f"{path}[{i}]", unchanged=unchanged, walk=walk)


def _item_key(sch: Schema, item: Any) -> str:
    keys = sch.get("x-kubernetes-list-map-keys") or []
    return json.dumps([item.get(k) for k in keys] if isinstance(item, dict) else None, sort_keys=True)


def _old_items(sch: Schema, old: Any) -> dict[str, Any]:
    """Old elements of a map list by their keys; nothing for lists that do not correlate."""
    if sch.get("x-kubernetes-list-type") != "map" or not isinstance(old, list):
        return {}
    return {_item_key(sch, item): item for item in old}


def _run_rules(node: Node, value: Any, old: Any, path: str, *, unchanged: bool, walk: _Walk) -> None:
    activation: dict[str, Any] | None = None
    for rule in node.rules:
        compiled = rule.compiled
        optional_old = rule.source.get("optionalOldSelf") is True
        if compiled.uses_old_self:
            if old is None and not optional_old:
                continue  # transition rules need an old value (skipped on create)
        elif unchanged:
            continue
        if compiled.program is None:
            if walk.skipped is not None:
                walk.skipped(str(rule.source.get("rule")), compiled.unsupported or compiled.error)
            continue
        if activation is None:
            activation = {"self": to_cel(value, node.schema, resource_root=node.resource_root)}
            if old is not None:
                activation["oldSelf"] = to_cel(old, node.schema, resource_root=node.resource_root)
        bindings = activation
        if optional_old:
            bindings = {"self": activation["self"],
                        "oldSelf": celext.Optional(activation.get("oldSelf"), present="oldSelf" in activation)}
        outcome = _evaluate(compiled, bindings)
        if outcome is True:
            continue
        if isinstance(outcome, str):  # celpy cannot run it, or upstream would have refused it
            if walk.skipped is not None:
                walk.skipped(str(rule.source.get("rule")), outcome)
            continue
        field_path = _child(path, rule.field_path) if rule.field_path else path
        if isinstance(outcome, _DataError):
            walk.out.append(errors.Cause("FieldValueInvalid", f"Invalid value: {_go_quote(node.type_name)}: "
                                         f"{outcome.detail} evaluating rule: {_rule_text(rule.source)}",
                                         path or ROOT_PATH))
            continue
        walk.out.append(_failure(node, rule, bindings, field_path or ROOT_PATH))


@dataclass(frozen=True)
class _DataError:
    """An evaluation error upstream reports too (a missing key, a division by zero ...)."""

    detail: str


_MISSING_KEY: Final = re.compile(r"no such member in mapping: '([^']*)'")


def _evaluate(compiled: Compiled, bindings: dict[str, Any]) -> bool | str | _DataError:
    """True when the rule holds, False when not, a _DataError for an error upstream reports,
    or a string saying why celpy could not judge."""
    try:
        result = compiled.program.evaluate(bindings)
    except celpy.CELEvalError as exc:
        text = str(exc.args[0]) if exc.args else ""
        missing = _MISSING_KEY.search(text)
        if missing:
            return _DataError(f"no such key: {missing.group(1)}")
        if "divide by zero" in text:
            return _DataError("division by zero")
        if text.startswith("invalid_argument"):
            return _DataError("index out of bounds")
        undeclared = re.match(r"undeclared reference to '([^']*)'", text)
        if undeclared:
            return f"undeclared reference to {undeclared.group(1)!r} (a function kubelite lacks)"
        return text.split(" (in activation", 1)[0][:200] or type(exc).__name__
    except Exception as exc:  # celpy's own failures must never reach the user as a 500
        return f"{type(exc).__name__}: {exc}"[:200]
    if isinstance(result, celtypes.BoolType) or isinstance(result, bool):
        return bool(result)
    return f"the rule evaluated to {type(result).__name__}, not a bool"


def _message(rule: Rule, bindings: dict[str, Any]) -> str:
    if rule.message_expression is not None and rule.message_expression.program is not None:
        try:
            result = rule.message_expression.program.evaluate(bindings)
        except Exception:  # upstream falls back to the message too (and logs at V(2))
            result = None
        if isinstance(result, str) and result.strip() and "\n" not in result.strip():
            return result.strip()
    message = rule.source.get("message")
    if isinstance(message, str) and message.strip():
        return message.strip()
    return f"failed rule: {str(rule.source.get('rule', '')).strip()}"


def _failure(node: Node, rule: Rule, bindings: dict[str, Any], path: str) -> errors.Cause:
    detail = _message(rule, bindings)
    shown = _go_quote(node.type_name)
    reason = rule.source.get("reason")
    if reason == "FieldValueForbidden":
        return errors.Cause("FieldValueForbidden", f"Forbidden: {detail}", path)
    if reason == "FieldValueRequired":
        return errors.Cause("FieldValueRequired", f"Required value: {detail}", path)
    if reason == "FieldValueDuplicate":
        return errors.Cause("FieldValueDuplicate", f"Duplicate value: {shown}", path)
    return errors.Cause("FieldValueInvalid", f"Invalid value: {shown}: {detail}", path)
