"""A booking system on another machine, written as OneAPI integrations are: HTTPS only,
OAuth2 client credentials (grant_type in the query, HTTP Basic), bearer tokens.

    CLIENT_ID=... CLIENT_SECRET=... python -m tests.gateway.oneapi_client BASE_URL CA_FILE IMEI

It gets a token, adds a vehicle with the seed's body, waits for the vehicle's position,
sends disable-driving, and prints one JSON line per step: {"step", "status", "body"}.
Nothing of fleetgate is imported: the process knows the URL, the CA and its credentials.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time

import httpx

from tests.gateway.seed import TELTONIKA_MODEL, niu_vehicle, unit_body

STATE_TIMEOUT = 20  # seconds to wait for the unit's first position


def report(step: str, response: httpx.Response) -> dict:
    body = response.json() if response.content else None
    print(json.dumps({"step": step, "status": response.status_code, "body": body}), flush=True)
    return body


def main() -> int:
    base_url, ca_file, imei = sys.argv[1:4]
    tls = ssl.create_default_context(cafile=ca_file)
    credentials = (os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"])
    with httpx.Client(base_url=base_url, verify=tls, timeout=20) as http:
        token = report("token", http.post("/auth/oauth/token", params={"grant_type": "client_credentials"},
                                          auth=credentials))
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        body = {**niu_vehicle("unused"), "telematics_unit": unit_body("TELTONIKA", imei, TELTONIKA_MODEL)["telematics_unit"]}
        vehicle = report("add-vehicle", http.post("/vehicles", json=body))
        deadline = time.monotonic() + STATE_TIMEOUT
        while True:  # the unit logs in once its vehicle exists, then reports
            state = http.get(f"/vehicles/{vehicle['id']}/state")
            if state.status_code != 200 or "position" in state.json() or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        report("state", state)
        report("command", http.post(f"/vehicles/{vehicle['id']}/commands/disable-driving"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
