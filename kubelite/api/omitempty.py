"""Built-in objects as kube-apiserver stores them: Go's ``omitempty`` applied.

Upstream decodes every body into its Go struct and encodes that struct again to store and
answer it, so a zero value in a field tagged ``omitempty`` is gone: ``annotations: {}``,
``env: []``, ``readOnly: false``, ``readyReplicas: 0``, ``name: ""``, a null pointer. What
stays: Go pointers (``replicas: 0``, ``emptyDir: {}``, ``optional: false``), fields
without ``omitempty`` (``restartCount: 0``, ``containers: []``) and non-pointer structs,
which ``encoding/json`` never omits (``resources: {}``, ``status: {}``; a non-pointer
``metav1.Time`` is ``null`` when zero, as in pod conditions' ``lastProbeTime``). The one
``omitzero`` field, ``metadata.creationTimestamp`` (upstream since 1.34), goes when null:
kubectl's older ``creationTimestamp: null`` in pod templates is not stored.

The knowledge of which field is which comes from the protobuf tables
(``kubelite.api.protobuf.messages``: ``!`` = pointer or no ``omitempty``, ``^`` =
embedded struct), written from upstream's ``types.go``; each message is compiled once into
a plan, json name → rule. Kinds without a table and custom resources are not touched, nor
is any field a table does not know.

Callers: ``kubelite.apiserver.handlers`` normalizes every built-in object a request
writes (create and update bodies, the results of patches and server-side apply), right
where it drops unknown fields, so what is stored, answered and compared for generation
bumps is what upstream would store; ``kubelite.apiserver.registry`` normalizes a copy of
an object stored before this existed when it compares specs. The walk is skipped for
top-level fields proven free of zero values (``zero_free``, memoized per section by
``kubelite.api.fieldvalidation``): a pod create from a template pays well under 1 µs for
it, where walking the pod costs 10-25 µs (the 2-core development machine, under load).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, Final

from kubelite.api.protobuf import messages

Obj = dict[str, Any]


class Rule(enum.Enum):
    """What Go's encoding does with one field's zero value."""

    OMIT = "omit"  # omitempty scalar, list or map: "", 0, false, [], {}, null are dropped
    KEEP = "keep"  # pointer or no omitempty: only null is dropped (a nil pointer)
    STRUCT = "struct"  # non-pointer struct: always there; null decodes to {}
    POINTER = "pointer"  # pointer to a struct: null is dropped, {} stays
    OMIT_ZERO = "omitzero"  # creationTimestamp: null (the zero Time) is dropped
    AS_IS = "as-is"  # non-pointer Time, Quantity, IntOrString, RawExtension: kept, null too


# A field's rule, and the plan of the messages it holds (a struct, a list's items, a
# map's values), None when it holds scalars.
Plan = dict[str, tuple[Rule, "Plan | None"]]

# upstream's only ``omitzero`` tag in the built-in types (apimachinery, Kubernetes 1.34+)
_OMITZERO: Final = frozenset({("meta/v1.ObjectMeta", "creationTimestamp")})

_PLANS: dict[str, Plan] = {}
_ROOTS: dict[tuple[str, str, str], Plan | None] = {}


def plan_for(group: str, version: str, kind: str) -> Plan | None:
    """The plan of a built-in kind (``apps``, ``v1``, ``Deployment``); None when no table
    describes it (custom resources, kinds the tables do not cover)."""
    key = (group, version, kind)
    try:
        return _ROOTS[key]
    except KeyError:
        pass
    package = messages.API_VERSIONS.get(f"{group}/{version}" if group else version)
    plan: Plan | None = None
    if package is not None:
        try:
            plan = _plan(messages.message(f"{package}.{kind}"))
        except KeyError:
            plan = None
    _ROOTS[key] = plan
    return plan


def _plan(msg: messages.Message) -> Plan:
    held = _PLANS.get(msg.name)
    if held is not None:
        return held
    plan: Plan = {}
    _PLANS[msg.name] = plan  # before the fields: a message may (indirectly) hold itself
    for field in msg.fields.values():
        inner = None
        if field.type not in messages.SCALARS and field.type not in messages.SPECIALS:
            sub = messages.message(field.type)
            # a wrapped slice (ExtraValue) is a list of strings in JSON: nothing inside
            inner = None if sub.unwrap else _plan(sub)
        if field.inline:
            assert inner is not None  # the tables only inline messages
            plan.update(inner)  # embedded: its fields are the parent's JSON fields
            continue
        plan[field.name] = (_rule(msg.name, field, holds_message=inner is not None), inner)
    return plan


def _rule(owner: str, field: messages.Field, *, holds_message: bool) -> Rule:
    if field.shape is not messages.Shape.SINGLE:
        return Rule.KEEP if field.keep_zero else Rule.OMIT
    if (owner, field.name) in _OMITZERO:
        return Rule.OMIT_ZERO
    if field.type in messages.SPECIALS:
        return Rule.KEEP if field.keep_zero else Rule.AS_IS
    if holds_message:
        return Rule.POINTER if field.keep_zero else Rule.STRUCT
    return Rule.KEEP if field.keep_zero else Rule.OMIT


def normalize(obj: Obj, plan: Plan, *, keys: Iterable[str] | None = None) -> bool:
    """Drop, in place, what Go's encoding of ``obj`` would omit; True if anything changed.
    With ``keys``, only those top-level fields are looked at (the others are known to hold
    no zero value: the third result of ``fieldvalidation.inspect``).

    Runs after field validation: values of the wrong JSON type were refused before."""
    changed = False
    dropped: list[str] = []
    items = obj.items() if keys is None else [(key, obj[key]) for key in keys if key in obj]
    for key, value in items:
        entry = plan.get(key)
        if entry is None:
            continue  # apiVersion, kind, or a field the table does not know
        rule, inner = entry
        if value is None:
            if rule is Rule.STRUCT:
                obj[key] = {}  # replacing a value keeps the iteration valid
                changed = True
            elif rule is not Rule.AS_IS:
                dropped.append(key)
            continue
        if rule is Rule.OMIT:
            if not value:  # "", 0, false, [], {}
                dropped.append(key)
                continue
        elif rule is Rule.OMIT_ZERO:
            if value == "":
                dropped.append(key)
            continue
        if inner is None:
            continue
        if isinstance(value, list):  # a list of messages
            for item in value:
                if isinstance(item, dict):
                    changed = normalize(item, inner) or changed
        elif isinstance(value, dict):
            if rule is Rule.STRUCT or rule is Rule.POINTER:
                changed = normalize(value, inner) or changed
            else:  # a map of messages
                for item in value.values():
                    if isinstance(item, dict):
                        changed = normalize(item, inner) or changed
    for key in dropped:
        del obj[key]
    return changed or bool(dropped)


# Marks of a zero value in compact JSON: an empty string, map or list anywhere, a field's
# false, null or number starting with 0 (``0.5`` too: a false alarm costs only a walk).
_ZERO_MARKS: Final = (b'""', b"{}", b"[]", b'":false', b'":null', b'":0', b'":-0')


def zero_free(compact: bytes) -> bool:
    """True when ``compact``, JSON without whitespace between its tokens (orjson's), holds
    no zero value at all, so ``normalize`` would change nothing in what it decodes to.
    False means "not proven": a label value ``""`` or a pointer's ``0`` are zero values
    that stay. ``kubelite.api.fieldvalidation`` keeps this verdict per section in its memo."""
    for mark in _ZERO_MARKS:
        if mark in compact:
            return False
    return True
