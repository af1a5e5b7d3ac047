"""Custom resources against their CRD's ``openAPIV3Schema``: validation, pruning, defaulting.

``kubelite.apiserver.crds`` calls these on every write of a custom resource, in upstream's
order: ``prune`` (drop fields the schema does not declare, unless
``x-kubernetes-preserve-unknown-fields``), ``apply_defaults`` (the schema's ``default:``
values), then ``validate`` (types, required, enum, pattern, bounds, lengths, item counts,
formats, ``nullable``, ``x-kubernetes-int-or-string``, allOf/anyOf/oneOf/not).
``structural_problems`` checks a CRD's schema when the CRD itself is written.

Schemas are plain dicts as they appear in the CRD. Messages follow the apiextensions
validator (go-openapi wording behind field errors), because users search for them::

    spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"
    spec.color: Unsupported value: "pink": supported values: "red", "blue"
    spec.size: Required value

Paths use dots, with array indices as segments (``spec.items.0.name``), as upstream's
validator names them.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import re
import uuid
from typing import Any, Final

from kubelite.api import errors, goregex, schema

Obj = dict[str, Any]
Schema = dict[str, Any]

_ROOT_KEEP: Final = ("apiVersion", "kind", "metadata")
_TYPES: Final = ("object", "array", "string", "integer", "number", "boolean")
_OBJECT_META_FIELDS: frozenset[str] | None = None


# --- helpers ----------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    """The JSON type name go-openapi reports for a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shown(value: Any) -> str:
    """A value as Go's field errors print it: strings quoted, numbers bare, JSON otherwise."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, separators=(",", ":"))


def _num(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _invalid(path: str, value: Any, detail: str) -> errors.Cause:
    return errors.Cause("FieldValueInvalid", f"Invalid value: {_shown(value)}: {detail}", path)


def _type_invalid(path: str, value: Any, detail: str) -> errors.Cause:
    return errors.Cause("FieldValueTypeInvalid", f"Invalid value: {_shown(value)}: {detail}", path)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _object_meta_fields() -> frozenset[str]:
    global _OBJECT_META_FIELDS
    if _OBJECT_META_FIELDS is None:
        node = schema.definition_node(schema.OBJECT_META)
        _OBJECT_META_FIELDS = node.field_names if node is not None else frozenset()
    return _OBJECT_META_FIELDS


def node(openapi_v3_schema: Schema | None) -> schema.Node:
    """The walkable node of a CRD version's schema (for strict field validation)."""
    return schema.Node.from_openapi_v3_schema(openapi_v3_schema or {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True})


# --- pruning ----------------------------------------------------------------------------


def prune(obj: Obj, root: Schema | None) -> None:
    """Drop, in place, every field ``root`` does not declare (upstream's structural pruning).

    ``apiVersion``, ``kind`` and ``metadata`` always stay at the root; ``metadata`` keeps
    only ObjectMeta's fields.
    """
    if root is None:
        return
    md = obj.get("metadata")
    if isinstance(md, dict):
        known = _object_meta_fields()
        if known:
            for key in [k for k in md if k not in known]:
                del md[key]
    _prune(obj, root, is_root=True)


def _prune(value: Any, sch: Schema, *, is_root: bool = False) -> None:
    if isinstance(value, dict):
        props = sch.get("properties")
        additional = sch.get("additionalProperties")
        embedded = sch.get("x-kubernetes-embedded-resource") is True
        if isinstance(props, dict) and props or not isinstance(additional, dict):
            preserve = sch.get("x-kubernetes-preserve-unknown-fields") is True or additional is True
            props = props if isinstance(props, dict) else {}
            for key in list(value):
                if (is_root or embedded) and key in _ROOT_KEEP:
                    continue
                child = props.get(key)
                if child is None:
                    if not preserve:
                        del value[key]
                    continue
                _prune(value[key], child)
        else:
            for sub in value.values():
                _prune(sub, additional)
    elif isinstance(value, list):
        items = sch.get("items")
        if isinstance(items, dict):
            for sub in value:
                _prune(sub, items)


# --- defaulting -------------------------------------------------------------------------


def apply_defaults(obj: Obj, root: Schema | None) -> None:
    """Fill in, in place, the schema's ``default:`` values where a field is absent (or a
    null that the schema does not allow), inside objects that are present."""
    if root is not None:
        _default(obj, root)


def _default(value: Any, sch: Schema) -> None:
    if isinstance(value, dict):
        props = sch.get("properties")
        if isinstance(props, dict):
            for key, child in props.items():
                if not isinstance(child, dict):
                    continue
                if "default" in child and (key not in value or value[key] is None and not child.get("nullable")):
                    value[key] = copy.deepcopy(child["default"])
                if key in value:
                    _default(value[key], child)
        additional = sch.get("additionalProperties")
        if isinstance(additional, dict):
            for sub in value.values():
                _default(sub, additional)
    elif isinstance(value, list):
        items = sch.get("items")
        if isinstance(items, dict):
            for sub in value:
                _default(sub, items)


# --- validation -------------------------------------------------------------------------


def validate(obj: Obj, root: Schema | None) -> list[errors.Cause]:
    """Causes for every way ``obj`` breaks ``root`` (metadata is validated elsewhere)."""
    if root is None:
        return []
    body = {k: v for k, v in obj.items() if k not in _ROOT_KEEP}
    root = dict(root)
    props = root.get("properties")
    if isinstance(props, dict):
        root["properties"] = {k: v for k, v in props.items() if k not in _ROOT_KEEP}
    root["required"] = [r for r in root.get("required") or () if r not in _ROOT_KEEP]
    out: list[errors.Cause] = []
    _validate(body, root, "", out)
    return out


def _type_ok(value: Any, want: str) -> bool:
    got = _json_type(value)
    if want == "number":
        return got in ("integer", "number")
    return got == want


def _validate(value: Any, sch: Schema, path: str, out: list[errors.Cause]) -> None:
    if not isinstance(sch, dict):
        return
    name = path or "body"
    if value is None:
        if sch.get("nullable") is True or not sch.get("type"):
            return
        out.append(_type_invalid(path, "null", f"{name} in body must be of type {sch['type']}: \"null\""))
        return
    int_or_string = sch.get("x-kubernetes-int-or-string") is True
    want = sch.get("type")
    if int_or_string:
        if _json_type(value) not in ("integer", "string"):
            got = _json_type(value)
            out.append(_type_invalid(path, got, f'{name} in body must be of type integer,string: "{got}"'))
            return
    elif want in _TYPES and not _type_ok(value, want):
        got = _json_type(value)
        out.append(_type_invalid(path, got, f'{name} in body must be of type {want}: "{got}"'))
        return
    _check_enum(value, sch, path, out)
    if isinstance(value, str):
        _check_string(value, sch, path, name, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, sch, path, name, out)
    elif isinstance(value, list):
        _check_array(value, sch, path, name, out)
    elif isinstance(value, dict):
        _check_object(value, sch, path, name, out)
    _check_combinators(value, sch, path, name, out)


def _check_enum(value: Any, sch: Schema, path: str, out: list[errors.Cause]) -> None:
    enum = sch.get("enum")
    if isinstance(enum, list) and enum and value not in enum:
        allowed = [e if isinstance(e, str) else json.dumps(e) for e in enum]
        quoted = ", ".join(json.dumps(a) for a in allowed)
        out.append(errors.Cause("FieldValueNotSupported",
                                f"Unsupported value: {_shown(value)}: supported values: {quoted}", path))


_FORMATS: Final = {
    "date-time": lambda s: _parse_datetime(s),
    "datetime": lambda s: _parse_datetime(s),
    "date": lambda s: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", s)) and _parse_date(s),
    "uuid": lambda s: _parse_uuid(s),
    "byte": lambda s: _parse_base64(s),
    "int-or-string": lambda s: True,
    "email": lambda s: bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", s)),
    "hostname": lambda s: bool(re.fullmatch(
        r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*", s)),
    "ipv4": lambda s: bool(re.fullmatch(
        r"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)", s)),
}


def _parse_datetime(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return "T" in text.upper()
    except ValueError:
        return False


def _parse_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _parse_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def _parse_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
        return True
    except ValueError:
        return False


def _check_string(value: str, sch: Schema, path: str, name: str, out: list[errors.Cause]) -> None:
    max_len = sch.get("maxLength")
    if isinstance(max_len, int) and len(value) > max_len:
        unit = "byte" if max_len == 1 else "bytes"
        out.append(errors.Cause("FieldValueTooLong", f"Too long: may not be more than {max_len} {unit}", path))
    min_len = sch.get("minLength")
    if isinstance(min_len, int) and len(value) < min_len:
        out.append(_invalid(path, value, f"{name} in body should be at least {min_len} chars long"))
    pattern = sch.get("pattern")
    if isinstance(pattern, str):
        try:
            matched = goregex.compile(pattern).search(value) is not None
        except re.error:
            matched = True  # the CRD's own validation reports a bad pattern
        if not matched:
            out.append(_invalid(path, value, f"{name} in body should match '{pattern}'"))
    fmt = sch.get("format")
    check = _FORMATS.get(fmt) if isinstance(fmt, str) else None
    if check is not None and not check(value):
        out.append(_type_invalid(path, value, f"{name} in body must be of type {fmt}: {json.dumps(value)}"))


def _check_number(value: float, sch: Schema, path: str, name: str, out: list[errors.Cause]) -> None:
    maximum = sch.get("maximum")
    if isinstance(maximum, (int, float)):
        if sch.get("exclusiveMaximum") is True and value >= maximum:
            out.append(_invalid(path, value, f"{name} in body should be less than {_num(maximum)}"))
        elif value > maximum:
            out.append(_invalid(path, value, f"{name} in body should be less than or equal to {_num(maximum)}"))
    minimum = sch.get("minimum")
    if isinstance(minimum, (int, float)):
        if sch.get("exclusiveMinimum") is True and value <= minimum:
            out.append(_invalid(path, value, f"{name} in body should be greater than {_num(minimum)}"))
        elif value < minimum:
            out.append(_invalid(path, value, f"{name} in body should be greater than or equal to {_num(minimum)}"))
    multiple = sch.get("multipleOf")
    if isinstance(multiple, (int, float)) and multiple > 0:
        ratio = value / multiple
        if abs(ratio - round(ratio)) > 1e-9:
            out.append(_invalid(path, value, f"{name} in body should be a multiple of {_num(multiple)}"))
    fmt = sch.get("format")
    if fmt == "int32" and isinstance(value, int) and not -(2**31) <= value < 2**31:
        out.append(_invalid(path, value, f"{name} in body must be of type int32: {_shown(value)}"))


def _check_array(value: list[Any], sch: Schema, path: str, name: str, out: list[errors.Cause]) -> None:
    max_items = sch.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        out.append(errors.Cause("FieldValueTooMany",
                                f"Too many: {len(value)}: must have at most {max_items} items", path))
    min_items = sch.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        out.append(_invalid(path, len(value), f"{name} in body should have at least {min_items} items"))
    list_type = sch.get("x-kubernetes-list-type")
    if sch.get("uniqueItems") is True or list_type == "set":
        seen: list[str] = []
        for i, item in enumerate(value):
            key = json.dumps(item, sort_keys=True)
            if key in seen:
                if list_type == "set":
                    out.append(errors.duplicate(_join(path, str(i)), item))
                else:
                    out.append(_invalid(path, value, f"{name} in body shouldn't contain duplicates"))
                    break
            seen.append(key)
    elif list_type == "map":
        keys = sch.get("x-kubernetes-list-map-keys") or []
        seen_keys: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            ident = json.dumps([item.get(k) for k in keys])
            if ident in seen_keys:
                shown = {k: item.get(k) for k in keys}
                out.append(errors.Cause("FieldValueDuplicate",
                                        f"Duplicate value: {json.dumps(shown, separators=(',', ':'))}",
                                        _join(path, str(i))))
            seen_keys.append(ident)
    items = sch.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _validate(item, items, _join(path, str(i)), out)


def _check_object(value: Obj, sch: Schema, path: str, name: str, out: list[errors.Cause]) -> None:
    for req in sch.get("required") or ():
        if req not in value:
            out.append(errors.required(_join(path, req)))
    max_props = sch.get("maxProperties")
    if isinstance(max_props, int) and len(value) > max_props:
        out.append(errors.Cause("FieldValueTooMany",
                                f"Too many: {len(value)}: must have at most {max_props} items", path))
    min_props = sch.get("minProperties")
    if isinstance(min_props, int) and len(value) < min_props:
        out.append(_invalid(path, len(value), f"{name} in body should have at least {min_props} properties"))
    raw_props = sch.get("properties")
    props: Schema = raw_props if isinstance(raw_props, dict) else {}
    additional = sch.get("additionalProperties")
    embedded = sch.get("x-kubernetes-embedded-resource") is True
    for key, sub in value.items():
        if embedded and key in _ROOT_KEEP:
            continue
        child = props.get(key)
        if child is not None:
            _validate(sub, child, _join(path, key), out)
        elif isinstance(additional, dict):
            _validate(sub, additional, _join(path, key), out)


def _check_combinators(value: Any, sch: Schema, path: str, name: str, out: list[errors.Cause]) -> None:
    for sub in sch.get("allOf") or ():
        _validate(value, sub, path, out)
    any_of = sch.get("anyOf")
    if isinstance(any_of, list) and any_of and all(_errors_of(value, sub, path) for sub in any_of):
        out.append(_invalid(path, value, f"{name} in body must validate at least one schema (anyOf)"))
    one_of = sch.get("oneOf")
    if isinstance(one_of, list) and one_of:
        passing = sum(1 for sub in one_of if not _errors_of(value, sub, path))
        if passing != 1:
            out.append(_invalid(path, value, f"{name} in body must validate one and only one schema (oneOf)"))
    not_ = sch.get("not")
    if isinstance(not_, dict) and not _errors_of(value, not_, path):
        out.append(_invalid(path, value, f"{name} in body must not validate the schema (not)"))


def _errors_of(value: Any, sch: Schema, path: str) -> list[errors.Cause]:
    found: list[errors.Cause] = []
    _validate(value, sch, path, found)
    return found


# --- the CRD's own schema ---------------------------------------------------------------


def structural_problems(root: Any, path: str) -> list[errors.Cause]:
    """Causes that make a CRD version's ``openAPIV3Schema`` unusable (a light structural check)."""
    out: list[errors.Cause] = []
    if not isinstance(root, dict):
        return [_invalid(path, root, "must be an object")]
    if root.get("type") not in (None, "object"):
        out.append(_invalid(_join(path, "type"), root.get("type"), 'must be object at the root'))
    _structural(root, path, out, is_root=True)
    return out


def _structural(sch: Schema, path: str, out: list[errors.Cause], *, is_root: bool = False) -> None:
    t = sch.get("type")
    if t is not None and t not in _TYPES:
        out.append(errors.not_supported(_join(path, "type"), t, list(_TYPES)))
    special = sch.get("x-kubernetes-int-or-string") is True or sch.get("x-kubernetes-preserve-unknown-fields") is True
    if not t and not special and not is_root and ("properties" in sch or "items" in sch):
        out.append(errors.Cause("FieldValueRequired", "Required value: must not be empty for specified "
                                f"{'object' if 'properties' in sch else 'array'} fields", _join(path, "type")))
    pattern = sch.get("pattern")
    if isinstance(pattern, str):
        try:
            goregex.compile(pattern)
        except re.error as exc:
            # Unicode classes (\pL, \p{Greek}) are valid RE2 that Python's re lacks: accept
            # them (objects are then not checked against the pattern) rather than refuse the CRD
            if not goregex.has_unicode_classes(pattern):
                out.append(_invalid(_join(path, "pattern"), pattern,
                                    f"must be a valid regular expression, but isn't: {exc}"))
    if t == "array" and not isinstance(sch.get("items"), dict):
        out.append(errors.Cause("FieldValueRequired", "Required value: must be specified", _join(path, "items")))
    props = sch.get("properties")
    if isinstance(props, dict):
        for key, child in props.items():
            if isinstance(child, dict):
                _structural(child, f"{path}.properties[{key}]", out)
    items = sch.get("items")
    if isinstance(items, dict):
        _structural(items, f"{path}.items", out)
    additional = sch.get("additionalProperties")
    if isinstance(additional, dict):
        if isinstance(props, dict) and props:
            out.append(errors.forbidden_field(_join(path, "additionalProperties"),
                                              "additionalProperties and properties are mutual exclusive"))
        _structural(additional, f"{path}.additionalProperties", out)
