"""Field selectors: parsing, matching and the per-resource selectable fields.

Pure functions, no I/O. The API server parses ``?fieldSelector=`` with
``parse_field_selector``, checks the fields with ``validate_field_selector`` (and maps old
spellings with ``normalize_field_selector``), and filters lists and watch events with
``FieldSelector.matches(object_fields(...))``; its watch cache uses
``FieldSelector.exact_value`` to serve ``spec.nodeName=X`` from an index.

Grammar, error texts and canonical string forms follow upstream's
``apimachinery/pkg/fields/selector.go``.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors


class FieldSelector:
    """A parsed field selector: an AND of ``field=value`` / ``field!=value`` terms."""

    __slots__ = ("requirements",)

    def __init__(self, requirements: list[tuple[str, str, str]] | None = None) -> None:
        # (field, op, value) with op "=" or "!=" ("==" is stored as "=", as upstream)
        self.requirements: list[tuple[str, str, str]] = requirements or []

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: dict[str, str]) -> bool:
        for field, op, value in self.requirements:
            if (fields.get(field, "") == value) != (op == "="):
                return False
        return True

    def fields(self) -> set[str]:
        return {f for f, _, _ in self.requirements}

    def exact_value(self, field: str) -> str | None:
        """The value ``field`` must equal (for index lookups), or None."""
        for f, op, value in self.requirements:
            if f == field and op == "=":
                return value
        return None

    def __str__(self) -> str:
        return ",".join(f"{f}{op}{escape_field_value(v)}" for f, op, v in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSelector) and self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(tuple(self.requirements))


def escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    if "\\" not in value and "," not in value and "=" not in value:
        return value
    out: list[str] = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise errors.BadRequest(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # upstream prints the rune as a number here
            raise errors.BadRequest(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise errors.BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start, in_slash = 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def parse_field_selector(text: str) -> FieldSelector:
    """Parse ``?fieldSelector=``: ``=``, ``==``, ``!=`` terms joined by commas, with
    ``\\,`` ``\\=`` ``\\\\`` escapes in values; bad syntax → ``errors.BadRequest``."""
    if not text:
        return FieldSelector()
    reqs: list[tuple[str, str, str]] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        for i in range(len(part)):
            # the first operator wins; at one position "!=" and "==" before "="
            if part.startswith("!=", i):
                lhs, op, rhs = part[:i], "!=", part[i + 2:]
                break
            if part.startswith("==", i):
                lhs, op, rhs = part[:i], "=", part[i + 2:]
                break
            if part[i] == "=":
                lhs, op, rhs = part[:i], "=", part[i + 1:]
                break
        else:
            raise errors.BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
        reqs.append((lhs, op, _unescape_field_value(rhs)))
    return FieldSelector(reqs)


# (group, plural) → fields a selector may use besides metadata.name / metadata.namespace
# (upstream AddFieldLabelConversionFunc in pkg/apis/*/v1/conversion.go).
FIELD_SELECTORS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                   "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                   "status.podIP", "status.podIPs", "status.nominatedNodeName"),
    ("", "events"): ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion",
                     "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                     "reportingComponent", "source", "type"),
    ("events.k8s.io", "events"): ("regarding.kind", "regarding.namespace", "regarding.name",
                                  "regarding.uid", "regarding.apiVersion",
                                  "regarding.resourceVersion", "regarding.fieldPath", "reason",
                                  "reportingController", "source", "type"),
    ("", "secrets"): ("type",),
    ("", "nodes"): ("spec.unschedulable",),
    ("", "namespaces"): ("status.phase",),
    ("", "services"): ("spec.clusterIP", "spec.type"),
    ("", "replicationcontrollers"): ("status.replicas",),
    ("batch", "jobs"): ("status.successful",),
}

# Upstream's conversion funcs for these cluster-scoped kinds accept only metadata.name.
_NO_NAMESPACE_FIELD = frozenset({("", "nodes"), ("", "namespaces")})

# Old or per-version spellings, mapped to the names object_fields produces.
_FIELD_ALIASES: dict[tuple[str, str], dict[str, str]] = {
    ("", "pods"): {"spec.host": "spec.nodeName"},
    ("events.k8s.io", "events"): {
        "regarding.kind": "involvedObject.kind",
        "regarding.namespace": "involvedObject.namespace",
        "regarding.name": "involvedObject.name",
        "regarding.uid": "involvedObject.uid",
        "regarding.apiVersion": "involvedObject.apiVersion",
        "regarding.resourceVersion": "involvedObject.resourceVersion",
        "regarding.fieldPath": "involvedObject.fieldPath",
        "reportingController": "reportingComponent",
    },
}


def supported_fields(group: str, plural: str) -> tuple[str, ...]:
    base = ("metadata.name",) if (group, plural) in _NO_NAMESPACE_FIELD \
        else ("metadata.name", "metadata.namespace")
    return base + FIELD_SELECTORS.get((group, plural), ())


def validate_field_selector(group: str, plural: str, sel: FieldSelector) -> None:
    """Refuse fields the resource cannot select on, with upstream's per-kind message."""
    key = (group, plural)
    allowed = supported_fields(group, plural)
    aliases = _FIELD_ALIASES.get(key, {})
    for field in sel.fields():
        if field in allowed or field in aliases:
            continue
        if key == ("batch", "jobs"):
            raise errors.BadRequest(f'field label "{field}" not supported for batchv1.Job')
        if key in FIELD_SELECTORS:
            raise errors.BadRequest(f"field label not supported: {field}")
        raise errors.BadRequest(f'"{field}" is not a known field selector: '
                                'only "metadata.name", "metadata.namespace"')


def normalize_field_selector(group: str, plural: str, sel: FieldSelector) -> FieldSelector:
    """Validate, then rename aliased fields (``spec.host``, ``regarding.*``) to the names
    ``object_fields`` produces, so that one matcher serves both API versions."""
    validate_field_selector(group, plural, sel)
    aliases = _FIELD_ALIASES.get((group, plural))
    if not aliases:
        return sel
    return FieldSelector([(aliases.get(f, f), op, v) for f, op, v in sel.requirements])


def _s(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _event_fields(obj: dict[str, Any], out: dict[str, str]) -> None:
    # core/v1 spells it involvedObject/source.component; events.k8s.io/v1 regarding/
    # reportingController: read either so that both shapes give the core field names
    ref = obj.get("involvedObject") or obj.get("regarding") or {}
    for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
        out["involvedObject." + name] = _s(ref.get(name))
    reporting = obj.get("reportingComponent") or obj.get("reportingController") or ""
    source = (obj.get("source") or obj.get("deprecatedSource") or {}).get("component") or reporting
    out["reason"] = _s(obj.get("reason"))
    out["reportingComponent"] = _s(reporting)
    out["source"] = _s(source)
    out["type"] = _s(obj.get("type"))
    # the events.k8s.io spellings too, so a selector matches whether or not it was normalized
    for alias, name in _FIELD_ALIASES[("events.k8s.io", "events")].items():
        out[alias] = out[name]


def object_fields(group: str, plural: str, obj: dict[str, Any]) -> dict[str, str]:
    """The selectable field values of ``obj`` (upstream ``GetAttrs``/``ToSelectableFields``)."""
    md = obj.get("metadata") or {}
    out = {"metadata.name": md.get("name") or "", "metadata.namespace": md.get("namespace") or ""}
    key = (group, plural)
    if key not in FIELD_SELECTORS:
        return out
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if key == ("", "pods"):
        out["spec.nodeName"] = out["spec.host"] = _s(spec.get("nodeName"))
        out["spec.restartPolicy"] = _s(spec.get("restartPolicy"))
        out["spec.schedulerName"] = _s(spec.get("schedulerName"))
        out["spec.serviceAccountName"] = _s(spec.get("serviceAccountName"))
        out["spec.hostNetwork"] = "true" if spec.get("hostNetwork") else "false"
        out["status.phase"] = _s(status.get("phase"))
        ips = status.get("podIPs") or []
        out["status.podIP"] = _s(ips[0].get("ip")) if ips else _s(status.get("podIP"))
        out["status.nominatedNodeName"] = _s(status.get("nominatedNodeName"))
    elif plural == "events":
        _event_fields(obj, out)
    elif key == ("", "secrets"):
        out["type"] = _s(obj.get("type"))
    elif key == ("", "nodes"):
        out["spec.unschedulable"] = "true" if spec.get("unschedulable") else "false"
    elif key == ("", "namespaces"):
        out["status.phase"] = _s(status.get("phase"))
    elif key == ("", "services"):
        out["spec.clusterIP"] = _s(spec.get("clusterIP"))
        out["spec.type"] = _s(spec.get("type"))
    elif key == ("", "replicationcontrollers"):
        out["status.replicas"] = str(status.get("replicas") or 0)
    elif key == ("batch", "jobs"):
        out["status.successful"] = str(status.get("succeeded") or 0)
    return out
