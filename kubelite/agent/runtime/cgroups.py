"""Container CPU and memory read straight from the host's cgroup files.

The Docker driver's ``stats`` calls this first when the engine is local: the engine's own
stats endpoint reads the same files, but costs the engine a request, a lock on the
container and JSON for every container in every sampling pass, while it may be busy
starting a burst of pods. Both cgroup layouts and both of Docker's cgroup drivers are
known; when none of their paths exists (rootless engine, agent in its own cgroup
namespace, another runtime) ``read`` returns None and the caller asks the engine.

The numbers are the ones cAdvisor/kubelet report: cumulative CPU time, memory usage, and
the working set (usage minus inactive file cache).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _v1_dirs(container_id: str, root: Path) -> tuple[Path, Path] | None:
    for cpu in ("cpuacct", "cpu,cpuacct"):
        for parent in ("docker", f"system.slice/docker-{container_id}.scope"):
            sub = parent if parent.endswith(".scope") else f"{parent}/{container_id}"
            cpu_dir, mem_dir = root / cpu / sub, root / "memory" / sub
            if (cpu_dir / "cpuacct.usage").exists():
                return cpu_dir, mem_dir
    return None


def _v2_dir(container_id: str, root: Path) -> Path | None:
    for sub in (f"docker/{container_id}", f"system.slice/docker-{container_id}.scope"):
        if (root / sub / "cpu.stat").exists():
            return root / sub
    return None


def _stat_value(text: str, key: str) -> float:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return float(value)
    return 0.0


def _point(cpu_ns: float, usage: float, inactive: float) -> dict[str, float]:
    working_set = usage - inactive if inactive < usage else 0.0
    return {"cpu_usage_ns": cpu_ns, "memory_bytes": working_set, "memory_usage_bytes": usage}


def read(container_id: str, *, root: Path = ROOT) -> dict[str, float] | None:
    """The container's counters, or None when its cgroup is not found under ``root``."""
    try:
        v1 = _v1_dirs(container_id, root)
        if v1 is not None:
            cpu_dir, mem_dir = v1
            cpu_ns = float((cpu_dir / "cpuacct.usage").read_text())
            usage = float((mem_dir / "memory.usage_in_bytes").read_text())
            inactive = _stat_value((mem_dir / "memory.stat").read_text(), "total_inactive_file")
            return _point(cpu_ns, usage, inactive)
        v2 = _v2_dir(container_id, root)
        if v2 is not None:
            cpu_ns = _stat_value((v2 / "cpu.stat").read_text(), "usage_usec") * 1000.0
            usage = float((v2 / "memory.current").read_text())
            inactive = _stat_value((v2 / "memory.stat").read_text(), "inactive_file")
            return _point(cpu_ns, usage, inactive)
    except (OSError, ValueError):
        return None  # the container went away between the checks: let the engine say so
    return None
