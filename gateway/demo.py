"""`fleetgate demo`: the whole system on one machine, for a newcomer's first look.

A gateway on a temporary data dir, simulated units connecting to it, and the admin API
used exactly as an operator would use it: find the units, register them, read their
state, send a command and watch it take effect.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import httpx
import trio

from gateway.app import run_gateway
from gateway.cli_admin import VEHICLE_COLUMNS, state_lines, table
from gateway.config import load_config
from simulators import teltonika

TELTONIKA_MODEL = "01M8A3J4EXC1SE2XJ4RFJBXV9Q"
UNITS = 3


def say(text: str = "") -> None:
    print(text, flush=True)


async def _poll(check, timeout: float = 20.0):
    with trio.fail_after(timeout):
        while not (result := await check()):
            await trio.sleep(0.2)
        return result


async def _demo(data_dir: Path) -> None:
    config = load_config(data_dir=data_dir)
    for name in ("teltonika", "gt06", "jt808"):
        listener = config.listener(name)
        listener.host, listener.port = "127.0.0.1", 0
    async with trio.open_nursery() as nursery:
        runtime = await nursery.start(run_gateway, config)
        port = next(b["port"] for b in runtime.listeners if b["driver"] == "teltonika")
        say(f"1. Gateway up: fleet {runtime.registry.fleet_id}, admin socket {config.admin_socket}")
        say(f"   Teltonika listener on 127.0.0.1:{port}")

        fleet = await nursery.start(
            lambda task_status: teltonika.run_fleet("127.0.0.1", port, UNITS, 1.0, retry_delay=1.0,
                                                    task_status=task_status))
        transport = httpx.AsyncHTTPTransport(uds=str(config.admin_socket))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=30) as api:
            async def available():
                items = (await api.get("/telematics-brands/TELTONIKA/available-telematics-units")).json()["items"]
                return items if len(items) == UNITS else None

            units = await _poll(available)
            say(f"\n2. {UNITS} simulated Teltonika units connected; unknown to the gateway, they were refused")
            say("   and are listed as available (GET /telematics-brands/TELTONIKA/available-telematics-units):")
            say(_indent(table(units, [("unit", "id"), ("from", "remote_address"), ("first seen", "first_seen_at")])))

            say("\n3. Registering them as vehicles (POST /vehicles):")
            vehicles = []
            for n, unit in enumerate(sorted(units, key=lambda u: u["id"])):
                body = {
                    "telematics_unit": {"id": unit["id"], "brand": "TELTONIKA",
                                        "setup": {"vehicle_model_id": TELTONIKA_MODEL}},
                    "master_data": {"license_plate": f"B-FG-{100 + n}", "custom_name": f"demo car {n + 1}",
                                    "vehicle_type": "CAR"},
                }
                vehicles.append((await api.post("/vehicles", json=body)).json())
            first = vehicles[0]["id"]

            async def online():
                listing = (await api.get("/vehicles")).json()["items"]
                state = (await api.get(f"/vehicles/{first}/state")).json()
                ready = all(v["life_status"]["value"] == "ONLINE" for v in listing) and "position" in state
                return listing if ready else None

            listing = await _poll(online)
            say(_indent(table(listing, VEHICLE_COLUMNS)))
            say(f"\n4. Live state of {first} (GET /vehicles/{first}/state):")
            say(_indent(state_lines((await api.get(f"/vehicles/{first}/state")).json())))

            say(f"\n5. POST /vehicles/{first}/commands/disable-driving")
            response = await api.post(f"/vehicles/{first}/commands/disable-driving")
            say(f"   -> {response.status_code}; driving_enabled is now "
                f"{response.json()['driving_enabled']['value']}")
            imei = vehicles[0]["telematics_unit"]["id"]
            unit = next(u for u in fleet.units if u.imei == imei)
            say(f"   The unit switched its immobiliser output: DOUT1 = {unit.outputs[0]}")

            async def record_shows_it():
                items = (await api.get(f"/vehicles/{first}/records", params={"limit": 500})).json()["items"]
                return next((i for i in reversed(items) if i["state"].get("driving_enabled") is False), None)

            record = await _poll(record_shows_it)
            say(f"   Its next record, sent at {record['recorded_at']}, reports driving_enabled = false.")

            records = await runtime.store.read(lambda conn: conn.execute("SELECT count(*) FROM records").fetchone()[0])
            say("\n6. Summary")
            say(f"   vehicles registered: {len(vehicles)}, online: {len(listing)}")
            say(f"   records persisted: {records}; units report {fleet.acked} acknowledged, "
                f"{fleet.resent} resent, {fleet.sent} sent in all")
            say(f"   commits: {runtime.store.batches} transactions for {runtime.store.batch_jobs} jobs")
        nursery.cancel_scope.cancel()


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


def run_demo() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="fg-demo-"))
    try:
        trio.run(_demo, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    say("\nDone. `./dev serve` runs a gateway of your own; README.md shows what to do with it.")
    return 0
