"""Termination messages (``termination``): the file a container instance gets, what of it
becomes the message (its last 4096 bytes), and the fallback to the end of the log (80
lines, 2048 bytes) for a failed container under ``FallbackToLogsOnError``."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

from kubelite.agent import termination
from kubelite.agent.runtime import interface as rt


def exited(exit_code: int, *, message: str = "") -> rt.ContainerInfo:
    return rt.ContainerInfo(id="c1", pod_uid="u1", pod_name="p", namespace="ns", name="c", attempt=0, kind="app",
                            state=rt.State.EXITED, exit_code=exit_code, message=message)


class Logs:
    """A runtime whose containers printed ``lines``."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.asked: list[int | None] = []

    async def logs(self, container_id: str, *, tail: int | None = None, **_: object) -> AsyncIterator[bytes]:
        self.asked.append(tail)
        for line in self.lines[-tail:] if tail else self.lines:
            yield (line + "\n").encode()


def test_each_instance_gets_an_empty_file_anyone_may_write(tmp_path: Path) -> None:
    path = termination.host_file(tmp_path, container="c", attempt=3)
    path.parent.mkdir(parents=True)
    path.write_text("left by an instance before")
    m = termination.mount({"name": "c"}, path)
    assert (m.host_path, m.container_path, m.read_only) == (str(path), "/dev/termination-log", False)
    assert path.read_bytes() == b"" and stat.S_IMODE(os.stat(path).st_mode) == 0o666
    assert termination.mount({"terminationMessagePath": "/tmp/why"}, path).container_path == "/tmp/why"


async def test_the_message_is_the_end_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "msg"
    path.write_bytes(b"x" * 5000 + b"the end\n")
    said = await termination.message(Logs([]), exited(0), {}, path)  # type: ignore[arg-type]
    assert len(said) == 4096 and said.endswith("the end\n")
    assert await termination.message(Logs([]), exited(1), {}, tmp_path / "none") == ""  # type: ignore[arg-type]


async def test_a_failed_container_that_said_nothing_falls_back_to_its_log(tmp_path: Path) -> None:
    path = tmp_path / "msg"
    path.write_bytes(b"")
    logs = Logs([f"line {i:03} {'.' * 40}" for i in range(200)])  # 50 bytes a line
    policy = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    said = await termination.message(logs, exited(2), policy, path)  # type: ignore[arg-type]
    assert logs.asked == [80]  # the last 80 lines, of which the last 2048 bytes
    assert len(said.encode()) == 2048 and said.endswith(f"line 199 {'.' * 40}\n") and "line 158" not in said
    short = Logs([f"line {i}" for i in range(200)])
    said = await termination.message(short, exited(2), policy, path)  # type: ignore[arg-type]
    assert said.splitlines()[0] == "line 120" and said.endswith("line 199\n")
    assert await termination.message(logs, exited(0), policy, path) == ""  # type: ignore[arg-type]
    assert await termination.message(logs, exited(2), {}, path) == ""  # type: ignore[arg-type]
    # the process runtime has no file: the log still speaks for a failed container
    assert (await termination.message(Logs(["oops"]), exited(2), policy, None)) == "oops\n"  # type: ignore[arg-type]


async def test_the_runtimes_own_message_comes_first(tmp_path: Path) -> None:
    path = tmp_path / "msg"
    path.write_text("from the app")
    info = exited(127, message="exec: no such file")
    assert await termination.message(Logs([]), info, {}, path) == "exec: no such file: from the app"  # type: ignore[arg-type]
    path.write_text("")
    assert await termination.message(Logs([]), info, {}, path) == "exec: no such file"  # type: ignore[arg-type]


async def test_each_exited_instance_is_read_once_and_forgotten_when_no_longer_shown(tmp_path: Path) -> None:
    path = tmp_path / "msg"
    path.write_text("first words")
    messages = termination.Messages(Logs([]), file_of=lambda name, attempt: path)  # type: ignore[arg-type]
    info = exited(1)
    await messages.read([info], specs=[{"name": "c"}])
    path.write_text("changed since")  # not read again: an exited container says nothing more
    await messages.read([info], specs=[{"name": "c"}])
    told = messages.told(info)
    assert told is not None and told.message == "first words"
    running = rt.ContainerInfo(id="c2", pod_uid="u1", pod_name="p", namespace="ns", name="c", attempt=1,
                               kind="app", state=rt.State.RUNNING)
    await messages.read([running], specs=[{"name": "c"}])
    assert messages.told(running) is running and messages.told(info) is info  # forgotten
