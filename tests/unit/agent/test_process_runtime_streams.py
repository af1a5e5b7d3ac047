"""The process runtime's streams without a cluster: exec over pipes (stdout, stderr, stdin,
exit code) or a pseudo-terminal, attach to a container's output, and logs kept in the CRI
log format so that ``--timestamps``, ``--since`` and ``--tail`` read as kubelet's do; and
the Status an exec the runtime cannot run ends with (upstream's InternalError, with
details)."""

from __future__ import annotations

import asyncio
import calendar
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelite.agent import server
from kubelite.agent.runtime import interface as rt
from kubelite.agent.runtime import process

STAMP = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[process.ProcessDriver]:
    d = process.ProcessDriver(data_dir=tmp_path)
    await d.start()
    yield d
    for c in await d.list_containers(node_name="n1"):
        await d.remove_container(c.id)
    await d.close()


async def start(d: process.ProcessDriver, script: str, *, stdin: bool = False, stdin_once: bool = False) -> str:
    sandbox = await d.create_sandbox(rt.SandboxConfig(pod_uid="u1", pod_name="p", namespace="ns", node_name="n1",
                                                      hostname="p"))
    cid = await d.create_container(rt.ContainerConfig(pod_uid="u1", pod_name="p", namespace="ns", node_name="n1",
                                                      name="c", attempt=0, image="unused", command=["sh", "-c", script],
                                                      env={"GREETING": "hello"}, stdin=stdin,
                                                      stdin_once=stdin_once), sandbox=sandbox)
    await d.start_container(cid)
    return cid


async def drain(session: rt.ExecSession, timeout: float = 10) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []

    async def run() -> None:
        while (item := await session.read()) is not None:
            out.append(item)
    await asyncio.wait_for(run(), timeout)
    return out


def joined(items: list[tuple[int, bytes]], stream: int) -> bytes:
    return b"".join(data for s, data in items if s == stream)


async def logs(d: process.ProcessDriver, cid: str, **kw: object) -> bytes:
    return b"".join([chunk async for chunk in d.logs(cid, **kw)])  # type: ignore[arg-type]


async def exited(d: process.ProcessDriver, cid: str) -> None:
    for _ in range(200):
        if (await d.inspect_container(cid)).state == rt.State.EXITED:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the container did not exit")


# --- exec -----------------------------------------------------------------------------------


async def test_exec_streams_stdout_stderr_and_the_exit_code(driver: process.ProcessDriver) -> None:
    cid = await start(driver, "sleep 30")
    session = await driver.exec_session(cid, ["sh", "-c", 'echo "$GREETING out"; echo err >&2; exit 3'],
                                        tty=False, stdin=False)
    items = await drain(session)
    assert joined(items, 1) == b"hello out\n" and joined(items, 2) == b"err\n"
    assert await session.exit_code() == 3
    await session.close()


async def test_exec_reads_stdin_until_it_is_closed(driver: process.ProcessDriver) -> None:
    cid = await start(driver, "sleep 30")
    session = await driver.exec_session(cid, ["tr", "a-z", "A-Z"], tty=False, stdin=True)
    await session.write(b"shout this\n")
    await session.close_stdin()
    assert joined(await drain(session), 1) == b"SHOUT THIS\n"
    assert await session.exit_code() == 0
    await session.close()


async def test_exec_with_a_terminal(driver: process.ProcessDriver) -> None:
    cid = await start(driver, "sleep 30")
    session = await driver.exec_session(cid, ["sh", "-c", "tty; stty size; read line; echo got $line"], tty=True,
                                        stdin=True)
    await session.resize(100, 40)
    await asyncio.sleep(0.2)
    await session.write(b"typed\r")
    out = joined(await drain(session), 1)
    assert re.search(rb"/dev/pts/\d+\r\n", out), out
    assert b"got typed" in out
    assert await session.exit_code() == 0
    await session.close()


async def test_exec_of_a_missing_command_is_a_runtime_error(driver: process.ProcessDriver) -> None:
    cid = await start(driver, "sleep 30")
    with pytest.raises(rt.DriverError, match=r'exec: "no-such-command": executable file not found in \$PATH'):
        await driver.exec_session(cid, ["no-such-command"], tty=False, stdin=False)


async def test_a_closed_session_ends_its_command(driver: process.ProcessDriver) -> None:
    cid = await start(driver, "sleep 30")
    session = await driver.exec_session(cid, ["sleep", "30"], tty=False, stdin=True)
    pid = session.proc.pid  # type: ignore[attr-defined]
    await session.close()
    def ended() -> bool:  # gone, or a zombie nobody reaped yet
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        except (FileNotFoundError, ProcessLookupError):  # reaped between two looks (CI saw both)
            return True

    for _ in range(100):
        if ended():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the exec'd command outlived its session")


def test_the_error_status_carries_details() -> None:
    frame = server._status_frame(None, "error executing command in container: boom")
    assert frame[:1] == b"\x03"
    assert json.loads(frame[1:]) == {
        "metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
        "message": "Internal error occurred: error executing command in container: boom",
        "details": {"causes": [{"message": "error executing command in container: boom"}]}}


# --- attach -----------------------------------------------------------------------------------


async def test_attach_gets_the_output_from_now_on_and_feeds_stdin(driver: process.ProcessDriver) -> None:
    cid = await start(driver, "echo before; read line; echo got $line; echo bye >&2", stdin=True, stdin_once=True)
    await asyncio.sleep(0.3)
    session = await driver.attach_session(cid, stdin=True, tty=False)
    await session.write(b"typed\n")
    items = await drain(session)
    assert joined(items, 1) == b"got typed\n" and joined(items, 2) == b"bye\n"
    await session.close()


# --- logs -------------------------------------------------------------------------------------


async def test_logs_are_kept_in_the_cri_format(driver: process.ProcessDriver) -> None:
    cid = await start(driver, "echo one; echo two >&2; printf part; sleep 0.5; echo ial")
    await exited(driver, cid)
    entries = (driver.dir / f"{cid}.log").read_bytes().splitlines()
    assert [e.split(b" ", 1)[1] for e in entries] == [b"stdout F one", b"stderr F two", b"stdout P part",
                                                      b"stdout F ial"]
    assert all(re.match(STAMP + b" ", e) for e in entries)
    assert await logs(driver, cid) == b"one\ntwo\npartial\n"


async def test_logs_timestamps_tail_and_since(driver: process.ProcessDriver) -> None:
    cid = await start(driver, "echo early; sleep 1.5; echo late; echo later")
    await exited(driver, cid)
    stamped = await logs(driver, cid, timestamps=True, tail=2)
    assert re.fullmatch(STAMP + b" late\n" + STAMP + b" later\n", stamped), stamped
    first = stamped.split(b" ", 1)[0].decode()
    assert abs(calendar.timegm(time.strptime(first[:19], "%Y-%m-%dT%H:%M:%S")) - time.time()) < 30  # UTC
    since = (driver._containers[cid][0].started_at + 1.0)
    assert await logs(driver, cid, since=since) == b"late\nlater\n"
    assert await logs(driver, cid, tail=0) == b""


async def test_logs_follow_until_the_container_ends(driver: process.ProcessDriver) -> None:
    cid = await start(driver, "for i in 1 2 3; do echo tick $i; sleep 0.3; done")
    out = await asyncio.wait_for(logs(driver, cid, follow=True, timestamps=True), 10)
    assert re.fullmatch(b"".join(STAMP + b" tick %d\n" % i for i in (1, 2, 3)), out), out
