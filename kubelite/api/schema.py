"""Upstream Kubernetes 1.37 schemas as walkable nodes.

The definitions come from the ``kubernetes-validate`` package (the upstream OpenAPI
definitions rendered as JSON Schema, ``$defs`` keyed like ``io.k8s.api.core.v1.PodSpec``).
They are read once, lazily, on first use; after that everything is in memory.

Callers:

- ``kubelite.api.patch.strategic`` asks a ``Node`` how a field merges
  (``patch_strategies``, ``patch_merge_key``);
- ``kubelite.api.fieldvalidation`` walks objects against nodes to find unknown fields
  and values of the wrong JSON type;
- the OpenAPI document generator serves ``definitions()`` as they are.

A ``Node`` is one place in a schema tree: a field's own extensions (``x-kubernetes-patch-*``
and list types live on the *property*, not on the referenced type) combined with the type
it refers to. Nodes are built on first visit and cached, since strategic merge patch and
field validation walk them on every write. CRD ``openAPIV3Schema`` documents are wrapped
the same way with ``Node.from_openapi_v3_schema``.
"""

from __future__ import annotations

import importlib.resources
import threading
from collections.abc import Mapping
from typing import Any, Final

import orjson

SCHEMA_PACKAGE: Final = "kubernetes_validate"
SCHEMA_VERSION_DIR: Final = "v1.37.0-local"

OBJECT_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# Types whose JSON shape is not described by properties: they hold any value (or a
# scalar of one of two types) and are leaves for merging and field validation.
_ANY_DEFINITIONS: Final = frozenset({
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
})

# Which JSON scalar types an "any" leaf accepts (None: every JSON value).
_SCALAR_HINTS: Final[Mapping[str, frozenset[str]]] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": frozenset({"string", "integer"}),
    "io.k8s.apimachinery.pkg.api.resource.Quantity": frozenset({"string", "number"}),
}

# Extension keys that make a property more than a plain reference to its type.
_FIELD_EXTENSIONS: Final = (
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
)

_lock = threading.Lock()
_defs: dict[str, Any] | None = None
_gvk_index: dict[tuple[str, str, str], str] | None = None
_def_nodes: dict[str, Node] = {}


def _load() -> dict[str, Any]:
    """The raw ``$defs``, read from the package data the first time they are needed."""
    global _defs, _gvk_index
    if _defs is not None:
        return _defs
    with _lock:
        if _defs is None:
            path = (importlib.resources.files(SCHEMA_PACKAGE) / "kubernetes-json-schema"
                    / SCHEMA_VERSION_DIR / "_definitions.json")
            defs: dict[str, Any] = orjson.loads(path.read_bytes())["$defs"]
            index: dict[tuple[str, str, str], str] = {}
            for name, schema in defs.items():
                for gvk in schema.get("x-kubernetes-group-version-kind") or ():
                    key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
                    # Shared option types (DeleteOptions, WatchEvent) are listed under
                    # many groups; a type defined in its own group wins a collision.
                    if key not in index or _home_group(name) == key[0]:
                        index[key] = name
            _gvk_index = index
            _defs = defs
    return _defs


def _home_group(name: str) -> str:
    """``io.k8s.api.apps.v1.Deployment`` -> ``apps``; core and meta types -> ``""``."""
    parts = name.split(".")
    if name.startswith("io.k8s.api.") and len(parts) >= 6:
        group = parts[3]
        return "" if group == "core" else group
    return ""


def definitions() -> dict[str, Any]:
    """The raw ``$defs`` (shared, never mutate): for the OpenAPI document generator."""
    return _load()


def definition_for(group: str, version: str, kind: str) -> str | None:
    """The definition name of a built-in kind, from ``x-kubernetes-group-version-kind``."""
    _load()
    assert _gvk_index is not None
    return _gvk_index.get((group, version, kind))


def definition_node(name: str) -> Node | None:
    """The node of a definition by name (``io.k8s.api.core.v1.PodSpec``)."""
    node = _def_nodes.get(name)
    if node is not None:
        return node
    schema = _load().get(name)
    if schema is None:
        return None
    node = Node(schema, def_name=name)
    _def_nodes[name] = node
    return node


def root(group: str, version: str, kind: str) -> Node | None:
    """The node of a whole built-in object (``apps``, ``v1``, ``Deployment``), or None."""
    name = definition_for(group, version, kind)
    return definition_node(name) if name is not None else None


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _go_package(def_name: str) -> str:
    """The Go package a definition lives in, as Go prints it: ``v1``, ``resource``."""
    parts = def_name.split(".")
    return parts[-2] if len(parts) >= 2 else ""


class Node:
    """One place in a schema: what a value there may be and how it merges.

    ``kind`` is one of ``object`` (named properties), ``map`` (``additionalProperties``),
    ``array``, ``string``, ``integer``, ``number``, ``boolean`` or ``any`` (IntOrString,
    Quantity, RawExtension, JSON, preserve-unknown-fields without properties).
    """

    __slots__ = (
        "_additional",
        "_additional_schema",
        "_children",
        "_go_type",
        "_implicit_meta",
        "_items",
        "_items_schema",
        "_properties",
        "def_name",
        "description",
        "embedded",
        "format",
        "from_crd",
        "kind",
        "list_map_keys",
        "list_type",
        "map_type",
        "nullable",
        "patch_merge_key",
        "patch_strategies",
        "preserve_unknown",
        "required",
        "scalar_types",
    )

    def __init__(
        self,
        schema: Mapping[str, Any],
        *,
        def_name: str | None = None,
        field: Mapping[str, Any] | None = None,
        from_crd: bool = False,
        implicit_meta: bool = False,
    ) -> None:
        # ``field`` is the property schema that referred to ``schema``: its extensions
        # (patch strategy, list type) win over the referenced type's.
        ext = field or {}
        self.def_name = def_name
        self.from_crd = from_crd
        self.description: str = ext.get("description") or schema.get("description") or ""
        self.format: str = schema.get("format") or ""

        def pick(key: str) -> Any:
            value = ext.get(key)
            return schema.get(key) if value is None else value

        self.patch_merge_key: str | None = pick("x-kubernetes-patch-merge-key")
        strategy = pick("x-kubernetes-patch-strategy") or ""
        self.patch_strategies: frozenset[str] = frozenset(s for s in strategy.split(",") if s)
        self.list_type: str | None = pick("x-kubernetes-list-type")
        self.list_map_keys: tuple[str, ...] = tuple(pick("x-kubernetes-list-map-keys") or ())
        self.map_type: str | None = pick("x-kubernetes-map-type")
        self.preserve_unknown: bool = pick("x-kubernetes-preserve-unknown-fields") is True
        self.embedded: bool = pick("x-kubernetes-embedded-resource") is True
        self.required: frozenset[str] = frozenset(schema.get("required") or ())

        raw_type = schema.get("type")
        if isinstance(raw_type, list):
            types = set(raw_type)
        elif isinstance(raw_type, str):
            types = {raw_type}
        else:
            types = set()
        self.nullable: bool = "null" in types or schema.get("nullable") is True
        types.discard("null")

        self.scalar_types: frozenset[str] | None = None
        self._properties: Mapping[str, Any] = {}
        self._items_schema: Mapping[str, Any] | None = None
        self._additional_schema: Mapping[str, Any] | None = None
        self._implicit_meta = implicit_meta or self.embedded
        self._children: dict[str, Node | None] = {}
        self._items: Node | None = None
        self._additional: Node | None = None
        self._go_type: str | None = None

        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        if def_name in _ANY_DEFINITIONS:
            self.kind = "any"
            self.scalar_types = _SCALAR_HINTS.get(def_name)
        elif pick("x-kubernetes-int-or-string") is True:
            self.kind = "any"
            self.scalar_types = frozenset({"string", "integer"})
        elif props:
            self.kind = "object"
            self._properties = props
        elif isinstance(additional, Mapping):
            self.kind = "map"
            self._additional_schema = additional
        elif additional is True:
            self.kind = "map"
            self._additional_schema = {}
        elif "object" in types or props is not None:
            # An object without properties: a real empty struct unless it keeps
            # whatever it is given.
            self.kind = "any" if self.preserve_unknown else "object"
        elif "array" in types or "items" in schema:
            self.kind = "array"
            items = schema.get("items")
            self._items_schema = items if isinstance(items, Mapping) else {}
        elif len(types) == 1:
            self.kind = next(iter(types))
        else:
            self.kind = "any"
        if self._implicit_meta and self.kind == "any" and self.embedded:
            self.kind = "object"

    @classmethod
    def from_openapi_v3_schema(cls, schema: Mapping[str, Any], *, root: bool = True) -> Node:
        """Wrap a CRD ``openAPIV3Schema``; at the root ``apiVersion``, ``kind`` and
        ``metadata`` (ObjectMeta) are known whatever the schema says, as upstream."""
        return cls(schema, from_crd=True, implicit_meta=root)

    # --- walking -------------------------------------------------------------------------

    def _build(self, prop: Mapping[str, Any]) -> Node:
        ref = prop.get("$ref")
        if ref is None:
            return Node(prop, from_crd=self.from_crd)
        name = _ref_name(ref)
        target = _load().get(name)
        if target is None:
            return Node({}, from_crd=self.from_crd)
        if not any(k in prop for k in _FIELD_EXTENSIONS):
            # A plain reference: share the definition's node across every path to it.
            shared = definition_node(name)
            assert shared is not None
            return shared
        return Node(target, def_name=name, field=prop)

    def _implicit(self, field: str) -> Node | None:
        if field in ("apiVersion", "kind"):
            return Node({"type": "string"}, from_crd=self.from_crd)
        if field == "metadata":
            return definition_node(OBJECT_META)
        return None

    def child(self, field: str) -> Node | None:
        """The node of ``field`` (a map's value node for maps), or None if unknown."""
        if self.kind == "map":
            return self.additional()
        if self.kind != "object":
            return None
        try:
            return self._children[field]
        except KeyError:
            pass
        node: Node | None
        if self._implicit_meta and field == "metadata":
            node = self._implicit(field)
        else:
            prop = self._properties.get(field)
            if prop is not None:
                node = self._build(prop)
            elif self._implicit_meta:
                node = self._implicit(field)
            else:
                node = None
        self._children[field] = node
        return node

    def has_field(self, field: str) -> bool:
        """Whether ``field`` may appear here (always true for maps and ``any``)."""
        if self.kind != "object":
            return True
        if field in self._properties:
            return True
        if self._implicit_meta and field in ("apiVersion", "kind", "metadata"):
            return True
        return self.preserve_unknown

    @property
    def field_names(self) -> frozenset[str]:
        names = frozenset(self._properties)
        if self._implicit_meta:
            names |= {"apiVersion", "kind", "metadata"}
        return names

    def items(self) -> Node | None:
        """The element node of an array."""
        if self.kind != "array":
            return None
        if self._items is None:
            self._items = self._build(self._items_schema or {})
        return self._items

    def additional(self) -> Node | None:
        """The value node of a map (``additionalProperties``)."""
        if self.kind != "map":
            return None
        if self._additional is None:
            self._additional = self._build(self._additional_schema or {})
        return self._additional

    # --- naming for error messages ------------------------------------------------------

    @property
    def go_struct(self) -> str:
        """The Go struct name upstream's decoder reports (``PodSpec``), or ``""``."""
        if self.def_name and self.kind == "object":
            return self.def_name.rsplit(".", 1)[-1]
        return ""

    @property
    def go_type(self) -> str:
        """The Go type upstream's decoder names in type errors (``int32``, ``[]v1.Container``)."""
        if self._go_type is None:
            self._go_type = self._compute_go_type()
        return self._go_type

    def _compute_go_type(self) -> str:
        if self.def_name:
            return f"{_go_package(self.def_name)}.{self.def_name.rsplit('.', 1)[-1]}"
        if self.kind == "string":
            return "[]uint8" if self.format == "byte" else "string"  # []byte, as Go's reflection names it
        if self.kind == "integer":
            return "int32" if self.format == "int32" else "int64"
        if self.kind == "number":
            return "float64"
        if self.kind == "boolean":
            return "bool"
        if self.kind == "array":
            items = self.items()
            return "[]" + (items.go_type if items else "interface {}")
        if self.kind == "map":
            value = self.additional()
            return "map[string]" + (value.go_type if value else "interface {}")
        if self.kind == "object":
            return "struct"
        return "interface {}"

    def __repr__(self) -> str:
        return f"Node({self.kind}, {self.def_name or 'inline'})"
