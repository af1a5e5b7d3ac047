"""Field tables of the Kubernetes protobuf messages kubelite can decode, and their registry.

``kubelite.api.protobuf.decode`` asks ``root(apiVersion, kind)`` for the message of a
request body and walks it field by field with ``message(name)``. The tables themselves are
plain data in ``tables_core`` (core/v1) and ``tables_groups`` (meta/v1 and the API groups);
they were written from upstream's ``k8s.io/api/<group>/<version>/generated.proto`` (field
numbers and types) and ``types.go`` (Go pointers, ``omitempty``, embedded structs), which
together say what the same object looks like as JSON.

One message is one string of ``;``-separated fields, ``NUMBER jsonName[:TYPE][FLAG]``:

- TYPE is ``str`` (the default), ``bytes`` (base64 in JSON), ``bool``, ``i32``, ``i64``,
  one of the specials ``Time``, ``MicroTime``, ``IntOrString``, ``Quantity``, ``FieldsV1``,
  ``RawExtension`` (embedded JSON, kept as it is: ControllerRevision's ``data``; the
  decoder cannot read it, so no root kind may hold one),
  or a message name: bare for the table's own package, else ``group/version.Name``.
  ``[T]`` is a repeated field, ``{T}`` a map with string keys (entries key=1, value=2).
- FLAG ``!`` keeps the value even when it is zero or empty: Go pointers (``replicas: 0``,
  ``emptyDir: {}``) and scalars, lists and maps without ``omitempty`` (``containers``).
  Without it, zero values are dropped as ``omitempty`` would (empty structs too, which JSON
  would send as ``{}``/``null``; ``kubelite.api.omitempty`` keeps those, as Go's JSON
  encoding does, and reads the same flags for JSON bodies).
- FLAG ``^`` is an embedded Go struct: its fields are merged into the parent's JSON
  (``Volume.volumeSource``, ``Probe.handler``).
- A spec starting with ``=`` is a Go slice type wrapped for protobuf (``ExtraValue``): its
  JSON is the list in its only field.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from kubelite.api.protobuf import tables_core, tables_groups

SCALARS: Final = frozenset({"str", "bytes", "bool", "i32", "i64"})
SPECIALS: Final = frozenset({"Time", "MicroTime", "IntOrString", "Quantity", "FieldsV1",
                             "RawExtension"})


class Shape(enum.Enum):
    SINGLE = "single"  # optional field: the last record wins
    LIST = "list"  # repeated field: one record per element (or packed, for numbers)
    MAP = "map"  # map<string, T>: one entry message per key


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    name: str  # the JSON name
    type: str  # a SCALARS or SPECIALS member, or a full message name ("core/v1.Pod")
    shape: Shape
    keep_zero: bool  # "!": present on the wire means present in JSON
    inline: bool  # "^": merge the sub-message into the parent


@dataclass(frozen=True, slots=True)
class Message:
    name: str  # "core/v1.Pod"
    fields: Mapping[int, Field]  # in declaration order, which is the JSON order we emit
    unwrap: bool  # "=": JSON is the list in the only field


# Which API version strings name which table package (the envelope's typeMeta.apiVersion,
# and the apiVersion of the objects ``kubelite.api.omitempty`` normalizes).
API_VERSIONS: Final[Mapping[str, str]] = {
    "v1": "core/v1",
    "apps/v1": "apps/v1",
    "batch/v1": "batch/v1",
    "policy/v1": "policy/v1",
    "autoscaling/v1": "autoscaling/v1",
    "autoscaling/v2": "autoscaling/v2",
    "authorization.k8s.io/v1": "authorization/v1",
    "authentication.k8s.io/v1": "authentication/v1",
    "coordination.k8s.io/v1": "coordination/v1",
    "events.k8s.io/v1": "events/v1",
    "rbac.authorization.k8s.io/v1": "rbac/v1",
    "networking.k8s.io/v1": "networking/v1",
    "discovery.k8s.io/v1": "discovery/v1",
    "storage.k8s.io/v1": "storage/v1",
    "scheduling.k8s.io/v1": "scheduling/v1",
    "certificates.k8s.io/v1": "certificates/v1",
    "meta.k8s.io/v1": "meta/v1",
}

# The kinds that may arrive as a whole request body, per package. Everything else in the
# tables is reachable from these (a body claiming kind "PodSpec" is refused), or is a kind
# only ``kubelite.api.omitempty`` reads (Node, EndpointSlice, ControllerRevision…): no
# typed kubectl command writes those, and a protobuf body of theirs is answered 415.
ROOT_KINDS: Final[Mapping[str, frozenset[str]]] = {
    "core/v1": frozenset(
        {
            "Namespace",
            "ConfigMap",
            "Secret",
            "Service",
            "Pod",
            "Event",
            "ServiceAccount",
            "ResourceQuota",
            "LimitRange",
            "PersistentVolumeClaim",
            "Binding",
        }
    ),
    "apps/v1": frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"}),
    "batch/v1": frozenset({"Job", "CronJob"}),
    "policy/v1": frozenset({"Eviction", "PodDisruptionBudget"}),
    "autoscaling/v1": frozenset({"HorizontalPodAutoscaler", "Scale"}),
    "autoscaling/v2": frozenset({"HorizontalPodAutoscaler"}),
    "authorization/v1": frozenset(
        {
            "SelfSubjectAccessReview",
            "SelfSubjectRulesReview",
            "SubjectAccessReview",
            "LocalSubjectAccessReview",
        }
    ),
    "authentication/v1": frozenset({"TokenRequest", "TokenReview", "SelfSubjectReview"}),
    "coordination/v1": frozenset({"Lease"}),
    "events/v1": frozenset({"Event"}),
    "rbac/v1": frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}),
    "networking/v1": frozenset({"Ingress"}),
    "scheduling/v1": frozenset({"PriorityClass"}),
    "certificates/v1": frozenset({"CertificateSigningRequest"}),
    "meta/v1": frozenset({"DeleteOptions"}),
}

# Option kinds are registered in every group version (metav1.AddToGroupVersion): a typed
# client's DELETE body is ``{apiVersion: v1, kind: DeleteOptions}`` for pods, for example.
_OPTION_KINDS: Final = {"DeleteOptions": "meta/v1.DeleteOptions"}

_TABLES: Final[Mapping[str, Mapping[str, str]]] = {
    "core/v1": tables_core.CORE_V1,
    **tables_groups.TABLES,
}

_FIELD = re.compile(r"^(\d+) (\w+)(?::(\[|\{)?([\w/.]+)[\]}]?)?([!^])?$")


def _parse(package: str, name: str, spec: str) -> Message:
    unwrap = spec.startswith("=")
    fields: dict[int, Field] = {}
    for item in spec.lstrip("=").split(";"):
        if not item.strip():
            continue  # a message without fields (an empty struct, or a future marker)
        match = _FIELD.match(item.strip())
        if match is None:
            raise ValueError(f"bad field spec {item!r} in {package}.{name}")
        number, json_name, bracket, type_name, flag = match.groups()
        type_name = type_name or "str"
        if type_name not in SCALARS and type_name not in SPECIALS and "." not in type_name:
            type_name = f"{package}.{type_name}"
        shape = {"[": Shape.LIST, "{": Shape.MAP}.get(bracket or "", Shape.SINGLE)
        fields[int(number)] = Field(
            number=int(number),
            name=json_name,
            type=type_name,
            shape=shape,
            keep_zero=flag == "!",
            inline=flag == "^",
        )
    return Message(name=f"{package}.{name}", fields=fields, unwrap=unwrap)


def _build() -> dict[str, Message]:
    built = {
        f"{package}.{name}": _parse(package, name, spec)
        for package, table in _TABLES.items()
        for name, spec in table.items()
    }
    # a dangling reference is a typo in a table: fail at import, not on some user's request
    for msg in built.values():
        for field in msg.fields.values():
            known = field.type in SCALARS or field.type in SPECIALS or field.type in built
            if not known:
                raise ValueError(f"{msg.name}.{field.name}: unknown type {field.type}")
            if field.inline and field.type not in built:
                raise ValueError(f"{msg.name}.{field.name}: only messages can be inlined")
        if msg.unwrap and len(msg.fields) != 1:
            raise ValueError(f"{msg.name}: a wrapped list has exactly one field")
    for package, kinds in ROOT_KINDS.items():
        for kind in kinds:
            if f"{package}.{kind}" not in built:
                raise ValueError(f"root kind {package}.{kind} has no table")
    _refuse_undecodable(built)
    return built


def _refuse_undecodable(built: Mapping[str, Message]) -> None:
    """The decoder has no reader for ``RawExtension``: no root kind may reach one."""
    seen: set[str] = set()
    todo = [f"{package}.{kind}" for package, kinds in ROOT_KINDS.items() for kind in kinds]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for field in built[name].fields.values():
            if field.type == "RawExtension":
                raise ValueError(f"{name}.{field.name}: a root kind cannot hold a RawExtension")
            if field.type in built:
                todo.append(field.type)


_MESSAGES: Final = _build()


def message(name: str) -> Message:
    """The message called ``name`` ("apps/v1.DeploymentSpec"); KeyError if there is none."""
    return _MESSAGES[name]


def root(api_version: str, kind: str) -> Message | None:
    """The message of a request body of this apiVersion and kind, or None if unsupported."""
    if kind in _OPTION_KINDS:
        return _MESSAGES[_OPTION_KINDS[kind]]
    package = API_VERSIONS.get(api_version)
    if package is None or kind not in ROOT_KINDS.get(package, frozenset()):
        return None
    return _MESSAGES[f"{package}.{kind}"]


def supported() -> list[tuple[str, str]]:
    """Every (apiVersion, kind) a body may carry, for docs and tests."""
    by_package = {package: version for version, package in API_VERSIONS.items()}
    return sorted(
        (by_package[package], kind) for package, kinds in ROOT_KINDS.items() for kind in kinds
    )
