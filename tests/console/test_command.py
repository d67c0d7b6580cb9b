"""`fleetgate console` as a command: its login URL the only line on stdout, a browser handed
a private file rather than the URL, one line and 130 on Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import trio

from gateway.cli import main
from tests.conftest import TEST_TIMEOUT, eventually
from tests.console.conftest import LOGIN_URL, open_console


async def test_opens_a_browser_on_a_private_file_serves_and_stops_cleanly_on_ctrl_c(gateway, tmp_path):
    browser = tmp_path / "browser"  # a stand-in that notes what it was asked to open
    browser.write_text('#!/bin/sh\necho "$1" > "$0.opened"\n')
    browser.chmod(0o755)
    console = await open_console(gateway.config.admin_socket, env={"DISPLAY": ":99", "BROWSER": str(browser)})
    assert LOGIN_URL.fullmatch(console.url), console.url

    # A browser's command line is world-readable (/proc/PID/cmdline): the URL goes in a file.
    opened = (await eventually(lambda: _read(tmp_path / "browser.opened"))).strip()
    token = console.url.rsplit("/", 1)[1]
    assert opened.startswith("file:///") and token not in opened
    page = Path(unquote(urlparse(opened).path))
    assert page.stat().st_mode & 0o777 == 0o600
    assert f'url={console.url}"' in page.read_text()

    async with httpx.AsyncClient(base_url=console.origin, timeout=TEST_TIMEOUT) as client:
        assert (await client.get("/health")).status_code == 401
        assert (await client.get(console.url)).status_code == 200
        health = await client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
    with trio.fail_after(TEST_TIMEOUT):
        code, out, err = await console.interrupt()
    assert code == 130 and out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "console closed" in lines[0], err
    assert not page.exists()


async def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def test_without_a_gateway_it_says_so_and_exits_1(short_dir, capsys):
    assert main(["console", "--no-browser", "--socket", str(short_dir / "missing.sock")]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "no fleetgate is answering" in err
