"""A public NIU client, not ours, against the simulator: the PyPI ``niu`` library
(Bonnee/niu) in its own process, changed only in its two host constants. It signs in at
/appv2/login, lists the account's scooters and reads each one's detail, status, battery
and odometer, exactly as it would from NIU's cloud."""

from __future__ import annotations

import json
import os
import sys

import pytest
import trio

from simulators.niu_cloud import SEED_SERIAL, SimulatedCloud, serve

ACCOUNT = "rider@example.com"
PASSWORD = "Sc00ter-Passw0rd-42"
SERIALS = [SEED_SERIAL, "NBSIM00000000001", "NBSIM00000000002", "NBSIM00000000003"]  # the last has two packs
NOW = 1_717_236_000.0  # a still clock: the scooters hold still while both sides look at them

# Runs in the child: the library's hosts are module constants, read at each request.
CLIENT = """
import asyncio, json, os, sys
import niu.niu as library

library.NIU_LOGIN_URL = library.NIU_API_URL = sys.argv[1]

async def main():
    cloud = library.NiuCloud(username=sys.argv[2], password=os.environ["NIU_PASSWORD"])
    await cloud.connect()
    await cloud.update_vehicles()
    seen = {}
    for sn, scooter in cloud.get_vehicles().items():
        two = scooter.battery_count == 2  # soc() without an index fails on a single pack
        seen[sn] = {"serial": scooter.serial_number, "batteries": scooter.battery_count,
                    "soc": scooter.soc() if two else None,
                    "soc_a": scooter.soc(0), "temperature_a": scooter.battery_temp(0),
                    "odometer": scooter.odometer, "range": scooter.range, "location": scooter.location,
                    "connected": scooter.is_connected, "charging": scooter.is_charging, "model": scooter.model}
    print(json.dumps(seen))

asyncio.run(main())
"""


@pytest.fixture
async def cloud(nursery):
    sim = SimulatedCloud(SERIALS, account=(ACCOUNT, PASSWORD), clock=lambda: NOW)
    sim.url = f"http://127.0.0.1:{await nursery.start(serve, sim, '127.0.0.1', 0)}"
    return sim


async def test_the_pypi_niu_client_reads_every_scooter(cloud):
    with trio.fail_after(30):
        done = await trio.run_process([sys.executable, "-c", CLIENT, cloud.url, ACCOUNT], capture_stdout=True,
                                      capture_stderr=True, check=False,
                                      env={**os.environ, "NIU_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr.decode()
    seen = json.loads(done.stdout)
    assert sorted(seen) == sorted(SERIALS)
    assert cloud.logins.account_grants == {"appv2": 1}  # the library's own, older sign-in
    for sn, read in seen.items():
        scooter = cloud.scooter(sn)
        charges = list(scooter.charges().values())
        assert read["serial"] == sn and read["batteries"] == len(charges)
        if len(charges) == 2:
            assert read["soc"] == sum(charges) / 2
        assert read["soc_a"] == charges[0] and read["temperature_a"] == scooter.battery_info()["batteries"][
            "compartmentA"]["temperature"]
        assert read["odometer"] == round(scooter.odometer_km, 1)
        assert read["range"] == round(scooter.soc * 0.9)
        location = read["location"]
        assert (float(location["lat"]), float(location["lon"])) == (round(scooter.lat, 6), round(scooter.lon, 6))
        assert location["timestamp"] == int(NOW * 1000)
        assert read["connected"] is True and read["charging"] is False and read["model"] == "N1S"
    assert cloud.requests["/v5/scooter/list"] == 1
    for path in ("/v5/scooter/detail/{sn}", "/v3/motor_data/index_info", "/v3/motor_data/battery_info",
                 "/motoinfo/overallTally"):
        assert cloud.requests[path] >= len(SERIALS), path
