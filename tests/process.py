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
                  open_files: int | None = None) -> subprocess.Popen:
    """``open_files``: the gateway's open-file limit, soft and hard (it cannot raise it)."""

    def limit_open_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    return subprocess.Popen(
        fleetgate_command("serve", "--config", str(config)),
        cwd=cwd,
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
