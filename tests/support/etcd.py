"""Run a real local etcd cluster for tests: N members on 127.0.0.1 with their own ports and
data directories, and the faults tests inject (kill a member, find the leader).

Used by ``tests/cluster/`` (and benchmarks). ``scripts/etcd-cluster.sh`` does the same from
a shell for trying HA by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all bound at once, so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def etcd_binary() -> str | None:
    return shutil.which("etcd")


@dataclass(frozen=True)
class TLSFiles:
    """PEM files for TLS on the members' client URLs (with client-certificate auth)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    tls: bool = False

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def client_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class EtcdCluster:
    """``EtcdCluster(tmp_path, members=3).start()``; ``stop()`` when done.

    Election settings are etcd's defaults (heartbeat 100 ms, election timeout 1000 ms), so
    failover times measured here are what a default deployment gets.
    """

    base_dir: Path
    members: int = 3
    heartbeat_ms: int = 100
    election_ms: int = 1000
    tls: TLSFiles | None = None
    nodes: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        token = f"kubelite-test-{os.getpid()}-{id(self)}"
        self._token = token
        ports = free_ports(2 * self.members)
        self.nodes = [Member(name=f"m{i}", client_port=ports[2 * i], peer_port=ports[2 * i + 1],
                             data_dir=self.base_dir / f"m{i}", tls=self.tls is not None)
                      for i in range(self.members)]

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.nodes]

    @property
    def url(self) -> str:
        """The kubelite storage URL for the whole cluster (with the client TLS files)."""
        return self.url_for(self.endpoints)

    def url_for(self, endpoints: list[str]) -> str:
        if self.tls is None:
            return "etcd://" + ",".join(endpoints)
        return (f"etcds://{','.join(endpoints)}?ca={self.tls.ca}&cert={self.tls.client_cert}"
                f"&key={self.tls.client_key}")

    def _command(self, member: Member) -> list[str]:
        binary = etcd_binary()
        if binary is None:
            raise RuntimeError("etcd is not installed (Debian: apt-get install etcd-server)")
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.nodes)
        return [binary, "--name", member.name, "--data-dir", str(member.data_dir),
                "--listen-client-urls", member.client_url,
                "--advertise-client-urls", member.client_url,
                "--listen-peer-urls", member.peer_url,
                "--initial-advertise-peer-urls", member.peer_url,
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", self._token,
                "--heartbeat-interval", str(self.heartbeat_ms),
                "--election-timeout", str(self.election_ms),
                "--logger", "zap", "--log-outputs", "stderr",
                *self._tls_flags()]

    def _tls_flags(self) -> list[str]:
        if self.tls is None:
            return []
        return ["--cert-file", str(self.tls.server_cert), "--key-file", str(self.tls.server_key),
                "--trusted-ca-file", str(self.tls.ca), "--client-cert-auth"]

    def start_member(self, index: int) -> None:
        """Start (or restart, on its existing data) member ``index``."""
        member = self.nodes[index]
        if member.alive:
            return
        member.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.base_dir / f"{member.name}.log", "ab") as log:
            member.proc = subprocess.Popen(self._command(member), stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start(self, *, timeout: float = 20.0) -> EtcdCluster:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for index in range(len(self.nodes)):
            self.start_member(index)
        self.wait_healthy(timeout=timeout)
        return self

    def wait_healthy(self, *, timeout: float = 20.0) -> None:
        """Wait until every live member answers with a leader elected."""
        deadline = time.monotonic() + timeout
        while True:
            for member in self.nodes:
                if member.proc is not None and member.proc.poll() is not None and \
                        member.proc.returncode not in (-signal.SIGKILL, -signal.SIGTERM):
                    raise RuntimeError(f"etcd {member.name} exited with "
                                       f"{member.proc.returncode}:\n{self.tail(member)}")
            try:
                if self.leader() is not None and all(
                        self._healthy(m) for m in self.nodes if m.alive):
                    return
            except (subprocess.SubprocessError, ValueError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd cluster not healthy after {timeout}s:\n"
                                   + "\n".join(self.tail(m) for m in self.nodes))
            time.sleep(0.05)

    def _etcdctl(self, *args: str, endpoints: list[str], timeout: float = 5.0
                 ) -> subprocess.CompletedProcess[str]:
        tls = [] if self.tls is None else [
            "--cacert", str(self.tls.ca), "--cert", str(self.tls.client_cert),
            "--key", str(self.tls.client_key)]
        return subprocess.run(
            ["etcdctl", "--endpoints", ",".join(endpoints), "--dial-timeout", "1s",
             "--command-timeout", "2s", *tls, *args],
            check=False, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "ETCDCTL_API": "3"})

    def _healthy(self, member: Member) -> bool:
        return self._etcdctl("endpoint", "health", endpoints=[member.endpoint]).returncode == 0

    def status(self) -> dict[str, dict[str, int]]:
        """``{member name: {"member_id", "leader", "revision", "raft_term"}}`` of live members."""
        live = [m for m in self.nodes if m.alive]
        if not live:
            return {}
        out = self._etcdctl("endpoint", "status", "-w", "json",
                            endpoints=[m.endpoint for m in live]).stdout
        by_endpoint = {m.client_url: m.name for m in live}
        by_endpoint.update({m.endpoint: m.name for m in live})
        by_endpoint.update({f"http://{m.endpoint}": m.name for m in live})
        by_endpoint.update({f"https://{m.endpoint}": m.name for m in live})
        result = {}
        for entry in json.loads(out or "[]"):
            name = by_endpoint.get(entry["Endpoint"])
            status = entry["Status"]
            if name is None:
                continue
            result[name] = {"member_id": int(status["header"]["member_id"]),
                            "leader": int(status.get("leader", 0)),
                            "revision": int(status["header"]["revision"]),
                            "raft_term": int(status["header"].get("raft_term", 0))}
        return result

    def leader(self) -> int | None:
        """Index of the member that leads now (as a live member sees it), or None."""
        status = self.status()
        for index, member in enumerate(self.nodes):
            info = status.get(member.name)
            if info is not None and info["leader"] and info["member_id"] == info["leader"]:
                return index
        return None

    def kill(self, member: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to member ``member`` (SIGKILL: reap it so it shows as dead)."""
        node = self.nodes[member]
        if node.proc is None or node.proc.poll() is not None:
            return
        node.proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            node.proc.wait(timeout=10)

    def tail(self, member: Member, lines: int = 20) -> str:
        path = self.base_dir / f"{member.name}.log"
        if not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {member.name}\n" + "\n".join(text)

    def stop(self) -> None:
        """Kill every member: test data is thrown away, and a clean etcd shutdown waits
        seconds for a leadership transfer that nobody needs here."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.kill()
        for node in self.nodes:
            if node.proc is not None:
                node.proc.wait(timeout=10)
