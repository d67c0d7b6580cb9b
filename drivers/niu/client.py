"""An async client for NIU's cloud with one fleet's shared credentials (trio, httpx).

One client per stored credentials record; the gateway's pollers and commands share it.
It gets a token on first use and renews it before it expires, logs in again once when
the cloud answers 1131 (bad or expired token), and backs off with jitter on transport
errors, timeouts, HTTP 5xx and the login rate limit (20021), a bounded number of times.
The client secret lives in a wrapper whose repr is ``***`` and is scrubbed from every
message built from the cloud's text: it never reaches a log line, an exception or a repr.
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
    parse_scooter_list,
    parse_state,
    parse_token,
)

log = logging.getLogger(__name__)

LIST_PATH = "/v5/scooter/list"
STATE_PATH = "/v5/scooter/motor_data/index_info"
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
    """The cloud refuses this client id / client secret."""


class CloudUnavailable(NiuCloudError):
    """Unreachable, timing out or answering 5xx, still after the retries."""


class RateLimited(CloudUnavailable):
    """The cloud kept answering 20021 (login rate limit) through the retries."""


class _Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


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
        base_url: str,
        client_id: str,
        client_secret: str,
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
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._secret = _Secret(client_secret)
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._clock, self._timeout, self._attempts = clock, timeout, max(1, attempts)
        self._backoff, self._max_backoff, self._margin = backoff, max_backoff, refresh_margin
        self._assumptions, self._jitter = assumptions, jitter
        self._token: _Token | None = None
        self._generation = 0  # bumped by rotate(): a login begun before it is discarded
        self._login_lock = trio.Lock()  # one login at a time, however many pollers wait
        self.stats = ClientStats()

    def __repr__(self) -> str:
        return f"NiuClient(base_url={self.base_url!r}, client_id={self._client_id!r})"

    @property
    def client_id(self) -> str:
        return self._client_id

    async def __aenter__(self) -> NiuClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    def rotate(self, client_id: str, client_secret: str) -> None:
        """New credentials (PATCH /credentials): the current token is dropped and the next
        call logs in with them. A login already under way is discarded when it returns."""
        self._client_id, self._secret = client_id, _Secret(client_secret)
        self._token = None
        self._generation += 1

    # --- the observed API --------------------------------------------------------------

    async def list_scooters(self) -> list[ScooterListing]:
        return parse_scooter_list(await self._call("GET", LIST_PATH))

    async def scooter_state(self, sn: str) -> NiuState:
        return parse_state(await self._call("GET", STATE_PATH, params={"sn": sn}), self._assumptions)

    async def send_command(self, sn: str, cloud_type: str) -> None:
        """Returns once the cloud accepted the command (status 0); that the scooter obeyed
        shows only in its state (drivers.niu.commands.confirmed)."""
        await self._call("POST", COMMAND_PATH, json={"sn": sn, "type": cloud_type})

    # --- tokens --------------------------------------------------------------------------

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The envelope of a successful (status 0) answer to an authenticated request."""
        for last_chance in (False, True):
            token = await self._valid_token()
            answer = await self._send(method, path, token=token.value, **kwargs)
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
                log.info("NIU cloud refused the token of client id %s on %s; logging in again",
                         self._client_id, path)
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
                token = await self._grant({"grant_type": self._assumptions.refresh_grant,
                                           "refresh_token": old.refresh_token})
                self.stats.refreshes += 1
                return token
            except NiuError as exc:  # refused refresh token: the credentials still work
                log.info("NIU token refresh refused (%s); logging in with client id %s", exc, self._client_id)
        token = await self._grant({"grant_type": self._assumptions.client_credentials_grant,
                                   "client_id": self._client_id, "client_secret": self._secret})
        self.stats.logins += 1
        return token

    async def _grant(self, form: Mapping[str, Any]) -> _Token:
        body = {k: v.reveal() if isinstance(v, _Secret) else v for k, v in form.items()}
        answer = await self._send("POST", self._assumptions.token_path, data=body)
        if answer.status == STATUS_OK:
            return self._token_from(parse_token(answer.payload))
        if answer.status is None and answer.http_status not in (400, 401, 403):
            raise NiuError(answer.http_status, f"HTTP {answer.http_status} from the token endpoint")
        desc = self._scrub(answer.desc) or f"HTTP {answer.http_status}"
        if form.get("grant_type") == self._assumptions.client_credentials_grant:
            log.warning("NIU cloud at %s rejected the credentials of client id %s: %s",
                        self.base_url, self._client_id, desc)
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
                log.warning("NIU token for client id %s arrived already expired by our clock "
                            "(clock skew?); using it until the cloud refuses it", self._client_id)
        return _Token(grant.token, refresh_at, grant.refresh_token, self._deadline(grant.refresh_expires, now))

    @staticmethod
    def _deadline(value: float | None, now: float) -> float | None:
        """Observed: absolute epoch seconds. Tolerated for the assumed fleet endpoint: epoch
        milliseconds, and a duration in seconds as RFC 6749's ``expires_in`` would be."""
        if value is None or value <= 0:
            return None
        if value > 1e11:
            return value / 1000
        if value < 1e9:
            return now + value
        return value

    # --- transport ----------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        secret = self._secret.reveal()
        return text.replace(secret, "***") if secret else text

    async def _send(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> _Answer:
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
                            method, path, reason, attempt, self._attempts - 1, delay)
                await trio.sleep(delay)
            self.stats.requests += 1
            response = None
            with trio.move_on_after(self._timeout):
                try:
                    response = await self._http.request(
                        method, self.base_url + path, headers=headers, timeout=self._timeout, **kwargs)
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
        message = f"NIU cloud at {self.base_url} unavailable: {reason} ({self._attempts} attempts)"
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
