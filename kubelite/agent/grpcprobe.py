"""gRPC probes: one call of the standard health service, ``grpc.health.v1.Health/Check``,
as kubelet's gRPC prober makes it (``readinessProbe.grpc: {port, service}``).

Called by ``kubelite.agent.probes.run_handler``. The request and the answer are one field
each (``service`` string, ``status`` enum), written and read with the protobuf wire helpers
of ``kubelite.api.protobuf.wire`` on grpcio's generic unary call, rather than with the
generated stubs of ``grpcio-health-checking``: one more dependency for two varints.
Failure messages are kubelet's words.
"""

from __future__ import annotations

import grpc  # type: ignore[import-untyped]

from kubelite.api.protobuf import wire

CHECK = "/grpc.health.v1.Health/Check"
# HealthCheckResponse.ServingStatus
STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
SERVING = 1


def encode_request(service: str) -> bytes:
    """HealthCheckRequest{service}: field 1, length-delimited; nothing when empty."""
    data = service.encode()
    return b"\x0a" + wire.varint(len(data)) + data if data else b""


def decode_status(data: bytes) -> int:
    """HealthCheckResponse's ``status`` (field 1, varint); 0 (UNKNOWN) when absent. Fields
    a newer server may add are skipped."""
    status = 0
    for number, wire_type, value in wire.iter_fields(data):
        if number == 1 and wire_type == wire.VARINT and isinstance(value, int):
            status = value
    return status


async def check(host: str, port: int, service: str, timeout: float) -> tuple[bool, str]:
    """(healthy, kubelet's message when not)."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(CHECK, request_serializer=encode_request, response_deserializer=decode_status)
        try:
            status = await call(service, timeout=timeout, wait_for_ready=False)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return False, ("error: this server does not implement the grpc health protocol "
                               f"(grpc.health.v1.Health): {exc.details()}")
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return False, f"timeout: health rpc did not complete within {_duration(timeout)}"
            if code == grpc.StatusCode.UNAVAILABLE:
                return False, (f'timeout: failed to connect service "{target}" within {_duration(timeout)}: '
                               f"{exc.details()}")
            return False, (f"error: health rpc probe failed: rpc error: code = {_code_name(code)} "
                           f"desc = {exc.details()}")
    if status != SERVING:
        return False, f'service unhealthy (responded with "{STATUS_NAMES.get(status, str(status))}")'
    return True, ""


def _duration(seconds: float) -> str:
    """Go's time.Duration text for whole and fractional seconds: ``1s``, ``1.5s``."""
    return f"{seconds:g}s"


def _code_name(code: grpc.StatusCode) -> str:
    # grpc-go prints codes in CamelCase (codes.Code.String): PERMISSION_DENIED → PermissionDenied
    return "".join(part.capitalize() for part in code.name.split("_"))
