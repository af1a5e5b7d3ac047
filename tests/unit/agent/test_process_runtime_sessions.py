"""The process runtime's containers end whole, as containers in a PID namespace do: what
a container forked (even into a process group of its own) dies when its main process
ends, when it is stopped, when the driver closes (the agent stops), and, should an agent
die without closing it, when the next agent's driver starts on the same data directory."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kubelite.agent.runtime import interface as rt
from kubelite.agent.runtime import process

# A grandchild that leaves the container's process group (a group kill misses it), and
# prints its pid once it has.
OWN_GROUP = (f"{sys.executable} -c 'import os, time; os.setpgid(0, 0); print(os.getpid(), flush=True); "
             "time.sleep(1000)'")


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[process.ProcessDriver]:
    d = process.ProcessDriver(data_dir=tmp_path)
    await d.start()
    yield d
    await d.close()


async def start(d: process.ProcessDriver, script: str, *, name: str = "c") -> str:
    sandbox = await d.create_sandbox(rt.SandboxConfig(pod_uid="u1", pod_name="p", namespace="ns", node_name="n1",
                                                      hostname="p"))
    cid = await d.create_container(rt.ContainerConfig(pod_uid="u1", pod_name="p", namespace="ns", node_name="n1",
                                                      name=name, attempt=0, image="unused",
                                                      command=["sh", "-c", script]), sandbox=sandbox)
    await d.start_container(cid)
    return cid


async def wait_until(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def child_pids(d: process.ProcessDriver, cid: str, count: int) -> list[int]:
    """The pids the container's script printed (``echo $!``), once it printed ``count``."""
    found: list[int] = []

    async def printed() -> bool:
        nonlocal found
        found = [int(p) for p in re.findall(rb"\d+", b"".join([c async for c in d.logs(cid)]))]
        return len(found) >= count
    deadline = time.monotonic() + 10
    while not await printed():
        assert time.monotonic() < deadline, "the container never printed its children's pids"
        await asyncio.sleep(0.02)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def test_what_a_container_forked_ends_with_its_main_process(driver: process.ProcessDriver) -> None:
    cid = await start(driver, f"sleep 1000 & echo $!; {OWN_GROUP} & sleep 0.5; exit 3")
    pids = await child_pids(driver, cid, 2)
    await wait_until(lambda: not any(alive(p) for p in pids), "the children to end with the main process")

    async def exit_code() -> int:
        while (info := await driver.inspect_container(cid)).state != rt.State.EXITED:
            await asyncio.sleep(0.02)
        return info.exit_code
    assert await asyncio.wait_for(exit_code(), 10) == 3  # the main process's, as the container's


async def test_stopping_a_container_ends_a_child_in_a_group_of_its_own(driver: process.ProcessDriver) -> None:
    cid = await start(driver, f"sleep 1000 & echo $!; {OWN_GROUP} & wait")
    pids = await child_pids(driver, cid, 2)
    assert all(alive(p) for p in pids)
    await driver.stop_container(cid, timeout=2)
    assert not any(alive(p) for p in pids)  # gone when stop returns, not some time later


async def test_closing_the_driver_ends_every_container_whole(tmp_path: Path) -> None:
    d = process.ProcessDriver(data_dir=tmp_path)
    await d.start()
    cids = [await start(d, f"trap '' TERM; {OWN_GROUP} & sleep 1000 & echo $!; wait", name=f"c{i}")
            for i in range(3)]
    pids = [p for cid in cids for p in await child_pids(d, cid, 2)]
    began = time.monotonic()
    await d.close()
    # One grace period for all (the main processes ignore SIGTERM), not one each.
    assert time.monotonic() - began < 5
    assert not any(alive(p) for p in pids)


async def test_the_next_driver_ends_what_an_agent_killed_outright_left(tmp_path: Path) -> None:
    first = process.ProcessDriver(data_dir=tmp_path)
    await first.start()
    cid = await start(first, f"sleep 1000 & echo $!; {OWN_GROUP} & wait")
    pids = await child_pids(first, cid, 2)
    # The agent dies without a word: none of its code runs again, and its containers'
    # main processes get their parent-death signal (SIGTERM). Their children live on.
    for waiter in list(first._waiters):
        waiter.cancel()
    lead = first._procs[cid]
    os.kill(lead.pid, signal.SIGTERM)
    await lead.wait()
    assert all(alive(p) for p in pids)

    second = process.ProcessDriver(data_dir=tmp_path)
    await second.start()
    assert not any(alive(p) for p in pids)
    await second.close()
    await first.close()
