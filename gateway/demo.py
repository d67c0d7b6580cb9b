"""`fleetgate demo`: the whole system on one machine, for a newcomer's first look.

A gateway on a temporary data dir, simulated units of every TCP brand connecting to it,
and the admin API used exactly as an operator would use it: find the units, register
them, read their state, send commands and watch them take effect.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import trio

from gateway.app import run_gateway
from gateway.cli import PROG
from gateway.cli.interrupts import until_interrupted
from gateway.cli.output import state_lines, table
from gateway.cli.vehicles import VEHICLE_COLUMNS
from gateway.config import load_config
from gateway.store.events import last_position
from simulators import gt06, jt808, niu_cloud, teltonika


@dataclass
class DemoFleet:
    driver: str
    brand: str
    model: str
    units: int
    command: str  # sent to the first vehicle, with the state property it changes
    changes: str
    start: Callable  # (port, passwords) -> task function for nursery.start
    label: str


# Each unit gets a fresh random password: there is no default anywhere.
FLEETS = [
    DemoFleet("teltonika", "TELTONIKA", "01M8A3J4EXC1SE2XJ4RFJBXV9Q", 2, "disable-driving", "driving_enabled",
              lambda port, pw: lambda task_status: teltonika.run_fleet(
                  "127.0.0.1", port, 2, 1.0, retry_delay=1.0, task_status=task_status), "Teltonika FMB car"),
    DemoFleet("gt06", "CONCOX", "01M8A3J4GCYMJHQ8FEKE6WNR6X", 2, "disable-driving", "driving_enabled",
              lambda port, pw: lambda task_status: gt06.run_fleet(
                  "127.0.0.1", port, 2, 1.0, password_for=lambda i: pw[i], retry_delay=1.0,
                  heartbeat_every=1, task_status=task_status), "Concox GT06 moped"),
    DemoFleet("jt808", "JT808", "01M8A3J4HQXHE7A2J2G01ZH06Q", 2, "lock-central-lock", "central_lock",
              # unit 0 holds its code already, unit 1 learns it by registering
              lambda port, pw: lambda task_status: jt808.run_fleet(
                  "127.0.0.1", port, 2, 1.0, auth_code_for=lambda i: pw[i] if i == 0 else None, retry_delay=1.0,
                  task_status=task_status), "JT/T 808 car"),
]


def say(text: str = "") -> None:
    print(text, flush=True)


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


async def _poll(check, timeout: float = 30.0):
    with trio.fail_after(timeout):
        while not (result := await check()):
            await trio.sleep(0.2)
        return result


NIU_MODEL = "01F4XW6QHWKT4HMSFDZ9CCQH1G"  # NIU N1 with top case
NIU_SCOOTERS = ["NBSG4C7B40647G5M", "NBSG4C7B40647G5N"]
NIU_ACCOUNT = "demo@fleetgate.invalid"


async def _demo(data_dir: Path) -> None:
    config = load_config(data_dir=data_dir)
    for fleet in FLEETS:
        listener = config.listener(fleet.driver)
        listener.host, listener.port = "127.0.0.1", 0
    niu_password = secrets.token_urlsafe(12)
    cloud = niu_cloud.SimulatedCloud(NIU_SCOOTERS, account=(NIU_ACCOUNT, niu_password), command_delay=0.5)
    async with trio.open_nursery() as nursery:
        cloud_port = await nursery.start(niu_cloud.serve, cloud, "127.0.0.1", 0)
        config.drivers.niu.base_url, config.drivers.niu.poll_interval = f"http://127.0.0.1:{cloud_port}", 1.0
        runtime = await nursery.start(run_gateway, config)
        ports = {b["driver"]: b["port"] for b in runtime.listeners}
        say(f"1. Gateway up: fleet {runtime.registry.fleet_id}, admin socket {config.admin_socket}")
        say("   listeners: " + ", ".join(f"{d} on 127.0.0.1:{p}" for d, p in ports.items()))

        passwords = {f.brand: [secrets.token_hex(4) for _ in range(f.units)] for f in FLEETS}
        for fleet in FLEETS:
            await nursery.start(fleet.start(ports[fleet.driver], passwords[fleet.brand]))
        transport = httpx.AsyncHTTPTransport(uds=str(config.admin_socket))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=30) as api:
            await _walk_through(api, runtime, passwords)
            await _niu(api, niu_password, cloud_port)
            await _summary(api, runtime)
        nursery.cancel_scope.cancel()


async def _walk_through(api: httpx.AsyncClient, runtime, passwords: dict[str, list[str]]) -> None:
    units = {}
    for fleet in FLEETS:
        async def available(brand=fleet.brand, count=fleet.units):
            items = (await api.get(f"/telematics-brands/{brand}/available-telematics-units")).json()["items"]
            return sorted(items, key=lambda u: u["id"]) if len(items) == count else None

        units[fleet.brand] = await _poll(available)
    say("\n2. Simulated units connected. Unknown to the gateway, they were refused and are listed")
    say("   as available (GET /telematics-brands/{brand}/available-telematics-units):")
    seen = [u for fleet in FLEETS for u in units[fleet.brand]]
    say(_indent(table(seen, [("brand", "brand"), ("unit", "id"), ("from", "remote_address")])))

    say("\n3. Registering them as vehicles (POST /vehicles), each with its own password where the")
    say("   brand has one; the second JT/T 808 unit learns its password by registering, in an")
    say("   enrolment window opened for it (POST /vehicles/{id}/telematics-unit/enrolment):")
    first_of = {}
    for fleet in FLEETS:
        for n, unit in enumerate(units[fleet.brand]):
            body = {"telematics_unit": {"id": unit["id"], "brand": fleet.brand,
                                        "setup": {"vehicle_model_id": fleet.model}},
                    "master_data": {"custom_name": f"{fleet.label} {n + 1}", "license_plate": f"FG-{fleet.brand[:2]}{n}"}}
            if fleet.brand != "TELTONIKA":
                body["telematics_unit"]["authentication"] = {"password": passwords[fleet.brand][n]}
            vehicle = (await api.post("/vehicles", json=body)).json()
            first_of.setdefault(fleet.brand, vehicle["id"])
            if fleet.brand == "JT808" and n == 1:
                await api.post(f"/vehicles/{vehicle['id']}/telematics-unit/enrolment", json={"expires_in": 120})

    async def all_online():
        listing = (await api.get("/vehicles")).json()["items"]
        states = [(await api.get(f"/vehicles/{v}/state")).json() for v in first_of.values()]
        ready = all(v["life_status"]["value"] == "ONLINE" for v in listing) and all("position" in s for s in states)
        return listing if ready else None

    listing = await _poll(all_online)
    say(_indent(table(listing, VEHICLE_COLUMNS)))

    for step, fleet in enumerate(FLEETS, start=4):
        vehicle_id = first_of[fleet.brand]

        async def has(prop=fleet.changes, vehicle_id=vehicle_id):
            state = (await api.get(f"/vehicles/{vehicle_id}/state")).json()
            return state if prop in state else None

        before = await _poll(has)
        say(f"\n{step}. {fleet.label} {vehicle_id}: live state (GET /vehicles/{vehicle_id}/state)")
        say(_indent(state_lines(before)))
        response = await api.post(f"/vehicles/{vehicle_id}/commands/{fleet.command}")
        after = response.json()
        shown = after[fleet.changes]["value"] if response.status_code == 200 else after.get("detail")
        say(f"   POST /vehicles/{vehicle_id}/commands/{fleet.command} -> {response.status_code}: "
            f"{fleet.changes} was {before[fleet.changes]['value']}, is now {shown}")



async def _niu(api: httpx.AsyncClient, password: str, cloud_port: int) -> None:
    step = len(FLEETS) + 4
    say(f"\n{step}. NIU scooters are reached through NIU's cloud (here its simulator on port {cloud_port})")
    say("   with the NIU account they belong to, signed in as NIU's app does and stored once")
    say("   (POST /credentials; the password is write-only):")
    credentials = (await api.post("/credentials", json={"brand": "NIU", "name": "Demo fleet",
                                                        "account": NIU_ACCOUNT, "password": password})).json()
    say(_indent(table([credentials], [("id", "id"), ("name", "name"), ("kind", "kind"), ("account", "account")])))
    listed = (await api.get("/telematics-brands/NIU/available-telematics-units")).json()["items"]
    say(f"   the cloud lists {len(listed)} scooters under them: {', '.join(u['id'] for u in listed)}")
    vehicle_ids = []
    for n, unit in enumerate(listed):
        body = {"telematics_unit": {"id": unit["id"], "brand": "NIU", "setup": {"vehicle_model_id": NIU_MODEL},
                                    "authentication": {"credentials_id": credentials["id"]}},
                "master_data": {"custom_name": f"NIU N1 {n + 1}", "vehicle_type": "MOPED"}}
        vehicle_ids.append((await api.post("/vehicles", json=body)).json()["id"])
    vehicle_id = vehicle_ids[0]

    async def polled():  # every scooter, so that the summary finds them all online
        states = [(await api.get(f"/vehicles/{v}/state")).json() for v in vehicle_ids]
        ready = all({"fuel_level_in_percent", "position", "top_case_lock"} <= set(state) for state in states)
        return states[0] if ready else None

    before = await _poll(polled)
    say(f"   {vehicle_id}, polled through the cloud:")
    say(_indent(state_lines(before)))
    response = await api.post(f"/vehicles/{vehicle_id}/commands/unlock-top-case")
    after = response.json()
    shown = after["top_case_lock"]["value"] if response.status_code == 200 else after.get("detail")
    say(f"   POST /vehicles/{vehicle_id}/commands/unlock-top-case -> {response.status_code}: top_case_lock was "
        f"{before['top_case_lock']['value']}, is now {shown} (confirmed by the cloud's own state)")


async def _summary(api: httpx.AsyncClient, runtime) -> None:
    listing = (await api.get("/vehicles")).json()["items"]
    (_, events) = await runtime.store.read(last_position)  # ids count every event: nothing is pruned in a demo
    online = sum(v["life_status"]["value"] == "ONLINE" for v in listing)
    say(f"\n{len(FLEETS) + 5}. Summary")
    say(f"   vehicles: {len(listing)}, {online} online; records persisted: {runtime.store.records_new}; events logged: {events}")
    say(f"   store: {runtime.store.batches} commits for {runtime.store.batch_jobs} jobs (group commit)")
    say(f"   try: {PROG} events tail, {PROG} vehicles list, GET /metrics")


def run_demo() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="fg-demo-"))
    try:
        trio.run(until_interrupted, partial(_demo, data_dir))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    say(f"\nDone. `{PROG} serve` runs a gateway of your own; README.md shows what to do with it.")
    return 0
