"""What the HTTP/1.1 front serves itself and what it leaves to aiohttp (``http1.parse``)."""

from __future__ import annotations

import pytest

from kubelite.apiserver import http1

LIMIT = 3 * 1024 * 1024


def _head(first: str, *headers: str) -> bytes:
    return ("\r\n".join([first, "Host: x", *headers]) + "\r\n\r\n").encode()


def test_a_plain_create_is_served_here_with_its_body() -> None:
    body = b'{"kind":"Pod"}'
    raw = _head("POST /api/v1/namespaces/default/pods?fieldManager=kubectl HTTP/1.1",
                "Content-Type: application/json", f"Content-Length: {len(body)}") + body + b"GET / HTTP/1.1"
    parsed = http1.parse(raw, LIMIT)
    assert isinstance(parsed, tuple)
    method, path, query, raw_query, headers, start, length = parsed
    assert (method, path, query, raw_query) == ("POST", "/api/v1/namespaces/default/pods",
                                                "fieldManager=kubectl", b"fieldManager=kubectl")
    assert headers["content-type"] == "application/json" and headers["Host"] == "x"
    assert raw[start:start + length] == body  # the pipelined request after it is left alone


def test_an_incomplete_request_waits_for_its_missing_bytes() -> None:
    assert http1.parse(b"GET /api HTTP/1.1\r\nHost: x\r\n", LIMIT) == 0
    assert http1.parse(_head("PUT /api/v1/x HTTP/1.1", "Content-Length: 10") + b"abc", LIMIT) == 7


def test_a_percent_encoded_query_is_decoded_as_aiohttp_does() -> None:
    parsed = http1.parse(_head("GET /api/v1/pods?labelSelector=app%3Dweb+x HTTP/1.1"), LIMIT)
    assert isinstance(parsed, tuple)
    assert parsed[2] == "labelSelector=app=web x"
    assert parsed[3] == b"labelSelector=app%3Dweb+x"


def test_a_watch_is_served_here_only_as_a_get() -> None:
    assert isinstance(http1.parse(_head("GET /api/v1/pods?watch=true HTTP/1.1"), LIMIT), tuple)
    assert http1.parse(_head("POST /api/v1/pods?watch=true HTTP/1.1", "Content-Length: 0"), LIMIT) is None


@pytest.mark.parametrize("raw", [
    _head("GET /api/v1/namespaces/d/pods/p/log HTTP/1.1"),           # streams from the node agent
    _head("GET /api/v1/namespaces/d/pods/p/exec?command=ls HTTP/1.1"),
    _head("GET /api/v1/namespaces/d/services/s/proxy/x HTTP/1.1"),
    _head("GET /api/v1/namespaces/d/pods/a%2Fb HTTP/1.1"),           # a path to decode
    _head("GET /api/../version HTTP/1.1"),                           # a path to normalise
    _head("HEAD /version HTTP/1.1"),
    _head("GET /version HTTP/1.0"),
    _head("GET /version HTTP/1.1", "Connection: close"),
    _head("GET /version HTTP/1.1", "Connection: Upgrade", "Upgrade: websocket"),
    _head("POST /api/v1/x HTTP/1.1", "Expect: 100-continue", "Content-Length: 5"),
    _head("POST /api/v1/x HTTP/1.1", "Transfer-Encoding: chunked"),
    _head("POST /api/v1/x HTTP/1.1", "Content-Length: 5", "Content-Length: 5"),
    _head("POST /api/v1/x HTTP/1.1", "Content-Length: -1"),
    _head("POST /api/v1/x HTTP/1.1", f"Content-Length: {LIMIT + 1}"),  # aiohttp answers 413
    _head("GET /version HTTP/1.1", "Bad Header: x"),
    _head("GET /version HTTP/1.1", "X-A: 1", " folded"),
    b"GET /version HTTP/1.1\r\nX: \xff\xfe\r\n\r\n".replace(b"X: ", b"\xc3\xa9: "),
])
def test_anything_unusual_is_left_to_aiohttp(raw: bytes) -> None:
    assert http1.parse(raw, LIMIT) is None


def test_a_head_larger_than_the_limit_is_left_to_aiohttp() -> None:
    assert http1.parse(b"GET / HTTP/1.1\r\n" + b"X-A: " + b"a" * http1.MAX_HEAD_BYTES, LIMIT) is None
