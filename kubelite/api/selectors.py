"""Label selectors: parsing, matching, and ``metav1.LabelSelector`` objects.

Pure functions, no I/O. The API server parses ``?labelSelector=`` with
``parse_label_selector`` and filters lists and watch events with ``LabelSelector.matches``
(field selectors are in ``kubelite.api.fieldselectors``). Controllers and the scheduler
turn a workload's ``spec.selector`` into a matcher with ``from_selector_dict``; the scale
subresource prints it with ``selector_to_string``.

Grammar, error texts and canonical string forms follow upstream's
``apimachinery/pkg/labels/selector.go``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubelite.api import errors, meta

# Operators, spelled as upstream's selection.Operator values (they show up in messages).
EXISTS, DOES_NOT_EXIST = "exists", "!"
EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN, GREATER_THAN, LESS_THAN = "in", "notin", "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``key <op> values`` term of a label selector."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        op = self.operator
        if op in (EQUALS, DOUBLE_EQUALS, IN):
            value = labels.get(self.key)
            return value is not None and value in self.values
        if op in (NOT_EQUALS, NOT_IN):
            value = labels.get(self.key)
            return value is None or value not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            value = labels.get(self.key)
            if value is None:
                return False
            try:
                have, want = int(value), int(self.values[0])
            except (ValueError, IndexError):
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({values})"
        sym = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{sym}{values}"


def _requirement_errors(key: str, op: str, values: tuple[str, ...]) -> list[str]:
    """Upstream NewRequirement's checks, each rendered as a field error string."""
    errs: list[str] = []
    for msg in meta.is_qualified_name(key):
        errs.append(f"key: Invalid value: {meta.fmt_value(key)}: {msg}")
    shown = meta.fmt_value(list(values))
    if op in (IN, NOT_IN):
        if not values:
            errs.append(f"values: Invalid value: {shown}: for 'in', 'notin' operators, values set can't be empty")
    elif op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(values) != 1:
            errs.append(f"values: Invalid value: {shown}: exact-match compatibility requires one single value")
    elif op in (EXISTS, DOES_NOT_EXIST):
        if values:
            errs.append(f"values: Invalid value: {shown}: values set must be empty for exists and does not exist")
    elif op in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(f"values: Invalid value: {shown}: for 'Gt', 'Lt' operators, exactly one value is required")
        for i, v in enumerate(values):
            try:
                int(v)
            except ValueError:
                errs.append(f"values[{i}]: Invalid value: {meta.fmt_value(v)}: "
                            "for 'Gt', 'Lt' operators, the value must be an integer")
    else:
        allowed = ", ".join(f'"{o}"' for o in (*_BINARY_OPERATORS, EXISTS, DOES_NOT_EXIST))
        errs.append(f"operator: Unsupported value: {meta.fmt_value(op)}: supported values: {allowed}")
    for i, v in enumerate(values):
        for msg in meta.is_label_value(v):
            errs.append(f"values[{i}][{key}]: Invalid value: {meta.fmt_value(v)}: {msg}")
    return errs


def _aggregate(errs: list[str]) -> str:
    unique = list(dict.fromkeys(errs))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


class LabelSelector:
    """A parsed label selector: an AND of requirements, or *nothing* (matches no object)."""

    __slots__ = ("nothing", "requirements")

    def __init__(self, requirements: list[Requirement] | tuple[Requirement, ...] = (), *,
                 nothing: bool = False) -> None:
        # sorted by key (stable) as upstream, for a deterministic string form
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self.nothing = nothing

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def match_nothing(cls) -> LabelSelector:
        return cls(nothing=True)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (matches every object)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: dict[str, str] | None) -> bool:
        if self.nothing:
            return False
        if not self.requirements:
            return True
        labels = labels or {}
        for req in self.requirements:
            if not req.matches(labels):
                return False
        return True

    def exact_value(self, key: str) -> str | None:
        """The one value ``key`` must have (``k=v``, ``k==v``, ``k in (v)``), else None."""
        for req in self.requirements:
            if req.key == key:
                if req.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(req.values) == 1:
                    return req.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return "LabelSelector(<nothing>)" if self.nothing else f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LabelSelector) and self.nothing == other.nothing
                and self.requirements == other.requirements)

    def __hash__(self) -> int:
        return hash((self.nothing, self.requirements))


# --- label selector lexer and parser (grammar of upstream labels.Parse) --------------

_ERROR, _EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(14)
_SYMBOLS = {")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT,
            "<": _LT, "!=": _NEQ, "(": _OPEN}
_KEYWORDS = {"in": _IN, "notin": _NOTIN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    items: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            items.append((_EOS, ""))
            return items
        ch = text[i]
        if ch in _SPECIAL:
            # longest run of symbol characters that still forms a known operator
            j, last, buf = i, None, ""
            while j < n and text[j] in _SPECIAL:
                buf += text[j]
                if buf in _SYMBOLS:
                    last = (j + 1, buf)
                elif last is not None:
                    break
                j += 1
            if last is None:
                items.append((_ERROR, f"error expected: keyword found '{buf}'"))
                i = j
            else:
                i, lit = last
                items.append((_SYMBOLS[lit], lit))
        else:
            j = i
            while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
                j += 1
            word = text[i:j]
            items.append((_KEYWORDS.get(word, _ID), word))
            i = j


class _ParseError(Exception):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def peek(self, values: bool) -> tuple[int, str]:
        tok, lit = self.items[self.pos]
        if values and tok in (_IN, _NOTIN):
            tok = _ID  # "in" and "notin" are plain words where a value is expected
        return tok, lit

    def take(self, values: bool) -> tuple[int, str]:
        item = self.peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.peek(True)
            if tok in (_ID, _NOT):
                try:
                    reqs.append(self.requirement())
                except _ParseError as exc:
                    raise _ParseError(f"unable to parse requirement: {exc}") from None
                tok, lit = self.take(True)
                if tok == _EOS:
                    return reqs
                if tok != _COMMA:
                    raise _ParseError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self.peek(True)
                if tok2 not in (_ID, _NOT):
                    raise _ParseError(f"found '{lit2}', expected: identifier after ','")
            elif tok == _EOS:
                return reqs
            else:
                raise _ParseError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        op = ""
        tok, lit = self.take(True)
        if tok == _NOT:
            op = DOES_NOT_EXIST
            tok, lit = self.take(True)
        if tok != _ID:
            raise _ParseError(f"found '{lit}', expected: identifier")
        key = lit
        key_errs = meta.is_qualified_name(key)
        if key_errs:
            # upstream passes a nil field path here, hence the "<nil>"
            raise _ParseError(f"<nil>: Invalid value: {meta.fmt_value(key)}: {'; '.join(key_errs)}")
        nxt, _ = self.peek(True)
        if nxt in (_EOS, _COMMA):
            op = op or EXISTS
        if op in (EXISTS, DOES_NOT_EXIST):
            return self.build(key, op, ())
        op = self.operator()
        values = self.value_set() if op in (IN, NOT_IN) else self.exact_value()
        return self.build(key, op, tuple(sorted(values)))

    @staticmethod
    def build(key: str, op: str, values: tuple[str, ...]) -> Requirement:
        errs = _requirement_errors(key, op, values)
        if errs:
            raise _ParseError(_aggregate(errs))
        return Requirement(key, op, values)

    def operator(self) -> str:
        tok, lit = self.take(False)
        ops = {_IN: IN, _EQ: EQUALS, _DEQ: DOUBLE_EQUALS, _GT: GREATER_THAN, _LT: LESS_THAN,
               _NOTIN: NOT_IN, _NEQ: NOT_EQUALS}
        if tok not in ops:
            raise _ParseError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return ops[tok]

    def value_set(self) -> set[str]:
        tok, lit = self.take(True)
        if tok != _OPEN:
            raise _ParseError(f"found '{lit}' expected: '('")
        tok, lit = self.peek(True)
        if tok in (_ID, _COMMA):
            values = self.identifiers()
            if self.take(True)[0] != _CLOSE:
                raise _ParseError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE:  # "()" is the set holding the empty string
            self.take(True)
            return {""}
        raise _ParseError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.take(True)
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.peek(True)
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise _ParseError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:  # empty entries ("(,a)", "(a,,b)", "(a,)") are empty strings
                if not values:
                    values.add("")
                tok2, _ = self.peek(True)
                if tok2 in (_CLOSE, _COMMA):
                    values.add("")
                if tok2 == _CLOSE:
                    return values
                continue
            raise _ParseError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        tok, _ = self.peek(True)
        if tok in (_EOS, _COMMA):
            return {""}
        tok, lit = self.take(True)
        if tok == _ID:
            return {lit}
        raise _ParseError(f"found '{lit}', expected: identifier")


_label_cache: dict[str, LabelSelector] = {}


def parse_label_selector(text: str) -> LabelSelector:
    """Parse ``?labelSelector=``; bad syntax, keys or values → ``errors.BadRequest``."""
    cached = _label_cache.get(text)
    if cached is not None:
        return cached
    try:
        selector = LabelSelector(_Parser(text).parse())
    except _ParseError as exc:
        raise errors.BadRequest(str(exc)) from None
    if len(_label_cache) > 1024:  # informers repeat a few selectors; keep the cache small
        _label_cache.clear()
    _label_cache[text] = selector
    return selector


# --- metav1.LabelSelector ------------------------------------------------------------

_EXPR_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def from_selector_dict(sel: dict[str, Any] | None) -> LabelSelector:
    """``metav1.LabelSelector`` → matcher, as upstream ``LabelSelectorAsSelector``:
    None matches nothing, ``{}`` matches everything. Invalid content → ``errors.BadRequest``
    (run ``validate_selector_dict`` first to get field causes instead)."""
    if sel is None:
        return LabelSelector.match_nothing()
    match_labels = sel.get("matchLabels") or {}
    exprs = sel.get("matchExpressions") or []
    if not match_labels and not exprs:
        return LabelSelector.everything()
    reqs: list[Requirement] = []
    errs: list[str] = []
    for k, v in match_labels.items():
        errs.extend(_requirement_errors(k, EQUALS, (v,)))
        reqs.append(Requirement(k, EQUALS, (v,)))
    for expr in exprs:
        op = _EXPR_OPERATORS.get(expr.get("operator", ""))
        if op is None:
            raise errors.BadRequest(f'"{expr.get("operator", "")}" is not a valid label selector operator')
        values = tuple(expr.get("values") or ())
        errs.extend(_requirement_errors(expr.get("key", ""), op, values))
        reqs.append(Requirement(expr.get("key", ""), op, values))
    if errs:
        raise errors.BadRequest(_aggregate(errs))
    return LabelSelector(reqs)


def validate_selector_dict(sel: dict[str, Any] | None, path: str) -> list[errors.Cause]:
    """Upstream ``ValidateLabelSelector``: field causes under ``path`` (e.g. ``spec.selector``)."""
    if sel is None:
        return []
    if not isinstance(sel, dict):
        return [meta.invalid(path, sel, "must be an object")]
    out = meta.validate_labels(sel.get("matchLabels"), path + ".matchLabels")
    for i, expr in enumerate(sel.get("matchExpressions") or []):
        p = f"{path}.matchExpressions[{i}]"
        op = expr.get("operator", "")
        values = expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                out.append(meta.required(p + ".values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                out.append(meta.forbidden(p + ".values",
                                          "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            out.append(meta.invalid(p + ".operator", op, "not a valid selector operator"))
        key = expr.get("key", "")
        for msg in meta.is_qualified_name(key):
            out.append(meta.invalid(p + ".key", key, msg))
        for j, v in enumerate(values):
            for msg in meta.is_label_value(v):
                out.append(meta.invalid(f"{p}.values[{j}]", v, msg))
    return out


def selector_to_string(sel: dict[str, Any] | None) -> str:
    """Canonical string of a ``metav1.LabelSelector`` (Scale ``status.selector``: ``app=nginx``)."""
    if sel is None:
        return ""
    try:
        return str(from_selector_dict(sel))
    except errors.StatusError:
        return ""
