"""A server's components die with it, set up after their exec (no Python between fork and exec)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import wait_for

# adopts its parent, then says so in the file it is given, then waits
CHILD = ("import sys, time; from kubelite.cli import components; components.adopt_parent(); "
         "open(sys.argv[1], 'w').close(); time.sleep(60)")

PARENT = textwrap.dedent(f"""
    import subprocess, sys, time
    from kubelite.cli import components
    child = subprocess.Popen([sys.executable, "-c", {CHILD!r}, sys.argv[1]], env=components.child_env())
    print(child.pid, flush=True)
    time.sleep(60)
""")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_a_component_dies_with_its_killed_server(tmp_path: Path) -> None:
    adopted = tmp_path / "adopted"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(adopted)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        wait_for(adopted.exists, 20, 0.05, "the component set up")
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        wait_for(lambda: not alive(child), 10, 0.05, "the component gone with its server")
    finally:
        parent.kill()


def test_a_component_whose_server_is_gone_already_exits(tmp_path: Path) -> None:
    env = {**os.environ, "KUBELITE_PARENT_PID": "1"}  # not its parent: the server it names died
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "x")], env=env, timeout=30, check=False)
    assert done.returncode == 1
    assert not (tmp_path / "x").exists()


def test_a_process_no_server_started_is_left_alone() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBELITE_")}
    done = subprocess.run([sys.executable, "-c", "from kubelite.cli import components; components.adopt_parent()"],
                          env=env, timeout=30, check=False)
    assert done.returncode == 0
