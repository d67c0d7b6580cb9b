"""An async client for NIU's cloud with one stored credentials record (trio, httpx).

One client per record, a NIU account or fleet client credentials (login.py); the gateway's
pollers and commands share it. It gets a token on first use at the login's host and
renews it before it expires, logs in again once when the cloud answers 1131 (bad or
expired token), and backs off with jitter on transport errors, timeouts, HTTP 5xx and the
login rate limit (20021), a bounded number of times. Data and commands go to the app-API
host. The secret (and an account password's MD5) lives in wrappers whose repr is ``***``
and is scrubbed from every message built from the cloud's text: it never reaches a log
line, an exception or a repr.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from drivers.niu.login import AccountLogin, FleetLogin, Login, Secret
from drivers.niu.parse import (
    ASSUMED,
    STATUS_OK,
    STATUS_RATE_LIMITED,
    STATUS_TOKEN_ERROR,
    NiuAssumptions,
    NiuProtocolError,
    NiuState,
    ScooterListing,
    TokenGrant,
    envelope,
    parse_mileage,
    parse_scooter_list,
    parse_state,
    parse_token,
)

log = logging.getLogger(__name__)

LIST_PATH = "/v5/scooter/list"
STATE_PATH = "/v5/scooter/motor_data/index_info"
TALLY_PATH = "/motoinfo/overallTally"
COMMAND_PATH = "/v5/cmd/creat"  # sic
USER_AGENT = "fleetgate-niu/0.1"


class NiuCloudError(Exception):
    """Base of the errors this client raises about the cloud (not about its answers'
    shape: an unusable body raises ``NiuProtocolError``)."""


class NiuError(NiuCloudError):
    """A non-zero status the client cannot recover from (unknown serial, refused command ...)."""

    def __init__(self, status: int, desc: str) -> None:
        super().__init__(f"NIU cloud status {status}: {desc}")
        self.status, self.desc = status, desc


class CredentialsRejected(NiuError):
    """The cloud refuses this account and password, or this client id and secret."""


class CloudUnavailable(NiuCloudError):
    """Unreachable, timing out or answering 5xx, still after the retries."""


class RateLimited(CloudUnavailable):
    """The cloud kept answering 20021 (login rate limit) through the retries."""


@dataclass
class _Token:
    value: str = field(repr=False)
    refresh_at: float | None  # our clock; None: use it until the cloud says 1131
    refresh_token: str | None = field(default=None, repr=False)
    refresh_until: float | None = None


@dataclass
class _Answer:
    http_status: int
    status: int | None  # None: the body was no NIU envelope
    desc: str
    payload: Any


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    logins: int = 0
    refreshes: int = 0
    token_errors: int = 0


class NiuClient:
    def __init__(
        self,
        app_url: str,
        login: Login,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,  # wall clock: NIU's expiries are epoch seconds
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        refresh_margin: float = 60.0,
        assumptions: NiuAssumptions = ASSUMED,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.app_url = app_url.rstrip("/")
        self.login = login
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._clock, self._timeout, self._attempts = clock, timeout, max(1, attempts)
        self._backoff, self._max_backoff, self._margin = backoff, max_backoff, refresh_margin
        self._assumptions, self._jitter = assumptions, jitter
        self._token: _Token | None = None
        self._generation = 0  # bumped by rotate(): a login begun before it is discarded
        self._login_lock = trio.Lock()  # one login at a time, however many pollers wait
        self.stats = ClientStats()

    @classmethod
    def account(cls, account_url: str, app_url: str, account: str, password: str, **options: Any) -> NiuClient:
        return cls(app_url, AccountLogin.of(account_url, account, password), **options)

    @classmethod
    def fleet(cls, base_url: str, client_id: str, client_secret: str, **options: Any) -> NiuClient:
        login = FleetLogin.of(base_url, client_id, client_secret, options.get("assumptions", ASSUMED))
        return cls(base_url, login, **options)

    def __repr__(self) -> str:
        return f"NiuClient(app_url={self.app_url!r}, login={self.login!r})"

    async def __aenter__(self) -> NiuClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    def rotate(self, login: Login) -> None:
        """New credentials (PATCH /credentials): the current token is dropped and the next
        call logs in with them. A login already under way is discarded when it returns."""
        self.login = login
        self._token = None
        self._generation += 1

    # --- the observed API --------------------------------------------------------------

    async def list_scooters(self) -> list[ScooterListing]:
        return parse_scooter_list(await self._call("GET", LIST_PATH))

    async def scooter_state(self, sn: str) -> NiuState:
        """The scooter's status, with the odometer from its overall tally when it has one."""
        status = await self._call("GET", STATE_PATH, params={"sn": sn})
        return parse_state(status, self._assumptions, mileage=await self._mileage(sn))

    async def _mileage(self, sn: str) -> float | None:
        try:
            return parse_mileage(await self._call("POST", TALLY_PATH, data={"sn": sn}))
        except (NiuError, NiuProtocolError) as exc:  # the status alone is worth storing
            log.debug("NIU cloud gave no overall tally for %s: %s", sn, exc)
            return None

    async def send_command(self, sn: str, cloud_type: str) -> None:
        """Returns once the cloud accepted the command (status 0); that the scooter obeyed
        shows only in its state (drivers.niu.commands.confirmed)."""
        await self._call("POST", COMMAND_PATH, json={"sn": sn, "type": cloud_type})

    # --- tokens --------------------------------------------------------------------------

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The envelope of a successful (status 0) answer to an authenticated request."""
        for last_chance in (False, True):
            token = await self._valid_token()
            answer = await self._send(method, self.app_url + path, token=token.value, **kwargs)
            # a bare HTTP 401/403 is taken as the same verdict on the token as 1131
            token_refused = answer.status == STATUS_TOKEN_ERROR or (
                answer.status is None and answer.http_status in (401, 403)
            )
            if token_refused:
                self.stats.token_errors += 1
                if self._token is token:
                    self._token = None
                if last_chance:
                    raise NiuError(answer.status or answer.http_status, self._scrub(answer.desc))
                log.info("NIU cloud refused the token of %s on %s; logging in again", self.login.who, path)
                continue
            if answer.status is None:
                raise NiuError(answer.http_status, f"HTTP {answer.http_status} without a NIU answer on {path}")
            if answer.status != STATUS_OK:
                raise NiuError(answer.status, self._scrub(answer.desc))
            return answer.payload
        raise AssertionError("unreachable")

    def _stale(self, token: _Token | None) -> bool:
        return token is None or (token.refresh_at is not None and self._clock() >= token.refresh_at)

    async def _valid_token(self) -> _Token:
        token = self._token
        if not self._stale(token):
            return token  # type: ignore[return-value]
        async with self._login_lock:
            while self._stale(self._token):
                generation = self._generation
                token = await self._obtain(self._token)
                if generation == self._generation:
                    self._token = token
            return self._token  # type: ignore[return-value]

    async def _obtain(self, old: _Token | None) -> _Token:
        now = self._clock()
        if old is not None and old.refresh_token and (old.refresh_until is None or now < old.refresh_until):
            try:
                token = await self._grant(self.login.refresh_form(old.refresh_token), first=False)
                self.stats.refreshes += 1
                return token
            except NiuError as exc:  # refused refresh token: the credentials still work
                log.info("NIU token refresh refused (%s); logging in with %s", exc, self.login.who)
        token = await self._grant(self.login.form(), first=True)
        self.stats.logins += 1
        return token

    async def _grant(self, form: Mapping[str, Any], *, first: bool) -> _Token:
        body = {k: v.reveal() if isinstance(v, Secret) else v for k, v in form.items()}
        answer = await self._send("POST", self.login.url + self.login.token_path, data=body)
        if answer.status == STATUS_OK:
            return self._token_from(parse_token(answer.payload))
        if answer.status is None and answer.http_status not in (400, 401, 403):
            raise NiuError(answer.http_status, f"HTTP {answer.http_status} from the token endpoint")
        desc = self._scrub(answer.desc) or f"HTTP {answer.http_status}"
        if first:
            log.warning("NIU cloud at %s rejected the credentials of %s: %s", self.login.url, self.login.who, desc)
        raise CredentialsRejected(answer.status if answer.status is not None else answer.http_status, desc)

    def _token_from(self, grant: TokenGrant) -> _Token:
        now = self._clock()
        expires = self._deadline(grant.expires, now)
        refresh_at = None
        if expires is not None:
            lifetime = expires - now
            if lifetime > 0:
                refresh_at = expires - min(self._margin, lifetime / 2)
            else:
                log.warning("NIU token for %s arrived already expired by our clock "
                            "(clock skew?); using it until the cloud refuses it", self.login.who)
        return _Token(grant.token, refresh_at, grant.refresh_token, self._deadline(grant.refresh_expires, now))

    @staticmethod
    def _deadline(value: float | None, now: float) -> float | None:
        """Observed: absolute epoch seconds. Tolerated, for the assumed fleet endpoint and a
        cloud that may change: epoch milliseconds, and a duration in seconds as RFC 6749's
        ``expires_in`` would be."""
        if value is None or value <= 0:
            return None
        if value > 1e11:
            return value / 1000
        if value < 1e9:
            return now + value
        return value

    # --- transport ----------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self.login.secrets():
            text = text.replace(secret, "***")
        return text

    async def _send(self, method: str, url: str, *, token: str | None = None, **kwargs: Any) -> _Answer:
        """One request, retried with backoff on what is likely to pass: transport errors,
        timeouts, HTTP 5xx / 429 and status 20021. Any other answer is returned."""
        headers = {"user-agent": USER_AGENT, "accept": "application/json"}
        if token is not None:
            headers["token"] = token
        reason = ""
        for attempt in range(self._attempts):
            if attempt:
                delay = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
                delay = delay / 2 + self._jitter() * delay / 2
                self.stats.retries += 1
                log.warning("NIU cloud %s %s: %s; retry %d of %d in %.2f s",
                            method, url, reason, attempt, self._attempts - 1, delay)
                await trio.sleep(delay)
            self.stats.requests += 1
            response = None
            with trio.move_on_after(self._timeout):
                try:
                    response = await self._http.request(method, url, headers=headers, timeout=self._timeout, **kwargs)
                except httpx.TimeoutException:
                    pass
                except httpx.HTTPError as exc:
                    reason = self._scrub(f"{type(exc).__name__}: {exc}")
                    continue
            if response is None:
                reason = f"no answer within {self._timeout:g} s"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                reason = f"HTTP {response.status_code}"
                continue
            answer = self._answer(response)
            if answer.status == STATUS_RATE_LIMITED:
                reason = f"rate limited (status {STATUS_RATE_LIMITED})"
                continue
            return answer
        message = f"NIU cloud at {url} unavailable: {reason} ({self._attempts} attempts)"
        if reason.startswith("rate limited"):
            raise RateLimited(message)
        raise CloudUnavailable(message)

    def _answer(self, response: httpx.Response) -> _Answer:
        try:
            payload = response.json()
            status, desc, _ = envelope(payload)
        except (ValueError, NiuProtocolError):
            if response.is_success:
                raise NiuProtocolError(f"HTTP {response.status_code} with a body that is no NIU answer") from None
            return _Answer(response.status_code, None, "", None)
        return _Answer(response.status_code, status, self._scrub(desc), payload)


__all__ = [
    "ClientStats",
    "CloudUnavailable",
    "CredentialsRejected",
    "NiuClient",
    "NiuCloudError",
    "NiuError",
    "RateLimited",
]
