"""Probes over real loopback sockets: a gRPC health server answering each status, a
server without the health service, closed ports; and the failure words kubelet uses,
which ``kubectl describe pod`` shows."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import grpc  # type: ignore[import-untyped]
import pytest

from kubelite.agent import grpcprobe, probes
from tests.support import grpchealth

STATUSES = {"": grpcprobe.SERVING, "db": 2, "cache": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(handler: dict[str, object], *, timeout: float = 2.0) -> probes.Outcome:
    return await probes.run_handler(handler, runtime=None, container_id="c", container={},  # type: ignore[arg-type]
                                    pod_ip="127.0.0.1", timeout=timeout)


@pytest.fixture
async def health_port() -> AsyncIterator[int]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpchealth.handler(STATUSES.get)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port
    await server.stop(None)


@pytest.fixture
async def other_grpc_port() -> AsyncIterator[int]:
    server = grpc.aio.server()  # a gRPC server without the health service
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port
    await server.stop(None)


def test_the_health_messages_encode_as_protobuf() -> None:
    assert grpcprobe.encode_request("") == b""
    assert grpcprobe.encode_request("db") == b"\x0a\x02db"
    assert grpcprobe.encode_request("x" * 200)[:3] == b"\x0a\xc8\x01"
    assert grpcprobe.decode_status(b"\x08\x01") == 1
    assert grpcprobe.decode_status(b"") == 0
    # an unknown length-delimited field before the status is skipped
    assert grpcprobe.decode_status(b"\x12\x03abc\x08\x02") == 2


async def test_grpc_probe_serving_passes(health_port: int) -> None:
    assert await run({"grpc": {"port": health_port}}) == probes.Outcome(True)


@pytest.mark.parametrize(("service", "status"), [("db", "NOT_SERVING"), ("cache", "UNKNOWN")])
async def test_grpc_probe_not_serving_fails_with_kubelets_words(health_port: int, service: str, status: str) -> None:
    outcome = await run({"grpc": {"port": health_port, "service": service}})
    assert outcome == probes.Outcome(False, f'service unhealthy (responded with "{status}")')


async def test_grpc_probe_of_an_unknown_service(health_port: int) -> None:
    outcome = await run({"grpc": {"port": health_port, "service": "nope"}})
    assert not outcome.ok
    assert outcome.message == "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"


async def test_grpc_probe_of_a_server_without_the_health_service(other_grpc_port: int) -> None:
    outcome = await run({"grpc": {"port": other_grpc_port}})
    assert not outcome.ok
    assert outcome.message.startswith("error: this server does not implement the grpc health protocol "
                                      "(grpc.health.v1.Health)")


async def test_grpc_probe_of_a_closed_port() -> None:
    port = free_port()
    outcome = await run({"grpc": {"port": port}}, timeout=1.0)
    assert not outcome.ok
    assert outcome.message.startswith(f'timeout: failed to connect service "127.0.0.1:{port}" within 1s')


async def test_http_and_tcp_probes_of_a_closed_port_say_what_kubelet_says() -> None:
    port = free_port()
    http = await run({"httpGet": {"port": port, "path": "/healthz"}})
    assert http == probes.Outcome(
        False, f'Get "http://127.0.0.1:{port}/healthz": dial tcp 127.0.0.1:{port}: connect: connection refused')
    tcp = await run({"tcpSocket": {"port": port}})
    assert tcp == probes.Outcome(False, f"dial tcp 127.0.0.1:{port}: connect: connection refused")
