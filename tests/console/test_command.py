"""`fleetgate console` as a command: one line on stdout, one line and 130 on Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import trio

from gateway.cli import main
from tests.conftest import TEST_TIMEOUT, eventually
from tests.console.conftest import LOGIN_URL, open_console


async def test_prints_only_its_login_url_and_stops_cleanly_on_ctrl_c(console):
    assert LOGIN_URL.fullmatch(console.url), console.url
    async with httpx.AsyncClient(base_url=console.origin, timeout=TEST_TIMEOUT) as browser:
        assert (await browser.get("/health")).status_code == 401
        assert (await browser.get(console.url)).status_code == 200
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


async def test_a_browser_gets_a_private_file_not_the_login_url(gateway, tmp_path):
    """A browser's command line is world-readable (/proc/PID/cmdline); the login URL is not."""
    browser = tmp_path / "browser"
    browser.write_text('#!/bin/sh\necho "$1" > "$0.opened"\n')
    browser.chmod(0o755)
    console = await open_console(gateway.config.admin_socket, env={"DISPLAY": ":99", "BROWSER": str(browser)})
    opened = (await eventually(lambda: _read(tmp_path / "browser.opened"))).strip()
    token = console.url.rsplit("/", 1)[1]
    assert opened.startswith("file:///") and token not in opened
    page = Path(unquote(urlparse(opened).path))
    assert page.stat().st_mode & 0o777 == 0o600
    assert f'url={console.url}"' in page.read_text()
    with trio.fail_after(TEST_TIMEOUT):
        code, out, _ = await console.interrupt()
    assert code == 130 and out == b""
    assert not page.exists()


async def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None
