"""`fleetgate console` as the operator runs it: a separate process in front of the test's gateway."""

from __future__ import annotations

import os
import re
import signal
import subprocess

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


@pytest.fixture
async def console(gateway, nursery):
    """`fleetgate console --no-browser` on the gateway's socket; its URL already read."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = await trio.lowlevel.open_process(
        fleetgate_command("console", "--no-browser", "--socket", str(gateway.config.admin_socket)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    console = ConsoleProcess(process)
    with trio.fail_after(TEST_TIMEOUT):
        await console.read_url()
    yield console
    if process.returncode is None:
        process.kill()
        await process.wait()
