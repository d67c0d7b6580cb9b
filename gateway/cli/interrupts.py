"""How a command ends when the person or the pipe at the other end stops it: one line on
stderr and the shell's exit status, never a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterator

INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C
PIPE_CLOSED = 141  # 128 + SIGPIPE: `fleetgate vehicles list | head -1`
NO_INPUT = 1


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (nested) exception groups, as trio's nurseries raise them."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


def say(line: str) -> None:
    """One line on stderr, in one write: print() writes the text and its newline apart, and
    a Ctrl-C between the two left the next line ("interrupted") at the end of this one."""
    sys.stderr.write(f"fleetgate: {line}\n")
    sys.stderr.flush()


async def until_interrupted(body: Callable[[], Awaitable[object]]) -> None:
    """Run ``body`` in trio until it returns or SIGINT comes; then cancel it and raise
    KeyboardInterrupt here.

    Left to itself, trio raises KeyboardInterrupt inside whichever task's code runs when the
    signal comes. In the demo, which serves its own API and calls it, that was once the
    server's side of a request: the client saw a connection closed mid-answer, and Ctrl-C
    ended in a traceback. Cancelled instead, every task ends at its own checkpoint."""
    import signal

    import trio

    interrupted = False
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        try:
            async with trio.open_nursery() as nursery:
                async def watch() -> None:
                    nonlocal interrupted
                    async for _ in signals:
                        interrupted = True
                        nursery.cancel_scope.cancel()

                nursery.start_soon(watch)
                await body()
                nursery.cancel_scope.cancel()
        except BaseException:
            if interrupted:  # whatever the cancellation broke on its way out
                raise KeyboardInterrupt from None
            raise
    if interrupted:
        raise KeyboardInterrupt


def exit_status(exc: BaseException) -> int:
    """The exit status for a command that ``exc`` ended early; anything that is not an
    interrupt, an end of input or a closed pipe is raised again."""
    found = list(leaves(exc))
    for leaf in found:
        if isinstance(leaf, SystemExit):  # a message and status of its own, from inside a nursery
            raise leaf from None
    interrupts = [leaf for leaf in found if isinstance(leaf, KeyboardInterrupt)]
    if interrupts:
        say(str(interrupts[0]) or "interrupted")  # a command may say more, e.g. where to resume
        return INTERRUPTED
    if any(isinstance(leaf, BrokenPipeError) for leaf in found):
        # Nothing more can reach the reader; point stdout at /dev/null so that the
        # interpreter's last flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        say("standard output was closed")
        return PIPE_CLOSED
    if any(isinstance(leaf, EOFError) for leaf in found):
        say("no input: end of file at the prompt")
        return NO_INPUT
    raise exc
