"""`python -m gateway` with a trace of where an operator's request waits, for
benchmarks/ingest.py --trace.

    .venv/bin/python benchmarks/traced_gateway.py TRACE_FILE serve --config ...

Records, until the gateway exits, then writes to TRACE_FILE as JSON:
- every pass of trio's scheduler (wall time at its end, its duration, the task steps it
  ran). A task woken during one pass runs in the next, so under load every hop between
  tasks or threads waits for about one pass;
- spans: each Store.read and Store.write from call to return, each command from
  Commands.execute, and the unit's part of it (UnitSession.command); each admin request
  inside the ASGI app, by method; each of the store writer's transactions, and each chunk
  of packets persisted in one (telemetry.persist_batches).
Not part of the gateway: the wrappers cost a little CPU of their own.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import runpy
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gateway import commands, sessions  # noqa: E402
from gateway.admin import flow  # noqa: E402
from gateway.store import database  # noqa: E402


class Passes(trio.abc.Instrument):
    def __init__(self) -> None:
        self.rows: list[tuple[float, float, int]] = []
        self._started: float | None = None
        self._steps = 0

    def after_io_wait(self, timeout: float) -> None:
        self._started, self._steps = time.perf_counter(), 0

    def before_task_step(self, task) -> None:
        self._steps += 1

    def before_io_wait(self, timeout: float) -> None:
        if self._started is not None:
            self.rows.append((time.time(), time.perf_counter() - self._started, self._steps))


PASSES = Passes()
SPANS: list[tuple[float, str, float]] = []


def timed(owner, name: str, label: str, detail=lambda *args: "") -> None:
    """Time each call of ``owner.name``, a coroutine function or a plain one, as a span
    ``label`` followed by what ``detail(*args)`` says of the call."""
    original = getattr(owner, name)

    def record(args, started: float) -> None:
        SPANS.append((time.time(), label + detail(*args), time.perf_counter() - started))

    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                record(args, started)
    else:
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                record(args, started)

    setattr(owner, name, wrapper)


def main() -> None:
    trace_file = Path(sys.argv.pop(1))
    timed(database.Store, "read", "store read")
    timed(database.Store, "write", "store write")
    timed(commands.Commands, "execute", "command")
    timed(sessions.UnitSession, "command", "command: the unit's part")
    timed(flow.FlowIds, "__call__", "admin request, in the app",
          lambda middleware, scope, *_: f": {scope.get('method', scope['type'])}")
    timed(database.Store, "_commit_batch", "writer: a batch's transaction")
    timed(database, "persist_batches", "writer: a chunk of packets")
    run = trio.run

    def traced_run(*args, **kwargs):
        kwargs["instruments"] = [*kwargs.get("instruments", ()), PASSES]
        return run(*args, **kwargs)

    trio.run = traced_run
    atexit.register(lambda: trace_file.write_text(json.dumps({"passes": PASSES.rows, "spans": SPANS})))
    runpy.run_module("gateway", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
