"""Output negotiation (``negotiation``): which form of an answer an ``Accept`` header asks
for, read as upstream's negotiate.go reads it, and the PartialObjectMetadata conversions
of response.go."""

from __future__ import annotations

import pytest

from kubelite.api import errors, scheme
from kubelite.apiserver import negotiation, tables
from kubelite.apiserver.negotiation import Output

POM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
POML = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
# What client-go's metadata client sends for a list (its get and watch: as=PartialObjectMetadata).
METADATA_CLIENT_LIST = ("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
                        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json")


def _info(group: str, plural: str) -> scheme.ResourceInfo:
    info = scheme.Scheme().lookup(group, "v1", plural)
    assert info is not None
    return info


PODS = _info("", "pods")
DEPLOYMENTS = _info("apps", "deployments")


@pytest.mark.parametrize(("accept", "expected"), [
    ("", Output()),
    ("application/json", Output()),
    ("*/*", Output()),
    (POM, Output("PartialObjectMetadata", "v1")),
    (POML, Output("PartialObjectMetadataList", "v1")),
    (POM.replace("v=v1", "v=v1beta1"), Output("PartialObjectMetadata", "v1beta1")),
    ("application/json;v=v1;g=meta.k8s.io;as=PartialObjectMetadata", Output("PartialObjectMetadata", "v1")),
    (METADATA_CLIENT_LIST, Output("PartialObjectMetadataList", "v1")),  # protobuf passed over
    (TABLE + ",application/json", Output("Table", "v1")),
    # the first range the server can serve wins, in the client's order...
    ("application/json, " + POM, Output()),
    (POM + "," + TABLE, Output("PartialObjectMetadata", "v1")),
    # ...unless q says otherwise, or a range is more specific
    ("application/json;q=0.5, " + POM, Output("PartialObjectMetadata", "v1")),
    ("*/*, " + POM.replace("application/json", "application/*"), Output("PartialObjectMetadata", "v1")),
    # conversions this server cannot make are passed over
    (POM.replace("v=v1", "v=v2") + ", " + POML, Output("PartialObjectMetadataList", "v1")),
    ("application/json;as=Foo;g=meta.k8s.io;v=v1, application/json", Output()),
    ("application/json;g=meta.k8s.io;v=v1, " + POM, Output("PartialObjectMetadata", "v1")),  # g/v without as
    ("application/yaml;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, text/html", Output()),
])
def test_output_reads_accept_like_upstream(accept: str, expected: Output) -> None:
    assert negotiation.output(accept) == expected


@pytest.mark.parametrize("accept", ["application/json;as=PartialObjectMetadata;g=apps;v=v1", "text/html",
                                    "application/xml, text/*;q=0.5"])
def test_nothing_the_server_writes_is_406(accept: str) -> None:
    with pytest.raises(errors.NotAcceptable, match="only the following media types are accepted"):
        negotiation.output(accept)


def test_tables_share_the_negotiation() -> None:
    assert tables.table_version(TABLE) == "v1"
    assert tables.table_version(POM + "," + TABLE) is None  # PartialObjectMetadata was asked first
    assert tables.table_version(TABLE.replace("v=v1", "v=v1beta1")) == "v1beta1"


def test_partial_object_metadata_of_one_object() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"},
                                                           "resourceVersion": "7", "finalizers": ["f"]},
           "spec": {"containers": []}, "status": {"phase": "Running"}}
    assert negotiation.object_as(Output("PartialObjectMetadata", "v1"), PODS, pod) == {
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]}
    assert negotiation.object_as(Output("PartialObjectMetadata", "v1beta1"), PODS, pod)["apiVersion"] == \
        "meta.k8s.io/v1beta1"
    assert negotiation.object_as(Output(), PODS, pod) is pod
    with pytest.raises(errors.NotAcceptable) as refused:
        negotiation.object_as(Output("PartialObjectMetadataList", "v1"), DEPLOYMENTS, pod)
    assert refused.value.message == ("you requested PartialObjectMetadataList, but the requested object is not a "
                                     "list (*apps.Deployment)")


def test_partial_object_metadata_list() -> None:
    items = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": n, "resourceVersion": "3"}, "spec": {}}
             for n in ("a", "b")]
    body = negotiation.list_as(Output("PartialObjectMetadataList", "v1beta1"), PODS, items,
                               {"resourceVersion": "9", "continue": "tok"})
    assert body == {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1beta1",
                    "metadata": {"resourceVersion": "9", "continue": "tok"},
                    "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1beta1",
                               "metadata": {"name": n, "resourceVersion": "3"}} for n in ("a", "b")]}
    empty = negotiation.list_as(Output("PartialObjectMetadataList", "v1"), PODS, [], {"resourceVersion": "9"})
    assert empty["items"] == []
    assert negotiation.list_as(Output(), PODS, items, {"resourceVersion": "9"}) == {
        "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": items}
    with pytest.raises(errors.NotAcceptable) as refused:
        negotiation.list_as(Output("PartialObjectMetadata", "v1"), PODS, items, {})
    assert refused.value.code == 406
    assert refused.value.message == ("you requested PartialObjectMetadata, but the requested object is a list "
                                     "(*core.PodList)")
