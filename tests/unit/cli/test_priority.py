"""The API server's loop thread runs at a raised priority; its children do not."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kubelite.storage import sqlite

SCRIPT = textwrap.dedent("""
    import os, subprocess, sys
    from kubelite.cli import priority
    # started before the raise, as the SQLite writer process is
    writer = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    raised = priority.raise_loop(int(sys.argv[1]), also=[writer.pid])
    from kubelite.cli import components
    child = subprocess.run([sys.executable, "-c", "from kubelite.cli import components; "
                            "components.adopt_parent(); import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                           capture_output=True, text=True, env=components.child_env(), check=True)
    print(raised, os.getpriority(os.PRIO_PROCESS, 0), int(child.stdout), os.getpriority(os.PRIO_PROCESS, writer.pid))
    writer.communicate(b"")
""")


def run(nice: int) -> list[str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(nice)], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority needs root")
def test_loop_thread_and_writer_raised_children_keep_the_starting_priority() -> None:
    start = os.getpriority(os.PRIO_PROCESS, 0)
    raised, loop, child, writer = run(start - 5)
    assert raised == "True"
    assert int(loop) == start - 5
    assert int(writer) == start - 5  # the store's writer process is raised with the loop
    assert int(child) == start  # the scheduler, controllers and agent are not raised


def test_a_value_not_below_the_present_one_changes_nothing() -> None:
    start = os.getpriority(os.PRIO_PROCESS, 0)
    raised, loop, child, writer = run(start)
    assert (raised, int(loop), int(child), int(writer)) == ("False", start, start, start)


def test_the_sqlite_store_names_its_writer_process(tmp_path: Path) -> None:
    async def main() -> bytes:
        backend = await sqlite.SQLiteBackend.open(str(tmp_path / "db"))
        try:
            (pid,) = backend.serial_pids
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        finally:
            await backend.close()

    assert b"sqlite_writer" in asyncio.run(main())
