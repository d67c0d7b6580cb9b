"""A running simulator's one-line status: rewritten in place on a terminal, a plain line
every few seconds elsewhere (a log file, a pipe), so that both stay readable."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import TextIO

import trio

TERMINAL_EVERY = 0.5  # seconds between rewrites of the line on a terminal
PLAIN_EVERY = 5.0  # seconds between lines elsewhere
CLEAR_TO_END = "\x1b[K"


class LiveStatus:
    def __init__(self, status: Callable[[], str], out: TextIO, every: float | None = None) -> None:
        self.status, self.out = status, out
        self.terminal = out.isatty()
        self.every = every if every is not None else TERMINAL_EVERY if self.terminal else PLAIN_EVERY
        self._shown = False

    def line(self, elapsed: float) -> str:
        return f"[{elapsed:.0f}s] {self.status()}"

    def show(self, elapsed: float) -> None:
        line = self.line(elapsed)
        if self.terminal:
            # A line longer than the terminal would wrap, and \r rewrites only its last row.
            width = shutil.get_terminal_size().columns - 1
            self.out.write("\r" + line[:width] + CLEAR_TO_END)
        else:
            self.out.write(line + "\n")
        self.out.flush()
        self._shown = True

    async def run(self) -> None:
        """Show the status now and every ``every`` seconds until cancelled."""
        start = trio.current_time()
        while True:
            self.show(trio.current_time() - start)
            await trio.sleep(self.every)

    def finish(self) -> None:
        """End the line being rewritten, so that what is printed next starts a line of its own."""
        if self.terminal and self._shown:
            self.out.write("\n")
            self.out.flush()
