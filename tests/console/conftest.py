"""`fleetgate console` as the operator runs it: a separate process in front of the test's gateway."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import trio

from tests.conftest import TEST_TIMEOUT
from tests.process import fleetgate_command

LOGIN_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/login/[A-Za-z0-9_-]{40,}")


class ConsoleProcess:
    def __init__(self, process: trio.Process):
        self.process = process
        self.url = ""

    async def read_url(self) -> str:
        line = b""
        while not line.endswith(b"\n"):
            chunk = await self.process.stdout.receive_some(1)
            assert chunk, f"fleetgate console exited with {await self.process.wait()}"
            line += chunk
        self.url = line.decode().strip()
        return self.url

    @property
    def origin(self) -> str:
        return self.url.split("/login/")[0]

    async def interrupt(self) -> tuple[int, bytes, bytes]:
        """Ctrl-C: the exit code, the rest of stdout and all of stderr."""
        self.process.send_signal(signal.SIGINT)
        out: list[bytes] = []
        err: list[bytes] = []

        async def drain(stream, chunks: list[bytes]) -> None:
            async for chunk in stream:
                chunks.append(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, self.process.stdout, out)
            nursery.start_soon(drain, self.process.stderr, err)
        return await self.process.wait(), b"".join(out), b"".join(err)


async def open_console(socket: Path, *args: str, env: dict[str, str] | None = None) -> ConsoleProcess:
    """`fleetgate console ARGS` on ``socket``, with its URL read; no desktop unless ``env`` says."""
    quiet = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = await trio.lowlevel.open_process(
        fleetgate_command("console", "--socket", str(socket), *args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**quiet, **(env or {})})
    console = ConsoleProcess(process)
    with trio.fail_after(TEST_TIMEOUT):
        await console.read_url()
    return console


@pytest.fixture
async def console(gateway):
    """`fleetgate console --no-browser` on the gateway's socket."""
    console = await open_console(gateway.config.admin_socket, "--no-browser")
    yield console
    if console.process.returncode is None:
        console.process.kill()
        await console.process.wait()
