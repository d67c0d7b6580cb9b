"""`fleetgate console` as a command: one line on stdout, one line and 130 on Ctrl-C."""

from __future__ import annotations

import httpx
import trio

from gateway.cli import main
from tests.conftest import TEST_TIMEOUT
from tests.console.conftest import LOGIN_URL


async def test_prints_only_its_login_url_and_stops_cleanly_on_ctrl_c(console):
    assert LOGIN_URL.fullmatch(console.url), console.url
    async with httpx.AsyncClient(base_url=console.origin, timeout=TEST_TIMEOUT) as browser:
        assert (await browser.get("/health")).status_code == 401
        assert (await browser.get(console.url)).status_code == 303
        health = await browser.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
    with trio.fail_after(TEST_TIMEOUT):
        code, out, err = await console.interrupt()
    assert code == 130
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "console closed" in lines[0], err


def test_without_a_gateway_it_says_so_and_exits_1(short_dir, capsys):
    assert main(["console", "--no-browser", "--socket", str(short_dir / "missing.sock")]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "no fleetgate is answering" in err
