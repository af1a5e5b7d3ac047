"""The API server's HTTP/1.1 front over real TLS sockets: pipelining, watches on a
keep-alive connection, and the hand-over to aiohttp of what the front does not serve."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml


class Conn:
    """One raw TLS connection to the server, reading answers by their framing."""

    def __init__(self, kubeconfig: Path) -> None:
        cfg = yaml.safe_load(kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        url = urlsplit(cluster["server"])
        self.token = cfg["users"][0]["user"]["token"]
        ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        raw = socket.create_connection((url.hostname, url.port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname=url.hostname)
        self.buffer = b""

    def request(self, method: str, path: str, body: dict | None = None, *, headers: tuple[str, ...] = ()) -> bytes:
        data = json.dumps(body).encode() if body is not None else b""
        head = [f"{method} {path} HTTP/1.1", "Host: kubelite", f"Authorization: Bearer {self.token}",
                "Content-Type: application/json", *headers]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(data)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of the next answer, chunked bodies joined."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._line(), 16):
                body += self._take(size)
                self._take(2)
            self._take(2)
            return status, headers, body
        return status, headers, self._take(int(headers.get("content-length", "0")))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def conn(kubeconfig: Path) -> Iterator[Conn]:
    c = Conn(kubeconfig)
    yield c
    c.close()


def _cm(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def test_pipelined_requests_are_answered_in_order(conn: Conn) -> None:
    names = [f"pipe-{uuid.uuid4().hex[:6]}-{i}" for i in range(5)]
    path = "/api/v1/namespaces/default/configmaps"
    # All sent before any answer is read: HTTP/1.1 answers in the order of the requests.
    conn.send(b"".join(conn.request("POST", path, _cm(n)) for n in names)
              + b"".join(conn.request("GET", f"{path}/{n}") for n in names))
    created = [conn.answer() for _ in names]
    assert [(s, json.loads(b)["metadata"]["name"]) for s, _, b in created] == [(201, n) for n in names]
    got = [conn.answer() for _ in names]
    assert [(s, json.loads(b)["metadata"]["name"]) for s, _, b in got] == [(200, n) for n in names]
    assert all(h["content-type"] == "application/json" and "date" in h for _, h, _ in created + got)


def test_a_watch_streams_on_a_keep_alive_connection_which_then_serves_more(conn: Conn, kubeconfig: Path) -> None:
    name = f"watched-{uuid.uuid4().hex[:6]}"
    path = "/api/v1/namespaces/default/configmaps"
    conn.send(conn.request("POST", path, _cm(name)))
    status, _, body = conn.answer()
    assert status == 201
    rv = json.loads(body)["metadata"]["resourceVersion"]
    # A watch from just before the create, which the server ends after a second.
    conn.send(conn.request("GET", f"{path}?watch=true&resourceVersion={int(rv) - 1}&timeoutSeconds=1"
                                  f"&fieldSelector=metadata.name%3D{name}"))
    started = time.monotonic()
    status, headers, body = conn.answer()
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    events = [json.loads(line) for line in body.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", name)]
    assert time.monotonic() - started < 8
    # The same connection goes on serving requests after the watch's end.
    conn.send(conn.request("GET", f"{path}/{name}"))
    status, _, body = conn.answer()
    assert status == 200 and json.loads(body)["metadata"]["name"] == name


def test_what_the_front_does_not_serve_is_served_by_aiohttp_on_the_same_connection(conn: Conn) -> None:
    name = f"chunked-{uuid.uuid4().hex[:6]}"
    conn.send(conn.request("GET", "/version"))
    assert conn.answer()[0] == 200  # served by the front
    data = json.dumps(_cm(name)).encode()
    # A chunked request body: handed to aiohttp, with the connection.
    conn.send(f"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: kubelite\r\n"
              f"Authorization: Bearer {conn.token}\r\nContent-Type: application/json\r\n"
              f"Transfer-Encoding: chunked\r\n\r\n{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n")
    status, _, body = conn.answer()
    assert status == 201 and json.loads(body)["metadata"]["name"] == name
    conn.send(conn.request("GET", f"/api/v1/namespaces/default/configmaps/{name}"))
    assert conn.answer()[0] == 200


def test_a_body_over_the_limit_is_a_413_status(conn: Conn) -> None:
    conn.send(b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: kubelite\r\n"
              + f"Authorization: Bearer {conn.token}\r\nContent-Type: application/json\r\n".encode()
              + f"Content-Length: {4 * 1024 * 1024}\r\n\r\n".encode() + b"{" + b" " * (4 * 1024 * 1024 - 1))
    status, _, body = conn.answer()
    assert status == 413
    assert json.loads(body)["kind"] == "Status" and json.loads(body)["reason"] == "RequestEntityTooLarge"


def test_a_malformed_header_is_a_400_and_no_crash(conn: Conn, kubeconfig: Path) -> None:
    conn.send(b"GET /version HTTP/1.1\r\nHost: kubelite\r\nBad Header: x\r\n\r\n")
    status, _, _ = conn.answer()
    assert status == 400
    other = Conn(kubeconfig)  # the server is fine
    try:
        other.send(other.request("GET", "/version"))
        assert other.answer()[0] == 200
    finally:
        other.close()


def test_an_unauthenticated_request_is_a_401_status(conn: Conn) -> None:
    conn.send(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: kubelite\r\n\r\n")
    status, _, body = conn.answer()
    assert status == 401 and json.loads(body)["reason"] == "Unauthorized"


def test_a_client_certificate_names_the_user(server, kubeconfig: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A certificate from the cluster's CA identifies its user (CN) and groups (O), with no
    token: the front reads the TLS peer certificate as aiohttp did."""
    from kubelite.apiserver import pki

    cert_pem, key_pem = pki.issue_client_cert(pki.load_pki(server.data_dir), cn="jane", groups=["devs"])
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    c = Conn(kubeconfig)
    c.sock.close()
    cfg = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]
    url = urlsplit(cfg["server"])
    ctx = ssl.create_default_context(cadata=base64.b64decode(cfg["certificate-authority-data"]).decode())
    ctx.load_cert_chain(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    c.sock = ctx.wrap_socket(socket.create_connection((url.hostname, url.port), timeout=10),
                             server_hostname=url.hostname)
    try:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        c.send(b"POST /apis/authentication.k8s.io/v1/selfsubjectreviews HTTP/1.1\r\nHost: kubelite\r\n"
               b"Content-Type: application/json\r\n" + f"Content-Length: {len(json.dumps(body))}\r\n\r\n".encode()
               + json.dumps(body).encode())
        status, _, raw = c.answer()
        assert status == 201
        info = json.loads(raw)["status"]["userInfo"]
        assert info["username"] == "jane" and info["groups"] == ["devs", "system:authenticated"]
    finally:
        c.close()
