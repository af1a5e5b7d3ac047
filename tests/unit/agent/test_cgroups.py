"""cgroups.read: the counters kubelet reports, from both cgroup layouts and both Docker drivers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.agent.runtime import cgroups

CID = "ab" * 32


def write(path: Path, text: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for line in text.strip().splitlines():
        name, _, content = line.partition("=")
        (path / name).write_text(content.replace("\\n", "\n"))


@pytest.mark.parametrize("cpu_mount", ["cpuacct", "cpu,cpuacct"])
def test_v1_cgroupfs_driver(tmp_path: Path, cpu_mount: str) -> None:
    write(tmp_path / cpu_mount / "docker" / CID, "cpuacct.usage=2500000000\n")
    write(tmp_path / "memory" / "docker" / CID,
          "memory.usage_in_bytes=10485760\nmemory.stat=cache 1\\ntotal_inactive_file 4194304\\nrss 5\n")
    assert cgroups.read(CID, root=tmp_path) == {
        "cpu_usage_ns": 2.5e9, "memory_bytes": 6291456.0, "memory_usage_bytes": 10485760.0}


def test_v2_systemd_driver(tmp_path: Path) -> None:
    write(tmp_path / "system.slice" / f"docker-{CID}.scope",
          "cpu.stat=usage_usec 1500\\nuser_usec 1000\nmemory.current=8192\nmemory.stat=anon 4096\\ninactive_file 4096\n")
    assert cgroups.read(CID, root=tmp_path) == {
        "cpu_usage_ns": 1.5e6, "memory_bytes": 4096.0, "memory_usage_bytes": 8192.0}


def test_inactive_above_usage_is_zero_working_set(tmp_path: Path) -> None:
    write(tmp_path / "docker" / CID, "cpu.stat=usage_usec 1\nmemory.current=100\nmemory.stat=inactive_file 200\n")
    assert cgroups.read(CID, root=tmp_path)["memory_bytes"] == 0.0


def test_unknown_container_asks_the_engine(tmp_path: Path) -> None:
    assert cgroups.read(CID, root=tmp_path) is None
