"""The operator's first minutes in a real browser (Debian's chromium, headless, driven by
Playwright): open `fleetgate console`'s URL, find the simulated unit waiting, register it, see
it ONLINE with its position, disable driving and see the state follow. Screenshots of each
step go to test-artifacts/console-browser/."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import httpx
import pytest
import trio

from simulators.teltonika import run_fleet
from tests.conftest import TEST_TIMEOUT, eventually, listener_port
from tests.drivers.vectors import groups
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.teltonika_unit import ScriptedUnit

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console-browser"
STEP_TIMEOUT_MS = 15_000
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-gpu", "--disable-quic",
    # Only the door exists: every host name resolves nowhere, so the map's tile probe fails at
    # once (the console falls back to its plain coordinate view) and nothing leaves this machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does)"
        if os.environ.get("FLEETGATE_CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def extra_config() -> str:
    return "[commands]\ntimeout = 5\n"


def operate(url: str, imei: str, undecoded: tuple[str, str, str], artifacts: Path) -> tuple[str, list[dict]]:
    """The operator's steps, in one thread (Playwright's sync API is bound to its thread);
    the vehicle id and the browser's cookies. ``undecoded``: a vehicle whose history holds a
    frame kept raw, its message type and hex."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        step = 0

        def shot(name: str) -> None:
            nonlocal step
            step += 1
            page.screenshot(path=artifacts / f"{step}-{name}.png", full_page=True)

        try:
            page.goto(url)
            expect(page).to_have_url(re.compile(r"/console/$"))
            expect(page.locator("#gateway-info")).to_contain_text("fleet ")
            page.get_by_role("link", name="Onboarding").click()
            waiting = page.locator(f'section[data-brand="TELTONIKA"] tr[data-unit="{imei}"]')
            expect(waiting).to_be_visible()
            shot("unit-waiting")

            waiting.get_by_role("button", name="Register").click()
            expect(page.locator("#register-unit")).to_have_value(imei)
            page.select_option("#register-model", TELTONIKA_MODEL)
            page.fill("#register-plate", "B-FG 16")
            page.click("#register-submit")
            page.wait_for_url(re.compile(r"#/vehicles/[0-9A-Z]{5}$"))
            vehicle_id = page.url.rsplit("/", 1)[1]
            expect(page.locator("dl.summary")).to_contain_text("ONLINE")
            state = page.locator("#state")
            expect(state.locator('tr[data-property="position"] td').first).to_have_text(
                re.compile(r"54\.\d{5}, 25\.\d{5}"))
            driving = state.locator('tr[data-property="driving_enabled"] td').first
            expect(driving).to_have_text("yes")
            shot("vehicle-online")

            page.click('button[data-command="disable-driving"]')
            confirm = page.locator("dialog#ask")
            expect(confirm).to_be_visible()
            shot("confirm-disable-driving")
            confirm.get_by_role("button", name="Send disable-driving").click()
            expect(page.locator("#command-result")).to_have_text("disable-driving: done")
            expect(driving).to_have_text("no")
            expect(page.locator("#history tbody")).to_contain_text("driving_enabled no")  # the unit's own record
            shot("driving-disabled")

            page.get_by_role("link", name="Fleet").click()
            expect(page.locator(f'#fleet tr[data-vehicle="{vehicle_id}"]')).to_contain_text("ONLINE")
            shot("fleet")
            page.get_by_role("link", name="Map").click()
            expect(page.locator("#positions tbody tr")).to_contain_text(re.compile(r"54\.\d{5}"))
            expect(page.locator("main")).to_contain_text("plain grid of latitude and longitude")
            shot("map-offline")

            other_vehicle, message_type, hex_frame = undecoded
            page.goto(f"{url.split('/login/')[0]}/console/#/vehicles/{other_vehicle}")
            kept = page.locator("#history td.raw")
            expect(kept).to_contain_text(f"undecoded {message_type}")
            expect(kept.locator("code.hex")).to_have_text(hex_frame)
            shot("undecoded-frame")

            again = browser.new_page()  # another browser profile with the same URL: used once
            assert again.goto(url).status == 403
            assert errors == [], errors
            return vehicle_id, page.context.cookies()
        except Exception:
            page.screenshot(path=artifacts / "failure.png", full_page=True)
            raise
        finally:
            browser.close()


async def test_operator_registers_a_unit_and_disables_driving(chromium, gateway, console, api, nursery):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    print(f"console screenshots: {ARTIFACTS}")
    report = await nursery.start(lambda task_status: run_fleet(
        "127.0.0.1", listener_port(gateway, "teltonika"), 1, 0.5, retry_delay=0.2, task_status=task_status))
    unit = report.units[0]
    unit.max_retry_delay = 0.5  # refused until the browser registers it: keep knocking often

    undecoded = await vehicle_with_undecoded_frame(gateway, api)

    with trio.fail_after(4 * TEST_TIMEOUT):
        vehicle_id, cookies = await trio.to_thread.run_sync(operate, console.url, unit.imei, undecoded, ARTIFACTS)
    assert unit.outputs[0] == 1  # the unit really switched its immobiliser output
    state = (await api.get(f"/vehicles/{vehicle_id}/state")).json()
    assert state["driving_enabled"]["value"] is False

    cookie = next(c for c in cookies if c["name"].startswith("fleetgate_console_"))
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    port = console.origin.rsplit(":", 1)[1]
    jar = {cookie["name"]: cookie["value"]}
    async with httpx.AsyncClient(base_url=console.origin, timeout=TEST_TIMEOUT) as stranger:
        assert (await stranger.get(f"/vehicles/{vehicle_id}")).status_code == 401
    async with httpx.AsyncClient(base_url=console.origin, cookies=jar, timeout=TEST_TIMEOUT) as holder:
        assert (await holder.get(f"/vehicles/{vehicle_id}")).status_code == 200
        rebound = await holder.get(f"/vehicles/{vehicle_id}", headers={"Host": f"rebind.example:{port}"})
        assert rebound.status_code == 403
        forged = await holder.post(f"/vehicles/{vehicle_id}/commands/enable-driving",
                                   headers={"Origin": "http://evil.example"})
        assert forged.status_code == 403
    assert unit.outputs[0] == 1  # the forged command never reached the unit


async def vehicle_with_undecoded_frame(gateway, api) -> tuple[str, str, str]:
    frame = groups("teltonika").by_name["codec13-not-supported"]
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441021", TELTONIKA_MODEL))).json()
    with trio.fail_after(TEST_TIMEOUT):
        scripted = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), "356307042441021")
        assert await scripted.login() == b"\x01"
        await scripted.stream.send_all(frame.data)
        await eventually(lambda: _has_records(api, vehicle["id"]))
        await scripted.stream.aclose()
    return vehicle["id"], frame.expect["message_type"], frame.data.hex().upper()


async def _has_records(api, vehicle_id: str) -> bool:
    return bool((await api.get(f"/vehicles/{vehicle_id}/records")).json()["items"])
