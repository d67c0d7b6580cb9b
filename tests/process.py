"""Run `fleetgate` as a separate process, as an operator would."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import trio

from gateway.client import AdminClient, ClientError


def fleetgate_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", *args]


def start_gateway(config: Path, cwd: Path | None = None, *, stderr=subprocess.PIPE,
                  open_files: int | None = None, args: tuple[str, ...] = ()) -> subprocess.Popen:
    """`fleetgate serve` (with ``args``), its standard input at its end from the start (the
    gateway must not mind). ``open_files``: its open-file limit, soft and hard (it cannot raise it)."""

    def limit_open_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    return subprocess.Popen(
        fleetgate_command("serve", "--config", str(config), *args),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        preexec_fn=limit_open_files if open_files else None,
    )


async def wait_until_serving(process: subprocess.Popen, socket: Path, timeout: float = 20) -> dict:
    """Poll GET /health until the gateway answers; fail early if it exited."""
    with trio.fail_after(timeout):
        while True:
            if process.poll() is not None:
                said = process.stderr.read() if process.stderr else "(its stderr went to a file)"
                raise AssertionError(f"gateway exited with {process.returncode}: {said}")
            if socket.exists():
                try:
                    return await trio.to_thread.run_sync(_health, socket)
                except ClientError:
                    pass
            await trio.sleep(0.05)


def _health(socket: Path) -> dict:
    with AdminClient(socket, timeout=5) as client:
        return client.get("/health")


async def wait_exit(process: subprocess.Popen, timeout: float = 20) -> int:
    with trio.fail_after(timeout):
        while process.poll() is None:
            await trio.sleep(0.05)
    return process.returncode


async def run_cli(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return await trio.run_process(
        fleetgate_command(*args),
        stdin=stdin.encode(),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


async def cli_on(gateway, *args: str, stdin: str = "", timeout: float = 30) -> tuple[int, str, str]:
    """`fleetgate ARGS` on ``gateway``'s admin socket: exit status, stdout, stderr."""
    with trio.fail_after(timeout):
        done = await run_cli(*args, stdin=stdin, env={"FLEETGATE_SOCKET": str(gateway.config.admin_socket)})
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: a connection to it is refused."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    return port


class Running:
    """A `fleetgate` process with its output read as it comes, to wait for a line and then
    stop it as an operator would."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.out = b""
        self.err = b""

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> Running:
        """Standard input is at its end from the start: a command that does not read it must not mind."""
        process = await trio.lowlevel.open_process(
            fleetgate_command(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})})
        return cls(process)

    async def wait_for(self, text: str, where: str = "out") -> None:
        """Read until ``text`` shows on stdout ("out") or stderr ("err")."""
        stream = self.process.stdout if where == "out" else self.process.stderr
        while text.encode() not in getattr(self, where):
            chunk = await stream.receive_some(4096)
            if not chunk:
                raise AssertionError(f"{where} ended without {text!r}: exit {await self.process.wait()}, "
                                     f"stdout {self.out!r}, stderr {self.err!r}")
            setattr(self, where, getattr(self, where) + chunk)

    async def stop(self, signum: int) -> tuple[int, str, str]:
        """Send ``signum``; the exit status and all of stdout and stderr."""
        self.process.send_signal(signum)

        async def drain(stream, where: str) -> None:
            async for chunk in stream:
                setattr(self, where, getattr(self, where) + chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, self.process.stdout, "out")
            nursery.start_soon(drain, self.process.stderr, "err")
        return await self.process.wait(), self.out.decode(), self.err.decode()
