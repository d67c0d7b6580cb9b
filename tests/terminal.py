"""`fleetgate` on a pseudo-terminal that is its controlling terminal, as in a person's shell:
getpass prompts on it, and Ctrl-C or Ctrl-D typed on it act as they do at a keyboard."""

from __future__ import annotations

import fcntl
import os
import re
import termios

import trio

from tests.process import fleetgate_command

CTRL_C, CTRL_D = b"\x03", b"\x04"


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # in the child, a session leader: stdin's tty becomes its terminal


class Terminal:
    def __init__(self, process: trio.Process, master: int) -> None:
        self.process = process
        self._master = trio.lowlevel.FdStream(master)
        self.output = b""

    @classmethod
    async def run(cls, *args: str, env: dict[str, str] | None = None) -> Terminal:
        master, slave = os.openpty()
        try:
            process = await trio.lowlevel.open_process(
                fleetgate_command(*args), stdin=slave, stdout=slave, stderr=slave,
                start_new_session=True, preexec_fn=_take_terminal, env={**os.environ, **(env or {})})
        finally:
            os.close(slave)
        return cls(process, master)

    async def _read(self) -> bool:
        try:
            chunk = await self._master.receive_some(4096)
        except (OSError, trio.BrokenResourceError):  # EIO: every copy of the slave side is closed
            chunk = b""
        self.output += chunk
        return bool(chunk)

    async def expect(self, text: bytes | re.Pattern[bytes]) -> None:
        """Wait until ``text`` (or a match of the pattern) has been written to the terminal."""
        pattern = text if isinstance(text, re.Pattern) else re.compile(re.escape(text))
        while not pattern.search(self.output):
            if not await self._read():
                raise AssertionError(f"exited ({await self.process.wait()}) before {text!r}: {self.output!r}")

    async def type(self, keys: bytes) -> None:
        await self._master.send_all(keys)

    async def finish(self) -> tuple[int, str]:
        """The exit status and everything written to the terminal."""
        while await self._read():
            pass
        await self._master.aclose()
        return await self.process.wait(), self.output.decode(errors="replace")
