"""Start real kubelite processes for tests and benchmarks, and wait until they answer.

A ``ServerProcess`` is a ``kubelite server`` child process on a free loopback port with
its own data directory; ``kubeconfig`` is the file it wrote, the only thing the clients
under test are given.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubelite_command() -> list[str]:
    return [sys.executable, "-m", "kubelite.cli.main"]


@dataclass
class ServerProcess:
    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    def start(self, *, timeout: float = 30.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "server.log"
        log = open(self.log_path, "ab")
        cmd = kubelite_command() + ["server", "--data-dir", str(self.data_dir), "--port", str(self.port)] + self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.wait_ready(timeout=timeout)
        return self

    def wait_ready(self, *, timeout: float) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"kubelite server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", context=ctx, timeout=1) as resp:
                    if resp.status == 200 and self.kubeconfig.exists():
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"kubelite server not ready after {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def up_process(tmp: Path, *, node: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``kubelite up`` on Docker in ``tmp`` (data dir ``tmp/data``, log ``tmp/up.log``) for
    node ``node``; stopped (SIGTERM, then SIGKILL after 20 s) and its pods' containers
    removed on exit."""
    with open(tmp / "up.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [*kubelite_command(), "up", "--data-dir", str(tmp / "data"), "--port", str(free_port()),
             "--node-name", node, "--runtime", "docker"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.kubelite.node={node}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
