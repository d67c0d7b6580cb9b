"""A small synchronous client for the admin socket, used by the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from gateway.cli import PROG

DEFAULT_SOCKET = Path("fleetgate-data") / "admin.sock"


class ClientError(Exception):
    """Something to tell the person at the terminal, in one line."""


def socket_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get("FLEETGATE_SOCKET") or DEFAULT_SOCKET)


class AdminClient:
    def __init__(self, path: Path, timeout: float = 60.0):
        self.path = path
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(path)), base_url="http://localhost", timeout=timeout
        )

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, url, **kwargs)
        except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError):
            raise self._not_answering() from None
        except PermissionError:
            raise ClientError(f"no permission to use {self.path}: ask for its group") from None
        except httpx.TimeoutException:
            raise ClientError(f"the gateway at {self.path} did not answer in time") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
                message = f"{problem.get('title', 'error')}: {problem.get('detail', '')}"
            except ValueError:
                message = response.text.strip()
            raise ClientError(f"{response.status_code} {message}")
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def stream_events(self, params: dict[str, str], last_event_id: str | None = None,
                      opened: Callable[[], None] = lambda: None):
        """Yield the live event stream's events as dicts, until the stream ends; ``opened()``
        is called once the gateway has answered."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        try:
            with self._http.stream("GET", "/events", params=params, headers=headers, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    problem = response.json()
                    raise ClientError(f"{response.status_code} {problem.get('title')}: {problem.get('detail')}")
                opened()
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line.startswith(":"):
                        continue
                    if line:
                        name, _, value = line.partition(": ")
                        fields[name] = value
                    elif fields:
                        yield fields.get("event", ""), json.loads(fields.get("data", "{}"))
                        fields = {}
        except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError):
            raise self._not_answering() from None

    def _not_answering(self) -> ClientError:
        return ClientError(f"no fleetgate is answering on {self.path}: start one with `{PROG} serve`, "
                           "or point --socket / FLEETGATE_SOCKET at its admin socket")

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, body: Any) -> Any:
        return self.request("POST", url, json=body)

    def put(self, url: str, body: Any) -> Any:
        return self.request("PUT", url, json=body)

    def delete(self, url: str) -> Any:
        return self.request("DELETE", url)

    def all_items(self, url: str, **params: Any) -> list[dict]:
        """Follow next_page_token to the end of a list."""
        items, token = [], None
        while True:
            query = {**params, "limit": 500, **({"page_token": token} if token else {})}
            page = self.get(url, params=query)
            items.extend(page["items"])
            token = page.get("next_page_token")
            if not token:
                return items
