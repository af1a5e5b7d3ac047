"""A datastore that does not answer (etcd without a quorum, a member frozen mid-write) is a
503 with Retry-After for the client, which client-go retries by itself; never a 500."""

from __future__ import annotations

from types import SimpleNamespace

import orjson

from kubelite.apiserver import app
from kubelite.storage import errors as storage_errors


def test_an_unavailable_datastore_is_a_503_with_retry_after() -> None:
    request = SimpleNamespace(method="PATCH", path="/api/v1/namespaces/a/configmaps/c")
    failure = storage_errors.Unavailable("etcd: write may or may not have been applied (DEADLINE_EXCEEDED)")
    resp = app._status_of(request, failure)
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert resp.body is not None
    status = orjson.loads(resp.body)
    assert status["kind"] == "Status" and status["reason"] == "ServiceUnavailable" and status["code"] == 503
    assert "may or may not have been applied" in status["message"]


def test_other_failures_stay_internal_errors() -> None:
    request = SimpleNamespace(method="GET", path="/api/v1/pods")
    resp = app._status_of(request, RuntimeError("a bug"))
    assert resp.status == 500
    assert "Retry-After" not in resp.headers
