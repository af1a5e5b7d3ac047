"""``kubectl exec`` on the process runtime: the command as another host process with the
container's env and working directory, over pipes or on a pseudo-terminal.

Used by ``process.ProcessDriver.exec_session``; each class is an ``rt.ExecSession``. The
command runs in a session of its own and dies with the agent (its parent-death signal);
closing the session kills its process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios


class ExecSession:
    """``kubectl exec`` without a terminal (``rt.ExecSession``): the command's stdout and
    stderr as they come, stdin when asked for, then its exit code."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=16)
        self._open = 0
        self._pumps = []
        for stream, reader in ((1, proc.stdout), (2, proc.stderr)):
            if reader is not None:
                self._open += 1
                self._pumps.append(asyncio.ensure_future(self._pump(stream, reader)))
        if not self._open:
            self._out.put_nowait(None)

    async def _pump(self, stream: int, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                await self._out.put((stream, data))
        finally:
            self._open -= 1
            if self._open == 0:
                with contextlib.suppress(asyncio.QueueFull):  # then read() sees the end by itself
                    self._out.put_nowait(None)

    async def write(self, data: bytes) -> None:
        if self.proc.stdin is None or self.proc.stdin.is_closing():
            return
        try:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the command stopped reading: what it printed still arrives

    async def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def read(self) -> tuple[int, bytes] | None:
        if self._open == 0 and self._out.empty():
            return None
        return await self._out.get()

    async def resize(self, width: int, height: int) -> None:
        pass  # no terminal

    async def exit_code(self) -> int:
        await self.close_stdin()  # asyncio's wait() also waits for every pipe of the process to close
        return exit_code_of(await self.proc.wait())

    async def close(self) -> None:
        for pump in self._pumps:
            pump.cancel()
        await self.close_stdin()
        kill_group(self.proc)


class TerminalSession:
    """``kubectl exec -t``: the command on a pseudo-terminal, whose output is one stream."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int) -> None:
        self.proc = proc
        self.master = master
        self._out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._ended = False
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every holder of the terminal's other end has gone
            data = b""
        if data:
            self._out.put_nowait((1, data))
            return
        asyncio.get_running_loop().remove_reader(self.master)
        self._ended = True
        self._out.put_nowait(None)

    async def write(self, data: bytes) -> None:
        while data and not self._ended:
            try:
                written = os.write(self.master, data)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            except OSError:
                return
            data = data[written:]

    async def close_stdin(self) -> None:
        await self.write(b"\x04")  # end of input, as a terminal's ^D

    async def read(self) -> tuple[int, bytes] | None:
        if self._ended and self._out.empty():
            return None
        return await self._out.get()

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def exit_code(self) -> int:
        return exit_code_of(await self.proc.wait())

    async def close(self) -> None:
        if not self._ended:
            asyncio.get_running_loop().remove_reader(self.master)
            self._ended = True
        kill_group(self.proc)
        with contextlib.suppress(OSError):
            os.close(self.master)


def exit_code_of(code: int) -> int:
    # a signal death reads as 128+signal, as a container's exit code would
    return 128 - code if code < 0 else code


def kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
