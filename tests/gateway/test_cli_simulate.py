"""A simulator's live status: one line rewritten in place on a terminal, plain lines every
few seconds elsewhere; the end report on Ctrl-C as at the end of --duration."""

from __future__ import annotations

import io
import re

import trio

from simulators.status import PLAIN_EVERY, LiveStatus
from tests.conftest import TEST_TIMEOUT
from tests.process import closed_port
from tests.terminal import CTRL_C, Terminal


async def test_on_a_terminal_the_status_is_one_line_rewritten_until_ctrl_c():
    port = str(await closed_port())
    with trio.fail_after(TEST_TIMEOUT):
        terminal = await Terminal.run("simulate", "gt06", "--port", port, "--password", "bench-pw", "--units", "3")
        await terminal.expect(b"\r[0s] units=3 connected=0 refused=0 sent=0 acked=0 resent=0 connect_failed=")
        # the refused connections show in the same line, rewritten in place a moment later
        await terminal.expect(re.compile(rb"\r\[[1-9]\d*s\] units=3 connected=0 [^\r\n]*connect_failed=[1-9]"))
        await terminal.type(CTRL_C)
        code, shown = await terminal.finish()
    assert code == 130, shown
    assert "\n" not in shown.split("units=3 generated=")[0].rstrip("\r\n^C"), "status lines are not rewritten"
    report = re.search(r"\r\n(units=3 generated=\S+ .*)\r\n", shown)
    assert report and "connect_failed=" in report.group(1), shown
    assert shown.rstrip().endswith("fleetgate: simulator stopped by SIGINT") and "Traceback" not in shown


class _Count:
    def __init__(self) -> None:
        self.sent = 0

    def status(self) -> str:
        return f"sent={self.sent}"


async def test_elsewhere_the_status_is_a_plain_line_every_few_seconds(autojump_clock):
    out, count = io.StringIO(), _Count()
    live = LiveStatus(count.status, out)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(live.run)
        for _ in range(2):
            await trio.sleep(PLAIN_EVERY - 1)
            count.sent += 10
            await trio.sleep(1)
        await trio.sleep(PLAIN_EVERY / 2)
        nursery.cancel_scope.cancel()
    live.finish()  # nothing to end: every plain line ends itself
    assert out.getvalue() == f"[0s] sent=0\n[{PLAIN_EVERY:.0f}s] sent=10\n[{2 * PLAIN_EVERY:.0f}s] sent=20\n"
