"""Who may sign in to the simulated NIU cloud, and the tokens it hands out.

Two flavours, as protocol_specs/niu/spec.md §3 describes them: a NIU account signing in
the way NIU's app does (OAuth2 password grant with the password's MD5 and a known app id,
or the older /appv2/login with the plain password), and a fleet's client credentials at
the assumed fleet endpoint. Every answer is ``(HTTP status, JSON body)``; nothing here
knows HTTP otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from drivers.niu.parse import NiuAssumptions

# App ids public clients send (spec.md §3): NIU has accepted each, from its own app versions.
APP_IDS = frozenset({"niu_ktdrr960", "niu_8xt1afu6", "niu_fksss2ws", "niu_03cn0n7v"})
# The simulator's own status codes: the real cloud's codes for these cases are unknown.
STATUS_BAD_CLIENT = 10001  # unknown client, or a refresh token that is not valid
STATUS_BAD_REQUEST = 10002
STATUS_BAD_ACCOUNT = 10003  # account or password wrong
OK_DESC = "成功"  # what the cloud says on success ("success")

Answer = tuple[int, dict[str, Any]]


def answer(data: Any = None, status: int = 0, desc: str = OK_DESC, trace: str | None = None) -> dict[str, Any]:
    return {"status": status, "desc": desc, "trace": trace or desc, "data": data if data is not None else {}}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Logins:
    """The cloud's sign-ins. ``client`` is (client id, secret) and ``account`` (e-mail or
    phone, password); either may be None when the cloud serves only the other flavour."""

    def __init__(self, client: tuple[str, str] | None, account: tuple[str, str] | None,
                 assumptions: NiuAssumptions, clock: Callable[[], float],
                 token_lifetime: float, refresh_token_lifetime: float) -> None:
        if client is None and account is None:
            raise ValueError("the simulated cloud needs a fleet client or an account")
        for _, secret in filter(None, (client, account)):
            if not secret:
                raise ValueError("the simulated cloud needs a secret for each flavour")
        self._client, self._account = client, account
        self.assumptions, self.clock = assumptions, clock
        self.token_lifetime, self.refresh_token_lifetime = token_lifetime, refresh_token_lifetime
        self.tokens: dict[str, tuple[float, str]] = {}  # access token -> (expiry, flavour)
        self.refresh_tokens: dict[str, tuple[float, str]] = {}
        self.fleet_grants: Counter[str] = Counter()  # fleet logins by grant type; refused ones not counted
        self.account_grants: Counter[str] = Counter()  # "password", "refresh_token", "appv2"

    @property
    def client_id(self) -> str | None:
        return self._client[0] if self._client else None

    @property
    def account(self) -> str | None:
        return self._account[0] if self._account else None

    def set_client(self, client_id: str, secret: str) -> None:
        """The operator rotated the fleet's secret at NIU: its tokens are revoked."""
        self._client = (client_id, secret)
        self._revoke("client")

    def set_account_password(self, password: str) -> None:
        """The owner changed the account's password in NIU's app: its tokens are revoked."""
        if self._account is None:
            raise ValueError("this cloud serves no account")
        self._account = (self._account[0], password)
        self._revoke("account")

    def _revoke(self, flavour: str) -> None:
        for table in (self.tokens, self.refresh_tokens):
            for token in [t for t, (_, f) in table.items() if f == flavour]:
                del table[token]

    def _issue(self, flavour: str) -> dict[str, Any]:
        now = self.clock()
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires, refresh_expires = int(now + self.token_lifetime), int(now + self.refresh_token_lifetime)
        self.tokens[access] = (now + self.token_lifetime, flavour)
        self.refresh_tokens[refresh] = (refresh_expires, flavour)
        return {"access_token": access, "refresh_token": refresh, "token_expires_in": expires,
                "refresh_token_expires_in": refresh_expires}

    def _refreshed(self, form: Mapping[str, str], flavour: str) -> bool:
        expiry, owner = self.refresh_tokens.pop(form.get("refresh_token", ""), (0, ""))
        return owner == flavour and expiry > self.clock()

    def valid(self, token: str | None) -> bool:
        expiry, _ = self.tokens.get(token or "", (0, ""))
        if expiry <= self.clock():
            self.tokens.pop(token or "", None)
            return False
        return True

    # --- the fleet flavour (assumed endpoint) -----------------------------------------------

    def fleet_token(self, form: Mapping[str, str]) -> Answer:
        grant = form.get("grant_type", "")
        if self._client is None:
            return 401, answer(status=STATUS_BAD_CLIENT, desc="invalid client")
        if grant == self.assumptions.client_credentials_grant:
            client_id, secret = self._client
            if not (_same(form.get("client_id", ""), client_id) & _same(form.get("client_secret", ""), secret)):
                return 401, answer(status=STATUS_BAD_CLIENT, desc="invalid client")
        elif grant == self.assumptions.refresh_grant:
            if not self._refreshed(form, "client"):
                return 401, answer(status=STATUS_BAD_CLIENT, desc="invalid refresh token")
        else:
            return 400, answer(status=STATUS_BAD_REQUEST, desc="unsupported grant_type")
        self.fleet_grants[grant] += 1
        issued = self._issue("client")
        if sum(self.fleet_grants.values()) % 2 == 0:  # the app login's nested shape, now and then
            return 200, answer({"token": issued})
        access = issued.pop("access_token")
        return 200, answer({"token": access, **issued})

    # --- the account flavour (NIU's app) ------------------------------------------------------

    def _account_matches(self, account: str, password: str, *, hashed: bool) -> bool:
        if self._account is None:
            return False
        expected_account, expected_password = self._account
        if hashed:
            expected_password, password = hashlib.md5(expected_password.encode()).hexdigest(), password.lower()
        return _same(account.strip().lower(), expected_account.lower()) & _same(password, expected_password)

    def _user(self) -> dict[str, Any]:
        account = self.account or ""
        return {"user_id": hashlib.sha1(account.encode()).hexdigest()[:24], "email": account,
                "country_code": "49", "nick_name": account.split("@")[0], "sign": "A NIU WAY FORWARD"}

    def account_token(self, form: Mapping[str, str]) -> Answer:
        """POST /v3/api/oauth2/token on the account host."""
        if form.get("app_id", "") not in APP_IDS:
            return 200, answer(status=STATUS_BAD_REQUEST, desc="invalid app_id")
        grant = form.get("grant_type", "")
        if grant == "password":
            if not self._account_matches(form.get("account", ""), form.get("password", ""), hashed=True):
                return 200, answer(status=STATUS_BAD_ACCOUNT, desc="account or password error")
        elif grant == "refresh_token":
            if not self._refreshed(form, "account"):
                return 200, answer(status=STATUS_BAD_CLIENT, desc="invalid refresh token")
        else:
            return 200, answer(status=STATUS_BAD_REQUEST, desc="unsupported grant_type")
        self.account_grants[grant] += 1
        return 200, answer({"token": self._issue("account"), "user": self._user()})

    def appv2_login(self, form: Mapping[str, str]) -> Answer:
        """POST /appv2/login, the older sign-in: plain password, ``data.token`` a string."""
        if not self._account_matches(form.get("account", ""), form.get("password", ""), hashed=False):
            return 200, answer(status=STATUS_BAD_ACCOUNT, desc="account or password error")
        self.account_grants["appv2"] += 1
        return 200, answer({"token": self._issue("account")["access_token"], "user": self._user()})


__all__ = ["APP_IDS", "OK_DESC", "STATUS_BAD_ACCOUNT", "STATUS_BAD_CLIENT", "STATUS_BAD_REQUEST", "Logins", "answer"]
