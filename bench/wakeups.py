"""What one cross-process message costs on this machine, with the peer asleep or busy.

Run: ``python bench/wakeups.py [--messages N]``. For a loopback TCP connection, a Unix
socket pair and a pipe, a parent sends 1.5 KB messages to a forked child that reads them:

- ``asleep``: after each send the parent spins 200 µs, so the child has gone back to sleep
  in ``recv`` before the next message arrives: every message wakes it.
- ``busy``: the parent sends back to back, so the child mostly finds data waiting.

Prints one JSON line per case: the sender's µs per send call and the receiver's CPU µs per
message. Why it matters: kubelite's processes (API server, its SQLite writer, scheduler,
clients) hand work to each other all the time; on a VM where a wake-up costs tens of µs,
how often they do (batching) decides as much as the work itself.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time

SIZE = 1500
GAP_S = 200e-6


def _pair(kind: str) -> tuple[object, object]:
    if kind == "tcp":
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        a = socket.create_connection(srv.getsockname())
        a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        b, _ = srv.accept()
        srv.close()
        return a, b
    if kind == "unix":
        return socket.socketpair()
    r, w = os.pipe()
    return w, r


def _send(end: object, data: bytes) -> None:
    if isinstance(end, int):
        os.write(end, data)
    else:
        end.sendall(data)  # type: ignore[attr-defined]


def _recv(end: object) -> bytes:
    return os.read(end, 1 << 20) if isinstance(end, int) else end.recv(1 << 20)  # type: ignore[attr-defined]


def measure(kind: str, *, asleep: bool, messages: int) -> dict[str, object]:
    sender, receiver = _pair(kind)
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the receiver
        start, got = time.process_time(), 0
        while got < messages * SIZE:
            chunk = _recv(receiver)
            if not chunk:
                break
            got += len(chunk)
        os.write(report_w, str(time.process_time() - start).encode())
        os._exit(0)
    data, spent = b"x" * SIZE, 0.0
    for _ in range(messages):
        t = time.perf_counter()
        _send(sender, data)
        spent += time.perf_counter() - t
        if asleep:
            until = time.perf_counter() + GAP_S
            while time.perf_counter() < until:
                pass
    os.waitpid(pid, 0)
    receiver_cpu = float(os.read(report_r, 100))
    for end in (sender, receiver, report_r, report_w):
        if isinstance(end, int):
            os.close(end)
        else:
            end.close()  # type: ignore[attr-defined]
    return {"bench": "wakeups", "channel": kind, "peer": "asleep" if asleep else "busy",
            "send_call_us": round(spent / messages * 1e6, 1),
            "receiver_cpu_us_per_message": round(receiver_cpu / messages * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    for kind in ("tcp", "unix", "pipe"):
        for asleep in (True, False):
            print(json.dumps(measure(kind, asleep=asleep, messages=args.messages)), flush=True)


if __name__ == "__main__":
    main()
