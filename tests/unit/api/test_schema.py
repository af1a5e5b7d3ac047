"""The schema layer: upstream definitions as walkable nodes for patching and validation."""

from __future__ import annotations

from kubelite.api import schema


def pod_spec() -> schema.Node:
    pod = schema.root("", "v1", "Pod")
    assert pod is not None
    spec = pod.child("spec")
    assert spec is not None
    return spec


def test_builtin_kinds_resolve_to_their_definitions() -> None:
    assert schema.definition_for("", "v1", "Pod") == "io.k8s.api.core.v1.Pod"
    assert schema.definition_for("apps", "v1", "Deployment") == "io.k8s.api.apps.v1.Deployment"
    assert schema.definition_for("batch", "v1", "CronJob") == "io.k8s.api.batch.v1.CronJob"
    assert schema.definition_for("", "v1", "Status") == "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
    assert schema.definition_for("example.com", "v1", "Widget") is None
    assert schema.root("apps", "v1", "Nope") is None


def test_definitions_are_served_raw_for_the_openapi_document() -> None:
    defs = schema.definitions()
    assert "io.k8s.api.core.v1.PodSpec" in defs
    assert defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["x-kubernetes-patch-merge-key"] == "name"


def test_containers_merge_by_name_and_ports_by_container_port() -> None:
    containers = pod_spec().child("containers")
    assert containers is not None
    assert containers.kind == "array"
    assert containers.patch_merge_key == "name"
    assert containers.patch_strategies == {"merge"}
    assert containers.list_type == "map" and containers.list_map_keys == ("name",)
    container = containers.items()
    assert container is not None and container.kind == "object"
    image = container.child("image")
    assert image is not None and image.kind == "string"
    assert container.child("imagee") is None
    ports = container.child("ports")
    assert ports is not None and ports.patch_merge_key == "containerPort"
    port = ports.items()
    assert port is not None
    container_port = port.child("containerPort")
    assert container_port is not None and container_port.kind == "integer"
    assert container_port.format == "int32"


def test_volumes_merge_and_retain_keys_and_finalizers_are_a_merging_set() -> None:
    volumes = pod_spec().child("volumes")
    assert volumes is not None and volumes.patch_strategies == {"merge", "retainKeys"}
    pod = schema.root("", "v1", "Pod")
    assert pod is not None
    metadata = pod.child("metadata")
    assert metadata is not None
    finalizers = metadata.child("finalizers")
    assert finalizers is not None
    assert finalizers.list_type == "set" and finalizers.patch_strategies == {"merge"}
    assert finalizers.patch_merge_key is None
    deployment = schema.root("apps", "v1", "Deployment")
    assert deployment is not None
    spec = deployment.child("spec")
    assert spec is not None
    strategy = spec.child("strategy")
    # the strategy lives on the property, the fields on the referenced type: both count
    assert strategy is not None and strategy.patch_strategies == {"retainKeys"}
    assert strategy.child("rollingUpdate") is not None


def test_maps_expose_their_value_node() -> None:
    pod = schema.root("", "v1", "Pod")
    assert pod is not None
    metadata = pod.child("metadata")
    assert metadata is not None
    labels = metadata.child("labels")
    assert labels is not None and labels.kind == "map"
    value = labels.additional()
    assert value is not None and value.kind == "string"
    assert labels.child("any-key") is value


def test_int_or_string_quantity_and_raw_extension_are_leaves() -> None:
    container = pod_spec().child("containers").items()  # type: ignore[union-attr]
    assert container is not None
    limits = container.child("resources").child("limits")  # type: ignore[union-attr]
    assert limits is not None
    quantity = limits.additional()
    assert quantity is not None and quantity.kind == "any"
    deployment = schema.root("apps", "v1", "Deployment")
    rolling = deployment.child("spec").child("strategy").child("rollingUpdate")  # type: ignore[union-attr]
    assert rolling is not None
    max_surge = rolling.child("maxSurge")
    assert max_surge is not None and max_surge.kind == "any"
    revision = schema.root("apps", "v1", "ControllerRevision")
    assert revision is not None
    data = revision.child("data")
    assert data is not None and data.kind == "any"


def test_nodes_are_cached() -> None:
    assert schema.root("", "v1", "Pod") is schema.root("", "v1", "Pod")
    spec = pod_spec()
    assert spec.child("containers") is spec.child("containers")
    # a plain reference shares its definition's node whichever path leads to it
    template = schema.root("apps", "v1", "Deployment").child("spec").child("template")  # type: ignore[union-attr]
    assert template is not None and template.child("spec") is spec


def test_go_type_names_match_upstream_decoder_messages() -> None:
    containers = pod_spec().child("containers")
    assert containers is not None
    assert containers.go_type == "[]v1.Container"
    assert containers.items().go_struct == "Container"  # type: ignore[union-attr]
    labels = schema.definition_node(schema.OBJECT_META).child("labels")  # type: ignore[union-attr]
    assert labels is not None and labels.go_type == "map[string]string"


CRD_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer"},
                "port": {"x-kubernetes-int-or-string": True},
                "hosts": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "status": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"phase": {"type": "string"}},
        },
    },
}


def test_crd_schemas_walk_like_builtin_ones() -> None:
    root = schema.Node.from_openapi_v3_schema(CRD_SCHEMA)
    assert root.kind == "object"
    # apiVersion, kind and metadata are known whatever the CRD schema says
    assert root.child("apiVersion") is not None
    metadata = root.child("metadata")
    assert metadata is not None and metadata.def_name == schema.OBJECT_META
    spec = root.child("spec")
    assert spec is not None
    hosts = spec.child("hosts")
    assert hosts is not None and hosts.list_type == "set" and hosts.items().kind == "string"  # type: ignore[union-attr]
    port = spec.child("port")
    assert port is not None and port.kind == "any"
    extra = spec.child("extra")
    assert extra is not None and extra.kind == "any"
    tags = spec.child("tags")
    assert tags is not None and tags.kind == "map"
    status = root.child("status")
    assert status is not None and status.kind == "object" and status.preserve_unknown
    assert status.has_field("anything")
    assert not spec.has_field("anything")
