"""OpenAPI v2: the Swagger 2.0 document and its gnostic protobuf encoding.

The protobuf is checked against Google's own decoder (the ``protobuf`` package, which
kubelite already depends on through ``aetcd``), given the message declarations of gnostic's
``openapiv2/OpenAPIv2.proto`` restated below; decoding must give back the JSON document, as
gnostic's compiler would have read it, and kubectl's access paths must find what they look for.
The ``Any`` values are read back with PyYAML, a YAML 1.1 reader like kubectl's go-yaml v2.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import struct
from typing import Any

import orjson
import pytest
import yaml  # type: ignore[import-untyped]

from kubelite.api import scheme as schememod
from kubelite.apiserver import discovery, openapi_v2

descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
descriptor_pool = pytest.importorskip("google.protobuf.descriptor_pool")
message_factory = pytest.importorskip("google.protobuf.message_factory")

# gnostic-models openapiv2/OpenAPIv2.proto (package openapi.v2), the messages a document
# uses: "type name = number", "*" for repeated; google.protobuf.Any (Any.value) as bytes,
# which has the same wire form. A oneof is given as "|" between its cases.
PROTO = """
AdditionalPropertiesItem: Schema schema=1 | bool boolean=2
Any: bytes value=1; string yaml=2
ApiKeySecurity: string type=1; string name=2; string in=3; string description=4; *NamedAny vendor_extension=5
BasicAuthenticationSecurity: string type=1; string description=2; *NamedAny vendor_extension=3
BodyParameter: string description=1; string name=2; string in=3; bool required=4; Schema schema=5; \
*NamedAny vendor_extension=6
Contact: string name=1; string url=2; string email=3; *NamedAny vendor_extension=4
Definitions: *NamedSchema additional_properties=1
Document: string swagger=1; Info info=2; string host=3; string base_path=4; *string schemes=5; \
*string consumes=6; *string produces=7; Paths paths=8; Definitions definitions=9; \
ParameterDefinitions parameters=10; ResponseDefinitions responses=11; *SecurityRequirement security=12; \
SecurityDefinitions security_definitions=13; *Tag tags=14; ExternalDocs external_docs=15; \
*NamedAny vendor_extension=16
Examples: *NamedAny additional_properties=1
ExternalDocs: string description=1; string url=2; *NamedAny vendor_extension=3
FileSchema: string format=1; string title=2; string description=3; Any default=4; *string required=5; \
string type=6; bool read_only=7; ExternalDocs external_docs=8; Any example=9; *NamedAny vendor_extension=10
FormDataParameterSubSchema: bool required=1; string in=2; string description=3; string name=4; \
bool allow_empty_value=5; string type=6; string format=7; PrimitivesItems items=8; string collection_format=9; \
Any default=10; double maximum=11; bool exclusive_maximum=12; double minimum=13; bool exclusive_minimum=14; \
int64 max_length=15; int64 min_length=16; string pattern=17; int64 max_items=18; int64 min_items=19; \
bool unique_items=20; *Any enum=21; double multiple_of=22; *NamedAny vendor_extension=23
Header: string type=1; string format=2; PrimitivesItems items=3; string collection_format=4; Any default=5; \
double maximum=6; bool exclusive_maximum=7; double minimum=8; bool exclusive_minimum=9; int64 max_length=10; \
int64 min_length=11; string pattern=12; int64 max_items=13; int64 min_items=14; bool unique_items=15; \
*Any enum=16; double multiple_of=17; string description=18; *NamedAny vendor_extension=19
HeaderParameterSubSchema: bool required=1; string in=2; string description=3; string name=4; string type=5; \
string format=6; PrimitivesItems items=7; string collection_format=8; Any default=9; double maximum=10; \
bool exclusive_maximum=11; double minimum=12; bool exclusive_minimum=13; int64 max_length=14; \
int64 min_length=15; string pattern=16; int64 max_items=17; int64 min_items=18; bool unique_items=19; \
*Any enum=20; double multiple_of=21; *NamedAny vendor_extension=22
Headers: *NamedHeader additional_properties=1
Info: string title=1; string version=2; string description=3; string terms_of_service=4; Contact contact=5; \
License license=6; *NamedAny vendor_extension=7
ItemsItem: *Schema schema=1
JsonReference: string _ref=1; string description=2
License: string name=1; string url=2; *NamedAny vendor_extension=3
NamedAny: string name=1; Any value=2
NamedHeader: string name=1; Header value=2
NamedParameter: string name=1; Parameter value=2
NamedPathItem: string name=1; PathItem value=2
NamedResponse: string name=1; Response value=2
NamedResponseValue: string name=1; ResponseValue value=2
NamedSchema: string name=1; Schema value=2
NamedSecurityDefinitionsItem: string name=1; SecurityDefinitionsItem value=2
NamedString: string name=1; string value=2
NamedStringArray: string name=1; StringArray value=2
NonBodyParameter: HeaderParameterSubSchema header_parameter_sub_schema=1 | \
FormDataParameterSubSchema form_data_parameter_sub_schema=2 | QueryParameterSubSchema query_parameter_sub_schema=3 \
| PathParameterSubSchema path_parameter_sub_schema=4
Oauth2AccessCodeSecurity: string type=1; string flow=2; Oauth2Scopes scopes=3; string authorization_url=4; \
string token_url=5; string description=6; *NamedAny vendor_extension=7
Oauth2ApplicationSecurity: string type=1; string flow=2; Oauth2Scopes scopes=3; string token_url=4; \
string description=5; *NamedAny vendor_extension=6
Oauth2ImplicitSecurity: string type=1; string flow=2; Oauth2Scopes scopes=3; string authorization_url=4; \
string description=5; *NamedAny vendor_extension=6
Oauth2PasswordSecurity: string type=1; string flow=2; Oauth2Scopes scopes=3; string token_url=4; \
string description=5; *NamedAny vendor_extension=6
Oauth2Scopes: *NamedString additional_properties=1
Operation: *string tags=1; string summary=2; string description=3; ExternalDocs external_docs=4; \
string operation_id=5; *string produces=6; *string consumes=7; *ParametersItem parameters=8; \
Responses responses=9; *string schemes=10; bool deprecated=11; *SecurityRequirement security=12; \
*NamedAny vendor_extension=13
Parameter: BodyParameter body_parameter=1 | NonBodyParameter non_body_parameter=2
ParameterDefinitions: *NamedParameter additional_properties=1
ParametersItem: Parameter parameter=1 | JsonReference json_reference=2
PathItem: string _ref=1; Operation get=2; Operation put=3; Operation post=4; Operation delete=5; \
Operation options=6; Operation head=7; Operation patch=8; *ParametersItem parameters=9; \
*NamedAny vendor_extension=10
PathParameterSubSchema: bool required=1; string in=2; string description=3; string name=4; string type=5; \
string format=6; PrimitivesItems items=7; string collection_format=8; Any default=9; double maximum=10; \
bool exclusive_maximum=11; double minimum=12; bool exclusive_minimum=13; int64 max_length=14; \
int64 min_length=15; string pattern=16; int64 max_items=17; int64 min_items=18; bool unique_items=19; \
*Any enum=20; double multiple_of=21; *NamedAny vendor_extension=22
Paths: *NamedAny vendor_extension=1; *NamedPathItem path=2
PrimitivesItems: string type=1; string format=2; PrimitivesItems items=3; string collection_format=4; \
Any default=5; double maximum=6; bool exclusive_maximum=7; double minimum=8; bool exclusive_minimum=9; \
int64 max_length=10; int64 min_length=11; string pattern=12; int64 max_items=13; int64 min_items=14; \
bool unique_items=15; *Any enum=16; double multiple_of=17; *NamedAny vendor_extension=18
Properties: *NamedSchema additional_properties=1
QueryParameterSubSchema: bool required=1; string in=2; string description=3; string name=4; \
bool allow_empty_value=5; string type=6; string format=7; PrimitivesItems items=8; string collection_format=9; \
Any default=10; double maximum=11; bool exclusive_maximum=12; double minimum=13; bool exclusive_minimum=14; \
int64 max_length=15; int64 min_length=16; string pattern=17; int64 max_items=18; int64 min_items=19; \
bool unique_items=20; *Any enum=21; double multiple_of=22; *NamedAny vendor_extension=23
Response: string description=1; SchemaItem schema=2; Headers headers=3; Examples examples=4; \
*NamedAny vendor_extension=5
ResponseDefinitions: *NamedResponse additional_properties=1
ResponseValue: Response response=1 | JsonReference json_reference=2
Responses: *NamedResponseValue response_code=1; *NamedAny vendor_extension=2
Schema: string _ref=1; string format=2; string title=3; string description=4; Any default=5; \
double multiple_of=6; double maximum=7; bool exclusive_maximum=8; double minimum=9; bool exclusive_minimum=10; \
int64 max_length=11; int64 min_length=12; string pattern=13; int64 max_items=14; int64 min_items=15; \
bool unique_items=16; int64 max_properties=17; int64 min_properties=18; *string required=19; *Any enum=20; \
AdditionalPropertiesItem additional_properties=21; TypeItem type=22; ItemsItem items=23; *Schema all_of=24; \
Properties properties=25; string discriminator=26; bool read_only=27; Xml xml=28; ExternalDocs external_docs=29; \
Any example=30; *NamedAny vendor_extension=31
SchemaItem: Schema schema=1 | FileSchema file_schema=2
SecurityDefinitions: *NamedSecurityDefinitionsItem additional_properties=1
SecurityDefinitionsItem: BasicAuthenticationSecurity basic_authentication_security=1 | \
ApiKeySecurity api_key_security=2 | Oauth2ImplicitSecurity oauth2_implicit_security=3 | \
Oauth2PasswordSecurity oauth2_password_security=4 | Oauth2ApplicationSecurity oauth2_application_security=5 | \
Oauth2AccessCodeSecurity oauth2_access_code_security=6
SecurityRequirement: *NamedStringArray additional_properties=1
StringArray: *string value=1
Tag: string name=1; string description=2; ExternalDocs external_docs=3; *NamedAny vendor_extension=4
TypeItem: *string value=1
Xml: string name=1; string namespace=2; string prefix=3; bool attribute=4; bool wrapped=5; \
*NamedAny vendor_extension=6
"""

_SCALARS = {"string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
            "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
            "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
            "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
            "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES}


def _classes() -> dict[str, Any]:
    fdp = descriptor_pb2.FileDescriptorProto(name="openapiv2_test.proto", package="openapi.v2", syntax="proto3")
    oneof_messages = set()
    for line in PROTO.replace("\\\n", "").strip().splitlines():
        name, _, body = line.partition(":")
        msg = fdp.message_type.add(name=name.strip())
        is_oneof = "|" in body
        if is_oneof:
            msg.oneof_decl.add(name="oneof")
            oneof_messages.add(msg.name)
        for decl in body.replace("|", ";").split(";"):
            type_, field_name = decl.split()
            field_name, _, number = field_name.partition("=")
            repeated = type_.startswith("*")
            type_ = type_.lstrip("*")
            f = msg.field.add(name=field_name, number=int(number),
                              label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED if repeated
                              else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
            if type_ in _SCALARS:
                f.type = _SCALARS[type_]
            else:
                f.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                f.type_name = f".openapi.v2.{type_}"
            if is_oneof:
                f.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"openapi.v2.{m.name}"))
            for m in fdp.message_type}


@pytest.fixture(scope="module")
def pb() -> dict[str, Any]:
    return _classes()


def _camel(name: str) -> str:
    if name == "_ref":
        return "$ref"
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_MAPS = {"Definitions", "Properties", "ParameterDefinitions", "ResponseDefinitions", "SecurityDefinitions",
         "Headers", "Examples", "Oauth2Scopes", "SecurityRequirement"}
_ONEOFS = {"ParametersItem", "Parameter", "NonBodyParameter", "ResponseValue", "SchemaItem",
           "SecurityDefinitionsItem"}


def to_json(msg: Any) -> Any:
    """A decoded gnostic message back to the JSON gnostic's compiler read it from."""
    name = msg.DESCRIPTOR.name
    if name == "Any":
        return yaml.safe_load(msg.yaml)
    if name in ("TypeItem", "StringArray"):
        values = list(msg.value)
        return values[0] if name == "TypeItem" and len(values) == 1 else values
    if name == "ItemsItem":
        schemas = [to_json(s) for s in msg.schema]
        return schemas[0] if len(schemas) == 1 else schemas
    if name == "AdditionalPropertiesItem":
        case = msg.WhichOneof("oneof")
        return msg.boolean if case == "boolean" else to_json(msg.schema)
    if name in _ONEOFS:
        return to_json(getattr(msg, msg.WhichOneof("oneof")))
    if name in _MAPS:
        return {named.name: to_json(named.value) if not isinstance(named.value, str) else named.value
                for named in msg.additional_properties}
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        if field.name == "vendor_extension":
            out.update({named.name: to_json(named.value) for named in value})
        elif name == "Paths" and field.name == "path":
            out.update({named.name: to_json(named.value) for named in value})
        elif name == "Responses" and field.name == "response_code":
            out.update({named.name: to_json(named.value) for named in value})
        elif field.type == field.TYPE_MESSAGE:
            out[_camel(field.name)] = [to_json(v) for v in value] if field.is_repeated else to_json(value)
        else:
            out[_camel(field.name)] = list(value) if field.is_repeated else value
    return out


def proto3(node: Any, key: str = "") -> Any:
    """The JSON a proto3 round trip keeps: scalar fields at their zero value are not written."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k.startswith("x-") or k in ("default", "example", "enum") or (k == "security" and v):
                out[k] = v  # an Any (YAML text) or a map of lists: kept whole
            elif k == "additionalProperties" and isinstance(v, bool):
                out[k] = v  # a oneof case is written even when false
            elif key in ("properties", "definitions", "paths", "parameters", "responses", "securityDefinitions"):
                out[k] = proto3(v, k)  # map entries are messages
            elif not (v is None or v is False or v == "" or v == [] or
                      (isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0)):
                out[k] = proto3(v, k)
        return out
    if isinstance(node, list) and key not in ("enum",):
        return [proto3(v) for v in node]
    return node


CRONTAB = schememod.ResourceInfo(group="stable.example.com", version="v1", kind="CronTab", plural="crontabs",
                                 singular="crontab", namespaced=True, subresources=("status", "scale"))
CRONTAB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A cron tab.",
    "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}},
        "spec": {
            "type": "object",
            "required": ["cronSpec", "note"],
            "properties": {
                "cronSpec": {"type": "string", "pattern": "^[*0-9 /]+$", "minLength": 1},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1, "format": "int32"},
                "ratio": {"type": "number", "multipleOf": 0.5, "exclusiveMaximum": True, "maximum": 2.5},
                "mode": {"type": "string", "enum": ["On", "Off", "1", "yes"]},
                "port": {"x-kubernetes-int-or-string": True,
                         "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "note": {"type": "string", "nullable": True},
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                        "properties": {"a": {"type": "string"}}},
                "anything": {"x-kubernetes-preserve-unknown-fields": True},
                "loose": {"type": "array", "x-kubernetes-preserve-unknown-fields": True,
                          "items": {"type": "string"}},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["port", "protocol"],
                          "items": {"type": "object", "required": ["port"],
                                    "properties": {"port": {"type": "integer"}, "protocol": {"type": "string"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "flags": {"type": "object", "additionalProperties": False},
                "child": {"type": "object", "x-kubernetes-embedded-resource": True,
                          "properties": {"spec": {"type": "object"}}},
                "rule": {"type": "string", "x-kubernetes-validations": [{"rule": "self != 'x'", "message": "no"}],
                         "oneOf": [{"pattern": "a"}], "not": {"pattern": "b"}, "allOf": [{"minLength": 1}]},
            },
        },
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
    },
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    scheme = schememod.Scheme()
    scheme.add(CRONTAB)
    return openapi_v2.build(discovery.served(scheme, discovery.SERVER_RESOURCES), {CRONTAB: CRONTAB_SCHEMA})


@pytest.fixture(scope="module")
def decoded(doc: dict[str, Any], pb: dict[str, Any]) -> Any:
    message = pb["Document"]()
    message.ParseFromString(openapi_v2.encode_document(doc))
    return message


# ---------------------------------------------------------------------------- protobuf


def test_protobuf_decodes_back_to_the_document(doc: dict[str, Any], decoded: Any) -> None:
    assert to_json(decoded) == proto3(doc)


def test_protobuf_is_what_kubectl_looks_for(decoded: Any) -> None:
    """cli-runtime's v2 query-parameter check and kubectl's model lookup, field by field."""
    assert decoded.swagger == "2.0"
    found = 0
    for named in decoded.paths.path:
        patch = named.value.patch
        gvk = [yaml.safe_load(ext.value.yaml) for ext in patch.vendor_extension
               if ext.name == "x-kubernetes-group-version-kind"]
        if gvk != [{"group": "apps", "version": "v1", "kind": "Deployment"}]:
            continue
        found += 1
        names = [p.parameter.non_body_parameter.query_parameter_sub_schema.name for p in patch.parameters]
        assert "fieldValidation" in names and "dryRun" in names
        assert "application/strategic-merge-patch+json" in patch.consumes
    assert found == 2  # deployments/{name} and deployments/{name}/status
    models = {named.name: named.value for named in decoded.definitions.additional_properties}
    deployment = models["io.k8s.api.apps.v1.Deployment"]
    exts = {ext.name: yaml.safe_load(ext.value.yaml) for ext in deployment.vendor_extension}
    assert exts["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    fields = {named.name: named.value for named in deployment.properties.additional_properties}
    assert fields["spec"]._ref == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    assert list(deployment.type.value) == ["object"]
    spec = {n.name: n.value for n in models["io.k8s.api.apps.v1.DeploymentSpec"].properties.additional_properties}
    assert list(spec["replicas"].type.value) == ["integer"] and spec["replicas"].format == "int32"
    pod_spec = {n.name: n.value for n in models["io.k8s.api.core.v1.PodSpec"].properties.additional_properties}
    containers = pod_spec["containers"]
    assert containers.items.schema[0]._ref == "#/definitions/io.k8s.api.core.v1.Container"
    assert {e.name: yaml.safe_load(e.value.yaml) for e in containers.vendor_extension}[
        "x-kubernetes-patch-merge-key"] == "name"
    labels = {n.name: n.value for n in models[
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].properties.additional_properties}["labels"]
    assert list(labels.additional_properties.schema.type.value) == ["string"]
    token = decoded.security_definitions.additional_properties[0]
    assert token.name == "BearerToken" and token.value.api_key_security.name == "authorization"
    assert decoded.security[0].additional_properties[0].name == "BearerToken"


def test_enum_strings_stay_strings_for_a_yaml_1_1_reader(decoded: Any) -> None:
    models = {named.name: named.value for named in decoded.definitions.additional_properties}
    spec = {n.name: n.value for n in models["com.example.stable.v1.CronTab"].properties.additional_properties}["spec"]
    mode = {n.name: n.value for n in spec.properties.additional_properties}["mode"]
    assert [yaml.safe_load(v.yaml) for v in mode.enum] == ["On", "Off", "1", "yes"]


def test_wire_format_by_hand() -> None:
    """A few messages spelled out byte by byte."""
    assert openapi_v2.encode_document({"swagger": "2.0"}) == b"\x0a\x032.0"
    # definitions(9) { NamedSchema(1) { name(1) "A", value(2) Schema { type(22) TypeItem { value(1) "string" } } } }
    type_item = b"\x0a\x06string"
    schema = b"\xb2\x01" + bytes([len(type_item)]) + type_item
    named = b"\x0a\x01A\x12" + bytes([len(schema)]) + schema
    definitions = b"\x0a" + bytes([len(named)]) + named
    assert openapi_v2.encode_document({"definitions": {"A": {"type": "string"}}}) == \
        b"\x4a" + bytes([len(definitions)]) + definitions
    # additionalProperties: false is the oneof's bool case, written although it is false
    encoded = openapi_v2.encode_document({"definitions": {"A": {"additionalProperties": False}}})
    assert encoded.endswith(b"\xaa\x01\x02\x10\x00")
    # doubles are fixed64, int64 varints (negative: ten bytes)
    encoded = openapi_v2.encode_document({"definitions": {"A": {"maximum": 2.5, "minLength": -1}}})
    assert b"\x39" + struct.pack("<d", 2.5) in encoded
    assert b"\x60" + b"\xff" * 9 + b"\x01" in encoded
    # a vendor extension is a NamedAny whose Any carries YAML in field 2
    encoded = openapi_v2.encode_document({"x-a": {"k": 1}})
    any_msg = b"\x12\x09{\"k\": 1}\n"
    named_any = b"\x0a\x03x-a" + b"\x12" + bytes([len(any_msg)]) + any_msg
    assert encoded == b"\x82\x01" + bytes([len(named_any)]) + named_any


# ---------------------------------------------------------------------------- document


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every schema (or operation) node; the keys of ``properties`` are field names, not keywords."""
    out = []
    if isinstance(node, dict):
        out.append(node)
        for k, v in node.items():
            if k == "properties" and isinstance(v, dict):
                for sub in v.values():
                    out.extend(_walk(sub))
            elif k != "enum" and not k.startswith("x-"):
                out.extend(_walk(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_walk(v))
    return out


def test_every_definition_parses_as_kubectl_parses_it(doc: dict[str, Any]) -> None:
    for name, schema in doc["definitions"].items():
        assert openapi_v2.kubectl_parse_problem(schema, doc["definitions"], name) is None
    for node in _walk(doc["paths"]):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            assert ref.removeprefix("#/definitions/") in doc["definitions"], ref
        if isinstance(ref, str) and ref.startswith("#/parameters/"):
            assert ref.removeprefix("#/parameters/") in doc["parameters"], ref


def test_definitions_are_swagger_2(doc: dict[str, Any]) -> None:
    defs = doc["definitions"]
    assert doc["swagger"] == "2.0" and doc["info"]["title"] == "Kubernetes"
    assert doc["securityDefinitions"]["BearerToken"]["type"] == "apiKey"
    for node in _walk(defs):
        assert not {"oneOf", "anyOf", "not", "nullable", "$defs"} & set(node), node
    deployment = defs["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment",
                                                              "version": "v1"}]
    assert "enum" not in deployment["properties"]["kind"] and deployment["properties"]["kind"]["type"] == "string"
    strategy = defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["$ref"] == "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy" and strategy["description"]
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"] == "string"
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    assert defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"] == "string"
    for name in ("io.k8s.api.core.v1.ConfigMap", "io.k8s.api.core.v1.PodList", "io.k8s.api.autoscaling.v1.Scale",
                 "io.k8s.api.policy.v1.Eviction", "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList",
                 "io.k8s.apimachinery.pkg.version.Info", "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"):
        assert name in defs


def test_paths_and_operations_are_shaped_as_upstreams(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    collection = paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert collection["get"]["operationId"] == "listAppsV1NamespacedDeployment"
    assert collection["get"]["description"] == "list or watch objects of kind Deployment"
    assert collection["post"]["operationId"] == "createAppsV1NamespacedDeployment"
    assert collection["delete"]["operationId"] == "deleteAppsV1CollectionNamespacedDeployment"
    assert collection["delete"]["x-kubernetes-action"] == "deletecollection"
    assert collection["get"]["tags"] == ["apps_v1"] and collection["get"]["schemes"] == ["https"]
    # namespace and pretty are common to the path's operations: they move to the path
    refs = [p["$ref"] for p in collection["parameters"]]
    assert refs[0].startswith("#/parameters/namespace-") and refs[1].startswith("#/parameters/pretty-")
    assert doc["parameters"][refs[0].removeprefix("#/parameters/")] == {
        "description": "object name and auth scope, such as for teams and projects", "in": "path",
        "name": "namespace", "required": True, "type": "string", "uniqueItems": True}
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert item["parameters"][0] == {"description": "name of the Deployment", "in": "path", "name": "name",
                                     "required": True, "type": "string", "uniqueItems": True}
    patch = item["patch"]
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    assert patch["consumes"] == ["application/json-patch+json", "application/merge-patch+json",
                                 "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
    inline = [p["name"] for p in patch["parameters"] if "name" in p]
    assert inline == ["dryRun", "fieldValidation"]  # kept inline, as kube-openapi keeps them
    assert patch["parameters"][0]["$ref"].startswith("#/parameters/body-")
    assert patch["responses"]["200"]["schema"] == {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"}
    assert set(patch["responses"]) == {"200", "201", "401"}
    put = item["put"]
    assert put["parameters"][0] == {"in": "body", "name": "body", "required": True,
                                    "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"}}
    scale = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["get"]["operationId"] == "readAppsV1NamespacedDeploymentScale"
    assert scale["get"]["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale",
                                                                "version": "v1"}
    assert paths["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    exec_ = paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"]
    assert exec_["get"]["operationId"] == "connectCoreV1GetNamespacedPodExec"
    assert exec_["post"]["x-kubernetes-action"] == "connect"
    assert {p.get("name") or p["$ref"].split("/")[-1].split("-")[0] for p in exec_["parameters"]} >= {
        "command", "container", "stdin", "tty", "name", "namespace"}
    log = paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]
    assert log["operationId"] == "readCoreV1NamespacedPodLog" and log["produces"] == ["text/plain"]
    watch = paths["/apis/apps/v1/watch/namespaces/{namespace}/deployments"]["get"]
    assert watch["operationId"] == "watchAppsV1NamespacedDeploymentList"
    assert watch["x-kubernetes-action"] == "watchlist"
    assert paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]["operationId"] == \
        "createCoreV1NamespacedPodEviction"
    assert paths["/api/"]["get"]["operationId"] == "getCoreAPIVersions"
    assert paths["/apis/apps/"]["get"]["operationId"] == "getAppsAPIGroup"
    assert paths["/apis/apps/v1/"]["get"]["operationId"] == "getAppsV1APIResources"
    assert paths["/version/"]["get"]["operationId"] == "getCodeVersion"
    ids = [op["operationId"] for item in paths.values() for k, op in item.items() if k != "parameters"]
    assert len(ids) == len(set(ids))


def test_shared_parameter_names_follow_kube_openapi(doc: dict[str, Any]) -> None:
    for name, param in doc["parameters"].items():
        key = orjson.dumps(param, option=orjson.OPT_SORT_KEYS)
        h = 0xCBF29CE484222325
        for byte in key:
            h = ((h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF) ^ byte
        assert name == f"{param['name']}-{base64.urlsafe_b64encode(h.to_bytes(8, 'big')[:6]).decode()}"
        assert param["name"] not in ("fieldValidation", "dryRun")


def test_custom_resources_follow_apiextensions_v2_filter(doc: dict[str, Any]) -> None:
    crontab = doc["definitions"]["com.example.stable.v1.CronTab"]
    assert crontab["x-kubernetes-group-version-kind"] == [{"group": "stable.example.com", "kind": "CronTab",
                                                           "version": "v1"}]
    assert crontab["properties"]["metadata"]["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert crontab["properties"]["apiVersion"]["type"] == "string"
    spec = crontab["properties"]["spec"]
    props = spec["properties"]
    assert spec["required"] == ["cronSpec"]  # the nullable note left it
    assert props["note"] == {}
    assert props["port"] == {"x-kubernetes-int-or-string": True}
    assert props["raw"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["anything"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["loose"] == {"x-kubernetes-preserve-unknown-fields": True}  # no items, no type
    assert props["replicas"] == {"type": "integer", "maximum": 10, "minimum": 0, "format": "int32"}  # no default
    assert props["ports"]["x-kubernetes-list-map-keys"] == ["port", "protocol"]
    assert props["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props["flags"] == {"type": "object", "additionalProperties": False}
    assert props["child"]["required"] == ["kind", "apiVersion"]
    assert set(props["child"]["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    assert props["rule"] == {"type": "string", "x-kubernetes-validations": [{"rule": "self != 'x'",
                                                                              "message": "no"}]}
    listing = doc["definitions"]["com.example.stable.v1.CronTabList"]
    assert listing["properties"]["items"]["items"] == {"$ref": "#/definitions/com.example.stable.v1.CronTab"}
    assert listing["x-kubernetes-group-version-kind"][0]["kind"] == "CronTabList"
    patch = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["consumes"]
    assert patch["operationId"] == "patchStableExampleComV1NamespacedCronTab"
    assert doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale"]["get"][
        "operationId"] == "readStableExampleComV1NamespacedCronTabScale"


@pytest.mark.parametrize("given", [
    None,
    {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {"type": "string"}}},
    {"type": "object", "properties": {"a": {"type": "strange"}}},
    {"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}},
    {"type": "object", "properties": {"a": {"type": ["string", "integer"]}}},
    {"type": "object", "properties": {"a": {"type": {"odd": True}}}},
    {"type": "object", "properties": {"a": "not a schema"}},
])
def test_a_schema_kubectl_could_not_read_is_published_as_a_bare_object(given: Any) -> None:
    scheme = schememod.Scheme()
    scheme.add(CRONTAB)
    extra = {CRONTAB: given} if given is not None else {CRONTAB: {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}
    built = openapi_v2.build(discovery.served(scheme), extra)
    assert built["definitions"]["com.example.stable.v1.CronTab"] == {
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]}


# ---------------------------------------------------------------------------- serving


def test_documents_are_cached_per_set_of_resources() -> None:
    scheme = schememod.Scheme()
    docs = openapi_v2.Documents()
    first = docs.rendered(discovery.served(scheme))
    assert docs.rendered(discovery.served(scheme)) is first
    assert first.etag == hashlib.sha512(first.json).hexdigest().upper()
    scheme.add(CRONTAB)
    second = docs.rendered(discovery.served(scheme), {CRONTAB: CRONTAB_SCHEMA})
    assert second is not first and second.etag != first.etag
    changed = {"type": "object", "properties": {"spec": {"type": "object"}}}
    third = docs.rendered(discovery.served(scheme), {CRONTAB: changed})
    assert third.etag != second.etag
    assert docs.rendered(discovery.served(scheme), {CRONTAB: changed}) is third
    _, body = docs.body(discovery.served(scheme), {CRONTAB: changed}, "protobuf", False)
    assert body == openapi_v2.encode_document(orjson.loads(third.json))
    _, zipped = docs.body(discovery.served(scheme), {CRONTAB: changed}, "protobuf", True)
    assert gzip.decompress(zipped) == body
    assert docs.body(discovery.served(scheme), {CRONTAB: changed}, "json", False)[1] is third.json


@pytest.mark.parametrize(("accept", "expected"), [
    ("", "json"),
    ("*/*", "json"),
    ("application/json", "json"),
    ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "protobuf"),
    ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "protobuf"),
    ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json", "protobuf"),
    ("application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "protobuf"),
    ("text/html, application/*;q=0.1", "json"),
    ("text/html", None),
    ("application/yaml", None),
    ("application/json;q=0", None),
])
def test_negotiation(accept: str, expected: str | None) -> None:
    assert openapi_v2.negotiate(accept) == expected


def test_conditional_requests() -> None:
    rendered = openapi_v2.Rendered(json=b"{}", etag="ABC", modified=1_700_000_000.5)
    assert openapi_v2._not_modified({"If-None-Match": '"ABC"'}, rendered)
    assert openapi_v2._not_modified({"If-None-Match": '"X", W/"ABC"'}, rendered)
    assert openapi_v2._not_modified({"If-None-Match": "*"}, rendered)
    assert not openapi_v2._not_modified({"If-None-Match": '"X"'}, rendered)
    # If-None-Match decides alone when present
    assert not openapi_v2._not_modified({"If-None-Match": '"X"', "If-Modified-Since":
                                         "Tue, 14 Nov 2023 22:13:20 GMT"}, rendered)
    assert openapi_v2._not_modified({"If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}, rendered)
    assert not openapi_v2._not_modified({"If-Modified-Since": "Tue, 14 Nov 2023 22:13:19 GMT"}, rendered)
    assert not openapi_v2._not_modified({"If-Modified-Since": "garbage"}, rendered)
    assert not openapi_v2._not_modified({}, rendered)
