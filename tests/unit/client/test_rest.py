"""The REST client against a fake API: verbs and URLs, Status errors, paging, watch
streams, failover between servers, retries, throttling, kubeconfig and TLS."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubelite.api import scheme
from kubelite.client import config, errors, resources, rest

from . import fakeapi

PODS = "core/v1/pods"


def cfg(*servers: str, **kw: Any) -> config.ClientConfig:
    return config.ClientConfig(servers=list(servers), **kw)


@contextlib.asynccontextmanager
async def running(**client_kw: Any) -> AsyncIterator[tuple[fakeapi.FakeApi, rest.Client]]:
    fake = fakeapi.FakeApi()
    async with fakeapi.serve(fake) as url, rest.Client(cfg(url), **client_kw) as client:
        yield fake, client


def pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


# --- verbs and addressing -------------------------------------------------------------


async def test_create_get_update_patch_delete_round_trip() -> None:
    async with running() as (fake, client):
        created = await client.create(resources.PODS, pod("web"))
        assert created["metadata"]["resourceVersion"]
        assert fake.seen("POST")[0].path == "/api/v1/namespaces/default/pods"

        got = await client.get(resources.PODS, "web", namespace="default")
        got["metadata"]["labels"] = {"tier": "front"}
        updated = await client.update(resources.PODS, got)
        assert updated["metadata"]["labels"] == {"tier": "front"}
        assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])

        patched = await client.patch(resources.PODS, "web", {"metadata": {"labels": {"x": "1"}}})
        assert patched["metadata"]["labels"] == {"tier": "front", "x": "1"}
        assert fake.seen("PATCH")[0].headers["Content-Type"] == "application/merge-patch+json"

        await client.delete(resources.PODS, "web", grace_period_seconds=0, propagation_policy="Background")
        delete = fake.seen("DELETE")[0]
        assert orjson.loads(delete.body) == {
            "kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
            "propagationPolicy": "Background"}
        with pytest.raises(errors.NotFound):
            await client.get(resources.PODS, "web")


async def test_group_resources_and_tuples_address_the_right_paths() -> None:
    async with running() as (fake, client):
        lease = {"metadata": {"name": "sched", "namespace": "kube-system"}, "spec": {}}
        await client.create(resources.LEASES, lease)
        await client.get(("coordination.k8s.io", "v1", "leases"), "sched", namespace="kube-system")
        await client.create(resources.NODES, {"metadata": {"name": "n1"}}, namespace="ignored")
        paths = [r.path for r in fake.requests]
        assert paths == [
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/sched",
            "/api/v1/nodes",
        ]


async def test_parameters_are_sent_as_kubernetes_parses_them() -> None:
    async with running() as (fake, client):
        await client.create(resources.PODS, pod("p"), dry_run=True, field_manager="me")
        await client.list(resources.PODS, namespace="default", label_selector="app=web",
                          field_selector="spec.nodeName=n1", limit=5)
        await client.patch(resources.PODS, "p", {"metadata": {}}, patch_type="apply",
                           field_manager="me", force=True)
        await client.patch(resources.PODS, "p", [{"op": "test", "path": "/x", "value": 1}],
                           patch_type="json")
        post, get = fake.seen("POST")[0], fake.seen("GET")[0]
        assert post.query == {"dryRun": "All", "fieldManager": "me"}
        assert get.query == {"labelSelector": "app=web", "fieldSelector": "spec.nodeName=n1", "limit": "5"}
        apply, jsonpatch = fake.seen("PATCH")
        assert apply.query == {"fieldManager": "me", "force": "true"}
        assert apply.headers["Content-Type"] == "application/apply-patch+yaml"
        assert jsonpatch.headers["Content-Type"] == "application/json-patch+json"
        with pytest.raises(ValueError, match="field_manager"):
            await client.patch(resources.PODS, "p", {}, patch_type="apply")


async def test_raw_request_reaches_subresources_and_returns_text_for_logs() -> None:
    async with running() as (fake, client):
        fake.inject(200, "line one\nline two\n", path_contains="/log")
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                   "target": {"kind": "Node", "name": "n1"}}
        fake.inject(201, {"kind": "Status", "apiVersion": "v1", "status": "Success"},
                    path_contains="/binding")
        result = await client.request("POST", "/api/v1/namespaces/default/pods/p/binding", json=binding)
        logs = await client.request("GET", "/api/v1/namespaces/default/pods/p/log", params={"tailLines": 2})
        assert result["status"] == "Success"
        assert logs == "line one\nline two\n"
        assert orjson.loads(fake.seen("POST")[0].body) == binding


# --- errors ---------------------------------------------------------------------------


async def test_status_errors_map_to_exceptions_by_reason() -> None:
    async with running() as (fake, client):
        with pytest.raises(errors.NotFound) as nf:
            await client.get(resources.PODS, "missing")
        assert (nf.value.code, nf.value.reason) == (404, "NotFound")
        assert nf.value.message == 'pods "missing" not found'
        assert nf.value.status["details"]["name"] == "missing"

        await client.create(resources.PODS, pod("p"))
        with pytest.raises(errors.AlreadyExists):
            await client.create(resources.PODS, pod("p"))
        stale = pod("p")
        stale["metadata"]["resourceVersion"] = "1"
        with pytest.raises(errors.Conflict) as conflict:
            await client.update(resources.PODS, stale)
        assert not isinstance(conflict.value, errors.AlreadyExists)

        cause = {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}
        fake.inject(422, fakeapi.status(422, "Invalid", 'Pod "q" is invalid', causes=[cause]))
        with pytest.raises(errors.Invalid) as invalid:
            await client.create(resources.PODS, pod("q"))
        assert invalid.value.causes == [cause]

        fake.inject(502, "<html>bad gateway</html>")
        with pytest.raises(errors.ServerError) as server:
            await client.get(resources.PODS, "p")
        assert server.value.code == 502

        fake.inject(403, fakeapi.status(403, "Forbidden", "no"))
        with pytest.raises(errors.Forbidden):
            await client.get(resources.PODS, "p")


def test_expired_is_a_gone_and_every_error_is_an_api_error() -> None:
    err = errors.from_status(410, fakeapi.status(410, "Expired", "too old resource version: 1 (5)"))
    assert isinstance(err, errors.Expired) and isinstance(err, errors.Gone)
    assert issubclass(errors.ConnectionFailed, errors.ApiError)
    assert errors.from_status(418, "teapot").code == 418


# --- paging ---------------------------------------------------------------------------


async def test_list_pages_with_continue_and_list_all_joins_them() -> None:
    async with running() as (fake, client):
        for i in range(7):
            fake.put_object(PODS, pod(f"p{i}"))
        page = await client.list(resources.PODS, limit=3)
        assert len(page["items"]) == 3 and page["metadata"]["continue"]

        everything = await client.list_all(resources.PODS, page_size=3)
        assert [p["metadata"]["name"] for p in everything["items"]] == [f"p{i}" for i in range(7)]
        assert "continue" not in everything["metadata"]
        assert everything["metadata"]["resourceVersion"] == page["metadata"]["resourceVersion"]
        assert len(fake.seen("GET")) == 1 + 3


async def test_list_all_falls_back_to_one_full_list_when_the_continue_token_expires() -> None:
    async with running() as (fake, client):
        for i in range(5):
            fake.put_object(PODS, pod(f"p{i}"))
        fake.inject(410, fakeapi.status(410, "Expired", "continue too old"), query_has="continue")
        everything = await client.list_all(resources.PODS, page_size=2)
        assert len(everything["items"]) == 5
        assert "limit" not in fake.seen("GET")[-1].query


# --- watch ----------------------------------------------------------------------------


async def test_watch_streams_events_in_order_with_bookmarks() -> None:
    async with running() as (fake, client):
        start = fake.put_object(PODS, pod("a"))["metadata"]["resourceVersion"]
        events: list[tuple[str, str]] = []
        stream = client.watch(resources.PODS, namespace="default", resource_version=start,
                              timeout_seconds=5)
        async with contextlib.aclosing(stream) as watch:
            await client.create(resources.PODS, pod("b"))
            await client.patch(resources.PODS, "a", {"metadata": {"labels": {"v": "2"}}})
            mark = fake.bookmark()
            await client.delete(resources.PODS, "b")
            async for event in watch:
                name = event["object"]["metadata"].get("name", event["object"]["metadata"]["resourceVersion"])
                events.append((event["type"], name))
                if event["type"] == "DELETED":
                    break
        assert events == [("ADDED", "b"), ("MODIFIED", "a"), ("BOOKMARK", str(mark)), ("DELETED", "b")]
        query = fake.seen("GET", "/pods")[0].query
        assert query["watch"] == "true" and query["allowWatchBookmarks"] == "true"
        assert query["timeoutSeconds"] == "5"


async def test_watch_error_event_raises_expired() -> None:
    async with running() as (fake, client):
        fake.put_object(PODS, pod("a"))
        fake.compact()
        with pytest.raises(errors.Expired) as expired:
            async for _ in client.watch(resources.PODS, resource_version="1"):
                pass
        assert "too old resource version" in expired.value.message


async def test_watch_ends_quietly_when_the_server_closes_the_stream() -> None:
    async with running() as (_, client):
        got = [e async for e in client.watch(resources.PODS, resource_version="100", timeout_seconds=0)]
        assert got == []


# --- failover, retries, throttling ------------------------------------------------------


async def test_failover_to_the_second_server_when_the_first_is_down() -> None:
    fake = fakeapi.FakeApi()
    async with fakeapi.serve(fake) as url, rest.Client(cfg(fakeapi.dead_url(), url)) as client:
        # A POST fails over too: a refused connection never delivered the request.
        await client.create(resources.PODS, pod("p"))
        assert client.server == url
        assert (await client.get(resources.PODS, "p"))["metadata"]["name"] == "p"
        assert len(fake.seen("POST")) == 1


async def test_no_server_answering_is_connection_failed() -> None:
    async with rest.Client(cfg(fakeapi.dead_url(), fakeapi.dead_url()), max_retries=1) as client:
        with pytest.raises(errors.ConnectionFailed):
            await client.get(resources.PODS, "p")


async def test_connection_lost_after_sending_retries_get_but_never_post() -> None:
    async with running() as (fake, client):
        fake.put_object(PODS, pod("p"))
        fake.inject(0, method="GET")
        assert (await client.get(resources.PODS, "p"))["metadata"]["name"] == "p"
        assert len(fake.seen("GET")) == 2

        fake.inject(0, method="POST")
        with pytest.raises(errors.ConnectionFailed):
            await client.create(resources.PODS, pod("q"))
        assert len(fake.seen("POST")) == 1  # the POST may have landed: never sent twice


async def test_too_many_requests_waits_for_retry_after_then_gives_up() -> None:
    async with running(max_throttle_retries=2) as (fake, client):
        fake.put_object(PODS, pod("p"))
        throttled = fakeapi.status(429, "TooManyRequests", "slow down")
        fake.inject(429, throttled, headers={"Retry-After": "0"}, times=2)
        assert (await client.get(resources.PODS, "p"))["metadata"]["name"] == "p"
        assert len(fake.seen("GET")) == 3

        fake.inject(429, throttled, headers={"Retry-After": "0"}, times=None)
        with pytest.raises(errors.TooManyRequests) as exc:
            await client.create(resources.PODS, pod("q"))
        assert exc.value.retry_after == 0


async def test_client_side_rate_limit_spaces_out_requests_beyond_the_burst() -> None:
    fake = fakeapi.FakeApi()
    async with fakeapi.serve(fake) as url, rest.Client(cfg(url, qps=50, burst=2)) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(6):
            with contextlib.suppress(errors.NotFound):
                await client.get(resources.PODS, "p")
        # 2 from the burst, then 4 at 50 qps: at least ~80 ms.
        assert loop.time() - start >= 0.07


# --- configuration and TLS ------------------------------------------------------------


def _cert(subject: str, *, issuer: tuple[Any, x509.Name] | None = None, ca: bool = False,
          ip: str | None = None) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    signer_key, signer_name = issuer if issuer else (key, name)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(signer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=1))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
    return key, builder.sign(signer_key, hashes.SHA256())


def _pem(key: Any, cert: x509.Certificate) -> tuple[bytes, bytes]:
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


async def test_kubeconfig_over_https_with_ca_token_client_cert_and_extra_servers(tmp_path: Path) -> None:
    ca_key, ca_cert = _cert("kubelite-ca", ca=True)
    srv_key, srv_cert = _cert("apiserver", issuer=(ca_key, ca_cert.subject), ip="127.0.0.1")
    cli_key, cli_cert = _cert("system:admin", issuer=(ca_key, ca_cert.subject))
    ca_pem, _ = _pem(ca_key, ca_cert)
    srv_pem, srv_key_pem = _pem(srv_key, srv_cert)
    cli_pem, cli_key_pem = _pem(cli_key, cli_cert)
    (tmp_path / "srv.crt").write_bytes(srv_pem)
    (tmp_path / "srv.key").write_bytes(srv_key_pem)
    (tmp_path / "ca.crt").write_bytes(ca_pem)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "srv.crt", tmp_path / "srv.key")
    server_ctx.load_verify_locations(tmp_path / "ca.crt")
    server_ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: our client cert must be presented

    fake = fakeapi.FakeApi()
    fake.put_object(PODS, pod("p"))
    async with fakeapi.serve(fake, ssl_context=server_ctx) as url:
        kubeconfig = {
            "apiVersion": "v1", "kind": "Config", "current-context": "admin",
            "clusters": [{"name": "kl", "cluster": {
                "server": fakeapi.dead_url().replace("http:", "https:"),
                "certificate-authority": "ca.crt",  # relative to the kubeconfig
                "extensions": [{"name": config.SERVERS_EXTENSION, "extension": {"servers": [url]}}]}}],
            "users": [{"name": "admin", "user": {
                "token": "s3cret",
                "client-certificate-data": base64.b64encode(cli_pem).decode(),
                "client-key-data": base64.b64encode(cli_key_pem).decode()}}],
            "contexts": [{"name": "admin", "context": {"cluster": "kl", "user": "admin",
                                                       "namespace": "default"}}],
        }
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        loaded = config.load_kubeconfig(path)
        assert loaded.servers[1] == url and loaded.namespace == "default"
        async with rest.Client(loaded) as client:
            assert (await client.get(resources.PODS, "p"))["metadata"]["name"] == "p"
        assert fake.requests[-1].headers["Authorization"] == "Bearer s3cret"

        # Without the CA the server's certificate is refused (and no server answers).
        untrusted = config.ClientConfig(servers=[url], token="s3cret")
        async with rest.Client(untrusted, max_retries=0) as client:
            with pytest.raises(errors.ConnectionFailed):
                await client.get(resources.PODS, "p")


def test_token_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("one\n")
    conf = config.from_args(server="https://a:6443,https://b:6443", token_file=str(token))
    assert conf.servers == ["https://a:6443", "https://b:6443"]
    assert conf.bearer_token() == "one"
    token.write_text("two\n")
    os.utime(token, (1, 1))
    assert conf.bearer_token() == "two"


def test_kubeconfig_errors_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({"clusters": [], "contexts": [], "current-context": "x"}))
    with pytest.raises(config.ConfigError, match="no context named 'x'"):
        config.load_kubeconfig(path)


def test_resource_constants_agree_with_the_scheme() -> None:
    for info in scheme.BUILTIN:
        known = resources.lookup(info.group, info.version, info.plural)
        if known is not None:
            assert (known.namespaced, known.kind) == (info.namespaced, info.kind), info.plural
    assert resources.PODS.path(namespace="a b", name="x", subresource="status") == \
        "/api/v1/namespaces/a%20b/pods/x/status"
    assert resources.as_resource(("apps", "v1", "deployments")) is resources.DEPLOYMENTS
