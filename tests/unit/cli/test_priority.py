"""The API server's loop thread runs at a raised priority; its children do not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, subprocess, sys
    from kubelite.cli import priority
    raised = priority.raise_loop(int(sys.argv[1]))
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                           capture_output=True, text=True, preexec_fn=priority.restore_in_child, check=True)
    print(raised, os.getpriority(os.PRIO_PROCESS, 0), int(child.stdout))
""")


def run(nice: int) -> list[str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(nice)], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority needs root")
def test_loop_thread_raised_children_keep_the_starting_priority() -> None:
    start = os.getpriority(os.PRIO_PROCESS, 0)
    raised, loop, child = run(start - 5)
    assert raised == "True"
    assert int(loop) == start - 5
    assert int(child) == start  # the scheduler, controllers and agent are not raised


def test_a_value_not_below_the_present_one_changes_nothing() -> None:
    start = os.getpriority(os.PRIO_PROCESS, 0)
    raised, loop, child = run(start)
    assert (raised, int(loop), int(child)) == ("False", start, start)
