"""A NIU cloud for bench tests: NIU's account and app-API hosts on one port.

Both hosts' paths as public clients find them, plus the assumed fleet token endpoint;
scooters that live, and faults switched on and off at run time.

It answers the way protocol_specs/niu/spec.md says the real cloud does: the envelope
``{status, desc, trace, data}`` with HTTP 200 for its own errors, 1131 for a bad or expired
token, 20021 for logins too often, token expiries as epoch seconds, every path with the
method and body encodings public clients use. A public client whose host constants point
here signs in, lists its scooters and reads them. Scooters (niu_scooter.py) move while
time passes and follow commands a moment after the cloud accepts them, as a real scooter
does once the command reaches it over the mobile network.

    FLEETGATE_NIU_ACCOUNT_PASSWORD=... fleetgate simulate niu-cloud --account rider@example.com \\
        --serials NBSG4C7B40647G5M --scooters 5
    FLEETGATE_NIU_CLIENT_SECRET=... fleetgate simulate niu-cloud --client-id fleet-berlin
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
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
from drivers.niu.login import ACCOUNT_TOKEN_PATH
from drivers.niu.parse import ASSUMED, STATUS_RATE_LIMITED, STATUS_TOKEN_ERROR, NiuAssumptions
from simulators.niu_logins import Logins, answer
from simulators.niu_scooter import SimScooter

SEED_SERIAL = "NBSG4C7B40647G5M"  # the unit in the OneAPI seed example
DEFAULT_PORT = 8808  # gateway.config's default [drivers.niu] base_url points here
SECRET_ENV = "FLEETGATE_NIU_CLIENT_SECRET"
ACCOUNT_PASSWORD_ENV = "FLEETGATE_NIU_ACCOUNT_PASSWORD"
SERIAL = re.compile(r"^[A-Z0-9]{6,32}$")
# The simulator's own status codes (with niu_logins.py's): the real ones are unknown.
STATUS_UNKNOWN_SCOOTER = 10004
STATUS_SCOOTER_OFFLINE = 10005
STATUS_UNKNOWN_COMMAND = 10006
# The bad-token answer as captured (spec.md §2): "login information wrong".
TOKEN_ERROR = answer("", STATUS_TOKEN_ERROR, "登录信息错误", "Fail!TOKEN ERROR")


def serial_for(index: int) -> str:
    return f"NBSIM{index:011d}"


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
        self._cloud.logins.tokens.clear()

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
        *,
        client: tuple[str, str] | None = None,
        account: tuple[str, str] | None = None,
        token_lifetime: float = 3600,
        refresh_token_lifetime: float = 30 * 86400,
        command_delay: float = 1.0,
        assumptions: NiuAssumptions = ASSUMED,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        serials = [serial_for(i) for i in range(scooters)] if isinstance(scooters, int) else list(scooters)
        self.logins = Logins(client, account, assumptions, clock, token_lifetime, refresh_token_lifetime)
        self.command_delay, self.assumptions, self.clock = command_delay, assumptions, clock
        self.token_lifetime = token_lifetime
        now = clock()
        self.scooters: dict[str, SimScooter] = {
            sn: SimScooter(sn, i, now, random.Random(seed * 1_000_003 + i)) for i, sn in enumerate(serials)
        }
        self.faults = Faults(self)
        self.requests: Counter[str] = Counter()  # by path
        self.served: Counter[str] = Counter()  # faults served: token_error, server_error, rate_limited
        self.commands: list[tuple[str, str]] = []  # (sn, type) accepted

    def __repr__(self) -> str:
        return (f"SimulatedCloud(scooters={len(self.scooters)}, client_id={self.logins.client_id!r}, "
                f"account={self.logins.account!r})")

    def scooter(self, sn: str) -> SimScooter:
        return self.scooters[sn]

    def summary(self) -> str:
        logins = sum(self.logins.fleet_grants.values()) + sum(self.logins.account_grants.values())
        return (f"scooters={len(self.scooters)} logins={logins} "
                f"requests={sum(self.requests.values())} commands={len(self.commands)}")

    status = summary  # what a running cloud shows in its status line

    # --- what every endpoint shares -------------------------------------------------------

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

    def rate_limited(self) -> dict[str, Any] | None:
        if self.faults.rate_limits > 0:
            self.faults.rate_limits -= 1
            self.served["rate_limited"] += 1
            return answer(status=STATUS_RATE_LIMITED, desc="login too frequently")
        return None

    def authorise(self, token: str | None) -> dict[str, Any] | None:
        """None when the token is good, else the 1131 answer."""
        if self.faults.token_errors > 0:
            self.faults.token_errors -= 1
            self.served["token_error"] += 1
            return TOKEN_ERROR
        if not self.logins.valid(token):
            return TOKEN_ERROR
        return None

    def _known(self, sn: str) -> SimScooter | None:
        scooter = self.scooters.get(sn.strip().upper())
        if scooter is not None:
            scooter.advance(self.clock(), self.assumptions)
        return scooter

    # --- the app-API host: each returns the JSON body --------------------------------------

    def about(self, sn: str, what: Callable[[SimScooter], Any]) -> dict[str, Any]:
        scooter = self._known(sn)
        if scooter is None:
            return answer(status=STATUS_UNKNOWN_SCOOTER, desc="scooter not found")
        return answer(what(scooter))

    def command(self, sn: str, kind: str) -> dict[str, Any]:
        scooter = self._known(sn)
        if scooter is None:
            return answer(status=STATUS_UNKNOWN_SCOOTER, desc="scooter not found")
        a = self.assumptions
        known = {ACC_ON, ACC_OFF, FORTIFICATION_ON, FORTIFICATION_OFF, a.find_command, a.top_case_lock_command,
                 a.top_case_unlock_command, a.battery_compartment_command}
        if kind not in known:
            return answer(status=STATUS_UNKNOWN_COMMAND, desc=f"unknown command type {kind}")
        if not scooter.connected:
            return answer(status=STATUS_SCOOTER_OFFLINE, desc="scooter offline")
        self.commands.append((scooter.sn, kind))
        scooter.schedule(self.clock() + self.command_delay, kind, a)
        return answer()


async def _fields(request: Request) -> dict[str, str]:
    """The query string and the body together, the body a form or JSON: public clients
    send each (spec.md §2), and some put ``sn`` in the query of a POST."""
    fields = dict(request.query_params)
    body = await request.body()
    if not body:
        return fields
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(body)
        except ValueError:
            return fields
        if isinstance(data, dict):
            fields.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})
        return fields
    fields.update(parse_qsl(body.decode("utf-8", "replace")))
    return fields


def create_app(cloud: SimulatedCloud) -> FastAPI:
    app = FastAPI(title="NIU cloud simulator", docs_url=None, redoc_url=None, openapi_url=None)

    def login_route(path: str, handle: Callable[[dict[str, str]], tuple[int, dict[str, Any]]]) -> None:
        async def login(request: Request) -> Response:
            if (fault := await cloud.gate(path)) is not None:
                return fault
            if (limited := cloud.rate_limited()) is not None:
                return JSONResponse(limited)
            status, body = handle(await _fields(request))
            return JSONResponse(body, status_code=status)

        app.add_api_route(path, login, methods=["POST"])

    login_route(cloud.assumptions.token_path, cloud.logins.fleet_token)
    login_route(ACCOUNT_TOKEN_PATH, cloud.logins.account_token)
    login_route("/appv2/login", cloud.logins.appv2_login)

    def data_route(path: str, methods: list[str], handle: Callable[[Request, dict[str, str]], dict[str, Any]]) -> None:
        async def data(request: Request) -> Response:
            if (fault := await cloud.gate(path)) is not None:
                return fault
            fields = await _fields(request)
            # The token travels in a header; some clients repeat it in the body.
            refused = cloud.authorise(request.headers.get("token") or fields.get("token"))
            return JSONResponse(refused or handle(request, fields))

        app.add_api_route(path, data, methods=methods)

    def scooters(_request: Request, _form: dict[str, str]) -> dict[str, Any]:
        return answer({"items": [s.listing() for s in cloud.scooters.values()]})

    def per_scooter(what: Callable[[SimScooter], Any]) -> Callable[[Request, dict[str, str]], dict[str, Any]]:
        return lambda _request, fields: cloud.about(fields.get("sn", ""), what)

    data_route("/v5/scooter/list", ["GET", "POST"], scooters)
    data_route("/motoinfo/list", ["POST"], lambda _r, _f: answer([s.motoinfo() for s in cloud.scooters.values()]))
    data_route("/v5/scooter/detail/{sn}", ["GET"],
               lambda request, _f: cloud.about(request.path_params["sn"], SimScooter.detail))
    for path in ("/v3/motor_data/index_info", "/v5/scooter/motor_data/index_info"):
        data_route(path, ["GET"], per_scooter(lambda s: s.index_info(cloud.assumptions)))
    data_route("/v3/motor_data/battery_info", ["GET"], per_scooter(SimScooter.battery_info))
    data_route("/motoinfo/overallTally", ["POST"], per_scooter(lambda s: s.overall_tally(cloud.clock())))
    data_route("/v5/cmd/creat", ["POST"],
               lambda _r, fields: cloud.command(fields.get("sn", ""), fields.get("type", "")))
    return app


class _WholeAnswers:
    """The connection as hypercorn sees it, sending an answer's head together with its
    body. hypercorn writes them apart; NIU's web servers send a small answer in one piece,
    and a client that closes its session once the head is in (the PyPI niu library does)
    would lose a body that comes a moment later."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream, self._head = stream, b""

    @property
    def socket(self) -> Any:
        return self._stream.socket

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        data = bytes(data)
        if data.startswith(b"HTTP/") and not self._head:
            self._head = data
            await trio.lowlevel.checkpoint()
            return
        data, self._head = self._head + data, b""
        await self._stream.send_all(data)

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self._stream.receive_some(max_bytes)

    async def send_eof(self) -> None:
        await self.send_all(b"")
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


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
        await TCPServer(asgi, config, context, {}, _WholeAnswers(stream))

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(bound)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port, 0 for any (default {DEFAULT_PORT})")
    parser.add_argument("--scooters", type=int, default=None,
                        help="number of scooters; named --serials first, then generated ones (default 1)")
    parser.add_argument("--serials", default="", help=f"comma-separated serials, e.g. {SEED_SERIAL}")
    parser.add_argument("--account", metavar="EMAIL",
                        help=f"a NIU account (e-mail or phone) that may sign in as NIU's app does; its password "
                             f"comes from ${ACCOUNT_PASSWORD_ENV}")
    parser.add_argument("--client-id", metavar="ID", help="a fleet client id the cloud accepts (the assumed fleet API)")
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


async def main_async(
    args: argparse.Namespace, task_status: trio.TaskStatus[SimulatedCloud] = trio.TASK_STATUS_IGNORED
) -> SimulatedCloud:
    """Serve until cancelled; the cloud goes to ``task_status.started()`` once it listens.
    A missing flavour or secret is one line and exit status 1 (SystemExit with a
    message): there is no default password."""
    if not (args.account or args.client_id):
        raise SystemExit("niu-cloud: give --account EMAIL and/or --client-id ID")
    client = account = None
    if args.client_id:
        secret = args.client_secret or os.environ.get(SECRET_ENV, "")
        if not secret:
            raise SystemExit(f"niu-cloud: give the client secret in ${SECRET_ENV} or with --client-secret")
        client = (args.client_id, secret)
    if args.account:
        password = os.environ.get(ACCOUNT_PASSWORD_ENV, "")
        if not password:
            raise SystemExit(f"niu-cloud: set ${ACCOUNT_PASSWORD_ENV} to the password of account {args.account}")
        account = (args.account, password)
    try:
        serials = fleet_serials(args.serials, args.scooters)
    except ValueError as exc:
        raise SystemExit(f"niu-cloud: {exc}") from None
    cloud = SimulatedCloud(serials, client=client, account=account, token_lifetime=args.token_lifetime,
                           command_delay=args.command_delay)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve, cloud, args.host, args.port)
        shown = ", ".join(serials[:5]) + (f" and {len(serials) - 5} more" if len(serials) > 5 else "")
        kinds = ", ".join(w for w in (args.account and f"account {args.account} (kind account)",
                                      args.client_id and f"client id {args.client_id} (kind client)") if w)
        print(f"NIU cloud simulator on http://{args.host}:{port} accepts {kinds}; scooters: {shown}", flush=True)
        task_status.started(cloud)
        await trio.sleep(math.inf)
    return cloud

