"""How a NiuClient gets its tokens: with a NIU account, the way NIU's app signs in, or with
a fleet's client credentials (an assumed endpoint). spec.md §3 has both, with sources.

A login knows its token endpoint, the form of a first login and of a refresh, and the
strings that must never reach a log line: the secret and, for an account, the MD5 of the
password, which is what actually travels to NIU and would let anyone sign in as well.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from drivers.niu.parse import ASSUMED, NiuAssumptions

ACCOUNT_TOKEN_PATH = "/v3/api/oauth2/token"
# The app id and scope the Home Assistant integrations send; other public clients send
# other ids from other app versions (spec.md §3), and NIU has accepted each of them.
APP_ID = "niu_ktdrr960"
SCOPE = "base"


class Secret:
    """A string that prints as ``***``, so no repr or f-string can leak it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def password_md5(password: str) -> str:
    return hashlib.md5(password.encode()).hexdigest()


@dataclass(frozen=True)
class AccountLogin:
    """A NIU account (e-mail or phone number) and its password, signed in at NIU's
    account host as the app does: OAuth2 password grant, password as MD5 hex."""

    url: str  # the account host
    account: str
    password: Secret = field(repr=False)
    kind = "account"
    token_path = ACCOUNT_TOKEN_PATH

    @classmethod
    def of(cls, url: str, account: str, password: str) -> AccountLogin:
        return cls(url.rstrip("/"), account, Secret(password))

    @property
    def who(self) -> str:
        return f"account {self.account}"

    def form(self) -> dict[str, Any]:
        return {"account": self.account, "password": Secret(password_md5(self.password.reveal())),
                "grant_type": "password", "scope": SCOPE, "app_id": APP_ID}

    def refresh_form(self, refresh_token: str) -> dict[str, Any]:
        return {"grant_type": "refresh_token", "refresh_token": refresh_token, "app_id": APP_ID}

    def secrets(self) -> tuple[str, ...]:
        password = self.password.reveal()
        return (password, password_md5(password)) if password else ()


@dataclass(frozen=True)
class FleetLogin:
    """A fleet's client id and client secret at the assumed fleet token endpoint."""

    url: str  # the fleet API's host
    client_id: str
    secret: Secret = field(repr=False)
    assumptions: NiuAssumptions = field(default=ASSUMED, repr=False)
    kind = "client"

    @classmethod
    def of(cls, url: str, client_id: str, client_secret: str, assumptions: NiuAssumptions = ASSUMED) -> FleetLogin:
        return cls(url.rstrip("/"), client_id, Secret(client_secret), assumptions)

    @property
    def token_path(self) -> str:
        return self.assumptions.token_path

    @property
    def who(self) -> str:
        return f"client id {self.client_id}"

    def form(self) -> dict[str, Any]:
        return {"grant_type": self.assumptions.client_credentials_grant, "client_id": self.client_id,
                "client_secret": self.secret}

    def refresh_form(self, refresh_token: str) -> dict[str, Any]:
        return {"grant_type": self.assumptions.refresh_grant, "refresh_token": refresh_token}

    def secrets(self) -> tuple[str, ...]:
        secret = self.secret.reveal()
        return (secret,) if secret else ()


Login = AccountLogin | FleetLogin

__all__ = ["ACCOUNT_TOKEN_PATH", "APP_ID", "AccountLogin", "FleetLogin", "Login", "Secret", "password_md5"]
