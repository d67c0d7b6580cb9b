"""A NIU cloud for bench tests: the observed endpoints, the assumed fleet token endpoint,
scooters that live, and faults switched on and off at run time.

It answers the way protocol_specs/niu/spec.md says the real cloud does: the envelope
``{status, desc, trace, data}`` with HTTP 200 for its own errors, 1131 for a bad or expired
token, 20021 for logins too often, token expiries as epoch seconds. Scooters answer in
the variants public clients have seen (numbers as strings, flags as "", ``postion`` or
``position``, ``sn`` or ``sn_id``), so a client against it meets all of them. Their state
moves while time passes (position, charge) and follows commands a moment after the cloud
accepts them, as a real scooter does once the command reaches it over the mobile network.

    FLEETGATE_NIU_CLIENT_SECRET=... fleetgate simulate niu-cloud --port 8808 \\
        --serials NBSG4C7B40647G5M --scooters 5 --client-id fleet-berlin
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import math
import os
import random
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import trio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.utils import wrap_app

from drivers.niu.commands import ACC_OFF, ACC_ON, FORTIFICATION_OFF, FORTIFICATION_ON
from drivers.niu.parse import ASSUMED, STATUS_RATE_LIMITED, STATUS_TOKEN_ERROR, NiuAssumptions


SEED_SERIAL = "NBSG4C7B40647G5M"  # the unit in the OneAPI seed example
DEFAULT_PORT = 8808  # gateway.config's default [drivers.niu] base_url points here
SECRET_ENV = "FLEETGATE_NIU_CLIENT_SECRET"
SERIAL = re.compile(r"^[A-Z0-9]{6,32}$")
# The simulator's own status codes: the real cloud's codes for these cases are unknown.
STATUS_BAD_CLIENT = 10001
STATUS_BAD_REQUEST = 10002
STATUS_UNKNOWN_SCOOTER = 10004
STATUS_SCOOTER_OFFLINE = 10005
STATUS_UNKNOWN_COMMAND = 10006
OK_DESC = "成功"  # what the cloud says on success ("success")


def serial_for(index: int) -> str:
    return f"NBSIM{index:011d}"


def _answer(data: Any = None, status: int = 0, desc: str = OK_DESC) -> dict[str, Any]:
    return {"status": status, "desc": desc, "trace": desc, "data": data if data is not None else {}}


class SimScooter:
    """One scooter's own state, brought forward to the moment of each question. Variant
    (index % 3) picks the answer shape: 0 ints and ``postion``; 1 numbers and flags as
    strings; 2 ``position`` and a fortification flag the model leaves "" (unknown)."""

    def __init__(self, sn: str, index: int, now: float, rng: random.Random) -> None:
        self.sn, self.index, self.rng, self.variant = sn, index, rng, index % 3
        self.lat, self.lon = 52.5200 + (index % 50) * 0.002, 13.4050 + (index // 50) * 0.002  # Berlin
        self.heading = rng.uniform(0, 360)
        self.soc = 55 + rng.uniform(0, 40)
        self.odometer_km = 120 + index * 13.7
        self.acc_on, self.fortified, self.charging, self.connected = True, False, False, True
        self.top_case_locked, self.top_case_open, self.seat_released = True, False, False
        self.speed, self.beeps = 0.0, 0
        self.last = self.reported = now
        self.pending: list[tuple[float, str]] = []  # (when, command type) accepted, not yet done

    def schedule(self, at: float, kind: str, assumptions: NiuAssumptions) -> None:
        self.pending.append((at, kind))
        if kind == assumptions.battery_compartment_command:
            self.pending.append((at + 10, "_seat_closed"))  # the rider shuts the seat again

    def _obey(self, kind: str, a: NiuAssumptions) -> None:
        if kind == ACC_ON:  # switching on disarms, as the key or the app does
            self.acc_on, self.fortified = True, False
        elif kind == ACC_OFF:
            self.acc_on = False
        elif kind == FORTIFICATION_ON:  # arming switches off
            self.acc_on, self.fortified = False, True
        elif kind == FORTIFICATION_OFF:
            self.fortified = False
        elif kind == a.top_case_unlock_command:  # the lid springs open once unlatched
            self.top_case_locked, self.top_case_open = False, True
        elif kind == a.top_case_lock_command:  # locking means pushing the lid down
            self.top_case_locked, self.top_case_open = True, False
        elif kind == a.battery_compartment_command:
            self.seat_released = True
        elif kind == "_seat_closed":
            self.seat_released = False
        elif kind == a.find_command:
            self.beeps += 1

    def advance(self, now: float, a: NiuAssumptions = ASSUMED) -> None:
        due = sorted(p for p in self.pending if p[0] <= now)
        self.pending = [p for p in self.pending if p[0] > now]
        for _, kind in due:
            self._obey(kind, a)
        dt, self.last = now - self.last, max(now, self.last)
        if dt <= 0 or not self.connected:
            return  # an offline scooter reports nothing new
        if self.acc_on and ((now + 20 * self.index) // 60) % 3 != 2:  # ride two minutes, stand one
            self.speed = 18 + 7 * math.sin(now / 30 + self.index)
            km = self.speed * dt / 3600
            self.heading = (self.heading + self.rng.uniform(-20, 20)) % 360
            self.lat += km / 111.32 * math.cos(math.radians(self.heading))
            self.lon += km / (111.32 * math.cos(math.radians(self.lat))) * math.sin(math.radians(self.heading))
            self.odometer_km += km
            self.soc -= km * 0.9  # an N1 goes about 100 km on a charge
        else:
            self.speed = 0.0
            self.soc += dt * 0.02 if self.charging else -dt * 0.0002
            self.lat += self.rng.gauss(0, 0.000005)  # a parked scooter's GPS wanders a little
        if self.soc >= 100:
            self.charging = False
        elif self.soc < 8 and not self.acc_on:
            self.charging = True  # somebody plugged it in
        self.soc = min(100.0, max(1.0, self.soc))
        self.reported = now

    def listing(self) -> dict[str, Any]:
        item: dict[str, Any] = {"sn_id" if self.index % 2 == 0 else "sn": self.sn, "sku_name": "N1S",
                                "product_type": "native", "carframe_id": f"LNNBSG4C7{self.index:08d}"}
        if self.index % 3 != 2:  # some accounts' scooters have no name
            item["scooter_name"] = f"N1 #{self.index + 1}"
        return item

    def index_info(self, a: NiuAssumptions) -> dict[str, Any]:
        as_text = self.variant == 1

        def num(value: float) -> Any:
            return str(value) if as_text else value

        def flag(value: bool) -> Any:
            return str(int(value)) if as_text else int(value)

        ms = int(self.reported * 1000)
        spot = {"lat": num(round(self.lat, 6)), "lng": num(round(self.lon, 6))}
        return {
            "isConnected": self.connected,
            "ss_online_sta": "1" if self.connected else "0",
            "isAccOn": flag(self.acc_on),
            "isFortificationOn": "" if self.variant == 2 else flag(self.fortified),
            "lockStatus": 0 if self.acc_on else 1,
            "is_cushion_lock_on": flag(self.seat_released),
            "isCharging": int(self.charging),
            "batteries": {"compartmentA": {"batteryCharging": num(round(self.soc)), "isConnected": True,
                                           "bmsId": f"BN{self.sn[-12:]}", "gradeBattery": "97.5"}},
            "position" if self.variant == 2 else "postion": spot,
            "nowSpeed": num(round(self.speed, 1)),
            "estimatedMileage": num(round(self.soc * 0.9)),
            "time": str(ms) if as_text else ms,
            "gpsTimestamp": ms,
            "infoTimestamp": ms,
            "gsm": 22, "gps": 4, "hdop": 1, "centreCtrlBattery": 100, "leftTime": "0.0",
            a.top_case_lock_field: int(self.top_case_locked),
            a.top_case_lid_field: int(self.top_case_open),
        }


class Faults:
    """Switches tests flip while the cloud runs. Counts are "the next n requests"."""

    def __init__(self, cloud: SimulatedCloud) -> None:
        self._cloud = cloud
        self.token_errors = 0
        self.server_errors = 0
        self.rate_limits = 0
        self.delay = 0.0

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tokens stay valid)."""
        self._cloud.tokens.clear()

    def token_error_next(self, n: int) -> None:
        self.token_errors = n

    def server_errors_next(self, n: int) -> None:
        self.server_errors = n

    def slow(self, seconds: float) -> None:
        """Every answer is held back this long (0 ends it)."""
        self.delay = seconds

    def rate_limit_next(self, n: int) -> None:
        self.rate_limits = n

    def offline(self, sn: str) -> None:
        self._cloud.scooter(sn).connected = False

    def online(self, sn: str) -> None:
        self._cloud.scooter(sn).connected = True


class SimulatedCloud:
    def __init__(
        self,
        scooters: list[str] | int,
        client_id: str,
        client_secret: str,
        *,
        token_lifetime: float = 3600,
        refresh_token_lifetime: float = 30 * 86400,
        command_delay: float = 1.0,
        assumptions: NiuAssumptions = ASSUMED,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        if not client_secret:
            raise ValueError("the simulated cloud needs a client secret")
        serials = [serial_for(i) for i in range(scooters)] if isinstance(scooters, int) else list(scooters)
        self.client_id, self._secret = client_id, client_secret
        self.token_lifetime, self.refresh_token_lifetime = token_lifetime, refresh_token_lifetime
        self.command_delay, self.assumptions, self.clock = command_delay, assumptions, clock
        now = clock()
        self.scooters: dict[str, SimScooter] = {
            sn: SimScooter(sn, i, now, random.Random(seed * 1_000_003 + i)) for i, sn in enumerate(serials)
        }
        self.tokens: dict[str, float] = {}  # access token -> expiry, epoch seconds
        self.refresh_tokens: dict[str, float] = {}
        self.faults = Faults(self)
        self.logins: Counter[str] = Counter()  # by grant type, refused ones not counted
        self.requests: Counter[str] = Counter()  # by path
        self.served: Counter[str] = Counter()  # faults served: token_error, server_error, rate_limited
        self.commands: list[tuple[str, str]] = []  # (sn, type) accepted

    def __repr__(self) -> str:
        return f"SimulatedCloud(scooters={len(self.scooters)}, client_id={self.client_id!r})"

    def scooter(self, sn: str) -> SimScooter:
        return self.scooters[sn]

    def set_credentials(self, client_id: str, client_secret: str) -> None:
        """The operator rotated the fleet's secret at NIU: every token issued is revoked."""
        self.client_id, self._secret = client_id, client_secret
        self.tokens.clear()
        self.refresh_tokens.clear()

    def summary(self) -> str:
        return (f"scooters={len(self.scooters)} logins={sum(self.logins.values())} "
                f"requests={sum(self.requests.values())} commands={len(self.commands)}")

    # --- the endpoints, HTTP-free: each returns (HTTP status, JSON body) --------------------

    async def gate(self, path: str) -> Response | None:
        """Faults every endpoint shares: slowness and 5xx bursts."""
        self.requests[path] += 1
        if self.faults.delay > 0:
            await trio.sleep(self.faults.delay)
        if self.faults.server_errors > 0:
            self.faults.server_errors -= 1
            self.served["server_error"] += 1
            code = (502, 503, 500)[self.faults.server_errors % 3]
            return PlainTextResponse("<html><body>upstream error</body></html>", status_code=code)
        return None

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.faults.rate_limits > 0:
            self.faults.rate_limits -= 1
            self.served["rate_limited"] += 1
            return 200, _answer(status=STATUS_RATE_LIMITED, desc="login too frequently")
        now = self.clock()
        grant = form.get("grant_type", "")
        if grant == self.assumptions.client_credentials_grant:
            good_id = hmac.compare_digest(form.get("client_id", "").encode(), self.client_id.encode())
            good_secret = hmac.compare_digest(form.get("client_secret", "").encode(), self._secret.encode())
            if not (good_id and good_secret):
                return 401, _answer(status=STATUS_BAD_CLIENT, desc="invalid client")
        elif grant == self.assumptions.refresh_grant:
            if self.refresh_tokens.pop(form.get("refresh_token", ""), 0) <= now:
                return 401, _answer(status=STATUS_BAD_CLIENT, desc="invalid refresh token")
        else:
            return 400, _answer(status=STATUS_BAD_REQUEST, desc="unsupported grant_type")
        self.logins[grant] += 1
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires, refresh_expires = int(now + self.token_lifetime), int(now + self.refresh_token_lifetime)
        self.tokens[access], self.refresh_tokens[refresh] = now + self.token_lifetime, refresh_expires
        fields = {"token_expires_in": expires, "refresh_token": refresh, "refresh_token_expires_in": refresh_expires}
        if sum(self.logins.values()) % 2 == 0:  # the app login's nested shape, now and then
            return 200, _answer({"token": {"access_token": access, **fields}})
        return 200, _answer({"token": access, **fields})

    def authorise(self, token: str | None) -> dict[str, Any] | None:
        """None when the token is good, else the 1131 answer."""
        if self.faults.token_errors > 0:
            self.faults.token_errors -= 1
            self.served["token_error"] += 1
            return _answer(status=STATUS_TOKEN_ERROR, desc="Fail!TOKEN ERROR")
        if token is None or self.tokens.get(token, 0) <= self.clock():
            self.tokens.pop(token or "", None)
            return _answer(status=STATUS_TOKEN_ERROR, desc="Fail!TOKEN ERROR")
        return None

    def scooter_list(self) -> dict[str, Any]:
        return _answer({"items": [scooter.listing() for scooter in self.scooters.values()]})

    def index_info(self, sn: str) -> dict[str, Any]:
        scooter = self.scooters.get(sn.upper())
        if scooter is None:
            return _answer(status=STATUS_UNKNOWN_SCOOTER, desc="scooter not found")
        scooter.advance(self.clock(), self.assumptions)
        return _answer(scooter.index_info(self.assumptions))

    def command(self, sn: str, kind: str) -> dict[str, Any]:
        scooter = self.scooters.get(sn.upper())
        if scooter is None:
            return _answer(status=STATUS_UNKNOWN_SCOOTER, desc="scooter not found")
        a = self.assumptions
        known = {ACC_ON, ACC_OFF, FORTIFICATION_ON, FORTIFICATION_OFF, a.find_command, a.top_case_lock_command,
                 a.top_case_unlock_command, a.battery_compartment_command}
        if kind not in known:
            return _answer(status=STATUS_UNKNOWN_COMMAND, desc=f"unknown command type {kind}")
        if not scooter.connected:
            return _answer(status=STATUS_SCOOTER_OFFLINE, desc="scooter offline")
        self.commands.append((scooter.sn, kind))
        scooter.schedule(self.clock() + self.command_delay, kind, a)
        return _answer()


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return dict(parse_qsl(body.decode("utf-8", "replace")))


def create_app(cloud: SimulatedCloud) -> FastAPI:
    app = FastAPI(title="NIU cloud simulator", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(cloud.assumptions.token_path)
    async def token(request: Request) -> Response:
        if (fault := await cloud.gate(cloud.assumptions.token_path)) is not None:
            return fault
        status, body = cloud.token(await _form(request))
        return JSONResponse(body, status_code=status)

    @app.get("/v5/scooter/list")
    async def scooter_list(request: Request) -> Response:
        if (fault := await cloud.gate("/v5/scooter/list")) is not None:
            return fault
        return JSONResponse(cloud.authorise(request.headers.get("token")) or cloud.scooter_list())

    @app.get("/v5/scooter/motor_data/index_info")
    async def index_info(request: Request, sn: str = "") -> Response:
        if (fault := await cloud.gate("/v5/scooter/motor_data/index_info")) is not None:
            return fault
        return JSONResponse(cloud.authorise(request.headers.get("token")) or cloud.index_info(sn))

    @app.post("/v5/cmd/creat")
    async def command(request: Request) -> Response:
        if (fault := await cloud.gate("/v5/cmd/creat")) is not None:
            return fault
        refused = cloud.authorise(request.headers.get("token"))
        if refused is not None:
            return JSONResponse(refused)
        form = await _form(request)  # JSON as the Android clients send it, or a form
        return JSONResponse(cloud.command(form.get("sn", ""), form.get("type", "")))

    return app


async def serve(cloud: SimulatedCloud, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the cloud over HTTP/1.1 until cancelled; ``task_status.started(bound port)``."""
    config = HypercornConfig()
    config.accesslog = None
    config.errorlog = logging.getLogger("simulators.niu_cloud.hypercorn")
    asgi = wrap_app(create_app(cloud), config.wsgi_max_body_size, "asgi")
    context = WorkerContext(None)
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        await TCPServer(asgi, config, context, {}, stream)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(bound)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port, 0 for any (default {DEFAULT_PORT})")
    parser.add_argument("--scooters", type=int, default=None,
                        help="number of scooters; named --serials first, then generated ones (default 1)")
    parser.add_argument("--serials", default="", help=f"comma-separated serials, e.g. {SEED_SERIAL}")
    parser.add_argument("--client-id", required=True, help="the fleet client id the cloud accepts")
    parser.add_argument("--client-secret", default=None,
                        help=f"the client secret it accepts; better through ${SECRET_ENV} (a command "
                             "line is visible to every user of the machine)")
    parser.add_argument("--token-lifetime", type=float, default=3600, help="access token lifetime, s (default 3600)")
    parser.add_argument("--command-delay", type=float, default=1.0,
                        help="seconds before a scooter obeys an accepted command (default 1)")


def fleet_serials(named: str, count: int | None) -> list[str]:
    serials = list(dict.fromkeys(s.strip().upper() for s in named.split(",") if s.strip()))
    bad = [s for s in serials if not SERIAL.match(s)]
    if bad:
        raise ValueError(f"not a NIU serial (6 to 32 letters or digits): {', '.join(bad)}")
    total = max(count if count is not None else max(len(serials), 1), len(serials))
    index = 0
    while len(serials) < total:
        if (candidate := serial_for(index)) not in serials:
            serials.append(candidate)
        index += 1
    return serials


async def main_async(args: argparse.Namespace) -> SimulatedCloud:
    secret = args.client_secret or os.environ.get(SECRET_ENV, "")
    if not secret:
        raise SystemExit(f"niu-cloud: give the client secret in ${SECRET_ENV} or with --client-secret")
    try:
        serials = fleet_serials(args.serials, args.scooters)
    except ValueError as exc:
        raise SystemExit(f"niu-cloud: {exc}") from None
    cloud = SimulatedCloud(serials, args.client_id, secret, token_lifetime=args.token_lifetime,
                           command_delay=args.command_delay)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve, cloud, args.host, args.port)
        shown = ", ".join(serials[:5]) + (f" and {len(serials) - 5} more" if len(serials) > 5 else "")
        print(f"NIU cloud simulator on http://{args.host}:{port} for client id {args.client_id}: {shown}",
              flush=True)
        await trio.sleep(math.inf)
    return cloud

