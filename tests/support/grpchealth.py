"""A gRPC health server (``grpc.health.v1.Health/Check``) for probe tests, on grpcio's
generic handlers. Run as a script (``python -m tests.support.grpchealth PORT FLAG``) it
serves until killed and answers NOT_SERVING while the file FLAG exists: a pod of the
process runtime runs it as its container."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

import grpc  # type: ignore[import-untyped]

from kubelite.agent import grpcprobe


def _decode_service(data: bytes) -> str:
    # HealthCheckRequest{service = 1}: b"" or 0x0a, length, bytes (short names only here)
    return data[2:].decode() if data[:1] == b"\x0a" else ""


def _encode_status(status: int) -> bytes:
    return b"\x08" + bytes([status])


def handler(status_of: Callable[[str], int | None]) -> grpc.GenericRpcHandler:
    """Health/Check answering ``status_of(service)``; None: NOT_FOUND, as grpc-go's server."""

    async def check(service: str, context: grpc.aio.ServicerContext) -> int:
        status = status_of(service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return status

    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(check, request_deserializer=_decode_service,
                                                    response_serializer=_encode_status)})


async def serve(port: int, flag: str) -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([handler(
        lambda service: (2 if os.path.exists(flag) else grpcprobe.SERVING) if service == "" else None)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
